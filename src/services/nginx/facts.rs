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
//!
//! A busy host has a hundred thousand locations: one that sets nothing is forgotten when it
//! closes (its passes inherit from its parent), and nothing is copied per pass.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;

use rustc_hash::FxHashMap as HashMap;

use super::parser::Word;
use crate::host::Host;
use crate::root;
use crate::services::Location;
use crate::services::facts::{
    LogSetting, LogTarget, NginxErrorLog, NginxFacts, NginxPass, NginxScope, NginxScopeFacts,
    NginxSetting, NginxSettingName, NginxUpstream, PassTarget, Set,
};

/// The directives that send a request upstream.
const PASSES: [&str; 5] = [
    "fastcgi_pass",
    "proxy_pass",
    "uwsgi_pass",
    "scgi_pass",
    "grpc_pass",
];
/// Error log levels nginx knows (`err_levels` in src/core/ngx_log.c).
const LEVELS: [&str; 8] = [
    "debug", "info", "notice", "warn", "error", "crit", "alert", "emerg",
];
/// The nginx binary, where its compiled-in configure arguments tell the default error log.
const BINARIES: [&str; 2] = ["/usr/sbin/nginx", "/usr/local/nginx/sbin/nginx"];
/// An nginx binary is a few MB; refuse to read anything much bigger.
const MAX_BINARY: usize = 64 << 20;

#[derive(Debug, Clone)]
enum LocName {
    /// The file's text and where the name is in it.
    Span(Arc<str>, Range<usize>),
    Name(Arc<str>),
}

#[derive(Debug)]
enum Frame {
    Scope(usize),
    Upstream(usize),
    /// A block whose content does not matter here (events, types, map...).
    Other,
}

#[derive(Debug)]
pub(super) struct Collector {
    scopes: Vec<NginxScopeFacts>,
    stack: Vec<Frame>,
    /// The names of the open locations (scope index, name), innermost last.
    locations: Vec<(usize, LocName)>,
    upstreams: Vec<NginxUpstream>,
    passes: Vec<NginxPass>,
    /// Passes whose host had no port: an upstream block's name when one has it (blocks may
    /// come after the pass). (pass index, host).
    named: Vec<(usize, String)>,
    error_logs: Vec<NginxErrorLog>,
    /// Error logs whose relative path waits for the prefix (the binary is read only then).
    relative: Vec<usize>,
}

impl Default for Collector {
    fn default() -> Collector {
        Collector {
            scopes: vec![new_scope(None, NginxScope::Main)],
            stack: Vec::new(),
            locations: Vec::new(),
            upstreams: Vec::new(),
            passes: Vec::new(),
            named: Vec::new(),
            error_logs: Vec::new(),
            relative: Vec::new(),
        }
    }
}

fn new_scope(parent: Option<usize>, kind: NginxScope) -> NginxScopeFacts {
    NginxScopeFacts {
        parent: parent.map(|p| p as u32),
        kind,
        server_name: None,
        settings: Vec::new(),
        sets_headers: false,
        connection: None,
        error_logs: Vec::new(),
    }
}

/// A setting's name, for the directives kept per scope.
fn setting_name(directive: &str) -> Option<NginxSettingName> {
    NginxSettingName::ALL
        .into_iter()
        .find(|n| n.directive() == directive && *n != NginxSettingName::ProxySetHeaderConnection)
}

/// Push keeping the capacity exact: most scopes hold one or two (a Vec's first push makes
/// room for four).
fn push_exact<T>(v: &mut Vec<T>, x: T) {
    v.reserve_exact(1);
    v.push(x);
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

    fn kind(&self, s: usize) -> NginxScope {
        self.scopes[s].kind
    }

    /// A block `name args {` opens.
    pub fn open(&mut self, text: &Arc<str>, name: &Word, args: &[Word], path: &Arc<str>) {
        let name = name.value(text);
        let parent = self.current();
        let kind = parent.map(|p| self.kind(p));
        let frame = match (&*name, kind) {
            ("http", Some(NginxScope::Main)) => self.scope(parent, NginxScope::Http),
            ("stream", Some(NginxScope::Main)) => self.scope(parent, NginxScope::Stream),
            ("server", Some(NginxScope::Http)) => self.scope(parent, NginxScope::Server),
            ("server", Some(NginxScope::Stream)) => self.scope(parent, NginxScope::StreamServer),
            ("location", Some(NginxScope::Server | NginxScope::Location))
            | ("if" | "limit_except", Some(NginxScope::Server | NginxScope::Location)) => {
                let f = self.scope(parent, NginxScope::Location);
                if let Frame::Scope(i) = f {
                    let loc = if name == "location" {
                        match (args.first(), args.last()) {
                            (Some(a), Some(b)) => {
                                Some(LocName::Span(text.clone(), a.span.start..b.span.end))
                            }
                            _ => None,
                        }
                    } else {
                        // an `if` or `limit_except` keeps its location's name
                        self.locations.last().map(|(_, l)| l.clone())
                    };
                    if let Some(l) = loc {
                        self.locations.push((i, l));
                    }
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
        self.scopes.push(new_scope(parent, kind));
        Frame::Scope(self.scopes.len() - 1)
    }

    /// The name of the innermost open location, made a string once.
    fn location_name(&mut self) -> Option<Arc<str>> {
        let (_, loc) = self.locations.last_mut()?;
        let name = match loc {
            LocName::Name(n) => return Some(n.clone()),
            LocName::Span(text, span) => Arc::<str>::from(&text[span.clone()]),
        };
        *loc = LocName::Name(name.clone());
        Some(name)
    }

    /// The innermost open block closes. A location that set nothing is forgotten: its
    /// passes look their settings up from its parent.
    pub fn close(&mut self) {
        let Some(Frame::Scope(i)) = self.stack.pop() else {
            return;
        };
        if self.locations.last().is_some_and(|(l, _)| *l == i) {
            self.locations.pop();
        }
        let s = &self.scopes[i];
        let empty = s.settings.is_empty() && !s.sets_headers && s.error_logs.is_empty();
        if s.kind != NginxScope::Location || !empty || i + 1 != self.scopes.len() {
            return;
        }
        let parent = s.parent.unwrap_or(0);
        // its passes, and those of locations inside it forgotten before, are the last ones
        for p in self.passes.iter_mut().rev() {
            if (p.scope as usize) < i {
                break;
            }
            p.scope = parent;
        }
        self.scopes.pop();
    }

    /// A directive `name args;` (not an include: the walk expands those).
    pub fn directive(&mut self, text: &str, name: &Word, args: &[Word], path: &Arc<str>) {
        let line = name.line;
        let name = name.value(text);
        // most directives are none of these: nothing is copied for them
        let wanted = match self.stack.last() {
            Some(Frame::Upstream(_)) => matches!(&*name, "server" | "keepalive"),
            Some(Frame::Other) => false,
            _ => {
                matches!(
                    &*name,
                    "error_log"
                        | "server_name"
                        | "proxy_set_header"
                        | "fastcgi_pass"
                        | "proxy_pass"
                        | "uwsgi_pass"
                        | "scgi_pass"
                        | "grpc_pass"
                        | "fastcgi_read_timeout"
                        | "proxy_read_timeout"
                        | "uwsgi_read_timeout"
                        | "scgi_read_timeout"
                        | "grpc_read_timeout"
                        | "proxy_timeout"
                        | "fastcgi_keep_conn"
                        | "proxy_http_version"
                )
            }
        };
        if !wanted {
            return;
        }
        let at = Location {
            path: path.clone(),
            line,
        };
        if let Some(Frame::Upstream(u)) = self.stack.last() {
            let u = *u;
            self.upstream_directive(u, &name, values(text, args), at);
            return;
        }
        let Some(s) = self.current() else { return };
        let args = values(text, args);
        let kind = self.kind(s);
        match &*name {
            "error_log" => {
                let Some(value) = args.first() else { return };
                let level = match args.get(1) {
                    None => Cow::Borrowed("error"),
                    Some(l) => match LEVELS.iter().find(|x| *x == l) {
                        Some(x) => Cow::Borrowed(*x),
                        None => Cow::Owned(l.clone()),
                    },
                };
                let (target, relative) = log_target(value);
                let i = self.error_logs.len();
                if relative {
                    self.relative.push(i);
                }
                self.error_logs.push(NginxErrorLog {
                    log: LogSetting {
                        target,
                        at: Some(at),
                        note: None,
                    },
                    scope: kind,
                    level,
                });
                push_exact(&mut self.scopes[s].error_logs, i as u32);
            }
            "server_name" if matches!(kind, NginxScope::Server | NginxScope::StreamServer) => {
                let out = &mut self.scopes[s];
                if out.server_name.is_none() {
                    out.server_name = Some(Arc::from(args.first().map_or("", String::as_str)));
                }
            }
            "proxy_set_header" => {
                if let [h, v, ..] = args.as_slice() {
                    let scope = &mut self.scopes[s];
                    scope.sets_headers = true;
                    if h.eq_ignore_ascii_case("connection") {
                        scope.connection = Some(Box::new(NginxSetting {
                            name: NginxSettingName::ProxySetHeaderConnection,
                            value: v.clone(),
                            at,
                        }));
                    }
                }
            }
            n => {
                if let Some(&directive) = PASSES.iter().find(|p| **p == n) {
                    let Some(raw) = args.into_iter().next() else {
                        return;
                    };
                    let (scheme, target, named) = pass_target(directive, &raw);
                    let location = self.location_name();
                    if let Some(host) = named {
                        self.named.push((self.passes.len(), host));
                    }
                    self.passes.push(NginxPass {
                        directive: Cow::Borrowed(directive),
                        at,
                        raw,
                        scheme,
                        target,
                        stream: kind == NginxScope::StreamServer,
                        location,
                        scope: s as u32,
                    });
                } else if let Some(key) = setting_name(n)
                    && let Some(v) = args.into_iter().next()
                {
                    let settings = &mut self.scopes[s].settings;
                    settings.retain(|x| x.name != key);
                    push_exact(
                        settings,
                        NginxSetting {
                            name: key,
                            value: v,
                            at,
                        },
                    );
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

    /// The facts, once the walk of `main` is done.
    pub fn finish(mut self, host: &Host, main: &str) -> NginxFacts {
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
        if !self.relative.is_empty() {
            let p = prefix(&compiled());
            for &i in &self.relative {
                if let LogTarget::File { path } = &mut self.error_logs[i].log.target {
                    *path = root::join(&p, path);
                }
            }
        }
        // no main-level error_log: nginx opens its compiled default
        if self.scopes[0].error_logs.is_empty() {
            let c = compiled();
            let (target, note) = match c.as_ref().and_then(|c| c.error_log.clone()) {
                Some(v) => {
                    let (mut target, relative) = log_target(&v);
                    if relative && let LogTarget::File { path } = &mut target {
                        *path = root::join(&prefix(&c), path);
                    }
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
            self.error_logs.push(NginxErrorLog {
                log: LogSetting {
                    target,
                    at: None,
                    note: Some(note),
                },
                scope: NginxScope::Main,
                level: Cow::Borrowed("error"),
            });
            let i = (self.error_logs.len() - 1) as u32;
            self.scopes[0].error_logs.push(i);
        }
        // names of upstream blocks, the first of each name
        let by_name: HashMap<(&str, bool), usize> = self
            .upstreams
            .iter()
            .enumerate()
            .rev()
            .map(|(i, u)| ((u.name.as_str(), u.stream), i))
            .collect();
        for (i, host) in std::mem::take(&mut self.named) {
            let pass = &mut self.passes[i];
            if let Some(&index) = by_name.get(&(host.as_str(), pass.stream)) {
                pass.target = PassTarget::Upstream { name: host, index };
            }
        }
        drop(by_name);
        // the room the vectors grew into is given back for what the plan allocates next
        self.scopes.shrink_to_fit();
        self.passes.shrink_to_fit();
        self.error_logs.shrink_to_fit();
        NginxFacts {
            config: main.to_string(),
            error_logs: self.error_logs,
            upstreams: self.upstreams,
            scopes: self.scopes,
            passes: self.passes,
        }
    }
}

/// An `error_log` value as a target, and whether it is a relative path (then the prefix
/// still has to go before it).
fn log_target(v: &str) -> (LogTarget, bool) {
    if v == "stderr" {
        let name = "stderr".into();
        (LogTarget::Stream { name }, false)
    } else if v.starts_with("syslog:") {
        (LogTarget::Syslog { spec: v.into() }, false)
    } else if v.starts_with("memory:") {
        (LogTarget::Memory { spec: v.into() }, false)
    } else {
        let path = v.to_string();
        (LogTarget::File { path }, !v.starts_with('/'))
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

/// What a pass's argument names: its scheme, its target, and the host when no port was
/// written (it may be an upstream block's name).
fn pass_target(
    directive: &str,
    raw: &str,
) -> (Option<Cow<'static, str>>, PassTarget, Option<String>) {
    let mut rest = raw;
    let mut scheme: Option<Cow<'static, str>> = None;
    if let Some((s, after)) = raw.split_once("://") {
        let s = s.to_ascii_lowercase();
        scheme = Some(
            match ["http", "https", "grpc", "grpcs"].iter().find(|k| **k == s) {
                Some(k) => Cow::Borrowed(*k),
                None => Cow::Owned(s),
            },
        );
        rest = after;
    } else if directive == "grpc_pass" {
        scheme = Some(Cow::Borrowed("grpc"));
    }
    // uwsgi_pass's schemes are not part of what the log calls it
    if matches!(scheme.as_deref(), Some("uwsgi" | "suwsgi")) {
        scheme = None;
    }
    if raw.contains('$') {
        let raw = raw.to_string();
        return (scheme, PassTarget::Dynamic { raw }, None);
    }
    if let Some(p) = rest.strip_prefix("unix:") {
        // proxy_pass http://unix:/path:/uri — the path ends at the next colon
        let path = match p.find(':') {
            Some(i) => &p[..i],
            None => p,
        };
        let path = path.to_string();
        return (scheme, PassTarget::Unix { path }, None);
    }
    // http(s)://host[:port][/uri]
    let authority = match rest.find('/') {
        Some(i) if scheme.is_some() => &rest[..i],
        _ => rest,
    };
    let (host, port) = split_port(authority);
    let named = port.is_none().then(|| host.to_string());
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
    (scheme, target, named)
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::Path;

    use super::*;
    use crate::root::Root;
    use crate::services::Scan;
    use crate::services::facts::{Timeout, nginx_millis};

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
                    &*l.level,
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
            (&*php.directive, &php.target, php.at.clone()),
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
        assert_eq!(f.server_name(php), Some("app.example"));
        // inherited from http
        assert_eq!(
            f.read_timeout(php),
            Timeout {
                millis: 30_000,
                raw: "30s".into(),
                at: Some(loc(CONF, 5))
            }
        );
        // the server's error log, not main's
        assert_eq!(f.error_logs_of(php), [1]);
        assert!(!f.keep_conn(php));

        let pool = p(1);
        assert_eq!(
            pool.target,
            PassTarget::Upstream {
                name: "php".into(),
                index: 0
            }
        );
        assert_eq!(f.read_timeout(pool).millis, 90_000);
        assert!(f.keep_conn(pool));
        // keep_conn without keepalive in the upstream: still a new connection per request
        assert!(!f.reuses_connections(pool));

        let api = p(2);
        assert_eq!(api.scheme.as_deref(), Some("http"));
        assert_eq!(f.error_logs_of(api), [2]);
        assert_eq!(f.http_version(api), "1.1");
        assert_eq!(f.connection_header(api).unwrap().value, "");
        assert_eq!(f.read_timeout(api).at, None);
        assert_eq!(f.read_timeout(api).millis, 60_000);
        assert!(f.reuses_connections(api));

        let direct = p(3);
        assert_eq!(
            direct.target,
            PassTarget::Tcp {
                host: "127.0.0.1".into(),
                port: 8080
            }
        );
        assert_eq!(f.read_timeout(direct).millis, 5_000);
        assert_eq!(f.http_version(direct), "1.0");
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
        assert_eq!(f.read_timeout(p(7)).millis, 7_200_000);
        let db = p(8);
        assert!(db.stream);
        assert_eq!(
            db.target,
            PassTarget::Upstream {
                name: "db".into(),
                index: 2
            }
        );
        assert_eq!(f.read_timeout(db).millis, 60_000);
        assert_eq!(f.error_logs_of(db), [3]);
        assert_eq!(f.server_name(db), None);

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
        assert_eq!(f.error_logs_of(&f.passes[0]), [0]);

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
            .map(|p| f.connection_header(p).map(|c| c.value.as_str()))
            .collect();
        assert_eq!(conn, [Some(""), None, Some("")]);
        let reuse: Vec<bool> = f.passes.iter().map(|p| f.reuses_connections(p)).collect();
        assert_eq!(reuse, [true, false, true]);
        assert_eq!(f.passes[2].location.as_deref(), Some("/c"));
    }

    /// Locations that set nothing are forgotten as they close; what their passes inherit
    /// and their names stay right, however they nest.
    #[test]
    fn nested_locations_inherit_through_forgotten_ones() {
        let conf = "events {}\nhttp {\n\
            server {\n\
            server_name s;\n\
            fastcgi_read_timeout 10s;\n\
            location /a { fastcgi_read_timeout 20s; location /a/b { fastcgi_pass 127.0.0.1:1; } }\n\
            location /c { location /c/d { fastcgi_read_timeout 30s; fastcgi_pass 127.0.0.1:2; }\n\
            fastcgi_pass 127.0.0.1:3; }\n\
            location /e { location /e/f { location /e/f/g { fastcgi_pass 127.0.0.1:4; } } }\n\
            location /h { location /h/i { } fastcgi_pass 127.0.0.1:5; error_log /h.log; }\n\
            }\n}\n";
        let f = facts(&[(CONF, conf)]);
        let got: Vec<(Option<&str>, u64, Vec<usize>)> = f
            .passes
            .iter()
            .map(|p| {
                (
                    p.location.as_deref(),
                    f.read_timeout(p).millis,
                    f.error_logs_of(p),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (Some("/a/b"), 20_000, vec![1]),
                (Some("/c/d"), 30_000, vec![1]),
                (Some("/c"), 10_000, vec![1]),
                (Some("/e/f/g"), 10_000, vec![1]),
                // its error_log comes after the pass: still its own
                (Some("/h"), 10_000, vec![0]),
            ]
        );
        assert!(f.passes.iter().all(|p| f.server_name(p) == Some("s")));
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
