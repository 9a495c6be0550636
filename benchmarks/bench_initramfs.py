#!/usr/bin/env python3
"""agent.facts.initramfs against `lsinitramfs IMAGE | grep virtio` on the real Debian 12 image.

    python3 benchmarks/bench_initramfs.py [--runs N] [--root DIR]

Without --root it extracts the end-to-end tests' cached Debian root (tests/e2e/build_root.sh,
linux-image-cloud-amd64 with its zstd initramfs) into a temporary directory it removes
afterwards. Both sides run inside the root as guestprep does (chroot; zstd is the
guest's). Measured, median and best of N:

  1. lsinitramfs IMAGE | grep virtio        (a shell pipeline, as a person checks)
  2. find_modules(virtio_blk/pci/net/scsi)   (what the check asks; stops once all are seen)
  3. list_names (every name, to the end)     (same work as lsinitramfs)
  4. 2. in a fresh `python3 -c` process      (includes starting Python and importing)

A benchmark, not a test: nothing here fails on a number.
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
sys.path.insert(0, REPO)

from agent.facts import initramfs  # noqa: E402
from agent.core.rootfs import Root  # noqa: E402
from agent.core.runner import Runner  # noqa: E402

WANTED = {"virtio_blk", "virtio_pci", "virtio_net", "virtio_scsi"}


def timed(function, runs):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--root", help="an existing root instead of the cached Debian root")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench_initramfs: needs root (chroot)")
    tmp = None
    root_path = args.root
    try:
        if root_path is None:
            tarball = subprocess.check_output(["bash", os.path.join(REPO, "tests/e2e/build_root.sh")],
                                              universal_newlines=True).strip().splitlines()[-1]
            tmp = tempfile.mkdtemp(prefix="guestprep-bench-")
            root_path = os.path.join(tmp, "root")
            os.mkdir(root_path)
            subprocess.check_call(["tar", "-C", root_path, "--numeric-owner", "-xf", tarball])
        images = sorted(n for n in os.listdir(os.path.join(root_path, "boot")) if n.startswith("initrd.img-"))
        if not images:
            sys.exit("bench_initramfs: no /boot/initrd.img-* in " + root_path)
        image = "/boot/" + images[-1]
        root = Root(root_path)
        runner = Runner(root.path)
        size = os.path.getsize(root.resolve(image))
        info = {}
        names = list(initramfs.iter_names(root, image, runner, info))
        print("image {} ({:.1f} MiB, {}, {} names)".format(image, size / 2 ** 20, "+".join(info["compression"]),
                                                        len(names)))
        shell = "chroot {} lsinitramfs {} | grep virtio".format(root_path, image)
        rows = [
            ("lsinitramfs IMAGE | grep virtio", lambda: subprocess.run(
                shell, shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)),
            ("find_modules(virtio x4)", lambda: initramfs.find_modules(root, image, WANTED, runner)),
            ("list_names (all)", lambda: initramfs.list_names(root, image, runner)),
            ("python3 -c find_modules", lambda: subprocess.run(
                [sys.executable, "-c", "import sys; sys.path.insert(0, {!r}); from agent.facts import initramfs; "
                 "from agent.core.rootfs import Root; from agent.core.runner import Runner; r = Root({!r}); "
                 "print(initramfs.find_modules(r, {!r}, {!r}, Runner(r.path)))".format(
                     REPO, root_path, image, WANTED)], stdout=subprocess.DEVNULL)),
        ]
        baseline = None
        for label, function in rows:
            median, best = timed(function, args.runs)
            baseline = baseline or median
            print("{:34} median {:7.1f} ms  best {:7.1f} ms  ({:.2f}x lsinitramfs)".format(
                label, median * 1000, best * 1000, baseline / median))
    finally:
        if tmp is not None:
            shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
