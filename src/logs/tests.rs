//! The log reader end to end on root trees: the captured logs behind their configs, a 2 GiB
//! log, logs that shrink or rotate under the read, paths that are no log, bytes that are no
//! UTF-8, times out of order.

use std::fs::{self, File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

use super::*;
use crate::root::Root;
use crate::services;

const ERROR_LOG: &str = include_str!("../../tests/logs/captured/error.log");
const PHP_LOG: &str = include_str!("../../tests/logs/captured/php-fpm.log");
const REDIS_LOG: &str = include_str!("../../tests/logs/captured/redis-server.log");
const UWSGI_LOG: &str = include_str!("../../tests/logs/captured/uwsgi.log");
const UWSGI_REFUSED: &str = include_str!("../../tests/logs/captured/uwsgi-refused.log");
const SYSLOG_UDP: &str = include_str!("../../tests/logs/captured/syslog-udp.log");
const SYSLOG_DEVLOG: &str = include_str!("../../tests/logs/captured/syslog-devlog.log");

fn write(root: &Path, files: &[(&str, &str)]) {
    for (p, text) in files {
        let p = root.join(p.trim_start_matches('/'));
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }
}

/// Scan the root's configs, then read the logs they name.
fn evidence(root: &Path, opts: &Options) -> LogEvidence {
    let host = Host::new(Root::new(root).unwrap());
    let scan = services::scan(&host);
    LogEvidence::read(&host, &scan.facts, opts)
}

/// The socket a captured line names after "connect() to ".
fn socket_in(log: &str, needle: &str) -> String {
    let line = log.lines().find(|l| l.contains(needle)).unwrap();
    let rest = line.split("connect() to unix:").nth(1).unwrap();
    rest.split(' ').next().unwrap().to_string()
}

fn nginx_conf(sock: &str, sys_sock: &str) -> String {
    format!(
        "error_log /var/log/nginx/error.log;\nevents {{}}\nhttp {{\n\
         upstream nothing {{ server 127.0.0.1:9; server 127.0.0.1:10; }}\n\
         server {{\n listen 127.0.0.1:8080;\n server_name localhost;\n\
         location ~ \\.php$ {{ fastcgi_pass unix:{sock}; }}\n\
         location /refused {{ proxy_pass http://nothing; }}\n\
         location /sys/ {{ error_log syslog:server=127.0.0.1:5514,tag=nginx; \
         fastcgi_pass unix:{sys_sock}; }}\n\
         location /timeout {{ proxy_pass http://127.0.0.1:9100; proxy_read_timeout 1s; }}\n\
         location /ports {{ proxy_pass http://127.0.0.1:9200; }}\n}}\n}}\n"
    )
}

/// Every line the daemons wrote in the capture, found through the configs that name the
/// logs: nginx's file and syslog, two php-fpm masters (a file, syslog), Redis, two uWSGIs.
#[test]
fn the_captured_logs_counted_through_their_configs() {
    let d = tempfile::tempdir().unwrap();
    let sock = socket_in(ERROR_LOG, "(11: ");
    let sys_sock = socket_in(SYSLOG_UDP, "(11: ");
    let syslog = format!("{SYSLOG_UDP}{SYSLOG_DEVLOG}");
    write(
        d.path(),
        &[
            ("/etc/nginx/nginx.conf", &nginx_conf(&sock, &sys_sock)),
            ("/var/log/nginx/error.log", ERROR_LOG),
            (
                "/etc/php/8.2/fpm/php-fpm.conf",
                &format!(
                    "[global]\nerror_log = /var/log/php8.2-fpm.log\n[www]\nlisten = {sock}\n\
                     pm = dynamic\npm.max_children = 2\n"
                ),
            ),
            ("/var/log/php8.2-fpm.log", PHP_LOG),
            (
                "/etc/php/8.3/fpm/php-fpm.conf",
                &format!(
                    "[global]\nerror_log = syslog\n[sys]\nlisten = {sys_sock}\npm = ondemand\n\
                     pm.max_children = 1\n"
                ),
            ),
            ("/var/log/syslog", &syslog),
            (
                "/etc/redis/redis.conf",
                "port 6390\ntcp-backlog 511\nlogfile /var/log/redis/redis-server.log\n",
            ),
            ("/var/log/redis/redis-server.log", REDIS_LOG),
            (
                "/etc/uwsgi.d/app.ini",
                "[uwsgi]\nsocket = 127.0.0.1:3031\nlisten = 10\nlogto = /var/log/uwsgi/%n.log\n",
            ),
            ("/var/log/uwsgi/app.log", UWSGI_LOG),
            (
                "/etc/uwsgi.d/big.ini",
                "[uwsgi]\nsocket = 127.0.0.1:3030\nlisten = 1024\nlogto = /var/log/uwsgi/%n.log\n",
            ),
            ("/var/log/uwsgi/big.log", UWSGI_REFUSED),
        ],
    );
    let ev = evidence(d.path(), &Options::default());
    assert_eq!(ev.max_bytes, 64 << 20);
    let files: Vec<(&str, Vec<&str>, &[String])> = ev
        .files
        .iter()
        .map(|f| {
            (
                f.path.as_str(),
                f.services.iter().map(String::as_str).collect(),
                f.notes.as_slice(),
            )
        })
        .collect();
    let none: &[String] = &[];
    assert_eq!(
        files,
        [
            ("/var/log/nginx/error.log", vec!["nginx"], none),
            ("/var/log/syslog", vec!["nginx", "php-fpm"], none),
            ("/var/log/php8.2-fpm.log", vec!["php-fpm"], none),
            ("/var/log/redis/redis-server.log", vec!["redis"], none),
            ("/var/log/uwsgi/app.log", vec!["uwsgi"], none),
            ("/var/log/uwsgi/big.log", vec!["uwsgi"], none),
        ]
    );
    // the whole of each was read
    let w = ev.files[0].window.as_ref().unwrap();
    assert_eq!((w.start, w.bytes_read), (0, ERROR_LOG.len() as u64));
    assert_eq!(w.lines, ERROR_LOG.lines().count() as u64);
    assert!(ev.notes.is_empty(), "{:?}", ev.notes);

    let up = |log: &str, upstream: &str, kind: UpstreamErrorKind| {
        ev.upstream_errors
            .iter()
            .find(|e| e.log == log && e.upstream == upstream && e.kind == kind)
            .unwrap_or_else(|| panic!("no {kind:?} for {upstream} in {log}: {ev:#?}"))
    };
    let err = "/var/log/nginx/error.log";
    let eagain = up(err, &format!("unix:{sock}"), UpstreamErrorKind::Eagain);
    // the committed capture: 169, as many as nginx answered 502 (ab-burst.txt)
    let n_eagain = ERROR_LOG.matches("(11: Resource").count() as u64;
    assert_eq!(eagain.tally.count, n_eagain);
    let ab = include_str!("../../tests/logs/captured/ab-burst.txt");
    let non_2xx: u64 = ab
        .lines()
        .find_map(|l| l.strip_prefix("Non-2xx responses:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(eagain.tally.count, non_2xx);
    assert_eq!(eagain.scheme.as_deref(), Some("fastcgi"));
    assert_eq!(eagain.errno, Some(11));
    assert_eq!(eagain.action.as_deref(), Some("connecting to upstream"));
    let (first, last) = (
        eagain.tally.first.as_ref().unwrap(),
        eagain.tally.last.as_ref().unwrap(),
    );
    assert!(first <= last);
    // the sample is the last EAGAIN line of the file, with its number
    let (n, text) = ERROR_LOG
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains("(11: "))
        .last()
        .unwrap();
    assert_eq!(eagain.tally.sample.line, Some(n as u64 + 1));
    assert_eq!(eagain.tally.sample.tail_line, n as u64 + 1);
    assert_eq!(eagain.tally.sample.text, text);
    assert_eq!(
        &ERROR_LOG[eagain.tally.sample.offset as usize..][..text.len()],
        text
    );
    assert!(text.starts_with(&first.as_str()[..10].replace('-', "/")));

    assert_eq!(
        up(err, "127.0.0.1:9", UpstreamErrorKind::Refused)
            .tally
            .count,
        1
    );
    assert_eq!(
        up(err, "127.0.0.1:10", UpstreamErrorKind::Refused)
            .tally
            .count,
        1
    );
    assert_eq!(
        up(err, "nothing", UpstreamErrorKind::NoLiveUpstreams)
            .tally
            .count,
        2
    );
    let timeout = up(err, "127.0.0.1:9100", UpstreamErrorKind::TimedOut);
    assert_eq!(
        timeout.action.as_deref(),
        Some("reading response header from upstream")
    );
    assert_eq!(
        up(err, "127.0.0.1:9200", UpstreamErrorKind::AddrNotAvailable)
            .tally
            .count,
        ERROR_LOG
            .matches("(99: Cannot assign requested address)")
            .count() as u64
    );
    // nginx through syslog: its own time inside the message
    let sys = up(
        "/var/log/syslog",
        &format!("unix:{sys_sock}"),
        UpstreamErrorKind::Eagain,
    );
    assert_eq!(sys.tally.count, SYSLOG_UDP.matches("(11: ").count() as u64);
    assert!(sys.tally.first.is_some());
    assert_eq!(ev.upstream_errors.len(), 7);

    let mc: Vec<(&str, &str, u64, &str, u64)> = ev
        .max_children
        .iter()
        .map(|m| {
            (
                m.log.as_str(),
                m.pool.as_str(),
                m.max_children,
                m.setting.as_str(),
                m.tally.count,
            )
        })
        .collect();
    assert_eq!(
        mc,
        [
            ("/var/log/php8.2-fpm.log", "www", 2, "pm.max_children", 1),
            ("/var/log/syslog", "sys", 1, "max_children", 1),
        ]
    );
    // php-fpm through syslog has no time of its own: syslog's, in the file's year
    let sys_time = ev.max_children[1].tally.first.as_ref().unwrap();
    assert!(sys_time.as_str().ends_with(&{
        let l = SYSLOG_DEVLOG
            .lines()
            .find(|l| l.contains("max_children"))
            .unwrap();
        l[l.find('>').unwrap() + 8..l.find('>').unwrap() + 16].to_string()
    }));
    assert_eq!(ev.max_children[0].tally.sample.line, Some(4));

    assert_eq!(ev.redis_backlog.len(), 1);
    let r = &ev.redis_backlog[0];
    assert_eq!((r.backlog, r.somaxconn, r.tally.count), (511, 128, 1));
    assert_eq!(r.tally.sample.line, Some(6));

    assert_eq!(ev.uwsgi_queue_full.len(), 1);
    let u = &ev.uwsgi_queue_full[0];
    assert_eq!(
        (u.socket.as_str(), u.queue, u.limit, u.tally.count),
        (
            "127.0.0.1:3031",
            11,
            10,
            UWSGI_LOG.matches("full !!!").count() as u64
        )
    );
    assert_eq!(ev.uwsgi_refused.len(), 1);
    assert_eq!(ev.uwsgi_refused[0].somaxconn, 128);
    assert_eq!(ev.uwsgi_refused[0].log, "/var/log/uwsgi/big.log");

    // linked back: the pool on that socket, the nginx location passing to it
    let host = Host::new(Root::new(d.path()).unwrap());
    let scan = services::scan(&host);
    let pool = scan.facts.php_fpm[0]
        .pools
        .iter()
        .find(|p| upstream_is_listener(&eagain.upstream, p.address.as_deref().unwrap()))
        .unwrap();
    assert_eq!(pool.name, "www");
    assert_eq!(pool.max_children.as_ref().unwrap().value, 2);
    let passes = scan.facts.nginx[0].passes_to(&eagain.upstream);
    assert_eq!(passes.len(), 1);
    assert_eq!(scan.facts.nginx[0].read_timeout(passes[0]).millis, 60_000);
    assert_eq!(ev.upstream_errors_for(&eagain.upstream).count(), 1);

    // the same through ServiceFacts' helpers
    let (master, www) = scan.facts.php_fpm_pool_serving(&eagain.upstream).unwrap();
    assert_eq!(
        (master.unit.as_str(), www.name.as_str()),
        ("php8.2-fpm", "www")
    );
    let (_, sys_pool) = scan
        .facts
        .php_fpm_pool_logging(&ev.max_children[1].log, &ev.max_children[1].pool)
        .unwrap();
    assert_eq!(sys_pool.name, "sys");
    assert_eq!(sys_pool.max_children.as_ref().unwrap().value, 1);
    assert!(
        scan.facts
            .php_fpm_pool_logging("/var/log/php8.2-fpm.log", "sys")
            .is_none()
    );

    // owned data that survives a recorded snapshot: JSON there and back
    let json = serde_json::to_string(&ev).unwrap();
    assert_eq!(serde_json::from_str::<LogEvidence>(&json).unwrap(), ev);
    let json = serde_json::to_string(&scan.facts).unwrap();
    assert_eq!(
        serde_json::from_str::<services::facts::ServiceFacts>(&json).unwrap(),
        scan.facts
    );
    let _ = schemars::schema_for!(LogEvidence);
}

#[test]
fn upstreams_against_listener_addresses() {
    assert!(upstream_is_listener("unix:/run/a.sock", "unix /run/a.sock"));
    assert!(!upstream_is_listener(
        "unix:/run/a.sock",
        "unix /run/b.sock"
    ));
    assert!(upstream_is_listener("127.0.0.1:9000", "tcp 127.0.0.1:9000"));
    assert!(upstream_is_listener("127.0.0.1:9000", "tcp *:9000"));
    assert!(upstream_is_listener("[::1]:9000", "tcp [::]:9000"));
    assert!(upstream_is_listener("10.0.0.1:9000", "tcp 0.0.0.0:9000"));
    assert!(!upstream_is_listener(
        "127.0.0.1:9000",
        "tcp 127.0.0.1:9001"
    ));
    assert!(!upstream_is_listener("127.0.0.1:9000", "unix /x"));
    assert!(!upstream_is_listener("backend", "tcp *:80"));
}

/// A 2 GiB error log (a sparse file with nginx's real lines at its end) is read only in its
/// last 64 MiB: the bytes read are the bound, the lines at the end all counted.
#[test]
fn a_2gib_log_is_read_only_in_its_last_64_mib() {
    let d = tempfile::tempdir().unwrap();
    let sock = socket_in(ERROR_LOG, "(11: ");
    write(
        d.path(),
        &[("/etc/nginx/nginx.conf", &nginx_conf(&sock, "/x.sock"))],
    );
    let log = d.path().join("var/log/nginx/error.log");
    fs::create_dir_all(log.parent().unwrap()).unwrap();
    let mut f = File::create(&log).unwrap();
    let hole: u64 = 2 << 30;
    f.set_len(hole).unwrap();
    f.seek(SeekFrom::Start(hole)).unwrap();
    // the hole's zeros end with a line of their own
    f.write_all(b"\n").unwrap();
    f.write_all(ERROR_LOG.as_bytes()).unwrap();
    drop(f);
    let size = hole + 1 + ERROR_LOG.len() as u64;
    // sparse: the file takes almost no disk
    assert!(fs::metadata(&log).unwrap().len() == size);

    let ev = evidence(d.path(), &Options::default());
    let w = ev.files[0].window.as_ref().unwrap();
    assert_eq!(w.size, size);
    assert_eq!(w.bytes_read, DEFAULT_LOG_BYTES);
    assert_eq!(w.start, size - DEFAULT_LOG_BYTES);
    assert_eq!(w.lines, ERROR_LOG.lines().count() as u64);
    let eagain = ev
        .upstream_errors
        .iter()
        .find(|e| e.kind == UpstreamErrorKind::Eagain)
        .unwrap();
    assert_eq!(
        eagain.tally.count,
        ERROR_LOG.matches("(11: Resource").count() as u64
    );
    // line numbers count from the window's first full line; the file's are unknown
    assert_eq!(eagain.tally.sample.line, None);
    assert!(eagain.tally.sample.offset > hole);

    // a smaller bound reads less, and only the lines inside it
    let ev = evidence(d.path(), &Options { max_bytes: 4096 });
    let w = ev.files[0].window.as_ref().unwrap();
    assert_eq!(w.bytes_read, 4096);
    let tail = &ERROR_LOG[ERROR_LOG.len() - 4096..];
    let whole_lines = &tail[tail.find('\n').unwrap() + 1..];
    let counted: u64 = ev.upstream_errors.iter().map(|e| e.tally.count).sum();
    assert_eq!(counted, whole_lines.lines().count() as u64);

    // --log-bytes 0 reads nothing
    let ev = evidence(d.path(), &Options { max_bytes: 0 });
    assert_eq!(ev.files[0].window, None);
    assert_eq!(ev.files[0].notes, ["not read: --log-bytes 0"]);
    assert!(ev.upstream_errors.is_empty());
}

/// Thousands of per-site logs are read in bounded time: all together at most
/// TOTAL_BUDGET_FILES x --log-bytes, the rest named as not read; the logs of a directory
/// that does not exist are missing without a look at each.
#[test]
fn many_logs_share_one_budget() {
    let d = tempfile::tempdir().unwrap();
    let mut conf = String::from("error_log /var/log/nginx/error.log;\nevents {}\nhttp {\n");
    for i in 0..6 {
        conf += &format!(
            "server {{ listen 127.0.0.1:{}; error_log /var/log/nginx/site{i}.log; }}\n",
            8000 + i
        );
    }
    conf += "server { listen 127.0.0.1:9000; error_log /var/log/gone/site.log; }\n}\n";
    write(d.path(), &[("/etc/nginx/nginx.conf", &conf)]);
    let line = ERROR_LOG.lines().next().unwrap();
    let big = format!("{line}\n").repeat(8192 / line.len() + 1);
    for i in 0..6 {
        write(d.path(), &[(&format!("/var/log/nginx/site{i}.log"), &big)]);
    }
    let ev = evidence(d.path(), &Options { max_bytes: 4096 });
    let read: u64 = ev
        .files
        .iter()
        .filter_map(|f| f.window.as_ref())
        .map(|w| w.bytes_read)
        .sum();
    assert_eq!(read, 4096 * TOTAL_BUDGET_FILES, "{ev:#?}");
    let over: Vec<&str> = ev
        .files
        .iter()
        .filter(|f| f.notes.iter().any(|n| n.contains("whole budget")))
        .map(|f| f.path.as_str())
        .collect();
    assert_eq!(
        over,
        ["/var/log/nginx/site4.log", "/var/log/nginx/site5.log"]
    );
    let gone = ev
        .files
        .iter()
        .find(|f| f.path == "/var/log/gone/site.log")
        .unwrap();
    assert_eq!(gone.notes, ["missing"]);
}

/// A log truncated while it is read: the read stops at the new end, counts what it read,
/// and says so.
#[test]
fn a_log_truncated_during_the_read_is_counted_up_to_there() {
    let mut content = String::new();
    while content.len() < 3 * (1 << 20) {
        content.push_str(ERROR_LOG);
    }
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(content.as_bytes()).unwrap();
    let reader = File::open(f.path()).unwrap();
    let truncator = OpenOptions::new().write(true).open(f.path()).unwrap();
    let mut lines = 0;
    let w = tail::read(&reader, u64::MAX, |_| {
        if lines == 0 {
            // logrotate's copytruncate, while qfix reads the first chunk
            truncator.set_len(0).unwrap();
        }
        lines += 1;
    })
    .unwrap();
    assert_eq!(w.shrank_to, Some(0));
    // the first chunk, then nothing
    assert_eq!(w.bytes_read, 1 << 20);
    assert!(lines > 0 && (lines as u64) < content.lines().count() as u64);
}

/// A log renamed away (rotated) after qfix opened it: the open file is read to its end and
/// the rotation said; the new file is for the next run.
#[test]
fn a_log_rotated_during_the_read_is_read_from_the_open_file() {
    let d = tempfile::tempdir().unwrap();
    let path = "/var/log/nginx/error.log";
    write(d.path(), &[(path, ERROR_LOG)]);
    let host = Host::new(Root::new(d.path()).unwrap());
    let file = host.root.open_file(path, false).unwrap().unwrap();
    let real = d.path().join("var/log/nginx/error.log");
    fs::rename(&real, real.with_extension("log.1")).unwrap();
    fs::write(&real, "").unwrap();
    let src = Source {
        path: path.into(),
        nginx: true,
        php_fpm: false,
        redis: false,
        uwsgi: false,
        optional: false,
    };
    let mut counts = Counts::default();
    let f = read_one(&host, &src, &file, &Options::default(), &mut counts);
    assert_eq!(
        f.notes,
        ["rotated or removed during the read: counted the file that was open"]
    );
    let mut ev = LogEvidence::default();
    counts.into_evidence(&mut ev);
    let eagain: u64 = ev
        .upstream_errors
        .iter()
        .filter(|e| e.kind == UpstreamErrorKind::Eagain)
        .map(|e| e.tally.count)
        .sum();
    assert_eq!(eagain, ERROR_LOG.matches("(11: Resource").count() as u64);
}

/// Log paths that are a FIFO (no writer: a blocking read would wait forever), a directory,
/// missing, or not files at all: notes, and the other logs are still read.
#[test]
fn paths_that_are_no_log_file_are_notes() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        &[
            (
                "/etc/nginx/nginx.conf",
                "error_log /var/log/nginx/fifo.log;\nerror_log /var/log/nginx/dir.log;\n\
                 error_log /var/log/nginx/missing.log;\nerror_log /var/log/nginx/error.log;\n\
                 error_log stderr;\nerror_log memory:1m;\nerror_log syslog:server=10.0.0.9;\n\
                 events {}\n",
            ),
            ("/var/log/nginx/error.log", ERROR_LOG),
            (
                "/etc/redis/redis.conf",
                "logfile \"\"\nsyslog-enabled yes\n",
            ),
        ],
    );
    fs::create_dir_all(d.path().join("var/log/nginx/dir.log")).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        d.path().join("var/log/nginx/fifo.log"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    let ev = evidence(d.path(), &Options::default());
    let notes: Vec<(&str, &str)> = ev
        .files
        .iter()
        .map(|f| (f.path.as_str(), f.notes.first().map_or("", String::as_str)))
        .collect();
    assert_eq!(
        notes,
        [
            (
                "/var/log/nginx/fifo.log",
                "not read: /var/log/nginx/fifo.log: is a FIFO, not a regular file"
            ),
            (
                "/var/log/nginx/dir.log",
                "not read: /var/log/nginx/dir.log: is a directory, not a regular file"
            ),
            ("/var/log/nginx/missing.log", "missing"),
            ("/var/log/nginx/error.log", ""),
        ]
    );
    assert_eq!(
        ev.upstream_errors
            .iter()
            .map(|e| e.tally.count)
            .sum::<u64>(),
        ERROR_LOG.lines().count() as u64
    );
    assert_eq!(
        ev.notes,
        [
            "nginx (nginx) logs to stderr: under systemd that is the journal (journalctl -u \
             nginx); qfix reads log files only",
            "nginx (nginx) logs to memory (memory:1m): only a debugger reads it",
            "nginx (nginx) logs to a syslog server (syslog:server=10.0.0.9): qfix reads local \
             files only",
            "redis (redis-server) logs to stdout: under systemd that is the journal \
             (journalctl -u redis-server); qfix reads log files only",
            "a service logs to syslog, but neither /var/log/syslog nor /var/log/messages \
             exists (the journal only?): qfix reads log files only",
        ]
    );
}

/// Bytes that are not UTF-8 (a request line, a binary blob), lines out of time order, and
/// lines without a time: counted; first and last are the earliest and latest times.
#[test]
fn non_utf8_bytes_and_times_out_of_order() {
    let d = tempfile::tempdir().unwrap();
    let line = |t: &str, req: &[u8]| -> Vec<u8> {
        let mut l = format!(
            "{t} [error] 7#7: *1 connect() to unix:/run/php/php8.2-fpm.sock failed (11: \
             Resource temporarily unavailable) while connecting to upstream, client: \
             127.0.0.1, server: _, request: \""
        )
        .into_bytes();
        l.extend_from_slice(req);
        l.extend_from_slice(
            b"\", upstream: \"fastcgi://unix:/run/php/php8.2-fpm.sock:\", host: \"x\"\n",
        );
        l
    };
    let mut log = Vec::new();
    log.extend(line("2026/12/04 12:00:02", b"GET /\xff\xfe HTTP/1.1"));
    log.extend_from_slice(b"\x00\x01\x02 binary garbage \xc3\x28\n");
    log.extend(line("2026/12/04 11:59:59", b"GET / HTTP/1.1"));
    log.extend(line("2026/12/04 12:00:05", b"GET /\xc3\x28 HTTP/1.1"));
    log.extend(line("garbage time here!!", b"GET / HTTP/1.1"));
    log.extend(line("2026/12/04 12:00:01", b"GET / HTTP/1.1"));
    write(
        d.path(),
        &[
            (
                "/etc/nginx/nginx.conf",
                "error_log /var/log/nginx/error.log;\nevents {}\n",
            ),
            ("/var/log/nginx/error.log", ""),
        ],
    );
    fs::write(d.path().join("var/log/nginx/error.log"), &log).unwrap();
    let ev = evidence(d.path(), &Options::default());
    assert_eq!(ev.upstream_errors.len(), 1);
    let t = &ev.upstream_errors[0].tally;
    assert_eq!(t.count, 5);
    assert_eq!(t.first.as_ref().unwrap().as_str(), "2026-12-04T11:59:59");
    assert_eq!(t.last.as_ref().unwrap().as_str(), "2026-12-04T12:00:05");
    // the most recent line in the file, as lossy text
    assert_eq!(t.sample.line, Some(6));
    assert!(t.sample.text.starts_with("2026/12/04 12:00:01"));
    let ev = {
        fs::write(
            d.path().join("var/log/nginx/error.log"),
            &log[..log.len() - 1],
        )
        .unwrap();
        evidence(d.path(), &Options::default())
    };
    // a last line without its newline still counts
    assert_eq!(ev.upstream_errors[0].tally.count, 5);
    let third = String::from_utf8_lossy(&line("2026/12/04 12:00:05", b"GET /\xc3\x28 HTTP/1.1"))
        .trim_end()
        .to_string();
    assert!(third.contains('\u{fffd}'));
}

#[test]
fn log_bytes_as_given_on_the_command_line() {
    assert_eq!(Options::parse_bytes("65536"), Ok(65536));
    assert_eq!(Options::parse_bytes("64M"), Ok(64 << 20));
    assert_eq!(Options::parse_bytes("64MiB"), Ok(64 << 20));
    assert_eq!(Options::parse_bytes("1G"), Ok(1 << 30));
    assert_eq!(Options::parse_bytes("512k"), Ok(512 << 10));
    assert_eq!(Options::parse_bytes("0"), Ok(0));
    assert!(Options::parse_bytes("64X").is_err());
    assert!(Options::parse_bytes("M").is_err());
    assert!(Options::parse_bytes("-1").is_err());
    assert!(Options::parse_bytes("99999999999999999999G").is_err());
}
