//! memcached: `-b N` / `--listen-backlog=N` (default 1024), one value for every listening
//! socket.
//!
//! Debian `/etc/memcached.conf` is read by /usr/share/memcached/scripts/
//! systemd-memcached-wrapper: on each line a `#` (not after a backslash) starts a comment,
//! lines are trimmed, blank lines and `-d`/`-h` lines are dropped, lines not starting with
//! `-` (`logfile ...`) are wrapper directives, and the rest is joined with spaces into one
//! command line. So an option's argument may even sit on the next line.
//!
//! RHEL `/etc/sysconfig/memcached` is an EnvironmentFile for
//! `memcached -p ${PORT} -u ${USER} -m ${CACHESIZE} -c ${MAXCONN} $OPTIONS`: `PORT` is one
//! word, `OPTIONS` is split on whitespace and comes last, so its options win.
//!
//! memcached itself (memcached.c, 1.6): `-p` TCP port (0 = no TCP), `-l` addresses
//! (repeatable, `,`/`;` separated, each `host`, `host:port`, `[v6]`, `[v6]:port`, `*`,
//! optionally `notls:`), no `-l` = every address (an IPv4 and an IPv6 socket), `-s PATH`
//! a unix socket that disables TCP entirely, `-b` read with atoi (`-b abc` is 0, checked
//! with ss). UDP (`-U`) has no listen backlog. There is no include and no config test.

use std::ops::Range;

use super::{Action, Listener, Location, Problem, Scan, Setter, Source};
use crate::host::Host;
use crate::root::Resolved;

const SERVICE: &str = "memcached";
const UNIT: &str = "memcached";
const ACTION_REASON: &str = "memcached reads -b only when it starts: restart it";
const DEFAULT_BACKLOG: i64 = 1024;
const DEFAULT_PORT: i64 = 11211;
/// Short options that take an argument (memcached 1.6 getopt string).
const WITH_ARG: &[u8] = b"apsUmclluPfntDRbBIYeoN";

pub fn scan(host: &Host, scan: &mut Scan) {
    if let Some((path, text)) = read(host, scan, "/etc/memcached.conf") {
        let (words, insert) = debian_words(&path, &text);
        let after_p = |opts: &Opts| -> Setter {
            // After the line holding the port option, else at the end of the file.
            let at = opts.port.as_ref().map(|w| w.line_end).unwrap_or(insert);
            let eof_no_nl = at == text.len() && !text.is_empty() && !text.ends_with('\n');
            Setter {
                line: None,
                path: path.clone().into(),
                range: at..at,
                template: if eof_no_nl { "\n-b {}\n" } else { "-b {}\n" }.into(),
            }
        };
        let opts = parse_opts(scan, &words);
        let insert = after_p(&opts);
        listeners(scan, opts, insert);
    }
    if let Some((path, text)) = read(host, scan, "/etc/sysconfig/memcached") {
        let (words, insert) = rhel_words(&path, &text);
        let opts = parse_opts(scan, &words);
        listeners(scan, opts, insert);
    }
}

fn read(host: &Host, scan: &mut Scan, path: &str) -> Option<(String, std::sync::Arc<str>)> {
    let real = match host.resolve(path) {
        Ok(Resolved::Path(p)) => p,
        Ok(Resolved::DevNull) => return None,
        Err(e) => {
            scan.errors.push(e);
            return None;
        }
    };
    match host.read(&real) {
        Ok(Some(t)) => Some((real, t)),
        Ok(None) => None,
        Err(e) => {
            scan.errors.push(e);
            None
        }
    }
}

/// One word of memcached's command line, with where it sits in the config.
#[derive(Debug, Clone)]
struct Word {
    text: String,
    loc: Location,
    span: Range<usize>,
    /// End of its line including the newline (Debian: where a new line goes after it).
    line_end: usize,
}

/// Split `text[start..end]` on blanks into words (the wrapper's shell does the same; quotes
/// are not used in these files).
fn split_words(text: &str, start: usize, end: usize, loc: &Location, line_end: usize) -> Vec<Word> {
    let mut out = Vec::new();
    let mut i = start;
    let b = text.as_bytes();
    while i < end {
        while i < end && matches!(b[i], b' ' | b'\t' | b'\r') {
            i += 1;
        }
        let s = i;
        while i < end && !matches!(b[i], b' ' | b'\t' | b'\r') {
            i += 1;
        }
        if s < i {
            out.push(Word {
                text: text[s..i].to_string(),
                loc: loc.clone(),
                span: s..i,
                line_end,
            });
        }
    }
    out
}

fn lines(text: &str) -> impl Iterator<Item = (usize, usize, usize, usize)> + '_ {
    // (line number, start, end without newline, start of the next line)
    let mut start = 0;
    let mut n = 0;
    std::iter::from_fn(move || {
        if start >= text.len() {
            return None;
        }
        n += 1;
        let (end, next) = match text[start..].find('\n') {
            Some(i) => (start + i, start + i + 1),
            None => (text.len(), text.len()),
        };
        let s = start;
        start = next;
        Some((n, s, end, next))
    })
}

/// Debian: the words the wrapper hands to memcached, and the end of the file.
fn debian_words(path: &str, text: &str) -> (Vec<Word>, usize) {
    let mut words = Vec::new();
    for (n, start, end, next) in lines(text) {
        let line = &text[start..end];
        // An unescaped `#` ends the useful part of the line.
        let b = line.as_bytes();
        let cut = (0..b.len())
            .find(|&i| b[i] == b'#' && (i == 0 || b[i - 1] != b'\\'))
            .unwrap_or(b.len());
        let body = line[..cut].trim();
        if body.is_empty() || body.starts_with("-d") || body.starts_with("-h") {
            continue;
        }
        if !body.starts_with('-') {
            continue; // wrapper directive such as `logfile`
        }
        let loc = Location {
            path: path.into(),
            line: n,
        };
        words.extend(split_words(text, start, start + cut, &loc, next));
    }
    (words, text.len())
}

/// RHEL: `-p $PORT` then the words of `$OPTIONS`, and where to add `-b` when it is missing.
fn rhel_words(path: &str, text: &str) -> (Vec<Word>, Setter) {
    let mut port: Option<Word> = None;
    let mut options: Option<(Vec<Word>, usize)> = None;
    for (n, start, end, next) in lines(text) {
        let line = &text[start..end];
        let body = line.trim_start();
        if body.is_empty() || body.starts_with('#') || body.starts_with(';') {
            continue;
        }
        let Some(eq) = body.find('=') else { continue };
        let key = body[..eq].trim();
        let vstart = start + (line.len() - body.len()) + eq + 1;
        let raw = text[vstart..end].trim_end();
        // Value content without its quotes.
        let (cs, ce) = match raw.as_bytes().first() {
            Some(q @ (b'"' | b'\'')) if raw.len() >= 2 && raw.as_bytes()[raw.len() - 1] == *q => {
                (vstart + 1, vstart + raw.len() - 1)
            }
            _ => (vstart, vstart + raw.len()),
        };
        let loc = Location {
            path: path.into(),
            line: n,
        };
        match key {
            "PORT" => {
                port = Some(Word {
                    text: text[cs..ce].to_string(),
                    loc,
                    span: cs..ce,
                    line_end: next,
                })
            }
            "OPTIONS" => options = Some((split_words(text, cs, ce, &loc, next), ce)),
            _ => {}
        }
    }
    let mut words = Vec::new();
    if let Some(p) = port {
        let mut flag = p.clone();
        flag.text = "-p".into();
        words.push(flag);
        words.push(p);
    }
    let insert = match &options {
        // Inside the OPTIONS quotes, after its last character.
        Some((_, ce)) => Setter {
            line: None,
            path: path.into(),
            range: *ce..*ce,
            template: if text[..*ce].ends_with(['"', '\'', '=']) {
                "-b {}".into()
            } else {
                " -b {}".into()
            },
        },
        None => Setter {
            line: None,
            path: path.into(),
            range: text.len()..text.len(),
            template: if text.is_empty() || text.ends_with('\n') {
                "OPTIONS=\"-b {}\"\n".into()
            } else {
                "\nOPTIONS=\"-b {}\"\n".into()
            },
        },
    };
    if let Some((w, _)) = options {
        words.extend(w);
    }
    (words, insert)
}

#[derive(Debug, Default)]
struct Opts {
    /// The word holding the port value.
    port: Option<Word>,
    listen: Vec<Word>,
    socket: Option<Word>,
    backlog: Option<Word>,
}

/// getopt over the words: `-b N`, `-bN`, `--listen-backlog=N`, `--listen-backlog N`, and the
/// same for -p/-l/-s; grouped flags (`-vv`) are skipped.
fn parse_opts(scan: &mut Scan, words: &[Word]) -> Opts {
    let mut o = Opts::default();
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        i += 1;
        let (opt, inline): (u8, Option<Word>) = if let Some(long) = w.text.strip_prefix("--") {
            let (name, val) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.len())),
                None => (long, None),
            };
            let opt = match name {
                "listen-backlog" => b'b',
                "port" => b'p',
                "listen" => b'l',
                "unix-socket" => b's',
                _ => {
                    // Other long options with `=value` carry their argument; without one we
                    // cannot tell, so the next word is read as an option again.
                    continue;
                }
            };
            let inline = val.map(|len| Word {
                text: w.text[w.text.len() - len..].to_string(),
                span: w.span.end - len..w.span.end,
                ..w.clone()
            });
            (opt, inline)
        } else if let Some(short) = w.text.strip_prefix('-') {
            // Walk grouped flags until one that takes an argument.
            let bytes = short.as_bytes();
            let Some(k) = bytes.iter().position(|c| WITH_ARG.contains(c)) else {
                continue;
            };
            let rest = k + 1;
            let inline = (rest < bytes.len()).then(|| Word {
                text: short[rest..].to_string(),
                span: w.span.start + 1 + rest..w.span.end,
                ..w.clone()
            });
            (bytes[k], inline)
        } else {
            continue; // a stray word: getopt would stop or permute; ignore it
        };
        let arg = match inline {
            Some(a) => Some(a),
            None if WITH_ARG.contains(&opt) => {
                let a = words.get(i).cloned();
                i += 1;
                a
            }
            None => None,
        };
        let Some(arg) = arg else {
            scan.problems.push(Problem {
                location: w.loc.clone(),
                message: format!(
                    "memcached: {} needs an argument; memcached refuses to start",
                    w.text
                ),
            });
            continue;
        };
        match opt {
            b'b' => o.backlog = Some(arg),
            b'p' => o.port = Some(arg),
            b'l' => o.listen.push(arg),
            b's' => o.socket = Some(arg),
            _ => {}
        }
    }
    o
}

/// C atoi: leading blanks, a sign, digits; anything else stops it (so "abc" is 0).
fn atoi(s: &str) -> (i64, bool) {
    let t = s.trim_start();
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let n = digits.bytes().take_while(u8::is_ascii_digit).count();
    let v = digits[..n]
        .parse::<i64>()
        .unwrap_or(if n == 0 { 0 } else { i32::MAX as i64 })
        .min(i32::MAX as i64);
    let clean = n > 0 && n == digits.len();
    (if neg { -v } else { v }, clean)
}

fn tcp(host: &str, port: i64) -> String {
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    format!("tcp {host}:{port}")
}

fn listeners(scan: &mut Scan, o: Opts, insert: Setter) {
    let mut addresses = Vec::new();
    if let Some(s) = &o.socket {
        // -s disables TCP and UDP altogether.
        addresses.push(format!("unix {}", s.text));
    } else {
        let port = match &o.port {
            Some(p) => atoi(&p.text).0,
            None => DEFAULT_PORT,
        };
        if port > 0 && o.listen.is_empty() {
            addresses.push(tcp("*", port));
            addresses.push(tcp("[::]", port));
        } else if port > 0 {
            for w in &o.listen {
                for entry in w.text.split([',', ';']).filter(|e| !e.is_empty()) {
                    match listen_entry(entry, port) {
                        Some(a) => addresses.push(a),
                        None => scan.problems.push(Problem {
                            location: w.loc.clone(),
                            message: format!(
                                "memcached: -l {entry} is not an address memcached can \
                                 read; it refuses to start"
                            ),
                        }),
                    }
                }
            }
        }
    }
    let (requested, source, setter) = match &o.backlog {
        Some(b) => {
            let (n, clean) = atoi(&b.text);
            if !clean {
                scan.problems.push(Problem {
                    location: b.loc.clone(),
                    message: format!(
                        "memcached: -b {} is not a number; memcached reads it as {n} \
                         (C atoi)",
                        b.text
                    ),
                });
            }
            let setter = Setter {
                line: None,
                path: b.loc.path.clone(),
                range: b.span.clone(),
                template: "{}".into(),
            };
            (Some(n), Source::At(b.loc.clone()), setter)
        }
        None => (
            Some(DEFAULT_BACKLOG),
            Source::Default("memcached default -b 1024".into()),
            insert,
        ),
    };
    for address in addresses {
        scan.listeners.push(Listener {
            service: SERVICE.into(),
            instance: UNIT.into(),
            address,
            requested,
            source: source.clone(),
            unit: UNIT.into(),
            action: Action::Restart,
            action_reason: ACTION_REASON.into(),
            setter: Some(setter.clone()),
            refuses_above_somaxconn: false,
            control: false,
            // memcached has no config-test mode.
            checker: Default::default(),
        });
    }
}

/// One `-l` entry as memcached's server_sockets() reads it.
fn listen_entry(entry: &str, port: i64) -> Option<String> {
    let mut p = entry.strip_prefix("notls:").unwrap_or(entry);
    let mut host6: Option<&str> = None;
    if let Some(rest) = p.strip_prefix('[') {
        let close = rest.find(']')?;
        host6 = Some(&rest[..close]);
        p = &rest[close + 1..];
    }
    let mut the_port = port;
    if let Some(colon) = p.find(':') {
        // host:port, unless more colons follow (a bare IPv6 address without a port).
        if !p[colon + 1..].contains(':') || host6.is_some() {
            let digits = &p[colon + 1..];
            the_port = digits.parse::<u16>().ok()?.into();
            p = &p[..colon];
        }
    }
    let host = host6.unwrap_or(p);
    Some(tcp(if host == "*" { "*" } else { host }, the_port))
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

    const M: &str = "memcached";

    #[test]
    fn debian_stock() {
        let s = scan_dir(&fixture("debian-stock"));
        assert_eq!(
            summary(&s),
            vec![row(M, "tcp 127.0.0.1:11211", Some(1024), 0)]
        );
        let l = &s.listeners[0];
        assert_eq!(
            (&*l.service, &*l.unit, l.action),
            ("memcached", "memcached", Action::Restart)
        );
        assert_eq!(
            l.source,
            Source::Default("memcached default -b 1024".into())
        );
        assert!(s.problems.is_empty() && s.errors.is_empty());
        let (dir, after) = testutil::edit_all("debian-stock", scan);
        assert!(
            read(dir.path(), "/etc/memcached.conf").contains(
                "# Default connection port is 11211\n-p 11211\n-b 4096\n\n# Run the daemon"
            )
        );
        assert_eq!(
            summary(&after),
            vec![row(M, "tcp 127.0.0.1:11211", Some(4096), 27)]
        );
    }

    #[test]
    fn debian_listen_lists_ports_and_last_backlog_wins() {
        let s = scan_dir(&fixture("memcached-debian"));
        assert_eq!(
            summary(&s),
            vec![
                row(M, "tcp 127.0.0.1:11311", Some(2048), 10),
                row(M, "tcp [::1]:11312", Some(2048), 10),
                row(M, "tcp 10.0.0.5:11311", Some(2048), 10),
            ]
        );
        assert!(s.problems.is_empty() && s.errors.is_empty());
        let (dir, after) = testutil::edit_all("memcached-debian", scan);
        assert!(
            read(dir.path(), "/etc/memcached.conf")
                .ends_with("-U 0\n-b 512\n--listen-backlog=4096\n")
        );
        assert!(
            summary(&after)
                .iter()
                .all(|r| r.2 == Some(4096) && r.3 == 10)
        );
    }

    #[test]
    fn unix_socket_disables_tcp_and_atoi_reads_garbage_as_zero() {
        let s = scan_dir(&fixture("memcached-unix"));
        assert_eq!(
            summary(&s),
            vec![row(M, "unix /run/memcached/memcached.sock", Some(0), 5)]
        );
        assert_eq!(
            testutil::problems(&s),
            vec![(
                "/etc/memcached.conf".into(),
                5,
                "memcached: -b abc is not a number; memcached reads it as 0 (C atoi)".into()
            )]
        );
        let (dir, after) = testutil::edit_all("memcached-unix", scan);
        assert!(read(dir.path(), "/etc/memcached.conf").ends_with("-p 11211\n-b 4096\n"));
        assert_eq!(
            summary(&after),
            vec![row(M, "unix /run/memcached/memcached.sock", Some(4096), 5)]
        );
        assert!(after.problems.is_empty());
    }

    #[test]
    fn rhel_sysconfig_options() {
        let s = scan_dir(&fixture("memcached-rhel"));
        assert_eq!(
            summary(&s),
            vec![
                row(M, "tcp 127.0.0.1:11211", Some(1024), 0),
                row(M, "tcp [::1]:11211", Some(1024), 0),
            ]
        );
        let (dir, after) = testutil::edit_all("memcached-rhel", scan);
        assert_eq!(
            read(dir.path(), "/etc/sysconfig/memcached"),
            "PORT=\"11211\"\nUSER=\"memcached\"\nMAXCONN=\"1024\"\nCACHESIZE=\"64\"\n\
             OPTIONS=\"-l 127.0.0.1,::1 -b 4096\"\n"
        );
        assert!(
            summary(&after)
                .iter()
                .all(|r| r.2 == Some(4096) && r.3 == 5)
        );
    }

    #[test]
    fn no_listen_means_every_address_and_rhel_without_options() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("etc/sysconfig")).unwrap();
        fs::write(dir.path().join("etc/memcached.conf"), "-m 64\n-b2000").unwrap();
        fs::write(dir.path().join("etc/sysconfig/memcached"), "PORT=11300").unwrap();
        let s = scan_dir(dir.path());
        assert_eq!(
            summary(&s),
            vec![
                row(M, "tcp *:11211", Some(2000), 2),
                row(M, "tcp [::]:11211", Some(2000), 2),
                row(M, "tcp *:11300", Some(1024), 0),
                row(M, "tcp [::]:11300", Some(1024), 0),
            ]
        );
        testutil::apply_setters(dir.path(), &s, "4096");
        assert_eq!(read(dir.path(), "/etc/memcached.conf"), "-m 64\n-b4096");
        assert_eq!(
            read(dir.path(), "/etc/sysconfig/memcached"),
            "PORT=11300\nOPTIONS=\"-b 4096\"\n"
        );
        assert!(
            summary(&scan_dir(dir.path()))
                .iter()
                .all(|r| r.2 == Some(4096))
        );
    }

    #[test]
    fn listen_entries() {
        assert_eq!(listen_entry("*", 1), Some("tcp *:1".into()));
        assert_eq!(
            listen_entry("notls:1.2.3.4:5", 1),
            Some("tcp 1.2.3.4:5".into())
        );
        assert_eq!(listen_entry("[::1]", 1), Some("tcp [::1]:1".into()));
        assert_eq!(listen_entry("fe80::1", 1), Some("tcp [fe80::1]:1".into()));
        assert_eq!(listen_entry("h:x", 1), None);
        assert_eq!(atoi("-1"), (-1, true));
        assert_eq!(atoi("12ab"), (12, false));
    }
}
