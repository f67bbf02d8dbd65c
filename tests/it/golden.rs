//! Golden outputs: every command's text and JSON on every fixture tree and on a small generated
//! busy host, compared with the reviewed snapshots under tests/it/snapshots. A change of output
//! is a change of behaviour: review it (`INSTA_UPDATE=always cargo test golden`, then
//! `git diff tests/it/snapshots`) and say why in the commit.

use crate::common::*;

use std::path::Path;
use std::process::Command;

/// A run as a snapshot shows it: exit code, stdout, stderr.
fn shown(r: &Run) -> String {
    format!(
        "exit {}\n--- stdout\n{}--- stderr\n{}",
        r.code, r.stdout, r.stderr
    )
}

fn settings(root: &Path) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_prepend_module_to_snapshot(false);
    s.set_omit_expression(true);
    s.add_filter(&regex_escape(&root.display().to_string()), "[ROOT]");
    // checkers' messages carry their pid: "[ALERT]    (14518) : config : ..."
    s.add_filter(r"\] +\(\d+\) :", "] ([PID]) :");
    // backup directories are named by the time of the apply
    s.add_filter(
        r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z(-\d+)?",
        "[TIME]",
    );
    s
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$".contains(c);
            special.then_some('\\').into_iter().chain(Some(c))
        })
        .collect()
}

/// A fixture as the golden tests see it: itself, or a copy with the permission bits its
/// `qfix-modes.txt` names (git keeps none but the executable bit).
pub fn prepared(name: &str) -> (std::path::PathBuf, Option<tempfile::TempDir>) {
    let src = fixture(name);
    let modes = src.join("qfix-modes.txt");
    let Ok(text) = std::fs::read_to_string(&modes) else {
        return (src, None);
    };
    let copy = copy_fixture(name);
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (mode, path) = line.split_once(' ').unwrap();
        let mode = u32::from_str_radix(mode, 8).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            copy.path().join(path),
            std::fs::Permissions::from_mode(mode),
        )
        .unwrap();
    }
    (copy.path().to_path_buf(), Some(copy))
}

/// The options that judge `root` against its recorded live state, when it has one
/// (`qfix-snapshot.json`, recorded by the fixture's record.sh: the kernel's sockets cannot be
/// files in a tree).
pub fn recorded(root: &Path) -> Vec<String> {
    let snap = root.join("qfix-snapshot.json");
    if snap.is_file() {
        vec![
            "--snapshot".into(),
            snap.display().to_string(),
            "--max-age".into(),
            "100000d".into(),
        ]
    } else {
        Vec::new()
    }
}

/// The read-only commands on `root`, each as a snapshot named `{name}__{command}`.
fn read_only(name: &str, root: &Path) {
    let runs: [(&str, &[&str]); 6] = [
        ("plan", &["plan"]),
        ("plan_json", &["plan", "--format", "json"]),
        ("listeners", &["listeners"]),
        ("listeners_json", &["listeners", "--format", "json"]),
        ("blame", &["blame"]),
        ("blame_json", &["blame", "--format", "json"]),
    ];
    settings(root).bind(|| {
        for (what, args) in runs {
            let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            args.extend(recorded(root));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            insta::assert_snapshot!(format!("{name}__{what}"), shown(&qfix(root, &args)));
        }
    });
}

/// `apply --yes` (and then `--unsafe-fixes`) on a copy: what it printed, what it changed in
/// the tree, and the plan that is left.
fn applied(name: &str, src: &Path) {
    let copy = tempfile::tempdir().unwrap();
    copy_tree(src, copy.path());
    let root = copy.path();
    settings(root).bind(|| {
        let safe = qfix(root, &["apply", "--yes", "--format", "json"]);
        let all = qfix(
            root,
            &["apply", "--yes", "--unsafe-fixes", "--format", "json"],
        );
        let after = qfix(root, &["plan"]);
        let text = format!(
            "## apply --yes\n{}\n## apply --yes --unsafe-fixes\n{}\n## tree\n{}\n## plan after\n{}",
            shown(&safe),
            shown(&all),
            tree_diff(src, root),
            shown(&after)
        );
        insta::assert_snapshot!(format!("{name}__apply"), text);
    });
}

/// `diff -ruN` of the original tree and the applied copy, qfix's own state left out (its
/// backups are checked by the apply tests).
fn tree_diff(before: &Path, after: &Path) -> String {
    let o = Command::new("diff")
        .args(["-ruN", "--no-dereference", "-x", "qfix", "-x", "qfix.lock"])
        .arg(before)
        .arg(after)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    // file times in the headers
    text.lines()
        .map(|l| {
            if l.starts_with("--- ") || l.starts_with("+++ ") || l.starts_with("diff ") {
                let l = l.replace(&before.display().to_string(), "a");
                let l = l.replace(&after.display().to_string(), "b");
                l.split('\t').next().unwrap_or("").to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_fixture_prints_its_reviewed_outputs() {
    for name in fixture_names() {
        let (root, _copy) = prepared(&name);
        read_only(&name, &root);
    }
}

#[test]
fn every_fixture_applies_to_its_reviewed_result() {
    for name in fixture_names() {
        let (root, _copy) = prepared(&name);
        applied(&name, &root);
    }
}

#[test]
fn rules_list_is_reviewed() {
    let root = fixture("sysctl-debian");
    settings(&root).bind(|| {
        insta::assert_snapshot!("rules", shown(&qfix(&root, &["rules"])));
        insta::assert_snapshot!(
            "rules_json",
            shown(&qfix(&root, &["rules", "--format", "json"]))
        );
    });
}

/// A small busy host from bench/gen.py (101 server blocks, 15 pools, 272 sysctl lines).
#[test]
fn a_small_busy_host_prints_and_applies_its_reviewed_outputs() {
    if !require("python3", "generates the busy host (bench/gen.py)") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("busy");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/gen.py");
    let st = Command::new("python3")
        .arg(script)
        .arg("0.05")
        .arg(&root)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    read_only("busy", &root);
    applied("busy", &root);
}

/// Every built-in rule fires on some fixture, so its golden outputs show it at work.
#[test]
fn every_rule_fires_on_some_fixture() {
    let listed = qfix(&fixture("sysctl-debian"), &["rules", "--format", "json"]).json();
    let mut unseen: std::collections::BTreeSet<String> = listed["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap().to_string())
        .collect();
    for name in fixture_names() {
        let (root, _copy) = prepared(&name);
        let mut args = vec!["plan".to_string(), "--format".into(), "json".into()];
        args.extend(recorded(&root));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let plan = qfix(&root, &args);
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&plan.stdout) {
            for f in v["findings"].as_array().into_iter().flatten() {
                unseen.remove(f["rule"].as_str().unwrap());
            }
        }
    }
    assert!(unseen.is_empty(), "no fixture shows {unseen:?}");
}
