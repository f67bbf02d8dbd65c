//! Bad input never panics: random token soup in every config file qfix reads, including
//! quotes, braces, escapes, huge numbers, NUL and non-ASCII, gives exit 0, 1 or 2 with
//! messages, for plan, listeners and apply.

use crate::common::*;

const FILES: [&str; 11] = [
    "/etc/nginx/nginx.conf",
    "/etc/php/8.2/fpm/php-fpm.conf",
    "/etc/redis/redis.conf",
    "/etc/haproxy/haproxy.cfg",
    "/etc/apache2/apache2.conf",
    "/etc/mysql/my.cnf",
    "/etc/memcached.conf",
    "/etc/uwsgi/apps-enabled/a.ini",
    "/etc/systemd/system/x.socket",
    "/etc/sysctl.d/10-a.conf",
    "/etc/qfix/policy.toml",
];

const TOKENS: [&str; 48] = [
    "listen",
    " ",
    "backlog=",
    "{",
    "}",
    ";",
    "\"",
    "'",
    "\\",
    "\n",
    "#",
    "[",
    "]",
    "=",
    "-",
    "/",
    ":",
    "*",
    "?",
    "0",
    "128",
    "-1",
    "99999999999999999999",
    "$",
    "${x}",
    "include",
    "server",
    "http",
    "stream",
    "port",
    "bind",
    "tcp-backlog",
    "Listen",
    "ListenBacklog",
    "back_log",
    "[www]",
    "listen.backlog",
    "include=",
    "unix:/x",
    "[::]:80",
    "frontend f",
    "backlog",
    "-b",
    "socket",
    "[Socket]",
    "Backlog=",
    "net.core.somaxconn",
    "é\u{0}",
];

#[test]
fn random_input_never_panics() {
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..60 {
        let files: Vec<(String, String)> = FILES
            .iter()
            .map(|f| {
                let n = next() % 200;
                let text: String = (0..n)
                    .map(|_| TOKENS[(next() % TOKENS.len() as u64) as usize])
                    .collect();
                (f.to_string(), text)
            })
            .collect();
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let d = tree(&refs);
        write_tree(
            d.path(),
            &[(
                "/etc/systemd/system/sockets.target.wants/x.socket",
                "-> ../x.socket",
            )],
        );
        proc_sys(d.path(), &[("net.core.somaxconn", "128")]);
        for args in [
            &["plan", "--format", "json"][..],
            &["listeners"][..],
            &["apply", "--yes", "--unsafe-fixes"][..],
        ] {
            let r = qfix(d.path(), args);
            assert!(
                matches!(r.code, 0..=2) && !r.stderr.contains("panicked"),
                "round {round}, {args:?}: {r}"
            );
        }
    }
}

#[test]
fn odd_durations_and_sizes_are_refused_with_a_message_not_a_panic_or_a_hang() {
    let root = fixture("debian-stock");
    let cases: &[&[&str]] = &[
        &["--sample", "NaN", "plan"],
        &["--sample", "inf", "plan"],
        &["--sample", "1e9", "plan"],
        &["--sample", "61", "plan"],
        &["--log-bytes", "abc", "plan"],
        &["--log-bytes", "1T", "plan"],
        &["watch", "--once", "--interval", "NaN"],
        &["watch", "--once", "--interval", "0"],
    ];
    for args in cases {
        let r = qfix(&root, args);
        assert_eq!(r.code, 1, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("invalid value"), "{args:?}: {}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "{args:?}: {}", r.stderr);
    }
}
