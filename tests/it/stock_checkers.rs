//! Apply qfix's plan to the stock Debian configs (in a root tree), then run each
//! service's own checker on the result. qfix runs them itself before committing; this test
//! runs them again independently, each in a private mount namespace with the tree's config
//! directory bound over the real one (the host's /etc is never touched).

use crate::common::*;

/// Run `argv` with ROOT/etc/DIR bound over /etc/DIR in a private mount namespace.
fn check_in_ns(root: &std::path::Path, dir: &str, argv: &[&str]) -> (bool, String) {
    let o = std::process::Command::new("unshare")
        .args([
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            "mount --bind \"$1\" \"$2\" && shift 2 && exec \"$@\" 2>&1",
            "sh",
        ])
        .arg(root.join(dir.trim_start_matches('/')))
        .arg(dir)
        .args(argv)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr),
    )
}

#[test]
#[cfg_attr(no_namespaces, ignore = "needs private namespaces (root)")]
fn stock_configs_pass_their_own_checkers_after_apply() {
    if !can_unshare() {
        skip("no private mount namespaces here");
        return;
    }
    let d = copy_fixture("debian-stock");
    // a site minimum above every stock default, so every service's file gets an edit (the
    // pool asks for 511 itself: -1, the stock value, follows somaxconn and needs none)
    let www = d.path().join("etc/php/8.2/fpm/pool.d/www.conf");
    let text = std::fs::read_to_string(&www).unwrap();
    let listen = "\nlisten = /run/php/php8.2-fpm.sock\n";
    assert!(text.contains(listen));
    std::fs::write(
        &www,
        text.replacen(listen, &format!("{listen}listen.backlog = 511\n"), 1),
    )
    .unwrap();
    let policy = d.path().join("policy.toml");
    std::fs::write(&policy, "[listeners]\nmin_backlog = 1024\n").unwrap();
    let r = qfix(
        d.path(),
        &[
            "apply",
            "--yes",
            "--unsafe-fixes",
            "--policy",
            policy.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert_eq!(r.code, 0, "{r}");
    let v = r.json();
    let applied = applied(&v).join("\n");
    for f in [
        "/etc/nginx/sites-available/default",
        "/etc/php/8.2/fpm/pool.d/www.conf",
        "/etc/apache2/ports.conf",
        "/etc/redis/redis.conf",
    ] {
        assert!(applied.contains(&format!("wrote {f}")), "{f}: {v}");
    }
    assert!(
        read(d.path(), "/etc/nginx/sites-available/default")
            .contains("listen 80 backlog=1024 default_server;")
    );
    assert!(read(d.path(), "/etc/apache2/ports.conf").contains("ListenBacklog 1024"));
    assert!(read(d.path(), "/etc/redis/redis.conf").contains("\ntcp-backlog 1024\n"));

    let checks: [(&str, &str, &[&str]); 4] = [
        (
            "nginx",
            "/etc/nginx",
            &["nginx", "-t", "-c", "/etc/nginx/nginx.conf"],
        ),
        (
            "php-fpm8.2",
            "/etc/php",
            &["php-fpm8.2", "-t", "-y", "/etc/php/8.2/fpm/php-fpm.conf"],
        ),
        ("apache2ctl", "/etc/apache2", &["apache2ctl", "-t"]),
        (
            "haproxy",
            "/etc/haproxy",
            &["haproxy", "-c", "-f", "/etc/haproxy/haproxy.cfg"],
        ),
    ];
    let mut ran = 0;
    for (bin, dir, argv) in checks {
        if !require(bin, "the service's own checker") {
            continue;
        }
        // qfix validated its own edits with the same checker
        if bin != "haproxy" {
            assert!(
                applied.contains(&format!("validated: {}", argv.join(" "))),
                "{bin}: {v}"
            );
        }
        let (ok, out) = check_in_ns(d.path(), dir, argv);
        assert!(ok, "{bin} rejects the edited stock config:\n{out}");
        ran += 1;
    }
    eprintln!("{ran} checkers passed on the edited stock tree");
}
