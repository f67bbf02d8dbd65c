//! What nginx's config says about its error logs and upstreams (`NginxFacts`), collected
//! during the include walk: the walk hands over every block it opens and closes and every
//! directive, includes already expanded, and this module keeps its own stack of scopes.
//!
//! nginx's rules mirrored here (src/http/ngx_http_core_module.c, ngx_http_upstream.c,
//! ngx_http_proxy_module.c, src/core/ngx_log.c):
//! - `error_log` may appear at main, http, server and location level (and in stream); a level
//!   with none inherits the nearest outer one, and http with none uses main's
//!   (`ngx_http_core_merge_loc_conf`). Several at one level all receive every message. With
//!   no main-level `error_log` nginx opens its compiled default (`--error-log-path`; Debian
//!   builds it with `stderr` since 1.22.1-5). A relative path is taken from the prefix.
//! - A request's upstream errors go to the error log of the location that passed it.
//! - `*_read_timeout`, `fastcgi_keep_conn` and `proxy_http_version` inherit the nearest outer
//!   setting; `proxy_set_header` lines are inherited only by a level that has none of its own.
//! - A pass names an `upstream` block when its host has no port and a block of that name
//!   exists; a host with a port is a plain address.

use std::sync::Arc;

use super::parser::Word;
use crate::host::Host;
use crate::root;
use crate::services::Location;
use crate::services::facts::{
    LogSetting, LogTarget, NginxErrorLog, NginxFacts, NginxPass, NginxScope, NginxUpstream,
    PassTarget, Set, Timeout,
};

/// The directives that send a request upstream, and their timeout's name.
const PASSES: [(&str, &str); 5] = [
    ("fastcgi_pass", "fastcgi_read_timeout"),
    ("proxy_pass", "proxy_read_timeout"),
    ("uwsgi_pass", "uwsgi_read_timeout"),
    ("scgi_pass", "scgi_read_timeout"),
    ("grpc_pass", "grpc_read_timeout"),
];
/// Settings kept per scope and looked up through the outer ones.
const SETTINGS: [&str; 8] = [
    "fastcgi_read_timeout",
    "proxy_read_timeout",
    "uwsgi_read_timeout",
    "scgi_read_timeout",
    "grpc_read_timeout",
    "proxy_timeout",
    "fastcgi_keep_conn",
    "proxy_http_version",
];
/// `*_read_timeout` default (60s), stream `proxy_timeout` default (10m).
const DEFAULT_READ_MS: u64 = 60_000;
const DEFAULT_STREAM_MS: u64 = 600_000;
/// The nginx binary, where its compiled-in configure arguments tell the default error log.
const BINARIES: [&str; 2] = ["/usr/sbin/nginx", "/usr/local/nginx/sbin/nginx"];
/// An nginx binary is a few MB; refuse to read anything much bigger.
const MAX_BINARY: usize = 64 << 20;

#[derive(Debug)]
struct Scope {
    parent: Option<usize>,
    kind: NginxScope,
    server_name: Option<String>,
    location: Option<String>,
    /// Settings by name (a later line at the same level wins, as for most directives).
    settings: Vec<(&'static str, Set<String>)>,
    /// `proxy_set_header` lines, when the scope has any.
    headers: Option<Vec<(String, Set<String>)>>,
    /// Indices in `Collector::error_logs`.
    error_logs: Vec<usize>,
}

#[derive(Debug)]
enum Frame {
    Scope(usize),
    Upstream(usize),
    /// A block whose content does not matter here (events, types, map...).
    Other,
}

/// A pass seen, resolved at the end (upstream blocks may come later, and settings after the
/// pass in its block apply too).
#[derive(Debug)]
struct Pending {
    directive: &'static str,
    timeout: &'static str,
    at: Location,
    raw: String,
    scope: usize,
    stream: bool,
}

/// An `error_log` line, its file not yet resolved (the prefix may come from the binary).
#[derive(Debug)]
struct RawLog {
    value: String,
    level: String,
    scope: NginxScope,
    at: Location,
}

#[derive(Debug)]
pub(super) struct Collector {
    scopes: Vec<Scope>,
    stack: Vec<Frame>,
    upstreams: Vec<NginxUpstream>,
    passes: Vec<Pending>,
    error_logs: Vec<RawLog>,
}

impl Default for Collector {
    fn default() -> Collector {
        Collector {
            scopes: vec![Scope::new(None, NginxScope::Main)],
            stack: Vec::new(),
            upstreams: Vec::new(),
            passes: Vec::new(),
            error_logs: Vec::new(),
        }
    }
}

impl Scope {
    fn new(parent: Option<usize>, kind: NginxScope) -> Scope {
        Scope {
            parent,
            kind,
            server_name: None,
            location: None,
            settings: Vec::new(),
            headers: None,
            error_logs: Vec::new(),
        }
    }
}

fn values(text: &str, args: &[Word]) -> Vec<String> {
    args.iter().map(|a| a.value(text).into_owned()).collect()
}

impl Collector {
    /// The scope directives are in now (main outside every block).
    fn current(&self) -> Option<usize> {
        match self.stack.last() {
            None => Some(0),
            Some(Frame::Scope(i)) => Some(*i),
            _ => None,
        }
    }

    /// A block `name args {` opens.
    pub fn open(&mut self, text: &str, name: &Word, args: &[Word], path: &Arc<str>) {
        let name = name.value(text);
        let parent = self.current();
        let kind = parent.map(|p| self.scopes[p].kind);
        let frame = match (&*name, kind) {
            ("http", Some(NginxScope::Main)) => self.scope(parent, NginxScope::Http),
            ("stream", Some(NginxScope::Main)) => self.scope(parent, NginxScope::Stream),
            ("server", Some(NginxScope::Http)) => self.scope(parent, NginxScope::Server),
            ("server", Some(NginxScope::Stream)) => self.scope(parent, NginxScope::StreamServer),
            ("location", Some(NginxScope::Server | NginxScope::Location))
            | ("if" | "limit_except", Some(NginxScope::Server | NginxScope::Location)) => {
                let f = self.scope(parent, NginxScope::Location);
                if let Frame::Scope(i) = f {
                    self.scopes[i].location = if name == "location" {
                        Some(values(text, args).join(" "))
                    } else {
                        // an `if` or `limit_except` keeps its location's name
                        parent.and_then(|p| self.scopes[p].location.clone())
                    };
                }
                f
            }
            ("upstream", Some(k @ (NginxScope::Http | NginxScope::Stream))) => {
                self.upstreams.push(NginxUpstream {
                    name: args
                        .first()
                        .map(|a| a.value(text).into_owned())
                        .unwrap_or_default(),
                    at: Location {
                        path: path.clone(),
                        line: args.first().map_or(0, |a| a.line),
                    },
                    stream: k == NginxScope::Stream,
                    servers: Vec::new(),
                    keepalive: None,
                });
                Frame::Upstream(self.upstreams.len() - 1)
            }
            _ => Frame::Other,
        };
        self.stack.push(frame);
    }

    fn scope(&mut self, parent: Option<usize>, kind: NginxScope) -> Frame {
        self.scopes.push(Scope::new(parent, kind));
        Frame::Scope(self.scopes.len() - 1)
    }

    /// The name of the server around scope `s` (its `server_name` may come after the
    /// location).
    fn server_name(&self, mut s: usize) -> Option<String> {
        loop {
            let scope = &self.scopes[s];
            if matches!(scope.kind, NginxScope::Server | NginxScope::StreamServer) {
                return scope.server_name.clone();
            }
            s = scope.parent?;
        }
    }

    /// The innermost open block closes.
    pub fn close(&mut self) {
        self.stack.pop();
    }

    /// A directive `name args;` (not an include: the walk expands those).
    pub fn directive(&mut self, text: &str, name: &Word, args: &[Word], path: &Arc<str>) {
        let at = Location {
            path: path.clone(),
            line: name.line,
        };
        let name = name.value(text);
        match self.stack.last() {
            Some(Frame::Upstream(u)) => {
                let u = *u;
                self.upstream_directive(u, &name, values(text, args), at);
                return;
            }
            Some(Frame::Other) => return,
            _ => {}
        }
        let Some(s) = self.current() else { return };
        let args = values(text, args);
        let kind = self.scopes[s].kind;
        match &*name {
            "error_log" => {
                let Some(value) = args.first() else { return };
                self.error_logs.push(RawLog {
                    value: value.clone(),
                    level: args.get(1).cloned().unwrap_or_else(|| "error".into()),
                    scope: kind,
                    at,
                });
                let i = self.error_logs.len() - 1;
                self.scopes[s].error_logs.push(i);
            }
            "server_name" if matches!(kind, NginxScope::Server | NginxScope::StreamServer) => {
                if self.scopes[s].server_name.is_none() {
                    self.scopes[s].server_name = Some(args.first().cloned().unwrap_or_default());
                }
            }
            "proxy_set_header" => {
                if let [h, v, ..] = args.as_slice() {
                    self.scopes[s].headers.get_or_insert_with(Vec::new).push((
                        h.to_ascii_lowercase(),
                        Set {
                            value: v.clone(),
                            at,
                        },
                    ));
                }
            }
            n => {
                if let Some(&(directive, timeout)) = PASSES.iter().find(|(p, _)| *p == n) {
                    let stream = kind == NginxScope::StreamServer;
                    if let Some(raw) = args.first() {
                        self.passes.push(Pending {
                            directive,
                            timeout: if stream { "proxy_timeout" } else { timeout },
                            at,
                            raw: raw.clone(),
                            scope: s,
                            stream,
                        });
                    }
                } else if let Some(key) = SETTINGS.iter().find(|k| **k == n)
                    && let Some(v) = args.first()
                {
                    let settings = &mut self.scopes[s].settings;
                    settings.retain(|(k, _)| k != key);
                    settings.push((
                        key,
                        Set {
                            value: v.clone(),
                            at,
                        },
                    ));
                }
            }
        }
    }

    fn upstream_directive(&mut self, u: usize, name: &str, args: Vec<String>, at: Location) {
        let up = &mut self.upstreams[u];
        match name {
            "server" => {
                if let Some(a) = args.first() {
                    up.servers.push(Set {
                        value: peer_address(a),
                        at,
                    });
                }
            }
            "keepalive" => {
                if let Some(n) = args.first().and_then(|a| a.parse().ok()) {
                    up.keepalive = Some(Set { value: n, at });
                }
            }
            _ => {}
        }
    }

    /// The setting `key` in effect in scope `s`.
    fn setting(&self, mut s: usize, key: &str) -> Option<&Set<String>> {
        loop {
            let scope = &self.scopes[s];
            if let Some((_, v)) = scope.settings.iter().find(|(k, _)| *k == key) {
                return Some(v);
            }
            s = scope.parent?;
        }
    }

    /// The `proxy_set_header Connection` in effect in scope `s`.
    fn connection_header(&self, mut s: usize) -> Option<&Set<String>> {
        loop {
            let scope = &self.scopes[s];
            if let Some(h) = &scope.headers {
                return h
                    .iter()
                    .rev()
                    .find(|(n, _)| n == "connection")
                    .map(|x| &x.1);
            }
            s = scope.parent?;
        }
    }

    /// The error logs in effect in scope `s` (indices in `error_logs`).
    fn logs_of(&self, mut s: usize) -> Vec<usize> {
        loop {
            let scope = &self.scopes[s];
            if !scope.error_logs.is_empty() {
                return scope.error_logs.clone();
            }
            match scope.parent {
                Some(p) => s = p,
                None => return Vec::new(),
            }
        }
    }

    /// The facts, once the walk of `main` is done.
    pub fn finish(self, host: &Host, main: &str) -> NginxFacts {
        let mut binary: Option<Option<Compiled>> = None;
        let mut compiled = || binary.get_or_insert_with(|| Compiled::read(host)).clone();
        let prefix = |c: &Option<Compiled>| -> String {
            match c.as_ref().and_then(|c| c.prefix.clone()) {
                Some(p) => p,
                // a source build keeps its conf under its prefix; packages use /usr/share/nginx
                None if main.starts_with("/usr/local/nginx/") => "/usr/local/nginx".into(),
                None => "/usr/share/nginx".into(),
            }
        };
        let mut error_logs: Vec<NginxErrorLog> = Vec::new();
        for raw in &self.error_logs {
            let target = log_target(&raw.value, || prefix(&compiled()));
            error_logs.push(NginxErrorLog {
                log: LogSetting {
                    target,
                    at: Some(raw.at.clone()),
                    note: None,
                },
                scope: raw.scope,
                level: raw.level.clone(),
            });
        }
        // no main-level error_log: nginx opens its compiled default
        let default = if self.scopes[0].error_logs.is_empty() {
            let c = compiled();
            let (target, note) = match c.as_ref().and_then(|c| c.error_log.clone()) {
                Some(v) => {
                    let target = log_target(&v, || prefix(&c));
                    let note = format!("nginx's compiled default (--error-log-path={v})");
                    (target, note)
                }
                None if c.is_some() => (
                    LogTarget::File {
                        path: root::join(&prefix(&c), "logs/error.log"),
                    },
                    "nginx's compiled default (logs/error.log under its prefix)".to_string(),
                ),
                None => (
                    LogTarget::File {
                        path: "/var/log/nginx/error.log".into(),
                    },
                    "assumed: no nginx binary in the root tells its compiled default \
                     (/var/log/nginx/error.log on RHEL and Debian before 12, stderr on Debian 12)"
                        .to_string(),
                ),
            };
            error_logs.push(NginxErrorLog {
                log: LogSetting {
                    target,
                    at: None,
                    note: Some(note),
                },
                scope: NginxScope::Main,
                level: "error".into(),
            });
            Some(error_logs.len() - 1)
        } else {
            None
        };
        let passes = self.passes.iter().map(|p| self.pass(p, default)).collect();
        NginxFacts {
            config: main.to_string(),
            error_logs,
            upstreams: self.upstreams,
            passes,
        }
    }

    fn pass(&self, p: &Pending, default_log: Option<usize>) -> NginxPass {
        let (scheme, target) = pass_target(p.directive, &p.raw, p.stream, &self.upstreams);
        let timeout = match self.setting(p.scope, p.timeout) {
            Some(s) => match nginx_millis(&s.value) {
                Some(ms) => Timeout {
                    millis: ms,
                    raw: s.value.clone(),
                    at: Some(s.at.clone()),
                },
                None => default_timeout(p.stream),
            },
            None => default_timeout(p.stream),
        };
        let mut error_logs = self.logs_of(p.scope);
        if error_logs.is_empty() {
            error_logs.extend(default_log);
        }
        let scope = &self.scopes[p.scope];
        let http_proxy = p.directive == "proxy_pass" && !p.stream;
        NginxPass {
            directive: p.directive.to_string(),
            at: p.at.clone(),
            raw: p.raw.clone(),
            scheme,
            target,
            stream: p.stream,
            server_name: self.server_name(p.scope),
            location: scope.location.clone(),
            read_timeout: timeout,
            error_logs,
            keep_conn: (p.directive == "fastcgi_pass")
                .then(|| self.setting(p.scope, "fastcgi_keep_conn"))
                .flatten()
                .map(|s| Set {
                    value: s.value.eq_ignore_ascii_case("on"),
                    at: s.at.clone(),
                }),
            http_version: http_proxy
                .then(|| self.setting(p.scope, "proxy_http_version").cloned())
                .flatten(),
            connection_header: http_proxy
                .then(|| self.connection_header(p.scope).cloned())
                .flatten(),
        }
    }
}

fn default_timeout(stream: bool) -> Timeout {
    let (millis, raw) = if stream {
        (DEFAULT_STREAM_MS, "10m")
    } else {
        (DEFAULT_READ_MS, "60s")
    };
    Timeout {
        millis,
        raw: raw.into(),
        at: None,
    }
}

/// An `error_log` value as a target; `prefix` gives the prefix for a relative path.
fn log_target(v: &str, prefix: impl FnOnce() -> String) -> LogTarget {
    if v == "stderr" {
        LogTarget::Stream {
            name: "stderr".into(),
        }
    } else if v.starts_with("syslog:") {
        LogTarget::Syslog { spec: v.into() }
    } else if v.starts_with("memory:") {
        LogTarget::Memory { spec: v.into() }
    } else {
        LogTarget::File {
            path: root::join(&prefix(), v),
        }
    }
}

/// What the nginx binary in the root was configured with.
#[derive(Debug, Clone)]
struct Compiled {
    error_log: Option<String>,
    prefix: Option<String>,
}

impl Compiled {
    /// The configure arguments compiled into the binary (what `nginx -V` prints).
    fn read(host: &Host) -> Option<Compiled> {
        let bytes = BINARIES
            .iter()
            .find_map(|b| host.root.read_bytes_opt(b, MAX_BINARY).ok().flatten())?;
        let arg = |name: &[u8]| {
            let at = memchr::memmem::find(&bytes, name)? + name.len();
            let end = bytes[at..]
                .iter()
                .position(|&c| c == b' ' || c == 0 || c == b'\'')
                .map_or(bytes.len(), |e| at + e);
            Some(String::from_utf8_lossy(&bytes[at..end]).into_owned())
        };
        Some(Compiled {
            error_log: arg(b"--error-log-path="),
            prefix: arg(b"--prefix="),
        })
    }
}

/// An upstream `server` address as the error log names the peer.
fn peer_address(a: &str) -> String {
    if a.starts_with("unix:") {
        return a.to_string();
    }
    match split_port(a) {
        (host, Some(port)) => format!("{host}:{port}"),
        (host, None) => format!("{host}:80"),
    }
}

/// `host:port` (or `[v6]:port`) split; `None` when there is no valid port.
fn split_port(a: &str) -> (&str, Option<u16>) {
    if a.starts_with('[') {
        if let Some(end) = a.find(']') {
            let port = a[end + 1..].strip_prefix(':').and_then(|p| p.parse().ok());
            return (&a[..=end], port);
        }
        return (a, None);
    }
    match a.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => match p.parse() {
            Ok(port) => (h, Some(port)),
            Err(_) => (a, None),
        },
        _ => (a, None),
    }
}

/// What a pass's argument names: its scheme and target.
fn pass_target(
    directive: &str,
    raw: &str,
    stream: bool,
    upstreams: &[NginxUpstream],
) -> (Option<String>, PassTarget) {
    let mut rest = raw;
    let mut scheme: Option<String> = None;
    if let Some((s, after)) = raw.split_once("://") {
        scheme = Some(s.to_ascii_lowercase());
        rest = after;
    } else if directive == "grpc_pass" {
        scheme = Some("grpc".into());
    }
    // uwsgi_pass's and fastcgi's schemes are not part of what the log calls it
    if matches!(scheme.as_deref(), Some("uwsgi" | "suwsgi")) {
        scheme = None;
    }
    if raw.contains('$') {
        return (
            scheme,
            PassTarget::Dynamic {
                raw: raw.to_string(),
            },
        );
    }
    if let Some(p) = rest.strip_prefix("unix:") {
        // proxy_pass http://unix:/path:/uri — the path ends at the next colon
        let path = match p.find(':') {
            Some(i) => &p[..i],
            None => p,
        };
        return (
            scheme,
            PassTarget::Unix {
                path: path.to_string(),
            },
        );
    }
    // http(s)://host[:port][/uri]
    let authority = match rest.find('/') {
        Some(i) if scheme.is_some() => &rest[..i],
        _ => rest,
    };
    let (host, port) = split_port(authority);
    if port.is_none()
        && let Some(i) = upstreams
            .iter()
            .position(|u| u.name == host && u.stream == stream)
    {
        return (
            scheme,
            PassTarget::Upstream {
                name: host.to_string(),
                index: i,
            },
        );
    }
    let default_port = match scheme.as_deref() {
        Some("http") => Some(80),
        Some("https") => Some(443),
        _ => None,
    };
    let target = match port.or(default_port) {
        Some(port) => PassTarget::Tcp {
            host: host.to_string(),
            port,
        },
        None => PassTarget::Unknown {
            name: host.to_string(),
        },
    };
    (scheme, target)
}

/// nginx's time values (`ngx_parse_time`): numbers with units ms, s, m, h, d, w, M, y,
/// several in a row (`1m30s`), seconds when bare. Milliseconds.
pub(super) fn nginx_millis(v: &str) -> Option<u64> {
    let b = v.as_bytes();
    let mut i = 0;
    let mut total: u64 = 0;
    let mut any = false;
    while i < b.len() {
        if b[i] == b' ' {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if start == i {
            return None;
        }
        let n: u64 = v[start..i].parse().ok()?;
        let unit: u64 = match (b.get(i), b.get(i + 1)) {
            (Some(b'm'), Some(b's')) => {
                i += 2;
                1
            }
            (Some(c), _) => {
                i += 1;
                match c {
                    b's' => 1_000,
                    b'm' => 60_000,
                    b'h' => 3_600_000,
                    b'd' => 86_400_000,
                    b'w' => 7 * 86_400_000,
                    b'M' => 30 * 86_400_000,
                    b'y' => 365 * 86_400_000,
                    _ => return None,
                }
            }
            (None, _) => 1_000,
        };
        total = total.checked_add(n.checked_mul(unit)?)?;
        any = true;
    }
    any.then_some(total)
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::Path;

    use super::*;
    use crate::root::Root;
    use crate::services::Scan;

    fn write(root: &Path, files: &[(&str, &str)]) {
        for (p, text) in files {
            let p = root.join(p.trim_start_matches('/'));
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
        }
    }

    fn facts(files: &[(&str, &str)]) -> NginxFacts {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), files);
        let host = Host::new(Root::new(d.path()).unwrap());
        let mut s = Scan::default();
        super::super::scan(&host, &mut s);
        assert_eq!(s.facts.nginx.len(), 1, "{:?}", s.errors);
        s.facts.nginx.into_iter().next().unwrap()
    }

    fn loc(path: &str, line: usize) -> Location {
        Location {
            path: path.into(),
            line,
        }
    }

    fn file(path: &str) -> LogTarget {
        LogTarget::File { path: path.into() }
    }

    const CONF: &str = "/etc/nginx/nginx.conf";
    const SITE: &str = "/etc/nginx/sites-enabled/app";

    /// Error logs at every level, inherited by the locations below them; passes of every
    /// kind with their targets, timeouts and reuse settings, through includes.
    #[test]
    fn error_logs_and_upstreams_as_nginx_inherits_them() {
        let main = "user www-data;\n\
            error_log /var/log/nginx/error.log;\n\
            events { worker_connections 768; }\n\
            http {\n\
            \x20   fastcgi_read_timeout 30s;\n\
            \x20   upstream php { server unix:/run/php/a.sock; server 127.0.0.1:9000 weight=2; }\n\
            \x20   upstream api { server 10.0.0.2:8080; server backend; keepalive 16; }\n\
            \x20   include /etc/nginx/sites-enabled/*;\n\
            }\n\
            stream {\n\
            \x20   error_log /var/log/nginx/stream.log warn;\n\
            \x20   server { listen 5432; proxy_pass db; proxy_timeout 1m; }\n\
            \x20   upstream db { server 10.0.0.3:5432; }\n\
            }\n";
        let site = "server {\n\
            \x20   listen 80;\n\
            \x20   error_log logs/app.log crit;\n\
            \x20   location ~ \\.php$ {\n\
            \x20       fastcgi_pass unix:/run/php/php8.2-fpm.sock;\n\
            \x20   }\n\
            \x20   location /pool { fastcgi_pass php; fastcgi_keep_conn on; fastcgi_read_timeout 1m30s; }\n\
            \x20   location /api {\n\
            \x20       error_log /var/log/nginx/api.log;\n\
            \x20       proxy_pass http://api/v1/;\n\
            \x20       proxy_http_version 1.1;\n\
            \x20       proxy_set_header Connection \"\";\n\
            \x20   }\n\
            \x20   location /direct { proxy_pass http://127.0.0.1:8080; proxy_read_timeout 5; }\n\
            \x20   location /sock { proxy_pass http://unix:/run/app.sock:/x; }\n\
            \x20   location /dyn { proxy_pass http://$host; }\n\
            \x20   location /grpc { grpc_pass 127.0.0.1:50051; }\n\
            \x20   location /uw { uwsgi_pass uwsgi://127.0.0.1:3031; uwsgi_read_timeout 2h; }\n\
            \x20   server_name app.example www.app.example;\n\
            }\n";
        let f = facts(&[(CONF, main), (SITE, site)]);
        let logs: Vec<(&LogTarget, NginxScope, &str, Option<usize>)> = f
            .error_logs
            .iter()
            .map(|l| {
                (
                    &l.log.target,
                    l.scope,
                    l.level.as_str(),
                    l.log.at.as_ref().map(|a| a.line),
                )
            })
            .collect();
        assert_eq!(
            logs,
            [
                (
                    &file("/var/log/nginx/error.log"),
                    NginxScope::Main,
                    "error",
                    Some(2)
                ),
                // relative: from the prefix, /usr/share/nginx for a package
                (
                    &file("/usr/share/nginx/logs/app.log"),
                    NginxScope::Server,
                    "crit",
                    Some(3)
                ),
                (
                    &file("/var/log/nginx/api.log"),
                    NginxScope::Location,
                    "error",
                    Some(9)
                ),
                (
                    &file("/var/log/nginx/stream.log"),
                    NginxScope::Stream,
                    "warn",
                    Some(11)
                ),
            ]
        );
        assert_eq!(
            f.log_files(),
            [
                "/var/log/nginx/error.log",
                "/usr/share/nginx/logs/app.log",
                "/var/log/nginx/api.log",
                "/var/log/nginx/stream.log",
            ]
        );
        let ups: Vec<(&str, bool, Vec<&str>, Option<u32>)> = f
            .upstreams
            .iter()
            .map(|u| {
                (
                    u.name.as_str(),
                    u.stream,
                    u.servers.iter().map(|s| s.value.as_str()).collect(),
                    u.keepalive.as_ref().map(|k| k.value),
                )
            })
            .collect();
        assert_eq!(
            ups,
            [
                (
                    "php",
                    false,
                    vec!["unix:/run/php/a.sock", "127.0.0.1:9000"],
                    None
                ),
                ("api", false, vec!["10.0.0.2:8080", "backend:80"], Some(16)),
                ("db", true, vec!["10.0.0.3:5432"], None),
            ]
        );
        let p = |i: usize| &f.passes[i];
        assert_eq!(f.passes.len(), 9);
        // the site's passes first (included inside http), the stream's last
        let php = p(0);
        assert_eq!(
            (php.directive.as_str(), &php.target, php.at.clone()),
            (
                "fastcgi_pass",
                &PassTarget::Unix {
                    path: "/run/php/php8.2-fpm.sock".into()
                },
                loc(SITE, 5)
            )
        );
        assert_eq!(php.location.as_deref(), Some("~ \\.php$"));
        // server_name comes after the locations: still theirs
        assert_eq!(php.server_name.as_deref(), Some("app.example"));
        // inherited from http
        assert_eq!(
            php.read_timeout,
            Timeout {
                millis: 30_000,
                raw: "30s".into(),
                at: Some(loc(CONF, 5))
            }
        );
        // the server's error log, not main's
        assert_eq!(php.error_logs, [1]);
        assert_eq!(php.keep_conn, None);

        let pool = p(1);
        assert_eq!(
            pool.target,
            PassTarget::Upstream {
                name: "php".into(),
                index: 0
            }
        );
        assert_eq!(pool.read_timeout.millis, 90_000);
        assert_eq!(pool.keep_conn.as_ref().map(|k| k.value), Some(true));
        // keep_conn without keepalive in the upstream: still a new connection per request
        assert!(!f.reuses_connections(pool));

        let api = p(2);
        assert_eq!(api.scheme.as_deref(), Some("http"));
        assert_eq!(api.error_logs, [2]);
        assert_eq!(api.http_version.as_ref().unwrap().value, "1.1");
        assert_eq!(api.connection_header.as_ref().unwrap().value, "");
        assert_eq!(api.read_timeout.at, None);
        assert_eq!(api.read_timeout.millis, 60_000);
        assert!(f.reuses_connections(api));

        let direct = p(3);
        assert_eq!(
            direct.target,
            PassTarget::Tcp {
                host: "127.0.0.1".into(),
                port: 8080
            }
        );
        assert_eq!(direct.read_timeout.millis, 5_000);
        assert_eq!(direct.http_version, None);
        assert!(!f.reuses_connections(direct));
        assert_eq!(
            p(4).target,
            PassTarget::Unix {
                path: "/run/app.sock".into()
            }
        );
        assert_eq!(
            p(5).target,
            PassTarget::Dynamic {
                raw: "http://$host".into()
            }
        );
        assert_eq!(p(6).scheme.as_deref(), Some("grpc"));
        assert_eq!(p(7).scheme, None);
        assert_eq!(p(7).read_timeout.millis, 7_200_000);
        let db = p(8);
        assert!(db.stream);
        assert_eq!(
            db.target,
            PassTarget::Upstream {
                name: "db".into(),
                index: 2
            }
        );
        assert_eq!(db.read_timeout.millis, 60_000);
        assert_eq!(db.error_logs, [3]);
        assert_eq!(db.server_name, None);

        // what the error log names, back to the passes
        let to = |a: &str| -> Vec<usize> {
            f.passes_to(a).iter().map(|x| x.at.line).collect::<Vec<_>>()
        };
        assert_eq!(to("unix:/run/php/php8.2-fpm.sock"), [5]);
        assert_eq!(to("127.0.0.1:9000"), [7]);
        assert_eq!(to("10.0.0.2:8080"), [10]);
        assert_eq!(to("127.0.0.1:8080"), [14]);
        assert_eq!(to("api"), [10]);
        assert!(to("127.0.0.1:9").is_empty());
    }

    /// Debian's stock nginx.conf sets the main error log; with none anywhere, nginx uses its
    /// compiled default, read from the binary in the root when there is one.
    #[test]
    fn the_default_error_log_comes_from_the_binary() {
        let conf = "events {}\nhttp { server { location / { fastcgi_pass 127.0.0.1:9000; } } }\n";
        let f = facts(&[(CONF, conf)]);
        assert_eq!(f.error_logs.len(), 1);
        let d = &f.error_logs[0];
        assert_eq!(d.log.at, None);
        assert_eq!(d.log.target, file("/var/log/nginx/error.log"));
        assert!(d.log.note.as_deref().unwrap().starts_with("assumed"));
        assert_eq!(f.passes[0].error_logs, [0]);

        // a Debian 12 binary: stderr
        let bin = "\x7fELF\0configure arguments: --prefix=/usr/share/nginx \
                   --conf-path=/etc/nginx/nginx.conf --error-log-path=stderr --lock-path=x\0";
        let f = facts(&[(CONF, conf), ("/usr/sbin/nginx", bin)]);
        assert_eq!(
            f.error_logs[0].log.target,
            LogTarget::Stream {
                name: "stderr".into()
            }
        );
        assert_eq!(
            f.error_logs[0].log.note.as_deref(),
            Some("nginx's compiled default (--error-log-path=stderr)")
        );
        // a source build without --error-log-path: logs/error.log under its prefix
        let bin = "\x7fELF\0configure arguments: --prefix=/opt/nginx --with-http_ssl_module\0";
        let f = facts(&[(CONF, conf), ("/usr/sbin/nginx", bin)]);
        assert_eq!(
            f.error_logs[0].log.target,
            file("/opt/nginx/logs/error.log")
        );
        // syslog, stderr and memory are not files
        let conf = "error_log syslog:server=unix:/dev/log,tag=web;\nerror_log stderr info;\n\
                    error_log memory:32m debug;\nevents {}\n";
        let f = facts(&[(CONF, conf)]);
        assert!(f.log_files().is_empty());
        assert_eq!(
            f.error_logs[0].log.target,
            LogTarget::Syslog {
                spec: "syslog:server=unix:/dev/log,tag=web".into()
            }
        );
    }

    /// proxy_set_header lines are inherited only by a level without any of its own.
    #[test]
    fn proxy_headers_inherit_only_when_a_level_has_none() {
        let conf = "events {}\nhttp {\n\
            upstream b { server 127.0.0.1:81; keepalive 8; }\n\
            proxy_http_version 1.1;\n\
            proxy_set_header Connection \"\";\n\
            server {\n\
            location /a { proxy_pass http://b; }\n\
            location /b { proxy_set_header Host $host; proxy_pass http://b; }\n\
            location /c { if ($x) { proxy_pass http://b; } }\n\
            }\n}\n";
        let f = facts(&[(CONF, conf)]);
        let conn: Vec<Option<&str>> = f
            .passes
            .iter()
            .map(|p| p.connection_header.as_ref().map(|c| c.value.as_str()))
            .collect();
        assert_eq!(conn, [Some(""), None, Some("")]);
        let reuse: Vec<bool> = f.passes.iter().map(|p| f.reuses_connections(p)).collect();
        assert_eq!(reuse, [true, false, true]);
        assert_eq!(f.passes[2].location.as_deref(), Some("/c"));
    }

    #[test]
    fn nginx_times() {
        assert_eq!(nginx_millis("60s"), Some(60_000));
        assert_eq!(nginx_millis("60"), Some(60_000));
        assert_eq!(nginx_millis("500ms"), Some(500));
        assert_eq!(nginx_millis("1m30s"), Some(90_000));
        assert_eq!(nginx_millis("1h 30m"), Some(5_400_000));
        assert_eq!(nginx_millis("2d"), Some(172_800_000));
        assert_eq!(nginx_millis("x"), None);
        assert_eq!(nginx_millis("5q"), None);
        assert_eq!(nginx_millis(""), None);
    }
}
