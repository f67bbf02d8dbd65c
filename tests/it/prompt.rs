//! The approval prompt at a real pseudo-terminal (approve, decline, choose a subset).

use crate::common::*;

use rexpect::session::PtySession;

const SETS: [&str; 4] = [
    "--set",
    "net.core.somaxconn=8192",
    "--set",
    "net.ipv4.tcp_max_syn_backlog=8192",
];

fn spawn(root: &std::path::Path) -> PtySession {
    let cmd = format!("{BIN} --root {} apply {}", root.display(), SETS.join(" "));
    let mut p = rexpect::spawn(&cmd, Some(10_000)).unwrap();
    p.exp_string("Apply this plan?").unwrap();
    settle(&mut p, "Cancel");
    p
}

fn key(p: &mut PtySession, k: &str) {
    p.send(k).unwrap();
    p.flush().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(100));
}

/// Wait until the widget is drawn and the terminal is in raw mode: keys typed before that
/// are flushed by the terminal mode switch.
fn settle(p: &mut PtySession, last_item: &str) {
    p.exp_string(last_item).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
}

fn finish(mut p: PtySession) -> String {
    p.exp_eof().unwrap()
}

#[test]
fn prompt_approve_all() {
    let d = copy_fixture("sysctl-vendor");
    let mut p = spawn(d.path());
    key(&mut p, "\r"); // default: apply all
    let out = finish(p);
    assert!(
        out.contains("applied: wrote /etc/sysctl.d/99-qfix.conf"),
        "{out}"
    );
    assert!(d.path().join("etc/sysctl.d/99-qfix.conf").exists());
    assert!(d.path().join("etc/sysctl.d/99-zz-qfix.conf").exists());
    assert_eq!(
        read(d.path(), "/proc/sys/net/core/somaxconn").trim(),
        "8192"
    );
}

#[test]
fn prompt_decline_changes_nothing() {
    let d = copy_fixture("sysctl-vendor");
    let mut p = spawn(d.path());
    key(&mut p, "j");
    key(&mut p, "j"); // "Cancel"
    key(&mut p, "\r");
    let out = p.exp_eof().unwrap();
    // a refused approval is exit 1, saying nothing was written
    let status = p.process.wait().unwrap();
    assert!(
        matches!(status, rexpect::process::wait::WaitStatus::Exited(_, 1)),
        "{status:?}"
    );
    assert!(
        out.contains("not approved at the prompt; nothing was written"),
        "{out}"
    );
    assert!(!d.path().join("etc/sysctl.d/99-qfix.conf").exists());
    assert_eq!(
        read(d.path(), "/proc/sys/net/core/somaxconn").trim(),
        "1024"
    );
}

#[test]
fn prompt_choose_a_subset() {
    let d = copy_fixture("sysctl-vendor");
    let mut p = spawn(d.path());
    key(&mut p, "j"); // "Choose which changes to apply"
    key(&mut p, "\r");
    p.exp_string("Space toggles").unwrap();
    settle(&mut p, "net.ipv4.tcp_max_syn_backlog 1024 -> 8192");
    // all four are preselected (all safe); untick the first: the 99-qfix.conf drop-in
    key(&mut p, " ");
    key(&mut p, "\r");
    let out = finish(p);
    assert!(
        out.contains("skipped: file: create /etc/sysctl.d/99-qfix.conf"),
        "{out}"
    );
    assert!(!d.path().join("etc/sysctl.d/99-qfix.conf").exists());
    assert!(d.path().join("etc/sysctl.d/99-zz-qfix.conf").exists());
    assert_eq!(
        read(d.path(), "/proc/sys/net/core/somaxconn").trim(),
        "8192"
    );
}

#[test]
fn prompt_offers_needs_review_edits_unselected() {
    let d = copy_fixture("listeners-container");
    let pool = read(d.path(), "/etc/php/8.2/fpm/pool.d/app.conf");
    let cmd = format!("{BIN} --root {} apply", d.path().display());
    let mut p = rexpect::spawn(&cmd, Some(10_000)).unwrap();
    p.exp_string("[needs review]").unwrap();
    settle(&mut p, "Cancel");
    key(&mut p, "j"); // "Choose which changes to apply"
    key(&mut p, "\r");
    p.exp_string("Space toggles").unwrap();
    settle(&mut p, "net.ipv4.tcp_max_syn_backlog 256 -> 8192");
    key(&mut p, "\r"); // accept the preselection as offered
    let out = finish(p);
    assert!(
        out.contains("skipped: file: edit /etc/php/8.2/fpm/pool.d/app.conf"),
        "{out}"
    );
    assert_eq!(read(d.path(), "/etc/php/8.2/fpm/pool.d/app.conf"), pool);
    assert_eq!(
        read(d.path(), "/proc/sys/net/core/somaxconn").trim(),
        "8192"
    );
}

/// On a terminal, severities are coloured; a NO_COLOR with a value turns colour off.
#[test]
fn plan_colours_severities_on_a_terminal_unless_no_color() {
    let root = fixture("debian-stock");
    let cmd = format!("{BIN} --root {} plan", root.display());
    let mut p = rexpect::spawn(&cmd, Some(10_000)).unwrap();
    let out = p.exp_eof().unwrap();
    assert!(out.contains("\x1b[33mwarning\x1b[0m["), "{out:?}");
    let cmd = format!("env NO_COLOR=1 {BIN} --root {} plan", root.display());
    let mut p = rexpect::spawn(&cmd, Some(10_000)).unwrap();
    let out = p.exp_eof().unwrap();
    assert!(!out.contains('\x1b'), "{out:?}");
    assert!(out.contains("  warning[QF101"), "{out:?}");
    // no-color.org: an empty NO_COLOR is as if unset
    let cmd = format!("env NO_COLOR= {BIN} --root {} plan", root.display());
    let mut p = rexpect::spawn(&cmd, Some(10_000)).unwrap();
    let out = p.exp_eof().unwrap();
    assert!(out.contains("\x1b[33mwarning\x1b[0m["), "{out:?}");
}

/// `qfix watch` draws on the alternate screen, quits on q, and gives the terminal back.
#[test]
fn watch_draws_quits_on_q_and_restores_the_terminal() {
    let root = tempfile::tempdir().unwrap();
    // the running kernel's /proc, read only, under a tree with no configs
    std::os::unix::fs::symlink("/proc", root.path().join("proc")).unwrap();
    let cmd = format!(
        "{BIN} --root {} watch --interval 0.2",
        root.path().display()
    );
    let mut p = rexpect::spawn(&cmd, Some(10_000)).unwrap();
    p.exp_string("LISTENER").unwrap();
    p.exp_string("NETNS").unwrap();
    key(&mut p, "q");
    let rest = p.exp_eof().unwrap();
    // leaving the alternate screen, the cursor shown again
    assert!(
        rest.contains("\x1b[?1049l") || rest.contains("\x1b[?25h"),
        "{rest:?}"
    );
}
