//! Sysctl blame, plan and apply, end to end, on fixture trees with the real binary.

use crate::common::*;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

#[test]
fn blame_shows_live_boot_winner_and_overridden() {
    let r = qfix(
        &fixture("sysctl-debian"),
        &["blame", "--format", "json", "net.core.somaxconn"],
    );
    assert_eq!(r.code, 0, "{r}");
    let v = r.json();
    let k = &v["keys"][0];
    assert_eq!(k["key"], "net.core.somaxconn");
    assert_eq!(k["live"], "4096");
    assert_eq!(k["boot"], "128");
    assert_eq!(k["source"]["path"], "/etc/sysctl.d/99-sysctl.conf");
    assert_eq!(k["source"]["line"], 71);
    assert_eq!(k["overridden"][0]["path"], "/etc/sysctl.d/60-web.conf");
    assert_eq!(k["overridden"][0]["line"], 2);
    assert_eq!(k["overridden"][0]["value"], "4096");
    // output never shows the host prefix
    assert!(!r.stdout.contains(fixture("").to_str().unwrap()));
}

#[test]
fn blame_glob_expands_against_live_keys_and_explicit_beats_glob() {
    let r = qfix(
        &fixture("sysctl-debian"),
        &["blame", "--format", "json", "net.ipv4.conf.*.rp_filter"],
    );
    assert_eq!(r.code, 0, "{r}");
    let v = r.json();
    let keys: Vec<&str> = v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "net.ipv4.conf.all.rp_filter",
            "net.ipv4.conf.default.rp_filter",
            "net.ipv4.conf.eth0.rp_filter",
            "net.ipv4.conf.lo.rp_filter"
        ]
    );
    let lo = &v["keys"][3];
    assert_eq!(lo["boot"], "0");
    assert_eq!(lo["source"]["path"], "/etc/sysctl.d/10-lo.conf");
    assert_eq!(lo["overridden"][0]["path"], "/usr/lib/sysctl.d/50-rp.conf");
    assert_eq!(v["keys"][0]["boot"], "2");
    assert_eq!(
        v["keys"][0]["source"]["path"],
        "/usr/lib/sysctl.d/50-rp.conf"
    );
}

#[test]
fn offline_root_says_so_once_and_resolves_hiding_and_masks() {
    let r = qfix(&fixture("sysctl-masking"), &["blame", "--format", "json"]);
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(r.stderr.matches("offline").count(), 1, "{r}");
    let v = r.json();
    let by: std::collections::BTreeMap<&str, &serde_json::Value> = v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["key"].as_str().unwrap(), k))
        .collect();
    // /etc/sysctl.d/50-a.conf -> /dev/null masks /usr/lib/sysctl.d/50-a.conf; the empty
    // /etc/sysctl.d/20-empty.conf hides its namesake; hidden and non-.conf files are ignored
    assert!(!by.contains_key("net.core.somaxconn"), "{v}");
    assert_eq!(by["net.ipv4.tcp_keepalive_time"]["boot"], "200");
    assert_eq!(
        by["net.ipv4.tcp_keepalive_time"]["source"]["path"],
        "/run/sysctl.d/60-b.conf"
    );
    assert_eq!(by["net.ipv4.tcp_fin_timeout"]["boot"], "44");
    assert_eq!(
        by["net.ipv4.tcp_fin_timeout"]["source"]["path"],
        "/usr/local/lib/sysctl.d/70-c.conf"
    );
    assert!(by["net.ipv4.tcp_fin_timeout"]["live"].is_null());
}

#[test]
fn findings_for_drift_override_unknown_key() {
    let r = qfix(&fixture("sysctl-debian"), &["plan", "--format", "json"]);
    let v = r.json();
    let rules: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert!(rules.contains(&"QF002"), "{r}");
    assert!(rules.contains(&"QF003"), "{r}");
    assert!(rules.contains(&"QF005"), "{r}");
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "QF005")
        .unwrap();
    assert_eq!(f["locations"][0]["path"], "/etc/sysctl.d/30-old.conf");
    assert_eq!(f["locations"][0]["line"], 2);
}

#[test]
fn drift_without_desired_value_is_a_finding_not_a_change() {
    // somaxconn 1024 live and boot; policy minimum lowered so nothing is desired
    let d = copy_fixture("sysctl-debian");
    write_tree(
        d.path(),
        &[("/etc/qfix/policy.toml", "[listeners]\nmin_somaxconn = 64\n")],
    );
    fs::write(d.path().join("proc/sys/net/core/somaxconn"), "128\n").unwrap();
    // live 128 = boot 128, the override (60-web.conf) is a finding only
    let r = qfix(d.path(), &["plan", "--format", "json"]);
    assert_eq!(r.code, 0, "{r}");
    assert!(r.json()["changes"].as_array().unwrap().is_empty());
    assert!(
        r.json()["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule"] == "QF003")
    );
}

#[test]
fn sysctl_conf_without_link_is_flagged() {
    let r = qfix(&fixture("sysctl-unread"), &["plan", "--format", "json"]);
    let v = r.json();
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "QF004")
        .expect("QF004");
    assert_eq!(f["locations"][0]["path"], "/etc/sysctl.conf");
    assert_eq!(f["locations"][0]["line"], 2);
}

#[test]
fn removed_key_offline_and_somaxconn_rejected_by_old_kernel() {
    // offline image: the kernel version is unknown, so tw_recycle is not judged by it
    let r = qfix(
        &fixture("sysctl-offline-removed"),
        &["plan", "--format", "json"],
    );
    assert!(!r.stdout.contains("QF005"), "{r}");
    // old kernel (3.10): 65536 is rejected with EINVAL
    let r = qfix(&fixture("sysctl-oldkernel"), &["plan", "--format", "json"]);
    let v = r.json();
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "QF006")
        .expect("QF006");
    assert_eq!(f["severity"], "error");
    assert_eq!(f["locations"][0]["path"], "/etc/sysctl.d/60-web.conf");
    // and the plan never proposes more than the kernel takes
    for c in v["changes"].as_array().unwrap() {
        if c["kind"] == "sysctl" {
            assert!(
                c["to"].as_str().unwrap().parse::<i64>().unwrap() <= 65535,
                "{c}"
            );
        }
    }
}

#[test]
fn plan_exit_codes() {
    // 2: changes proposed
    let r = qfix(&fixture("sysctl-debian"), &["plan"]);
    assert_eq!(r.code, 2, "{r}");
    // 0: nothing to change (the desired value is already live and at boot)
    let d = tree(&[("/etc/sysctl.d/10-a.conf", "net.core.somaxconn = 8192\n")]);
    proc_sys(
        d.path(),
        &[
            ("net.core.somaxconn", "8192"),
            ("kernel.osrelease", "6.1.0"),
        ],
    );
    let r = qfix(d.path(), &["plan", "--set", "net.core.somaxconn=8192"]);
    assert_eq!(r.code, 0, "{r}");
    assert!(r.stdout.contains("nothing to change"));
    // 1: bad input
    let r = qfix(&fixture("sysctl-bad"), &["plan"]);
    assert_eq!(r.code, 1, "{r}");
    assert!(r.stdout.contains("/etc/sysctl.d/10-web.conf:3"), "{r}");
}

#[test]
fn set_edits_winning_line_through_the_99_sysctl_link() {
    let d = copy_fixture("sysctl-debian");
    let r = qfix(
        d.path(),
        &[
            "plan",
            "--set",
            "net.core.somaxconn=4096",
            "--format",
            "json",
        ],
    );
    assert_eq!(r.code, 2, "{r}");
    let v = r.json();
    let files: Vec<&serde_json::Value> = v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "file")
        .collect();
    assert_eq!(files.len(), 1, "{v}");
    assert_eq!(files[0]["path"], "/etc/sysctl.conf");
    let diff = files[0]["diff"].as_str().unwrap();
    assert!(
        diff.contains("-net.core.somaxconn = 128\n+net.core.somaxconn = 4096\n"),
        "{diff}"
    );
    // live already 4096: no sysctl -w
    assert!(v["commands"].as_array().unwrap().is_empty(), "{v}");

    let before = read(d.path(), "/etc/sysctl.conf");
    let r = qfix(
        d.path(),
        &["apply", "--yes", "--set", "net.core.somaxconn=4096"],
    );
    assert_eq!(r.code, 0, "{r}");
    let after = read(d.path(), "/etc/sysctl.conf");
    assert_eq!(
        after,
        before.replace("net.core.somaxconn = 128", "net.core.somaxconn = 4096")
    );
    let link = fs::symlink_metadata(d.path().join("etc/sysctl.d/99-sysctl.conf")).unwrap();
    assert!(link.file_type().is_symlink(), "the link must stay a link");
    // both assignments now say 4096: systemd keeps the first (same value keeps its place),
    // and the other stays visible in blame
    let v = qfix(
        d.path(),
        &["blame", "--format", "json", "net.core.somaxconn"],
    )
    .json();
    assert_eq!(v["keys"][0]["boot"], "4096");
    assert_eq!(v["keys"][0]["source"]["path"], "/etc/sysctl.d/60-web.conf");
    assert_eq!(
        v["keys"][0]["overridden"][0]["path"],
        "/etc/sysctl.d/99-sysctl.conf"
    );
    assert_eq!(v["keys"][0]["overridden"][0]["line"], 71);
}

#[test]
fn dropin_name_sorts_after_every_assigning_file() {
    let d = copy_fixture("sysctl-vendor");
    let r = qfix(
        d.path(),
        &[
            "plan",
            "--set",
            "net.core.somaxconn=8192",
            "--set",
            "net.ipv4.tcp_max_syn_backlog=8192",
            "--format",
            "json",
        ],
    );
    assert_eq!(r.code, 2, "{r}");
    let v = r.json();
    let paths: Vec<&str> = v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "file")
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    // 70-vendor.conf < 99-qfix.conf; but 99-tuning.conf > 99-qfix.conf ('q' < 't')
    assert_eq!(
        paths,
        [
            "/etc/sysctl.d/99-qfix.conf",
            "/etc/sysctl.d/99-zz-qfix.conf"
        ],
        "{v}"
    );
    let cmds: Vec<&str> = v["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(
        cmds,
        [
            "sysctl -w net.core.somaxconn=8192",
            "sysctl -w net.ipv4.tcp_max_syn_backlog=8192"
        ]
    );
    let r = qfix(
        d.path(),
        &[
            "apply",
            "--yes",
            "--set",
            "net.core.somaxconn=8192",
            "--set",
            "net.ipv4.tcp_max_syn_backlog=8192",
        ],
    );
    assert_eq!(r.code, 0, "{r}");
    let v = qfix(
        d.path(),
        &[
            "blame",
            "--format",
            "json",
            "net.core.somaxconn",
            "net.ipv4.tcp_max_syn_backlog",
        ],
    )
    .json();
    assert_eq!(v["keys"][0]["boot"], "8192");
    assert_eq!(v["keys"][0]["source"]["path"], "/etc/sysctl.d/99-qfix.conf");
    assert_eq!(
        v["keys"][0]["overridden"][0]["path"],
        "/usr/lib/sysctl.d/70-vendor.conf"
    );
    assert_eq!(
        v["keys"][1]["source"]["path"],
        "/etc/sysctl.d/99-zz-qfix.conf"
    );
    assert_eq!(
        read(d.path(), "/proc/sys/net/core/somaxconn").trim(),
        "8192"
    );
    // vendor files are never edited
    assert_eq!(
        read(d.path(), "/usr/lib/sysctl.d/70-vendor.conf"),
        "net.core.somaxconn = 1024\n"
    );
}

#[test]
fn apply_twice_is_idempotent_with_backups_and_modes_kept() {
    let d = copy_fixture("sysctl-debian");
    let conf = d.path().join("etc/sysctl.conf");
    fs::set_permissions(&conf, fs::Permissions::from_mode(0o640)).unwrap();
    let args = [
        "apply",
        "--yes",
        "--format",
        "json",
        "--set",
        "net.core.somaxconn=16384",
    ];
    let first = qfix(d.path(), &args);
    assert_eq!(first.code, 0, "{first}");
    let v = first.json();
    assert_eq!(v["changed"], true);
    let backup = v["backups"][0]["backup"].as_str().unwrap().to_string();
    assert!(backup.starts_with("/var/lib/qfix/backups/"), "{backup}");
    assert!(read(d.path(), &backup).contains("net.core.somaxconn = 128"));
    assert_eq!(
        fs::metadata(&conf).unwrap().permissions().mode() & 0o777,
        0o640
    );
    assert_eq!(
        read(d.path(), "/proc/sys/net/core/somaxconn").trim(),
        "16384"
    );
    // no temp files left behind
    let leftovers: Vec<_> = fs::read_dir(d.path().join("etc"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".qfix-"))
        .collect();
    assert!(leftovers.is_empty());

    let second = qfix(d.path(), &args);
    assert_eq!(second.code, 0, "{second}");
    assert_eq!(second.json()["changed"], false, "{second}");
    let plan = qfix(d.path(), &["plan", "--set", "net.core.somaxconn=16384"]);
    assert_eq!(plan.code, 0, "{plan}");
}

#[test]
fn apply_without_terminal_refuses_and_changes_nothing() {
    let d = copy_fixture("sysctl-debian");
    let before = read(d.path(), "/etc/sysctl.conf");
    let r = qfix(d.path(), &["apply", "--set", "net.core.somaxconn=4096"]);
    assert_eq!(r.code, 1, "{r}");
    assert!(r.stderr.contains("no terminal"), "{r}");
    assert_eq!(read(d.path(), "/etc/sysctl.conf"), before);
    assert!(!d.path().join("var/lib/qfix/backups").exists());
}

/// `qfix plan --set SET --out plan.json` in `root`: the plan file and the run.
fn save_plan(root: &Path, set: &str) -> (std::path::PathBuf, Run) {
    let planfile = root.join("plan.json");
    let r = qfix(
        root,
        &["plan", "--set", set, "--out", planfile.to_str().unwrap()],
    );
    (planfile, r)
}

#[test]
fn stale_plan_is_refused_naming_what_changed() {
    let d = copy_fixture("sysctl-debian");
    let (planfile, r) = save_plan(d.path(), "net.core.somaxconn=4096");
    assert_eq!(r.code, 2, "{r}");
    // someone edits a file the plan read, and changes a live value
    fs::write(
        d.path().join("etc/sysctl.d/60-web.conf"),
        "net.core.somaxconn = 2048\n",
    )
    .unwrap();
    fs::write(d.path().join("proc/sys/net/core/somaxconn"), "2048\n").unwrap();
    let before = read(d.path(), "/etc/sysctl.conf");
    let r = qfix(d.path(), &["apply", planfile.to_str().unwrap(), "--yes"]);
    assert_eq!(r.code, 1, "{r}");
    assert!(r.stderr.contains("stale plan"), "{r}");
    assert!(
        r.stderr.contains("/etc/sysctl.d/60-web.conf: modified"),
        "{r}"
    );
    assert!(
        r.stderr.contains("net.core.somaxconn: live value 2048"),
        "{r}"
    );
    assert_eq!(read(d.path(), "/etc/sysctl.conf"), before);
}

/// Every file a plan was computed from is fingerprinted in a saved plan, nginx's includes
/// too, or an edit to a site file would go unnoticed.
#[test]
fn saved_plan_fingerprints_every_file_nginx_read() {
    let d = copy_fixture("nginx-includes");
    let (planfile, r) = save_plan(d.path(), "net.core.somaxconn=4096");
    assert_eq!(r.code, 2, "{r}");
    let saved: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&planfile).unwrap()).unwrap();
    let files = saved["fingerprints"]["files"].as_object().unwrap();
    assert!(files.contains_key("/etc/nginx/conf.d/a.conf"), "{saved}");
    let site = fs::read_dir(d.path().join("etc/nginx/sites-available"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    fs::write(&site, "server { listen 8080 backlog=77; }\n").unwrap();
    let r = qfix(d.path(), &["apply", planfile.to_str().unwrap(), "--yes"]);
    assert_eq!(r.code, 1, "{r}");
    assert!(r.stderr.contains("stale plan"), "{r}");
    let name = site.file_name().unwrap().to_str().unwrap();
    assert!(r.stderr.contains(&format!("{name}: modified")), "{r}");
}

#[test]
fn fresh_plan_file_applies() {
    let d = copy_fixture("sysctl-vendor");
    let (planfile, r) = save_plan(d.path(), "net.core.somaxconn=2048");
    assert_eq!(r.code, 2, "{r}");
    let r = qfix(
        d.path(),
        &[
            "apply",
            planfile.to_str().unwrap(),
            "--yes",
            "--format",
            "json",
        ],
    );
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(r.json()["changed"], true);
    assert_eq!(
        read(d.path(), "/proc/sys/net/core/somaxconn").trim(),
        "2048"
    );
    assert!(read(d.path(), "/etc/sysctl.d/99-qfix.conf").contains("net.core.somaxconn = 2048\n"));
}

#[test]
fn policy_min_and_bad_policy_errors_point_at_lines() {
    let d = copy_fixture("sysctl-vendor");
    write_tree(
        d.path(),
        &[(
            "/etc/qfix/policy.toml",
            "[sysctl]\n\"net.ipv4.tcp_fin_timeout\" = { max = 15 }\n",
        )],
    );
    let v = qfix(d.path(), &["plan", "--format", "json"]).json();
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "QF007")
        .expect("QF007");
    assert_eq!(f["locations"][0]["path"], "/etc/qfix/policy.toml");
    assert_eq!(f["locations"][0]["line"], 2);
    assert!(
        v["commands"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "sysctl -w net.ipv4.tcp_fin_timeout=15"),
        "{v}"
    );

    let r = qfix(&fixture("policy-bad"), &["plan"]);
    assert_eq!(r.code, 1, "{r}");
    assert!(r.stderr.contains("/etc/qfix/policy.toml:2: "), "{r}");
    assert!(r.stderr.contains("/etc/qfix/policy.toml:5: "), "{r}");
}

#[test]
fn bad_input_is_an_error_with_location_and_nothing_is_written() {
    // malformed line
    let d = copy_fixture("sysctl-bad");
    let r = qfix(
        d.path(),
        &["apply", "--yes", "--set", "net.ipv4.tcp_fin_timeout=20"],
    );
    assert_eq!(r.code, 1, "{r}");
    assert!(
        r.stdout.contains("/etc/sysctl.d/10-web.conf:3")
            || r.stderr.contains("/etc/sysctl.d/10-web.conf:3"),
        "{r}"
    );
    assert_eq!(
        read(d.path(), "/etc/sysctl.d/10-web.conf"),
        "# web tuning\nnet.ipv4.tcp_fin_timeout = 30\nnet.core.somaxconn 4096\n"
    );
    // non-UTF-8
    let d = tree(&[("/etc/sysctl.d/10-a.conf", "net.core.somaxconn = 1\n")]);
    fs::write(
        d.path().join("etc/sysctl.d/20-b.conf"),
        b"# ok\nnet.ipv4.tcp_fin_timeout = \xff\xfe\n",
    )
    .unwrap();
    let r = qfix(d.path(), &["plan"]);
    assert_eq!(r.code, 1, "{r}");
    assert!(
        r.stderr
            .contains("/etc/sysctl.d/20-b.conf:2: not valid UTF-8"),
        "{r}"
    );
    // a directory named *.conf
    let d = tree(&[("/etc/sysctl.d/10-a.conf", "net.core.somaxconn = 1\n")]);
    fs::create_dir_all(d.path().join("etc/sysctl.d/20-dir.conf")).unwrap();
    let r = qfix(d.path(), &["blame"]);
    assert_eq!(r.code, 1, "{r}");
    assert!(
        r.stderr
            .contains("/etc/sysctl.d/20-dir.conf: is a directory"),
        "{r}"
    );
    // a symlink that leaves the root
    let d = tree(&[(
        "/etc/sysctl.d/10-a.conf",
        "-> ../../../../../../../etc/passwd",
    )]);
    let r = qfix(d.path(), &["plan"]);
    assert_eq!(r.code, 1, "{r}");
    assert!(r.stderr.contains("points outside the root"), "{r}");
    assert!(!r.stderr.contains("panicked"), "{r}");
}

#[test]
#[cfg_attr(no_namespaces, ignore = "needs private namespaces (root)")]
fn live_write_failure_rolls_back_files_unless_persist_only() {
    if !can_unshare() {
        skip("cannot create private namespaces here");
        return;
    }
    let d = copy_fixture("sysctl-vendor");
    let before = read(d.path(), "/usr/lib/sysctl.d/70-vendor.conf");
    // a read-only /proc/sys (as in a container), made in a private mount namespace
    let script = format!(
        "mount --bind {p}/proc/sys {p}/proc/sys && mount -o remount,bind,ro {p}/proc/sys && {bin} --root {p} apply --yes --set net.core.somaxconn=8192 {extra}",
        p = d.path().display(),
        bin = BIN,
        extra = "$1"
    );
    let run = |extra: &str| {
        let o = std::process::Command::new("unshare")
            .args([
                "-m",
                "--propagation",
                "private",
                "sh",
                "-c",
                &script,
                "sh",
                extra,
            ])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (code, err) = run("");
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("net.core.somaxconn: writing 8192 to /proc/sys/net/core/somaxconn failed"),
        "{err}"
    );
    assert!(err.contains("Read-only file system"), "{err}");
    assert!(
        err.contains("the apply failed and was rolled back (removed /etc/sysctl.d/99-qfix.conf"),
        "{err}"
    );
    assert!(
        !d.path().join("etc/sysctl.d/99-qfix.conf").exists(),
        "the drop-in must be rolled back"
    );
    assert_eq!(read(d.path(), "/usr/lib/sysctl.d/70-vendor.conf"), before);
    let (code, err) = run("--persist-only");
    assert_eq!(code, 0, "{err}");
    assert!(read(d.path(), "/etc/sysctl.d/99-qfix.conf").contains("net.core.somaxconn = 8192"));
}

#[test]
fn second_apply_waits_for_the_lock_then_fails_clearly() {
    let d = copy_fixture("sysctl-vendor");
    fs::create_dir_all(d.path().join("run")).unwrap();
    let lock = d.path().join("run/qfix.lock");
    // hold the lock with flock(1) for 3 seconds
    let mut holder = std::process::Command::new("flock")
        .arg(&lock)
        .args(["sleep", "3"])
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let t = std::time::Instant::now();
    let r = qfix(
        d.path(),
        &[
            "apply",
            "--yes",
            "--lock-timeout",
            "1",
            "--set",
            "net.core.somaxconn=2048",
        ],
    );
    assert_eq!(r.code, 1, "{r}");
    assert!(
        r.stderr.contains("another qfix apply holds the lock"),
        "{r}"
    );
    assert!(t.elapsed() >= std::time::Duration::from_millis(900));
    holder.wait().unwrap();
    let r = qfix(
        d.path(),
        &[
            "apply",
            "--yes",
            "--lock-timeout",
            "1",
            "--set",
            "net.core.somaxconn=2048",
        ],
    );
    assert_eq!(r.code, 0, "{r}");
}

#[test]
fn rules_and_explain() {
    let r = qfix(&fixture("sysctl-vendor"), &["rules", "--format", "json"]);
    assert_eq!(r.code, 0, "{r}");
    let codes: Vec<String> = r.json()["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["code"].as_str().unwrap().to_string())
        .collect();
    for c in ["QF001", "QF002", "QF003", "QF004", "QF005", "QF006"] {
        assert!(codes.contains(&c.to_string()), "{codes:?}");
    }
    let r = qfix(
        &fixture("sysctl-vendor"),
        &["explain", "overridden-assignment"],
    );
    assert_eq!(r.code, 0, "{r}");
    assert!(
        r.stdout.contains("QF003")
            && r.stdout.contains("Example:")
            && r.stdout.contains("Fix class: safe"),
        "{r}"
    );
    let r = qfix(&fixture("sysctl-vendor"), &["explain", "QF999"]);
    assert_eq!(r.code, 1);
}

#[test]
fn site_rules_load_and_bad_ones_point_at_lines() {
    let d = copy_fixture("sysctl-vendor");
    write_tree(
        d.path(),
        &[(
            "/etc/qfix/rules.d/site.toml",
            "code = \"SITE-001\"\nname = \"site-drift\"\nkind = \"live-differs-from-boot\"\nseverity = \"error\"\nsafe = false\nsummary = \"s\"\nexplanation = \"e\"\nfix = \"f\"\n",
        )],
    );
    let r = qfix(d.path(), &["rules"]);
    assert!(r.stdout.contains("SITE-001"), "{r}");
    let extra = tree(&[(
        "bad.toml",
        "code = \"SITE-002\"\nname = \"x\"\nkind = \"nope\"\nseverity = \"error\"\nsummary = \"s\"\nexplanation = \"e\"\nfix = \"f\"\n",
    )]);
    let r = qfix(
        d.path(),
        &["--rules", extra.path().to_str().unwrap(), "rules"],
    );
    assert_eq!(r.code, 1, "{r}");
    assert!(r.stderr.contains("bad.toml:3: unknown kind"), "{r}");
}

#[test]
fn version_and_help() {
    let o = std::process::Command::new(BIN)
        .arg("--version")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("qfix "));
    let o = std::process::Command::new(BIN)
        .arg("--help")
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(
        s.contains("Exit codes:") && s.contains("blame") && s.contains("apply"),
        "{s}"
    );
}

#[test]
#[cfg_attr(no_namespaces, ignore = "needs private namespaces (root)")]
fn kernel_rejecting_a_value_is_reported_exactly_and_files_roll_back() {
    if !can_unshare() {
        skip("cannot create private namespaces here");
        return;
    }
    // a root whose /proc is the real one, inside a private network namespace: only that
    // namespace's net.* keys can change, and the plan is checked to hold nothing else
    let d = copy_fixture("sysctl-vendor");
    std::fs::remove_dir_all(d.path().join("proc")).unwrap();
    std::fs::create_dir_all(d.path().join("proc")).unwrap();
    let script = r#"
        set -e
        mount --bind /proc "$1/proc"
        plan=$("$2" --root "$1" plan --format json --set net.ipv4.tcp_tw_reuse=7) || [ $? -eq 2 ]
        keys=$(printf '%s' "$plan" | grep -o '"key": "[^"]*"' | cut -d'"' -f4 | sort -u)
        for k in $keys; do case $k in net.*) ;; *) echo "REFUSED: plan touches $k"; exit 99;; esac; done
        [ -n "$keys" ]
        set +e
        "$2" --root "$1" apply --yes --set net.ipv4.tcp_tw_reuse=7
        echo "exit=$?"
        cat /proc/sys/net/ipv4/tcp_tw_reuse
    "#;
    let o = std::process::Command::new("unshare")
        .args([
            "-n",
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            "sh",
        ])
        .arg(d.path())
        .arg(BIN)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!out.contains("REFUSED"), "{out}");
    assert!(out.contains("exit=1"), "{out}\n{err}");
    assert!(err.contains("net.ipv4.tcp_tw_reuse: writing 7 to /proc/sys/net/ipv4/tcp_tw_reuse failed: Invalid argument"), "{err}");
    assert!(
        err.contains("the apply failed and was rolled back (removed /etc/sysctl.d/99-qfix.conf"),
        "{err}"
    );
    assert!(!d.path().join("etc/sysctl.d/99-qfix.conf").exists());
    // the namespace's own value is untouched (a fresh netns starts at the default 2)
    assert_eq!(out.lines().last(), Some("2"), "{out}");
}

#[test]
fn rollback_restores_files_and_live_values_and_refuses_changed_files() {
    let d = copy_fixture("sysctl-debian");
    let before = read(d.path(), "/etc/sysctl.conf");
    let r = qfix(
        d.path(),
        &[
            "apply",
            "--yes",
            "--format",
            "json",
            "--set",
            "net.core.somaxconn=16384",
            "--set",
            "net.ipv4.tcp_max_syn_backlog=8192",
        ],
    );
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(
        read(d.path(), "/proc/sys/net/core/somaxconn").trim(),
        "16384"
    );
    let dir = r.json()["backup_dir"].as_str().unwrap().to_string();
    // without a terminal, rollback wants --yes
    let r = qfix(d.path(), &["rollback"]);
    assert_eq!(r.code, 1, "{r}");
    assert_eq!(
        read(d.path(), "/proc/sys/net/core/somaxconn").trim(),
        "16384"
    );
    let r = qfix(d.path(), &["rollback", "--yes", "--format", "json"]);
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(applied(&r.json())[0], format!("rolled back {dir}"));
    assert_eq!(read(d.path(), "/etc/sysctl.conf"), before);
    assert!(
        std::fs::symlink_metadata(d.path().join("etc/sysctl.d/99-sysctl.conf"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        read(d.path(), "/proc/sys/net/core/somaxconn").trim(),
        "4096"
    );
    assert_eq!(
        read(d.path(), "/proc/sys/net/ipv4/tcp_max_syn_backlog").trim(),
        "4096"
    );
    assert_eq!(
        qfix(d.path(), &["plan", "--set", "net.core.somaxconn=16384"]).code,
        2
    );
    // nothing left to roll back
    let r = qfix(d.path(), &["rollback", "--yes"]);
    assert_eq!(r.code, 1, "{r}");
    assert!(r.stderr.contains("no apply left to roll back"), "{r}");
    // a file changed after the apply is not clobbered (2048 lowers somaxconn: needs review)
    let r = qfix(
        d.path(),
        &[
            "apply",
            "--yes",
            "--unsafe-fixes",
            "--set",
            "net.core.somaxconn=2048",
        ],
    );
    assert_eq!(r.code, 0, "{r}");
    fs::write(d.path().join("etc/sysctl.conf"), "# edited by hand\n").unwrap();
    let r = qfix(d.path(), &["rollback", "--yes"]);
    assert_eq!(r.code, 1, "{r}");
    assert!(
        r.stderr
            .contains("/etc/sysctl.conf: changed since qfix wrote it"),
        "{r}"
    );
    assert_eq!(read(d.path(), "/etc/sysctl.conf"), "# edited by hand\n");
}

/// `qfix plan` starts no subprocess (threads, yes; programs, no). strace counts the
/// execve calls of the whole process tree: only qfix's own.
#[test]
#[cfg_attr(missing_strace, ignore = "strace is not installed")]
fn plan_starts_no_subprocess() {
    if !require("strace", "counts the processes qfix starts") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("trace");
    let st = std::process::Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=execve,execveat", "-o"])
        .arg(&log)
        .arg(BIN)
        .arg("--root")
        .arg(fixture("debian-stock"))
        .arg("plan")
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    // exit 2: the stock tree has changes to propose
    assert_eq!(st.code(), Some(2));
    let trace = fs::read_to_string(&log).unwrap();
    let execs: Vec<&str> = trace.lines().filter(|l| l.contains("execve")).collect();
    assert_eq!(execs.len(), 1, "{trace}");
    assert!(execs[0].contains(BIN), "{trace}");
}

/// The man pages and completions the packages ship (packaging/assets, so that a plain
/// `cargo deb` has them) are what the CLI generates now: one page per command, `qfix man`
/// alone prints qfix(1), and mandoc's linter has nothing to say about any page.
#[test]
fn shipped_man_pages_and_completions_match_the_cli() {
    let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/assets");
    let regenerate = "regenerate them with `packaging/build.sh assets`";
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("man");
    let r = qfix(out.path(), &["man", "--dir", dir.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{r}");
    // the date line differs from day to day
    let undated = |page: &str| -> String {
        page.lines()
            .map(|l| match l.strip_prefix(".TH ") {
                Some(rest) => {
                    let f: Vec<&str> = rest.splitn(4, ' ').collect();
                    format!(".TH {} {} DATE {}", f[0], f[1], f.get(3).unwrap_or(&""))
                }
                None => l.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let names = |d: &Path| -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let generated = names(&dir);
    assert_eq!(generated, names(&assets.join("man")), "{regenerate}");
    for cmd in [
        "apply",
        "blame",
        "explain",
        "listeners",
        "plan",
        "rollback",
        "rules",
    ] {
        assert!(
            generated.contains(&format!("qfix-{cmd}.1")),
            "{generated:?}"
        );
    }
    for name in &generated {
        let new = fs::read_to_string(dir.join(name)).unwrap();
        let old = fs::read_to_string(assets.join("man").join(name)).unwrap();
        assert_eq!(undated(&new), undated(&old), "{name}: {regenerate}");
    }
    let main_page = qfix(out.path(), &["man"]);
    assert_eq!(
        undated(&main_page.stdout),
        undated(&fs::read_to_string(dir.join("qfix.1")).unwrap())
    );
    let qf101 = "QF101";
    for (shell, file) in [
        ("bash", "qfix.bash"),
        ("zsh", "_qfix"),
        ("fish", "qfix.fish"),
    ] {
        let r = qfix(out.path(), &["completions", shell]);
        assert_eq!(r.code, 0, "{r}");
        let shipped = fs::read_to_string(assets.join("completions").join(file)).unwrap();
        assert_eq!(r.stdout, shipped, "{file}: {regenerate}");
        assert!(
            r.stdout.contains(qf101),
            "{shell}: no rule codes for explain"
        );
    }
    if require("mandoc", "lints the man pages") {
        for name in &generated {
            let o = std::process::Command::new("mandoc")
                .args(["-Tlint", "-W", "all"])
                .arg(dir.join(name))
                .output()
                .unwrap();
            let said = String::from_utf8_lossy(&o.stdout).into_owned()
                + &String::from_utf8_lossy(&o.stderr);
            assert!(o.status.success() && said.is_empty(), "{name}:\n{said}");
        }
    }
}

/// A saved plan fingerprints what it listed, globbed and followed, not only what it read: a
/// new file in sysctl.d or pool.d, or a retargeted 99-sysctl.conf link, makes it stale.
#[test]
fn a_plan_is_stale_when_a_file_appears_where_it_looked_or_a_link_moves() {
    type Change = fn(&Path);
    let cases: [(&str, Change, &str); 3] = [
        (
            "a new sysctl.d file",
            |root| {
                fs::write(
                    root.join("etc/sysctl.d/99-zzz.conf"),
                    "net.core.somaxconn = 128\n",
                )
                .unwrap()
            },
            "/etc/sysctl.d: changed since the plan was made (new: 99-zzz.conf)",
        ),
        (
            "a new php-fpm pool",
            |root| {
                fs::write(
                    root.join("etc/php/8.2/fpm/pool.d/extra.conf"),
                    "[extra]\nlisten = /run/php/extra.sock\nlisten.backlog = 8\n",
                )
                .unwrap()
            },
            "new: /etc/php/8.2/fpm/pool.d/extra.conf",
        ),
        (
            "a retargeted 99-sysctl.conf",
            |root| {
                let link = root.join("etc/sysctl.d/99-sysctl.conf");
                fs::remove_file(&link).unwrap();
                fs::write(root.join("etc/other.conf"), "net.core.somaxconn = 64\n").unwrap();
                std::os::unix::fs::symlink("../other.conf", &link).unwrap();
            },
            "/etc/sysctl.d/99-sysctl.conf: now leads to /etc/other.conf (was /etc/sysctl.conf)",
        ),
    ];
    for (what, change, says) in cases {
        let d = copy_fixture("debian-stock");
        let planfile = d.path().join("plan.json");
        let r = qfix(d.path(), &["plan", "--out", planfile.to_str().unwrap()]);
        assert_eq!(r.code, 2, "{what}: {r}");
        change(d.path());
        let before = fs::read_to_string(d.path().join("proc/sys/net/core/somaxconn")).unwrap();
        let r = qfix(d.path(), &["apply", planfile.to_str().unwrap(), "--yes"]);
        assert_eq!(r.code, 1, "{what}: {r}");
        assert!(r.stderr.contains("stale plan"), "{what}: {r}");
        assert!(r.stderr.contains(says), "{what}: {r}");
        assert_eq!(
            fs::read_to_string(d.path().join("proc/sys/net/core/somaxconn")).unwrap(),
            before,
            "{what}: a stale plan wrote"
        );
    }
}

#[test]
fn lowering_somaxconn_needs_review_and_restarts_nothing_to_shrink_a_queue() {
    let r = qfix(
        &fixture("debian-stock"),
        &["plan", "--format", "json", "--set", "net.core.somaxconn=64"],
    );
    assert_eq!(r.code, 2, "{r}");
    let v = r.json();
    let live = v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "sysctl" && c["key"] == "net.core.somaxconn")
        .unwrap_or_else(|| panic!("{v:#}"));
    assert_eq!(live["to"], "64");
    assert_eq!(live["safe"], false, "{v:#}");
    // every running queue would only shrink: no restart for that
    assert_eq!(v["restarts"], serde_json::json!([]), "{v:#}");
}

#[test]
fn lower_backlog_keeps_a_backlog_that_boots_somaxconn_fits() {
    // live somaxconn 128, 4096 persisted for boot: Redis's 511 fits after a reboot
    let d = copy_fixture("debian-stock");
    fs::write(
        d.path().join("etc/sysctl.d/60-somaxconn.conf"),
        "net.core.somaxconn = 4096\n",
    )
    .unwrap();
    let r = qfix(
        d.path(),
        &["plan", "--format", "json", "--strategy", "lower-backlog"],
    );
    let v = r.json();
    let edits: Vec<&str> = v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["path"].as_str())
        .collect();
    assert!(!edits.contains(&"/etc/redis/redis.conf"), "{v:#}");
    let redis: Vec<&serde_json::Value> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "QF101" && f["listener"] == "redis redis-server")
        .collect();
    assert!(!redis.is_empty(), "{v:#}");
    for f in redis {
        let why = f["accepted"]["reason"].as_str().unwrap();
        assert!(why.contains("128 live only, 4096 at boot"), "{why}");
    }
    // with nothing persisted (a container's runtime sets somaxconn), live is the truth
    let r = qfix(
        &fixture("debian-stock"),
        &["plan", "--format", "json", "--strategy", "lower-backlog"],
    );
    let v = r.json();
    assert!(
        v["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["path"] == "/etc/redis/redis.conf"),
        "{v:#}"
    );
}
