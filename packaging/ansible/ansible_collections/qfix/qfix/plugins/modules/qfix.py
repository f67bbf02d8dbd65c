#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, qfix developers
# SPDX-License-Identifier: MIT OR Apache-2.0
# (MIT License or Apache License 2.0, at your option: see LICENSE-MIT and LICENSE-APACHE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: qfix
short_description: Find and fix listen() backlog limits with qfix
version_added: "0.1.0"
description:
  - Runs the C(qfix) command line tool on the managed host to find the kernel and service
    settings behind listen() backlog overflows (C(net.core.somaxconn) against the backlogs
    services ask for) and applies the fixes it proposes.
  - The module saves a plan with C(qfix plan --out) and applies exactly that plan with
    C(qfix apply --yes PLANFILE), so what is reported is what was applied; qfix refuses the
    plan if anything it read changed in between.
  - Changes that qfix classes as safe are applied. Changes that need review (a value an
    administrator wrote in a service's file) are applied only with O(unsafe_fixes=true);
    otherwise they are left for review and returned in RV(needs_review), and do not make the
    task changed.
  - In check mode only C(qfix plan) runs and nothing is written; C(changed), RV(diff),
    RV(needs_review) and RV(restarts) are what the same task would report without check mode.
  - Requires the C(qfix) binary on the managed host (the Debian and RPM packages install it as
    C(/usr/bin/qfix)).
author:
  - qfix developers (@qfix-dev)
options:
  root:
    description:
      - Work on the host tree under this directory. Configs, includes and C(/proc/sys) are read
        inside it, and files are written inside it.
      - Paths in the results are shown as seen inside O(root), except the headers of RV(diff).
    type: path
    default: /
  set:
    description:
      - Desired exact values, key to value, passed as C(--set KEY=VALUE).
    type: dict
    default: {}
  policy:
    description:
      - Policy file (qfix's default is C(/etc/qfix/policy.toml) inside O(root)).
    type: path
  rules:
    description:
      - Directory of extra rule files (C(*.toml)), passed as C(--rules).
    type: path
  strategy:
    description:
      - How to fix a listen() backlog that C(net.core.somaxconn) caps.
      - V(raise-somaxconn) raises C(net.core.somaxconn) to the largest requested backlog.
      - V(lower-backlog) lowers explicit service backlogs to C(net.core.somaxconn).
      - Without it, qfix's default (V(raise-somaxconn)) applies.
    type: str
    choices: [raise-somaxconn, lower-backlog]
  unsafe_fixes:
    description:
      - Also apply the changes qfix classes as needing review (C(--unsafe-fixes)).
    type: bool
    default: false
  persist_only:
    description:
      - Only write files; do not write C(/proc/sys) (images, read-only containers). Live
        changes are then neither applied nor reported as changes.
    type: bool
    default: false
  binary:
    description:
      - The qfix executable, as a path or as a name looked up in E(PATH) and the usual sbin
        directories.
    type: path
    default: qfix
notes:
  - To see what qfix proposes without applying anything, run the task in check mode
    (C(check_mode) set to V(true) on the task); its result is what the real run would
    report.
  - The services whose backlog changes need a restart or reload are returned in
    RV(restarts); the module does not restart anything. Notify a handler from the task and
    loop over RV(restarts) there.
  - qfix exit code 1 (input it cannot parse, a bad policy, a stale plan, a live value the
    kernel rejected) fails the task; RV(msg) names the file and line, and the reason.
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: linux
seealso:
  - module: ansible.posix.sysctl
"""

EXAMPLES = r"""
- name: Raise somaxconn and persist it where it wins at boot
  qfix.qfix.qfix:
    set:
      net.core.somaxconn: 8192
  notify: Restart what qfix says needs it

- name: Show what qfix would change under a mounted image, without writing
  qfix.qfix.qfix:
    root: /mnt/image
  check_mode: true
  register: qfix_plan

- name: Fix capped service backlogs by lowering them instead of raising somaxconn
  qfix.qfix.qfix:
    strategy: lower-backlog
    unsafe_fixes: true

- name: Apply a site policy to files only (no live /proc/sys writes)
  qfix.qfix.qfix:
    policy: /etc/qfix/site.toml
    persist_only: true
    binary: /usr/local/bin/qfix

# A handler (under handlers:) that restarts or reloads what the applied changes call for
- name: Restart what qfix says needs it
  ansible.builtin.systemd_service:
    name: "{{ item.unit }}"
    state: "{{ 'reloaded' if item.action == 'reload' else 'restarted' }}"
  loop: "{{ qfix.restarts }}"
"""

RETURN = r"""
msg:
  description:
    - On failure, the errors qfix reported, each with the file and line it concerns where
      there is one, joined by C(; ).
    - On success, a one-line summary.
  returned: always
  type: str
  sample: "/etc/sysctl.d/60-bad.conf:1: line is not an assignment: net.core.somaxconn 4096 (QF001)"
findings:
  description: What qfix found, one entry per finding.
  returned: success
  type: list
  elements: dict
  sample:
    - rule: QF007
      name: value-differs-from-desired
      severity: warning
      message: net.core.somaxconn should be = 8192 but is live 1024, boot 1024
      locations:
        - path: /usr/lib/sysctl.d/70-vendor.conf
          line: 1
changes:
  description:
    - Every change qfix proposed before this run, as C(qfix plan --format json) prints them,
      applied or not.
    - "Each is C({kind: sysctl, key, from, to, safe}) or
      C({kind: file, path, diff, safe, reason, created})."
  returned: success
  type: list
  elements: dict
  sample:
    - kind: file
      path: /etc/sysctl.d/99-qfix.conf
      diff: "--- /dev/null\n+++ b/etc/sysctl.d/99-qfix.conf\n..."
      safe: true
      reason: net.core.somaxconn = 8192
      created: true
    - kind: sysctl
      key: net.core.somaxconn
      from: "1024"
      to: "8192"
      safe: true
needs_review:
  description:
    - The changes of RV(changes) that were not applied because qfix classes them as needing
      review and O(unsafe_fixes) is false. They do not make the task changed; review them
      (C(qfix plan) on the host) and apply them with O(unsafe_fixes=true) if they are right.
  returned: success
  type: list
  elements: dict
  sample:
    - kind: file
      path: /etc/php/8.2/fpm/pool.d/www.conf
      diff: "--- a/etc/php/8.2/fpm/pool.d/www.conf\n..."
      safe: false
      reason: php-fpm www backlog 4096
      created: false
commands:
  description: The live commands the plan implies (C(sysctl -w ...)).
  returned: success
  type: list
  elements: str
  sample: ["sysctl -w net.core.somaxconn=8192"]
restarts:
  description:
    - The services to restart or reload for the changes this task applies (or, in check mode,
      would apply) to take effect. Empty when nothing is applied.
  returned: success
  type: list
  elements: dict
  sample:
    - service: nginx
      unit: nginx
      action: restart
      reason: "tcp *:80: listen() ran with somaxconn 128 (queue 128); it gets 511 only after it listens again"
errors:
  description: Errors qfix reported in the plan.
  returned: success
  type: list
  sample: []
offline:
  description: Whether qfix ran offline (no C(/proc/sys) under O(root), so boot values only).
  returned: success
  type: bool
plan_rc:
  description: Exit code of C(qfix plan) (0 nothing to change, 2 changes proposed).
  returned: success
  type: int
applied:
  description: What C(qfix apply) did, one line each.
  returned: when changes were applied (not in check mode)
  type: list
  elements: str
  sample: ["wrote /etc/sysctl.d/99-qfix.conf", "net.core.somaxconn = 8192 (live)"]
backup:
  description:
    - The directory, inside O(root), where this run's backups and their manifest went; give it
      to C(qfix rollback) to undo the run.
  returned: when changes were applied (not in check mode)
  type: str
  sample: /var/lib/qfix/backups/2026-12-04T11:05:29Z
backups:
  description:
    - The files written and their backups, inside O(root) (C(backup) is null for a file that
      did not exist).
  returned: when changes were applied (not in check mode)
  type: list
  elements: dict
  sample:
    - path: /etc/sysctl.d/99-qfix.conf
      backup: null
diff:
  description:
    - In diff mode, one entry per file that is (or in check mode, would be) written, with the
      old and new contents. Headers are the paths on the managed host (O(root) joined).
  returned: in diff mode, when files change
  type: list
  elements: dict
  sample:
    - before_header: /dev/null
      after_header: /etc/sysctl.d/99-qfix.conf
      before: ""
      after: "# Written by qfix ...\nnet.core.somaxconn = 8192\n"
"""

import json
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

ERROR_PREFIX = "qfix: error: "
# qfix's closing line after findings about input it cannot parse: those findings, each with
# its path:line, say it better
BAD_INPUT_SUMMARY = "finding(s) above name input qfix cannot parse"


def error_lines(stderr):
    """qfix's own error lines from stderr, without the prefix."""
    out = []
    for line in (stderr or "").splitlines():
        if line.startswith(ERROR_PREFIX):
            out.append(line[len(ERROR_PREFIX):].strip())
    return out


def location(loc):
    return "%s:%s" % (loc.get("path"), loc.get("line"))


def error_text(e):
    """An error of qfix's JSON ({path, line, message}) as one line, path:line first."""
    if not isinstance(e, dict):
        return to_native(e)
    where = e.get("path")
    if where and e.get("line") is not None:
        where = "%s:%s" % (where, e["line"])
    return "%s: %s" % (where, e.get("message")) if where else to_native(e.get("message"))


def failure_message(what, rc, stdout, stderr):
    """Each problem qfix reported, with its path:line: the error findings and errors of the
    plan's JSON (stdout), then qfix's error lines (stderr)."""
    parts = []
    try:
        plan = json.loads(stdout) if stdout else {}
    except ValueError:
        plan = {}
    if isinstance(plan, dict):
        for f in plan.get("findings", []):
            if f.get("severity") != "error":
                continue
            where = ", ".join(location(loc) for loc in f.get("locations", []))
            parts.append("%s: %s (%s)" % (where, f.get("message"), f.get("rule")) if where
                         else "%s (%s)" % (f.get("message"), f.get("rule")))
        for e in plan.get("errors", []):
            text = error_text(e)
            if BAD_INPUT_SUMMARY not in text:
                parts.append(text)
    lines = error_lines(stderr)
    if parts:
        lines = [line for line in lines if BAD_INPUT_SUMMARY not in line]
    parts.extend(line for line in lines if line not in parts)
    if not parts:
        parts = [line.strip() for line in (stderr or "").splitlines() if line.strip()]
    return "; ".join(parts) or "%s exited %s" % (what, rc)


def fail(module, what, rc, stdout, stderr, cmd):
    """fail_json with the problems in msg; qfix's JSON (findings, changes) is left out of the
    result, as it is long and msg has what it says about the failure."""
    module.fail_json(msg=failure_message(what, rc, stdout, stderr), rc=rc, stderr=stderr, cmd=cmd)


def parse_json(module, rc, stdout, stderr, what):
    try:
        return json.loads(stdout)
    except ValueError as e:
        module.fail_json(
            msg="%s did not print JSON: %s" % (what, to_native(e)),
            rc=rc,
            stdout=stdout,
            stderr=stderr,
        )


def host_path(root, path):
    if root in ("", "/"):
        return path
    return os.path.join(root, path.lstrip("/"))


def selected(changes, unsafe_fixes, persist_only):
    """The changes `qfix apply --yes` makes with these options: the safe ones (all with
    unsafe_fixes); a live sysctl value is not written with persist_only."""
    out = []
    for ch in changes:
        if not (ch.get("safe", False) or unsafe_fixes):
            continue
        if ch.get("kind") == "sysctl" and persist_only:
            continue
        out.append(ch)
    return out


def change_name(ch):
    return ch.get("path") if ch.get("kind") == "file" else ch.get("key")


def restarts_for(restarts, applied):
    """The plan's restarts as far as the applied changes call for them (as qfix apply
    lists them): only the causes of applied changes, restart if any of those needs one."""
    names = set(change_name(ch) for ch in applied)
    out = []
    for r in restarts:
        causes = [c for c in r.get("causes", []) if c.get("change") in names]
        if not causes:
            continue
        out.append(
            {
                "service": r.get("service"),
                "unit": r.get("unit"),
                "action": "restart" if any(c.get("action") == "restart" for c in causes) else "reload",
                "reason": "; ".join(c.get("reason", "") for c in causes),
            }
        )
    return out


def file_diffs(root, saved_changes, paths):
    """before/after entries for the saved plan's file changes to the given paths."""
    out = []
    for ch in saved_changes:
        if ch.get("kind") != "file" or ch.get("path") not in paths:
            continue
        old = ch.get("old")
        path = host_path(root, ch["path"])
        out.append(
            {
                "before_header": path if old is not None else "/dev/null",
                "after_header": path,
                "before": old if old is not None else "",
                "after": ch.get("new") or "",
            }
        )
    return out


def main():
    module = AnsibleModule(
        argument_spec=dict(
            root=dict(type="path", default="/"),
            set=dict(type="dict", default={}),
            policy=dict(type="path"),
            rules=dict(type="path"),
            strategy=dict(type="str", choices=["raise-somaxconn", "lower-backlog"]),
            unsafe_fixes=dict(type="bool", default=False),
            persist_only=dict(type="bool", default=False),
            binary=dict(type="path", default="qfix"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    root = p["root"]

    binary = p["binary"]
    if os.sep in binary:
        if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
            module.fail_json(msg="%s: not an executable file (option binary)" % binary)
    else:
        binary = module.get_bin_path(binary, required=True)

    common = [binary, "--root", root]
    inputs = []
    for key in sorted(p["set"] or {}):
        value = p["set"][key]
        if isinstance(value, bool):
            value = "1" if value else "0"
        inputs += ["--set", "%s=%s" % (key, to_native(value))]
    if p["policy"]:
        inputs += ["--policy", p["policy"]]
    if p["rules"]:
        inputs += ["--rules", p["rules"]]
    if p["strategy"]:
        inputs += ["--strategy", p["strategy"]]

    fd, plan_file = tempfile.mkstemp(prefix="qfix-plan-", suffix=".json", dir=module.tmpdir)
    os.close(fd)
    module.add_cleanup_file(plan_file)

    # Always plan first, with --out for the files' old and new contents. In check mode that
    # is all that runs; what the real run would apply follows from the plan and the options.
    plan_cmd = common + ["plan"] + inputs + ["--format", "json", "--out", plan_file]
    rc, out, err = module.run_command(plan_cmd)
    if rc not in (0, 2):
        fail(module, "qfix plan", rc, out, err, plan_cmd)
    plan = parse_json(module, rc, out, err, "qfix plan")
    saved = {}
    if rc == 2:
        try:
            with open(plan_file) as f:
                saved = json.load(f)
        except (IOError, OSError, ValueError) as e:
            module.fail_json(msg="%s: cannot read the saved qfix plan: %s" % (plan_file, to_native(e)))
    saved_changes = saved.get("plan", {}).get("changes", [])

    changes = plan.get("changes", [])
    todo = selected(changes, p["unsafe_fixes"], p["persist_only"])
    needs_review = [ch for ch in changes if not (ch.get("safe", False) or p["unsafe_fixes"])]
    result = dict(
        changed=bool(todo),
        plan_rc=rc,
        offline=plan.get("offline", False),
        findings=plan.get("findings", []),
        changes=changes,
        needs_review=needs_review,
        commands=plan.get("commands", []),
        restarts=restarts_for(plan.get("restarts", []), todo),
        errors=[error_text(e) for e in plan.get("errors", [])],
    )
    todo_files = set(ch.get("path") for ch in todo if ch.get("kind") == "file")
    review = "%d left for review" % len(needs_review)

    if module.check_mode or not todo:
        if module._diff and todo_files:
            result["diff"] = file_diffs(root, saved_changes, todo_files)
        verb = "would apply" if todo else "nothing to apply"
        module.exit_json(msg="%s%s; %s" % (verb, " %d change(s)" % len(todo) if todo else "", review), **result)

    apply_cmd = common + ["apply", "--yes", "--format", "json"]
    if p["unsafe_fixes"]:
        apply_cmd.append("--unsafe-fixes")
    if p["persist_only"]:
        apply_cmd.append("--persist-only")
    apply_cmd.append(plan_file)
    rc, out, err = module.run_command(apply_cmd)
    if rc != 0:
        fail(module, "qfix apply", rc, out, err, apply_cmd)
    report = parse_json(module, rc, out, err, "qfix apply")
    result["changed"] = bool(report.get("changed", False))
    result["applied"] = report.get("applied", [])
    result["backup"] = report.get("backup_dir")
    result["backups"] = [
        {"path": b.get("path"), "backup": b.get("backup")} for b in report.get("backups", [])
    ]
    written = set(b["path"] for b in result["backups"])
    if module._diff and written:
        result["diff"] = file_diffs(root, saved_changes, written)
    module.exit_json(msg="applied %d change(s); %s" % (len(todo), review), **result)


if __name__ == "__main__":
    main()
