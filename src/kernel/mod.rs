//! Kernel evidence: what the running system's sockets and counters say, read once into owned
//! data that a host snapshot can carry and pure rules can judge later.
//!
//! - Listening sockets (TCP v4/v6, unix stream) with the kernel's backlog (Send-Q) and current
//!   accept queue (Recv-Q), and per-listener drops, read through NETLINK_SOCK_DIAG as `ss`
//!   reads them ([`diag`]); /proc/net/{tcp,tcp6,unix} when sock_diag cannot be used, with the
//!   figures then missing named in [`Table::missing`].
//! - Established and TIME_WAIT sockets counted per destination, never stored ([`conns`]).
//! - Owners: pids and process names by socket inode ([`procs`]).
//! - Every network namespace that has a process: its own somaxconn, port range and
//!   counters, read from inside it (setns in a short-lived thread).
//! - Two readings a few seconds apart give counter and drop deltas ([`Evidence::sample`]).
//!
//! What could not be seen is recorded ([`Note`]), never an error: not root, hidepid, no
//! unix_diag, a process gone mid-scan, a namespace owned by a user namespace.

pub mod address;
mod collect;
pub mod conns;
pub mod diag;
pub mod procnet;
pub mod procs;

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use address::{Match, best_match, serves};

/// Everything read from the kernel in one collection.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Evidence {
    /// The caller's namespace first, then the others by id.
    pub namespaces: Vec<Namespace>,
    /// What could not be seen, and why.
    pub notes: Vec<Note>,
    /// Deltas over a short sample, when one was taken.
    pub sample: Option<Sample>,
}

/// One network namespace.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Namespace {
    /// Inode of the namespace (/proc/PID/ns/net); `None` when no link could be read (a
    /// /proc tree without them).
    pub id: Option<u64>,
    /// The namespace qfix itself runs in (the host's, usually).
    pub caller: bool,
    /// Processes seen in it.
    pub processes: u32,
    /// Its lowest pid: how it was entered and where its /proc/PID/net was read.
    pub pid: Option<i32>,
    pub sysctls: NetSysctls,
    /// `None` when /proc/PID/net/netstat could not be read.
    pub counters: Option<Counters>,
    /// Where each table came from and which figures it lacks.
    pub tables: Vec<Table>,
    pub listeners: Vec<KernelListener>,
    /// `None` when not asked for or not readable.
    pub connections: Option<Connections>,
}

/// The per-namespace sysctls the backlog and port rules need, as the namespace itself sees
/// them (`None`: unreadable, e.g. hidden in a namespace owned by a user namespace).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct NetSysctls {
    pub somaxconn: Option<u32>,
    /// `net.ipv4.ip_local_port_range`: [low, high].
    pub ip_local_port_range: Option<[u32; 2]>,
    pub tcp_tw_reuse: Option<u32>,
    pub tcp_max_syn_backlog: Option<u32>,
    pub tcp_syncookies: Option<u32>,
    pub tcp_abort_on_overflow: Option<u32>,
    pub tcp_max_tw_buckets: Option<u64>,
}

/// Cumulative counters of one namespace (/proc/PID/net/netstat and snmp); a counter the
/// kernel does not have is `None`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Counters {
    /// TcpExt ListenOverflows: connections dropped because an accept queue was full.
    pub listen_overflows: Option<u64>,
    /// TcpExt ListenDrops (>= ListenOverflows: every listen drop counts there).
    pub listen_drops: Option<u64>,
    /// TcpExt TCPTimeWaitOverflow: TIME_WAIT sockets not created (tcp_max_tw_buckets).
    pub tcp_timewait_overflow: Option<u64>,
    pub syncookies_sent: Option<u64>,
    pub req_q_full_drop: Option<u64>,
    pub req_q_full_do_cookies: Option<u64>,
    /// Tcp ActiveOpens: outgoing connections started (the ephemeral-port rate).
    pub active_opens: Option<u64>,
    pub passive_opens: Option<u64>,
    pub attempt_fails: Option<u64>,
    pub curr_estab: Option<u64>,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    #[default]
    Tcp,
    Unix,
}

/// A listening socket as the kernel holds it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct KernelListener {
    pub proto: Proto,
    /// "tcp 0.0.0.0:80", "tcp [::]:80", "unix /run/php/php8.2-fpm.sock", "unix @name": the
    /// form of the service scanners' `Listener.address` (see [`serves`]).
    pub address: String,
    /// Send-Q: the backlog after the somaxconn clamp at listen() time. `None` from procfs.
    pub backlog: Option<u32>,
    /// Recv-Q: connections waiting for accept() now (backlog + 1 when full). `None` for unix
    /// from procfs.
    pub queue: Option<u32>,
    /// SK_MEMINFO_DROPS, cumulative (TCP, Linux 4.7+, netlink only).
    pub drops: Option<u64>,
    pub inode: u64,
    /// Owner uid (TCP).
    pub uid: Option<u32>,
    /// IPV6_V6ONLY of an IPv6 socket (netlink only).
    pub v6only: Option<bool>,
    /// Processes holding it (a master and its workers share one), lowest first.
    pub pids: Vec<i32>,
    /// Name of the lowest pid (/proc/PID/comm).
    pub process: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TableKind {
    Tcp4,
    Tcp6,
    Unix,
    /// Established and TIME_WAIT counts.
    Connections,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Netlink,
    Procfs,
    /// Neither could be read.
    Unavailable,
}

/// A figure a table's source cannot give.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Figure {
    /// Send-Q, the clamped backlog: /proc/net/tcp and /proc/net/unix never show it.
    Backlog,
    /// Recv-Q: /proc/net/unix has no queue figures.
    Queue,
    Drops,
    V6only,
    /// Everything: the table could not be read at all.
    All,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Table {
    pub kind: TableKind,
    pub source: Source,
    pub missing: Vec<Figure>,
}

/// Established and TIME_WAIT sockets of a namespace, counted.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Connections {
    pub time_wait: u64,
    pub established: u64,
    /// Outgoing connections per remote "tcp HOST:PORT": the top destinations by TIME_WAIT
    /// and by established, most TIME_WAIT first.
    pub destinations: Vec<Destination>,
    /// How many distinct outgoing destinations there were.
    pub distinct_destinations: u64,
    /// Inbound connections (local port is a listening port), per local port, top only.
    pub inbound: Vec<InboundPort>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Destination {
    pub address: String,
    pub time_wait: u64,
    pub established: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct InboundPort {
    pub port: u16,
    pub time_wait: u64,
    pub established: u64,
}

/// Something that could not be seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Note {
    /// The namespace it concerns, when one.
    pub namespace: Option<u64>,
    pub what: Unseen,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Unseen {
    /// sock_diag could not be opened or answered: figures came from procfs.
    Netlink,
    /// No unix_diag: unix listeners without queue figures.
    UnixDiag,
    /// A socket table could not be read at all.
    Table,
    /// Another namespace could not be entered (its sysctls are then unknown).
    Namespace,
    Sysctl,
    Counters,
    /// Processes whose namespace or descriptors could not be read.
    Processes,
    /// Listening sockets no visible process holds.
    Owners,
    /// The socket table changed during a dump (NLM_F_DUMP_INTR): figures may be off by a few.
    Inconsistent,
}

/// What to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Use NETLINK_SOCK_DIAG. Only meaningful when the /proc tree is the real one of the
    /// running kernel; otherwise procfs tables under the tree are read.
    pub netlink: bool,
    /// Enter other network namespaces (setns, needs CAP_SYS_ADMIN) for their sockets and
    /// sysctls; without it their /proc/PID/net tables and counters are still read.
    pub enter_namespaces: bool,
    /// Map listeners to processes.
    pub owners: bool,
    /// Count established and TIME_WAIT sockets.
    pub connections: bool,
    /// How many destinations to keep per namespace.
    pub top: usize,
}

impl Options {
    /// Everything, from the running kernel.
    pub fn live() -> Options {
        Options {
            netlink: true,
            enter_namespaces: true,
            owners: true,
            connections: true,
            top: 10,
        }
    }

    /// Only files under a /proc tree (a `--root` copy, a test fixture).
    pub fn files() -> Options {
        Options {
            netlink: false,
            enter_namespaces: false,
            ..Options::live()
        }
    }

    /// `live()` for the real /proc, `files()` for any other tree.
    pub fn for_root(proc_root: &Path) -> Options {
        if proc_root == Path::new("/proc") {
            Options::live()
        } else {
            Options::files()
        }
    }
}

/// Counter and listener changes between two readings.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Sample {
    pub seconds: f64,
    pub namespaces: Vec<NamespaceDelta>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct NamespaceDelta {
    pub id: Option<u64>,
    /// Increases over the sample (`None` where either reading lacks the counter).
    pub counters: Counters,
    pub listeners: Vec<ListenerDelta>,
}

/// A listener seen in both readings.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ListenerDelta {
    pub address: String,
    pub inode: u64,
    /// Increase of SK_MEMINFO_DROPS.
    pub drops: Option<u64>,
    pub queue_before: Option<u32>,
    pub queue_after: Option<u32>,
    pub backlog: Option<u32>,
}

impl Evidence {
    /// Read everything `opts` asks for from the kernel behind `proc_root` (normally /proc).
    pub fn collect(proc_root: &Path, opts: &Options) -> Evidence {
        collect::collect(proc_root, opts)
    }

    /// `collect`, then a second, lighter reading (listeners and counters only) `wait` later;
    /// the deltas go to `sample`. A zero `wait` gives no sample.
    pub fn sample(proc_root: &Path, opts: &Options, wait: Duration) -> Evidence {
        let mut first = Evidence::collect(proc_root, opts);
        if wait.is_zero() {
            return first;
        }
        let start = std::time::Instant::now();
        std::thread::sleep(wait);
        let light = Options {
            owners: false,
            connections: false,
            ..opts.clone()
        };
        let second = Evidence::collect(proc_root, &light);
        first.sample = Some(deltas(&first, &second, start.elapsed().as_secs_f64()));
        first
    }

    /// Every listener of every namespace, with its namespace.
    pub fn listeners(&self) -> impl Iterator<Item = (&Namespace, &KernelListener)> {
        self.namespaces
            .iter()
            .flat_map(|n| n.listeners.iter().map(move |l| (n, l)))
    }
}

impl Namespace {
    /// The listener of this namespace that best serves a configured address.
    pub fn serving(&self, configured: &str) -> Option<(&KernelListener, Match)> {
        best_match(configured, &self.listeners)
    }
}

/// What changed from `before` to `after` (`seconds` apart): counter increases per namespace
/// and per-listener drop increases and queues, matched by namespace id and socket inode.
pub fn deltas(before: &Evidence, after: &Evidence, seconds: f64) -> Sample {
    let mut out = Sample {
        seconds,
        namespaces: Vec::new(),
    };
    for (i, b) in before.namespaces.iter().enumerate() {
        let a = match b.id {
            Some(id) => after.namespaces.iter().find(|a| a.id == Some(id)),
            None => after.namespaces.get(i).filter(|a| a.id.is_none()),
        };
        let Some(a) = a else { continue };
        let counters = match (&b.counters, &a.counters) {
            (Some(b), Some(a)) => counter_deltas(b, a),
            _ => Counters::default(),
        };
        let listeners = b
            .listeners
            .iter()
            .filter_map(|bl| {
                let al = a
                    .listeners
                    .iter()
                    .find(|al| al.inode == bl.inode && al.address == bl.address)?;
                Some(ListenerDelta {
                    address: bl.address.clone(),
                    inode: bl.inode,
                    drops: sub(bl.drops, al.drops),
                    queue_before: bl.queue,
                    queue_after: al.queue,
                    backlog: al.backlog,
                })
            })
            .collect();
        out.namespaces.push(NamespaceDelta {
            id: b.id,
            counters,
            listeners,
        });
    }
    out
}

fn sub(before: Option<u64>, after: Option<u64>) -> Option<u64> {
    after?.checked_sub(before?)
}

fn counter_deltas(b: &Counters, a: &Counters) -> Counters {
    Counters {
        listen_overflows: sub(b.listen_overflows, a.listen_overflows),
        listen_drops: sub(b.listen_drops, a.listen_drops),
        tcp_timewait_overflow: sub(b.tcp_timewait_overflow, a.tcp_timewait_overflow),
        syncookies_sent: sub(b.syncookies_sent, a.syncookies_sent),
        req_q_full_drop: sub(b.req_q_full_drop, a.req_q_full_drop),
        req_q_full_do_cookies: sub(b.req_q_full_do_cookies, a.req_q_full_do_cookies),
        active_opens: sub(b.active_opens, a.active_opens),
        passive_opens: sub(b.passive_opens, a.passive_opens),
        attempt_fails: sub(b.attempt_fails, a.attempt_fails),
        // a gauge, not a counter: the later value
        curr_estab: a.curr_estab,
    }
}
