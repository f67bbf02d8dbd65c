//! What the services' configs say besides their backlogs, read in the same scan: where each
//! service writes its log, and which upstreams nginx talks to, with the timeouts and the
//! connection reuse that decide how a full queue shows up. `crate::logs` reads those logs;
//! rules link what the logs say to listeners through these facts.
//!
//! Owned and serializable, so a recorded snapshot can carry them; `Scan` keeps them out of
//! its JSON, so the outputs that exist do not change.

use std::borrow::Cow;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::Location;

pub(crate) mod phpfpm;
pub(crate) mod uwsgi;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ServiceFacts {
    /// One per nginx main config found (usually one).
    pub nginx: Vec<NginxFacts>,
    /// One per php-fpm master (php-fpm.conf).
    pub php_fpm: Vec<PhpFpmFacts>,
    pub redis: Vec<RedisFacts>,
    /// One per uWSGI ini file.
    pub uwsgi: Vec<UwsgiFacts>,
}

impl ServiceFacts {
    pub(super) fn append(&mut self, other: ServiceFacts) {
        // destructured: a new field must be merged too
        let ServiceFacts {
            nginx,
            php_fpm,
            redis,
            uwsgi,
        } = other;
        self.nginx.extend(nginx);
        self.php_fpm.extend(php_fpm);
        self.redis.extend(redis);
        self.uwsgi.extend(uwsgi);
    }

    /// The php-fpm pool listening where an nginx upstream (`unix:/path`, `host:port`, as
    /// its error log names it) connects, and its master.
    pub fn php_fpm_pool_serving(&self, upstream: &str) -> Option<(&PhpFpmFacts, &PhpFpmPool)> {
        self.php_fpm.iter().find_map(|m| {
            let pool = m.pools.iter().find(|p| {
                p.address
                    .as_deref()
                    .is_some_and(|a| crate::logs::upstream_is_listener(upstream, a))
            })?;
            Some((m, pool))
        })
    }

    /// The php-fpm pool named `pool` whose master writes to `log` (its error_log file, or a
    /// syslog file for a master logging to syslog), and that master.
    pub fn php_fpm_pool_logging(
        &self,
        log: &str,
        pool: &str,
    ) -> Option<(&PhpFpmFacts, &PhpFpmPool)> {
        self.php_fpm.iter().find_map(|m| {
            let writes_there = match m.error_log.as_ref().map(|l| &l.target) {
                Some(LogTarget::File { path }) => path == log,
                Some(LogTarget::Syslog { .. }) => crate::logs::SYSLOG_FILES.contains(&log),
                _ => false,
            };
            // php-fpm names pools case-insensitively
            let p = m
                .pools
                .iter()
                .find(|p| writes_there && p.name.eq_ignore_ascii_case(pool))?;
            Some((m, p))
        })
    }
}

/// A value and the line that sets it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Set<T> {
    pub value: T,
    pub at: Location,
}

/// Where a service writes its log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LogTarget {
    /// A file: an absolute in-root path.
    File { path: String },
    /// The process's stderr or stdout: the journal under systemd.
    Stream { name: String },
    /// syslog: nginx's `syslog:server=...`, php-fpm's `error_log = syslog`, Redis's
    /// `syslog-enabled yes`, uWSGI's `logger = syslog`.
    Syslog { spec: String },
    /// nginx's in-memory ring buffer (`memory:SIZE`), seen only with a debugger.
    Memory { spec: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LogSetting {
    pub target: LogTarget,
    /// The line that sets it; `None`: the service's default.
    pub at: Option<Location>,
    /// For a default, where the default comes from; any caveat ("assumed: ...").
    pub note: Option<String>,
}

impl LogSetting {
    /// The file it names, if it is one.
    pub fn file(&self) -> Option<&str> {
        match &self.target {
            LogTarget::File { path } => Some(path),
            _ => None,
        }
    }
}

/// nginx: its error logs, `upstream` blocks, every `*_pass`, and the scopes they inherit
/// their settings from. A pass's settings are looked up through its scopes, as nginx inherits
/// them (`read_timeout`, `error_logs_of`...): a busy host has tens of thousands of passes
/// that mostly share them, so nothing is copied per pass.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct NginxFacts {
    /// The main config (in-root path).
    pub config: String,
    pub error_logs: Vec<NginxErrorLog>,
    pub upstreams: Vec<NginxUpstream>,
    /// Main (index 0), http, stream, servers, and the locations that set something; each
    /// after its parent.
    pub scopes: Vec<NginxScopeFacts>,
    pub passes: Vec<NginxPass>,
}

/// Where a directive sits in nginx's config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NginxScope {
    Main,
    Http,
    /// A `server` of http.
    Server,
    /// A `location` (or an `if`/`limit_except` inside one).
    Location,
    Stream,
    /// A `server` of stream.
    StreamServer,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct NginxErrorLog {
    pub log: LogSetting,
    pub scope: NginxScope,
    /// `error_log FILE LEVEL`: messages below it are not written (default `error`; EAGAIN,
    /// refused and timed-out connects are `error`, EADDRNOTAVAIL is `crit`).
    pub level: Cow<'static, str>,
}

/// An `upstream NAME { ... }` block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct NginxUpstream {
    pub name: String,
    pub at: Location,
    pub stream: bool,
    /// Its `server` lines' addresses, as the error log names a peer: `unix:/path` or
    /// `host:port` (port 80 when none is written).
    pub servers: Vec<Set<String>>,
    /// `keepalive N`: idle connections kept per worker (none: every request connects anew).
    pub keepalive: Option<Set<u32>>,
}

/// A block that passes inherit settings from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct NginxScopeFacts {
    /// Index of the enclosing scope in `NginxFacts::scopes` (none for main).
    pub parent: Option<u32>,
    pub kind: NginxScope,
    /// A server's first `server_name`.
    pub server_name: Option<Arc<str>>,
    /// `*_read_timeout`, `proxy_timeout`, `fastcgi_keep_conn`, `proxy_http_version` written
    /// at this level (the last of each).
    pub settings: Vec<NginxSetting>,
    /// This level has `proxy_set_header` lines: then none is inherited from outside.
    pub sets_headers: bool,
    /// Its last `proxy_set_header Connection ...` line.
    pub connection: Option<Box<NginxSetting>>,
    /// Indices in `NginxFacts::error_logs` of this level's `error_log` lines (main's holds
    /// the compiled default when it has none).
    pub error_logs: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct NginxSetting {
    pub name: NginxSettingName,
    pub value: String,
    pub at: Location,
}

/// The settings kept for passes, by directive name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NginxSettingName {
    FastcgiReadTimeout,
    ProxyReadTimeout,
    UwsgiReadTimeout,
    ScgiReadTimeout,
    GrpcReadTimeout,
    /// stream's
    ProxyTimeout,
    FastcgiKeepConn,
    ProxyHttpVersion,
    /// `proxy_set_header Connection VALUE`.
    ProxySetHeaderConnection,
}

impl NginxSettingName {
    pub const ALL: [NginxSettingName; 9] = [
        NginxSettingName::FastcgiReadTimeout,
        NginxSettingName::ProxyReadTimeout,
        NginxSettingName::UwsgiReadTimeout,
        NginxSettingName::ScgiReadTimeout,
        NginxSettingName::GrpcReadTimeout,
        NginxSettingName::ProxyTimeout,
        NginxSettingName::FastcgiKeepConn,
        NginxSettingName::ProxyHttpVersion,
        NginxSettingName::ProxySetHeaderConnection,
    ];

    /// The directive as written (`proxy_set_header` for the Connection header).
    pub fn directive(self) -> &'static str {
        match self {
            NginxSettingName::FastcgiReadTimeout => "fastcgi_read_timeout",
            NginxSettingName::ProxyReadTimeout => "proxy_read_timeout",
            NginxSettingName::UwsgiReadTimeout => "uwsgi_read_timeout",
            NginxSettingName::ScgiReadTimeout => "scgi_read_timeout",
            NginxSettingName::GrpcReadTimeout => "grpc_read_timeout",
            NginxSettingName::ProxyTimeout => "proxy_timeout",
            NginxSettingName::FastcgiKeepConn => "fastcgi_keep_conn",
            NginxSettingName::ProxyHttpVersion => "proxy_http_version",
            NginxSettingName::ProxySetHeaderConnection => "proxy_set_header",
        }
    }
}

/// What a `*_pass` sends to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PassTarget {
    /// `unix:/path`.
    Unix { path: String },
    /// A host and port that name no `upstream` block.
    Tcp { host: String, port: u16 },
    /// An `upstream` block (its index in `NginxFacts::upstreams`).
    Upstream { name: String, index: usize },
    /// A name with no port and no `upstream` block of that name: nginx -t refuses it for
    /// fastcgi/uwsgi/scgi ("no port in upstream").
    Unknown { name: String },
    /// It holds variables: resolved per request.
    Dynamic { raw: String },
}

/// A time setting in effect, or its default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Timeout {
    pub millis: u64,
    /// As written (`60s` for the default).
    pub raw: Cow<'static, str>,
    /// `None`: nginx's default.
    pub at: Option<Location>,
}

/// One `fastcgi_pass`, `proxy_pass`, `uwsgi_pass`, `scgi_pass` or `grpc_pass`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct NginxPass {
    pub directive: Cow<'static, str>,
    pub at: Location,
    /// Its argument as written.
    pub raw: String,
    /// `http`, `https`, `grpc`, `grpcs`; `None` for fastcgi, uwsgi, scgi and stream.
    pub scheme: Option<Cow<'static, str>>,
    pub target: PassTarget,
    /// In a stream `server` (TCP/UDP proxying).
    pub stream: bool,
    /// Its `location` (modifier and pattern, as written), if in one.
    pub location: Option<Arc<str>>,
    /// The innermost scope around it that sets anything (index in `NginxFacts::scopes`).
    pub scope: u32,
}

/// `*_read_timeout` default (60s), stream `proxy_timeout` default (10m).
const DEFAULT_READ_MS: u64 = 60_000;
const DEFAULT_STREAM_MS: u64 = 600_000;

impl NginxFacts {
    /// The passes whose errors name `address` (`unix:/path` or `host:port`, as nginx's
    /// error log does): a pass to it, or to an upstream block that lists it. Host names are
    /// compared as written (nginx logs the address it resolved).
    pub fn passes_to(&self, address: &str) -> Vec<&NginxPass> {
        self.passes
            .iter()
            .filter(|p| match &p.target {
                PassTarget::Unix { path } => address.strip_prefix("unix:") == Some(path),
                PassTarget::Tcp { host, port } => same_tcp(address, host, *port),
                PassTarget::Upstream { index, name } => {
                    address == name
                        || self.upstreams[*index]
                            .servers
                            .iter()
                            .any(|s| s.value == address)
                }
                PassTarget::Unknown { name } => address == name,
                PassTarget::Dynamic { .. } => false,
            })
            .collect()
    }

    /// The scopes around a pass, innermost first.
    fn chain(&self, pass: &NginxPass) -> impl Iterator<Item = &NginxScopeFacts> {
        let mut next = Some(pass.scope);
        std::iter::from_fn(move || {
            let s = self.scopes.get(next? as usize)?;
            next = s.parent;
            Some(s)
        })
    }

    /// The setting `name` in effect for a pass, if written.
    pub fn setting(&self, pass: &NginxPass, name: NginxSettingName) -> Option<&NginxSetting> {
        if name == NginxSettingName::ProxySetHeaderConnection {
            return self.connection_header(pass);
        }
        self.chain(pass)
            .find_map(|s| s.settings.iter().find(|x| x.name == name))
    }

    /// How long a request through this pass waits for the upstream's answer once connected
    /// (then 504): its `*_read_timeout` (default 60s), for stream `proxy_timeout` (10m).
    pub fn read_timeout(&self, pass: &NginxPass) -> Timeout {
        let name = match (&*pass.directive, pass.stream) {
            (_, true) => NginxSettingName::ProxyTimeout,
            ("fastcgi_pass", _) => NginxSettingName::FastcgiReadTimeout,
            ("uwsgi_pass", _) => NginxSettingName::UwsgiReadTimeout,
            ("scgi_pass", _) => NginxSettingName::ScgiReadTimeout,
            ("grpc_pass", _) => NginxSettingName::GrpcReadTimeout,
            _ => NginxSettingName::ProxyReadTimeout,
        };
        if let Some(s) = self.setting(pass, name)
            && let Some(millis) = nginx_millis(&s.value)
        {
            return Timeout {
                millis,
                raw: Cow::Owned(s.value.clone()),
                at: Some(s.at.clone()),
            };
        }
        let (millis, raw) = if pass.stream {
            (DEFAULT_STREAM_MS, "10m")
        } else {
            (DEFAULT_READ_MS, "60s")
        };
        Timeout {
            millis,
            raw: Cow::Borrowed(raw),
            at: None,
        }
    }

    /// The error logs a pass's errors go to (indices in `error_logs`): the nearest level's.
    pub fn error_logs_of(&self, pass: &NginxPass) -> Vec<usize> {
        self.chain(pass)
            .find(|s| !s.error_logs.is_empty())
            .map(|s| s.error_logs.iter().map(|&i| i as usize).collect())
            .unwrap_or_default()
    }

    /// The first name of the pass's server's `server_name`.
    pub fn server_name(&self, pass: &NginxPass) -> Option<&str> {
        self.chain(pass)
            .find(|s| matches!(s.kind, NginxScope::Server | NginxScope::StreamServer))?
            .server_name
            .as_deref()
    }

    /// `fastcgi_keep_conn on` in effect (fastcgi_pass).
    pub fn keep_conn(&self, pass: &NginxPass) -> bool {
        self.setting(pass, NginxSettingName::FastcgiKeepConn)
            .is_some_and(|s| s.value.eq_ignore_ascii_case("on"))
    }

    /// `proxy_http_version` in effect (proxy_pass of http; `1.0` when unset).
    pub fn http_version(&self, pass: &NginxPass) -> &str {
        self.setting(pass, NginxSettingName::ProxyHttpVersion)
            .map_or("1.0", |s| s.value.as_str())
    }

    /// `proxy_set_header Connection ...` in effect (unset: nginx sends `Connection: close`).
    pub fn connection_header(&self, pass: &NginxPass) -> Option<&NginxSetting> {
        let level = self.chain(pass).find(|s| s.sets_headers)?;
        level.connection.as_deref()
    }

    /// The upstream block a pass sends to, if any.
    pub fn upstream_of(&self, pass: &NginxPass) -> Option<&NginxUpstream> {
        match pass.target {
            PassTarget::Upstream { index, .. } => self.upstreams.get(index),
            _ => None,
        }
    }

    /// Whether a pass reuses upstream connections (the remedy for ephemeral-port
    /// exhaustion): an upstream block with `keepalive`, and for http `proxy_http_version
    /// 1.1` with an emptied Connection header, for fastcgi `fastcgi_keep_conn on`.
    pub fn reuses_connections(&self, pass: &NginxPass) -> bool {
        let keepalive = self
            .upstream_of(pass)
            .is_some_and(|u| u.keepalive.is_some());
        keepalive
            && match &*pass.directive {
                "proxy_pass" if !pass.stream => {
                    self.http_version(pass) == "1.1"
                        && self
                            .connection_header(pass)
                            .is_some_and(|c| c.value.is_empty())
                }
                "fastcgi_pass" => self.keep_conn(pass),
                _ => true,
            }
    }

    /// Every log file its error logs name, once each, in order.
    pub fn log_files(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for l in &self.error_logs {
            if let Some(f) = l.log.file()
                && !out.contains(&f)
            {
                out.push(f);
            }
        }
        out
    }
}

/// nginx's time values (`ngx_parse_time`): numbers with units ms, s, m, h, d, w, M, y,
/// several in a row (`1m30s`), seconds when bare. Milliseconds.
pub fn nginx_millis(v: &str) -> Option<u64> {
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

/// `host:port` against a TCP target (IPv6 hosts in brackets, as nginx prints them).
fn same_tcp(address: &str, host: &str, port: u16) -> bool {
    let Some((h, p)) = address.rsplit_once(':') else {
        return false;
    };
    p.parse::<u16>().ok() == Some(port) && h == host
}

/// php-fpm: its error log, log level and pools.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PhpFpmFacts {
    /// Its php-fpm.conf (in-root path).
    pub config: String,
    /// The unit that runs it (`php8.2-fpm`).
    pub unit: String,
    /// The global `error_log`: where the master writes "server reached pm.max_children".
    pub error_log: Option<LogSetting>,
    /// The global `log_level` (default notice; `error` or `alert` hide the warnings).
    pub log_level: Option<Set<String>>,
    pub pools: Vec<PhpFpmPool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PhpFpmPool {
    pub name: String,
    /// Its `[name]` line.
    pub at: Location,
    /// As `Listener::address` names it: `unix /run/php/php8.2-fpm.sock`, `tcp 127.0.0.1:9000`.
    pub address: Option<String>,
    /// `pm`: static, dynamic or ondemand (php-fpm refuses to start without it). Only dynamic
    /// and ondemand log reaching max_children; static never does.
    pub pm: Option<Set<String>>,
    /// `pm.max_children`: the most requests the pool serves at once.
    pub max_children: Option<Set<u64>>,
    /// `request_terminate_timeout` in seconds (0 or unset: off).
    pub request_terminate_timeout: Option<Set<u64>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RedisFacts {
    /// Its redis.conf (in-root path).
    pub config: String,
    /// `logfile` (empty or unset: stdout, the journal under systemd).
    pub log: LogSetting,
    /// `syslog-enabled yes`: every line also goes to syslog.
    pub syslog: bool,
}

impl RedisFacts {
    /// From redis.conf's `logfile` (value, line), `syslog-enabled` and `daemonize`, and the
    /// directory redis-server runs in once its config is read (the last `dir`): Redis opens
    /// its log file on every write, relative to that (src/server.c `serverLogRaw`).
    pub(crate) fn new(
        config: &str,
        logfile: Option<(&str, &Location)>,
        syslog: &Option<bool>,
        daemonize: &Option<bool>,
        cwd: &str,
    ) -> RedisFacts {
        let log = match logfile {
            Some((path, at)) if !path.is_empty() => LogSetting {
                target: LogTarget::File {
                    path: crate::root::join(cwd, path),
                },
                at: Some(at.clone()),
                note: None,
            },
            _ => LogSetting {
                target: LogTarget::Stream {
                    name: "stdout".into(),
                },
                at: logfile.map(|(_, at)| at.clone()),
                note: Some(if *daemonize == Some(true) {
                    "logfile \"\" with daemonize yes: Redis sends its log to /dev/null".into()
                } else {
                    "logfile \"\" (the default): stdout, the journal under systemd".into()
                }),
            },
        };
        RedisFacts {
            config: config.to_string(),
            log,
            syslog: *syslog == Some(true),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UwsgiFacts {
    /// The ini file (in-root path).
    pub config: String,
    /// Where it logs: `logto`, `logto2`, `daemonize`, `daemonize2`, `logger = file:...`,
    /// Debian's init script's `--daemonize /var/log/uwsgi/app/NAME.log`; stderr otherwise.
    pub logs: Vec<LogSetting>,
}

/// php-fpm's time values (`request_terminate_timeout`, fpm_conf.c `fpm_conf_set_time`):
/// digits with an optional s, m, h or d; seconds when bare.
pub fn fpm_seconds(v: &str) -> Option<u64> {
    let v = v.trim();
    let (digits, mult) = match v.as_bytes().last()? {
        b's' => (&v[..v.len() - 1], 1),
        b'm' => (&v[..v.len() - 1], 60),
        b'h' => (&v[..v.len() - 1], 3600),
        b'd' => (&v[..v.len() - 1], 86_400),
        _ => (v, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(mult)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::redis;
    use crate::services::testutil::{fixture, scan_dir};

    #[test]
    fn redis_log_file_or_stdout() {
        let s = scan_dir(&fixture("debian-stock"), redis::scan);
        let conf = "/etc/redis/redis.conf";
        assert_eq!(
            s.facts.redis,
            [RedisFacts {
                config: conf.into(),
                log: LogSetting {
                    target: LogTarget::File {
                        path: "/var/log/redis/redis-server.log".into()
                    },
                    at: Some(Location {
                        path: conf.into(),
                        line: 354
                    }),
                    note: None,
                },
                syslog: false,
            }]
        );
        let at = Location {
            path: "/r".into(),
            line: 3,
        };
        let f = RedisFacts::new("/r", Some(("redis.log", &at)), &Some(true), &None, "/data");
        assert_eq!(f.log.file(), Some("/data/redis.log"));
        assert!(f.syslog);
        let f = RedisFacts::new("/r", Some(("", &at)), &None, &Some(true), "/");
        assert_eq!(
            f.log.target,
            LogTarget::Stream {
                name: "stdout".into()
            }
        );
        assert!(f.log.note.unwrap().contains("/dev/null"));
        let f = RedisFacts::new("/r", None, &None, &None, "/");
        assert_eq!(f.log.at, None);
    }

    #[test]
    fn fpm_times() {
        assert_eq!(fpm_seconds("30"), Some(30));
        assert_eq!(fpm_seconds("30s"), Some(30));
        assert_eq!(fpm_seconds("5m"), Some(300));
        assert_eq!(fpm_seconds("1h"), Some(3600));
        assert_eq!(fpm_seconds("2d"), Some(172_800));
        assert_eq!(fpm_seconds("0"), Some(0));
        assert_eq!(fpm_seconds("s"), None);
        assert_eq!(fpm_seconds("1.5m"), None);
        assert_eq!(fpm_seconds(""), None);
    }
}
