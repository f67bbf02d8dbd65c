//! The Ansible collection in packaging/ansible (module `qfix.qfix.qfix`) driven by a real
//! `ansible-playbook` against three local hosts, each with its own copy of a fixture tree:
//! check mode with diff writes nothing and reports would-change, the first run applies, the
//! second changes nothing. Skipped when ansible-playbook is not installed.

use crate::common::{BIN, copy_fixture, read};
use std::collections::BTreeMap;
use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const HOSTS: [&str; 3] = ["host1", "host2", "host3"];
const DROPIN: &str = "/etc/sysctl.d/99-qfix.conf";

fn on_path(name: &str) -> Option<PathBuf> {
    env::split_paths(&env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

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
/// values (and a policy file, if any).
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
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: qfix\n      qfix.qfix.qfix:\n        root: \"{{{{ qfix_root }}}}\"\n        binary: {}\n{policy}{set_yaml}",
        q(BIN)
    )
}

#[test]
fn ansible_three_hosts_check_diff_apply_idempotent() {
    if on_path("ansible-playbook").is_none() {
        println!("SKIP: ansible-playbook not installed");
        return;
    }
    let trees: Vec<_> = HOSTS
        .iter()
        .map(|_| copy_fixture("sysctl-vendor"))
        .collect();
    let roots: Vec<(&str, &Path)> = HOSTS
        .iter()
        .zip(&trees)
        .map(|(h, t)| (*h, t.path()))
        .collect();
    let ansible = Ansible::new(&roots);
    let before: Vec<_> = trees.iter().map(|t| snapshot(t.path())).collect();

    // (1) check mode with diff: would change each host, shows the drop-in, writes nothing
    let check = ansible.run(&ansible.playbook, &["--check", "--diff"]);
    assert_eq!(check.code, 0, "{check}");
    check.assert_each_host(1, 1);
    for (t, snap) in trees.iter().zip(&before) {
        assert_eq!(
            &snapshot(t.path()),
            snap,
            "check mode wrote under {:?}",
            t.path()
        );
        let header = format!("+++ after: {}{DROPIN}", t.path().display());
        assert!(check.stdout.contains(&header), "no {header}\n{check}");
    }
    assert!(check.stdout.contains("--- before: /dev/null"), "{check}");
    assert_eq!(
        check
            .stdout
            .matches("\n+net.core.somaxconn = 8192\n")
            .count(),
        3,
        "{check}"
    );

    // (2) the first real run applies on every host
    let first = ansible.run(&ansible.playbook, &[]);
    assert_eq!(first.code, 0, "{first}");
    first.assert_each_host(1, 1);
    for t in &trees {
        let dropin = read(t.path(), DROPIN);
        assert!(
            dropin.lines().any(|l| l == "net.core.somaxconn = 8192"),
            "{dropin}"
        );
        assert_eq!(
            read(t.path(), "/proc/sys/net/core/somaxconn").trim(),
            "8192"
        );
    }

    // (3) the second run is a no-op
    let after: Vec<_> = trees.iter().map(|t| snapshot(t.path())).collect();
    let second = ansible.run(&ansible.playbook, &["--diff"]);
    assert_eq!(second.code, 0, "{second}");
    second.assert_each_host(1, 0);
    assert!(!second.stdout.contains("+++ after:"), "{second}");
    for (t, snap) in trees.iter().zip(&after) {
        assert_eq!(
            &snapshot(t.path()),
            snap,
            "second run wrote under {:?}",
            t.path()
        );
    }
    println!("second run:\n{}", second.recap_lines().join("\n"));

    // qfix's exit 1 fails the task with its own error line
    let bad = ansible.work.path().join("bad.yml");
    fs::write(&bad, play(&[], Some("/nonexistent/policy.toml"))).unwrap();
    let failed = ansible.run(&bad, &[]);
    assert_eq!(failed.code, 2, "{failed}");
    for (host, c) in failed.recap() {
        assert_eq!(c.get("failed"), Some(&1), "{host}\n{failed}");
    }
    assert!(
        format!("{}{}", failed.stdout, failed.stderr)
            .contains("qfix: error: /nonexistent/policy.toml"),
        "{failed}"
    );

    // the module's documentation parses
    if on_path("ansible-doc").is_some() {
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
            "state",
            "unsafe_fixes",
            "binary",
        ] {
            assert!(out.contains(opt), "ansible-doc lacks {opt}\n{out}");
        }
    }
}

/// The collection's own integration target (tests/integration/targets/qfix), run as a role:
/// planned, check mode and applied results (findings, changes, diff before/after, backups),
/// idempotence and an error, asserted from inside Ansible.
#[test]
fn ansible_collection_integration_target() {
    if on_path("ansible-playbook").is_none() {
        println!("SKIP: ansible-playbook not installed");
        return;
    }
    let tree = copy_fixture("sysctl-vendor");
    let ansible = Ansible::new(&[("host1", tree.path())]);
    let target = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("packaging/ansible/ansible_collections/qfix/qfix/tests/integration/targets/qfix");
    let playbook = ansible.work.path().join("target.yml");
    fs::write(
        &playbook,
        format!(
            "- hosts: all\n  gather_facts: false\n  roles:\n    - role: {}\n",
            serde_json::to_string(target.to_str().unwrap()).unwrap()
        ),
    )
    .unwrap();
    let vars = serde_json::json!({ "qfix_binary": BIN }).to_string();
    let run = ansible.run(&playbook, &["-e", &vars]);
    assert_eq!(run.code, 0, "{run}");
    let recap = run.recap();
    let host1 = &recap["host1"];
    assert_eq!(host1.get("failed"), Some(&0), "{run}");
    assert_eq!(host1.get("ignored"), Some(&1), "{run}");
    assert!(run.stdout.contains("All assertions passed"), "{run}");
}
