//! What the running system shows of the configured listeners: each one's socket as the kernel
//! holds it (backlog, queue, drops, owner, network namespace), found by address; and the
//! evidence a finding cites (`Observed`). Everything here reads the snapshot only.

use schemars::JsonSchema;
use serde::Serialize;

use crate::kernel::{Evidence, KernelListener, Match, Namespace, Proto, Source, TableKind, Unseen};
use crate::logs::{LogEvidence, Tally};
use crate::services::Listener;
use crate::snapshot::Snapshot;

/// A figure a finding stands on, as observed (not computed from configs).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Observed {
    /// A listening socket: its kernel backlog (Send-Q) and accept queue (Recv-Q).
    Socket {
        address: String,
        backlog: Option<u32>,
        queue: Option<u32>,
        drops: Option<u64>,
        pids: Vec<i32>,
        process: Option<String>,
        netns: Option<u64>,
    },
    /// A kernel counter, and how much it rose over the sample.
    Counter {
        name: String,
        netns: Option<u64>,
        value: Option<u64>,
        delta: Option<u64>,
        seconds: Option<f64>,
    },
    /// Lines of a log that say the same: how many, the earliest and latest time, and the
    /// most recent one (its line number when the whole file was read, and its offset).
    Log {
        path: String,
        /// What was counted.
        message: String,
        count: u64,
        first: Option<String>,
        last: Option<String>,
        line: Option<u64>,
        offset: u64,
        sample: String,
    },
}

/// A log tally as evidence.
pub fn log(path: &str, message: &str, t: &Tally) -> Observed {
    Observed::Log {
        path: path.to_string(),
        message: message.to_string(),
        count: t.count,
        first: t.first.as_ref().map(|f| f.as_str().to_string()),
        last: t.last.as_ref().map(|f| f.as_str().to_string()),
        line: t.sample.line,
        offset: t.sample.offset,
        sample: t.sample.text.clone(),
    }
}

/// Where a tally's most recent line is: `/var/log/nginx/error.log:1234`, or its byte offset
/// when only the tail was read (the line number is then unknown).
pub fn log_at(path: &str, t: &Tally) -> String {
    match t.sample.line {
        Some(n) => format!("{path}:{n}"),
        None => format!("{path} at byte {}", t.sample.offset),
    }
}

/// "between 2026-12-04T10:00:01 and 2026-12-04T10:00:03", "at T", or nothing.
pub fn log_when(t: &Tally) -> String {
    match (&t.first, &t.last) {
        (Some(a), Some(b)) if a != b => format!(" between {} and {}", a.as_str(), b.as_str()),
        (Some(a), _) | (None, Some(a)) => format!(" at {}", a.as_str()),
        (None, None) => String::new(),
    }
}

/// The size of an accept queue and how qfix knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queue {
    pub size: i64,
    /// `observed`, or `inferred from backlog 511 and somaxconn 128`.
    pub how: String,
}

impl std::fmt::Display for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.how == "observed" {
            write!(f, "observed {}", self.size)
        } else {
            write!(f, "{}, {}", self.size, self.how)
        }
    }
}

/// A configured listener's socket.
#[derive(Debug, Clone, Copy)]
pub struct Seen<'s> {
    pub ns: &'s Namespace,
    pub socket: &'s KernelListener,
}

impl Seen<'_> {
    pub fn observed(&self) -> Observed {
        socket(self.ns, self.socket)
    }

    /// "pid 123 nginx", or what is known of the owner.
    pub fn owner(&self) -> String {
        let pid = self.socket.pids.first().map(|p| format!("pid {p}"));
        let name = self.socket.process.clone();
        match (pid, name) {
            (Some(p), Some(n)) => format!("{p} {n}"),
            (Some(p), None) => p,
            (None, Some(n)) => n,
            (None, None) => "owner unknown".to_string(),
        }
    }
}

pub fn socket(ns: &Namespace, s: &KernelListener) -> Observed {
    Observed::Socket {
        address: s.address.clone(),
        backlog: s.backlog,
        queue: s.queue,
        drops: s.drops,
        pids: s.pids.clone(),
        process: s.process.clone(),
        netns: ns.id,
    }
}

/// The names a service's processes go by, to tell apart two services configured on one
/// address (nginx and Apache both on *:80): the socket whose owner has the name wins.
fn process_names(service: &str) -> &'static [&'static str] {
    match service {
        "nginx" => &["nginx"],
        "php-fpm" => &["php-fpm"],
        "redis" => &["redis"],
        "haproxy" => &["haproxy"],
        "apache" => &["apache2", "httpd"],
        "mysql" => &["mariadbd", "mysqld"],
        "memcached" => &["memcached"],
        "uwsgi" => &["uwsgi"],
        "systemd" => &["systemd"],
        _ => &[],
    }
}

/// Whether a socket held by `process` can be `service`'s: another service's process on the
/// same address (nginx's socket on *:80 where Apache is configured too but stopped) is not.
/// An unknown owner (not root) and a systemd socket unit (pid 1 or the activated service
/// holds it) can be anything's.
fn may_hold(service: &str, process: Option<&str>) -> bool {
    let names = process_names(service);
    match process {
        Some(p) if !names.is_empty() && service != "systemd" => {
            names.iter().any(|n| p.starts_with(n))
        }
        _ => true,
    }
}

impl Snapshot {
    /// The kernel evidence, when it was read (live, or recorded with `qfix snapshot`).
    pub fn evidence(&self) -> Option<&Evidence> {
        self.live.as_ref()?.evidence.as_ref()
    }

    /// What could not be seen of the running system, and why: the kernel's notes (not root,
    /// no unix_diag, hidepid...), logs not read (missing, a FIFO, the journal...).
    pub fn notes(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        if let Some(ev) = self.evidence() {
            out.extend(ev.notes.iter().map(|n| n.message.clone()));
            // a /proc/net fallback without a note of its own (a tree of /proc files): which
            // figures it lacks, once per table kind
            if !ev.notes.iter().any(|n| n.what == Unseen::Netlink) {
                let mut lacking: Vec<String> = Vec::new();
                for t in ev.namespaces.iter().flat_map(|n| &n.tables) {
                    if t.source == Source::Procfs && !t.missing.is_empty() {
                        let figures: Vec<String> = t
                            .missing
                            .iter()
                            .map(|f| format!("{f:?}").to_lowercase())
                            .collect();
                        let line = format!(
                            "{:?} sockets read from /proc/net files, which hold no {}: observed figures missing, listener-needs-restart not checked for them",
                            t.kind,
                            figures.join(", ")
                        )
                        .to_lowercase();
                        if !lacking.contains(&line) {
                            lacking.push(line);
                        }
                    }
                }
                out.extend(lacking);
            }
        }
        if let Some(logs) = self.logs() {
            let mut missing: Vec<&str> = Vec::new();
            for f in &logs.files {
                match &f.notes[..] {
                    [] => {}
                    [only] if only == "missing" => missing.push(&f.path),
                    notes => out.push(format!("log {}: {}", f.path, notes.join("; "))),
                }
            }
            match missing.len() {
                0 => {}
                1 => out.push(format!("log {}: missing", missing[0])),
                n => out.push(format!(
                    "{n} logs missing: {}{}",
                    missing[..n.min(3)].join(", "),
                    if n > 3 {
                        format!(" and {} more", n - 3)
                    } else {
                        String::new()
                    }
                )),
            }
            out.extend(logs.notes.iter().cloned());
        }
        out
    }

    /// What the services' logs said, when they were read.
    pub fn logs(&self) -> Option<&LogEvidence> {
        self.live.as_ref()?.logs.as_ref()
    }

    /// The `*_pass` lines that send to an upstream as nginx's error log names it (a few:
    /// where a finding about that upstream points).
    pub fn pass_locations(&self, upstream: &str) -> Vec<crate::services::Location> {
        self.services
            .facts
            .nginx
            .iter()
            .flat_map(|n| n.passes_to(upstream))
            .map(|p| p.at.clone())
            .take(3)
            .collect()
    }

    /// The configured listener an upstream reaches, as nginx's error log names it
    /// (`unix:/run/php/php8.2-fpm.sock`, `127.0.0.1:9000`).
    pub fn listener_for_upstream(&self, upstream: &str) -> Option<&Listener> {
        self.services
            .listeners
            .iter()
            .find(|l| crate::logs::upstream_is_listener(upstream, &l.address))
    }

    /// A listener's accept queue: the kernel's Send-Q when its socket was read, else what
    /// listen() gives it with the live somaxconn (inferred).
    pub fn queue_of(&self, l: &Listener) -> Option<Queue> {
        if let Some(seen) = self.socket_of(l)
            && let Some(b) = seen.socket.backlog
        {
            return Some(Queue {
                size: i64::from(b),
                how: "observed".into(),
            });
        }
        let som = self
            .live
            .as_ref()?
            .value(crate::limits::SOMAXCONN)
            .and_then(crate::sysctl::as_int)?;
        let r = l.requested?;
        Some(Queue {
            size: crate::limits::effective(r, som),
            how: format!("inferred from backlog {r} and somaxconn {som}"),
        })
    }

    /// Whether the listening sockets of qfix's own network namespace could be read for this
    /// protocol: then a configured listener with none is not listening.
    pub fn sockets_seen(&self, proto: Proto) -> bool {
        let Some(ns) = self
            .evidence()
            .and_then(|e| e.namespaces.iter().find(|n| n.caller))
        else {
            return false;
        };
        let kinds: &[TableKind] = match proto {
            Proto::Tcp => &[TableKind::Tcp4, TableKind::Tcp6],
            Proto::Unix => &[TableKind::Unix],
        };
        kinds.iter().all(|k| {
            ns.tables
                .iter()
                .any(|t| t.kind == *k && t.source != Source::Unavailable)
        })
    }

    /// The socket a configured listener has in the kernel: the best address match, in qfix's
    /// own namespace first; between equal matches, the one its service's process holds.
    pub fn socket_of(&self, l: &Listener) -> Option<Seen<'_>> {
        let ev = self.evidence()?;
        let names = process_names(&l.service);
        let mut best: Option<(Seen, (Match, bool, bool))> = None;
        for ns in &ev.namespaces {
            for s in &ns.listeners {
                let Some(m) = crate::kernel::serves(&s.address, s.v6only, &l.address) else {
                    continue;
                };
                if !may_hold(&l.service, s.process.as_deref()) {
                    continue;
                }
                let owned = s
                    .process
                    .as_deref()
                    .is_some_and(|p| names.iter().any(|n| p.starts_with(n)));
                let rank = (m, owned, ns.caller);
                if best.as_ref().is_none_or(|(_, b)| rank > *b) {
                    best = Some((Seen { ns, socket: s }, rank));
                }
            }
        }
        best.map(|(s, _)| s)
    }

    /// Kernel listening sockets no configured listener explains, with their namespace.
    pub fn unknown_sockets(&self) -> Vec<(&Namespace, &KernelListener)> {
        let Some(ev) = self.evidence() else {
            return Vec::new();
        };
        let listeners = &self.services.listeners;
        ev.listeners()
            .filter(|(_, s)| {
                !listeners.iter().any(|l| {
                    crate::kernel::serves(&s.address, s.v6only, &l.address).is_some()
                        && may_hold(&l.service, s.process.as_deref())
                })
            })
            .collect()
    }
}

/// "netns 4026531840", or "netns ?" when its id could not be read.
pub fn netns(ns: &Namespace) -> String {
    ns.id
        .map_or("netns ?".to_string(), |id| format!("netns {id}"))
}
