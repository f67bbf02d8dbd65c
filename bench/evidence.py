#!/usr/bin/env python3
"""Kernel evidence collection against `ss` on a namespace with many sockets.

    python3 bench/evidence.py [--runs N] [--bin PATH] [--listeners N] [--established N]
                              [--time-wait N] [--then 'SHELL COMMAND']

Builds the `evidence` example (`cargo build --release --example evidence`) unless --bin is
given, then re-runs itself as root under `unshare -n -m -p --fork --mount-proc`: a private
network namespace (nothing of the host's is measured or changed), /proc/sys bound read-only
with only /proc/sys/net writable (checked before any write). Inside it opens N listeners (default 2,000) on 127.0.0.1, established connections (default 20,000
ESTABLISHED sockets: 10,000 connections with both ends here, held by child processes of
2,500 connections each) and TIME_WAIT sockets (default
50,000; the client end of connections the client closed first), then times, runs interleaved:

- `ss -Htan` plus `ss -Hltnx` (both wall times added), stdout to /dev/null (the target);
- the same with `-p` (process owners, which the collection also has), for reference;
- the `evidence` example: one `Evidence::collect` of /proc with netlink, connection counts
  and owners (a readlink of each of the ~30,000 descriptors of the processes holding the
  sockets, which `ss` without -p does not do), summary to /dev/null.

Prints medians and quartiles, the peak RSS of each (wait4 ru_maxrss), and the socket counts
the evidence reported. TIME_WAIT lasts 60 s: everything is measured within that.
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def build():
    """Build the example; cargo names the path it wrote (CARGO_TARGET_DIR honoured)."""
    r = subprocess.run(
        ["cargo", "build", "--release", "--example", "evidence",
         "--message-format=json-render-diagnostics"],
        cwd=REPO,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "CARGO_BUILD_JOBS": os.environ.get("CARGO_BUILD_JOBS", "1")},
    )
    for line in r.stdout.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg.get("executable") \
                and msg["target"]["name"] == "evidence":
            return msg["executable"]
    sys.exit("cargo did not report the evidence example it built")


def sh(cmd):
    subprocess.run(["sh", "-c", cmd], check=True)


def guard():
    """Only net.* writable; refuse to go on otherwise."""
    sh(
        "mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys && "
        "mount --bind /proc/sys/net /proc/sys/net && mount -o remount,bind,rw /proc/sys/net"
    )
    try:
        open("/proc/sys/kernel/pid_max", "w").close()
    except OSError:
        pass
    else:
        sys.exit("kernel.pid_max is writable: refusing to go on")
    if os.readlink("/proc/self/ns/net") == os.environ.get("HOST_NETNS"):
        sys.exit("not in a private network namespace")
    sh("ip link set lo up")


def sysctl(key, value):
    assert key.startswith("net/")
    with open("/proc/sys/" + key, "w") as f:
        f.write(value)


def hold(job):
    """Run `job` in a child process that keeps what it opened until the namespace ends: the
    hard RLIMIT_NOFILE here may be below the descriptors one process would need, and
    CAP_SYS_RESOURCE may be missing. Returns once the child has made its sockets."""
    r, w = os.pipe()
    if os.fork() == 0:
        os.close(r)
        kept = job()
        os.write(w, b"x")
        while True:
            time.sleep(3600)
            kept.append(None)
    os.close(w)
    assert os.read(r, 1) == b"x"
    os.close(r)


def populate(n_listen, n_est, n_tw):
    sysctl("net/core/somaxconn", "4096")
    sysctl("net/ipv4/ip_local_port_range", "20000 65000")
    sysctl("net/ipv4/tcp_max_tw_buckets", str(max(262144, 2 * n_tw)))
    # 2 (the default) reuses loopback TIME_WAIT ports for new connections: they would vanish
    sysctl("net/ipv4/tcp_tw_reuse", "0")
    listeners = []
    for i in range(n_listen):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 10000 + i))
        s.listen(511)
        listeners.append(s)
    t0 = time.time()

    # established: both ends kept open, 2,500 connections (5,000 descriptors) per process
    def established(lo, hi):
        def job():
            keep = []
            for i in range(lo, hi):
                lst = listeners[i % min(100, n_listen)]
                c = socket.create_connection(lst.getsockname())
                a, _ = lst.accept()
                keep += [c, a]
            return keep

        return job

    conns = n_est // 2
    for lo in range(0, conns, 2500):
        hold(established(lo, min(conns, lo + 2500)))
    # TIME_WAIT: the client closes first, the server after it
    dests = listeners[-10:]
    for i in range(n_tw):
        lst = dests[i % len(dests)]
        c = socket.create_connection(lst.getsockname())
        a, _ = lst.accept()
        c.close()
        a.close()
    print(f"sockets made in {time.time() - t0:.1f} s", file=sys.stderr)
    return listeners


def timed(cmd):
    """Wall time (s) of one run and its peak RSS (KiB), output discarded. The RSS comes from
    GNU time's %M (wait4's ru_maxrss of the command); measured through a Python child it
    would include Python's own pages: a process's maxrss survives exec."""
    t = time.perf_counter()
    p = subprocess.run(
        ["/usr/bin/time", "-f", "%M", *cmd],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    wall = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit(f"{cmd}: exit status {p.returncode}: {p.stderr}")
    return wall, int(p.stderr.strip().splitlines()[-1])


def quart(xs):
    xs = sorted(xs)
    q = statistics.quantiles(xs, n=4) if len(xs) > 1 else [xs[0]] * 3
    return f"{1000 * q[1]:7.1f} ms (q1 {1000 * q[0]:.1f}, q3 {1000 * q[2]:.1f})"


def inner(args):
    guard()
    listeners = populate(args.listeners, args.established, args.time_wait)
    if args.then:
        # e.g. profiling: --then 'perf record -g -o /tmp/p.data BIN --no-connections'
        return subprocess.run(["sh", "-c", args.then]).returncode
    start = time.time()
    ss_t, ev_t, ss_rss, ev_rss, ssp_t = [], [], [], [], []
    for run in range(args.runs):
        a, ra = timed(["ss", "-Htan"])
        b, rb = timed(["ss", "-Hltnx"])
        ss_t.append(a + b)
        ss_rss.append(max(ra, rb))
        e, re_ = timed([args.bin])
        ev_t.append(e)
        ev_rss.append(re_)
        # with process owners, as the collection has them (not the target's comparison);
        # seconds each, so three runs only: TIME_WAIT sockets expire after 60 s
        if run < 3:
            a, _ = timed(["ss", "-Htanp"])
            b, _ = timed(["ss", "-Hltnxp"])
            ssp_t.append(a + b)
    parts = {}
    for flags in (["--no-owners"], ["--no-connections"], ["--no-owners", "--no-connections"]):
        parts[" ".join(flags)] = statistics.median(
            [timed([args.bin, *flags])[0] for _ in range(args.runs)]
        )
    out = subprocess.run([args.bin], capture_output=True, text=True, check=True)
    tw = subprocess.run(
        ["ss", "-Htan", "state", "time-wait"], capture_output=True, text=True
    ).stdout.count("\n")
    elapsed = time.time() - start
    print(out.stdout.strip())
    print(out.stderr.strip())
    print(f"ss sees {tw} TIME_WAIT sockets at the end ({elapsed:.1f} s of measuring)")
    print(f"runs: {args.runs}, interleaved")
    print(f"ss -Htan + ss -Hltnx : {quart(ss_t)}, peak RSS {max(ss_rss) / 1024:.1f} MiB")
    print(f"Evidence::collect    : {quart(ev_t)}, peak RSS {max(ev_rss) / 1024:.1f} MiB")
    print(f"ss -Htanp + ss -Hltnxp (owners too): {quart(ssp_t)}")
    for k, v in parts.items():
        print(f"  evidence {k:30}: {1000 * v:7.1f} ms")
    ratio = statistics.median(ev_t) / statistics.median(ss_t)
    ok_t = ratio <= 1.0
    ok_m = max(ev_rss) < 30 * 1024
    print(f"time ratio evidence/ss: {ratio:.2f} -> {'PASS' if ok_t else 'FAIL'} (target <= 1)")
    print(f"peak RSS < 30 MiB -> {'PASS' if ok_m else 'FAIL'}")
    del listeners
    return 0 if ok_t and ok_m else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--bin")
    ap.add_argument("--listeners", type=int, default=2000)
    ap.add_argument("--established", type=int, default=20000)
    ap.add_argument("--time-wait", type=int, default=50000)
    ap.add_argument("--then", help="run this shell command in the namespace instead of timing")
    ap.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inner:
        return inner(args)
    if os.geteuid() != 0:
        sys.exit("needs root (private network and pid namespaces)")
    binary = args.bin or build()
    cmd = ["unshare", "-n", "-m", "-p", "--fork", "--kill-child", "--mount-proc"]
    cmd += ["--propagation", "private", sys.executable, os.path.abspath(__file__), "--inner"]
    cmd += ["--bin", binary, "--runs", str(args.runs), "--listeners", str(args.listeners)]
    cmd += ["--established", str(args.established), "--time-wait", str(args.time_wait)]
    if args.then:
        cmd += ["--then", args.then]
    env = {**os.environ, "HOST_NETNS": os.readlink("/proc/self/ns/net")}
    return subprocess.run(cmd, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
