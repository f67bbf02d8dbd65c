//! `listen` lines to `Listener`s: one per listen line, and one per http server without
//! any (nginx then listens on *:80).
//!
//! Socket options (backlog= and friends) belong to an addr:port, not to a server block:
//! nginx opens one socket per addr:port and accepts the options on only one of its listen
//! lines. So every listen line is reported, but with the backlog its socket really gets,
//! and its setter edits the line nginx takes that socket's options from.

use rustc_hash::FxHashMap as HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::Range;
use std::sync::Arc;

use super::parser::Word;
use super::problem;
use crate::services::{Action, Listener, Location, Problem, Scan, Setter, Source};

/// NGX_LISTEN_BACKLOG on Linux.
const DEFAULT_BACKLOG: i64 = 511;
pub(super) const DEFAULT_REASON: &str = "nginx default 511 on Linux";
pub(super) const NO_LISTEN_REASON: &str = "no listen directive: nginx listens on *:80";
pub(super) const RELOAD_REASON: &str = "nginx reload re-creates the socket when backlog= changes";

/// A `server { }` block of http or stream.
pub(super) struct Server {
    pub stream: bool,
    /// Where its block starts (in-root path after links).
    pub path: Arc<str>,
    pub line: usize,
    /// Its first server_name's first name.
    pub name: Option<String>,
    pub listens: Vec<Listen>,
}

/// One listen line.
pub(super) struct Listen {
    path: Arc<str>,
    line: usize,
    addr: Addr,
    backlog: Option<Backlog>,
    /// Carries socket options (nginx's `lsopt.set`): only one line per addr:port may.
    sets_options: bool,
    default_server: bool,
    /// End of the address word: where ` backlog=N` goes, and its line.
    addr_end: usize,
    addr_end_line: usize,
    /// Line of the `backlog=` option.
    backlog_line: usize,
}

#[derive(Debug, Clone)]
enum Backlog {
    /// A valid value; the range is where its digits are in the file (None when escapes
    /// inside the word make the raw bytes differ from the value).
    Value(i64, Option<Range<usize>>),
    /// nginx rejects it; the range lets qfix still replace it.
    Invalid(Option<Range<usize>>),
}

#[derive(Debug, Clone)]
pub(super) enum Addr {
    Tcp {
        /// As displayed: `*`, `127.0.0.1`, `[::]`, `localhost`.
        host: String,
        port: u16,
        /// What nginx compares to find one socket, when it is not `host` itself: `*`,
        /// `[::]` and `0.0.0.0` alike (see `Addr::key`).
        key: Option<String>,
    },
    Unix(String),
}

impl Addr {
    pub fn display(&self) -> String {
        match self {
            Addr::Tcp { host, port, .. } => format!("tcp {host}:{port}"),
            Addr::Unix(p) => format!("unix {p}"),
        }
    }

    /// What nginx compares to find one socket: the TCP host's canonical spelling, or the
    /// unix path.
    pub fn key(&self) -> &str {
        match self {
            Addr::Tcp { host, key, .. } => key.as_deref().unwrap_or(host),
            Addr::Unix(p) => p,
        }
    }

    fn socket(&self, stream: bool) -> Socket<'_> {
        let (unix, port) = match self {
            Addr::Tcp { port, .. } => (false, *port),
            Addr::Unix(_) => (true, 0),
        };
        Socket {
            stream,
            unix,
            key: self.key(),
            port,
        }
    }
}

/// One socket as nginx tells them apart (http and stream sockets are separate configs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Socket<'a> {
    stream: bool,
    unix: bool,
    /// `Addr::key`.
    key: &'a str,
    port: u16,
}

/// The listen directive at `line` with arguments `args`, of a server (of stream when
/// `stream`), in the file at `path` whose text is `text`. What nginx would refuse goes to
/// `problems`; a line without a usable address gives no `Listen`.
pub(super) fn listen(
    path: &Arc<str>,
    text: &str,
    line: usize,
    args: &[Word],
    stream: bool,
    problems: &mut Vec<Problem>,
) -> Option<Listen> {
    let Some(a) = args.first() else {
        problems.push(problem(
            path,
            line,
            "nginx: listen without an address".into(),
        ));
        return None;
    };
    let value = a.value(text);
    let addr = match parse_addr(&value, stream) {
        Ok(x) => x,
        Err(m) => {
            problems.push(problem(path, line, format!("nginx: listen {value}: {m}")));
            return None;
        }
    };
    let mut rec = Listen {
        path: path.clone(),
        line,
        addr,
        backlog: None,
        sets_options: false,
        default_server: false,
        addr_end: a.span.end,
        addr_end_line: a.end_line(text),
        backlog_line: line,
    };
    for p in &args[1..] {
        let v = p.value(text);
        let (key, val) = v.split_once('=').unwrap_or((&v, ""));
        match key {
            "default_server" | "default" => rec.default_server = true,
            "backlog" => {
                rec.sets_options = true;
                rec.backlog_line = p.line;
                // the digits after `backlog=`, when the file's bytes are the value
                let range = p
                    .plain_at(text)
                    .filter(|_| v.len() >= "backlog=".len())
                    .map(|at| at + "backlog=".len()..at + v.len());
                rec.backlog = Some(match parse_backlog(val) {
                    Some(n) => Backlog::Value(n, range),
                    None => {
                        problems.push(problem(
                            path,
                            p.line,
                            format!(
                                "nginx: backlog={val} is not a positive number (nginx -t: invalid backlog)"
                            ),
                        ));
                        Backlog::Invalid(range)
                    }
                });
            }
            // the options nginx keeps per socket (ngx_http_core_listen sets lsopt.set)
            "bind" | "setfib" | "fastopen" | "rcvbuf" | "sndbuf" | "accept_filter" | "deferred"
            | "ipv6only" | "reuseport" | "so_keepalive" => rec.sets_options = true,
            _ => {}
        }
    }
    Some(rec)
}

/// ngx_atoi: digits only, no sign, no overflow; nginx also refuses 0. `listen()` takes an int.
pub(super) fn parse_backlog(v: &str) -> Option<i64> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = v.parse().ok()?;
    (n > 0 && n <= i64::from(i32::MAX)).then_some(n)
}

/// A listen address: `80`, `*:80`, `1.2.3.4[:80]`, `[::1][:80]`, `host[:80]`, `unix:/path`.
/// http defaults the port to 80; stream requires one.
pub(super) fn parse_addr(v: &str, stream: bool) -> Result<Addr, String> {
    if let Some(p) = v.strip_prefix("unix:") {
        if p.is_empty() {
            return Err("empty unix socket path".into());
        }
        return Ok(Addr::Unix(p.to_string()));
    }
    let (host, port) = if let Some(rest) = v.strip_prefix('[') {
        let Some((h, after)) = rest.split_once(']') else {
            return Err("missing \"]\" in IPv6 address".into());
        };
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or_else(|| "unexpected text after \"]\"".to_string())?,
            ),
        };
        (format!("[{h}]"), port)
    } else if v.bytes().all(|b| b.is_ascii_digit()) {
        ("*".to_string(), Some(v))
    } else if let Some((h, p)) = v.rsplit_once(':') {
        (h.to_string(), Some(p))
    } else {
        (v.to_string(), None)
    };
    let port = match port {
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => return Err(format!("invalid port \"{p}\"")),
        },
        None if stream => return Err("no port (stream listen needs one)".into()),
        None => 80,
    };
    if host.is_empty() {
        return Err("empty host".into());
    }
    // nginx compares resolved addresses: spell the same socket one way
    let key = if host == "*" {
        None
    } else if let Some(h) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        match h.parse::<Ipv6Addr>() {
            Ok(ip) => Some(format!("[{ip}]")).filter(|k| *k != host),
            Err(_) => return Err(format!("invalid IPv6 address \"{h}\"")),
        }
    } else if let Ok(ip) = host.parse::<Ipv4Addr>() {
        // the parser takes only the canonical form (four parts, no leading zeros), so the
        // text is already what Display would print
        ip.is_unspecified().then(|| "*".to_string())
    } else if host.eq_ignore_ascii_case("localhost") {
        Some("127.0.0.1".to_string())
    } else {
        Some(host.to_ascii_lowercase()).filter(|k| *k != host)
    };
    Ok(Addr::Tcp { host, port, key })
}

/// The listen lines of one socket.
struct Group<'a> {
    stream: bool,
    /// Its wildcard socket (`*` or `[::]` on its port) for a specific TCP address.
    wildcard: Option<(&'static str, u16)>,
    /// The first line carrying socket options: the socket is bound on its own, even next
    /// to a wildcard (an option implies bind).
    carrier: Option<&'a Listen>,
    /// The first default_server line, and the first line.
    default_server: Option<&'a Listen>,
    first: Option<&'a Listen>,
    /// The wildcard socket serving its lines, when there is one and no line binds.
    served_by: Option<usize>,
}

impl<'a> Group<'a> {
    /// The line that carries the options (or should carry them).
    fn primary(&self) -> Option<&'a Listen> {
        self.carrier.or(self.default_server).or(self.first)
    }
}

/// Sockets numbered in order of appearance, and their lines.
#[derive(Default)]
struct Sockets<'a> {
    index: HashMap<Socket<'a>, usize>,
    groups: Vec<Group<'a>>,
}

impl<'a> Sockets<'a> {
    /// The number of the socket `addr` names, a new one if it is new.
    fn group_of(&mut self, stream: bool, addr: &'a Addr) -> usize {
        let n = self.groups.len();
        let g = *self.index.entry(addr.socket(stream)).or_insert(n);
        if g == n {
            self.groups.push(Group {
                stream,
                wildcard: wildcard_of(addr),
                carrier: None,
                default_server: None,
                first: None,
                served_by: None,
            });
        }
        g
    }
}

/// One `Listener` per listen line of `servers` (and per http server without one), with its
/// socket's backlog; duplicate socket options are problems. `main` is the nginx.conf path.
pub(super) fn report(servers: &[Server], main: &str, scan: &mut Scan) {
    let implicit = Addr::Tcp {
        host: "*".into(),
        port: 80,
        key: None,
    };
    let mut sockets = Sockets::default();
    // the socket of each listen line, in order
    let mut line_groups: Vec<usize> = Vec::new();
    // socket options on a second line of a socket
    let mut duplicates: Vec<(usize, &Listen)> = Vec::new();
    for s in servers {
        if s.listens.is_empty() && !s.stream {
            sockets.group_of(false, &implicit);
        }
        for l in &s.listens {
            let g = sockets.group_of(s.stream, &l.addr);
            line_groups.push(g);
            let group = &mut sockets.groups[g];
            group.first.get_or_insert(l);
            if l.default_server {
                group.default_server.get_or_insert(l);
            }
            if l.sets_options {
                if group.carrier.is_some() {
                    duplicates.push((g, l));
                } else {
                    group.carrier = Some(l);
                }
            }
        }
    }

    duplicates.sort_by_key(|d| d.0);
    for (g, l) in duplicates {
        let Some(first) = sockets.groups[g].carrier else {
            continue;
        };
        scan.problems.push(Problem {
            location: Location {
                path: l.path.clone(),
                line: l.line,
            },
            message: format!(
                "nginx: duplicate listen options for {} (already set at {}:{}): nginx -t fails; set backlog= and other socket options on one listen line per address",
                l.addr.display(),
                first.path,
                first.line
            ),
        });
    }

    // without bind (no socket option), 127.0.0.1:80 is served by a *:80 socket of the same
    // family when there is one: that socket's backlog is what it gets
    let Sockets { index, mut groups } = sockets;
    for group in &mut groups {
        if group.carrier.is_none()
            && let Some((key, port)) = group.wildcard
        {
            let wildcard = Socket {
                stream: group.stream,
                unix: false,
                key,
                port,
            };
            group.served_by = index.get(&wildcard).copied();
        }
    }
    let implicit_group = index.get(&implicit.socket(false)).copied();

    let checker: Arc<[String]> =
        vec!["nginx".into(), "-t".into(), "-c".into(), main.to_string()].into();
    let mut push = |instance: &String, addr: &Addr, l: Option<&Listen>, g: usize| {
        let address = addr.display();
        let group = &groups[g];
        let (g, via) = match (group.served_by, group.wildcard) {
            (Some(wg), Some(w)) => (wg, Some(w)),
            _ => (g, None),
        };
        let (requested, source, setter) = backlog(l, groups[g].primary(), &address, via);
        scan.listeners.push(Listener {
            service: "nginx".into(),
            instance: instance.clone(),
            address,
            requested,
            source,
            unit: "nginx".into(),
            action: Action::Reload,
            action_reason: RELOAD_REASON.into(),
            setter,
            refuses_above_somaxconn: false,
            control: false,
            checker: checker.clone(),
        });
    };
    let mut line_groups = line_groups.into_iter();
    for s in servers {
        let instance = match (&s.name, s.stream) {
            (_, true) => format!("stream server at {}:{}", s.path, s.line),
            (Some(n), false) if !n.is_empty() => format!("server {n}"),
            _ => format!("server at {}:{}", s.path, s.line),
        };
        if s.listens.is_empty()
            && !s.stream
            && let Some(g) = implicit_group
        {
            push(&instance, &implicit, None, g);
        }
        for (l, g) in s.listens.iter().zip(line_groups.by_ref()) {
            push(&instance, &l.addr, Some(l), g);
        }
    }
}

/// The wildcard socket (`*` or `[::]`, and the port) that would serve a specific TCP
/// address of the same family; None for wildcards, unix sockets and unresolved host names.
fn wildcard_of(addr: &Addr) -> Option<(&'static str, u16)> {
    let Addr::Tcp { port, .. } = addr else {
        return None;
    };
    let key = addr.key();
    if key == "*" || key == "[::]" {
        None
    } else if key.starts_with('[') {
        Some(("[::]", *port))
    } else if key.parse::<Ipv4Addr>().is_ok() {
        Some(("*", *port))
    } else {
        None
    }
}

/// Backlog, its source and its setter for one listen line (`None`: a server without listen),
/// given the line that carries its socket's options. `via`: the wildcard socket (and port)
/// that serves the line's `address`.
fn backlog(
    l: Option<&Listen>,
    primary: Option<&Listen>,
    address: &str,
    via: Option<(&str, u16)>,
) -> (Option<i64>, Source, Option<Setter>) {
    let at = |r: &Listen| {
        Source::At(Location {
            path: r.path.clone(),
            line: r.line,
        })
    };
    let replace = |r: &Listen, range: &Option<Range<usize>>| {
        range.clone().map(|range| Setter {
            path: r.path.clone(),
            range,
            template: "{}".into(),
            line: Some(r.backlog_line),
        })
    };
    // its own backlog= (even when it conflicts with another line: the rules must see both),
    // else the socket's, from the line that carries the options
    for r in l.into_iter().chain(primary) {
        match &r.backlog {
            Some(Backlog::Value(n, range)) => return (Some(*n), at(r), replace(r, range)),
            Some(Backlog::Invalid(range)) => return (None, at(r), replace(r, range)),
            None => {}
        }
    }
    let why = match (l, via) {
        (Some(_), Some((w, port))) => format!(
            "{DEFAULT_REASON}; {address} has no bind option, so nginx serves it from the {w}:{port} socket"
        )
        .into(),
        (Some(_), None) => DEFAULT_REASON.into(),
        (None, _) => NO_LISTEN_REASON.into(),
    };
    // insert on the line nginx accepts options on; a lone server without listen has none
    let setter = primary.map(|p| Setter {
        path: p.path.clone(),
        range: p.addr_end..p.addr_end,
        template: " backlog={}".into(),
        line: Some(p.addr_end_line),
    });
    (Some(DEFAULT_BACKLOG), Source::Default(why), setter)
}
