//! Kill points: an apply (and a rollback) killed with SIGKILL at each of its write-side
//! syscalls, by strace's fault injection (`-e inject=SYSCALL:signal=KILL:when=N`, which
//! kills the process as it enters the N-th such call). After each kill:
//! - every file is entirely old or entirely new (never torn, never a mix);
//! - `qfix rollback --yes` restores the original bytes of every file and every live value
//!   (the tree's /proc/sys is plain files);
//! - the next apply converges: it succeeds, the plan after it is empty, and no temp file or
//!   journal-less backup directory is left.
//!
//! The apply edits six sysctl files (one key each) and six live values, so each step of
//! the journal (manifest, backups, stages, files, live values) has its own kill points.

use crate::common::*;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

/// (key, value in the files and live, value the apply sets)
const KEYS: [(&str, &str, &str); 6] = [
    ("net.core.somaxconn", "1024", "8192"),
    ("net.ipv4.tcp_max_syn_backlog", "512", "4096"),
    ("net.core.netdev_max_backlog", "1000", "5000"),
    ("net.ipv4.tcp_syncookies", "0", "1"),
    ("net.ipv4.tcp_fin_timeout", "60", "30"),
    ("net.ipv4.tcp_tw_reuse", "0", "2"),
];

/// Syscalls that change something on disk or in /proc/sys, or start doing so.
/// (openat2 is left out: qfix reads through it, and its writes open files with openat.)
const SYSCALLS: [&str; 8] = [
    "openat", "mkdirat", "write", "fchmod", "fchown", "fsync", "renameat", "unlinkat",
];

fn template(dir: &Path) {
    let mut files: Vec<(String, String)> = Vec::new();
    for (i, (k, v, _)) in KEYS.iter().enumerate() {
        files.push((
            format!("/etc/sysctl.d/{:02}-k{i}.conf", 10 + i),
            format!("# key {i}\n{k} = {v}\n"),
        ));
    }
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    write_tree(dir, &refs);
    let live: Vec<(&str, &str)> = KEYS.iter().map(|(k, v, _)| (*k, *v)).collect();
    proc_sys(dir, &live);
}

fn sets() -> Vec<String> {
    KEYS.iter()
        .flat_map(|(k, _, to)| ["--set".to_string(), format!("{k}={to}")])
        .collect()
}

/// Files under etc/ and proc/ (the ones an apply changes), by path below the root; qfix's
/// temp files (`.qfix-*`) are not files anyone reads (the last check looks for them).
fn contents(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for top in ["etc", "proc"] {
        let mut todo = vec![root.join(top)];
        while let Some(d) = todo.pop() {
            let Ok(rd) = fs::read_dir(&d) else { continue };
            for e in rd.flatten() {
                let p = e.path();
                let m = fs::symlink_metadata(&p).unwrap();
                let temp = e.file_name().to_string_lossy().starts_with(".qfix-");
                if m.is_dir() {
                    todo.push(p);
                } else if m.is_file() && !temp {
                    let rel = p.strip_prefix(root).unwrap().display().to_string();
                    out.insert(rel, fs::read(&p).unwrap());
                }
            }
        }
    }
    out
}

fn run(root: &Path, args: &[String], kill: Option<(&str, usize)>) -> (i32, String) {
    let mut cmd = match kill {
        Some((sys, n)) => {
            let mut c = Command::new("strace");
            c.args(["-f", "-qq", "-o", "/dev/null", "-e"])
                .arg(format!("trace={sys}"))
                .arg("-e")
                .arg(format!("inject={sys}:signal=KILL:when={n}"))
                .arg(BIN);
            c
        }
        None => Command::new(BIN),
    };
    let o = cmd
        .arg("--root")
        .arg(root)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stderr).into_owned() + &String::from_utf8_lossy(&o.stdout),
    )
}

/// How many times each syscall runs in an undisturbed `args` on a copy of `tree`.
fn counts(tree: &Path, args: &[String], before: &[&[String]]) -> BTreeMap<&'static str, usize> {
    let d = tempfile::tempdir().unwrap();
    copy_tree(tree, d.path());
    for b in before {
        assert_eq!(run(d.path(), b, None).0, 0);
    }
    let log = d.path().join("strace.log");
    let o = Command::new("strace")
        .args(["-f", "-qq", "-o"])
        .arg(&log)
        .arg("-e")
        .arg(format!("trace={}", SYSCALLS.join(",")))
        .arg(BIN)
        .arg("--root")
        .arg(d.path())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = fs::read_to_string(&log).unwrap();
    let mut n = BTreeMap::new();
    for line in text.lines() {
        // "PID name(args..." (a resumed call's second half starts with "<...")
        let call = line.split_once(' ').map_or(line, |(_, c)| c).trim_start();
        if let Some(name) = SYSCALLS.iter().find(|s| call.starts_with(&format!("{s}("))) {
            *n.entry(*name).or_default() += 1;
        }
    }
    n
}

type Contents = BTreeMap<String, Vec<u8>>;
/// (apply or rollback, runs before it, its arguments, the syscall and count to kill at)
type Point<'a> = (&'a str, Vec<&'a [String]>, &'a [String], (&'a str, usize));

/// What went wrong after one kill, if anything.
fn check_point(
    tree: &Path,
    what: &str,
    before: &[&[String]],
    killed: &[String],
    point: (&str, usize),
    (orig, done): (&Contents, &Contents),
) -> Result<(), String> {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    copy_tree(tree, root);
    for b in before {
        let (code, out) = run(root, b, None);
        if code != 0 {
            return Err(format!("setup run failed: {out}"));
        }
    }
    let (_, killed_out) = run(root, killed, Some(point));
    let name = format!("{what} killed at {} #{}", point.0, point.1);
    // every file entirely old or new
    for (p, now) in contents(root) {
        let is_old = orig.get(&p) == Some(&now);
        let is_new = done.get(&p) == Some(&now);
        if !is_old && !is_new {
            return Err(format!(
                "{name}: {p} is neither old nor new: {:?}\n{killed_out}",
                String::from_utf8_lossy(&now)
            ));
        }
    }
    // rollback restores the original bytes
    let yes = ["rollback".to_string(), "--yes".to_string()];
    let (code, out) = run(root, &yes, None);
    let nothing = out.contains("no apply left to roll back");
    if code != 0 && !nothing {
        return Err(format!(
            "{name}: rollback failed: {out}\n(killed run: {killed_out})"
        ));
    }
    // a rollback that ran also removes what the killed run left beside its files
    if code == 0
        && let Some(left) = temp_files(root)
    {
        return Err(format!(
            "{name}: temp files left after the rollback: {left}"
        ));
    }
    let now = contents(root);
    if &now != orig {
        let diff: Vec<&String> = now
            .keys()
            .chain(orig.keys())
            .filter(|k| now.get(*k) != orig.get(*k))
            .collect();
        return Err(format!(
            "{name}: rollback left {diff:?} changed\n{out}\n(killed run: {killed_out})"
        ));
    }
    // the next apply converges and leaves nothing behind
    let apply: Vec<String> = ["apply".to_string(), "--yes".to_string()]
        .into_iter()
        .chain(sets())
        .collect();
    let (code, out) = run(root, &apply, None);
    if code != 0 {
        return Err(format!("{name}: the next apply failed: {out}"));
    }
    if &contents(root) != done {
        return Err(format!(
            "{name}: the next apply did not reach the applied state"
        ));
    }
    let plan: Vec<String> = ["plan".to_string()].into_iter().chain(sets()).collect();
    let (code, out) = run(root, &plan, None);
    if code != 0 {
        return Err(format!("{name}: the plan after it is not empty: {out}"));
    }
    if let Some(left) = temp_files(root) {
        return Err(format!("{name}: temp files left: {left}"));
    }
    for e in fs::read_dir(root.join("var/lib/qfix/backups"))
        .unwrap()
        .flatten()
    {
        if !e.path().join("manifest.json").is_file() {
            return Err(format!(
                "{name}: backup directory without a journal left: {:?}",
                e.path()
            ));
        }
    }
    Ok(())
}

#[test]
fn an_apply_or_rollback_killed_at_any_write_leaves_old_or_new_and_rolls_back() {
    if !have("strace") {
        skip("strace is not installed");
        return;
    }
    let tpl = tempfile::tempdir().unwrap();
    template(tpl.path());
    let apply: Vec<String> = ["apply".to_string(), "--yes".to_string()]
        .into_iter()
        .chain(sets())
        .collect();
    let rollback = vec!["rollback".to_string(), "--yes".to_string()];
    // the two states every file must be in
    let orig = contents(tpl.path());
    let done = {
        let d = tempfile::tempdir().unwrap();
        copy_tree(tpl.path(), d.path());
        let (code, out) = run(d.path(), &apply, None);
        assert_eq!(code, 0, "{out}");
        assert_eq!(out.matches("(live)").count(), KEYS.len(), "{out}");
        contents(d.path())
    };
    assert_ne!(orig, done);

    let mut points: Vec<Point> = Vec::new();
    let no_setup: Vec<&[String]> = Vec::new();
    for (sys, n) in counts(tpl.path(), &apply, &no_setup) {
        for i in 1..=n {
            points.push(("apply", no_setup.clone(), &apply, (sys, i)));
        }
    }
    let applied: Vec<&[String]> = vec![&apply];
    for (sys, n) in counts(tpl.path(), &rollback, &applied) {
        for i in 1..=n {
            points.push(("rollback", applied.clone(), &rollback, (sys, i)));
        }
    }
    let total = points.len();
    let (apply_points, rollback_points) = (
        points.iter().filter(|p| p.0 == "apply").count(),
        points.iter().filter(|p| p.0 == "rollback").count(),
    );
    eprintln!("{total} kill points: {apply_points} in apply, {rollback_points} in rollback");
    assert!(total >= 200, "only {total} kill points");
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failures: Vec<String> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    let mut bad = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some((what, before, args, point)) = points.get(i) else {
                            break bad;
                        };
                        if let Err(e) =
                            check_point(tpl.path(), what, before, args, *point, (&orig, &done))
                        {
                            bad.push(e);
                        }
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    if let Ok(path) = std::env::var("QFIX_KILL_REPORT") {
        fs::write(
            path,
            format!(
                "{total} {apply_points} {rollback_points} {}\n",
                failures.len()
            ),
        )
        .unwrap();
    }
    assert!(
        failures.is_empty(),
        "{} of {total} kill points went wrong:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// qfix's temp files (`.qfix-*`) anywhere under the root, if any.
fn temp_files(root: &Path) -> Option<String> {
    let out = Command::new("find")
        .arg(root)
        .args(["-name", ".qfix-*"])
        .output()
        .unwrap();
    (!out.stdout.is_empty()).then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}
