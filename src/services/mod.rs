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
pub mod facts;
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Location {
    /// Shared: thousands of findings and listeners point into the same few hundred files.
    pub path: Arc<str>,
    pub line: usize,
}

/// Where a requested backlog comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Source {
    At(Location),
    /// No setting: the service's default, and why that default applies.
    Default(Cow<'static, str>),
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Restart,
    Reload,
}

/// How to change a listener's backlog in its config: replace the bytes of the current value,
/// or insert a directive. `template` holds `{}` where the number goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Setter {
    /// In-root path of the file to edit (after following links).
    pub path: Arc<str>,
    pub range: Range<usize>,
    pub template: Cow<'static, str>,
    /// 1-based line of `range.start`: set by the scanner, or counted in the text once the
    /// scan is done (`scan`).
    pub line: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
    /// An administration socket (HAProxy's stats socket): its queue is sized for an operator,
    /// not for traffic, so the minimum backlog does not apply to it.
    pub control: bool,
    /// The config checker to run on an edited file, e.g. ["nginx", "-t", "-c", "{conf}"].
    /// Shared by every listener of one config (thousands on a busy nginx).
    pub checker: std::sync::Arc<[String]>,
}

/// Something wrong in a service config that is not fatal (a malformed line, a missing
/// include). Reported as a finding with its location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub location: Location,
    pub message: String,
}

#[derive(Debug, Default, Serialize)]
pub struct Scan {
    pub listeners: Vec<Listener>,
    pub problems: Vec<Problem>,
    /// Unreadable files, include loops, non-UTF-8: the run goes on, but exits 1.
    pub errors: Vec<Error>,
    /// Where services log and what nginx passes to (for `crate::logs`); not part of the
    /// JSON outputs.
    #[serde(skip)]
    pub facts: facts::ServiceFacts,
}

/// Scan every supported service found in the root, then give every setter its line (a
/// finding points at it). nginx, the largest on a busy host, is read on a thread of its own
/// beside the rest; the results are joined in the order of a sequential scan.
pub fn scan(host: &Host) -> Scan {
    let others: [(&str, ScanFn); 9] = [
        ("phpfpm", phpfpm::scan),
        ("redis", redis::scan),
        ("haproxy", haproxy::scan),
        ("apache", apache::scan),
        ("mysql", mysql::scan),
        ("memcached", memcached::scan),
        ("uwsgi", uwsgi::scan),
        ("systemd_socket", systemd_socket::scan),
        ("uwsgi_logs", facts::uwsgi::scan),
    ];
    let run = |scanners: &[(&'static str, ScanFn)]| {
        let mut scan = Scan::default();
        for (name, f) in scanners {
            let _t = crate::trace::phase(*name);
            f(host, &mut scan);
        }
        scan
    };
    let (mut scan, rest) = std::thread::scope(|s| {
        let nginx = s.spawn(|| run(&[("nginx", nginx::scan)]));
        let rest = run(&others);
        let nginx = nginx
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e));
        (nginx, rest)
    });
    scan.append(rest);
    for l in &mut scan.listeners {
        if let Some(s) = l.setter.as_mut().filter(|s| s.line.is_none()) {
            if let Ok(Some(text)) = host.read(&s.path) {
                s.line = Some(crate::tomlfile::line_of(&text, s.range.start));
            }
        }
    }
    scan
}

impl Scan {
    /// `other`'s results after these, as if its scanners had run after ours.
    fn append(&mut self, other: Scan) {
        let Scan {
            listeners,
            problems,
            errors,
            facts,
        } = other;
        self.listeners.extend(listeners);
        self.problems.extend(problems);
        self.errors.extend(errors);
        self.facts.append(facts);
    }
}

type ScanFn = fn(&Host, &mut Scan);
