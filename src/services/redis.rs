//! Redis: `tcp-backlog` (one value for every listening socket, TCP and unix), `bind`,
//! `port`, `tls-port`, `unixsocket`.
//!
//! Config files: Debian `/etc/redis/redis.conf` (unit redis-server), RHEL `/etc/redis.conf`
//! (RHEL 7/8) or `/etc/redis/redis.conf` (RHEL 9) (unit redis).
//!
//! What redis-server does (src/config.c `loadServerConfigFromString`, Redis 7) and this
//! module mirrors:
//! - Lines are trimmed of " \t\r\n"; a line starting with `#` is a comment, a `#` later on
//!   is just an argument. Arguments are split by `sdssplitargs`: whitespace separates,
//!   `"..."` takes `\n \r \t \b \a \\ \" \xHH` escapes, `'...'` takes `\'`, and a closing
//!   quote must be followed by whitespace or the end of the line. An unbalanced quote is
//!   fatal ("Unbalanced quotes in configuration line").
//! - Directive names are case-insensitive; a later directive overrides an earlier one
//!   (`bind` replaces the whole address list).
//! - `include PATH` reads PATH right there. A path with `*?[` is a glob (Redis 7): nothing
//!   matching is fine. Without wildcards a missing file is fatal. A relative path is
//!   opened from the process's working directory: "/" under systemd (neither Debian's nor
//!   RHEL's unit sets WorkingDirectory), and `dir` does chdir() as soon as it is read, so a
//!   relative include after `dir /var/lib/redis` is read from /var/lib/redis. Redis has no
//!   include-loop guard (it recurses until it crashes): qfix reports the loop.
//! - `tcp-backlog` defaults to 511, takes 0..2147483647 and is immutable at runtime.
//!   `port` defaults to 6379 (0 = no TCP), `bind` to `* -::*` (Redis 7; a leading `-`
//!   means "skip if the address is not available"), `tls-port` to 0.

use std::ops::Range;

use super::facts::RedisFacts;
use super::{Action, Listener, Location, Problem, Scan, Setter, Source};
use crate::error::Error;
use crate::host::Host;
use crate::root::{self, Resolved};

const SERVICE: &str = "redis";
const ACTION_REASON: &str =
    "tcp-backlog is read only at startup (immutable at runtime): restart redis";
const DEFAULT_BACKLOG: i64 = 511;

pub fn scan(host: &Host, scan: &mut Scan) {
    let mut seen: Vec<String> = Vec::new();
    for path in ["/etc/redis/redis.conf", "/etc/redis.conf"] {
        let real = match host.resolve(path) {
            Ok(Resolved::Path(p)) => p,
            Ok(Resolved::DevNull) => continue,
            Err(e) => {
                scan.errors.push(e);
                continue;
            }
        };
        // RHEL 9 may link one name to the other: one server, scan it once.
        if seen.contains(&real) {
            continue;
        }
        match host.read(&real) {
            Ok(Some(_)) => {}
            Ok(None) => continue,
            Err(e) => {
                scan.errors.push(e);
                continue;
            }
        }
        seen.push(real.clone());
        let unit = unit_name(host, path);
        let mut l = Loader {
            host,
            scan,
            cwd: "/".into(),
            stack: Vec::new(),
            conf: Conf::default(),
        };
        l.load(&real);
        let (conf, cwd) = (l.conf, l.cwd);
        scan.facts.redis.push(RedisFacts::new(
            &real,
            conf.logfile
                .as_ref()
                .map(|d| (d.args[1].text.as_str(), &d.loc)),
            &conf.yes("syslog-enabled"),
            &conf.yes("daemonize"),
            &cwd,
        ));
        listeners(host, scan, &real, &unit, conf);
    }
}

/// Debian ships redis-server.service, RHEL redis.service; /etc/redis.conf is RHEL's.
fn unit_name(host: &Host, path: &str) -> String {
    let has = |p: &str| host.root.exists(p);
    let rhel = path == "/etc/redis.conf"
        || has("/etc/redhat-release")
        || (!has("/etc/debian_version")
            && (has("/usr/lib/systemd/system/redis.service")
                && !has("/usr/lib/systemd/system/redis-server.service")));
    if rhel { "redis" } else { "redis-server" }.into()
}

#[derive(Debug, Clone)]
struct Arg {
    text: String,
    /// Bytes of the argument in the file; inside the quotes when it is one quoted string.
    span: Range<usize>,
}

#[derive(Debug, Clone)]
struct Directive {
    loc: Location,
    args: Vec<Arg>,
    /// Start of the next line (where a directive inserted after this one goes).
    next: usize,
    at_eof: bool,
}

#[derive(Debug, Default)]
struct Conf {
    port: Option<Directive>,
    tls_port: Option<Directive>,
    bind: Option<Directive>,
    unixsocket: Option<Directive>,
    backlog: Option<Directive>,
    /// For `services::facts`: where it logs.
    logfile: Option<Directive>,
    /// `syslog-enabled`, `daemonize`: the last value of each.
    flags: Vec<(String, Directive)>,
}

impl Conf {
    /// A yes/no directive's value, when set.
    fn yes(&self, name: &str) -> Option<bool> {
        let d = &self.flags.iter().rev().find(|(n, _)| n == name)?.1;
        Some(d.args.get(1)?.text.eq_ignore_ascii_case("yes"))
    }
}

struct Loader<'a> {
    host: &'a Host,
    scan: &'a mut Scan,
    /// redis-server's working directory while it reads the config (`dir` changes it).
    cwd: String,
    stack: Vec<String>,
    conf: Conf,
}

impl Loader<'_> {
    fn problem(&mut self, loc: &Location, message: String) {
        self.scan.problems.push(Problem {
            location: loc.clone(),
            message,
        });
    }

    fn load(&mut self, path: &str) {
        let text = match self.host.read(path) {
            Ok(Some(t)) => t,
            Ok(None) => return,
            Err(e) => {
                self.scan.errors.push(e);
                return;
            }
        };
        self.stack.push(path.to_string());
        let mut start = 0;
        let mut lineno = 0;
        while start < text.len() {
            lineno += 1;
            let (end, next) = match text[start..].find('\n') {
                Some(i) => (start + i, start + i + 1),
                None => (text.len(), text.len()),
            };
            let loc = Location {
                path: path.into(),
                line: lineno,
            };
            match split_args(&text, start, end) {
                Ok(args) if args.is_empty() => {}
                Ok(args) => self.directive(Directive {
                    loc,
                    args,
                    next,
                    at_eof: next == end,
                }),
                Err(msg) => {
                    self.problem(&loc, format!("redis: {msg}; redis-server refuses to start"))
                }
            }
            start = next;
        }
        self.stack.pop();
    }

    fn directive(&mut self, d: Directive) {
        let name = d.args[0].text.to_ascii_lowercase();
        match name.as_str() {
            "include" if d.args.len() == 2 => self.include(&d),
            "dir" if d.args.len() == 2 => self.cwd = root::join(&self.cwd, &d.args[1].text),
            "port" => self.conf.port = Some(d),
            "tls-port" => self.conf.tls_port = Some(d),
            "bind" => self.conf.bind = Some(d),
            "unixsocket" => self.conf.unixsocket = Some(d),
            "tcp-backlog" => self.conf.backlog = Some(d),
            "logfile" if d.args.len() == 2 => self.conf.logfile = Some(d),
            "syslog-enabled" | "daemonize" => self.conf.flags.push((name, d)),
            _ => {}
        }
    }

    fn include(&mut self, d: &Directive) {
        let pat = d.args[1].text.clone();
        let full = root::join(&self.cwd, &pat);
        let glob = pat.contains(['*', '?', '[']);
        let files = match self.host.glob(&full) {
            Ok(f) => f,
            Err(e) => {
                self.scan.errors.push(Error::at(&d.loc.path, d.loc.line, e));
                return;
            }
        };
        if files.is_empty() && !glob {
            self.problem(
                &d.loc,
                format!(
                    "redis: include {pat}: {full} does not exist; redis-server refuses to \
                     start (\"can't open config file\")"
                ),
            );
            return;
        }
        for f in files {
            let real = match self.host.resolve(&f) {
                Ok(Resolved::Path(p)) => p,
                Ok(Resolved::DevNull) => continue,
                Err(e) => {
                    self.scan.errors.push(e);
                    continue;
                }
            };
            if self.stack.contains(&real) {
                self.scan.errors.push(Error::at(
                    &d.loc.path,
                    d.loc.line,
                    format!(
                        "redis: include loop: {real} is already being read; redis-server \
                         would recurse until it crashes"
                    ),
                ));
                continue;
            }
            self.load(&real);
        }
    }
}

/// `sdssplitargs` over one line, with byte spans. Empty for blank and `#` comment lines.
fn split_args(text: &str, start: usize, end: usize) -> Result<Vec<Arg>, String> {
    let line = &text[start..end];
    let trimmed = line.trim_start_matches([' ', '\t', '\r']);
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return Ok(Vec::new());
    }
    let b = text.as_bytes();
    let space = |c: u8| matches!(c, b' ' | b'\t' | b'\r' | b'\n' | b'\x0b' | b'\x0c');
    let mut args = Vec::new();
    let mut i = start;
    loop {
        while i < end && space(b[i]) {
            i += 1;
        }
        if i >= end {
            return Ok(args);
        }
        let tok_start = i;
        let mut out: Vec<u8> = Vec::new();
        let mut quoted: Option<Range<usize>> = None;
        let mut pieces = 0;
        while i < end && !space(b[i]) {
            pieces += 1;
            match b[i] {
                b'"' => {
                    let s = i + 1;
                    let mut j = s;
                    loop {
                        if j >= end {
                            return Err("unbalanced quotes in configuration line".into());
                        }
                        match b[j] {
                            b'\\'
                                if j + 3 < end
                                    && b[j + 1] == b'x'
                                    && b[j + 2].is_ascii_hexdigit()
                                    && b[j + 3].is_ascii_hexdigit() =>
                            {
                                let hex = &text[j + 2..j + 4];
                                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                                j += 4;
                            }
                            b'\\' if j + 1 < end => {
                                out.push(match b[j + 1] {
                                    b'n' => b'\n',
                                    b'r' => b'\r',
                                    b't' => b'\t',
                                    b'b' => 8,
                                    b'a' => 7,
                                    c => c,
                                });
                                j += 2;
                            }
                            b'"' => break,
                            c => {
                                out.push(c);
                                j += 1;
                            }
                        }
                    }
                    if j + 1 < end && !space(b[j + 1]) {
                        return Err("closing quote must be followed by a space".into());
                    }
                    quoted = Some(s..j);
                    i = j + 1;
                }
                b'\'' => {
                    let s = i + 1;
                    let mut j = s;
                    loop {
                        if j >= end {
                            return Err("unbalanced quotes in configuration line".into());
                        }
                        match b[j] {
                            b'\\' if j + 1 < end && b[j + 1] == b'\'' => {
                                out.push(b'\'');
                                j += 2;
                            }
                            b'\'' => break,
                            c => {
                                out.push(c);
                                j += 1;
                            }
                        }
                    }
                    if j + 1 < end && !space(b[j + 1]) {
                        return Err("closing quote must be followed by a space".into());
                    }
                    quoted = Some(s..j);
                    i = j + 1;
                }
                c => {
                    out.push(c);
                    i += 1;
                }
            }
        }
        let span = match quoted {
            Some(q) if pieces == 1 => q,
            _ => tok_start..i,
        };
        args.push(Arg {
            text: String::from_utf8_lossy(&out).into_owned(),
            span,
        });
    }
}

/// A strict integer as Redis' string2ll reads it, within `lo..=hi`.
fn redis_int(s: &str, lo: i64, hi: i64) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if digits.len() > 1 && digits.starts_with('0') {
        return None;
    }
    s.parse::<i64>().ok().filter(|n| (lo..=hi).contains(n))
}

fn port_of(scan: &mut Scan, d: Option<&Directive>, default: i64) -> i64 {
    let Some(d) = d else { return default };
    let name = &d.args[0].text;
    match d.args.get(1).map(|a| a.text.as_str()) {
        Some(v) if d.args.len() == 2 => match redis_int(v, 0, 65535) {
            Some(n) => n,
            None => {
                scan.problems.push(Problem {
                    location: d.loc.clone(),
                    message: format!(
                        "redis: {name} {v} is not a port number (0-65535); redis-server \
                         refuses to start"
                    ),
                });
                default
            }
        },
        _ => {
            scan.problems.push(Problem {
                location: d.loc.clone(),
                message: format!("redis: {name} takes one argument; redis-server refuses to start"),
            });
            default
        }
    }
}

fn tcp(addr: &str, port: i64) -> String {
    let host = match addr {
        "*" => "*".to_string(),
        "::*" => "[::]".to_string(),
        a if a.contains(':') && !a.starts_with('[') => format!("[{a}]"),
        a => a.to_string(),
    };
    format!("tcp {host}:{port}")
}

fn listeners(host: &Host, scan: &mut Scan, main: &str, unit: &str, conf: Conf) {
    let port = port_of(scan, conf.port.as_ref(), 6379);
    let tls_port = port_of(scan, conf.tls_port.as_ref(), 0);
    let binds: Vec<String> = match &conf.bind {
        Some(d) => d.args[1..]
            .iter()
            .map(|a| a.text.strip_prefix('-').unwrap_or(&a.text).to_string())
            .collect(),
        None => vec!["*".into(), "::*".into()],
    };
    let mut addresses = Vec::new();
    for p in [port, tls_port] {
        if p > 0 {
            addresses.extend(binds.iter().map(|b| tcp(b, p)));
        }
    }
    if let Some(d) = &conf.unixsocket {
        match d.args.get(1) {
            Some(a) if d.args.len() == 2 => addresses.push(format!("unix {}", a.text)),
            _ => scan.problems.push(Problem {
                location: d.loc.clone(),
                message: "redis: unixsocket takes one path; redis-server refuses to start".into(),
            }),
        }
    }

    let (requested, source, setter) = match &conf.backlog {
        Some(d) => {
            let v = d.args.get(1).map(|a| a.text.as_str()).unwrap_or_default();
            let n = if d.args.len() != 2 {
                scan.problems.push(Problem {
                    location: d.loc.clone(),
                    message: "redis: tcp-backlog takes one number (a `#` after it is not a \
                              comment); redis-server refuses to start"
                        .into(),
                });
                None
            } else {
                let n = redis_int(v, 0, i32::MAX as i64);
                if n.is_none() {
                    scan.problems.push(Problem {
                        location: d.loc.clone(),
                        message: format!(
                            "redis: tcp-backlog {v} is not a number between 0 and \
                             2147483647; redis-server refuses to start"
                        ),
                    });
                }
                n
            };
            // Replace every argument: that also repairs `tcp-backlog 511 # note`.
            let setter = match (d.args.get(1), d.args.last()) {
                (Some(first), Some(last)) => Some(Setter {
                    line: None,
                    path: d.loc.path.clone(),
                    range: first.span.start..last.span.end.max(first.span.start),
                    template: "{}".into(),
                }),
                _ => None,
            };
            (n, Source::At(d.loc.clone()), setter)
        }
        None => {
            // After the `port` line when there is one, else at the end of the main file.
            let setter = match &conf.port {
                Some(p) => Setter {
                    line: None,
                    path: p.loc.path.clone(),
                    range: p.next..p.next,
                    template: if p.at_eof {
                        "\ntcp-backlog {}".into()
                    } else {
                        "tcp-backlog {}\n".into()
                    },
                },
                None => end_of_file(host, main),
            };
            (
                Some(DEFAULT_BACKLOG),
                Source::Default("Redis default tcp-backlog 511".into()),
                setter.into(),
            )
        }
    };
    if addresses.is_empty() {
        return;
    }
    for address in addresses {
        scan.listeners.push(Listener {
            service: SERVICE.into(),
            instance: unit.into(),
            address,
            requested,
            source: source.clone(),
            unit: unit.to_string().into(),
            action: Action::Restart,
            action_reason: ACTION_REASON.into(),
            setter: setter.clone(),
            refuses_above_somaxconn: false,
            control: false,
            // redis-server has no config-test mode (see tests/checker_redis.rs for how the
            // edited file is checked there).
            checker: Default::default(),
        });
    }
}

fn end_of_file(host: &Host, main: &str) -> Setter {
    // Already read and cached by host.read.
    let text = host.read(main).ok().flatten().unwrap_or_default();
    let template = if text.is_empty() || text.ends_with('\n') {
        "tcp-backlog {}\n"
    } else {
        "\ntcp-backlog {}\n"
    };
    Setter {
        line: None,
        path: main.into(),
        range: text.len()..text.len(),
        template: template.into(),
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::Path;

    use super::*;
    use crate::services::testutil::{self, fixture, read, row, summary};

    fn scan_dir(dir: &Path) -> Scan {
        testutil::scan_dir(dir, scan)
    }

    fn at(path: &str, line: usize) -> Source {
        Source::At(Location {
            path: path.into(),
            line,
        })
    }

    #[test]
    fn debian_stock() {
        let s = scan_dir(&fixture("debian-stock"));
        assert_eq!(
            summary(&s),
            vec![
                row("redis-server", "tcp 127.0.0.1:6379", Some(511), 147),
                row("redis-server", "tcp [::1]:6379", Some(511), 147),
            ]
        );
        for l in &s.listeners {
            assert_eq!(l.service, "redis");
            assert_eq!(l.unit, "redis-server");
            assert_eq!(l.action, Action::Restart);
            assert_eq!(l.source, at("/etc/redis/redis.conf", 147));
        }
        assert!(s.problems.is_empty() && s.errors.is_empty());
        let (dir, after) = testutil::edit_all("debian-stock", scan);
        let text = read(dir.path(), "/etc/redis/redis.conf");
        assert!(text.contains("# in order to get the desired effect.\ntcp-backlog 4096\n\n"));
        let stock = read(&fixture("debian-stock"), "/etc/redis/redis.conf");
        assert_eq!(
            text,
            stock.replace("\ntcp-backlog 511\n", "\ntcp-backlog 4096\n")
        );
        assert_eq!(
            summary(&after),
            vec![
                row("redis-server", "tcp 127.0.0.1:6379", Some(4096), 147),
                row("redis-server", "tcp [::1]:6379", Some(4096), 147),
            ]
        );
    }

    #[test]
    fn includes_globs_dir_and_last_wins() {
        let s = scan_dir(&fixture("redis-include"));
        assert_eq!(
            summary(&s),
            vec![
                row("redis-server", "tcp 127.0.0.1:6379", Some(2048), 2),
                row("redis-server", "tcp [::1]:6379", Some(2048), 2),
                row(
                    "redis-server",
                    "unix /run/redis/redis-server.sock",
                    Some(2048),
                    2
                ),
            ]
        );
        // the relative include was read from `dir`, and its quoted value won
        assert_eq!(s.listeners[0].source, at("/var/lib/redis/local.conf", 2));
        assert!(s.problems.is_empty() && s.errors.is_empty());
        let (dir, after) = testutil::edit_all("redis-include", scan);
        assert_eq!(
            read(dir.path(), "/var/lib/redis/local.conf"),
            "# read last: wins\nTCP-BACKLOG \"4096\"\n"
        );
        assert_eq!(
            read(dir.path(), "/etc/redis/conf.d/20-backlog.conf"),
            "tcp-backlog 1024\n"
        );
        assert!(
            summary(&after)
                .iter()
                .all(|r| r.2 == Some(4096) && r.3 == 2)
        );
    }

    #[test]
    fn rhel_defaults_tls_port_and_insertion() {
        let s = scan_dir(&fixture("redis-default"));
        assert_eq!(
            summary(&s),
            vec![
                row("redis", "tcp *:6380", Some(511), 0),
                row("redis", "tcp [::]:6380", Some(511), 0),
                row("redis", "tcp *:6381", Some(511), 0),
                row("redis", "tcp [::]:6381", Some(511), 0),
            ]
        );
        assert_eq!(
            s.listeners[0].source,
            Source::Default("Redis default tcp-backlog 511".into())
        );
        assert_eq!(s.listeners[0].unit, "redis");
        let (dir, after) = testutil::edit_all("redis-default", scan);
        assert_eq!(
            read(dir.path(), "/etc/redis.conf"),
            "# RHEL layout, nothing about the backlog\nport 6380\ntcp-backlog 4096\n\
             tls-port 6381\nprotected-mode yes\n"
        );
        assert!(
            summary(&after)
                .iter()
                .all(|r| r.2 == Some(4096) && r.3 == 3)
        );
    }

    #[test]
    fn no_port_line_inserts_at_the_end_of_the_main_file() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("etc/redis")).unwrap();
        fs::write(dir.path().join("etc/redis/redis.conf"), "bind 127.0.0.1").unwrap();
        let s = scan_dir(dir.path());
        assert_eq!(
            summary(&s),
            vec![row("redis-server", "tcp 127.0.0.1:6379", Some(511), 0)]
        );
        testutil::apply_setters(dir.path(), &s, "4096");
        assert_eq!(
            read(dir.path(), "/etc/redis/redis.conf"),
            "bind 127.0.0.1\ntcp-backlog 4096\n"
        );
        assert_eq!(
            summary(&scan_dir(dir.path())),
            vec![row("redis-server", "tcp 127.0.0.1:6379", Some(4096), 2)]
        );
    }

    #[test]
    fn malformed_lines_missing_include_and_loop() {
        let s = scan_dir(&fixture("redis-bad"));
        // port 0: no TCP; the unix socket still uses tcp-backlog, which is unusable here
        assert_eq!(
            summary(&s),
            vec![row("redis-server", "unix /run/redis.sock", None, 3)]
        );
        let p = "/etc/redis/redis.conf".to_string();
        assert_eq!(
            testutil::problems(&s),
            vec![
                (p.clone(), 4, "redis: include /etc/redis/missing.conf: /etc/redis/missing.conf does not exist; redis-server refuses to start (\"can't open config file\")".into()),
                (p.clone(), 6, "redis: unbalanced quotes in configuration line; redis-server refuses to start".into()),
                (p, 3, "redis: tcp-backlog takes one number (a `#` after it is not a comment); redis-server refuses to start".into()),
            ]
        );
        let errors: Vec<String> = s.errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            errors,
            [
                "/etc/redis/loop.conf:1: redis: include loop: /etc/redis/redis.conf is already being read; redis-server would recurse until it crashes"
            ]
        );
        // the setter replaces all the arguments, which also repairs the line
        let (dir, after) = testutil::edit_all("redis-bad", scan);
        assert!(read(dir.path(), "/etc/redis/redis.conf").contains("\ntcp-backlog 4096\n"));
        assert_eq!(
            summary(&after),
            vec![row("redis-server", "unix /run/redis.sock", Some(4096), 3)]
        );
    }

    #[test]
    fn sdssplitargs_quoting() {
        let args = |s: &str| {
            split_args(s, 0, s.len()).map(|v| {
                v.into_iter()
                    .map(|a| (a.text, s[a.span].to_string()))
                    .collect::<Vec<_>>()
            })
        };
        let p = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(args("  # c"), Ok(vec![]));
        assert_eq!(
            args("a \"x\\\"y\\x41\" 'it\\'s'"),
            Ok(vec![
                p("a", "a"),
                p("x\"yA", "x\\\"y\\x41"),
                p("it's", "it\\'s")
            ])
        );
        assert_eq!(args("a b#c"), Ok(vec![p("a", "a"), p("b#c", "b#c")]));
        assert!(args("a \"b").is_err());
        assert!(args("a 'b'c").is_err());
        assert_eq!(redis_int("511", 0, 10_000), Some(511));
        assert_eq!(redis_int("-1", 0, 10_000), None);
        assert_eq!(redis_int("+1", 0, 10_000), None);
        assert_eq!(redis_int("0511", 0, 10_000), None);
    }

    /// The tokenizer is lossless: on every line of the stock and hand-made configs, the
    /// argument spans are in order and the bytes between them are only blanks and quotes,
    /// so spans plus trivia give back the file byte for byte.
    #[test]
    fn spans_cover_every_line_losslessly() {
        let files = [
            "debian-stock/etc/redis/redis.conf",
            "redis-include/etc/redis/redis.conf",
            "redis-include/etc/redis/conf.d/10-sock.conf",
            "redis-include/etc/redis/conf.d/20-backlog.conf",
            "redis-include/var/lib/redis/local.conf",
            "redis-default/etc/redis.conf",
            "redis-bad/etc/redis/loop.conf",
        ];
        for f in files {
            let text = fs::read_to_string(fixture(f)).unwrap();
            let mut rebuilt = String::new();
            let mut start = 0;
            while start < text.len() {
                let end = text[start..].find('\n').map_or(text.len(), |i| start + i);
                let args = split_args(&text, start, end).unwrap();
                let mut pos = start;
                for a in &args {
                    let gap = &text[pos..a.span.start];
                    assert!(gap.bytes().all(|b| b" \t\"'".contains(&b)), "{f}: {gap:?}");
                    rebuilt.push_str(gap);
                    rebuilt.push_str(&text[a.span.clone()]);
                    pos = a.span.end;
                }
                let rest = &text[pos..end];
                if !args.is_empty() {
                    assert!(
                        rest.bytes().all(|b| b" \t\r\"'".contains(&b)),
                        "{f}: {rest:?}"
                    );
                }
                rebuilt.push_str(rest);
                if end < text.len() {
                    rebuilt.push('\n');
                }
                start = end + 1;
            }
            assert_eq!(rebuilt, text, "{f}");
        }
    }
}
