#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: qfix developers
# License: MIT OR Apache-2.0

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
    services ask for), and to plan or apply the fixes.
  - With O(state=applied) the module saves a plan with C(qfix plan --out) and applies exactly
    that plan with C(qfix apply --yes PLANFILE), so what is reported is what was applied; qfix
    refuses the plan if anything it read changed in between.
  - With O(state=planned), or in check mode, only C(qfix plan) runs and nothing on the host is
    written. C(changed) then means that qfix proposes changes.
  - In diff mode the module returns, for each file that is (or would be) written, its old and
    new contents as a before/after diff.
  - Requires the C(qfix) binary on the managed host (the Debian package installs it as
    C(/usr/bin/qfix)).
author:
  - qfix developers
options:
  root:
    description:
      - Work on the host tree under this directory. Configs, includes and C(/proc/sys) are read
        inside it, and files are written inside it.
      - Paths in the results are shown as seen inside O(root).
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
    type: str
    choices: [raise-somaxconn, lower-backlog]
  state:
    description:
      - V(applied) applies the plan (safe fixes, and needs-review ones with O(unsafe_fixes)).
      - V(planned) only plans; C(changed) reports whether qfix proposes changes.
    type: str
    choices: [planned, applied]
    default: applied
  unsafe_fixes:
    description:
      - Also apply the changes qfix classes as needing review (C(--unsafe-fixes)).
    type: bool
    default: false
  persist_only:
    description:
      - Only write files; do not write C(/proc/sys) (images, read-only containers).
    type: bool
    default: false
  binary:
    description:
      - The qfix executable, as a path or as a name looked up in E(PATH) and the usual sbin
        directories.
    type: path
    default: qfix
notes:
  - Supports check mode (runs C(qfix plan) only; never writes) and diff mode.
  - qfix exit code 1 (bad input, stale plan, a live value the kernel rejected) fails the task
    with qfix's error lines as the message.
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Raise somaxconn and persist it where it wins at boot
  qfix.qfix.qfix:
    set:
      net.core.somaxconn: 8192

- name: Show what qfix would change under a mounted image, without writing
  qfix.qfix.qfix:
    root: /mnt/image
    state: planned
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
"""

RETURN = r"""
changed:
  description:
    - O(state=applied) (not in check mode) - whether qfix applied anything.
    - O(state=planned) or check mode - whether qfix proposes changes (C(qfix plan) exit 2).
  returned: always
  type: bool
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
    - The changes qfix proposed before this run, as C(qfix plan --format json) prints them.
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
commands:
  description: The live commands the plan implies (C(sysctl -w ...)).
  returned: success
  type: list
  elements: str
  sample: ["sysctl -w net.core.somaxconn=8192"]
restarts:
  description: Services to restart for the changes to take effect.
  returned: success
  type: list
  elements: dict
  sample:
    - service: nginx
      unit: nginx.service
      action: reload
      reason: listen backlog changed in /etc/nginx/nginx.conf
errors:
  description: Errors qfix reported in the plan.
  returned: success
  type: list
  sample: []
offline:
  description: Whether qfix ran offline (no C(/proc/sys) under O(root), so boot values only).
  returned: success
  type: bool
applied:
  description: What C(qfix apply) did, one line each.
  returned: when O(state=applied) and not in check mode and changes were proposed
  type: list
  elements: str
  sample: ["wrote /etc/sysctl.d/99-qfix.conf", "net.core.somaxconn = 8192 (live)"]
backups:
  description: The files written and their backups (C(backup) is null for a created file).
  returned: when O(state=applied) and not in check mode and changes were proposed
  type: list
  elements: dict
  sample:
    - path: /etc/sysctl.d/99-qfix.conf
      backup: null
skipped:
  description: Changes C(qfix apply) left out (needs review, without O(unsafe_fixes)).
  returned: when O(state=applied) and not in check mode and changes were proposed
  type: list
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
plan_rc:
  description: Exit code of C(qfix plan) (0 nothing to change, 2 changes proposed).
  returned: success
  type: int
"""

import json
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native


def qfix_error(module, rc, stdout, stderr, what):
    """fail_json with qfix's own "qfix: error: ..." lines as the message."""
    lines = [l for l in (stderr or "").splitlines() if l.strip()]
    errs = [l for l in lines if l.startswith("qfix: error")]
    msg = "\n".join(errs or lines) or ("%s exited %s" % (what, rc))
    module.fail_json(msg=msg, rc=rc, stdout=stdout, stderr=stderr, cmd=what)


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


def file_diffs(root, saved_plan, keep):
    """before/after entries for the file changes of a saved plan whose path keep() accepts."""
    out = []
    for ch in saved_plan.get("plan", {}).get("changes", []):
        if ch.get("kind") != "file" or not keep(ch):
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
            state=dict(type="str", choices=["planned", "applied"], default="applied"),
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
            module.fail_json(msg="qfix binary %s is not an executable file" % binary)
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

    # Always plan first (with --out, for the old/new contents): in check mode and with
    # state=planned that is all that runs.
    plan_cmd = common + ["plan"] + inputs + ["--format", "json", "--out", plan_file]
    rc, out, err = module.run_command(plan_cmd)
    if rc not in (0, 2):
        qfix_error(module, rc, out, err, " ".join(plan_cmd))
    plan = parse_json(module, rc, out, err, "qfix plan")
    saved = {}
    try:
        with open(plan_file) as f:
            saved = json.load(f)
    except (IOError, OSError, ValueError) as e:
        if rc == 2:
            module.fail_json(msg="cannot read the saved qfix plan: %s" % to_native(e))

    result = dict(
        changed=False,
        plan_rc=rc,
        offline=plan.get("offline", False),
        findings=plan.get("findings", []),
        changes=plan.get("changes", []),
        commands=plan.get("commands", []),
        restarts=plan.get("restarts", []),
        errors=plan.get("errors", []),
    )
    proposed = rc == 2 or bool(result["changes"])

    if module.check_mode or p["state"] == "planned":
        result["changed"] = proposed
        if module._diff and proposed:
            # what apply --yes would write: safe changes, and the others with unsafe_fixes
            result["diff"] = file_diffs(
                root, saved, lambda ch: ch.get("safe", False) or p["unsafe_fixes"]
            )
        module.exit_json(**result)

    if not proposed:
        module.exit_json(**result)

    apply_cmd = common + ["apply", "--yes", "--format", "json"]
    if p["unsafe_fixes"]:
        apply_cmd.append("--unsafe-fixes")
    if p["persist_only"]:
        apply_cmd.append("--persist-only")
    apply_cmd.append(plan_file)
    rc, out, err = module.run_command(apply_cmd)
    if rc != 0:
        qfix_error(module, rc, out, err, " ".join(apply_cmd))
    applied = parse_json(module, rc, out, err, "qfix apply")
    result["changed"] = bool(applied.get("changed", False))
    result["applied"] = applied.get("applied", [])
    result["backups"] = applied.get("backups", [])
    result["skipped"] = applied.get("skipped", [])
    if module._diff and result["changed"]:
        written = set(b.get("path") for b in result["backups"])
        result["diff"] = file_diffs(root, saved, lambda ch: ch.get("path") in written)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
