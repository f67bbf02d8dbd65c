//! HAProxy: /etc/haproxy/haproxy.cfg (Debian and RHEL), plus /etc/haproxy/conf.d/*.cfg on
//! RHEL, whose haproxy.service passes `-f $CFGDIR` (Debian's passes only `-f $CONFIG`).
//! HAProxy has no include directive.
//!
//! The backlog of a bind (src/listener.c `listener_backlog()`, 2.6):
//! bind `backlog`, else the frontend's `backlog` (own or inherited from its defaults
//! section), else bind `maxconn`, else the frontend's maxconn (own, else defaults, else
//! global `maxconn`: proxy.c `proxy_adjust_all_maxconn()`).
//!
//! With no global maxconn HAProxy derives one at start from the fd limit it was given
//! (haproxy.c `compute_ideal_maxconn()`): (max(soft, hard limit), capped by `fd-hard-limit`,
//! minus 10 reserved fds, one a listening socket, the stats frontend's maxconn and 3 a
//! thread) / 2, at least 100 (checked with haproxy 2.6: fd-hard-limit 2000, 3 sockets and a
//! stats socket give 987 with 1 thread, 985 with 2). The running daemon's limit is not in the
//! config: qfix assumes systemd's default (DefaultLimitNOFILE=1024:524288 since v240, which
//! haproxy.service keeps) and one thread unless `nbthread` (HAProxy starts one a CPU), and says
//! it is a guess. That is about 262,000, above any usual somaxconn: the kernel gives somaxconn.
//!
//! `stats socket ADDR [bind params]` in `global` listens too, in the stats frontend
//! (cli.c `cli_parse_global()`): its maxconn is 10 unless `stats maxconn N`, and it has no
//! frontend backlog, so the bind's `backlog`, else its `maxconn`, else that maxconn.
//! (The master CLI, `-S` on the command line, is not in the config and not listed.)

use super::{Action, Listener, Location, Problem, Scan, Setter, Source};
use crate::host::Host;

const MAIN: &str = "/etc/haproxy/haproxy.cfg";
/// cli.c `cli_alloc_fe()`: "default to 10 concurrent connections".
const STATS_MAXCONN: i64 = 10;
/// The hard RLIMIT_NOFILE systemd gives services (DefaultLimitNOFILE=1024:524288, v240+).
const SYSTEMD_NOFILE: i64 = 524_288;
/// haproxy.c: DEFAULT_MAXCONN, the floor of a computed maxconn.
const MIN_MAXCONN: i64 = 100;
/// haproxy.c: `global.maxsock = 10; /* reserve 10 fds ; will be incremented by socket eaters */`
const RESERVED_FDS: i64 = 10;
const CONF_D: &str = "/etc/haproxy/conf.d/*.cfg";

const RESTART_REASON: &str = "haproxy's reload hands the old listening sockets to the new worker \
(-x sockpair@, master-worker mode) and it skips listen() on a socket that already listens \
(proto_tcp.c `if (!ready && listen(...))`), so a new backlog applies only on restart \
(checked with haproxy 2.6: Send-Q unchanged after systemctl reload)";

/// Sections that start a new block; only frontend/listen/defaults/global matter here.
const SECTIONS: &[&str] = &[
    "global",
    "defaults",
    "frontend",
    "backend",
    "listen",
    "peers",
    "resolvers",
    "userlist",
    "mailers",
    "program",
    "http-errors",
    "ring",
    "cache",
    "log-forward",
    "fcgi-app",
    "crt-store",
    "traces",
];

/// A number with where it was written: the file, line and the value's byte range.
#[derive(Debug, Clone)]
struct Val {
    n: i64,
    path: String,
    line: usize,
    range: std::ops::Range<usize>,
}

#[derive(Debug, Clone, Default)]
struct Settings {
    backlog: Option<Val>,
    maxconn: Option<Val>,
}

#[derive(Debug, Clone)]
struct Bind {
    addrs: Vec<String>,
    backlog: Option<Val>,
    maxconn: Option<Val>,
    path: String,
    line: usize,
    /// Where " backlog N" goes: end of the last token.
    insert_at: usize,
}

#[derive(Debug)]
struct Proxy {
    name: String,
    own: Settings,
    inherited: Settings,
    binds: Vec<Bind>,
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Sect {
    Global,
    Defaults,
    Proxy,
    Other,
}

struct State {
    sect: Sect,
    global_maxconn: Option<Val>,
    /// `fd-hard-limit` in global: caps the fd limit a computed maxconn starts from.
    fd_hard_limit: Option<i64>,
    /// `nbthread` in global: each thread takes 3 fds from a computed maxconn.
    nbthread: Option<i64>,
    /// `stats maxconn` in global.
    stats_maxconn: Option<Val>,
    /// `stats socket` lines.
    stats: Vec<Bind>,
    /// The defaults a new proxy inherits (the last defaults section).
    last_defaults: Settings,
    named_defaults: std::collections::HashMap<String, Settings>,
    cur_defaults: Settings,
    cur_defaults_name: Option<String>,
    proxies: Vec<Proxy>,
}

pub fn scan(host: &Host, scan: &mut Scan) {
    let mut files = vec![MAIN.to_string()];
    // conf.d is read only by RHEL's unit; Debian's unit passes -f /etc/haproxy/haproxy.cfg alone.
    let debian = matches!(host.read("/etc/debian_version"), Ok(Some(_)));
    if !debian {
        match host.glob(CONF_D) {
            Ok(g) => files.extend(g),
            Err(e) => scan.errors.push(e),
        }
    }
    let mut st = State {
        sect: Sect::Other,
        global_maxconn: None,
        fd_hard_limit: None,
        nbthread: None,
        stats_maxconn: None,
        stats: Vec::new(),
        last_defaults: Settings::default(),
        named_defaults: Default::default(),
        cur_defaults: Settings::default(),
        cur_defaults_name: None,
        proxies: Vec::new(),
    };
    let mut any = false;
    for f in &files {
        let text = match host.read(f) {
            Ok(Some(t)) => t,
            Ok(None) => continue,
            Err(e) => {
                scan.errors.push(e);
                continue;
            }
        };
        any = true;
        parse_file(f, &text, &mut st, scan);
        // each -f file starts outside any section (cfgparse.c readcfgfile)
        close_section(&mut st);
        st.sect = Sect::Other;
    }
    if !any {
        return;
    }
    emit(&st, scan);
}

fn close_section(st: &mut State) {
    if st.sect == Sect::Defaults {
        let d = std::mem::take(&mut st.cur_defaults);
        if let Some(n) = st.cur_defaults_name.take() {
            st.named_defaults.insert(n, d.clone());
        }
        st.last_defaults = d;
    }
}

fn parse_file(path: &str, text: &str, st: &mut State, scan: &mut Scan) {
    for crate::edit::Line {
        number: line_no,
        start: line_start,
        body: line,
        ..
    } in crate::edit::lines(text)
    {
        let toks = match tokenize(line) {
            Ok(t) => t,
            Err(msg) => {
                scan.problems.push(Problem {
                    location: Location {
                        path: path.into(),
                        line: line_no,
                    },
                    message: format!("haproxy: {msg}"),
                });
                continue;
            }
        };
        let words: Vec<&Tok> = toks.iter().filter(|t| t.kind == Kind::Word).collect();
        let Some(first) = words.first() else { continue };
        let kw = first.value.as_str();
        let at = |t: &Tok| line_start + t.start..line_start + t.end;
        if SECTIONS.contains(&kw) {
            close_section(st);
            match kw {
                "global" => st.sect = Sect::Global,
                "defaults" => {
                    st.sect = Sect::Defaults;
                    // `defaults [NAME] [from PARENT]`: starts empty unless `from`
                    let (name, from) = name_and_from(&words[1..]);
                    st.cur_defaults = match from {
                        Some(p) => lookup_defaults(st, p, path, line_no, scan),
                        None => Settings::default(),
                    };
                    st.cur_defaults_name = name.map(str::to_string);
                }
                "frontend" | "listen" => {
                    st.sect = Sect::Proxy;
                    let (name, from) = name_and_from(&words[1..]);
                    let inherited = match from {
                        Some(p) => lookup_defaults(st, p, path, line_no, scan),
                        None => st.last_defaults.clone(),
                    };
                    st.proxies.push(Proxy {
                        name: name.unwrap_or("").to_string(),
                        own: Settings::default(),
                        inherited,
                        binds: Vec::new(),
                    });
                }
                _ => st.sect = Sect::Other,
            }
            continue;
        }
        let num = |i: usize, scan: &mut Scan| -> Option<Val> {
            let Some(t) = words.get(i) else {
                scan.problems.push(Problem {
                    location: Location {
                        path: path.into(),
                        line: line_no,
                    },
                    message: format!("haproxy: '{kw}' needs a number"),
                });
                return None;
            };
            number(t, &words[i - 1].value, path, line_no, at(t), scan)
        };
        match (st.sect, kw) {
            (Sect::Global, "maxconn") => {
                if let Some(v) = num(1, scan) {
                    st.global_maxconn = Some(v);
                }
            }
            (Sect::Global, "fd-hard-limit") => {
                if let Some(v) = num(1, scan) {
                    st.fd_hard_limit = Some(v.n);
                }
            }
            (Sect::Global, "nbthread") => {
                if let Some(v) = num(1, scan) {
                    st.nbthread = Some(v.n);
                }
            }
            (Sect::Global, "stats") => match words.get(1).map(|w| w.value.as_str()) {
                Some("maxconn") => {
                    if let Some(v) = num(2, scan) {
                        st.stats_maxconn = Some(v);
                    }
                }
                Some("socket") => {
                    if let Some(b) = bind(&words[1..], path, line_no, line_start, line, at, scan) {
                        st.stats.push(b);
                    }
                }
                _ => {}
            },
            (Sect::Defaults, "backlog") => {
                if let Some(v) = num(1, scan) {
                    st.cur_defaults.backlog = Some(v);
                }
            }
            (Sect::Defaults, "maxconn") => {
                if let Some(v) = num(1, scan) {
                    st.cur_defaults.maxconn = Some(v);
                }
            }
            (Sect::Proxy, "backlog" | "maxconn") => {
                if let Some(v) = num(1, scan)
                    && let Some(p) = st.proxies.last_mut()
                {
                    if kw == "backlog" {
                        p.own.backlog = Some(v);
                    } else {
                        p.own.maxconn = Some(v);
                    }
                }
            }
            (Sect::Proxy, "bind") => {
                if let Some(b) = bind(&words, path, line_no, line_start, line, at, scan)
                    && let Some(p) = st.proxies.last_mut()
                {
                    p.binds.push(b);
                }
            }
            _ => {}
        }
    }
}

/// `bind ADDR[,ADDR...] [params]` (or `socket ADDR [params]` of `stats socket`), `words[0]`
/// being the keyword: the addresses and the `backlog` and `maxconn` params.
fn bind(
    words: &[&Tok],
    path: &str,
    line_no: usize,
    line_start: usize,
    line: &str,
    at: impl Fn(&Tok) -> std::ops::Range<usize>,
    scan: &mut Scan,
) -> Option<Bind> {
    let Some(addr_tok) = words.get(1) else {
        scan.problems.push(Problem {
            location: Location {
                path: path.into(),
                line: line_no,
            },
            message: format!("haproxy: '{}' without an address", words[0].value),
        });
        return None;
    };
    let mut bind = Bind {
        addrs: addr_tok
            .value
            .split(',')
            .filter(|a| !a.is_empty())
            .map(str::to_string)
            .collect(),
        backlog: None,
        maxconn: None,
        path: path.to_string(),
        line: line_no,
        insert_at: line_start + words.last().map_or(line.len(), |t| t.end),
    };
    let mut i = 2;
    while i < words.len() {
        let w = words[i].value.as_str();
        if (w == "backlog" || w == "maxconn") && i + 1 < words.len() {
            let v = number(words[i + 1], w, path, line_no, at(words[i + 1]), scan);
            if w == "backlog" {
                bind.backlog = v.or(bind.backlog);
            } else {
                bind.maxconn = v.or(bind.maxconn);
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    Some(bind)
}

fn name_and_from<'a>(words: &[&'a Tok]) -> (Option<&'a str>, Option<&'a str>) {
    let mut name = None;
    let mut from = None;
    let mut i = 0;
    while i < words.len() {
        if words[i].value == "from" {
            from = words.get(i + 1).map(|t| t.value.as_str());
            i += 2;
        } else {
            if name.is_none() {
                name = Some(words[i].value.as_str());
            }
            i += 1;
        }
    }
    (name, from)
}

fn lookup_defaults(st: &State, name: &str, path: &str, line: usize, scan: &mut Scan) -> Settings {
    match st.named_defaults.get(name) {
        Some(d) => d.clone(),
        None => {
            scan.problems.push(Problem {
                location: Location {
                    path: path.into(),
                    line,
                },
                message: format!(
                    "haproxy: 'from {name}': no defaults section of that name before this line"
                ),
            });
            Settings::default()
        }
    }
}

fn number(
    t: &Tok,
    what: &str,
    path: &str,
    line: usize,
    range: std::ops::Range<usize>,
    scan: &mut Scan,
) -> Option<Val> {
    match t.value.parse::<i64>() {
        Ok(n) if n >= 0 && t.value.bytes().all(|b| b.is_ascii_digit()) => Some(Val {
            n,
            path: path.to_string(),
            line,
            // only a plain unquoted number can be replaced in place
            range: if t.end - t.start == t.value.len() {
                range
            } else {
                range.start..range.start
            },
        }),
        _ => {
            scan.problems.push(Problem {
                location: Location {
                    path: path.into(),
                    line,
                },
                message: format!("haproxy: {what} {} is not a number", t.value),
            });
            None
        }
    }
}

fn emit(st: &State, scan: &mut Scan) {
    // every listening socket first: a computed maxconn leaves an fd for each
    let proxies: Vec<Vec<Vec<String>>> = st
        .proxies
        .iter()
        .map(|p| {
            p.binds
                .iter()
                .map(|b| expand_addrs(&b.addrs, &b.path, b.line, scan))
                .collect()
        })
        .collect();
    let stats: Vec<Vec<String>> = st
        .stats
        .iter()
        .map(|b| expand_addrs(&b.addrs, &b.path, b.line, scan))
        .collect();
    let sockets = proxies.iter().flatten().chain(&stats).flatten().count() as i64;
    let stats_maxconn = st.stats_maxconn.as_ref().map_or(STATS_MAXCONN, |v| v.n);
    let guess = {
        // compute_ideal_maxconn(): the fds reserved and taken by listeners and the stats
        // frontend, a poller fd and a wake-up pipe per thread, then two fds a connection (no
        // splicing, no SSL engines)
        let limit = st
            .fd_hard_limit
            .map_or(SYSTEMD_NOFILE, |h| h.min(SYSTEMD_NOFILE));
        let cli = if stats.is_empty() { 0 } else { stats_maxconn };
        let threads = st.nbthread.unwrap_or(1);
        let maxconn = ((limit - RESERVED_FDS - sockets - cli - 3 * threads) / 2).max(MIN_MAXCONN);
        let capped = match st.fd_hard_limit {
            Some(h) => format!(", fd-hard-limit {h}"),
            None => String::new(),
        };
        (
            maxconn,
            format!(
                "no backlog or maxconn: HAProxy uses the global maxconn it computes at start \
                 from its fd limit, about {maxconn} with systemd's default limit \
                 1024:524288{capped} (a guess: the running daemon's limit is not in the config)"
            ),
        )
    };
    for (p, binds) in st.proxies.iter().zip(proxies) {
        let backlog = p.own.backlog.as_ref().or(p.inherited.backlog.as_ref());
        let maxconn = p.own.maxconn.as_ref().or(p.inherited.maxconn.as_ref());
        for (b, addrs) in p.binds.iter().zip(binds) {
            // listener_backlog(): bind backlog, frontend backlog, bind maxconn, frontend maxconn
            let (requested, source, from_backlog): (i64, Source, Option<&Val>) =
                if let Some(v) = &b.backlog {
                    (v.n, at(v), Some(v))
                } else if let Some(v) = backlog {
                    (v.n, at(v), Some(v))
                } else if let Some(v) = &b.maxconn {
                    (v.n, at(v), None)
                } else if let Some(v) = maxconn {
                    (v.n, at(v), None)
                } else if let Some(v) = &st.global_maxconn {
                    (v.n, at(v), None)
                } else {
                    (guess.0, Source::Default(guess.1.clone().into()), None)
                };
            push(
                scan,
                &p.name,
                b,
                addrs,
                requested,
                source,
                from_backlog,
                false,
            );
        }
    }
    // the stats frontend has no backlog of its own: the bind's backlog, its maxconn, then
    // the frontend's maxconn
    for (b, addrs) in st.stats.iter().zip(stats) {
        let (requested, source, from_backlog) = if let Some(v) = &b.backlog {
            (v.n, at(v), Some(v))
        } else if let Some(v) = b.maxconn.as_ref().or(st.stats_maxconn.as_ref()) {
            (v.n, at(v), None)
        } else {
            (
                STATS_MAXCONN,
                Source::Default(
                    "a stats socket's backlog is the stats frontend's maxconn, 10 unless \
                     `stats maxconn` (cli.c)"
                        .into(),
                ),
                None,
            )
        };
        push(
            scan,
            "stats socket",
            b,
            addrs,
            requested,
            source,
            from_backlog,
            true,
        );
    }
}

/// One listener per address of a bind line. A backlog written as a plain number is replaced in
/// place; otherwise ` backlog N` is added to the bind line.
#[allow(clippy::too_many_arguments)]
fn push(
    scan: &mut Scan,
    instance: &str,
    b: &Bind,
    addrs: Vec<String>,
    requested: i64,
    source: Source,
    from_backlog: Option<&Val>,
    control: bool,
) {
    let setter = match from_backlog {
        Some(v) if v.range.start < v.range.end => Setter {
            line: None,
            path: v.path.clone().into(),
            range: v.range.clone(),
            template: "{}".into(),
        },
        _ => Setter {
            line: None,
            path: b.path.clone().into(),
            range: b.insert_at..b.insert_at,
            template: " backlog {}".into(),
        },
    };
    for address in addrs {
        scan.listeners.push(Listener {
            service: "haproxy".into(),
            instance: instance.to_string(),
            address,
            requested: Some(requested),
            source: source.clone(),
            unit: "haproxy".into(),
            action: Action::Restart,
            action_reason: RESTART_REASON.into(),
            setter: Some(setter.clone()),
            refuses_above_somaxconn: false,
            control,
            checker: vec!["haproxy".into(), "-c".into(), "-f".into(), MAIN.into()].into(),
        });
    }
}

fn at(v: &Val) -> Source {
    Source::At(Location {
        path: v.path.clone().into(),
        line: v.line,
    })
}

/// Turn bind addresses into "tcp HOST:PORT" / "unix /path" (one per port of a range).
fn expand_addrs(addrs: &[String], path: &str, line: usize, scan: &mut Scan) -> Vec<String> {
    let mut out = Vec::new();
    for a in addrs {
        let (proto, rest) = match a.split_once('@') {
            Some((p, r)) if !p.contains(['/', ':', '[']) => (p, r),
            _ => ("", a.as_str()),
        };
        match proto {
            "unix" | "uxst" => {
                out.push(format!("unix {rest}"));
                continue;
            }
            // abstract namespace socket: shown the way ss shows it
            "abns" | "abnsz" => {
                out.push(format!("unix @{rest}"));
                continue;
            }
            // inherited descriptors and datagram/QUIC sockets: no listen() of ours to judge
            "fd" | "sockpair" | "udp" | "udp4" | "udp6" | "quic4" | "quic6" | "uxdg" => continue,
            "" | "ipv4" | "ipv6" | "tcp" | "tcp4" | "tcp6" => {}
            other => {
                scan.problems.push(Problem {
                    location: Location {
                        path: path.into(),
                        line,
                    },
                    message: format!(
                        "haproxy: bind address family '{other}@' is not understood by qfix"
                    ),
                });
                continue;
            }
        }
        if rest.starts_with('/') {
            out.push(format!("unix {rest}"));
            continue;
        }
        let (host, port) = if let Some(r) = rest.strip_prefix('[') {
            match r.split_once("]:") {
                Some((h, p)) => (h, p),
                None => ("", ""),
            }
        } else {
            match rest.rsplit_once(':') {
                Some((h, p)) => (h, p),
                None => ("", ""),
            }
        };
        let host = match host {
            "" | "*" => "*".to_string(),
            h if h.contains(':') => format!("[{h}]"),
            h => h.to_string(),
        };
        let (lo, hi) = match port.split_once('-') {
            Some((a, b)) => (a.parse::<u16>(), b.parse::<u16>()),
            None => (port.parse::<u16>(), port.parse::<u16>()),
        };
        match (lo, hi) {
            (Ok(lo), Ok(hi)) if lo <= hi => {
                for p in lo..=hi {
                    out.push(format!("tcp {host}:{p}"));
                }
            }
            _ => scan.problems.push(Problem {
                location: Location {
                    path: path.into(),
                    line,
                },
                message: format!("haproxy: bind address '{a}' has no valid port"),
            }),
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Space,
    Word,
    Comment,
}

#[derive(Debug, Clone)]
struct Tok {
    kind: Kind,
    start: usize,
    end: usize,
    /// Unquoted, unescaped text (words only).
    value: String,
}

/// Split one line like cfgparse.c `parse_line()`: blanks separate words, `#` starts a comment
/// outside quotes, backslash escapes the next byte outside single quotes, quotes group.
/// The spans of all tokens (blanks, words, comment) cover the line exactly.
fn tokenize(line: &str) -> Result<Vec<Tok>, String> {
    let b = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        if b[i] == b' ' || b[i] == b'\t' {
            while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
                i += 1;
            }
            out.push(Tok {
                kind: Kind::Space,
                start,
                end: i,
                value: String::new(),
            });
            continue;
        }
        if b[i] == b'#' {
            out.push(Tok {
                kind: Kind::Comment,
                start,
                end: b.len(),
                value: String::new(),
            });
            break;
        }
        let mut value: Vec<u8> = Vec::new();
        let mut quote: Option<u8> = None;
        while i < b.len() {
            let c = b[i];
            match quote {
                Some(q) if c == q => {
                    quote = None;
                    i += 1;
                }
                Some(b'\'') => {
                    value.push(c);
                    i += 1;
                }
                _ if c == b'\\' => {
                    let Some(&n) = b.get(i + 1) else {
                        return Err("line ends with a lone backslash".into());
                    };
                    value.push(match n {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        other => other,
                    });
                    i += 2;
                }
                None if c == b' ' || c == b'\t' || c == b'#' => break,
                None if c == b'"' || c == b'\'' => {
                    quote = Some(c);
                    i += 1;
                }
                _ => {
                    value.push(c);
                    i += 1;
                }
            }
        }
        if quote.is_some() {
            return Err("unterminated quote".into());
        }
        // a backslash before a multi-byte char keeps the bytes whole, so this stays UTF-8
        let value = String::from_utf8_lossy(&value).into_owned();
        out.push(Tok {
            kind: Kind::Word,
            start,
            end: i,
            value,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::root::Root;
    use crate::services::testutil::{self, host};

    fn run(h: &Host) -> Scan {
        testutil::run(h, scan)
    }

    fn set(h: &Host, l: &Listener, v: &str) -> String {
        testutil::set(h, l, v).1
    }

    fn line_of(s: &Source) -> usize {
        match s {
            Source::At(l) => l.line,
            Source::Default(_) => 0,
        }
    }

    fn summary(s: &Scan) -> Vec<(String, String, Option<i64>, usize)> {
        s.listeners
            .iter()
            .map(|l| {
                (
                    l.instance.clone(),
                    l.address.clone(),
                    l.requested,
                    line_of(&l.source),
                )
            })
            .collect()
    }

    #[test]
    fn tokenizer_is_lossless_on_every_fixture() {
        let base = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures");
        let mut n = 0;
        for dir in std::fs::read_dir(base).unwrap() {
            let dir = dir.unwrap().path();
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            if !(name.starts_with("haproxy-") || name == "debian-stock") {
                continue;
            }
            let r = Root::new(&dir).unwrap();
            let mut files = r.glob("/etc/haproxy/*.cfg").unwrap();
            files.extend(r.glob("/etc/haproxy/conf.d/*.cfg").unwrap());
            for f in files {
                let text = r.read_opt(&f).unwrap().unwrap();
                for line in text.lines() {
                    let Ok(toks) = tokenize(line) else { continue };
                    let joined: String = toks.iter().map(|t| &line[t.start..t.end]).collect();
                    assert_eq!(joined, line, "{f}");
                    n += 1;
                }
            }
        }
        assert!(n > 40);
    }

    #[test]
    fn tokenizer_quotes_escapes_comments() {
        let t = tokenize(r#"  bind "1.2.3.4:80" name\ x 'a#b' # c"#).unwrap();
        let w: Vec<&str> = t
            .iter()
            .filter(|t| t.kind == Kind::Word)
            .map(|t| t.value.as_str())
            .collect();
        assert_eq!(w, ["bind", "1.2.3.4:80", "name x", "a#b"]);
        assert_eq!(t.last().unwrap().kind, Kind::Comment);
        assert!(tokenize("bind 'x").is_err());
    }

    #[test]
    fn debian_stock_listens_on_its_stats_socket() {
        let h = host("debian-stock");
        let s = run(&h);
        assert!(s.problems.is_empty() && s.errors.is_empty());
        assert_eq!(
            summary(&s),
            vec![(
                "stats socket".into(),
                "unix /run/haproxy/admin.sock".into(),
                Some(10),
                0
            )]
        );
        // a backlog param on the stats socket line (haproxy -c takes it: checker_haproxy.rs)
        let edited = set(&h, &s.listeners[0], "128");
        assert!(
            edited.contains(
                "\tstats socket /run/haproxy/admin.sock mode 660 level admin backlog 128\n"
            )
        );
    }

    #[test]
    fn stats_sockets_use_the_stats_frontend() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("etc/haproxy")).unwrap();
        let cfg = "global\n    maxconn 5000\n    stats socket /run/haproxy/a.sock level admin\n    \
                   stats socket ipv4@127.0.0.1:9999 backlog 20\n    \
                   stats socket abns@admin maxconn 7\n    stats maxconn 5\n\
                   frontend f\n    bind :80\n";
        std::fs::write(d.path().join("etc/haproxy/haproxy.cfg"), cfg).unwrap();
        let s = run(&Host::new(Root::new(d.path()).unwrap()));
        assert_eq!(
            summary(&s),
            vec![
                // global maxconn reaches the frontends, not the stats frontend
                ("f".into(), "tcp *:80".into(), Some(5000), 2),
                (
                    "stats socket".into(),
                    "unix /run/haproxy/a.sock".into(),
                    Some(5),
                    6
                ),
                (
                    "stats socket".into(),
                    "tcp 127.0.0.1:9999".into(),
                    Some(20),
                    4
                ),
                ("stats socket".into(), "unix @admin".into(), Some(7), 5),
            ]
        );
    }

    #[test]
    fn fallback_chain_and_defaults() {
        let h = host("haproxy-chain");
        let s = run(&h);
        assert_eq!(
            summary(&s),
            vec![
                ("web".into(), "tcp *:80".into(), Some(2000), 20),
                ("web".into(), "tcp [::]:80".into(), Some(2000), 20),
                ("web".into(), "tcp 10.0.0.1:8443".into(), Some(300), 22),
                ("api".into(), "tcp 127.0.0.1:9000".into(), Some(1500), 17),
                ("api".into(), "tcp 127.0.0.1:9001".into(), Some(1500), 17),
                ("api".into(), "unix @api-abns".into(), Some(1500), 17),
                (
                    "api".into(),
                    "unix /run/haproxy/api.sock".into(),
                    Some(64),
                    27
                ),
                ("stats".into(), "tcp *:8404".into(), Some(20), 31),
                ("named".into(), "tcp *:81".into(), Some(700), 10),
                ("plain".into(), "tcp *:82".into(), Some(4000), 2),
            ]
        );
        assert!(s.listeners.iter().all(|l| l.action == Action::Restart));
        let p: Vec<(usize, &str)> = s
            .problems
            .iter()
            .map(|p| (p.location.line, p.message.as_str()))
            .collect();
        assert_eq!(
            p,
            vec![
                (47, "haproxy: backlog lots is not a number"),
                (48, "haproxy: unterminated quote"),
            ]
        );
        // web: from the defaults `backlog 2000` -> replace that value
        let edited = set(&h, &s.listeners[0], "4096");
        assert!(edited.contains("\n    backlog 4096\n"), "{edited}");
        // 8443: its own bind backlog param
        let edited = set(&h, &s.listeners[2], "4096");
        assert!(edited.contains("bind 10.0.0.1:8443 ssl crt /x.pem backlog 4096 # tls\n"));
        // api from frontend maxconn: insert before the trailing comment
        let edited = set(&h, &s.listeners[3], "4096");
        assert!(
            edited.contains("    bind 127.0.0.1:9000-9001,abns@api-abns backlog 4096 # api\n"),
            "{edited}"
        );
        // plain: from global maxconn
        let edited = set(&h, &s.listeners[9], "4096");
        assert!(edited.contains("    bind :82 backlog 4096\n"), "{edited}");
        // re-scan the edited tree: the value now comes from the bind line
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("etc/haproxy")).unwrap();
        std::fs::write(d.path().join("etc/haproxy/haproxy.cfg"), &edited).unwrap();
        let h2 = Host::new(Root::new(d.path()).unwrap());
        let s2 = run(&h2);
        let plain = s2.listeners.iter().find(|l| l.instance == "plain").unwrap();
        assert_eq!(plain.requested, Some(4096));
        assert_eq!(line_of(&plain.source), 45);
    }

    #[test]
    fn rhel_reads_conf_d() {
        let s = run(&host("haproxy-rhel"));
        assert_eq!(
            summary(&s),
            vec![
                ("main".into(), "tcp *:5000".into(), Some(3000), 2),
                ("extra".into(), "tcp *:6000".into(), Some(128), 3),
            ]
        );
        assert_eq!(
            match &s.listeners[1].source {
                Source::At(l) => &*l.path,
                _ => "",
            },
            "/etc/haproxy/conf.d/10-extra.cfg"
        );
    }

    #[test]
    fn no_maxconn_anywhere_is_sized_from_a_guessed_fd_limit() {
        let s = run(&host("haproxy-nomaxconn"));
        assert_eq!(s.listeners.len(), 1);
        // (524288 - 10 reserved - 1 listener - 3 for a thread) / 2, as
        // compute_ideal_maxconn() with systemd's limit
        assert_eq!(s.listeners[0].requested, Some(262_137));
        let Source::Default(why) = &s.listeners[0].source else {
            panic!("{:?}", s.listeners[0].source)
        };
        assert!(why.contains("a guess"), "{why}");
        let st = s.listeners[0].setter.as_ref().unwrap();
        assert_eq!(st.template, " backlog {}");
    }

    #[test]
    fn fd_hard_limit_caps_the_guess() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("etc/haproxy")).unwrap();
        let cfg = "global\n    fd-hard-limit 2000\n    nbthread 1\n    stats socket /run/a.sock\n\
                   frontend f\n    bind :80,:81\n";
        std::fs::write(d.path().join("etc/haproxy/haproxy.cfg"), cfg).unwrap();
        let s = run(&Host::new(Root::new(d.path()).unwrap()));
        // (2000 - 10 - 3 sockets - stats maxconn 10 - 3) / 2: haproxy 2.6 listens with 987
        assert_eq!(s.listeners[0].requested, Some(987));
        // and never below DEFAULT_MAXCONN
        std::fs::write(
            d.path().join("etc/haproxy/haproxy.cfg"),
            cfg.replace("2000", "50"),
        )
        .unwrap();
        let s = run(&Host::new(Root::new(d.path()).unwrap()));
        assert_eq!(s.listeners[0].requested, Some(100));
    }
}
