//! The log reader (`qfix::logs`) on the logs of real daemons: nginx in front of a php-fpm pool
//! on a unix socket, somaxconn 128, `pm.max_children = 2`, a 200 ms script, 300 requests at
//! once. nginx answers part of them 502 and logs one `connect() to unix:... failed (11:
//! Resource temporarily unavailable)` line for each; php-fpm logs `server reached
//! pm.max_children setting (2)`. The reader must find both logs from the configs alone and
//! count exactly what the daemons wrote.
//!
//! The test re-runs itself (this one test, `--exact`) under `unshare -n -m -p --fork
//! --kill-child --mount-proc --propagation private`: its own network namespace (somaxconn set
//! there only), a private mount namespace, a pid namespace whose daemons end with it. Inside,
//! before anything is written, /proc/sys is bound read-only with only /proc/sys/net writable
//! over it, and the test proves kernel.pid_max cannot be opened for writing and that its
//! network namespace is not the host's. /etc/nginx, /etc/php, /run, /var/log and
//! /var/lib/nginx get tmpfs mounts of the namespace's own (each checked to be a tmpfs before
//! a file is written there), so the daemons run with Debian's own paths and nothing reaches
//! the host.
//!
//! Needs root, unshare, mount, ip, nginx and php-fpm8.2; says it was skipped otherwise (and
//! fails under CI=true). Run: `cargo test --test it logs:: -- --nocapture`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use qfix::host::Host;
use qfix::logs::{LogEvidence, Options, UpstreamErrorKind, upstream_is_listener};
use qfix::root::Root;

use crate::kernel_sockets::{in_namespaces_at, sh, sysctl};

const SOCK: &str = "/run/php/php8.2-fpm.sock";
const REQUESTS: usize = 300;

/// `kernel_sockets::in_namespaces_at` for a test of this module, once its tools are here.
fn in_namespaces(test: &str, tools: &[&str], body: fn()) {
    for t in tools {
        if !crate::common::require(t, &format!("logs::{test} runs it")) {
            return;
        }
    }
    in_namespaces_at(&format!("logs::{test}"), body);
}

/// A tmpfs of this mount namespace over `dir`, proven to be one before anything is written
/// under it (a failed mount must never let the test write the host's /etc).
fn private_tmpfs(dir: &str) {
    sh(&format!(
        "mkdir -p {dir} && mount -t tmpfs -o mode=0755 tmpfs {dir}"
    ));
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    // the last mount on `dir` is the one in effect
    let fstype = info
        .lines()
        .rfind(|l| l.split(' ').nth(4) == Some(dir))
        .and_then(|l| l.split(" - ").nth(1))
        .and_then(|rest| rest.split(' ').next())
        .map(str::to_string);
    assert_eq!(
        fstype.as_deref(),
        Some("tmpfs"),
        "{dir} is not a private tmpfs"
    );
}

fn write(path: &str, text: &str) {
    let p = Path::new(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

const NGINX_CONF: &str = "user www-data;
worker_processes 1;
pid /run/nginx.pid;
error_log /var/log/nginx/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    server {
        listen 127.0.0.1:8080;
        server_name burst;
        root /run/www;
        location ~ \\.php$ {
            fastcgi_param REQUEST_METHOD $request_method;
            fastcgi_param QUERY_STRING $query_string;
            fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
            fastcgi_pass unix:/run/php/php8.2-fpm.sock;
        }
    }
}
";

const FPM_CONF: &str = "[global]
pid = /run/php/php8.2-fpm.pid
error_log = /var/log/php8.2-fpm.log
include = /etc/php/8.2/fpm/pool.d/*.conf
";

const POOL: &str = "[www]
user = www-data
group = www-data
listen = /run/php/php8.2-fpm.sock
listen.owner = www-data
listen.group = www-data
pm = dynamic
pm.max_children = 2
pm.start_servers = 1
pm.min_spare_servers = 1
pm.max_spare_servers = 2
";

/// Wait until `ok` holds, at most `secs`.
fn wait_for(what: &str, secs: u64, ok: impl Fn() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "{what}: not after {secs} s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One request; its HTTP status (0 when the connection failed).
fn request() -> u16 {
    let Ok(mut s) = TcpStream::connect("127.0.0.1:8080") else {
        return 0;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(120)));
    if s.write_all(b"GET /slow.php HTTP/1.0\r\nHost: burst\r\n\r\n")
        .is_err()
    {
        return 0;
    }
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let head = String::from_utf8_lossy(&resp[..resp.len().min(32)]).into_owned();
    head.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[test]
#[cfg_attr(no_namespaces, ignore = "needs private namespaces (root)")]
#[cfg_attr(missing_nginx, ignore = "nginx is not installed")]
#[cfg_attr(missing_php_fpm8_2, ignore = "php-fpm8.2 is not installed")]
fn a_burst_on_a_small_pool_is_counted_in_nginx_and_php_fpm_logs() {
    in_namespaces(
        "a_burst_on_a_small_pool_is_counted_in_nginx_and_php_fpm_logs",
        &["nginx", "php-fpm8.2", "unshare", "mount", "ip", "timeout"],
        || {
            sysctl("net/core/somaxconn", "128");
            for d in [
                "/etc/nginx",
                "/etc/php",
                "/run",
                "/var/log",
                "/var/lib/nginx",
            ] {
                private_tmpfs(d);
            }
            write("/etc/nginx/nginx.conf", NGINX_CONF);
            write("/etc/php/8.2/fpm/php-fpm.conf", FPM_CONF);
            write("/etc/php/8.2/fpm/pool.d/www.conf", POOL);
            write(
                "/run/www/slow.php",
                "<?php usleep(200000); echo \"ok\\n\";\n",
            );
            sh("mkdir -p /run/php /var/log/nginx");
            sh("php-fpm8.2 --fpm-config /etc/php/8.2/fpm/php-fpm.conf");
            wait_for("php-fpm's socket", 15, || Path::new(SOCK).exists());
            sh("nginx");
            wait_for("nginx on 127.0.0.1:8080", 15, || {
                TcpStream::connect("127.0.0.1:8080").is_ok()
            });

            let bad_gateway = burst();
            assert!(bad_gateway > 0, "no 502 at all: the queue never overflowed");
            // php-fpm checks its pools once a second
            std::thread::sleep(Duration::from_millis(1500));

            let host = Host::new(Root::new(Path::new("/")).unwrap());
            let scan = qfix::services::scan(&host);
            let ev = LogEvidence::read(&host, &scan.facts, &Options::default());
            let upstream = format!("unix:{SOCK}");
            let eagain: Vec<_> = ev
                .upstream_errors_for(&upstream)
                .filter(|e| e.kind == UpstreamErrorKind::Eagain)
                .collect();
            assert_eq!(eagain.len(), 1, "{ev:#?}");
            let e = eagain[0];
            eprintln!(
                "{}: {} x EAGAIN for {} between {:?} and {:?}, last at line {:?}",
                e.log, e.tally.count, e.upstream, e.tally.first, e.tally.last, e.tally.sample.line
            );
            assert_eq!(e.log, "/var/log/nginx/error.log");
            assert_eq!(e.scheme.as_deref(), Some("fastcgi"));
            // one line per 502: nginx had no other server to try
            assert_eq!(e.tally.count, bad_gateway);
            assert!(e.tally.first.is_some() && e.tally.first <= e.tally.last);
            assert!(
                e.tally
                    .sample
                    .text
                    .contains("(11: Resource temporarily unavailable)")
            );
            let log = std::fs::read_to_string("/var/log/nginx/error.log").unwrap();
            let n = e.tally.sample.line.unwrap() as usize;
            assert_eq!(log.lines().nth(n - 1), Some(e.tally.sample.text.as_str()));

            let mc: Vec<_> = ev.max_children.iter().filter(|m| m.pool == "www").collect();
            assert_eq!(mc.len(), 1, "{ev:#?}");
            let m = mc[0];
            eprintln!(
                "{}: pool {} reached {} = {} ({} x) at {:?}",
                m.log, m.pool, m.setting, m.max_children, m.tally.count, m.tally.last
            );
            assert_eq!(m.log, "/var/log/php8.2-fpm.log");
            assert_eq!((m.max_children, m.setting.as_str()), (2, "pm.max_children"));
            assert!(m.tally.count >= 1);

            // the log's upstream is the pool's listener and the location's pass
            let fpm = scan
                .facts
                .php_fpm
                .iter()
                .find(|f| f.config == "/etc/php/8.2/fpm/php-fpm.conf")
                .unwrap();
            let pool = fpm
                .pools
                .iter()
                .find(|p| upstream_is_listener(&e.upstream, p.address.as_deref().unwrap_or("")))
                .unwrap();
            assert_eq!(pool.name, "www");
            assert_eq!(pool.max_children.as_ref().unwrap().value, 2);
            let listener = scan
                .listeners
                .iter()
                .find(|l| upstream_is_listener(&e.upstream, &l.address))
                .unwrap();
            assert_eq!(
                (&*listener.service, listener.instance.as_str()),
                ("php-fpm", "www")
            );
            let nginx = &scan.facts.nginx[0];
            let passes = nginx.passes_to(&e.upstream);
            assert_eq!(passes.len(), 1);
            assert_eq!(nginx.read_timeout(passes[0]).millis, 60_000);
            let logs = nginx.error_logs_of(passes[0]);
            assert_eq!(logs.len(), 1);
            assert_eq!(
                nginx.error_logs[logs[0]].log.file(),
                Some("/var/log/nginx/error.log")
            );

            // the plan cites them, tied to the pool's socket as the kernel holds it
            plan_cites_the_incident(e.tally.count, n, m.tally.count);
            watch_counts_eagain_as_it_happens();
        },
    );
}

/// `qfix plan` on this namespace: the EAGAIN lines with their count and last line, tied to the
/// pool's observed queue; the backlog finding they confirm raised to error; the pool's
/// max_children with the arithmetic from the queue (observed 128), the workers (2) and
/// nginx's default fastcgi_read_timeout (60s).
fn plan_cites_the_incident(eagain: u64, line: usize, saturated: u64) {
    let out = Command::new(env!("CARGO_BIN_EXE_qfix"))
        .args(["plan", "--format", "json", "--sample", "0"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    let findings = v["findings"].as_array().unwrap();
    let about_pool = |code: &str| -> Vec<&serde_json::Value> {
        findings
            .iter()
            .filter(|f| f["rule"] == code && f["listener"] == "php-fpm www")
            .collect()
    };
    let upstream = about_pool("QF114");
    assert_eq!(upstream.len(), 1, "{stdout}");
    let msg = upstream[0]["message"].as_str().unwrap();
    eprintln!("QF114: {msg}");
    assert!(
        msg.contains(&format!(
            "{eagain} connects to unix:{SOCK} failed with EAGAIN"
        )) && msg.contains(&format!("(/var/log/nginx/error.log:{line})"))
            && msg.contains("its accept queue (observed 128) overflowed"),
        "{msg}"
    );
    let log = &upstream[0]["evidence"][0];
    assert_eq!(
        (&log["kind"], &log["count"], &log["line"]),
        (&"log".into(), &eagain.into(), &(line as u64).into()),
        "{log}"
    );

    let pool = about_pool("QF115");
    assert_eq!(pool.len(), 1, "{stdout}");
    let msg = pool[0]["message"].as_str().unwrap();
    eprintln!("QF115: {msg}");
    assert!(
        msg.contains(&format!(
            "reached pm.max_children (2) {}",
            if saturated == 1 {
                "once".to_string()
            } else {
                format!("{saturated} times")
            }
        )) && msg.contains(&format!(
            "{eagain} connects to its socket failed with EAGAIN"
        )) && msg.contains("fastcgi_read_timeout 60s")
            && msg.contains("a queue of 128 (observed)")
            && msg.contains("60s x 2 / 128 = 938 ms"),
        "{msg}"
    );

    let confirmed: Vec<_> = findings
        .iter()
        .filter(|f| {
            f["listener"] == "php-fpm www"
                && ["QF101", "QF103"].contains(&f["rule"].as_str().unwrap_or(""))
        })
        .collect();
    assert!(
        !confirmed.is_empty(),
        "no backlog finding for the pool: {stdout}"
    );
    for f in confirmed {
        assert_eq!(f["severity"], "error", "{f}");
        assert!(
            f["message"]
                .as_str()
                .unwrap()
                .contains("confirmed by nginx's log"),
            "{f}"
        );
    }
}

/// 300 requests at once; the number answered 502.
fn burst() -> u64 {
    let go = Arc::new(Barrier::new(REQUESTS));
    let clients: Vec<_> = (0..REQUESTS)
        .map(|_| {
            let go = go.clone();
            std::thread::Builder::new()
                .stack_size(128 << 10)
                .spawn(move || {
                    go.wait();
                    request()
                })
                .unwrap()
        })
        .collect();
    let codes: Vec<u16> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let bad_gateway = codes.iter().filter(|c| **c == 502).count() as u64;
    let ok = codes.iter().filter(|c| **c == 200).count();
    eprintln!(
        "burst: {REQUESTS} requests, {ok} x 200, {bad_gateway} x 502, {} other",
        REQUESTS - ok - bad_gateway as usize
    );
    bad_gateway
}

/// `qfix watch --once` over a second burst: the EAGAIN lines nginx logs meanwhile, and only
/// those (the first burst's are older than the watch), counted for the pool's socket.
fn watch_counts_eagain_as_it_happens() {
    let watch = Command::new(env!("CARGO_BIN_EXE_qfix"))
        .args(["watch", "--once", "--interval", "4", "--format", "json"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // the watch reads the configs and notes where each log ends before it sleeps
    std::thread::sleep(Duration::from_millis(1000));
    let bad_gateway = burst();
    let out = watch.wait_with_output().unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let eagain: Vec<_> = v["upstream_errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "eagain" && e["upstream"] == format!("unix:{SOCK}"))
        .collect();
    eprintln!("watch: {eagain:?} ({bad_gateway} x 502 in the second burst)");
    assert_eq!(eagain.len(), 1, "{v}");
    assert_eq!(eagain[0]["count"], bad_gateway, "{v}");
}
