//! Service listeners: one module per config format. Each finds its service's config files
//! (Debian and RHEL locations) inside the root, follows its include rules, and reports one
//! `Listener` per socket the service opens, with the requested backlog, where it comes from,
//! and how to change it (a byte-range edit of the original text).

use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;

use serde::Serialize;

use crate::error::Error;
use crate::host::Host;

pub mod apache;
pub mod haproxy;
pub mod memcached;
pub mod mysql;
pub mod nginx;
pub mod phpfpm;
pub mod redis;
pub mod systemd_socket;
#[cfg(test)]
pub(crate) mod testutil;
pub mod uwsgi;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    /// Shared: thousands of findings and listeners point into the same few hundred files.
    pub path: Arc<str>,
    pub line: usize,
}

/// Where a requested backlog comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    At(Location),
    /// No setting: the service's default, and why that default applies.
    Default(Cow<'static, str>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Restart,
    Reload,
}

/// How to change a listener's backlog in its config: replace the bytes of the current value,
/// or insert a directive. `template` holds `{}` where the number goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setter {
    /// In-root path of the file to edit (after following links).
    pub path: Arc<str>,
    pub range: Range<usize>,
    pub template: Cow<'static, str>,
    /// 1-based line of `range.start` when the scanner knows it without the file's text
    /// (nginx, whose texts are not kept: see `Host::read_once`); otherwise it is counted in
    /// the text when a finding needs it.
    pub line: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// "nginx", "php-fpm", "redis", "haproxy", "apache", "mysql", "memcached", "uwsgi", "systemd"
    pub service: Cow<'static, str>,
    /// Pool, frontend, server block, unit... as an admin would name it.
    pub instance: String,
    /// "tcp HOST:PORT" or "unix /path".
    pub address: String,
    /// The backlog passed to listen(), as the service computes it (may be -1).
    /// `None` when the service sizes it at runtime and the config does not tell.
    pub requested: Option<i64>,
    pub source: Source,
    /// Unit or init script name to restart (`php8.2-fpm`, `nginx`, `redis-server`).
    pub unit: Cow<'static, str>,
    pub action: Action,
    /// Why that action (e.g. "php-fpm keeps its old socket on reload").
    pub action_reason: Cow<'static, str>,
    pub setter: Option<Setter>,
    /// The service refuses to start when the backlog exceeds somaxconn (uWSGI).
    pub refuses_above_somaxconn: bool,
    /// The config checker to run on an edited file, e.g. ["nginx", "-t", "-c", "{conf}"].
    /// Shared by every listener of one config (thousands on a busy nginx).
    pub checker: std::sync::Arc<[String]>,
}

/// Something wrong in a service config that is not fatal (a malformed line, a missing
/// include). Reported as a finding with its location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub location: Location,
    pub message: String,
}

#[derive(Debug, Default)]
pub struct Scan {
    pub listeners: Vec<Listener>,
    pub problems: Vec<Problem>,
    /// Unreadable files, include loops, non-UTF-8: the run goes on, but exits 1.
    pub errors: Vec<Error>,
}

impl Scan {
    /// An empty scan whose listener list is allocated by the calling thread, for another
    /// thread (nginx's) to fill. glibc grows a block in the arena it came from, so a busy
    /// host's megabytes of listeners stay in this thread's heap, where `merge` extends them
    /// in place; grown in the filling thread's arena they would be copied out (ten times the
    /// busy host: 8.7 MB copied into fresh pages) or, past its 64 MiB, into small pages.
    pub fn here() -> Scan {
        Scan {
            listeners: Vec::with_capacity(16),
            ..Scan::default()
        }
    }
}

/// Scan every supported service found in the root. nginx, the largest config on a busy
/// host, is scanned on the second core; results keep a fixed order.
pub fn scan(host: &Host) -> Scan {
    let side = host.side();
    let scan = std::thread::scope(|s| {
        let mine = Scan::here();
        let nginx = crate::heap::spawn_apart(s, || scan_nginx(&side, mine));
        let rest = scan_others(host);
        merge(crate::heap::join(nginx), rest)
    });
    host.absorb(side);
    scan
}

/// nginx alone, into `scan` (from `Scan::here`): the caller may run it on its own thread.
pub fn scan_nginx(host: &Host, mut scan: Scan) -> Scan {
    let _t = crate::trace::phase("nginx");
    nginx::scan(host, &mut scan);
    scan
}

/// Every service but nginx.
pub fn scan_others(host: &Host) -> Scan {
    let scanners: [(&str, ScanFn); 8] = [
        ("phpfpm", phpfpm::scan),
        ("redis", redis::scan),
        ("haproxy", haproxy::scan),
        ("apache", apache::scan),
        ("mysql", mysql::scan),
        ("memcached", memcached::scan),
        ("uwsgi", uwsgi::scan),
        ("systemd_socket", systemd_socket::scan),
    ];
    let mut rest = Scan::default();
    for (name, f) in scanners {
        let _t = crate::trace::phase(name);
        f(host, &mut rest);
    }
    rest
}

/// nginx's results first, then the others', as `scan` orders them.
pub fn merge(mut all: Scan, rest: Scan) -> Scan {
    all.listeners.extend(rest.listeners);
    all.problems.extend(rest.problems);
    all.errors.extend(rest.errors);
    all
}

type ScanFn = fn(&Host, &mut Scan);
