//! nginx: `listen ADDR [backlog=N] ...;` in `server` blocks of `http` and `stream`.
//!
//! The config is tokenized losslessly (every byte belongs to one token, so spans can be edited
//! in place), parsed into a directive tree, and walked from nginx.conf with `include` expanded
//! the way nginx does it: relative to the nginx.conf directory, globs may match nothing, a
//! missing plain file fails `nginx -t`.
//!
//! Socket options (backlog= and friends) belong to an addr:port, not to a server block: nginx
//! opens one socket per addr:port and accepts the options on only one of its listen lines.
//! So every listen line is reported, but its backlog is the one its socket really gets.

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::Range;
use std::rc::Rc;

use super::{Action, Listener, Location, Problem, Scan, Setter, Source};
use crate::error::Error;
use crate::host::Host;
use crate::root::{self, Resolved};

/// Main config locations: distro packages, then a source build's default prefix.
const MAIN_CONFIGS: [&str; 2] = ["/etc/nginx/nginx.conf", "/usr/local/nginx/conf/nginx.conf"];
/// NGX_LISTEN_BACKLOG on Linux.
const DEFAULT_BACKLOG: i64 = 511;
const DEFAULT_REASON: &str = "nginx default 511 on Linux";
const NO_LISTEN_REASON: &str = "no listen directive: nginx listens on *:80";
const RELOAD_REASON: &str = "nginx reload re-creates the socket when backlog= changes";
/// Guard against include fan-out (a file including another twice, 30 levels deep): nginx
/// would take forever too, qfix stops and says so.
const MAX_INCLUDES: usize = 100_000;
/// Deeper blocks or include chains are not real configs; the tree is walked recursively,
/// so bound it rather than overflow the stack.
const MAX_DEPTH: usize = 64;

pub fn scan(host: &Host, scan: &mut Scan) {
    let Some(main) = MAIN_CONFIGS
        .iter()
        .find(|p| matches!(host.read(p), Ok(Some(_))))
    else {
        // unreadable main config: report it rather than pretend nginx is absent
        for p in MAIN_CONFIGS {
            if let Err(e) = host.read(p) {
                scan.errors.push(e);
            }
        }
        return;
    };
    let mut w = Walker {
        host,
        conf_dir: root::parent(main).to_string(),
        parsed: HashMap::new(),
        stack: Vec::new(),
        includes: 0,
        servers: Vec::new(),
        scan,
    };
    w.file(main, None, Ctx::Main);
    let servers = std::mem::take(&mut w.servers);
    listeners(servers, main, scan);
}

// ---------------------------------------------------------------------------------------------
// Tokenizer: a port of ngx_conf_read_token's rules, keeping every byte.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Spaces, tabs, CR, LF.
    Space,
    /// `#` to the end of the line (without the LF).
    Comment,
    Word,
    Semi,
    Open,
    Close,
    /// An unterminated quoted string: the rest of the file.
    Bad,
}

#[derive(Debug, Clone)]
struct Token {
    kind: Kind,
    span: Range<usize>,
    /// 1-based line of the token's first byte.
    line: usize,
}

/// A problem the tokenizer or parser found: byte offset's line and message.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SyntaxError {
    line: usize,
    message: String,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn tokenize(text: &str) -> (Vec<Token>, Vec<SyntaxError>) {
    let b = text.as_bytes();
    let mut toks = Vec::new();
    let mut errs = Vec::new();
    let mut i = 0;
    let mut line = 1;
    // after a closing quote nginx wants a separator: `"a"b` is an error
    let mut need_space = false;
    while i < b.len() {
        let start = i;
        let start_line = line;
        let c = b[i];
        if need_space && !is_space(c) && !matches!(c, b';' | b'{' | b')') {
            errs.push(SyntaxError {
                line,
                message: format!(
                    "unexpected \"{}\" right after a quoted string",
                    char_at(text, i)
                ),
            });
        }
        need_space = false;
        let kind = match c {
            _ if is_space(c) => {
                while i < b.len() && is_space(b[i]) {
                    if b[i] == b'\n' {
                        line += 1;
                    }
                    i += 1;
                }
                Kind::Space
            }
            b';' => {
                i += 1;
                Kind::Semi
            }
            b'{' => {
                i += 1;
                Kind::Open
            }
            b'}' => {
                i += 1;
                Kind::Close
            }
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                Kind::Comment
            }
            b'"' | b'\'' => {
                i += 1;
                let mut closed = false;
                while i < b.len() {
                    match b[i] {
                        b'\\' => {
                            if b.get(i + 1) == Some(&b'\n') {
                                line += 1;
                            }
                            i += 2;
                        }
                        x if x == c => {
                            i += 1;
                            closed = true;
                            break;
                        }
                        x => {
                            if x == b'\n' {
                                line += 1;
                            }
                            i += 1;
                        }
                    }
                }
                i = i.min(b.len());
                if closed {
                    need_space = true;
                    Kind::Word
                } else {
                    errs.push(SyntaxError {
                        line: start_line,
                        message: "unterminated quoted string (nginx -t: unexpected end of file)"
                            .into(),
                    });
                    Kind::Bad
                }
            }
            _ => {
                // a bare word ends at whitespace, `;` or `{` (but `${` stays inside, as in
                // `${var}`); `}`, quotes and `#` inside a word are plain characters
                let mut dollar = false;
                while i < b.len() {
                    let x = b[i];
                    if x == b'{' && dollar {
                        dollar = false;
                        i += 1;
                        continue;
                    }
                    dollar = false;
                    if x == b'\\' {
                        if b.get(i + 1) == Some(&b'\n') {
                            line += 1;
                        }
                        i += 2;
                        continue;
                    }
                    if is_space(x) || x == b';' || x == b'{' {
                        break;
                    }
                    dollar = x == b'$';
                    i += 1;
                }
                i = i.min(b.len());
                Kind::Word
            }
        };
        toks.push(Token {
            kind,
            span: start..i,
            line: start_line,
        });
    }
    (toks, errs)
}

fn char_at(text: &str, i: usize) -> char {
    text.get(i..).and_then(|s| s.chars().next()).unwrap_or('?')
}

/// A word's value as nginx sees it: quotes stripped, `\"` `\'` `\\` `\t` `\r` `\n` decoded,
/// any other backslash kept.
fn unescape(raw: &str) -> String {
    let b = raw.as_bytes();
    let inner = match b.first() {
        Some(&q @ (b'"' | b'\'')) if b.len() >= 2 && b[b.len() - 1] == q => &b[1..b.len() - 1],
        _ => b,
    };
    let mut out = Vec::with_capacity(inner.len());
    let mut i = 0;
    while i < inner.len() {
        if inner[i] == b'\\' {
            match inner.get(i + 1) {
                Some(&c @ (b'"' | b'\'' | b'\\')) => {
                    out.push(c);
                    i += 2;
                    continue;
                }
                Some(b't') => {
                    out.push(b'\t');
                    i += 2;
                    continue;
                }
                Some(b'r') => {
                    out.push(b'\r');
                    i += 2;
                    continue;
                }
                Some(b'n') => {
                    out.push(b'\n');
                    i += 2;
                    continue;
                }
                _ => {}
            }
        }
        out.push(inner[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

// ---------------------------------------------------------------------------------------------
// Parser: tokens -> directive tree.

#[derive(Debug, Clone)]
struct Word {
    span: Range<usize>,
    value: String,
    line: usize,
}

#[derive(Debug, Clone)]
struct Directive {
    name: Word,
    args: Vec<Word>,
    /// `Some` for `name args { ... }`.
    block: Option<Vec<Directive>>,
    line: usize,
}

/// Parse without recursion (a hostile file of nested `{` must not blow the stack). Errors are
/// reported and parsing goes on with what makes sense, as qfix still wants the rest.
fn parse(text: &str) -> (Vec<Directive>, Vec<SyntaxError>) {
    let (toks, mut errs) = tokenize(text);
    // each frame: the block's opening directive (none for the file) and its children so far
    let mut stack: Vec<(Option<Directive>, Vec<Directive>)> = vec![(None, Vec::new())];
    let mut words: Vec<Word> = Vec::new();
    let mut last_line = 1;
    // open blocks beyond MAX_DEPTH: balanced, but their content is dropped
    let mut skipped = 0usize;
    for t in &toks {
        last_line = t.line;
        let err = |m: &str| SyntaxError {
            line: t.line,
            message: m.to_string(),
        };
        match t.kind {
            Kind::Space | Kind::Comment => {}
            Kind::Bad => {}
            Kind::Word if skipped > 0 => {}
            Kind::Semi if skipped > 0 => {}
            Kind::Open if skipped > 0 => skipped += 1,
            Kind::Close if skipped > 0 => skipped -= 1,
            Kind::Word => words.push(Word {
                span: t.span.clone(),
                value: unescape(&text[t.span.clone()]),
                line: t.line,
            }),
            Kind::Semi | Kind::Open => {
                if words.is_empty() {
                    errs.push(err(if t.kind == Kind::Semi {
                        "unexpected \";\""
                    } else {
                        "unexpected \"{\""
                    }));
                    if t.kind == Kind::Open {
                        // still balance the braces
                        stack.push((None, Vec::new()));
                    }
                    continue;
                }
                let mut ws = std::mem::take(&mut words).into_iter();
                let Some(name) = ws.next() else { continue };
                let d = Directive {
                    line: name.line,
                    name,
                    args: ws.collect(),
                    block: None,
                };
                if t.kind == Kind::Semi {
                    if let Some(top) = stack.last_mut() {
                        top.1.push(d);
                    }
                } else if stack.len() > MAX_DEPTH {
                    errs.push(err(&format!(
                        "blocks nested more than {MAX_DEPTH} deep: qfix skips this one"
                    )));
                    skipped = 1;
                } else {
                    stack.push((Some(d), Vec::new()));
                }
            }
            Kind::Close => {
                if !words.is_empty() {
                    errs.push(err("unexpected \"}\" (missing \";\" before it)"));
                    words.clear();
                } else if stack.len() <= 1 {
                    errs.push(err("unexpected \"}\" (no block to close)"));
                }
                if stack.len() <= 1 {
                    continue;
                }
                close_block(&mut stack);
            }
        }
    }
    if !words.is_empty() {
        errs.push(SyntaxError {
            line: words[0].line,
            message: "unexpected end of file, expecting \";\" or \"}\"".into(),
        });
    }
    if stack.len() > 1 || skipped > 0 {
        errs.push(SyntaxError {
            line: last_line,
            message: "unexpected end of file, expecting \"}\"".into(),
        });
        while stack.len() > 1 {
            close_block(&mut stack);
        }
    }
    let top = stack.pop().map(|f| f.1).unwrap_or_default();
    (top, errs)
}

fn close_block(stack: &mut Vec<(Option<Directive>, Vec<Directive>)>) {
    let Some((open, children)) = stack.pop() else {
        return;
    };
    if let (Some(mut d), Some(parent)) = (open, stack.last_mut()) {
        d.block = Some(children);
        parent.1.push(d);
    }
}

// ---------------------------------------------------------------------------------------------
// Walk: nginx.conf with includes expanded, collecting servers and their listen lines.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Main,
    Http,
    Stream,
    /// Inside `server { }` of http (false) or stream (true); index into `servers`.
    Server(usize),
    Other,
}

struct Parsed {
    text: Rc<str>,
    dirs: Vec<Directive>,
}

struct ServerRec {
    stream: bool,
    path: String,
    line: usize,
    name: Option<String>,
    listens: Vec<ListenRec>,
}

#[derive(Debug, Clone)]
enum Addr {
    Tcp {
        /// As displayed: `*`, `127.0.0.1`, `[::]`, `localhost`.
        host: String,
        port: u16,
        /// What nginx compares to find one socket: `*`, `[::]` and `0.0.0.0` alike.
        key: String,
    },
    Unix(String),
}

impl Addr {
    fn display(&self) -> String {
        match self {
            Addr::Tcp { host, port, .. } => format!("tcp {host}:{port}"),
            Addr::Unix(p) => format!("unix {p}"),
        }
    }

    fn key(&self) -> String {
        match self {
            Addr::Tcp { key, port, .. } => format!("{key}:{port}"),
            Addr::Unix(p) => format!("unix:{p}"),
        }
    }
}

#[derive(Debug, Clone)]
enum Backlog {
    /// A valid value; `range` is where its digits sit in the file (None when escapes
    /// inside the word make the raw bytes differ from the value).
    Value(i64, Option<Range<usize>>),
    /// nginx rejects it; the range lets qfix still replace it.
    Invalid(Option<Range<usize>>),
}

struct ListenRec {
    path: String,
    line: usize,
    addr: Addr,
    backlog: Option<Backlog>,
    /// Carries socket options (nginx's `lsopt.set`): only one line per addr:port may.
    sets_options: bool,
    default_server: bool,
    /// End of the address token: where ` backlog=N` goes.
    addr_end: usize,
}

struct Walker<'a> {
    host: &'a Host,
    conf_dir: String,
    parsed: HashMap<String, Rc<Parsed>>,
    /// Files being read, outermost first, to catch include loops.
    stack: Vec<String>,
    includes: usize,
    servers: Vec<ServerRec>,
    scan: &'a mut Scan,
}

impl Walker<'_> {
    /// Read, parse (once per file) and walk one file in context `ctx`. `from` is the include
    /// directive that pulled it in, for messages.
    fn file(&mut self, path: &str, from: Option<&Location>, ctx: Ctx) {
        let real = match self.host.root.resolve(path) {
            Ok(Resolved::Path(p)) => p,
            Ok(Resolved::DevNull) => return,
            Err(e) => {
                self.scan.errors.push(e);
                return;
            }
        };
        if self.stack.len() >= MAX_DEPTH {
            self.scan.errors.push(Error::msg(format!(
                "nginx: includes nested more than {MAX_DEPTH} deep at {real}: giving up there"
            )));
            return;
        }
        if self.stack.contains(&real) {
            let chain = self.stack.join(" -> ");
            let msg = format!("nginx: include loop: {real} is already being read ({chain})");
            self.scan.errors.push(match from {
                Some(l) => Error::at(&l.path, l.line, msg),
                None => Error::msg(msg),
            });
            return;
        }
        let parsed = match self.parsed.get(&real) {
            Some(p) => p.clone(),
            None => {
                let text = match self.host.read(&real) {
                    Ok(Some(t)) => t,
                    Ok(None) => {
                        let location = from.cloned().unwrap_or(Location {
                            path: path.to_string(),
                            line: 0,
                        });
                        self.scan.problems.push(Problem {
                            location,
                            message: format!(
                                "nginx: include {path}: no such file (nginx -t fails on a missing include that is not a glob)"
                            ),
                        });
                        return;
                    }
                    Err(e) => {
                        self.scan.errors.push(e);
                        return;
                    }
                };
                let (dirs, errs) = parse(&text);
                for e in errs {
                    self.scan.problems.push(Problem {
                        location: Location {
                            path: real.clone(),
                            line: e.line,
                        },
                        message: format!("nginx: {} (nginx -t fails)", e.message),
                    });
                }
                let p = Rc::new(Parsed { text, dirs });
                self.parsed.insert(real.clone(), p.clone());
                p
            }
        };
        self.stack.push(real.clone());
        self.block(&parsed, &parsed.dirs, &real, ctx);
        self.stack.pop();
    }

    fn block(&mut self, file: &Parsed, dirs: &[Directive], path: &str, ctx: Ctx) {
        for d in dirs {
            let loc = Location {
                path: path.to_string(),
                line: d.line,
            };
            match (d.name.value.as_str(), &d.block, ctx) {
                ("include", None, _) => self.include(d, &loc, ctx),
                ("http", Some(b), Ctx::Main) => self.block(file, b, path, Ctx::Http),
                ("stream", Some(b), Ctx::Main) => self.block(file, b, path, Ctx::Stream),
                ("server", Some(b), Ctx::Http | Ctx::Stream) => {
                    self.servers.push(ServerRec {
                        stream: ctx == Ctx::Stream,
                        path: path.to_string(),
                        line: d.line,
                        name: None,
                        listens: Vec::new(),
                    });
                    let i = self.servers.len() - 1;
                    self.block(file, b, path, Ctx::Server(i));
                }
                ("listen", None, Ctx::Server(i)) => self.listen(file, d, &loc, i),
                ("server_name", None, Ctx::Server(i)) => {
                    if let Some(s) = self.servers.get_mut(i)
                        && s.name.is_none()
                    {
                        s.name = Some(d.args.first().map(|a| a.value.clone()).unwrap_or_default());
                    }
                }
                // includes may hide anywhere (location, upstream...): walk for them, for
                // loops and for missing files, which fail nginx -t wherever they are
                (_, Some(b), _) => self.block(file, b, path, Ctx::Other),
                _ => {}
            }
        }
    }

    fn include(&mut self, d: &Directive, loc: &Location, ctx: Ctx) {
        let Some(arg) = d.args.first() else {
            self.problem(loc, "nginx: include without a file name".into());
            return;
        };
        // nginx takes relative includes from the prefix's conf dir (where nginx.conf is),
        // never from the including file's directory
        let pattern = root::join(&self.conf_dir, &arg.value);
        let files = if pattern.contains(['*', '?', '[']) {
            match self.host.root.glob(&pattern) {
                Ok(f) => f,
                Err(e) => {
                    self.scan.errors.push(Error::at(&loc.path, loc.line, e));
                    return;
                }
            }
        } else {
            vec![pattern]
        };
        for f in files {
            self.includes += 1;
            if self.includes > MAX_INCLUDES {
                if self.includes == MAX_INCLUDES + 1 {
                    self.scan.errors.push(Error::at(
                        &loc.path,
                        loc.line,
                        format!("nginx: more than {MAX_INCLUDES} includes, giving up"),
                    ));
                }
                return;
            }
            self.file(&f, Some(loc), ctx);
        }
    }

    fn listen(&mut self, file: &Parsed, d: &Directive, loc: &Location, server: usize) {
        let stream = self.servers.get(server).is_some_and(|s| s.stream);
        let Some(a) = d.args.first() else {
            self.problem(loc, "nginx: listen without an address".into());
            return;
        };
        let addr = match parse_addr(&a.value, stream) {
            Ok(x) => x,
            Err(m) => {
                self.problem(loc, format!("nginx: listen {}: {m}", a.value));
                return;
            }
        };
        let mut rec = ListenRec {
            path: loc.path.clone(),
            line: d.line,
            addr,
            backlog: None,
            sets_options: false,
            default_server: false,
            addr_end: a.span.end,
        };
        for p in &d.args[1..] {
            let v = p.value.as_str();
            let (key, val) = v.split_once('=').unwrap_or((v, ""));
            match key {
                "default_server" | "default" => rec.default_server = true,
                "backlog" => {
                    rec.sets_options = true;
                    let range = value_range(&file.text, p, "backlog=".len());
                    rec.backlog = Some(match parse_backlog(val) {
                        Some(n) => Backlog::Value(n, range),
                        None => {
                            self.problem(
                                &Location {
                                    path: loc.path.clone(),
                                    line: p.line,
                                },
                                format!(
                                    "nginx: backlog={val} is not a positive number (nginx -t: invalid backlog)"
                                ),
                            );
                            Backlog::Invalid(range)
                        }
                    });
                }
                // the options nginx keeps per socket (ngx_http_core_listen sets lsopt.set)
                "bind" | "setfib" | "fastopen" | "rcvbuf" | "sndbuf" | "accept_filter"
                | "deferred" | "ipv6only" | "reuseport" | "so_keepalive" => rec.sets_options = true,
                _ => {}
            }
        }
        if let Some(s) = self.servers.get_mut(server) {
            s.listens.push(rec);
        }
    }

    fn problem(&mut self, loc: &Location, message: String) {
        self.scan.problems.push(Problem {
            location: loc.clone(),
            message,
        });
    }
}

/// Bytes of the value after `prefix_len` bytes of a `key=value` word, when the file's bytes
/// are the value itself (no escapes; quotes allowed around the whole word).
fn value_range(text: &str, w: &Word, prefix_len: usize) -> Option<Range<usize>> {
    let raw = text.get(w.span.clone())?;
    let (inner, off) = match raw.as_bytes().first() {
        Some(b'"' | b'\'') => (raw.get(1..raw.len().saturating_sub(1))?, 1),
        _ => (raw, 0),
    };
    if inner != w.value || inner.len() < prefix_len {
        return None;
    }
    Some(w.span.start + off + prefix_len..w.span.start + off + inner.len())
}

/// ngx_atoi: digits only, no sign, no overflow; nginx also refuses 0. `listen()` takes an int.
fn parse_backlog(v: &str) -> Option<i64> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = v.parse().ok()?;
    (n > 0 && n <= i64::from(i32::MAX)).then_some(n)
}

/// A listen address: `80`, `*:80`, `1.2.3.4[:80]`, `[::1][:80]`, `host[:80]`, `unix:/path`.
/// http defaults the port to 80; stream requires one.
fn parse_addr(v: &str, stream: bool) -> Result<Addr, String> {
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
        "*".to_string()
    } else if let Some(h) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        match h.parse::<Ipv6Addr>() {
            Ok(ip) => format!("[{ip}]"),
            Err(_) => return Err(format!("invalid IPv6 address \"{h}\"")),
        }
    } else if let Ok(ip) = host.parse::<Ipv4Addr>() {
        if ip.is_unspecified() {
            "*".to_string()
        } else {
            ip.to_string()
        }
    } else if host.eq_ignore_ascii_case("localhost") {
        "127.0.0.1".to_string()
    } else {
        host.to_ascii_lowercase()
    };
    Ok(Addr::Tcp { host, port, key })
}

// ---------------------------------------------------------------------------------------------
// Listeners: one per listen line (and per server without one), with its socket's backlog.

/// A member of an addr:port group: a listen line, or a server without any.
struct Member {
    server: usize,
    /// Index into the server's listens; None for the implicit `*:80`.
    listen: Option<usize>,
}

fn listeners(servers: Vec<ServerRec>, main: &str, scan: &mut Scan) {
    // group by socket (http and stream sockets are separate configs)
    let mut groups: HashMap<(bool, String), Vec<Member>> = HashMap::new();
    let mut order: Vec<(bool, String)> = Vec::new();
    let implicit = Addr::Tcp {
        host: "*".into(),
        port: 80,
        key: "*".into(),
    };
    for (si, s) in servers.iter().enumerate() {
        let mut add = |addr: &Addr, listen: Option<usize>| {
            let k = (s.stream, addr.key());
            groups
                .entry(k.clone())
                .or_insert_with(|| {
                    order.push(k);
                    Vec::new()
                })
                .push(Member { server: si, listen });
        };
        if s.listens.is_empty() && !s.stream {
            add(&implicit, None);
        }
        for (li, l) in s.listens.iter().enumerate() {
            add(&l.addr, Some(li));
        }
    }

    // per group: the line that carries the options (or should carry them)
    let mut primary: HashMap<(bool, String), (usize, usize)> = HashMap::new();
    // groups whose socket is bound on its own even next to a wildcard (an option implies bind)
    let mut bound: HashSet<(bool, String)> = HashSet::new();
    for k in &order {
        let Some(members) = groups.get(k) else {
            continue;
        };
        let lines: Vec<(usize, usize, &ListenRec)> = members
            .iter()
            .filter_map(|m| {
                let li = m.listen?;
                Some((m.server, li, servers.get(m.server)?.listens.get(li)?))
            })
            .collect();
        let carriers: Vec<&(usize, usize, &ListenRec)> =
            lines.iter().filter(|l| l.2.sets_options).collect();
        if let Some(first) = carriers.first() {
            bound.insert(k.clone());
            for c in &carriers[1..] {
                scan.problems.push(Problem {
                    location: Location {
                        path: c.2.path.clone(),
                        line: c.2.line,
                    },
                    message: format!(
                        "nginx: duplicate listen options for {} (already set at {}:{}): nginx -t fails; set backlog= and other socket options on one listen line per address",
                        c.2.addr.display(),
                        first.2.path,
                        first.2.line
                    ),
                });
            }
        }
        let p = carriers
            .first()
            .copied()
            .or_else(|| lines.iter().find(|l| l.2.default_server))
            .or_else(|| lines.first());
        if let Some(p) = p {
            primary.insert(k.clone(), (p.0, p.1));
        }
    }

    let checker = vec!["nginx".into(), "-t".into(), "-c".into(), main.to_string()];
    for s in &servers {
        let instance = match (&s.name, s.stream) {
            (_, true) => format!("stream server at {}:{}", s.path, s.line),
            (Some(n), false) if !n.is_empty() => format!("server {n}"),
            _ => format!("server at {}:{}", s.path, s.line),
        };
        let mut own: Vec<(Addr, Option<&ListenRec>)> = s
            .listens
            .iter()
            .map(|l| (l.addr.clone(), Some(l)))
            .collect();
        if own.is_empty() && !s.stream {
            own.push((implicit.clone(), None));
        }
        for (addr, l) in own {
            let mut k = (s.stream, addr.key());
            // without bind (no socket option), 127.0.0.1:80 is served by a *:80 socket of
            // the same family when there is one: that socket's backlog is what it gets
            let mut note = None;
            if let (false, Some(w)) = (bound.contains(&k), wildcard_of(&addr)) {
                let wk = (s.stream, w);
                if groups.contains_key(&wk) {
                    note = Some(format!(
                        "; {} has no bind option, so nginx serves it from the {} socket",
                        addr.display(),
                        wk.1
                    ));
                    k = wk;
                }
            }
            let prim = primary
                .get(&k)
                .and_then(|&(si, li)| servers.get(si)?.listens.get(li));
            let (requested, source, setter) = resolve(l, prim, note.as_deref());
            scan.listeners.push(Listener {
                service: "nginx".into(),
                instance: instance.clone(),
                address: addr.display(),
                requested,
                source,
                unit: "nginx".into(),
                action: Action::Reload,
                action_reason: RELOAD_REASON.into(),
                setter,
                refuses_above_somaxconn: false,
                checker: checker.clone(),
            });
        }
    }
}

/// The wildcard socket key (`*:80`, `[::]:80`) that would serve a specific TCP address of
/// the same family; None for wildcards, unix sockets and unresolved host names.
fn wildcard_of(addr: &Addr) -> Option<String> {
    let Addr::Tcp { key, port, .. } = addr else {
        return None;
    };
    if key == "*" || key == "[::]" {
        None
    } else if key.starts_with('[') {
        Some(format!("[::]:{port}"))
    } else if key.parse::<Ipv4Addr>().is_ok() {
        Some(format!("*:{port}"))
    } else {
        None
    }
}

/// Backlog, its source and its setter for one listen line (`None`: a server without listen),
/// given the line that carries its socket's options.
fn resolve(
    l: Option<&ListenRec>,
    prim: Option<&ListenRec>,
    note: Option<&str>,
) -> (Option<i64>, Source, Option<Setter>) {
    let at = |r: &ListenRec| {
        Source::At(Location {
            path: r.path.clone(),
            line: r.line,
        })
    };
    let replace = |r: &ListenRec, range: &Option<Range<usize>>| {
        range.clone().map(|range| Setter {
            path: r.path.clone(),
            range,
            template: "{}".into(),
        })
    };
    // its own backlog= (even when it conflicts with another line: the rules must see both)
    if let Some(r) = l {
        match &r.backlog {
            Some(Backlog::Value(n, range)) => return (Some(*n), at(r), replace(r, range)),
            Some(Backlog::Invalid(range)) => return (None, at(r), replace(r, range)),
            None => {}
        }
    }
    // the socket's backlog= from the line that carries the options
    if let Some(p) = prim {
        match &p.backlog {
            Some(Backlog::Value(n, range)) => return (Some(*n), at(p), replace(p, range)),
            Some(Backlog::Invalid(range)) => return (None, at(p), replace(p, range)),
            None => {}
        }
    }
    let why = if l.is_some() {
        format!("{DEFAULT_REASON}{}", note.unwrap_or(""))
    } else {
        NO_LISTEN_REASON.to_string()
    };
    // insert on the line nginx accepts options on; a lone server without listen has none
    let setter = prim.map(|p| Setter {
        path: p.path.clone(),
        range: p.addr_end..p.addr_end,
        template: " backlog={}".into(),
    });
    (Some(DEFAULT_BACKLOG), Source::Default(why), setter)
}

#[cfg(test)]
mod tests;
