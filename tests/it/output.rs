//! The plan for people: a screen on a busy host, wrapped at the terminal's width (80 when
//! not a terminal), locations and diffs never broken, colour only on a terminal.

use crate::common::*;

use std::process::Command;

#[test]
fn a_plan_wraps_at_80_columns_when_not_a_terminal_and_keeps_locations_whole() {
    for name in fixture_names() {
        let r = qfix(&fixture(&name), &["plan", "--all"]);
        assert_fits_80(&name, &r.stdout);
    }
}

/// Every line at most 80 columns, but for locations, diff lines and commands (kept whole).
fn assert_fits_80(name: &str, text: &str) {
    for line in text.lines() {
        let kept = line.trim_start().starts_with("-->")
            || line.starts_with(['+', '-', ' ', '@']) && !line.starts_with("  ")
            || line.starts_with("  sysctl -w");
        assert!(
            line.chars().count() <= 80 || kept,
            "{name}: {} columns: {line}",
            line.chars().count()
        );
    }
}

#[test]
fn a_busy_hosts_plan_fits_a_screen_and_all_lists_everything() {
    if !require("python3", "generates the busy host (bench/gen.py)") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("busy");
    let st = Command::new("python3")
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/gen.py"))
        .args(["1"])
        .arg(&root)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let short = qfix(&root, &["plan"]);
    let all = qfix(&root, &["plan", "--all"]);
    let json = qfix(&root, &["plan", "--format", "json"]).json();
    let findings = json["findings"].as_array().unwrap().len();
    assert!(findings > 3000, "{findings}");
    let lines = short.stdout.lines().count();
    // (135 since HAProxy's stats socket is listed: a finding, its diff, a restart reason)
    assert!(lines <= 140, "{lines} lines:\n{}", short.stdout);
    assert!(
        short.stdout.contains("3023 findings on nginx; worst 3:"),
        "{}",
        short.stdout
    );
    // the groups' headers and examples wrap or clip like the rest
    assert_fits_80("busy host", &short.stdout);
    // --all has every finding (each starts a line with its severity)
    let listed = all
        .stdout
        .lines()
        .filter(|l| l.starts_with("  warning[") || l.starts_with("  error["))
        .count();
    assert_eq!(listed, findings);
    eprintln!(
        "busy host: {lines} lines by default, {} with --all",
        all.stdout.lines().count()
    );
}

#[test]
fn apply_wraps_its_restart_reasons_at_80_columns() {
    let d = copy_fixture("debian-stock");
    let r = qfix(d.path(), &["apply", "--yes"]);
    assert_eq!(r.code, 0, "{r}");
    let needed: Vec<&str> = r
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("restart: needed"))
        .take_while(|l| l.starts_with("restart: needed") || l.starts_with("    "))
        .collect();
    assert!(needed.len() > 1, "{}", r.stdout);
    for l in needed {
        assert!(
            l.chars().count() <= 80,
            "{} columns: {l}",
            l.chars().count()
        );
    }
}

#[test]
fn a_log_read_only_in_part_says_how_much_of_it_was_read() {
    let r = qfix(
        &fixture("incident-host"),
        &["plan", "--log-bytes", "1K", "--format", "json"],
    );
    let v = r.json();
    let notes: Vec<&str> = v["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(
        notes.iter().any(
            |n| n.starts_with("log /var/log/nginx/error.log: only its last 1024 of ")
                && n.ends_with("bytes read (--log-bytes): earlier lines are not counted")
        ),
        "{notes:#?}"
    );
}

#[test]
fn sockets_read_from_proc_net_files_name_the_figures_they_lack() {
    let t = tree(&[
        (
            "/etc/redis/redis.conf",
            "bind 127.0.0.1\nport 6379\ntcp-backlog 1024\n",
        ),
        ("/proc/sys/net/core/somaxconn", "4096\n"),
        (
            "/proc/net/tcp",
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:18EB 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0\n",
        ),
    ]);
    for args in [
        &["listeners", "--format", "json"][..],
        &["plan", "--format", "json"][..],
    ] {
        let r = qfix(t.path(), args);
        let v = r.json();
        let notes = v["notes"].to_string();
        assert!(
            notes.contains("tcp4 sockets read from /proc/net files, which hold no backlog"),
            "{args:?}: {v:#}"
        );
        assert!(
            notes.contains("listener-needs-restart not checked"),
            "{v:#}"
        );
    }
}

#[test]
fn a_redis_on_two_addresses_cites_its_log_line_once_per_finding() {
    let t = tree(&[
        (
            "/etc/redis/redis.conf",
            "bind 127.0.0.1 -::1\nport 6379\ntcp-backlog 511\nlogfile /var/log/redis/redis-server.log\n",
        ),
        ("/proc/sys/net/core/somaxconn", "128\n"),
        (
            "/var/log/redis/redis-server.log",
            "249:M 04 Dec 2026 12:28:04.014 # WARNING: The TCP backlog setting of 511 cannot be enforced because /proc/sys/net/core/somaxconn is set to the lower value of 128.\n",
        ),
    ]);
    let v = qfix(t.path(), &["plan", "--format", "json"]).json();
    let redis: Vec<&serde_json::Value> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "QF101" && f["listener"] == "redis redis-server")
        .collect();
    assert_eq!(redis.len(), 2, "{v:#}");
    for f in redis {
        let m = f["message"].as_str().unwrap();
        assert_eq!(m.matches("Redis's log says so").count(), 1, "{m}");
        let logs = f["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "log")
            .count();
        assert_eq!(logs, 1, "{f:#}");
    }
}
