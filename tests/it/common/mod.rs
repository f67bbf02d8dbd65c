//! Shared helpers for the integration tests: build root trees, copy fixtures, run the real
//! `qfix` binary.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_qfix");

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// A private copy of a fixture tree (symlinks kept as links).
pub fn copy_fixture(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let st = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", fixture(name).display()))
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(st.success());
    dir
}

/// Write `files` into `root`: entries are (path, content); content "-> TARGET" makes a symlink.
pub fn write_tree(root: &Path, files: &[(&str, &str)]) {
    for (path, content) in files {
        let p = root.join(path.trim_start_matches('/'));
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        if let Some(target) = content.strip_prefix("-> ") {
            let _ = fs::remove_file(&p);
            symlink(target, &p).unwrap();
        } else {
            fs::write(&p, content).unwrap();
        }
    }
}

pub fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    write_tree(d.path(), files);
    d
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}\n{}", self.stdout, self.stderr))
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

fn done(o: Output) -> Run {
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// Run `qfix --root ROOT ARGS...` with no terminal on stdin.
pub fn qfix(root: &Path, args: &[&str]) -> Run {
    let o = Command::new(BIN)
        .arg("--root")
        .arg(root)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    done(o)
}

pub fn read(root: &Path, path: &str) -> String {
    fs::read_to_string(root.join(path.trim_start_matches('/'))).unwrap()
}

/// A fake /proc/sys with the given canonical keys.
pub fn proc_sys(root: &Path, keys: &[(&str, &str)]) {
    for (k, v) in keys {
        let rel: String = k
            .chars()
            .map(|c| match c {
                '.' => '/',
                '/' => '.',
                c => c,
            })
            .collect();
        let p = root.join("proc/sys").join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, format!("{v}\n")).unwrap();
    }
}

/// Whether we can make private namespaces here (root, unshare present).
pub fn can_unshare() -> bool {
    Command::new("unshare")
        .args(["-n", "-m", "true"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Whether a program is on PATH.
pub fn have(bin: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {bin}"))
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Copy a directory tree (links kept as links), creating `dst`.
pub fn copy_tree(src: &Path, dst: &Path) {
    fs::create_dir_all(dst).unwrap();
    let st = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", src.display()))
        .arg(dst)
        .status()
        .unwrap();
    assert!(st.success());
}

/// Scan a root with one service's scanner.
pub fn scan_root(
    dir: &Path,
    f: fn(&qfix::host::Host, &mut qfix::services::Scan),
) -> qfix::services::Scan {
    let host = qfix::host::Host::new(qfix::root::Root::new(dir).unwrap());
    let mut s = qfix::services::Scan::default();
    f(&host, &mut s);
    s
}

/// Say why a test cannot run here. Under `CI=true` (CI installs every tool and runs as
/// root) that is a failure; elsewhere the test returns early after saying so. Tests that need
/// a tool are also marked `#[cfg_attr(missing_TOOL, ignore = "...")]` (see build.rs), so the
/// summary lists them as ignored with the reason.
pub fn skip(reason: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("cannot run here, and CI must run every test: {reason}");
    }
    eprintln!("skipped: {reason}");
}

/// Whether `tool` can be run; if not, `skip` says so.
pub fn require(tool: &str, why: &str) -> bool {
    if have(tool) {
        return true;
    }
    skip(&format!("{tool} is not installed ({why})"));
    false
}

/// Every fixture tree's name, sorted.
pub fn fixture_names() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(fixture(""))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// An apply's `applied` entries (JSON objects) as its text output says them: "wrote PATH",
/// "KEY = VALUE (live)", "validated: COMMAND", or the note.
pub fn applied(v: &serde_json::Value) -> Vec<String> {
    let items = v["applied"].as_array().cloned().unwrap_or_default();
    items
        .iter()
        .map(|a| match a["kind"].as_str() {
            Some("file") => format!("wrote {}", a["path"].as_str().unwrap()),
            Some("sysctl") => format!(
                "{} = {} (live)",
                a["key"].as_str().unwrap(),
                a["value"].as_str().unwrap()
            ),
            Some("checked") => format!("validated: {}", a["command"].as_str().unwrap()),
            _ => a["message"].as_str().unwrap_or_default().to_string(),
        })
        .collect()
}

/// An apply's restarts as its text says them: "ran COMMAND", or "needed: ACTION UNIT
/// (REASON)" (also for one not run, whose reason says why).
pub fn restarts(v: &serde_json::Value) -> Vec<String> {
    let items = v["restarts"].as_array().cloned().unwrap_or_default();
    items
        .iter()
        .map(|r| match r["command"].as_str() {
            Some(c) if r["ran"] == true => format!("ran: {c}"),
            _ => format!(
                "needed: {} {} ({})",
                r["action"].as_str().unwrap(),
                r["unit"].as_str().unwrap(),
                r["reason"].as_str().unwrap()
            ),
        })
        .collect()
}

/// What an apply skipped (each change's label).
pub fn skipped(v: &serde_json::Value) -> Vec<String> {
    let items = v["skipped"].as_array().cloned().unwrap_or_default();
    items
        .iter()
        .map(|s| s["what"].as_str().unwrap().to_string())
        .collect()
}
