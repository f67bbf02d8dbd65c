//! Kernel evidence (`qfix::kernel`) against the real kernel: real listeners with known
//! backlogs, full accept queues, TIME_WAIT sockets and a second network namespace.
//!
//! Each namespace test re-runs this test binary (the one test, `--exact`) under
//! `unshare -n -m -p --fork --kill-child --mount-proc --propagation private`: a fresh network
//! namespace, a private mount namespace and a pid namespace whose processes end with it. Inside,
//! before anything is written, /proc/sys is bound read-only and only /proc/sys/net read-write
//! over it, and the test checks that kernel.pid_max cannot be opened for writing and that
//! its network namespace is not the host's: a kernel.*, vm.* or fs.* write would change the
//! real machine even from here.
//!
//! Needs root and unshare; says it was skipped, with the reason, otherwise, and fails under
//! CI=true.
//! Run: `cargo test --test kernel_sockets -- --nocapture`.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use qfix::kernel::{
    self, Evidence, Figure, KernelListener, Match, Namespace, Options, Proto, Source, TableKind,
};
use socket2::{Domain, SockAddr, Socket, Type};

const INNER: &str = "QFIX_KERNEL_SOCKETS_INNER";
const HOST_NETNS: &str = "QFIX_KERNEL_SOCKETS_HOST_NETNS";
/// Set for the unprivileged child of `an_unprivileged_reader_says_what_it_cannot_see`.
const PROBE: &str = "QFIX_KERNEL_SOCKETS_PROBE";

/// A test that cannot run its tools must not pass silently (see `common::skip`).
fn skip(test: &str, why: &str) {
    crate::common::skip(&format!("{test}: {why}"));
}

fn why_not() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("needs root for private network and pid namespaces".into());
    }
    for bin in ["unshare", "mount", "ip", "timeout", "setpriv"] {
        let found = Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {bin}"))
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            return Some(format!("`{bin}` is not installed"));
        }
    }
    let probe = Command::new("unshare")
        .args(["-n", "-m", "-p", "--fork", "--mount-proc", "true"])
        .output();
    match probe {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(format!(
            "unshare -n -m -p is not permitted here: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Some(format!("unshare: {e}")),
    }
}

/// `in_namespaces_at` for a test of this module.
fn in_namespaces(test: &str, body: fn()) {
    in_namespaces_at(&format!("kernel_sockets::{test}"), body)
}

/// Run `body` in private namespaces: here when this process is already the inner one,
/// otherwise by re-running the test named by its full path (`module::name`) inside `unshare`.
pub(crate) fn in_namespaces_at(test: &str, body: fn()) {
    if std::env::var_os(INNER).is_some() {
        guard_proc_sys();
        body();
        return;
    }
    if let Some(why) = why_not() {
        skip(test, &why);
        return;
    }
    let host_ns = std::fs::read_link("/proc/self/ns/net").unwrap();
    let out = Command::new("timeout")
        // a kill limit, not a timing: the daemon bursts of logs:: take a minute
        .args(["-k", "5", "180", "unshare", "-n", "-m", "-p", "--fork"])
        .args(["--kill-child", "--mount-proc", "--propagation", "private"])
        .arg(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(INNER, "1")
        .env(HOST_NETNS, host_ns)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "inner run of {test} failed ({})\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    eprintln!("{stderr}");
}

/// A `sleep` in a network namespace of its own (a stand-in for a container), once it is
/// there; it ends with the pid namespace.
pub(crate) fn in_a_netns_of_its_own() -> std::process::Child {
    let holder = Command::new("unshare")
        .args(["-n", "sleep", "120"])
        .spawn()
        .unwrap();
    let mine = std::fs::read_link("/proc/self/ns/net").unwrap();
    let link = format!("/proc/{}/ns/net", holder.id());
    while std::fs::read_link(&link).ok().is_none_or(|l| l == mine) {
        std::thread::sleep(Duration::from_millis(20));
    }
    holder
}

pub(crate) fn sh(cmd: &str) {
    let st = Command::new("sh").arg("-c").arg(cmd).status().unwrap();
    assert!(st.success(), "{cmd}: {st}");
}

/// Only net.* may be writable: bind /proc/sys read-only, /proc/sys/net read-write over it,
/// then prove it before anything is written.
pub(crate) fn guard_proc_sys() {
    let host = std::env::var(HOST_NETNS).expect("inner run without the host's netns");
    let here = std::fs::read_link("/proc/self/ns/net").unwrap();
    assert_ne!(
        here.to_string_lossy(),
        host,
        "not in a private network namespace"
    );
    sh(
        "mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys \
        && mount --bind /proc/sys/net /proc/sys/net && mount -o remount,bind,rw /proc/sys/net",
    );
    let w = std::fs::OpenOptions::new()
        .write(true)
        .open("/proc/sys/kernel/pid_max");
    assert!(w.is_err(), "kernel.pid_max is writable: refusing to go on");
    sh("ip link set lo up");
}

pub(crate) fn sysctl(key: &str, value: &str) {
    assert!(key.starts_with("net/"), "only net.* keys: {key}");
    std::fs::write(Path::new("/proc/sys").join(key), value).unwrap();
}

pub(crate) fn tcp_listener(addr: &str, backlog: i32) -> (Socket, SocketAddr) {
    let addr: SocketAddr = addr.parse().unwrap();
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, None).unwrap();
    if addr.is_ipv6() {
        s.set_only_v6(true).unwrap();
    }
    s.bind(&addr.into()).unwrap();
    s.listen(backlog).unwrap();
    let local = s.local_addr().unwrap().as_socket().unwrap();
    (s, local)
}

/// A non-blocking connect: the SYN is sent, the handshake completes (or not) on its own.
pub(crate) fn connect_nb(to: SocketAddr) -> Socket {
    let s = Socket::new(Domain::for_address(to), Type::STREAM, None).unwrap();
    s.set_nonblocking(true).unwrap();
    match s.connect(&to.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(nix::libc::EINPROGRESS) => {}
        Err(e) => panic!("connect {to}: {e}"),
    }
    s
}

fn caller(ev: &Evidence) -> &Namespace {
    ev.namespaces.iter().find(|n| n.caller).unwrap()
}

fn listener<'a>(ns: &'a Namespace, address: &str) -> &'a KernelListener {
    ns.listeners
        .iter()
        .find(|l| l.address == address)
        .unwrap_or_else(|| panic!("no listener {address} in {:#?}", ns.listeners))
}

fn collect(opts: &Options) -> Evidence {
    Evidence::collect(Path::new("/proc"), opts)
}

/// Collect until `ok` holds (the kernel finishes handshakes on its own time), at most 5 s.
fn collect_until(opts: &Options, ok: impl Fn(&Evidence) -> bool) -> Evidence {
    let start = Instant::now();
    loop {
        let ev = collect(opts);
        if ok(&ev) || start.elapsed() > Duration::from_secs(5) {
            return ev;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
#[cfg_attr(no_namespaces, ignore = "needs private namespaces (root)")]
fn tcp_listeners_show_the_clamped_backlog_a_full_queue_and_overflows() {
    in_namespaces(
        "tcp_listeners_show_the_clamped_backlog_a_full_queue_and_overflows",
        || {
            sysctl("net/core/somaxconn", "128");
            let (_big, big) = tcp_listener("127.0.0.1:0", 1024);
            // raising somaxconn later does not grow a listener that already called listen()
            sysctl("net/core/somaxconn", "4096");
            let (_v6, v6) = tcp_listener("[::1]:0", 300);
            let (_small, small) = tcp_listener("127.0.0.1:0", 5);

            // a server that never accepts: the queue holds backlog + 1, then SYNs are dropped
            let mut clients: Vec<Socket> = (0..6).map(|_| connect_nb(small)).collect();
            let small_addr = format!("tcp {small}");
            let opts = Options::live();
            let before = collect_until(&opts, |ev| {
                caller(ev)
                    .listeners
                    .iter()
                    .any(|l| l.address == small_addr && l.queue == Some(6))
            });
            let ns = caller(&before);
            assert_eq!(ns.sysctls.somaxconn, Some(4096));
            for t in &ns.tables {
                assert_eq!(t.source, Source::Netlink, "{t:?}");
            }

            let l = listener(ns, &format!("tcp {big}"));
            assert_eq!(l.proto, Proto::Tcp);
            assert_eq!(
                l.backlog,
                Some(128),
                "min(1024, somaxconn 128 at listen time)"
            );
            assert_eq!(l.queue, Some(0));
            let me = std::process::id() as i32;
            assert_eq!(l.pids, vec![me]);
            assert!(l.process.as_deref().is_some_and(|p| !p.is_empty()));
            assert!(l.inode > 0);
            assert_eq!(l.uid, Some(0));

            let l6 = listener(ns, &format!("tcp {v6}"));
            assert!(l6.address.starts_with("tcp [::1]:"), "{}", l6.address);
            assert_eq!(l6.backlog, Some(300));
            assert_eq!(l6.v6only, Some(true));

            let full = listener(ns, &small_addr);
            assert_eq!(full.backlog, Some(5));
            assert_eq!(full.queue, Some(6), "a full queue holds backlog + 1");
            let drops_before = full.drops.expect("SK_MEMINFO_DROPS (Linux 4.7+)");

            // the configured address matches the kernel socket
            let (m, how) = ns
                .serving(&format!("tcp 127.0.0.1:{}", big.port()))
                .unwrap();
            assert_eq!((m.inode, how), (l.inode, Match::Exact));

            // clients keep coming during a sample: their SYNs hit the full queue (a steady
            // stream, so the sample's window sees some whatever the scheduling)
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let stop2 = stop.clone();
            let more = std::thread::spawn(move || {
                let mut v = Vec::new();
                while v.len() < 4 || !stop2.load(std::sync::atomic::Ordering::Relaxed) {
                    v.push(connect_nb(small));
                    std::thread::sleep(Duration::from_millis(50));
                }
                v
            });
            let sampled = Evidence::sample(
                Path::new("/proc"),
                &Options {
                    owners: false,
                    connections: false,
                    ..Options::live()
                },
                Duration::from_millis(600),
            );
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            clients.extend(more.join().unwrap());
            let s = sampled.sample.as_ref().expect("a sample");
            assert!(s.seconds >= 0.6);
            let d = s
                .namespaces
                .iter()
                .find(|d| d.id == caller(&sampled).id)
                .unwrap();
            assert!(
                d.counters.listen_overflows.is_some_and(|n| n >= 1),
                "ListenOverflows rises: {:?}",
                d.counters
            );
            assert!(d.counters.listen_drops >= d.counters.listen_overflows);
            let ld = d
                .listeners
                .iter()
                .find(|l| l.address == small_addr)
                .unwrap();
            assert!(ld.drops.is_some_and(|n| n >= 1), "{ld:?}");
            assert_eq!((ld.queue_before, ld.queue_after), (Some(6), Some(6)));

            // and two plain readings give the same through `deltas`
            let after = collect(&opts);
            let dd = kernel::deltas(&before, &after, 1.0);
            let ld = dd.namespaces[0]
                .listeners
                .iter()
                .find(|l| l.address == small_addr)
                .unwrap();
            assert!(ld.drops.unwrap() >= 4);
            assert!(listener(caller(&after), &small_addr).drops.unwrap() >= drops_before + 4);

            // the whole evidence goes to JSON and back unchanged
            let json = serde_json::to_string(&after).unwrap();
            let back: Evidence = serde_json::from_str(&json).unwrap();
            assert_eq!(back, after);
            drop(clients);
        },
    );
}

#[test]
#[cfg_attr(no_namespaces, ignore = "needs private namespaces (root)")]
fn unix_listener_fills_until_a_nonblocking_connect_gets_eagain() {
    in_namespaces(
        "unix_listener_fills_until_a_nonblocking_connect_gets_eagain",
        || {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("pool.sock");
            sysctl("net/core/somaxconn", "16");
            let big = Socket::new(Domain::UNIX, Type::STREAM, None).unwrap();
            big.bind(&SockAddr::unix(dir.path().join("big.sock")).unwrap())
                .unwrap();
            big.listen(100).unwrap();
            sysctl("net/core/somaxconn", "4096");
            let pool = Socket::new(Domain::UNIX, Type::STREAM, None).unwrap();
            pool.bind(&SockAddr::unix(&path).unwrap()).unwrap();
            pool.listen(3).unwrap();
            let abs = Socket::new(Domain::UNIX, Type::STREAM, None).unwrap();
            abs.bind(&SockAddr::unix("\0qfix-kernel-test").unwrap())
                .unwrap();
            abs.listen(7).unwrap();

            let mut ok = Vec::new();
            let eagain = loop {
                let c = Socket::new(Domain::UNIX, Type::STREAM, None).unwrap();
                c.set_nonblocking(true).unwrap();
                match c.connect(&SockAddr::unix(&path).unwrap()) {
                    Ok(()) => ok.push(c),
                    Err(e) => break e,
                }
                assert!(ok.len() < 100, "the queue never filled");
            };
            assert_eq!(eagain.raw_os_error(), Some(nix::libc::EAGAIN), "{eagain}");
            assert_eq!(ok.len(), 4, "a unix queue also holds backlog + 1");

            let ev = collect(&Options::live());
            let ns = caller(&ev);
            let unix = ns
                .tables
                .iter()
                .find(|t| t.kind == TableKind::Unix)
                .unwrap();
            assert_eq!(unix.source, Source::Netlink);
            let l = listener(ns, &format!("unix {}", path.display()));
            assert_eq!(l.proto, Proto::Unix);
            assert_eq!((l.backlog, l.queue), (Some(3), Some(4)));
            assert_eq!(l.pids, vec![std::process::id() as i32]);
            let b = listener(
                ns,
                &format!("unix {}", dir.path().join("big.sock").display()),
            );
            assert_eq!(
                b.backlog,
                Some(16),
                "unix listeners are clamped the same way"
            );
            let a = listener(ns, "unix @qfix-kernel-test");
            assert_eq!((a.backlog, a.queue), (Some(7), Some(0)));
            let (m, how) = ns
                .serving(&format!("unix {}", path.display()))
                .expect("the configured path matches");
            assert_eq!((m.inode, how), (l.inode, Match::Exact));

            // without sock_diag: the same sockets from /proc/net, figures missing said so
            let ev = collect(&Options {
                netlink: false,
                ..Options::live()
            });
            let ns = caller(&ev);
            let l = listener(ns, &format!("unix {}", path.display()));
            assert_eq!((l.backlog, l.queue), (None, None));
            let unix = ns
                .tables
                .iter()
                .find(|t| t.kind == TableKind::Unix)
                .unwrap();
            assert_eq!(unix.source, Source::Procfs);
            assert!(unix.missing.contains(&Figure::Backlog));
            assert!(unix.missing.contains(&Figure::Queue));
            listener(ns, "unix @qfix-kernel-test");
        },
    );
}

#[test]
#[cfg_attr(no_namespaces, ignore = "needs private namespaces (root)")]
fn time_wait_and_established_are_counted_per_destination() {
    in_namespaces(
        "time_wait_and_established_are_counted_per_destination",
        || {
            sysctl("net/ipv4/ip_local_port_range", "20000 20999");
            sysctl("net/ipv4/tcp_tw_reuse", "0");
            // listening ports outside the ephemeral range, as services have them: a listener
            // on a port a client socket also uses would make that socket look inbound
            let server = TcpListener::bind("127.0.0.1:19998").unwrap();
            let target = server.local_addr().unwrap();
            // the server reads to EOF and closes: the client, closing first, keeps TIME_WAIT
            let acceptor = std::thread::spawn(move || {
                for _ in 0..60 {
                    let (mut s, _) = server.accept().unwrap();
                    let mut buf = [0u8; 16];
                    while s.read(&mut buf).is_ok_and(|n| n > 0) {}
                }
            });
            for _ in 0..60 {
                let c = TcpStream::connect(target).unwrap();
                c.shutdown(std::net::Shutdown::Write).unwrap();
                let mut buf = [0u8; 1];
                let _ = (&c).read(&mut buf);
            }
            acceptor.join().unwrap();

            let held = TcpListener::bind("127.0.0.1:19999").unwrap();
            let held_addr = held.local_addr().unwrap();
            let clients: Vec<TcpStream> = (0..5)
                .map(|_| TcpStream::connect(held_addr).unwrap())
                .collect();
            let servers: Vec<TcpStream> = (0..5).map(|_| held.accept().unwrap().0).collect();

            let opts = Options {
                top: 3,
                ..Options::live()
            };
            let tw_dest = format!("tcp {target}");
            let ev = collect_until(&opts, |ev| {
                caller(ev).connections.as_ref().is_some_and(|c| {
                    c.destinations
                        .iter()
                        .any(|d| d.address == tw_dest && d.time_wait == 60)
                })
            });
            let ns = caller(&ev);
            assert_eq!(ns.sysctls.ip_local_port_range, Some([20000, 20999]));
            assert_eq!(ns.sysctls.tcp_tw_reuse, Some(0));
            let c = ns.connections.as_ref().unwrap();
            let d = c
                .destinations
                .iter()
                .find(|d| d.address == tw_dest)
                .unwrap();
            assert_eq!(d.time_wait, 60, "{c:#?}");
            assert_eq!(c.time_wait, 60);
            assert_eq!(c.established, 10, "both ends of 5 connections");
            let held_dest = format!("tcp {held_addr}");
            let e = c
                .destinations
                .iter()
                .find(|d| d.address == held_dest)
                .unwrap();
            assert_eq!((e.time_wait, e.established), (0, 5));
            let inbound = c
                .inbound
                .iter()
                .find(|p| p.port == held_addr.port())
                .unwrap();
            assert_eq!(inbound.established, 5);
            assert_eq!(c.distinct_destinations, 2);

            // the procfs fallback counts the same
            let ev = collect(&Options {
                netlink: false,
                ..opts
            });
            let ns = caller(&ev);
            let t = ns
                .tables
                .iter()
                .find(|t| t.kind == TableKind::Connections)
                .unwrap();
            assert_eq!(t.source, Source::Procfs);
            let c2 = ns.connections.as_ref().unwrap();
            assert_eq!((c2.time_wait, c2.established), (60, 10));
            drop((clients, servers));
        },
    );
}

#[test]
#[cfg_attr(no_namespaces, ignore = "needs private namespaces (root)")]
fn two_network_namespaces_are_read_with_their_own_somaxconn() {
    in_namespaces(
        "two_network_namespaces_are_read_with_their_own_somaxconn",
        || {
            sysctl("net/core/somaxconn", "256");
            let (_a, a) = tcp_listener("127.0.0.1:0", 1000);
            // a second namespace, held by a process of ours (it dies with the pid namespace)
            let mut holder = Command::new("unshare")
                .args(["-n", "sleep", "120"])
                .spawn()
                .unwrap();
            let pid = holder.id();
            let mine = std::fs::read_link("/proc/self/ns/net").unwrap();
            let link = format!("/proc/{pid}/ns/net");
            let start = Instant::now();
            while std::fs::read_link(&link).ok().is_none_or(|l| l == mine) {
                assert!(
                    start.elapsed() < Duration::from_secs(5),
                    "unshare -n never ran"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
            // from a thread that joined it: set its somaxconn, open a listener there
            let link2 = link.clone();
            let (b_sock, b) = std::thread::spawn(move || {
                let f = std::fs::File::open(link2).unwrap();
                nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
                sysctl("net/core/somaxconn", "64");
                tcp_listener("0.0.0.0:0", 1000)
            })
            .join()
            .unwrap();
            let other_id = qfix::kernel::procs::netns_of(Path::new(&link)).unwrap();

            let ev = collect(&Options::live());
            assert_eq!(ev.namespaces.len(), 2, "{:#?}", ev.namespaces);
            let here = caller(&ev);
            assert_eq!(here.sysctls.somaxconn, Some(256));
            assert_eq!(listener(here, &format!("tcp {a}")).backlog, Some(256));
            assert!(
                here.listeners
                    .iter()
                    .all(|l| l.address != format!("tcp {b}"))
            );

            let there = ev.namespaces.iter().find(|n| !n.caller).unwrap();
            assert_eq!(there.id, Some(other_id));
            assert_eq!(there.pid, Some(pid as i32));
            assert_eq!(there.sysctls.somaxconn, Some(64));
            assert!(there.counters.is_some());
            let lb = listener(there, &format!("tcp {b}"));
            assert_eq!(lb.backlog, Some(64));
            // socket inodes are global: the owner is this process, in another namespace
            assert_eq!(lb.pids, vec![std::process::id() as i32]);
            assert!(
                ev.notes.iter().all(|n| n.namespace != Some(other_id)),
                "{:#?}",
                ev.notes
            );

            // not entered: its sockets still come from /proc/PID/net, its sysctls unknown
            let ev = collect(&Options {
                enter_namespaces: false,
                ..Options::live()
            });
            let there = ev.namespaces.iter().find(|n| !n.caller).unwrap();
            assert_eq!(there.sysctls.somaxconn, None);
            let lb = listener(there, &format!("tcp {b}"));
            assert_eq!((lb.backlog, lb.queue), (None, Some(0)));
            assert!(ev.notes.iter().any(|n| n.namespace == Some(other_id)));

            drop(b_sock);
            holder.kill().unwrap();
            holder.wait().unwrap();
        },
    );
}

#[test]
fn an_unprivileged_reader_says_what_it_cannot_see() {
    if std::env::var_os(PROBE).is_some() {
        // the child, as nobody: collect and hand the evidence over
        let ev = collect(&Options::live());
        println!("EVIDENCE {}", serde_json::to_string(&ev).unwrap());
        return;
    }
    in_namespaces("an_unprivileged_reader_says_what_it_cannot_see", || {
        sysctl("net/core/somaxconn", "64");
        let (_l, a) = tcp_listener("127.0.0.1:0", 200);
        let mut holder = in_a_netns_of_its_own();
        // nobody must be able to run the test binary
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("probe");
        std::fs::copy(std::env::current_exe().unwrap(), &exe).unwrap();
        sh(&format!(
            "chmod 755 {} {}",
            dir.path().display(),
            exe.display()
        ));
        let probe = || -> Evidence {
            let out = Command::new("setpriv")
                .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
                .arg(&exe)
                .args([
                    "kernel_sockets::an_unprivileged_reader_says_what_it_cannot_see",
                    "--exact",
                    "--nocapture",
                ])
                .env(PROBE, "1")
                .env_remove(INNER)
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            let line = text
                .lines()
                .find_map(|l| l.strip_prefix("EVIDENCE "))
                .unwrap_or_else(|| panic!("{text}\n{}", String::from_utf8_lossy(&out.stderr)));
            serde_json::from_str(line).unwrap()
        };

        let ev = probe();
        let ns = caller(&ev);
        // sock_diag needs no privilege: the kernel's own figures are there
        let l = listener(ns, &format!("tcp {a}"));
        assert_eq!((l.backlog, l.queue), (Some(64), Some(0)));
        // but the root-owned process holding it cannot be read
        assert!(l.pids.is_empty());
        assert!(
            ev.notes.iter().any(|n| n.what == kernel::Unseen::Owners),
            "{:#?}",
            ev.notes
        );
        assert!(
            ev.notes
                .iter()
                .any(|n| n.what == kernel::Unseen::Processes && n.message.contains("permission")),
            "{:#?}",
            ev.notes
        );
        // the other namespace is root's: not listed, and said so
        assert_eq!(ev.namespaces.len(), 1, "{:#?}", ev.namespaces);

        // hidepid: other users' processes are not even listed
        sh("mount -o remount,hidepid=invisible /proc");
        let ev = probe();
        assert!(
            ev.notes
                .iter()
                .any(|n| n.message.contains("hidepid=invisible")),
            "{:#?}",
            ev.notes
        );
        assert!(listener(caller(&ev), &format!("tcp {a}")).pids.is_empty());
        holder.kill().unwrap();
        holder.wait().unwrap();
    });
}

/// A /proc tree made of files (a `--root` copy): procfs tables only, nothing entered.
#[test]
fn a_proc_tree_of_files_is_read_without_netlink() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let files: &[(&str, &str)] = &[
        (
            "net/tcp",
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 00000000:0050 00000000:0000 0A 00000000:00000081 00:00000000 00000000     0        0 22416 1 0\n   1: 0100007F:D2A4 0100000A:18EB 06 00000000:00000000 03:00000F3D 00000000     0        0 0 3 0\n",
        ),
        (
            "net/unix",
            "Num       RefCount Protocol Flags    Type St Inode Path\n0000000000000000: 00000002 00000000 00010000 0001 01 22409 /run/php/php8.2-fpm.sock\n",
        ),
        (
            "net/netstat",
            "TcpExt: ListenOverflows ListenDrops\nTcpExt: 5 6\n",
        ),
        ("sys/net/core/somaxconn", "128\n"),
        ("sys/net/ipv4/ip_local_port_range", "32768\t60999\n"),
        ("7/comm", "php-fpm8.2\n"),
    ];
    for (f, text) in files {
        let path = p.join(f);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    std::fs::create_dir_all(p.join("7/ns")).unwrap();
    std::fs::create_dir_all(p.join("7/fd")).unwrap();
    std::os::unix::fs::symlink("net:[4026531840]", p.join("7/ns/net")).unwrap();
    std::os::unix::fs::symlink("socket:[22409]", p.join("7/fd/3")).unwrap();
    std::os::unix::fs::symlink("7", p.join("self")).unwrap();

    let opts = Options::for_root(p);
    assert!(!opts.netlink);
    let ev = Evidence::collect(p, &opts);
    assert_eq!(ev.namespaces.len(), 1);
    let ns = &ev.namespaces[0];
    assert_eq!(ns.id, Some(4026531840));
    assert!(ns.caller);
    assert_eq!(ns.sysctls.somaxconn, Some(128));
    assert_eq!(ns.sysctls.ip_local_port_range, Some([32768, 60999]));
    assert_eq!(ns.counters.as_ref().unwrap().listen_overflows, Some(5));
    if cfg!(target_endian = "little") {
        let l = listener(ns, "tcp 0.0.0.0:80");
        assert_eq!((l.backlog, l.queue), (None, Some(129)));
        let c = ns.connections.as_ref().unwrap();
        assert_eq!(c.destinations[0].address, "tcp 10.0.0.1:6379");
        assert_eq!(c.destinations[0].time_wait, 1);
    }
    let tcp6 = ns
        .tables
        .iter()
        .find(|t| t.kind == TableKind::Tcp6)
        .unwrap();
    assert_eq!(tcp6.source, Source::Unavailable);
    let u = listener(ns, "unix /run/php/php8.2-fpm.sock");
    assert_eq!(u.pids, vec![7]);
    assert_eq!(u.process.as_deref(), Some("php-fpm8.2"));
    let (m, how) = ns.serving("unix /var/run/php/php8.2-fpm.sock").unwrap();
    assert_eq!((m.inode, how), (22409, Match::Exact));
    // the missing tcp6 table is said, not an error
    assert!(ev.notes.iter().any(|n| n.message.contains("tcp6")));
}
