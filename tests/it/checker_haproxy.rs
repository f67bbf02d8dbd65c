//! haproxy's own checker (`haproxy -c -f FILE`) accepts what qfix's setters write: the stock
//! Debian haproxy.cfg plus a frontend, with the backlog inserted on the bind line, and with a
//! defaults `backlog` replaced in place; the stock file alone, with the backlog added to its
//! `stats socket` line.

use crate::common::require;

use std::path::Path;
use std::process::Command;

use qfix::edit::{Edit, apply};
use qfix::host::Host;
use qfix::root::Root;
use qfix::services::{Scan, haproxy};

fn check(extra: &str, expect_template: &str) {
    let stock = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/debian-stock/etc/haproxy/haproxy.cfg"
    );
    let d = tempfile::tempdir().unwrap();
    let etc = d.path().join("etc/haproxy");
    std::fs::create_dir_all(&etc).unwrap();
    let text = std::fs::read_to_string(stock).unwrap() + extra;
    std::fs::write(etc.join("haproxy.cfg"), &text).unwrap();

    let host = Host::new(Root::new(d.path()).unwrap());
    let mut scan = Scan::default();
    haproxy::scan(&host, &mut scan);
    assert!(scan.problems.is_empty(), "{:?}", scan.problems);
    assert!(!scan.listeners.is_empty());
    let first = scan.listeners[0].clone();
    let setter = first.setter.clone().unwrap();
    assert_eq!(setter.template, expect_template);
    let edited = apply(
        &text,
        &[Edit::replace(
            setter.range,
            setter.template.replace("{}", "4096"),
        )],
    );
    std::fs::write(etc.join("haproxy.cfg"), &edited).unwrap();

    let cfg = etc.join("haproxy.cfg");
    let out = Command::new("haproxy")
        .args(["-c", "-f"])
        .arg(Path::new(&cfg))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "haproxy -c failed on:\n{edited}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // and qfix reads back the new value (the stats socket keeps its own unless edited)
    let host = Host::new(Root::new(d.path()).unwrap());
    let mut scan = Scan::default();
    haproxy::scan(&host, &mut scan);
    let same = |l: &&qfix::services::Listener| l.instance == first.instance;
    assert!(scan.listeners.iter().filter(same).count() > 0);
    assert!(
        scan.listeners
            .iter()
            .filter(same)
            .all(|l| l.requested == Some(4096))
    );
}

#[test]
#[cfg_attr(missing_haproxy, ignore = "haproxy is not installed")]
fn haproxy_accepts_inserted_and_replaced_backlog() {
    if !require("haproxy", "haproxy -c checks the edits") {
        return;
    }
    check(
        "\nfrontend web\n\tbind :8080,:::8081 # public\n\tdefault_backend app\n\nbackend app\n\tserver a 127.0.0.1:9000\n",
        " backlog {}",
    );
    check(
        "\ndefaults\n\tmode http\n\ttimeout connect 5s\n\ttimeout client 5s\n\ttimeout server 5s\n\tbacklog 100\n\nfrontend web\n\tbind 127.0.0.1:8080\n\tdefault_backend app\n\nbackend app\n\tserver a 127.0.0.1:9000\n",
        "{}",
    );
    // the stock file's only listener: its stats socket
    check("", " backlog {}");
}
