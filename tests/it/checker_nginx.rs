//! The real `nginx -t` accepts what qfix's nginx setters write: the Debian stock tree, with
//! backlog=4096 set on every listener, checked inside a private mount namespace where the
//! edited tree is bind-mounted over /etc/nginx (the host's /etc is never touched).

use crate::common::{copy_tree, require, scan_root, skip};

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use qfix::edit::{self, Edit};
use qfix::services::{Source, nginx};

/// `nginx -t` on `root`'s etc/nginx seen as /etc/nginx, in a throwaway mount namespace.
fn nginx_t(root: &Path) -> Output {
    let tree = root.join("etc/nginx");
    let script = format!(
        "mount --bind '{}' /etc/nginx && exec nginx -t -c /etc/nginx/nginx.conf",
        tree.display()
    );
    Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .output()
        .unwrap()
}

/// Set every listener's backlog with its setter (one edit per distinct setter, as the plan
/// does) and write the files back.
fn set_all(root: &Path, value: &str) -> BTreeMap<String, String> {
    let s = scan_root(root, nginx::scan);
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    assert!(s.problems.is_empty(), "{:?}", s.problems);
    let mut edits: BTreeMap<String, Vec<Edit>> = BTreeMap::new();
    for l in &s.listeners {
        let st = l
            .setter
            .as_ref()
            .expect("every stock listener has a setter");
        let e = Edit::replace(st.range.clone(), st.template.replace("{}", value));
        let v = edits.entry(st.path.to_string()).or_default();
        if !v.contains(&e) {
            v.push(e);
        }
    }
    let mut out = BTreeMap::new();
    for (path, es) in edits {
        let file = root.join(path.trim_start_matches('/'));
        let text = fs::read_to_string(&file).unwrap();
        let new = edit::apply(&text, &es);
        fs::write(&file, &new).unwrap();
        out.insert(path, new);
    }
    out
}

fn tools_or_skip() -> bool {
    if !require("nginx", "nginx -t checks the edits") {
        return false;
    }
    let probe = Command::new("unshare")
        .args(["-m", "--propagation", "private", "true"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        skip("cannot create a mount namespace (needs root)");
        return false;
    }
    true
}

#[test]
#[cfg_attr(missing_nginx, ignore = "nginx is not installed")]
#[cfg_attr(no_namespaces, ignore = "needs private namespaces (root)")]
fn nginx_accepts_backlog_set_on_every_stock_listener() {
    if !tools_or_skip() {
        return;
    }
    let stock = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/debian-stock");
    let tmp = tempfile::tempdir().unwrap();
    copy_tree(&stock.join("etc/nginx"), &tmp.path().join("etc/nginx"));

    let before = nginx_t(tmp.path());
    assert!(
        before.status.success(),
        "stock tree must pass nginx -t: {}",
        String::from_utf8_lossy(&before.stderr)
    );

    let files = set_all(tmp.path(), "4096");
    assert_eq!(
        files.keys().collect::<Vec<_>>(),
        ["/etc/nginx/sites-available/default"]
    );
    let site = &files["/etc/nginx/sites-available/default"];
    assert!(site.contains(
        "\tlisten 80 backlog=4096 default_server;\n\tlisten [::]:80 backlog=4096 default_server;\n"
    ));
    // the link in sites-enabled still points at the edited file
    assert!(
        fs::symlink_metadata(tmp.path().join("etc/nginx/sites-enabled/default"))
            .unwrap()
            .file_type()
            .is_symlink()
    );

    let after = nginx_t(tmp.path());
    let err = String::from_utf8_lossy(&after.stderr);
    assert!(after.status.success(), "nginx -t on the edited tree: {err}");
    assert!(err.contains("test is successful"), "{err}");

    let again = scan_root(tmp.path(), nginx::scan);
    for l in &again.listeners {
        assert_eq!(l.requested, Some(4096), "{l:?}");
        assert!(
            matches!(&l.source, Source::At(loc) if &*loc.path == "/etc/nginx/sites-available/default")
        );
    }
    assert_eq!(again.listeners.len(), 2);
}

#[test]
#[cfg_attr(missing_nginx, ignore = "nginx is not installed")]
#[cfg_attr(no_namespaces, ignore = "needs private namespaces (root)")]
fn nginx_rejects_what_qfix_reports_as_a_problem() {
    if !tools_or_skip() {
        return;
    }
    // proves the check above really reads the bound tree: a value qfix calls invalid fails
    let stock = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/debian-stock");
    let tmp = tempfile::tempdir().unwrap();
    copy_tree(&stock.join("etc/nginx"), &tmp.path().join("etc/nginx"));
    let site = tmp.path().join("etc/nginx/sites-available/default");
    let text = fs::read_to_string(&site).unwrap();
    fs::write(
        &site,
        text.replacen(
            "listen 80 default_server;",
            "listen 80 backlog=-1 default_server;",
            1,
        ),
    )
    .unwrap();
    let s = scan_root(tmp.path(), nginx::scan);
    assert_eq!(s.problems.len(), 1, "{:?}", s.problems);
    let out = nginx_t(tmp.path());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid backlog \"backlog=-1\""));
}
