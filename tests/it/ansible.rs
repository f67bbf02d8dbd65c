//! The Ansible collection in packaging/ansible (module `qfix.qfix.qfix`) driven as a fleet
//! user drives it: a real `ansible-playbook` against three local hosts, each with its own
//! copy of the stock Debian tree, in check mode with --diff, for real, and again, with a
//! handler; and the collection's own integration target through `ansible-test integration`.
//! Without Ansible the tests are skipped locally and fail under CI=true.

use crate::common::{self, BIN, copy_fixture, read, require};
use std::collections::BTreeMap;
use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const HOSTS: [&str; 3] = ["host1", "host2", "host3"];
const DROPIN: &str = "/etc/sysctl.d/99-qfix.conf";
const HANDLER: &str = "RUNNING HANDLER [Restart what qfix says needs it]";

/// The interpreter the local connection runs modules with: the real executable behind
/// `python3` on PATH (not a pyenv shim).
fn python() -> String {
    let o = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3 on PATH (ansible-playbook needs it)");
    assert!(o.status.success(), "python3 failed: {o:?}");
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

#[derive(Debug, PartialEq)]
enum Node {
    Dir,
    File(Vec<u8>),
    Link(PathBuf),
}

/// Every path under `root` with its content (files), target (symlinks) or Dir.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Node> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Node>) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            let md = fs::symlink_metadata(&p).unwrap();
            if md.file_type().is_symlink() {
                out.insert(rel, Node::Link(fs::read_link(&p).unwrap()));
            } else if md.is_dir() {
                out.insert(rel, Node::Dir);
                walk(root, &p, out);
            } else {
                out.insert(rel, Node::File(fs::read(&p).unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

struct Ansible {
    playbook: PathBuf,
    /// Holds inventory, playbooks, HOME and the temp dirs Ansible uses.
    work: tempfile::TempDir,
}

struct PlayRun {
    code: i32,
    stdout: String,
    stderr: String,
}

impl std::fmt::Display for PlayRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl PlayRun {
    /// PLAY RECAP: host -> {"ok": n, "changed": n, "failed": n, ...}.
    fn recap(&self) -> BTreeMap<String, BTreeMap<String, u32>> {
        let mut out = BTreeMap::new();
        let Some(start) = self.stdout.find("PLAY RECAP") else {
            panic!("no PLAY RECAP in the output\n{self}");
        };
        for line in self.stdout[start..].lines().skip(1) {
            let Some((host, counts)) = line.split_once(" : ") else {
                continue;
            };
            let counts: BTreeMap<String, u32> = counts
                .split_whitespace()
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.parse().unwrap()))
                .collect();
            out.insert(host.trim().to_string(), counts);
        }
        out
    }

    fn recap_lines(&self) -> Vec<&str> {
        let start = self.stdout.find("PLAY RECAP").unwrap();
        self.stdout[start..]
            .lines()
            .skip(1)
            .filter(|l| l.contains(" : "))
            .map(str::trim_end)
            .collect()
    }

    fn assert_each_host(&self, ok: u32, changed: u32) {
        let recap = self.recap();
        assert_eq!(
            recap.keys().map(String::as_str).collect::<Vec<_>>(),
            HOSTS,
            "{self}"
        );
        for (host, c) in &recap {
            for (k, want) in [
                ("ok", ok),
                ("changed", changed),
                ("failed", 0),
                ("unreachable", 0),
            ] {
                assert_eq!(c.get(k), Some(&want), "{host} {k}\n{self}");
            }
        }
    }
}

impl Ansible {
    fn new(roots: &[(&str, &Path)]) -> Ansible {
        let work = tempfile::tempdir().unwrap();
        for d in ["home", "local-tmp", "remote-tmp"] {
            fs::create_dir(work.path().join(d)).unwrap();
        }
        let python = python();
        let hosts: serde_json::Map<String, serde_json::Value> = roots
            .iter()
            .map(|(host, root)| {
                (
                    host.to_string(),
                    serde_json::json!({
                        "ansible_connection": "local",
                        "ansible_python_interpreter": python,
                        "qfix_root": root.to_str().unwrap(),
                    }),
                )
            })
            .collect();
        // JSON is YAML: the yaml inventory plugin reads it, with no quoting worries.
        let inventory = serde_json::json!({ "all": { "hosts": hosts } });
        fs::write(
            work.path().join("inventory.yml"),
            serde_json::to_string_pretty(&inventory).unwrap(),
        )
        .unwrap();
        let playbook = work.path().join("site.yml");
        fs::write(&playbook, play(&[("net.core.somaxconn", "8192")], None)).unwrap();
        Ansible { playbook, work }
    }

    fn run(&self, playbook: &Path, args: &[&str]) -> PlayRun {
        let w = self.work.path();
        let collections = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/ansible");
        let o = Command::new("ansible-playbook")
            .arg("-i")
            .arg(w.join("inventory.yml"))
            .arg(playbook)
            .args(args)
            .current_dir(w)
            .env_remove("ANSIBLE_CONFIG")
            .env_remove("ANSIBLE_INVENTORY")
            .env("HOME", w.join("home"))
            .env("ANSIBLE_LOCAL_TEMP", w.join("local-tmp"))
            .env("ANSIBLE_REMOTE_TEMP", w.join("remote-tmp"))
            .env("ANSIBLE_COLLECTIONS_PATH", &collections)
            .env("ANSIBLE_COLLECTIONS_SCAN_SYS_PATH", "false")
            .env("ANSIBLE_STDOUT_CALLBACK", "default")
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ANSIBLE_FORCE_COLOR", "0")
            .env("ANSIBLE_RETRY_FILES_ENABLED", "false")
            .env("ANSIBLE_DEPRECATION_WARNINGS", "false")
            .env("LC_ALL", "C.UTF-8")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        PlayRun {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// A play running the module on every host with root={{ qfix_root }} and the given --set
/// values (and a policy file, if any), notifying a handler that shows what it would restart.
fn play(set: &[(&str, &str)], policy: Option<&str>) -> String {
    let q = |s: &str| serde_json::to_string(s).unwrap();
    let mut set_yaml = String::new();
    if !set.is_empty() {
        set_yaml += "        set:\n";
    }
    for (k, v) in set {
        set_yaml += &format!("          {}: {}\n", q(k), q(v));
    }
    let policy = policy
        .map(|p| format!("        policy: {}\n", q(p)))
        .unwrap_or_default();
    format!(
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: qfix\n      qfix.qfix.qfix:\n        root: \"{{{{ qfix_root }}}}\"\n        binary: {}\n{policy}{set_yaml}      register: qfix\n      notify: Restart what qfix says needs it\n  handlers:\n    - name: Restart what qfix says needs it\n      ansible.builtin.debug:\n        msg: \"would {{{{ item.action }}}} {{{{ item.unit }}}}\"\n      loop: \"{{{{ qfix.restarts }}}}\"\n",
        q(BIN)
    )
}

/// Where `ansible-playbook` is, or None (skipped locally, a failure under CI=true).
fn ansible() -> bool {
    require(
        "ansible-playbook",
        "the Ansible collection's tests run real plays",
    )
}

#[test]
#[cfg_attr(missing_ansible_playbook, ignore = "ansible-playbook is not installed")]
fn ansible_fleet_of_stock_debian_hosts_check_mode_predicts_the_real_run() {
    if !ansible() {
        return;
    }
    // on a kernel before 5.4, where somaxconn defaults to 128: the raise must be persisted
    let trees: Vec<_> = HOSTS
        .iter()
        .map(|_| {
            let t = copy_fixture("debian-stock");
            fs::write(
                t.path().join("proc/sys/kernel/osrelease"),
                "4.19.0-25-amd64\n",
            )
            .unwrap();
            t
        })
        .collect();
    let roots: Vec<(&str, &Path)> = HOSTS
        .iter()
        .zip(&trees)
        .map(|(h, t)| (*h, t.path()))
        .collect();
    let ansible = Ansible::new(&roots);
    // the stock hosts' policy (the default) asks for somaxconn 4096: no --set
    fs::write(&ansible.playbook, play(&[], None)).unwrap();
    let before: Vec<_> = trees.iter().map(|t| snapshot(t.path())).collect();
    // the files qfix changes only after review: left alone without unsafe_fixes
    let plan = common::qfix(trees[0].path(), &["plan", "--format", "json"]);
    let review: Vec<String> = plan.json()["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "file" && c["safe"] == false)
        .map(|c| c["path"].as_str().unwrap().to_string())
        .collect();
    assert!(!review.is_empty(), "{plan}");
    let review_before: Vec<String> = review.iter().map(|p| read(trees[0].path(), p)).collect();

    // (1) check mode with diff: changed on each host, the drop-in shown, the handler
    // notified, nothing written
    let check = ansible.run(&ansible.playbook, &["--check", "--diff"]);
    assert_eq!(check.code, 0, "{check}");
    check.assert_each_host(2, 1);
    assert_eq!(check.stdout.matches(HANDLER).count(), 1, "{check}");
    println!("--check --diff:\n{}", check.recap_lines().join("\n"));
    for (t, snap) in trees.iter().zip(&before) {
        assert_eq!(
            &snapshot(t.path()),
            snap,
            "check mode wrote under {:?}",
            t.path()
        );
        let header = format!("+++ after: {}{DROPIN}", t.path().display());
        assert!(check.stdout.contains(&header), "no {header}\n{check}");
        // what needs review is not applied without unsafe_fixes, so not in the diff
        for path in &review {
            let header = format!("+++ after: {}{path}", t.path().display());
            assert!(!check.stdout.contains(&header), "{check}");
        }
    }
    assert_eq!(
        check
            .stdout
            .matches("\n+net.core.somaxconn = 4096\n")
            .count(),
        3,
        "{check}"
    );

    // (2) the real run does what check mode said: changed, the same diffs, the handler
    let first = ansible.run(&ansible.playbook, &["--diff"]);
    assert_eq!(first.code, 0, "{first}");
    first.assert_each_host(2, 1);
    assert_eq!(first.stdout.matches(HANDLER).count(), 1, "{first}");
    assert!(!first.stdout.contains("skipping:"), "{first}");
    // each host's diff, as one block from its "--- before" on; hosts finish in any order
    let diffs = |run: &PlayRun| -> Vec<String> {
        let mut blocks: Vec<String> = Vec::new();
        let mut open = false;
        for l in run.stdout.lines() {
            if l.starts_with("--- before") {
                blocks.push(String::new());
                open = true;
            } else if !(l.starts_with('+') || l.starts_with('-') || l.starts_with("@@")) {
                open = false;
            }
            if open {
                let block = blocks.last_mut().unwrap();
                block.push_str(l);
                block.push('\n');
            }
        }
        blocks.sort();
        blocks
    };
    assert_eq!(diffs(&check), diffs(&first), "{check}\n{first}");
    for t in &trees {
        let dropin = read(t.path(), DROPIN);
        assert!(
            dropin.lines().any(|l| l == "net.core.somaxconn = 4096"),
            "{dropin}"
        );
        assert_eq!(
            read(t.path(), "/proc/sys/net/core/somaxconn").trim(),
            "4096"
        );
        for (path, before) in review.iter().zip(&review_before) {
            assert_eq!(
                &read(t.path(), path),
                before,
                "{path} needs review: left alone"
            );
        }
    }
    println!("first run:\n{}", first.recap_lines().join("\n"));

    // (3) the second run, checked and real, changes nothing and notifies nobody, although
    // changes that need review are still proposed
    let after: Vec<_> = trees.iter().map(|t| snapshot(t.path())).collect();
    for args in [&["--check", "--diff"][..], &["--diff"][..]] {
        let second = ansible.run(&ansible.playbook, args);
        assert_eq!(second.code, 0, "{second}");
        second.assert_each_host(1, 0);
        assert!(!second.stdout.contains("+++ after:"), "{second}");
        assert!(!second.stdout.contains(HANDLER), "{second}");
        for (t, snap) in trees.iter().zip(&after) {
            assert_eq!(
                &snapshot(t.path()),
                snap,
                "second run wrote under {:?}",
                t.path()
            );
        }
        println!("second run {args:?}:\n{}", second.recap_lines().join("\n"));
    }
    let plan = common::qfix(trees[0].path(), &["plan", "--format", "json"]);
    assert_eq!(
        plan.code, 2,
        "needs-review changes are still proposed: {plan}"
    );

    // a qfix failure fails the task, its msg naming the file and why
    let bad = ansible.work.path().join("bad.yml");
    fs::write(&bad, play(&[], Some("/nonexistent/policy.toml"))).unwrap();
    let failed = ansible.run(&bad, &[]);
    assert_eq!(failed.code, 2, "{failed}");
    for (host, c) in failed.recap() {
        assert_eq!(c.get("failed"), Some(&1), "{host}\n{failed}");
    }
    assert!(
        failed
            .stdout
            .contains("\"msg\": \"/nonexistent/policy.toml: "),
        "{failed}"
    );

    // the module's documentation parses
    if require("ansible-doc", "shows the module's documentation") {
        let o = Command::new("ansible-doc")
            .args(["-t", "module", "qfix.qfix.qfix"])
            .env("HOME", ansible.work.path().join("home"))
            .env(
                "ANSIBLE_COLLECTIONS_PATH",
                Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/ansible"),
            )
            .env("ANSIBLE_NOCOLOR", "1")
            .env("LC_ALL", "C.UTF-8")
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "{out}\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        for opt in [
            "root",
            "set",
            "policy",
            "strategy",
            "unsafe_fixes",
            "persist_only",
            "binary",
            "needs_review",
            "backup",
        ] {
            assert!(out.contains(opt), "ansible-doc lacks {opt}\n{out}");
        }
    }
}

/// The collection's integration target (tests/integration/targets/qfix), run by
/// `ansible-test integration` as a collection's maintainers run it: four stock Debian hosts,
/// one with unsafe_fixes and one that fails, checked, applied, checked and applied again.
/// It runs on a copy of the collection (ansible-test writes into the collection's tree),
/// with this build's qfix first on PATH.
#[test]
#[cfg_attr(missing_ansible_playbook, ignore = "ansible-playbook is not installed")]
fn ansible_collection_integration_target_runs_under_ansible_test() {
    if !ansible() || !require("ansible-test", "runs the collection's integration target") {
        return;
    }
    let repo = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR"));
    let collection = repo
        .path()
        .join("packaging/ansible/ansible_collections/qfix/qfix");
    common::copy_tree(
        &src.join("packaging/ansible/ansible_collections/qfix/qfix"),
        &collection,
    );
    // the target finds the fixture where it is in the repository
    std::os::unix::fs::symlink(src.join("fixtures"), repo.path().join("fixtures")).unwrap();
    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = env::join_paths(
        std::iter::once(bin_dir.to_path_buf())
            .chain(env::split_paths(&env::var_os("PATH").unwrap_or_default())),
    )
    .unwrap();
    let python = Command::new("python3")
        .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
        .output()
        .unwrap();
    let python = String::from_utf8(python.stdout).unwrap();
    let o = Command::new("ansible-test")
        .args([
            "integration",
            "--local",
            "--color",
            "no",
            "--python",
            python.trim(),
            "qfix",
        ])
        .current_dir(&collection)
        .env("PATH", path)
        .env_remove("ANSIBLE_CONFIG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let run = PlayRun {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    };
    assert_eq!(run.code, 0, "{run}");
    assert!(
        run.stdout.contains("qfix fleet: all checks passed"),
        "{run}"
    );
}
