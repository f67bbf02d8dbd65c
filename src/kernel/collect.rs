//! One collection: processes and their namespaces, each namespace's sockets, sysctls and
//! counters (from inside it where it can be entered), then the listeners' owners.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader};
use std::path::{Path, PathBuf};

use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, TCP_TIME_WAIT};
use netlink_packet_sock_diag::inet::{ExtensionFlags, StateFlags};
use rustc_hash::{FxHashMap, FxHashSet};

use super::diag::{Diag, InetRecord};
use super::{
    Connections, Counters, Evidence, Figure, KernelListener, Namespace, NetSysctls, Note, Options,
    Proto, Source, Table, TableKind, Unseen, address, conns, procnet, procs,
};

pub fn collect(proc_root: &Path, opts: &Options) -> Evidence {
    let mut ev = Evidence::default();
    let mut notes = Vec::new();
    let list = procs::list(proc_root).unwrap_or_else(|e| {
        notes.push(note(
            None,
            Unseen::Processes,
            format!(
                "{}: {e}: no processes, no other namespaces",
                proc_root.display()
            ),
        ));
        procs::Processes::default()
    });
    if list.denied > 0 {
        notes.push(note(
            None,
            Unseen::Processes,
            format!(
                "the network namespace of {} processes could not be read (permission): \
                 namespaces only they are in are missing",
                list.denied
            ),
        ));
    }
    if let Some(h) = procs::hidepid(proc_root)
        && !nix::unistd::geteuid().is_root()
    {
        notes.push(note(
            None,
            Unseen::Processes,
            format!(
                "{} is mounted with hidepid={h}: other users' processes are invisible, so \
                 sockets only they hold show no owner and namespaces only they are in are \
                 missing",
                proc_root.display()
            ),
        ));
    }
    let caller = procs::netns_of(&proc_root.join("self/ns/net")).ok();
    // namespace -> (processes, lowest pid)
    let mut groups: BTreeMap<u64, (u32, i32)> = BTreeMap::new();
    for &(pid, ns) in &list.pids {
        if let Some(ns) = ns {
            let g = groups.entry(ns).or_insert((0, pid));
            g.0 += 1;
            g.1 = g.1.min(pid);
        }
    }

    let sys = proc_root.join("sys");
    let own = caller.and_then(|c| groups.get(&c)).copied();
    let mut me = Namespace {
        id: caller,
        caller: true,
        processes: own.map_or(0, |g| g.0),
        pid: own.map(|g| g.1),
        ..Namespace::default()
    };
    let ctx = Ctx {
        ns: caller,
        net_dir: proc_root.join("net"),
        sys_dir: Some(sys.clone()),
        netlink: opts.netlink,
        top: opts.top,
    };
    fill(&mut me, read_ns(&ctx), &mut notes);
    ev.namespaces.push(me);
    // how each namespace was read, to count its connections the same way
    let mut plans: Vec<(Ctx, Option<PathBuf>)> = vec![(ctx, None)];

    for (&id, &(count, pid)) in groups.iter().filter(|(id, _)| Some(**id) != caller) {
        let pid_dir = proc_root.join(pid.to_string());
        let mut ns = Namespace {
            id: Some(id),
            caller: false,
            processes: count,
            pid: Some(pid),
            ..Namespace::default()
        };
        let outside = Ctx {
            ns: Some(id),
            net_dir: pid_dir.join("net"),
            sys_dir: None,
            netlink: false,
            top: opts.top,
        };
        let read = if opts.netlink && opts.enter_namespaces {
            let inside = Ctx {
                sys_dir: Some(sys.clone()),
                netlink: true,
                ..outside.clone()
            };
            let link = pid_dir.join("ns/net");
            match in_namespace(&link, || read_ns(&inside)) {
                Ok(r) => {
                    plans.push((inside, Some(link)));
                    r
                }
                Err(e) => {
                    plans.push((outside.clone(), None));
                    notes.push(note(
                        Some(id),
                        Unseen::Namespace,
                        format!(
                            "network namespace {id} (pid {pid}) could not be entered: {e}; \
                             its sockets come from /proc/{pid}/net, its sysctls are unknown"
                        ),
                    ));
                    read_ns(&outside)
                }
            }
        } else {
            plans.push((outside.clone(), None));
            notes.push(note(
                Some(id),
                Unseen::Sysctl,
                format!(
                    "network namespace {id} (pid {pid}) was not entered: its sysctls are unknown"
                ),
            ));
            read_ns(&outside)
        };
        fill(&mut ns, read, &mut notes);
        ev.namespaces.push(ns);
    }

    // Owners (readlink of every descriptor: the longest part on a busy host) are scanned on
    // other threads while this one counts connections.
    let wanted: FxHashSet<u64> = ev
        .listeners()
        .map(|(_, l)| l.inode)
        .filter(|i| *i != 0)
        .collect();
    let pids: Vec<i32> = list.pids.iter().map(|p| p.0).collect();
    let found = std::thread::scope(|s| {
        let owners = opts
            .owners
            .then(|| s.spawn(|| procs::owners(proc_root, &pids, &wanted)));
        if opts.connections {
            for (ns, (ctx, link)) in ev.namespaces.iter_mut().zip(&plans) {
                let ports: FxHashSet<u16> = ns
                    .listeners
                    .iter()
                    .filter(|l| l.proto == Proto::Tcp)
                    .filter_map(|l| l.address.rsplit_once(':')?.1.parse().ok())
                    .collect();
                let counted = match link {
                    Some(link) => {
                        let ports2 = ports.clone();
                        in_namespace(link, || count_ns(ctx, ports2)).unwrap_or_else(|e| {
                            let mut c = count_ns(
                                &Ctx {
                                    netlink: false,
                                    ..ctx.clone()
                                },
                                ports,
                            );
                            c.2.push(note(
                                ctx.ns,
                                Unseen::Namespace,
                                format!(
                                    "namespace not entered again ({e}): connections from procfs"
                                ),
                            ));
                            c
                        })
                    }
                    None => count_ns(ctx, ports),
                };
                let (conns, table, more) = counted;
                ns.connections = conns;
                ns.tables.push(table);
                notes.extend(more);
            }
        }
        owners.map(|h| h.join())
    });
    match found {
        Some(Ok(found)) => add_owners(proc_root, found, &mut ev, &mut notes),
        Some(Err(_)) => notes.push(note(
            None,
            Unseen::Owners,
            "the owner scan failed: listeners show no processes".into(),
        )),
        None => {}
    }
    ev.notes = notes;
    ev
}

fn note(namespace: Option<u64>, what: Unseen, message: String) -> Note {
    Note {
        namespace,
        what,
        message,
    }
}

#[derive(Debug, Clone)]
struct Ctx {
    ns: Option<u64>,
    /// Where the namespace's procfs tables and counters are (/proc/PID/net).
    net_dir: PathBuf,
    /// /proc/sys as this thread's namespace sees it; `None` when it is another namespace's
    /// view (not entered): /proc/sys/net follows the opener's namespace.
    sys_dir: Option<PathBuf>,
    netlink: bool,
    top: usize,
}

#[derive(Debug, Default)]
struct NsRead {
    sysctls: NetSysctls,
    counters: Option<Counters>,
    tables: Vec<Table>,
    listeners: Vec<KernelListener>,
    notes: Vec<Note>,
}

fn fill(ns: &mut Namespace, r: NsRead, notes: &mut Vec<Note>) {
    ns.sysctls = r.sysctls;
    ns.counters = r.counters;
    ns.tables = r.tables;
    ns.listeners = r.listeners;
    notes.extend(r.notes);
}

/// Run `f` in a thread that joined the network namespace at `ns_link`: sock_diag answers
/// for the namespace of the socket's opener, and /proc/sys/net for the namespace of the
/// file's opener. The thread ends with `f`, so nothing else ever runs in the wrong namespace.
fn in_namespace<T: Send>(ns_link: &Path, f: impl FnOnce() -> T + Send) -> io::Result<T> {
    let file = File::open(ns_link)?;
    std::thread::scope(|s| {
        s.spawn(|| {
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)?;
            Ok(f())
        })
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("namespace reader panicked")))
    })
}

fn read_ns(c: &Ctx) -> NsRead {
    let mut r = NsRead::default();
    if let Some(sys) = &c.sys_dir {
        r.sysctls = read_sysctls(sys, c.ns, &mut r.notes);
    }
    r.counters = read_counters(&c.net_dir, c.ns, &mut r.notes);
    let mut diag = if c.netlink {
        match Diag::open() {
            Ok(d) => Some(d),
            Err(e) => {
                r.notes.push(note(
                    c.ns,
                    Unseen::Netlink,
                    format!(
                        "NETLINK_SOCK_DIAG: {e}: listeners read from /proc/net without \
                         backlog (Send-Q) and drops"
                    ),
                ));
                None
            }
        }
    } else {
        None
    };

    for (family, kind, file) in [
        (AF_INET, TableKind::Tcp4, "tcp"),
        (AF_INET6, TableKind::Tcp6, "tcp6"),
    ] {
        let mut got = Vec::new();
        let res = diag.as_mut().map(|d| {
            d.tcp(
                family,
                StateFlags::LISTEN,
                ExtensionFlags::SKMEMINFO,
                |rec| got.push(inet_listener(&rec)),
            )
        });
        match res {
            Some(Ok(())) => {
                let mut missing = Vec::new();
                if got.iter().any(|l| l.drops.is_none()) {
                    missing.push(Figure::Drops);
                }
                r.tables.push(Table {
                    kind,
                    source: Source::Netlink,
                    missing,
                });
                r.listeners.extend(got);
                continue;
            }
            Some(Err(e)) => r.notes.push(note(
                c.ns,
                Unseen::Netlink,
                format!("sock_diag {kind:?} listeners: {e}: read from {file} instead"),
            )),
            None => {}
        }
        let path = c.net_dir.join(file);
        let res = File::open(&path).and_then(|f| {
            procnet::each_tcp_line(BufReader::new(f), |t| {
                if t.state == procnet::ST_LISTEN {
                    r.listeners.push(KernelListener {
                        proto: Proto::Tcp,
                        address: address::tcp_address(t.local, t.local_port),
                        backlog: None,
                        queue: Some(t.rx_queue),
                        drops: None,
                        inode: t.inode,
                        uid: Some(t.uid),
                        v6only: None,
                        ..KernelListener::default()
                    })
                }
            })
        });
        r.tables.push(match res {
            Ok(()) => {
                let mut missing = vec![Figure::Backlog, Figure::Drops];
                if kind == TableKind::Tcp6 {
                    missing.push(Figure::V6only);
                }
                Table {
                    kind,
                    source: Source::Procfs,
                    missing,
                }
            }
            Err(e) => {
                r.notes.push(note(
                    c.ns,
                    Unseen::Table,
                    format!("{}: {e}", path.display()),
                ));
                unavailable(kind)
            }
        });
    }

    let mut got = Vec::new();
    let res = diag.as_mut().map(|d| {
        d.unix_listeners(|u| {
            got.push(KernelListener {
                proto: Proto::Unix,
                address: address::unix_address(u.name.as_deref().unwrap_or("")),
                backlog: u.rqlen.map(|q| q.1),
                queue: u.rqlen.map(|q| q.0),
                inode: u64::from(u.inode),
                ..KernelListener::default()
            })
        })
    });
    match res {
        Some(Ok(())) => {
            let mut missing = vec![Figure::Drops];
            if got.iter().any(|l| l.backlog.is_none()) {
                missing.extend([Figure::Backlog, Figure::Queue]);
            }
            r.tables.push(Table {
                kind: TableKind::Unix,
                source: Source::Netlink,
                missing,
            });
            r.listeners.extend(got);
        }
        other => {
            if let Some(Err(e)) = other {
                r.notes.push(note(
                    c.ns,
                    Unseen::UnixDiag,
                    format!(
                        "unix_diag: {e}: unix listeners read from /proc/net/unix, which has \
                         no queue figures"
                    ),
                ));
            }
            let path = c.net_dir.join("unix");
            let res = File::open(&path).and_then(|f| {
                procnet::each_unix_listener(BufReader::new(f), |u| {
                    r.listeners.push(KernelListener {
                        proto: Proto::Unix,
                        address: address::unix_address(u.path.as_deref().unwrap_or("")),
                        inode: u.inode,
                        ..KernelListener::default()
                    })
                })
            });
            r.tables.push(match res {
                Ok(()) => Table {
                    kind: TableKind::Unix,
                    source: Source::Procfs,
                    missing: vec![Figure::Backlog, Figure::Queue, Figure::Drops],
                },
                Err(e) => {
                    r.notes.push(note(
                        c.ns,
                        Unseen::Table,
                        format!("{}: {e}", path.display()),
                    ));
                    unavailable(TableKind::Unix)
                }
            });
        }
    }
    r.listeners.sort_by(|a, b| {
        (a.proto as u8, &a.address, a.inode).cmp(&(b.proto as u8, &b.address, b.inode))
    });

    if diag.is_some_and(|d| d.interrupted) {
        r.notes.push(interrupted(c.ns));
    }
    r
}

fn interrupted(ns: Option<u64>) -> Note {
    note(
        ns,
        Unseen::Inconsistent,
        "a socket table changed while it was dumped (NLM_F_DUMP_INTR): counts may be off by \
         the sockets that came and went"
            .into(),
    )
}

/// Count a namespace's connections (in it, when `c.netlink`).
fn count_ns(c: &Ctx, ports: FxHashSet<u16>) -> (Option<Connections>, Table, Vec<Note>) {
    let mut notes = Vec::new();
    let mut diag = if c.netlink {
        match Diag::open() {
            Ok(d) => Some(d),
            Err(e) => {
                notes.push(note(
                    c.ns,
                    Unseen::Netlink,
                    format!("NETLINK_SOCK_DIAG: {e}: connections counted from /proc/net/tcp"),
                ));
                None
            }
        }
    } else {
        None
    };
    let (conns, table) = count_connections(c, diag.as_mut(), ports, &mut notes);
    if diag.is_some_and(|d| d.interrupted) {
        notes.push(interrupted(c.ns));
    }
    (conns, table, notes)
}

fn unavailable(kind: TableKind) -> Table {
    Table {
        kind,
        source: Source::Unavailable,
        missing: vec![Figure::All],
    }
}

fn inet_listener(rec: &InetRecord) -> KernelListener {
    KernelListener {
        proto: Proto::Tcp,
        address: address::tcp_address(rec.local, rec.local_port),
        backlog: Some(rec.wqueue),
        queue: Some(rec.rqueue),
        drops: rec.drops.map(u64::from),
        inode: u64::from(rec.inode),
        uid: Some(rec.uid),
        v6only: rec.v6only,
        ..KernelListener::default()
    }
}

/// Established and TIME_WAIT sockets of both families, folded into counts as they stream in.
fn count_connections(
    c: &Ctx,
    diag: Option<&mut Diag>,
    ports: FxHashSet<u16>,
    notes: &mut Vec<Note>,
) -> (Option<Connections>, Table) {
    let states = StateFlags::ESTABLISHED | StateFlags::TIME_WAIT;
    if let Some(d) = diag {
        let mut counter = conns::Counter::new(c.top, ports.clone());
        let res = [AF_INET, AF_INET6].into_iter().try_for_each(|family| {
            d.tcp(family, states.clone(), ExtensionFlags::empty(), |rec| {
                counter.add(
                    rec.state == TCP_TIME_WAIT,
                    rec.local_port,
                    rec.remote,
                    rec.remote_port,
                )
            })
        });
        match res {
            Ok(()) => {
                return (
                    Some(counter.finish()),
                    Table {
                        kind: TableKind::Connections,
                        source: Source::Netlink,
                        missing: Vec::new(),
                    },
                );
            }
            Err(e) => notes.push(note(
                c.ns,
                Unseen::Netlink,
                format!("sock_diag connections: {e}: counted from /proc/net/tcp instead"),
            )),
        }
    }
    let mut counter = conns::Counter::new(c.top, ports);
    let mut read_any = false;
    for file in ["tcp", "tcp6"] {
        let path = c.net_dir.join(file);
        let res = File::open(&path).and_then(|f| {
            procnet::each_tcp_line(BufReader::new(f), |t| {
                if t.state == procnet::ST_TIME_WAIT || t.state == procnet::ST_ESTABLISHED {
                    counter.add(
                        t.state == procnet::ST_TIME_WAIT,
                        t.local_port,
                        t.remote,
                        t.remote_port,
                    )
                }
            })
        });
        read_any |= res.is_ok();
    }
    if read_any {
        (
            Some(counter.finish()),
            Table {
                kind: TableKind::Connections,
                source: Source::Procfs,
                missing: Vec::new(),
            },
        )
    } else {
        (None, unavailable(TableKind::Connections))
    }
}

fn read_sysctls(sys: &Path, ns: Option<u64>, notes: &mut Vec<Note>) -> NetSysctls {
    let read = |key: &str| std::fs::read_to_string(sys.join(key));
    let num = |key: &str| -> Option<u64> { read(key).ok()?.trim().parse().ok() };
    let somaxconn = match read("net/core/somaxconn") {
        Ok(s) => s.trim().parse().ok(),
        Err(e) => {
            // a namespace owned by a user namespace may hide net.core: unknown, not an error
            notes.push(note(
                ns,
                Unseen::Sysctl,
                format!("net.core.somaxconn: {e}: unknown in this namespace"),
            ));
            None
        }
    };
    let range = read("net/ipv4/ip_local_port_range").ok().and_then(|s| {
        let mut it = s.split_ascii_whitespace().map(|w| w.parse::<u32>());
        match (it.next(), it.next()) {
            (Some(Ok(lo)), Some(Ok(hi))) => Some([lo, hi]),
            _ => None,
        }
    });
    let small = |key: &str| num(key).and_then(|v| u32::try_from(v).ok());
    NetSysctls {
        somaxconn,
        ip_local_port_range: range,
        tcp_tw_reuse: small("net/ipv4/tcp_tw_reuse"),
        tcp_max_syn_backlog: small("net/ipv4/tcp_max_syn_backlog"),
        tcp_syncookies: small("net/ipv4/tcp_syncookies"),
        tcp_abort_on_overflow: small("net/ipv4/tcp_abort_on_overflow"),
        tcp_max_tw_buckets: num("net/ipv4/tcp_max_tw_buckets"),
    }
}

fn read_counters(net: &Path, ns: Option<u64>, notes: &mut Vec<Note>) -> Option<Counters> {
    let mut c = Counters::default();
    let path = net.join("netstat");
    match std::fs::read_to_string(&path) {
        Ok(t) => procnet::parse_counters(&t, &mut c),
        Err(e) => {
            notes.push(note(
                ns,
                Unseen::Counters,
                format!("{}: {e}: overflow counters unknown", path.display()),
            ));
            return None;
        }
    }
    if let Ok(t) = std::fs::read_to_string(net.join("snmp")) {
        procnet::parse_counters(&t, &mut c);
    }
    Some(c)
}

/// Give every listener the processes that hold it; say what could not be seen.
fn add_owners(proc_root: &Path, found: procs::Owners, ev: &mut Evidence, notes: &mut Vec<Note>) {
    let mut names: FxHashMap<i32, Option<String>> = FxHashMap::default();
    let mut orphans = 0;
    for ns in &mut ev.namespaces {
        for l in &mut ns.listeners {
            match found.by_inode.get(&l.inode) {
                Some(p) => {
                    l.pids = p.clone();
                    let first = l.pids[0];
                    l.process = names
                        .entry(first)
                        .or_insert_with(|| procs::comm(proc_root, first))
                        .clone();
                }
                None => orphans += 1,
            }
        }
    }
    if found.denied > 0 {
        notes.push(note(
            None,
            Unseen::Processes,
            format!(
                "the descriptors of {} processes could not be read (permission: not root, or \
                 /proc mounted with hidepid): sockets they hold show no owner",
                found.denied
            ),
        ));
    }
    if orphans > 0 {
        notes.push(note(
            None,
            Unseen::Owners,
            format!(
                "{orphans} listening sockets have no owner among the processes qfix could \
                 read"
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_namespace_hiding_net_core_has_somaxconn_unknown_not_an_error() {
        // a netns owned by a user namespace may have no net.core files at all
        let d = tempfile::tempdir().unwrap();
        let ipv4 = d.path().join("net/ipv4");
        std::fs::create_dir_all(&ipv4).unwrap();
        std::fs::write(ipv4.join("ip_local_port_range"), "1024\t65000\n").unwrap();
        std::fs::write(ipv4.join("tcp_tw_reuse"), "2\n").unwrap();
        let mut notes = Vec::new();
        let s = read_sysctls(d.path(), Some(7), &mut notes);
        assert_eq!(s.somaxconn, None);
        assert_eq!(s.ip_local_port_range, Some([1024, 65000]));
        assert_eq!(s.tcp_tw_reuse, Some(2));
        assert_eq!(notes.len(), 1);
        assert_eq!(
            (notes[0].namespace, notes[0].what),
            (Some(7), Unseen::Sysctl)
        );
    }
}
