//! `qfix snapshot` records the live part of a host; `--snapshot FILE` judges a configuration
//! checkout (no /proc) against it, exactly as the live host would be judged.

use crate::common::*;

use std::fs;
use std::path::Path;

/// A copy of `src` without its proc/ tree: a configuration checkout.
fn checkout(src: &Path) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    copy_tree(src, d.path());
    let _ = fs::remove_dir_all(d.path().join("proc"));
    d
}

fn record(root: &Path) -> tempfile::NamedTempFile {
    let r = qfix(root, &["snapshot"]);
    assert_eq!(r.code, 0, "{r}");
    let f = tempfile::NamedTempFile::new().unwrap();
    fs::write(f.path(), &r.stdout).unwrap();
    f
}

/// The findings and changes of a plan, as JSON (the rest says how it was read).
fn judged(r: &Run) -> (serde_json::Value, serde_json::Value, i32) {
    let v = r.json();
    (v["findings"].clone(), v["changes"].clone(), r.code)
}

#[test]
fn plan_on_a_checkout_with_a_recorded_snapshot_equals_plan_on_the_live_tree() {
    let mut compared = 0;
    for name in fixture_names() {
        let live = fixture(&name);
        if !live.join("proc/sys").is_dir() {
            continue;
        }
        let host = record(&live);
        let co = checkout(&live);
        let snap = host.path().to_str().unwrap();
        let on_live = qfix(&live, &["plan", "--format", "json"]);
        let on_checkout = qfix(co.path(), &["plan", "--format", "json", "--snapshot", snap]);
        assert_eq!(
            judged(&on_live),
            judged(&on_checkout),
            "{name}:\n{on_checkout}"
        );
        assert!(!on_checkout.stderr.contains("offline"), "{on_checkout}");
        // without the snapshot the checkout is judged offline
        let offline = qfix(co.path(), &["plan", "--format", "json"]);
        assert!(offline.stderr.contains("offline"), "{offline}");
        for cmd in [
            &["listeners", "--format", "json"][..],
            &["blame", "--format", "json"],
        ] {
            let a = qfix(&live, cmd);
            let mut args = cmd.to_vec();
            args.extend(["--snapshot", snap]);
            let b = qfix(co.path(), &args);
            assert_eq!((a.code, a.stdout), (b.code, b.stdout), "{name} {cmd:?}");
        }
        compared += 1;
    }
    assert!(compared >= 5, "only {compared} fixtures have a /proc/sys");
}

#[test]
fn a_snapshot_records_the_kernel_and_every_key_with_a_format_version() {
    let r = qfix(&fixture("debian-stock"), &["snapshot"]);
    assert_eq!(r.code, 0, "{r}");
    let v = r.json();
    assert_eq!(v["format_version"], 1);
    assert_eq!(v["complete"], true);
    assert_eq!(v["kernel_release"], "6.1.0-13-amd64");
    assert_eq!(v["sysctls"]["net.core.somaxconn"], "128");
    assert!(v["taken_at"].as_str().unwrap().ends_with('Z'), "{v}");
    assert_eq!(v["qfix_version"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn a_snapshot_of_another_format_version_is_refused() {
    let host = record(&fixture("debian-stock"));
    let text = fs::read_to_string(host.path()).unwrap();
    fs::write(
        host.path(),
        text.replace("\"format_version\": 1", "\"format_version\": 99"),
    )
    .unwrap();
    let co = checkout(&fixture("debian-stock"));
    let r = qfix(
        co.path(),
        &["plan", "--snapshot", host.path().to_str().unwrap()],
    );
    assert_eq!(r.code, 1, "{r}");
    assert!(r.stderr.contains("format version 99"), "{r}");
    assert!(r.stdout.is_empty(), "{r}");
}

#[test]
fn an_old_snapshot_is_judged_with_a_warning_naming_its_host_and_time() {
    let host = record(&fixture("debian-stock"));
    let mut v: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(host.path()).unwrap()).unwrap();
    v["taken_unix"] = 1_700_000_000u64.into();
    v["taken_at"] = "2023-11-14T22:13:20Z".into();
    v["hostname"] = "web01".into();
    fs::write(host.path(), v.to_string()).unwrap();
    let co = checkout(&fixture("debian-stock"));
    let snap = host.path().to_str().unwrap();
    let r = qfix(co.path(), &["plan", "--snapshot", snap]);
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains("warning"), "{r}");
    assert!(r.stderr.contains("web01 (6.1.0-13-amd64)"), "{r}");
    assert!(r.stderr.contains("2023-11-14T22:13:20Z"), "{r}");
    // a generous --max-age accepts it silently
    let r = qfix(
        co.path(),
        &["plan", "--snapshot", snap, "--max-age", "100000d"],
    );
    assert!(!r.stderr.contains("warning"), "{r}");
}

#[test]
fn a_snapshot_that_is_not_json_names_its_line() {
    let f = tempfile::NamedTempFile::new().unwrap();
    fs::write(f.path(), "{\n\"format_version\": 1,\n oops\n}\n").unwrap();
    let r = qfix(
        &fixture("debian-stock"),
        &["plan", "--snapshot", f.path().to_str().unwrap()],
    );
    assert_eq!(r.code, 1, "{r}");
    assert!(r.stderr.contains(":3: not a qfix snapshot"), "{r}");
}
