//! What the services' own logs say about full queues and busy workers, read while a snapshot
//! is built: a bounded tail of every log the configs name (`services::facts`), counted line
//! by line and never stored.
//!
//! Counted (each with its count, first and last time, and the most recent line as a sample):
//! - nginx's error logs: upstream connects that failed with EAGAIN (a unix socket's full
//!   queue), were refused, found no local port (EADDRNOTAVAIL), timed out, or found no live
//!   upstream, per upstream address (`logs::nginx`);
//! - php-fpm's error_log: pools that reached pm.max_children (`logs::phpfpm`);
//! - Redis's log: the tcp-backlog that somaxconn caps (`logs::redis`);
//! - uWSGI's logs: a full listen queue per socket, the refusal to start above somaxconn
//!   (`logs::uwsgi`).
//!
//! A service that logs to syslog is looked for in /var/log/syslog and /var/log/messages, its
//! lines recognized behind the syslog prefix. A log that is missing, unreadable, not a
//! regular file (a FIFO, a directory), or written to the journal is a note, never an error.
//! Times are the logs' own local times, compared as written; lines out of order are fine
//! (first and last are the earliest and latest seen).

pub mod follow;
pub mod nginx;
pub mod phpfpm;
pub mod redis;
pub mod tail;
pub mod time;
pub mod uwsgi;

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::MetadataExt;

use memchr::memmem::Finder;
use serde::{Deserialize, Serialize};

use crate::host::Host;
use crate::services::facts::{LogSetting, LogTarget, ServiceFacts};

pub use nginx::UpstreamErrorKind;
pub use tail::Window;
pub use time::LogTime;

/// `--log-bytes`: how much of each log's end is read.
pub const DEFAULT_LOG_BYTES: u64 = 64 << 20;
/// All logs together are read at most this many times `--log-bytes` (a host with thousands
/// of per-site logs is read in bounded time too).
pub const TOTAL_BUDGET_FILES: u64 = 4;
/// Where a service logging to syslog ends up in files (Debian, RHEL).
pub const SYSLOG_FILES: [&str; 2] = ["/var/log/syslog", "/var/log/messages"];
/// Longest sample line kept (nginx's lines stop at 2048 bytes).
const MAX_SAMPLE: usize = 2048;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Bytes read from the end of each log; 0 reads none.
    pub max_bytes: u64,
}

impl Options {
    /// `--log-bytes` as given: a number of bytes, with an optional K, M or G suffix (powers
    /// of 1024; `KiB`, `MiB`, `GiB` and `k` too).
    pub fn parse_bytes(v: &str) -> Result<u64, String> {
        let v = v.trim();
        let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
        let (num, unit) = v.split_at(split);
        let mult: u64 = match unit.trim() {
            "" => 1,
            "k" | "K" | "KiB" => 1 << 10,
            "M" | "MiB" => 1 << 20,
            "G" | "GiB" => 1 << 30,
            u => return Err(format!("{v}: unknown unit {u:?} (bytes, or K, M, G)")),
        };
        let n: u64 = num
            .parse()
            .map_err(|_| format!("{v}: not a number of bytes"))?;
        n.checked_mul(mult).ok_or_else(|| format!("{v}: too large"))
    }
}

impl Default for Options {
    fn default() -> Options {
        Options {
            max_bytes: DEFAULT_LOG_BYTES,
        }
    }
}

/// Everything the logs said.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LogEvidence {
    /// The bound each log was read with.
    pub max_bytes: u64,
    /// Every log looked at, read or not.
    pub files: Vec<LogFile>,
    pub upstream_errors: Vec<UpstreamErrors>,
    pub max_children: Vec<MaxChildrenReached>,
    pub redis_backlog: Vec<RedisBacklogCapped>,
    pub uwsgi_queue_full: Vec<UwsgiQueueFull>,
    pub uwsgi_refused: Vec<UwsgiRefused>,
    /// Logs that are not files qfix reads (the journal, remote syslog, nginx's memory
    /// buffer), settings that keep the lines out of a log, syslog files absent.
    pub notes: Vec<String>,
}

/// One log file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LogFile {
    /// In-root path.
    pub path: String,
    /// Whose lines were looked for: `nginx`, `php-fpm`, `redis`, `uwsgi`.
    pub services: Vec<String>,
    /// What was read; `None` when it was not (the notes say why).
    pub window: Option<Window>,
    /// Missing, unreadable, not a regular file, shrank or rotated during the read.
    pub notes: Vec<String>,
}

/// How often a line appeared, when, and the most recent one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Tally {
    pub count: u64,
    /// Earliest and latest times among the lines (not the first and last in the file:
    /// lines may be out of order). `None` when no line had a time qfix reads.
    pub first: Option<LogTime>,
    pub last: Option<LogTime>,
    pub sample: Sample,
}

/// One line, where to find it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Sample {
    /// Its line number in the file: known only when the whole file was read.
    pub line: Option<u64>,
    /// Its line number counted from the first full line read.
    pub tail_line: u64,
    /// Its offset in the file (`tail -c +$((offset + 1)) FILE | head -1` shows it).
    pub offset: u64,
    /// The line (lossy UTF-8, cut at 2048 bytes).
    pub text: String,
}

/// nginx's failures to reach one upstream, of one kind, in one log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UpstreamErrors {
    pub log: String,
    /// As the log names it: `unix:/run/php/php8.2-fpm.sock`, `127.0.0.1:9000`, or an
    /// upstream block's name (`no live upstreams`).
    pub upstream: String,
    /// `fastcgi`, `http`, ... (`None` for stream).
    pub scheme: Option<String>,
    pub kind: UpstreamErrorKind,
    pub errno: Option<i32>,
    /// What nginx was doing: `connecting to upstream`, `reading response header from
    /// upstream`...
    pub action: Option<String>,
    pub tally: Tally,
}

/// php-fpm: a pool reached its max_children.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MaxChildrenReached {
    pub log: String,
    pub pool: String,
    /// The N in the warning: the pool's max_children when it was logged.
    pub max_children: u64,
    /// `pm.max_children` (pm = dynamic) or `max_children` (pm = ondemand).
    pub setting: String,
    /// Saturation episodes (php-fpm warns once until the pool has idle workers again).
    pub tally: Tally,
}

/// Redis: its tcp-backlog capped by somaxconn at start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RedisBacklogCapped {
    pub log: String,
    pub backlog: u64,
    pub somaxconn: u64,
    pub tally: Tally,
}

/// uWSGI: a socket's listen queue full (checked by the master every second).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UwsgiQueueFull {
    pub log: String,
    pub socket: String,
    /// The largest queue seen.
    pub queue: u64,
    /// The queue's limit (the listen backlog).
    pub limit: u64,
    pub tally: Tally,
}

/// uWSGI: refused to start, its listen above somaxconn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UwsgiRefused {
    pub log: String,
    pub somaxconn: u64,
    pub tally: Tally,
}

impl LogEvidence {
    /// Read the logs the facts name, each through the root, at most `opts.max_bytes` of
    /// each.
    pub fn read(host: &Host, facts: &ServiceFacts, opts: &Options) -> LogEvidence {
        let (sources, notes) = sources(facts);
        let mut ev = LogEvidence {
            max_bytes: opts.max_bytes,
            notes,
            ..LogEvidence::default()
        };
        let mut counts = Counts::default();
        let mut syslog_seen = false;
        let mut syslog_wanted = false;
        // a directory that does not exist holds none of its logs: looked at once
        let mut dirs: std::collections::HashMap<&str, bool> = std::collections::HashMap::new();
        let mut budget = opts.max_bytes.saturating_mul(TOTAL_BUDGET_FILES);
        for src in &sources {
            syslog_wanted |= src.optional;
            let dir = crate::root::parent(&src.path);
            let dir_exists = *dirs.entry(dir).or_insert_with(|| host.root.is_dir(dir));
            if !dir_exists {
                if !src.optional {
                    ev.files.push(src.unread("missing"));
                }
                continue;
            }
            if budget == 0 && opts.max_bytes > 0 {
                ev.files.push(src.unread(&format!(
                    "not read: the other logs used the whole budget ({} MiB, {TOTAL_BUDGET_FILES} x --log-bytes)",
                    opts.max_bytes.saturating_mul(TOTAL_BUDGET_FILES) >> 20
                )));
                continue;
            }
            if opts.max_bytes == 0 {
                ev.files.push(LogFile {
                    path: src.path.clone(),
                    services: src.services(),
                    window: None,
                    notes: vec!["not read: --log-bytes 0".into()],
                });
                continue;
            }
            let file = match host.root.open_file(&src.path, false) {
                Ok(Some(f)) => f,
                // a syslog file the distribution does not use
                Ok(None) if src.optional => continue,
                Ok(None) => {
                    ev.files.push(src.unread("missing"));
                    continue;
                }
                Err(e) => {
                    // FIFO, directory, device, permission: named by the root's message
                    ev.files.push(src.unread(&format!("not read: {e}")));
                    continue;
                }
            };
            syslog_seen |= src.optional;
            let each = Options {
                max_bytes: opts.max_bytes.min(budget),
            };
            let read = read_one(host, src, &file, &each, &mut counts);
            budget -= read.window.as_ref().map_or(0, |w| w.bytes_read).min(budget);
            ev.files.push(read);
        }
        if syslog_wanted && !syslog_seen && opts.max_bytes > 0 {
            ev.notes.push(format!(
                "a service logs to syslog, but neither {} exists (the journal only?): \
                 qfix reads log files only",
                SYSLOG_FILES.join(" nor ")
            ));
        }
        counts.into_evidence(&mut ev);
        ev
    }

    /// nginx's errors about `upstream` (as the log names it).
    pub fn upstream_errors_for<'a>(
        &'a self,
        upstream: &'a str,
    ) -> impl Iterator<Item = &'a UpstreamErrors> + 'a {
        self.upstream_errors
            .iter()
            .filter(move |e| e.upstream == upstream)
    }
}

/// Whether an upstream as nginx's log names it (`unix:/path`, `host:port`) is the socket a
/// listener's address names (`unix /path`, `tcp HOST:PORT`, `tcp *:PORT`): a wildcard
/// listener (`*`, `0.0.0.0`, `[::]`) takes every host on its port.
pub fn upstream_is_listener(upstream: &str, listener: &str) -> bool {
    if let Some(path) = upstream.strip_prefix("unix:") {
        return listener.strip_prefix("unix ") == Some(path);
    }
    let Some(l) = listener.strip_prefix("tcp ") else {
        return false;
    };
    let (Some((uh, up)), Some((lh, lp))) = (upstream.rsplit_once(':'), l.rsplit_once(':')) else {
        return false;
    };
    up == lp && (uh == lh || matches!(lh, "*" | "0.0.0.0" | "[::]"))
}

/// A log to read and whose lines to look for in it.
#[derive(Debug)]
struct Source {
    path: String,
    nginx: bool,
    php_fpm: bool,
    redis: bool,
    uwsgi: bool,
    /// A syslog file: its absence is normal (Debian has one, RHEL the other).
    optional: bool,
}

impl Source {
    fn services(&self) -> Vec<String> {
        [
            (self.nginx, "nginx"),
            (self.php_fpm, "php-fpm"),
            (self.redis, "redis"),
            (self.uwsgi, "uwsgi"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, s)| s.to_string())
        .collect()
    }

    fn unread(&self, note: &str) -> LogFile {
        LogFile {
            path: self.path.clone(),
            services: self.services(),
            window: None,
            notes: vec![note.to_string()],
        }
    }
}

#[derive(Clone, Copy)]
enum Service {
    Nginx,
    PhpFpm,
    Redis,
    Uwsgi,
}

impl Service {
    fn name(self) -> &'static str {
        match self {
            Service::Nginx => "nginx",
            Service::PhpFpm => "php-fpm",
            Service::Redis => "redis",
            Service::Uwsgi => "uwsgi",
        }
    }
}

/// The logs to read, and notes on the ones that are not files.
fn sources(facts: &ServiceFacts) -> (Vec<Source>, Vec<String>) {
    let mut s = Sources::default();
    for n in &facts.nginx {
        for l in &n.error_logs {
            s.setting(&l.log, Service::Nginx, "nginx");
            if matches!(&*l.level, "crit" | "alert" | "emerg")
                && let Some(at) = &l.log.at
            {
                s.notes.push(format!(
                    "nginx: error_log at {}:{} has level {}: connect() EAGAIN, refused and \
                     timed-out lines (level error) are not written there",
                    at.path, at.line, l.level
                ));
            }
        }
    }
    for p in &facts.php_fpm {
        if let Some(l) = &p.error_log {
            s.setting(l, Service::PhpFpm, &p.unit);
        }
        if let Some(level) = &p.log_level
            && matches!(level.value.as_str(), "error" | "alert")
        {
            s.notes.push(format!(
                "php-fpm: log_level = {} ({}:{}) hides the max_children warnings",
                level.value, level.at.path, level.at.line
            ));
        }
    }
    for r in &facts.redis {
        s.setting(&r.log, Service::Redis, "redis-server");
        if r.syslog {
            for f in SYSLOG_FILES {
                s.add(f, Service::Redis, true);
            }
        }
    }
    for u in &facts.uwsgi {
        let unit = format!("uwsgi {}", crate::root::file_name(&u.config));
        for l in &u.logs {
            s.setting(l, Service::Uwsgi, &unit);
        }
    }
    (s.out, s.notes)
}

#[derive(Default)]
struct Sources {
    out: Vec<Source>,
    /// Where each path is in `out` (a busy nginx names thousands of logs).
    index: std::collections::HashMap<String, usize>,
    notes: Vec<String>,
}

impl Sources {
    fn add(&mut self, path: &str, s: Service, optional: bool) {
        let i = match self.index.get(path) {
            Some(&i) => i,
            None => {
                self.index.insert(path.to_string(), self.out.len());
                self.out.push(Source {
                    path: path.to_string(),
                    nginx: false,
                    php_fpm: false,
                    redis: false,
                    uwsgi: false,
                    optional,
                });
                self.out.len() - 1
            }
        };
        let src = &mut self.out[i];
        src.optional &= optional;
        match s {
            Service::Nginx => src.nginx = true,
            Service::PhpFpm => src.php_fpm = true,
            Service::Redis => src.redis = true,
            Service::Uwsgi => src.uwsgi = true,
        }
    }

    fn setting(&mut self, log: &LogSetting, s: Service, unit: &str) {
        let whose = format!("{} ({unit})", s.name());
        match &log.target {
            LogTarget::File { path } => self.add(path, s, false),
            LogTarget::Stream { name } => self.notes.push(format!(
                "{whose} logs to {name}: under systemd that is the journal (journalctl -u \
                 {unit}); qfix reads log files only"
            )),
            LogTarget::Syslog { spec } => {
                // nginx's `syslog:server=ADDR`: only a server on this host lands in its files
                let local = !spec.contains("server=")
                    || spec.contains("server=unix:/dev/log")
                    || spec.contains("server=127.0.0.1")
                    || spec.contains("server=localhost");
                if local {
                    for f in SYSLOG_FILES {
                        self.add(f, s, true);
                    }
                } else {
                    self.notes.push(format!(
                        "{whose} logs to a syslog server ({spec}): qfix reads local files only"
                    ));
                }
            }
            LogTarget::Memory { spec } => self.notes.push(format!(
                "{whose} logs to memory ({spec}): only a debugger reads it"
            )),
        }
    }
}

/// Read one open log, counting into `counts`.
fn read_one(
    host: &Host,
    src: &Source,
    file: &File,
    opts: &Options,
    counts: &mut Counts,
) -> LogFile {
    let mut notes = Vec::new();
    let meta = file.metadata().ok();
    let hint = time::YearHint::from_unix(meta.as_ref().map_or(0, |m| m.mtime()));
    let finders = Finders {
        nginx: src.nginx.then(|| Finder::new(nginx::NEEDLE)),
        php_fpm: src.php_fpm.then(|| Finder::new(phpfpm::NEEDLE)),
        redis: src.redis.then(|| Finder::new(redis::NEEDLE)),
        uwsgi: src.uwsgi.then(|| Finder::new(uwsgi::NEEDLE)),
    };
    let before = counts.samples.len();
    let window = tail::read(file, opts.max_bytes, |line| {
        finders.line(&src.path, line, hint, counts);
    });
    let window = match window {
        Ok(w) => w,
        Err(e) => {
            notes.push(format!("read failed: {e}"));
            return LogFile {
                path: src.path.clone(),
                services: src.services(),
                window: None,
                notes,
            };
        }
    };
    // the whole file read: sample line numbers are the file's own
    if window.start == 0 {
        for s in &mut counts.samples[before..] {
            s.line = Some(s.tail_line);
        }
    } else {
        notes.push(format!(
            "only its last {} of {} bytes read (--log-bytes): earlier lines are not counted",
            window.size - window.start,
            window.size
        ));
    }
    if let Some(to) = window.shrank_to {
        notes.push(format!(
            "shrank to {to} bytes during the read (truncated, or rotated with copytruncate): \
             counted what was read"
        ));
    }
    // renamed away (rotated) since it was opened: what was read is the old file
    let now = host.root.open_file(&src.path, false).ok().flatten();
    let same = match (&meta, now.and_then(|f| f.metadata().ok())) {
        (Some(a), Some(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    };
    if !same {
        notes.push("rotated or removed during the read: counted the file that was open".into());
    }
    LogFile {
        path: src.path.clone(),
        services: src.services(),
        window: Some(window),
        notes,
    }
}

struct Finders {
    nginx: Option<Finder<'static>>,
    php_fpm: Option<Finder<'static>>,
    redis: Option<Finder<'static>>,
    uwsgi: Option<Finder<'static>>,
}

impl Finders {
    fn line(&self, log: &str, line: tail::Line<'_>, hint: time::YearHint, counts: &mut Counts) {
        let has =
            |f: &Option<Finder<'static>>| f.as_ref().is_some_and(|f| f.find(line.bytes).is_some());
        let (n, p, r, u) = (
            has(&self.nginx),
            has(&self.php_fpm),
            has(&self.redis),
            has(&self.uwsgi),
        );
        if !(n || p || r || u) {
            return;
        }
        let text = String::from_utf8_lossy(line.bytes);
        let (syslog_time, msg) = match time::syslog(&text, hint) {
            Some((t, m)) => (Some(t), m),
            None => (None, &*text),
        };
        let at = At {
            log,
            line: &line,
            text: &text,
        };
        if n && let Some(e) = nginx::parse(msg) {
            let t = time::nginx(msg).or(syslog_time.clone());
            counts.nginx(&at, e, t);
        }
        if p && let Some(e) = phpfpm::parse(msg) {
            let t = time::phpfpm(msg).or(syslog_time.clone());
            counts.php_fpm(&at, e, t);
        }
        if r && let Some(e) = redis::parse(msg) {
            let t = time::redis(msg).map(|x| x.0).or(syslog_time.clone());
            counts.redis(&at, e, t);
        }
        if u && let Some(e) = uwsgi::parse(msg) {
            let t = time::ctime(msg).or(syslog_time);
            counts.uwsgi(&at, e, t);
        }
    }
}

/// Where a counted line is.
struct At<'a> {
    log: &'a str,
    line: &'a tail::Line<'a>,
    text: &'a str,
}

/// nginx's counters' key: log, upstream, kind, errno, action.
type UpstreamKey = (
    String,
    String,
    UpstreamErrorKind,
    Option<i32>,
    Option<String>,
);

/// Counters being filled; each holds the index of its sample in `samples`.
#[derive(Default)]
struct Counts {
    samples: Vec<Sample>,
    upstream: BTreeMap<UpstreamKey, Partial<Option<String>>>,
    max_children: BTreeMap<(String, String, u64, &'static str), Partial<()>>,
    redis: BTreeMap<(String, u64, u64), Partial<()>>,
    uwsgi_full: BTreeMap<(String, String, u64), Partial<u64>>,
    uwsgi_refused: BTreeMap<(String, u64), Partial<()>>,
}

/// A tally being counted, and what else its kind keeps (nginx: the scheme; uWSGI: the
/// largest queue).
struct Partial<X> {
    count: u64,
    first: Option<LogTime>,
    last: Option<LogTime>,
    sample: usize,
    extra: X,
}

impl Counts {
    /// Count a line into the tally at `key`, keeping it as the sample.
    fn add<'m, K: Ord, X>(
        samples: &mut Vec<Sample>,
        map: &'m mut BTreeMap<K, Partial<X>>,
        key: K,
        at: &At<'_>,
        time: Option<LogTime>,
        extra: impl FnOnce() -> X,
    ) -> &'m mut X {
        let p = map.entry(key).or_insert_with(|| {
            samples.push(Sample {
                line: None,
                tail_line: 0,
                offset: 0,
                text: String::new(),
            });
            Partial {
                count: 0,
                first: None,
                last: None,
                sample: samples.len() - 1,
                extra: extra(),
            }
        });
        p.count += 1;
        if let Some(t) = time {
            if p.first.as_ref().is_none_or(|f| t < *f) {
                p.first = Some(t.clone());
            }
            if p.last.as_ref().is_none_or(|l| t > *l) {
                p.last = Some(t);
            }
        }
        // the most recent line in the file is the sample; its buffer is reused
        let s = &mut samples[p.sample];
        s.tail_line = at.line.number;
        s.offset = at.line.offset;
        s.text.clear();
        let mut end = at.text.len().min(MAX_SAMPLE);
        while !at.text.is_char_boundary(end) {
            end -= 1;
        }
        s.text.push_str(&at.text[..end]);
        &mut p.extra
    }

    fn nginx(&mut self, at: &At<'_>, e: nginx::Event<'_>, t: Option<LogTime>) {
        let key = (
            at.log.to_string(),
            e.upstream,
            e.kind,
            e.errno,
            e.action.map(str::to_string),
        );
        let scheme = e.scheme.map(str::to_string);
        Self::add(&mut self.samples, &mut self.upstream, key, at, t, || scheme);
    }

    fn php_fpm(&mut self, at: &At<'_>, e: phpfpm::Event<'_>, t: Option<LogTime>) {
        let key = (
            at.log.to_string(),
            e.pool.to_string(),
            e.max_children,
            e.setting,
        );
        Self::add(&mut self.samples, &mut self.max_children, key, at, t, || ());
    }

    fn redis(&mut self, at: &At<'_>, e: redis::Event, t: Option<LogTime>) {
        let key = (at.log.to_string(), e.backlog, e.somaxconn);
        Self::add(&mut self.samples, &mut self.redis, key, at, t, || ());
    }

    fn uwsgi(&mut self, at: &At<'_>, e: uwsgi::Event<'_>, t: Option<LogTime>) {
        match e {
            uwsgi::Event::QueueFull {
                socket,
                queue,
                limit,
                ..
            } => {
                let key = (at.log.to_string(), socket.to_string(), limit);
                let max = Self::add(&mut self.samples, &mut self.uwsgi_full, key, at, t, || 0);
                *max = (*max).max(queue);
            }
            uwsgi::Event::RefusedAboveSomaxconn { somaxconn } => {
                let key = (at.log.to_string(), somaxconn);
                Self::add(
                    &mut self.samples,
                    &mut self.uwsgi_refused,
                    key,
                    at,
                    t,
                    || (),
                );
            }
        }
    }

    fn into_evidence(self, ev: &mut LogEvidence) {
        let samples = self.samples;
        for ((log, upstream, kind, errno, action), p) in self.upstream {
            ev.upstream_errors.push(UpstreamErrors {
                log,
                upstream,
                scheme: p.extra.clone(),
                kind,
                errno,
                action,
                tally: finish(&p, &samples),
            });
        }
        for ((log, pool, max_children, setting), p) in self.max_children {
            ev.max_children.push(MaxChildrenReached {
                log,
                pool,
                max_children,
                setting: setting.to_string(),
                tally: finish(&p, &samples),
            });
        }
        for ((log, backlog, somaxconn), p) in self.redis {
            ev.redis_backlog.push(RedisBacklogCapped {
                log,
                backlog,
                somaxconn,
                tally: finish(&p, &samples),
            });
        }
        for ((log, socket, limit), p) in self.uwsgi_full {
            ev.uwsgi_queue_full.push(UwsgiQueueFull {
                log,
                socket,
                queue: p.extra,
                limit,
                tally: finish(&p, &samples),
            });
        }
        for ((log, somaxconn), p) in self.uwsgi_refused {
            ev.uwsgi_refused.push(UwsgiRefused {
                log,
                somaxconn,
                tally: finish(&p, &samples),
            });
        }
    }
}

fn finish<X>(p: &Partial<X>, samples: &[Sample]) -> Tally {
    Tally {
        count: p.count,
        first: p.first.clone(),
        last: p.last.clone(),
        sample: samples[p.sample].clone(),
    }
}

/// Fuzz entry point (`crate::fuzz`): every line of `data` through every parser, the
/// syslog prefix and the time formats. None may panic.
pub fn fuzz(data: &[u8]) {
    let hint = time::YearHint::from_unix(0);
    for raw in data.split(|&b| b == b'\n') {
        let text = String::from_utf8_lossy(raw);
        let msg = time::syslog(&text, hint).map_or(&*text, |(_, m)| m);
        let _ = (nginx::parse(msg), phpfpm::parse(msg), redis::parse(msg));
        let _ = uwsgi::parse(msg);
        let _ = (time::nginx(msg), time::phpfpm(msg), time::redis(msg));
        let _ = time::ctime(msg);
    }
}

#[cfg(test)]
mod tests;
