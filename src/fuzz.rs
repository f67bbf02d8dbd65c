//! Fuzz entry points: one small function per parser, taking arbitrary bytes. The cargo-fuzz
//! targets under fuzz/ call these; so does the in-process run of the seed corpus (the
//! fixtures' files, mutated) in this module's test, which the regular test suite runs.
//!
//! A parser may reject its input with an error; it must not panic, hang, or read or write
//! outside its root. The services' parsers read files through `Root`, so their entry point
//! writes the input where the service expects its config, in a scratch root of the thread's
//! own, and scans it the way `qfix plan` does.

use std::path::PathBuf;

use crate::host::Host;
use crate::root::Root;

/// The parsers, by fuzz target name, and where a service's input goes.
pub const TARGETS: &[(&str, Option<&str>)] = &[
    ("sysctl_file", None),
    ("sysctl_values", None),
    ("edit", None),
    ("policy", None),
    ("rule", None),
    ("nginx", Some("/etc/nginx/nginx.conf")),
    ("phpfpm", Some("/etc/php/8.2/fpm/php-fpm.conf")),
    ("phpfpm_pool", Some("/etc/php/8.2/fpm/pool.d/www.conf")),
    ("redis", Some("/etc/redis/redis.conf")),
    ("haproxy", Some("/etc/haproxy/haproxy.cfg")),
    ("apache", Some("/etc/apache2/apache2.conf")),
    ("mysql", Some("/etc/mysql/my.cnf")),
    ("memcached", Some("/etc/memcached.conf")),
    ("uwsgi", Some("/etc/uwsgi/apps-enabled/app.ini")),
    ("systemd_socket", Some("/etc/systemd/system/app.socket")),
    ("sysctl_boot", Some("/etc/sysctl.d/50-fuzz.conf")),
    ("log_lines", None),
];

/// Run the named target on `data`. Unknown names panic (a typo in a fuzz target).
pub fn run(target: &str, data: &[u8]) {
    match target {
        "sysctl_file" => crate::sysctl::file::fuzz(data),
        "sysctl_values" => sysctl_values(data),
        "edit" => edit(data),
        "policy" => policy(data),
        "rule" => rule(data),
        "log_lines" => crate::logs::fuzz(data),
        _ => match TARGETS.iter().find(|t| t.0 == target) {
            Some((_, Some(path))) => service(path, data),
            _ => panic!("no fuzz target {target:?}"),
        },
    }
}

/// Keys and values as sysctl files and `--set` give them.
pub fn sysctl_values(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (k, v) = text.split_once('=').unwrap_or((text, ""));
    let key = crate::sysctl::normalize_key(k);
    if crate::sysctl::check_key(&key).is_ok() {
        // a valid key never leaves /proc/sys
        let path = crate::sysctl::key_to_path(&key);
        assert!(
            path.split('/')
                .all(|c| !c.is_empty() && c != "." && c != "..")
        );
    }
    let _ = crate::sysctl::check_value(&key, v);
    let _ = crate::sysctl::check_value_like(&key, v, "1024");
    let _ = crate::sysctl::same_value(v, k);
    let _ = crate::sysctl::as_int(v);
    let _ = crate::sysctl::glob_matches(k, v);
}

/// Line splitting and byte-range edits: an edit of nothing reproduces the text.
pub fn edit(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut rebuilt = String::new();
    if text.starts_with(crate::edit::BOM) {
        rebuilt.push_str(crate::edit::BOM);
    }
    for l in crate::edit::lines(text) {
        rebuilt.push_str(l.raw);
    }
    assert_eq!(rebuilt, text);
    assert_eq!(crate::edit::apply(text, &[]), text);
    let at = text.len() / 2;
    if text.is_char_boundary(at) {
        let out = crate::edit::apply(text, &[crate::edit::Edit::insert(at, "x\n")]);
        assert!(out.len() >= text.len() + 2);
    }
}

pub fn policy(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = crate::policy::Policy::parse("/etc/qfix/policy.toml", text);
    }
}

pub fn rule(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = crate::rules::parse("/etc/qfix/rules.d/fuzz.toml", text);
    }
}

thread_local! {
    /// A scratch root per thread, made once: (its directory, the file last written).
    static SCRATCH: std::cell::RefCell<Option<(tempfile::TempDir, Option<PathBuf>)>> =
        const { std::cell::RefCell::new(None) };
}

/// `data` as the service config at `path` in a scratch root, scanned as a plan scans.
pub fn service(path: &str, data: &[u8]) {
    SCRATCH.with_borrow_mut(|s| {
        let (dir, last) = s.get_or_insert_with(|| {
            let d = tempfile::tempdir().expect("a scratch directory");
            // a systemd socket is read only when something enables it
            let wants = d.path().join("etc/systemd/system/sockets.target.wants");
            std::fs::create_dir_all(&wants).expect("scratch tree");
            let _ = std::os::unix::fs::symlink("../app.socket", wants.join("app.socket"));
            (d, None)
        });
        let file = dir.path().join(path.trim_start_matches('/'));
        if let Some(prev) = last.take()
            && prev != file
        {
            let _ = std::fs::remove_file(prev);
        }
        std::fs::create_dir_all(file.parent().expect("a directory")).expect("scratch tree");
        std::fs::write(&file, data).expect("scratch file");
        *last = Some(file);
        let host = Host::new(Root::new(dir.path()).expect("scratch root"));
        let scan = crate::services::scan(&host);
        // every location a finding names is a file of the root
        for p in &scan.problems {
            assert!(p.location.path.starts_with('/'), "{}", p.location.path);
        }
        if path.starts_with("/etc/sysctl.d/") {
            let layout = crate::sysctl::boot::Layout::read(&host);
            let _ = crate::sysctl::boot::Boot::resolve(&layout, &Default::default());
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seeds for a target: the fixtures' files that look like its input.
    fn seeds(target: &str) -> Vec<Vec<u8>> {
        let want: &[&str] = match target {
            "sysctl_file" | "sysctl_boot" | "sysctl_values" | "edit" => &["sysctl"],
            "policy" => &["policy", "qfix"],
            "rule" => &[".toml"],
            "phpfpm" | "phpfpm_pool" => &["php"],
            "systemd_socket" => &[".socket"],
            "log_lines" => &["captured"],
            t => &[&t[..t.len().min(5)]],
        };
        let mut out = vec![Vec::new(), b"\n".to_vec()];
        let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut todo = vec![
            base.join("fixtures"),
            base.join("rules"),
            base.join("tests/logs/captured"),
        ];
        while let Some(d) = todo.pop() {
            let Ok(rd) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    todo.push(p);
                } else if want.iter().any(|w| p.to_string_lossy().contains(w))
                    && let Ok(b) = std::fs::read(&p)
                    && b.len() < 64 << 10
                {
                    out.push(b);
                }
            }
        }
        out
    }

    /// A deterministic mutation of `seed` (xorshift): flipped bytes, spliced pieces, tokens
    /// that configs are made of.
    fn mutate(seed: &[u8], other: &[u8], r: &mut u64) -> Vec<u8> {
        const TOKENS: &[&[u8]] = &[
            b"\n",
            b"\r\n",
            b"\0",
            b"\xef\xbb\xbf",
            b"\xff",
            b"{",
            b"}",
            b";",
            b"\"",
            b"'",
            b"\\",
            b"#",
            b"=",
            b"[",
            b"]",
            b"include ",
            b"../",
            b"/dev/zero",
            b"*",
            b"-1",
            b"99999999999999999999",
            b"backlog=",
            b"listen ",
            b"net.core.somaxconn",
        ];
        let mut next = || {
            *r ^= *r << 13;
            *r ^= *r >> 7;
            *r ^= *r << 17;
            *r
        };
        let mut v = seed.to_vec();
        for _ in 0..1 + next() % 8 {
            let at = if v.is_empty() {
                0
            } else {
                (next() as usize) % v.len()
            };
            match next() % 4 {
                0 if !v.is_empty() => v[at] ^= 1 << (next() % 8),
                1 => {
                    let t = TOKENS[(next() as usize) % TOKENS.len()];
                    v.splice(at..at, t.iter().copied());
                }
                2 if !other.is_empty() => {
                    let from = (next() as usize) % other.len();
                    let len = ((next() as usize) % 64).min(other.len() - from);
                    v.splice(at..at, other[from..from + len].iter().copied());
                }
                _ if !v.is_empty() => {
                    let len = ((next() as usize) % 16).min(v.len() - at);
                    v.drain(at..at + len);
                }
                _ => {}
            }
        }
        v
    }

    /// Inputs per target in the regular suite (QFIX_FUZZ_RUNS for more).
    fn runs() -> usize {
        std::env::var("QFIX_FUZZ_RUNS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(250)
    }

    #[test]
    fn every_parser_takes_its_seeds_and_their_mutations_without_panicking() {
        let n = runs();
        let mut total = 0;
        for (target, _) in TARGETS {
            let seeds = seeds(target);
            assert!(seeds.len() > 2, "{target}: no seeds");
            let mut r = 0x2545_F491_4F6C_DD1Du64 ^ target.len() as u64;
            for s in &seeds {
                run(target, s);
                total += 1;
            }
            for i in 0..n {
                let a = &seeds[i % seeds.len()];
                let b = &seeds[(i * 7 + 3) % seeds.len()];
                let input = mutate(a, b, &mut r);
                let done = std::panic::catch_unwind(|| run(target, &input));
                assert!(
                    done.is_ok(),
                    "{target} panicked on {:?}",
                    String::from_utf8_lossy(&input)
                );
                total += 1;
            }
        }
        eprintln!("{total} inputs through {} parsers", TARGETS.len());
    }
}
