#!/usr/bin/env python3
"""How much a full `guestprep check` of a real Debian root costs over starting Python.

    python3 benchmarks/bench_check.py [--runs N] [--root DIR]

Without --root it extracts the end-to-end tests' cached Debian root (tests/e2e/build_root.sh)
into a temporary directory it removes afterwards. Prints the median wall time of each
command and the difference; a benchmark, not a test: nothing here fails on a number.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def timed(argv, runs):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--root", help="an existing root to check instead of the cached Debian root")
    args = parser.parse_args()
    tmp = None
    root = args.root
    if root is None:
        tarball = subprocess.check_output(["bash", os.path.join(REPO, "tests/e2e/build_root.sh")],
                                          universal_newlines=True).strip().splitlines()[-1]
        tmp = tempfile.mkdtemp(prefix="guestprep-bench-")
        root = os.path.join(tmp, "root")
        os.mkdir(root)
        subprocess.check_call(["tar", "-C", root, "-xf", tarball])
    try:
        py = sys.executable
        baseline = timed([py, "-c", "import psutil, distro"], args.runs)
        check = timed([py, "-m", "agent", "check", "--root", root, "--format", "json"], args.runs)
        listing = timed([py, "-m", "agent", "list"], args.runs)
        print("python: {}".format(sys.version.split()[0]))
        print("{:<48} {:>9} {:>9}".format("command (median / best of {})".format(args.runs), "median", "best"))
        for name, (median, best) in (("python -c 'import psutil, distro'", baseline),
                                     ("guestprep list", listing),
                                     ("guestprep check --root <debian> --format json", check)):
            print("{:<48} {:>8.0f}ms {:>8.0f}ms".format(name, median * 1000, best * 1000))
        print("check costs {:+.0f} ms over starting Python with psutil and distro ({:.2f}x)".format(
            (check[0] - baseline[0]) * 1000, check[0] / baseline[0]))
    finally:
        if tmp is not None and tmp.startswith(tempfile.gettempdir() + os.sep + "guestprep-bench-"):
            shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
