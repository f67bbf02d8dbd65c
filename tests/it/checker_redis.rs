//! Redis has no config-test mode, so the check is to start redis-server on a config edited
//! by qfix's Redis setter and ask it what it read: inside a private mount namespace (the
//! tree's etc/redis, and var/lib/redis when the fixture has one, bound over the host's), with
//! TCP off (`--port 0`) and a unix socket in a tempdir, `CONFIG GET tcp-backlog` must give
//! the value qfix wrote; then the server is shut down. A config error would stop it first
//! with "FATAL CONFIG FILE ERROR".

use crate::common::{copy_tree, require, scan_root, skip};

use std::fs;
use std::path::Path;
use std::process::Command;

use qfix::edit::{Edit, apply};
use qfix::services::redis;

/// Edit `fixture` to tcp-backlog 4096 and return what the started redis-server reports.
fn run(fixture: &str) -> Option<String> {
    for bin in ["redis-server", "redis-cli"] {
        if !require(bin, "Redis loads the edited config") {
            return None;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(fixture);
    copy_tree(&src, &tree);
    let before = scan_root(&tree, redis::scan);
    assert!(!before.listeners.is_empty());
    // Every socket shares the one tcp-backlog directive: one edit.
    let st = before.listeners[0].setter.clone().unwrap();
    assert!(
        before
            .listeners
            .iter()
            .all(|l| l.setter.as_ref() == Some(&st))
    );
    let f = tree.join(st.path.trim_start_matches('/'));
    let text = fs::read_to_string(&f).unwrap();
    let edit = Edit::replace(st.range.clone(), st.template.replace("{}", "4096"));
    fs::write(&f, apply(&text, &[edit])).unwrap();
    assert!(
        scan_root(&tree, redis::scan)
            .listeners
            .iter()
            .all(|l| l.requested == Some(4096))
    );

    let run = dir.path().join("run");
    fs::create_dir_all(&run).unwrap();
    let run = run.display();
    let mut binds = format!("mount --bind '{}/etc/redis' /etc/redis", tree.display());
    if tree.join("var/lib/redis").is_dir() {
        binds += &format!(
            " && mount --bind '{}/var/lib/redis' /var/lib/redis",
            tree.display()
        );
    }
    let script = format!(
        "{binds} || exit 97
timeout 20 redis-server /etc/redis/redis.conf --port 0 --unixsocket {run}/r.sock \
 --daemonize no --supervised no --logfile '' --dir {run} --pidfile {run}/r.pid \
 > {run}/server.log 2>&1 &
for i in $(seq 50); do [ -S {run}/r.sock ] && break; sleep 0.1; done
redis-cli -s {run}/r.sock config get tcp-backlog
redis-cli -s {run}/r.sock shutdown nosave >/dev/null 2>&1
wait
cat {run}/server.log"
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
    if text.contains("unshare failed") {
        skip(&format!("no permission for a mount namespace: {text}"));
        return None;
    }
    assert!(!text.contains("FATAL CONFIG FILE ERROR"), "{text}");
    Some(text)
}

#[test]
#[cfg_attr(missing_redis_server, ignore = "redis-server is not installed")]
#[cfg_attr(no_namespaces, ignore = "needs private namespaces (root)")]
fn redis_stock_config_with_tcp_backlog_4096_loads() {
    let Some(text) = run("debian-stock") else {
        return;
    };
    assert!(text.contains("tcp-backlog\n4096\n"), "{text}");
}

#[test]
#[cfg_attr(missing_redis_server, ignore = "redis-server is not installed")]
#[cfg_attr(no_namespaces, ignore = "needs private namespaces (root)")]
fn redis_relative_include_after_dir_and_quoted_value_load() {
    // tcp-backlog "2048" sits in var/lib/redis/local.conf, included as `include local.conf`
    // after `dir /var/lib/redis`: Redis finding the edited value proves the include rule.
    let Some(text) = run("redis-include") else {
        return;
    };
    assert!(text.contains("tcp-backlog\n4096\n"), "{text}");
}
