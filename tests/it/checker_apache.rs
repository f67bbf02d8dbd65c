//! apache2ctl -t accepts the stock Debian apache2 tree after qfix's setter inserted
//! `ListenBacklog 4096`. The tree is bound over /etc/apache2 inside a private mount namespace
//! only: the host's real /etc is never touched.

use crate::common::{require, skip};

use std::process::Command;

use qfix::edit::{Edit, apply};
use qfix::host::Host;
use qfix::root::Root;
use qfix::services::{Scan, apache};

#[test]
#[cfg_attr(missing_apache2ctl, ignore = "apache2ctl is not installed")]
#[cfg_attr(no_namespaces, ignore = "needs private namespaces (root)")]
fn apache2ctl_accepts_inserted_listenbacklog() {
    if !require("apache2ctl", "Apache's own checker") {
        return;
    }
    if !std::path::Path::new("/etc/apache2").is_dir() {
        skip("no /etc/apache2 mount point on this host");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/debian-stock");
    std::fs::create_dir_all(d.path().join("etc")).unwrap();
    let ok = Command::new("cp")
        .args(["-a", &format!("{src}/etc/apache2")])
        .arg(d.path().join("etc/"))
        .status()
        .unwrap();
    assert!(ok.success());

    let host = Host::new(Root::new(d.path()).unwrap());
    let mut scan = Scan::default();
    apache::scan(&host, &mut scan);
    assert_eq!(scan.listeners.len(), 1);
    let setter = scan.listeners[0].setter.clone().unwrap();
    let old = host.read(&setter.path).unwrap().unwrap();
    let new = apply(
        &old,
        &[Edit::replace(
            setter.range,
            setter.template.replace("{}", "4096"),
        )],
    );
    assert!(new.contains("Listen 80\nListenBacklog 4096\n"));
    std::fs::write(host.root.host(&setter.path), &new).unwrap();

    let tree = d.path().join("etc/apache2");
    let script = format!(
        "mount --bind '{}' /etc/apache2 && apache2ctl -t",
        tree.display()
    );
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() && stderr.contains("unshare failed") {
        skip(&format!("cannot create a mount namespace here: {stderr}"));
        return;
    }
    assert!(out.status.success(), "apache2ctl -t failed: {stderr}");
    assert!(stderr.contains("Syntax OK"), "{stderr}");

    let host = Host::new(Root::new(d.path()).unwrap());
    let mut scan = Scan::default();
    apache::scan(&host, &mut scan);
    assert_eq!(scan.listeners[0].requested, Some(4096));
}
