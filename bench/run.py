#!/usr/bin/env python3
"""Benchmark `qfix plan --root TREE` on generated busy-web-host trees.

    python3 bench/run.py [--runs N] [--scales 1,10] [--qfix PATH] [--json OUT]

Builds qfix in release mode (unless --qfix is given), generates one tree per scale with
bench/gen.py, and measures, each as a whole process:

  * qfix plan --root TREE        wall time (median/min/max of N runs, the scales' runs
                                 interleaved) and peak RSS (max over 5 runs, measured by GNU
                                 time: see peak_rss_kib);
  * the floor (bench/floor.rs): a program that reads every file of the same tree once and
    does nothing else, its runs interleaved with qfix's;
  * crossplane on TREE/etc/nginx/nginx.conf (the same nginx tree; the Python nginx config
    parser from PyPI), whole process and the in-process crossplane.parse() time;
  * sysctl -a on this machine.

Then checks the targets and prints PASS/FAIL for each; exits 1 if one fails.
"""

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)

TARGET_OVER_FLOOR = 6.0
TARGET_S1_RSS_MB = 20.0
TARGET_SCALE_RATIO = 10.0
TARGET_VS_CROSSPLANE = 20.0

CROSSPLANE_SNIPPET = (
    "import crossplane, sys, time\n"
    "t = time.perf_counter()\n"
    "p = crossplane.parse(sys.argv[1])\n"
    "d = time.perf_counter() - t\n"
    "n = sum(len(c['parsed']) for c in p['config'])\n"
    "print(d, len(p['config']), len(p['errors']), n)\n"
)


def die(msg):
    sys.stderr.write("run.py: %s\n" % msg)
    sys.exit(1)


def measure(argv, stdout=subprocess.DEVNULL, cwd=None):
    """Run argv once; return (wall seconds, peak RSS KiB, exit code, stdout bytes, stderr)."""
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=err, cwd=cwd)
        out = b""
        if stdout is subprocess.PIPE:
            out = p.stdout.read()
            p.stdout.close()
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        return wall, ru.ru_maxrss, p.returncode, out, err.read().decode(errors="replace")


GNU_TIME = "/usr/bin/time"


def peak_rss_kib(argv, runs=5):
    """Peak RSS of argv, measured by GNU time (`%M`), or None without it.

    ru_maxrss of a child forked from this Python process also counts the pages the child
    shared with Python before exec (the kernel records the old image's high-water mark at
    exec), so wait4's figure is inflated by the benchmark's own size: `sysctl -a` shows
    ~30 MB that way. GNU time is a small C program: its children are measured as they are."""
    if not os.access(GNU_TIME, os.X_OK):
        return None
    peaks = []
    for _ in range(runs):
        r = subprocess.run([GNU_TIME, "-f", "%M"] + argv, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        peaks.append(int(r.stderr.strip().splitlines()[-1]))
    return max(peaks)


def summarize(walls, rss, argv=None):
    if argv is not None:
        exact = peak_rss_kib(argv)
        if exact is not None:
            rss = [exact]
    ms = [w * 1000 for w in walls]
    return {"runs": len(ms), "median_ms": statistics.median(ms), "min_ms": min(ms),
            "max_ms": max(ms), "peak_rss_mb": max(rss) / 1024 if rss else None,
            "all_ms": [round(x, 3) for x in ms]}


def build(kind, name):
    """Build a release binary (`--bin qfix`, `--example floor`); cargo names its path."""
    print("building %s (cargo build --release --%s %s) ..." % (name, kind, name), flush=True)
    r = subprocess.run(["cargo", "build", "--release", "--" + kind, name,
                        "--message-format=json-render-diagnostics"],
                       cwd=REPO, stdout=subprocess.PIPE, text=True)
    if r.returncode != 0:
        die("cargo build --release --%s %s failed" % (kind, name))
    path = None
    for line in r.stdout.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg.get("executable") \
                and msg["target"]["name"] == name:
            path = msg["executable"]
    if not path or not os.path.isfile(path):
        die("cargo did not report the %s binary it built" % name)
    return path


def generate(scale, outdir, regen=False):
    """Generate the tree for `scale`, or reuse it when gen.py has not changed since."""
    tree = os.path.join(outdir, "scale%d" % scale)
    stamp_path = tree + ".json"
    gen = os.path.join(BENCH, "gen.py")
    with open(gen, "rb") as f:
        gen_hash = hashlib.sha256(f.read()).hexdigest()
    if not regen and os.path.isdir(tree) and os.path.isfile(stamp_path):
        try:
            with open(stamp_path) as f:
                stamp = json.load(f)
            if stamp.get("gen_sha256") == gen_hash and stamp.get("scale") == scale:
                stamp["summary"]["gen_seconds"] = 0.0
                return tree, stamp["summary"], True
        except (OSError, ValueError, KeyError):
            pass
    if os.path.exists(stamp_path):
        os.remove(stamp_path)
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, gen, str(scale), tree], stdout=subprocess.PIPE, text=True)
    if r.returncode != 0:
        die("gen.py %d failed" % scale)
    summary = {}
    for line in r.stdout.splitlines():
        k, _, v = line.partition(" ")
        v = v.strip()
        summary[k] = int(v) if v.lstrip("-").isdigit() else v
    summary["gen_seconds"] = round(time.perf_counter() - t0, 2)
    with open(stamp_path, "w") as f:
        json.dump({"scale": scale, "gen_sha256": gen_hash, "summary": summary}, f, indent=1)
    return tree, summary, False


def bench_qfix(qfix, floor, trees, runs):
    """Time `qfix plan` and the floor on each tree, all interleaved run by run: this VM's
    speed drifts over minutes, and a ratio of two medians taken minutes apart measures the
    drift as much as qfix. Returns one summary per tree, then one per floor."""
    argvs = [[qfix, "plan", "--root", tree] for tree in trees]
    argvs += [[floor, tree] for tree in trees]
    firsts = []
    for argv in argvs:
        # one untimed run: warms the page cache and records what the plan said
        _, _, rc, out, err = measure(argv, stdout=subprocess.PIPE)
        if rc not in (0, 2):
            die("`%s` exited %d (0 = nothing to change, 2 = changes proposed):\n%s"
                % (" ".join(argv), rc, err.strip()))
        firsts.append({"exit_code": rc, "stdout_lines": out.count(b"\n"),
                       "stdout_bytes": len(out)})
    walls = [[] for _ in argvs]
    rss = [[] for _ in argvs]
    for _ in range(runs):
        for i, argv in enumerate(argvs):
            wall, maxrss, rc, _, err = measure(argv)
            if rc not in (0, 2):
                die("`%s` exited %d:\n%s" % (" ".join(argv), rc, err.strip()))
            walls[i].append(wall)
            rss[i].append(maxrss)
    results = []
    for argv, w, r, first in zip(argvs, walls, rss, firsts):
        res = summarize(w, r, argv)
        res.update(first)
        results.append(res)
    return results


def crossplane_available(no_install):
    py = sys.executable
    if subprocess.run([py, "-c", "import crossplane"], stderr=subprocess.DEVNULL).returncode == 0:
        return True
    if no_install:
        return False
    print("crossplane not importable: looking it up on PyPI ...", flush=True)
    r = subprocess.run([py, "-m", "pip", "index", "versions", "crossplane"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    print("  " + (r.stdout.strip().splitlines() or ["(no answer)"])[-1])
    if r.returncode != 0:
        return False
    r = subprocess.run([py, "-m", "pip", "install", "--quiet", "crossplane"])
    if r.returncode != 0:
        r = subprocess.run([py, "-m", "pip", "install", "--quiet", "--break-system-packages",
                            "crossplane"])
    return subprocess.run([py, "-c", "import crossplane"]).returncode == 0


def bench_crossplane(tree, runs):
    conf = os.path.join(tree, "etc", "nginx", "nginx.conf")
    argv = [sys.executable, "-c", CROSSPLANE_SNIPPET, conf]
    walls, rss, parse = [], [], []
    info = {}
    for _ in range(runs):
        wall, maxrss, rc, out, err = measure(argv, stdout=subprocess.PIPE)
        if rc != 0:
            die("crossplane failed on %s:\n%s" % (conf, err.strip()))
        d, nfiles, nerr, ndirectives = out.split()
        walls.append(wall)
        rss.append(maxrss)
        parse.append(float(d))
        info = {"files_parsed": int(nfiles), "errors": int(nerr),
                "top_level_directives": int(ndirectives)}
    if info.get("errors"):
        die("crossplane reported %d errors on %s" % (info["errors"], conf))
    res = summarize(walls, rss)
    res["parse_median_ms"] = statistics.median(parse) * 1000
    res["parse_all_ms"] = [round(x * 1000, 3) for x in parse]
    res.update(info)
    return res


def bench_sysctl(runs):
    exe = shutil.which("sysctl") or next(
        (p for p in ("/usr/sbin/sysctl", "/sbin/sysctl") if os.access(p, os.X_OK)), None)
    if not exe:
        return None
    argv = [exe, "-a"]
    measure(argv)  # warm-up
    walls, rss, rcs = [], [], set()
    for _ in range(runs):
        wall, maxrss, rc, _, _ = measure(argv)
        walls.append(wall)
        rss.append(maxrss)
        rcs.add(rc)
    res = summarize(walls, rss, argv)
    res["exit_codes"] = sorted(rcs)  # non-zero is usual: some keys are not readable
    return res


def fmt(x, spec="%.1f"):
    return "n/a" if x is None else spec % x


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=15, help="timed runs of qfix and sysctl -a (15)")
    ap.add_argument("--crossplane-runs", type=int, default=3,
                    help="timed crossplane runs per scale (3: it takes seconds per run)")
    ap.add_argument("--scales", default="1,10", help="comma-separated scales (1,10)")
    ap.add_argument("--qfix", help="use this qfix binary instead of building one")
    ap.add_argument("--out", default=os.path.join(BENCH, "out"),
                    help="where the trees are generated (bench/out, git-ignored)")
    ap.add_argument("--regen", action="store_true",
                    help="regenerate the trees even when gen.py has not changed")
    ap.add_argument("--json", metavar="OUT", help="write all results as JSON to OUT")
    ap.add_argument("--no-crossplane", action="store_true", help="skip crossplane")
    ap.add_argument("--no-install", action="store_true",
                    help="do not pip-install crossplane when it is missing")
    args = ap.parse_args()
    scales = [int(s) for s in args.scales.split(",") if s.strip()]
    if args.runs < 1 or not scales:
        die("need --runs >= 1 and at least one scale")

    qfix = os.path.abspath(args.qfix) if args.qfix else build("bin", "qfix")
    floor = build("example", "floor")
    if not os.access(qfix, os.X_OK):
        die("%s is not an executable" % qfix)
    os.makedirs(args.out, exist_ok=True)
    have_cp = not args.no_crossplane and crossplane_available(args.no_install)

    load = os.getloadavg()
    print("machine: %s, %d cpus, load %.2f %.2f %.2f; python %s" % (
        platform.machine(), os.cpu_count() or 0, *load, platform.python_version()))
    print("qfix: %s" % qfix)

    results = {"machine": {"cpus": os.cpu_count(), "loadavg": load,
                           "kernel": platform.release(), "python": platform.python_version()},
               "qfix": qfix, "runs": args.runs, "scales": {}}
    entries = {}
    for scale in scales:
        tree, summary, reused = generate(scale, args.out, args.regen)
        print("scale %d: %s files (+%s links), %.1f MB, %d nginx server blocks, %d php-fpm pools, "
              "%d sysctl assignments in %d files; %s"
              % (scale, summary["files"], summary["symlinks"], summary["bytes"] / 1e6,
                 summary["nginx_server_blocks"], summary["phpfpm_pools"],
                 summary["sysctl_assignments"], summary["sysctl_files"],
                 "reused %s" % tree if reused else "generated in %.1f s" % summary["gen_seconds"]),
              flush=True)
        entries[scale] = {"tree": tree, "tree_summary": summary}
    print("  qfix plan x%d per scale, scales interleaved ..." % args.runs, flush=True)
    timed = bench_qfix(qfix, floor, [e["tree"] for e in entries.values()], args.runs)
    for (scale, entry), q, fl in zip(entries.items(), timed, timed[len(entries):]):
        entry["qfix"] = q
        entry["floor"] = fl
        if have_cp:
            print("  scale %d: crossplane x%d ..." % (scale, args.crossplane_runs), flush=True)
            entry["crossplane"] = bench_crossplane(entry["tree"], args.crossplane_runs)
        results["scales"][scale] = entry

    print("  sysctl -a x%d ..." % args.runs, flush=True)
    results["sysctl_a"] = bench_sysctl(args.runs)
    sa = results["sysctl_a"]["median_ms"] if results["sysctl_a"] else None

    base = results["scales"].get(1, {}).get("qfix", {}).get("median_ms")
    print()
    hdr = ("scale", "qfix median ms", "(min-max)", "qfix peak RSS MB", "floor ms", "qfix/floor",
           "crossplane ms", "crossplane parse ms", "crossplane/qfix", "sysctl -a ms",
           "qfix vs scale 1")
    rows = []
    for scale, e in results["scales"].items():
        q = e["qfix"]
        fl = e["floor"]
        cp = e.get("crossplane")
        ratio = cp["median_ms"] / q["median_ms"] if cp else None
        vs1 = q["median_ms"] / base if base else None
        e["crossplane_over_qfix"] = ratio
        e["qfix_over_scale1"] = vs1
        e["qfix_over_floor"] = q["median_ms"] / fl["median_ms"]
        rows.append((str(scale), "%.2f" % q["median_ms"], "%.2f-%.2f" % (q["min_ms"], q["max_ms"]),
                     "%.1f" % q["peak_rss_mb"], "%.2f" % fl["median_ms"],
                     "%.1fx" % e["qfix_over_floor"], fmt(cp and cp["median_ms"], "%.0f"),
                     fmt(cp and cp["parse_median_ms"], "%.0f"), fmt(ratio, "%.0fx"),
                     fmt(sa, "%.1f"), fmt(vs1, "%.2fx")))
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(hdr)]
    for r in [hdr] + rows:
        print("  ".join(c.rjust(w) for c, w in zip(r, widths)))
    print("(wall times are whole processes, medians; RSS is the peak measured by GNU time over 5 runs "
          "(wait4 from Python over-counts it), "
          "in MiB; crossplane/qfix compares whole processes; crossplane parse ms is "
          "crossplane.parse() alone, in-process)")
    print()

    checks = []
    s1 = results["scales"].get(1)
    if s1:
        checks.append(("scale 1: qfix plan median <= %.0fx the floor" % TARGET_OVER_FLOOR,
                       s1["qfix_over_floor"] <= TARGET_OVER_FLOOR,
                       "%.1fx (%.2f / %.2f ms)" % (s1["qfix_over_floor"], s1["qfix"]["median_ms"],
                                                   s1["floor"]["median_ms"])))
        checks.append(("scale 1: qfix plan peak RSS <= %.0f MB" % TARGET_S1_RSS_MB,
                       s1["qfix"]["peak_rss_mb"] <= TARGET_S1_RSS_MB,
                       "%.1f MB" % s1["qfix"]["peak_rss_mb"]))
    for scale, e in results["scales"].items():
        if scale != 1 and e["qfix_over_scale1"] is not None:
            limit = TARGET_SCALE_RATIO * scale / 10
            checks.append(("scale %d: qfix median <= %.0fx scale 1" % (scale, limit),
                           e["qfix_over_scale1"] <= limit, "%.2fx" % e["qfix_over_scale1"]))
    for scale, e in results["scales"].items():
        if e.get("crossplane_over_qfix") is not None:
            checks.append(("scale %d: qfix >= %.0fx faster than crossplane (whole processes)"
                           % (scale, TARGET_VS_CROSSPLANE),
                           e["crossplane_over_qfix"] >= TARGET_VS_CROSSPLANE,
                           "%.0fx" % e["crossplane_over_qfix"]))
    if not have_cp:
        print("SKIP  crossplane comparison (crossplane not available)")
    for name, ok, got in checks:
        print("%s  %s: %s" % ("PASS" if ok else "FAIL", name, got))
    results["checks"] = [{"target": n, "pass": ok, "got": g} for n, ok, g in checks]

    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
            f.write("\n")
        print("results written to %s" % args.json)
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
