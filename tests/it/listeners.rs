//! Service listeners cross-checked against somaxconn, fixed with reviewed edits.

use crate::common::*;

use serde_json::Value;
use std::collections::BTreeMap;

fn rules_count(v: &Value) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for f in v["findings"].as_array().unwrap() {
        *m.entry(f["rule"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    m
}

fn file_changes(v: &Value) -> Vec<(String, bool)> {
    v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "file")
        .map(|c| {
            (
                c["path"].as_str().unwrap().to_string(),
                c["safe"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[test]
fn listeners_json_on_the_stock_debian_tree() {
    let r = qfix(&fixture("debian-stock"), &["listeners", "--format", "json"]);
    assert_eq!(r.code, 0, "{r}");
    let v = r.json();
    let ls = v["listeners"].as_array().unwrap();
    let find = |svc: &str, addr: &str| {
        ls.iter()
            .find(|l| l["service"] == svc && l["address"] == addr)
            .unwrap_or_else(|| panic!("{svc} {addr} in {v}"))
    };
    let nginx = find("nginx", "tcp *:80");
    assert_eq!(nginx["requested"], 511);
    assert_eq!(nginx["requested_source"], "default");
    assert_eq!(nginx["effective_live"], 128);
    assert_eq!(nginx["effective_boot"], 511);
    let fpm = find("php-fpm", "unix /run/php/php8.2-fpm.sock");
    assert_eq!(fpm["requested"], -1);
    assert_eq!(fpm["effective_live"], 128);
    let redis = find("redis", "tcp 127.0.0.1:6379");
    assert_eq!(redis["requested_source"]["path"], "/etc/redis/redis.conf");
    assert_eq!(redis["requested_source"]["line"], 147);
    let uwsgi = find("uwsgi", "unix /run/uwsgi/app/app/socket");
    assert_eq!(uwsgi["requested"], 100);
    assert_eq!(uwsgi["effective_live"], 100);
    find("apache", "tcp *:80");
    find("memcached", "tcp 127.0.0.1:11211");
    find("mysql", "unix /run/mysqld/mysqld.sock");
    assert_eq!(v["somaxconn"][0]["value"], 128);
}

#[test]
fn stock_debian_plan_with_somaxconn_128() {
    let r = qfix(&fixture("debian-stock"), &["plan", "--format", "json"]);
    assert_eq!(r.code, 2, "{r}");
    let v = r.json();
    let counts = rules_count(&v);
    assert_eq!(counts.get("QF101"), Some(&6), "{counts:?}"); // nginx x2, redis x2, apache, memcached
    assert_eq!(counts.get("QF106"), Some(&1), "{counts:?}");
    // php-fpm's -1, MariaDB's autosized 80 (x2) and uWSGI's 100: the others are capped by
    // somaxconn, which QF101 already says
    assert_eq!(counts.get("QF103"), Some(&4), "{counts:?}");
    // raising somaxconn is safe (live only: nothing sets it at boot, where this kernel's
    // default is 4096 already); the service edits need review
    assert_eq!(
        file_changes(&v),
        [
            // HAProxy's stats socket (10) is an administration socket: no minimum applies
            ("/etc/mysql/mariadb.conf.d/50-server.cnf".to_string(), false),
            ("/etc/uwsgi/apps-enabled/app.ini".to_string(), false),
        ]
    );
    assert_eq!(
        v["commands"],
        serde_json::json!(["sysctl -w net.core.somaxconn=4096"])
    );
    // php-fpm's -1 means somaxconn: raising somaxconn is its fix, its file is left alone
    let fpm = v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["path"] == "/etc/php/8.2/fpm/pool.d/www.conf");
    assert!(fpm.is_none(), "{fpm:?}");
    // every finding about a listener names both sides
    for f in v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "QF101")
    {
        let paths: Vec<&str> = f["locations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["path"].as_str().unwrap())
            .collect();
        assert_eq!(paths.len(), 2, "{f}");
        assert_eq!(paths[1], "/proc/sys/net/core/somaxconn", "{f}");
    }
    let restarts: BTreeMap<&str, &str> = v["restarts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["unit"].as_str().unwrap(), r["action"].as_str().unwrap()))
        .collect();
    for unit in [
        "nginx",
        "php8.2-fpm",
        "redis-server",
        "apache2",
        "memcached",
    ] {
        assert_eq!(restarts.get(unit), Some(&"restart"), "{restarts:?}");
    }
    let fpm_restart = v["restarts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["unit"] == "php8.2-fpm")
        .unwrap();
    // the pool's queue grows only when it listens again: somaxconn is raised under it
    assert!(
        fpm_restart["reason"]
            .as_str()
            .unwrap()
            .contains("listen() ran with somaxconn 128 (queue 128, inferred); it gets 4096"),
        "{fpm_restart}"
    );
}

#[test]
fn yes_applies_only_safe_fixes_and_unsafe_fixes_the_rest_idempotently() {
    let d = copy_fixture("debian-stock");
    let www = read(d.path(), "/etc/php/8.2/fpm/pool.d/www.conf");
    let r = qfix(d.path(), &["apply", "--yes", "--format", "json"]);
    assert_eq!(r.code, 0, "{r}");
    let v = r.json();
    assert_eq!(v["changed"], true);
    assert_eq!(
        read(d.path(), "/proc/sys/net/core/somaxconn").trim(),
        "4096"
    );
    assert_eq!(
        read(d.path(), "/etc/php/8.2/fpm/pool.d/www.conf"),
        www,
        "needs review: not applied by --yes"
    );
    assert_eq!(skipped(&v).len(), 2, "{v}");
    assert!(
        restarts(&v)
            .iter()
            .any(|r| r.starts_with("needed: restart nginx")),
        "{v}"
    );

    // the plan now proposes only the needs-review edits
    let p = qfix(d.path(), &["plan", "--format", "json"]);
    assert_eq!(p.code, 2, "{p}");
    assert!(file_changes(&p.json()).iter().all(|(_, safe)| !safe));

    let r = qfix(
        d.path(),
        &["apply", "--yes", "--unsafe-fixes", "--format", "json"],
    );
    assert_eq!(r.code, 0, "{r}");
    let v = r.json();
    // with somaxconn now 4096, php-fpm's -1 gives 4096: pinning it is no longer proposed
    assert_eq!(read(d.path(), "/etc/php/8.2/fpm/pool.d/www.conf"), www);
    assert!(read(d.path(), "/etc/uwsgi/apps-enabled/app.ini").contains("listen = 511\n"));
    assert!(
        read(d.path(), "/etc/mysql/mariadb.conf.d/50-server.cnf")
            .contains("[mysqld]\nback_log = 511\n")
    );
    let applied = applied(&v).join("\n");
    assert!(
        applied.contains("mariadbd"),
        "the checker outcome is reported: {v}"
    );
    // applying twice changes nothing, and the plan is clean
    let r = qfix(
        d.path(),
        &["apply", "--yes", "--unsafe-fixes", "--format", "json"],
    );
    assert_eq!(r.json()["changed"], false, "{r}");
    let p = qfix(d.path(), &["plan"]);
    assert_eq!(p.code, 0, "{p}");
}

#[test]
fn container_findings_name_both_sides() {
    let r = qfix(
        &fixture("listeners-container"),
        &["plan", "--format", "json"],
    );
    assert_eq!(r.code, 2, "{r}");
    let v = r.json();
    let counts = rules_count(&v);
    // api's own socket and the one Debian's init script adds: both refused
    assert_eq!(counts.get("QF102"), Some(&2), "{counts:?}");
    assert_eq!(counts.get("QF104"), Some(&1), "{counts:?}");
    let uwsgi = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "QF102")
        .unwrap();
    assert_eq!(uwsgi["severity"], "error");
    assert_eq!(
        uwsgi["locations"][0]["path"],
        "/etc/uwsgi/apps-enabled/api.ini"
    );
    assert_eq!(uwsgi["locations"][0]["line"], 4);
    let fpm = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "QF103" && f["message"].as_str().unwrap().contains("php-fpm"))
        .unwrap();
    assert!(
        fpm["message"]
            .as_str()
            .unwrap()
            .contains("limited by its own setting 128 and net.core.somaxconn 128"),
        "{fpm}"
    );
    assert_eq!(
        fpm["locations"][0]["path"],
        "/etc/php/8.2/fpm/pool.d/app.conf"
    );
    assert_eq!(fpm["locations"][0]["line"], 6);
    // somaxconn goes to the largest request (nginx backlog=8192), and the SYN backlog
    // follows it in the same plan, so a second plan has nothing left to do
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
    let d = copy_fixture("listeners-container");
    // --restart on another root than / touches no service of this host: it says so
    let r = qfix(
        d.path(),
        &[
            "apply",
            "--yes",
            "--unsafe-fixes",
            "--restart",
            "--format",
            "json",
        ],
    );
    assert_eq!(r.code, 0, "{r}");
    let restarts = restarts(&r.json());
    assert!(
        restarts
            .iter()
            .any(|r| r.starts_with("needed: restart redis-server (not run: --root is not /")),
        "{restarts:?}"
    );
    let p = qfix(d.path(), &["plan", "--format", "json"]);
    assert_eq!(p.code, 0, "{p}");
}

#[test]
fn lower_backlog_strategy_edits_explicit_values_down_and_leaves_defaults() {
    let d = copy_fixture("listeners-container");
    let nginx = read(d.path(), "/etc/nginx/conf.d/app.conf");
    let r = qfix(
        d.path(),
        &["plan", "--strategy", "lower-backlog", "--format", "json"],
    );
    assert_eq!(r.code, 2, "{r}");
    let v = r.json();
    assert!(
        !v["commands"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c.as_str().unwrap().contains("somaxconn")),
        "{v}"
    );
    let r = qfix(d.path(), &["apply", "--yes", "--strategy", "lower-backlog"]);
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(
        read(d.path(), "/etc/nginx/conf.d/app.conf"),
        nginx.replace("backlog=8192", "backlog=128")
    );
    assert!(read(d.path(), "/etc/redis/redis.conf").contains("\ntcp-backlog 128\n"));
    assert!(read(d.path(), "/etc/uwsgi/apps-enabled/api.ini").contains("listen = 128\n"));
    assert_eq!(read(d.path(), "/proc/sys/net/core/somaxconn").trim(), "128");
    // the admin's listen.backlog = 128 needs review: --yes left it alone
    assert!(read(d.path(), "/etc/php/8.2/fpm/pool.d/app.conf").contains("listen.backlog = 128\n"));
    let r = qfix(d.path(), &["listeners", "--format", "json"]);
    let v = r.json();
    for l in v["listeners"].as_array().unwrap() {
        if let Some(req) = l["requested"].as_i64() {
            assert!(req <= 128 || l["requested_source"] == "default", "{l}");
        }
    }
}

#[test]
fn conflicting_nginx_backlogs_are_flagged() {
    let r = qfix(&fixture("nginx-conflict"), &["plan", "--format", "json"]);
    let v = r.json();
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "QF105")
        .unwrap_or_else(|| panic!("{r}"));
    assert!(f["locations"].as_array().unwrap().len() >= 2, "{f}");
}

#[test]
#[cfg_attr(missing_nginx, ignore = "nginx is not installed")]
#[cfg_attr(no_namespaces, ignore = "needs private namespaces (root)")]
fn checker_failure_rolls_the_edit_back() {
    if !require("nginx", "nginx -t refuses the edit") {
        return;
    }
    if !can_unshare() {
        skip("cannot create private namespaces here");
        return;
    }
    let d = copy_fixture("listeners-container");
    // a directive qfix does not care about but nginx -t rejects
    let conf = d.path().join("etc/nginx/conf.d/app.conf");
    let broken = read(d.path(), "/etc/nginx/conf.d/app.conf").replace(
        "server_name app.example.org;\n    location",
        "server_name app.example.org;\n    no_such_directive on;\n    location",
    );
    std::fs::write(&conf, &broken).unwrap();
    let redis = read(d.path(), "/etc/redis/redis.conf");
    let r = qfix(d.path(), &["apply", "--yes", "--strategy", "lower-backlog"]);
    assert_eq!(r.code, 1, "{r}");
    assert!(
        r.stderr.contains(
            "nginx -t -c /etc/nginx/nginx.conf rejects the edited /etc/nginx/conf.d/app.conf"
        ),
        "{r}"
    );
    assert!(r.stderr.contains("no_such_directive"), "{r}");
    assert!(r.stderr.contains("rolled back"), "{r}");
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), broken);
    assert_eq!(
        read(d.path(), "/etc/redis/redis.conf"),
        redis,
        "every edit of the run is rolled back"
    );
}
