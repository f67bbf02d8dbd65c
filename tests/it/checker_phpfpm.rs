//! php-fpm's own checker on configs edited by qfix's php-fpm setters: the Debian stock tree
//! (listen.backlog inserted after `listen =`) and the phpfpm-leak tree (a value replaced
//! where php-fpm, not the file layout, decides which pool it belongs to). php-fpm8.2 runs inside a private mount namespace with the
//! tree's etc/php bound over /etc/php, so the host's real /etc is never touched.

use crate::common::{copy_tree, require, scan_root, skip};

use std::fs;
use std::path::Path;
use std::process::Command;

use qfix::edit::{Edit, apply};
use qfix::services::phpfpm;

/// Copy `fixture`, set every backlog to 4096 through the setters, run `php-fpm8.2 -tt` on it in a private mount namespace. `None` when skipped.
fn check(fixture: &str) -> Option<(tempfile::TempDir, String)> {
    if !require("php-fpm8.2", "php-fpm -tt checks the edits") {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(fixture);
    copy_tree(&src, dir.path());
    let before = scan_root(dir.path(), phpfpm::scan);
    assert!(!before.listeners.is_empty());
    let mut by_file: std::collections::BTreeMap<String, Vec<Edit>> = Default::default();
    for l in &before.listeners {
        let st = l.setter.as_ref().unwrap();
        by_file
            .entry(st.path.to_string())
            .or_default()
            .push(Edit::replace(
                st.range.clone(),
                st.template.replace("{}", "4096"),
            ));
    }
    for (path, edits) in by_file {
        let f = dir.path().join(path.trim_start_matches('/'));
        let text = fs::read_to_string(&f).unwrap();
        fs::write(&f, apply(&text, &edits)).unwrap();
    }
    let tree = dir.path().join("etc/php");
    let script = format!(
        "mount --bind '{}' /etc/php && php-fpm8.2 -tt -y /etc/php/8.2/fpm/php-fpm.conf 2>&1",
        tree.display()
    );
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() && text.contains("unshare failed") {
        skip(&format!("no permission for a mount namespace: {text}"));
        return None;
    }
    assert!(out.status.success(), "php-fpm8.2 -tt failed:\n{text}");
    assert!(text.contains("test is successful"), "{text}");
    Some((dir, text))
}

#[test]
#[cfg_attr(missing_php_fpm8_2, ignore = "php-fpm8.2 is not installed")]
#[cfg_attr(no_namespaces, ignore = "needs private namespaces (root)")]
fn php_fpm_accepts_the_inserted_listen_backlog() {
    let Some((dir, text)) = check("debian-stock") else {
        return;
    };
    let www = fs::read_to_string(dir.path().join("etc/php/8.2/fpm/pool.d/www.conf")).unwrap();
    assert!(www.contains("listen = /run/php/php8.2-fpm.sock\nlisten.backlog = 4096\n"));
    // php-fpm's own dump of the pool shows the value qfix wrote
    assert!(text.contains("\tlisten.backlog = 4096"), "{text}");
    let after = scan_root(dir.path(), phpfpm::scan);
    assert_eq!(after.listeners[0].requested, Some(4096));
}

#[test]
#[cfg_attr(missing_php_fpm8_2, ignore = "php-fpm8.2 is not installed")]
#[cfg_attr(no_namespaces, ignore = "needs private namespaces (root)")]
fn php_fpm_pool_left_open_by_an_include_gets_the_value_php_fpm_also_sees() {
    let Some((dir, text)) = check("phpfpm-leak") else {
        return;
    };
    let main = fs::read_to_string(dir.path().join("etc/php/8.2/fpm/php-fpm.conf")).unwrap();
    assert!(main.ends_with("pool it opened\nlisten.backlog = 4096\n"));
    // php-fpm attributes the value after the include to pool www, as qfix does
    let www = text.find("NOTICE: [www]").expect(&text);
    assert!(text[www..].contains("\tlisten.backlog = 4096"), "{text}");
}

#[test]
#[cfg_attr(missing_php_fpm8_2, ignore = "php-fpm8.2 is not installed")]
#[cfg_attr(no_namespaces, ignore = "needs private namespaces (root)")]
fn php_fpm_refuses_a_dangling_pool_link_that_qfix_reports() {
    if !require("php-fpm8.2", "php-fpm -t checks the include") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/debian-stock");
    copy_tree(&src, dir.path());
    let link = dir.path().join("etc/php/8.2/fpm/pool.d/retired.conf");
    std::os::unix::fs::symlink("../retired/retired.conf", &link).unwrap();
    let s = scan_root(dir.path(), phpfpm::scan);
    let named: Vec<_> = s
        .problems
        .iter()
        .filter(|p| p.message.contains("/etc/php/8.2/fpm/pool.d/retired.conf"))
        .collect();
    assert_eq!(named.len(), 1, "{:?}", s.problems);
    assert!(named[0].message.contains("refuses to start"), "{named:?}");

    let script = format!(
        "mount --bind '{}' /etc/php && php-fpm8.2 -t -y /etc/php/8.2/fpm/php-fpm.conf 2>&1",
        dir.path().join("etc/php").display()
    );
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() && text.contains("unshare failed") {
        skip(&format!("no permission for a mount namespace: {text}"));
        return;
    }
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("Unable to include /etc/php/8.2/fpm/pool.d/retired.conf"),
        "{text}"
    );
}
