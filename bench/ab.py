#!/usr/bin/env python3
"""Compare qfix binaries on one tree, runs interleaved (A, B, A, B, ...).

    python3 bench/ab.py [--runs N] BIN_A BIN_B [...] -- ARGS...

e.g. python3 bench/ab.py --runs 80 /tmp/qfix-old target/release/qfix \
        -- plan --root bench/out/scale1

On a noisy VM two benchmark runs minutes apart can differ by more than a change's effect;
alternating the binaries exposes them to the same noise. Prints each binary's median and
quartiles of whole-process wall time (stdout and stderr to /dev/null).

--pause S sleeps S seconds before each run: this VM hands its free memory back to the host
after ~2 s idle (free page reporting), and a run after a pause pays for touching memory the
host must back again, as a one-off run on a quiet host does (see bench/README.md, "Cold
memory")."""

import argparse
import statistics
import subprocess
import sys
import time


def main():
    argv = sys.argv[1:]
    if "--" not in argv:
        sys.exit(__doc__)
    cut = argv.index("--")
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--pause", type=float, default=0.0)
    ap.add_argument("bins", nargs="+")
    opts = ap.parse_args(argv[:cut])
    rest = argv[cut + 1:]
    times = {b: [] for b in opts.bins}
    for _ in range(opts.runs):
        for b in opts.bins:
            time.sleep(opts.pause)
            t = time.perf_counter()
            subprocess.run([b] + rest, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times[b].append((time.perf_counter() - t) * 1000)
    for b, ws in times.items():
        ws.sort()
        q = len(ws) // 4
        print("%-40s median %7.2f ms  p25 %7.2f  p75 %7.2f" % (b, statistics.median(ws), ws[q], ws[-q - 1]))


if __name__ == "__main__":
    main()
