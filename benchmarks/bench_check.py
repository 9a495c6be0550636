#!/usr/bin/env python3
"""A full `guestprep check --root` against the floor of the work it must do (issue 14).

    python3 benchmarks/bench_check.py [--runs N] [--root DIR] [--write-readme]

Run it as root with a Python that has psutil, distro and PyYAML (e.g. .venv/newest/bin/python).
Without --root it extracts the end-to-end tests' cached Debian root (tests/e2e/build_root.sh,
linux-image-cloud-amd64, zstd initramfs) into a temporary directory it removes afterwards, and
makes a second root from it (hard links) whose initramfs is the same cpio recompressed with gzip.

The floor: what any tool must spend to answer "which drivers does each kernel's initramfs
hold" on that root, that is starting Python with `import psutil, distro` plus decompressing each
kernel's initramfs once, in full, and reading the result in Python (256 KiB reads, the data
thrown away): for zstd the host's `zstd -dc IMAGE | python3 -c ...`, for gzip zlib inside that
Python. Measured against it:

  installed  sources staged as a package installs them (agent/ and remediations/ on sys.path,
             byte-compiled with compileall beforehand, as pip and dpkg do), started the way the
             `guestprep` console script starts it
  pyz        guestprep.pyz built by packaging/zipapp/build.sh, as shipped (sources only), with its
             code cache (agent/core/pyzcache.py) in the temporary directory, written by one
             unmeasured run first, as the first run on a machine writes it

Each round runs floor, installed and pyz once, in rotating order, per root (paired runs); the
ratios are medians over the rounds of the per-round ratios. The primary measure is CPU time
(user + system of the process and every process it waited for, from wait4), because wall
time is only meaningful on an idle machine; wall time is reported too. Memory is the peak
resident set of the largest process of a run. Measured runs have PYTHONDONTWRITEBYTECODE=1,
so no run writes bytecode and every run of the same command does the same work.

The scaling rows time `check` (installed) on copies of the zstd root with /var/lib/dpkg/status
grown tenfold with made-up packages, with /etc/fstab grown by 20,000 comment lines, and with
2,000 rotated logs more in /var/log, against the unchanged root.

--write-readme replaces the README's `<!-- performance:begin -->` .. `<!-- performance:end -->`
section with the result. A benchmark, not a test: nothing here fails on a number.
"""
import argparse
import datetime
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BEGIN = "<!-- performance:begin -->"
END = "<!-- performance:end -->"
INITRAMFS_PREFIXES = ("initrd.img-", "initramfs-", "initrd-")

FLOOR_ZSTD = ("import psutil, distro, sys\n"
              "r = sys.stdin.buffer\n"
              "while r.read(1 << 18):\n"
              "    pass\n")
FLOOR_GZIP = ("import psutil, distro, sys, zlib\n"
              "for path in sys.argv[1:]:\n"
              "    d = zlib.decompressobj(31)\n"
              "    with open(path, 'rb') as f:\n"
              "        while True:\n"
              "            chunk = f.read(1 << 18)\n"
              "            if not chunk:\n"
              "                break\n"
              "            d.decompress(chunk)\n")


def run(argv, env):
    """(cpu seconds, wall seconds, peak RSS KiB, exit code) of one command and its children."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd="/")
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else status >> 8
    return usage.ru_utime + usage.ru_stime, wall, usage.ru_maxrss, proc.returncode


def initramfs_images(root):
    boot = os.path.join(root, "boot")
    return sorted(os.path.join(boot, n) for n in os.listdir(boot)
                  if n.startswith(INITRAMFS_PREFIXES) and os.path.isfile(os.path.join(boot, n)))


def floor_argv(py, root, compression):
    images = initramfs_images(root)
    if compression == "zstd":
        script = "; ".join("zstd -dc {}".format(i) for i in images)
        return ["sh", "-c", "({}) | {} -c '{}'".format(script, py, FLOOR_ZSTD)]
    return [py, "-c", FLOOR_GZIP] + images


def stage_installed(tmp, py):
    site = os.path.join(tmp, "site")
    for top in ("agent", "remediations"):
        shutil.copytree(os.path.join(REPO, top), os.path.join(site, top),
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    subprocess.check_call([py, "-m", "compileall", "-q", site], stdout=subprocess.DEVNULL)
    return site


def build_pyz(tmp):
    out = os.path.join(tmp, "guestprep.pyz")
    subprocess.check_call(["bash", os.path.join(REPO, "packaging/zipapp/build.sh"), out], stdout=subprocess.DEVNULL)
    return out


def make_gzip_root(root, tmp):
    """A hard-linked copy of `root` whose initramfs images are recompressed with gzip."""
    copy = os.path.join(tmp, "root-gzip")
    subprocess.check_call(["cp", "-al", root, copy])
    for image in initramfs_images(copy):
        new = image + ".new"
        with open(new, "wb") as out:
            zstd = subprocess.Popen(["zstd", "-dc", image], stdout=subprocess.PIPE)
            subprocess.check_call(["gzip", "-6", "-n"], stdin=zstd.stdout, stdout=out)
            zstd.stdout.close()
            if zstd.wait():
                raise SystemExit("bench_check: zstd -dc {} failed".format(image))
        os.rename(new, image)      # a new inode: the zstd root keeps its image
    return copy


def make_scaled_root(root, tmp, name, path, grow):
    """A hard-linked copy of `root` with one file replaced by a grown version."""
    copy = os.path.join(tmp, name)
    subprocess.check_call(["cp", "-al", root, copy])
    target = copy + path
    with open(target, encoding="utf-8", errors="surrogateescape") as handle:
        text = handle.read()
    os.unlink(target)
    with open(target, "w", encoding="utf-8", errors="surrogateescape") as handle:
        handle.write(grow(text))
    return copy


def make_log_root(root, tmp, directories=40, files=50):
    """A hard-linked copy of `root` with 2,000 rotated logs more in /var/log, 40 services' worth
    two levels down, as a VM that ran for months has them (seal walks and sizes each one)."""
    copy = os.path.join(tmp, "root-logs")
    subprocess.check_call(["cp", "-al", root, copy])
    for d in range(directories):
        below = os.path.join(copy, "var/log/bench-app{:02d}/old".format(d))
        os.makedirs(below)
        for f in range(files):
            with open(os.path.join(below, "app.log.{}.gz".format(f + 1)), "wb") as handle:
                handle.write(b"\x1f\x8b bench_check.py\n")
    return copy


def more_packages(text):
    """dpkg status with nine made-up packages after each real one (x10 entries)."""
    out = [text.rstrip("\n") + "\n"]
    for i in range(9 * text.count("\nPackage: ") + 9):
        out.append("\nPackage: bench-filler-{0}\nStatus: install ok installed\nPriority: optional\n"
                   "Section: misc\nInstalled-Size: 1\nMaintainer: bench <bench@example.invalid>\n"
                   "Architecture: all\nVersion: 1.0-{0}\nDescription: made up by bench_check.py\n".format(i))
    return "".join(out)


def bigger_fstab(text):
    return text + "".join("# bench_check.py comment line {}\n".format(i) for i in range(20000))


def measure(rounds, commands, env):
    """{name: [(cpu, wall, rss, rc)]} of (name, argv[, env]) commands; each round runs every command
    once, in rotating order."""
    results = {command[0]: [] for command in commands}
    for i in range(rounds):
        order = commands[i % len(commands):] + commands[:i % len(commands)]
        for command in order:
            results[command[0]].append(run(command[1], command[2] if len(command) > 2 else env))
    return results


def ratio(results, a, b, index):
    return statistics.median(x[index] / y[index] for x, y in zip(results[a], results[b]))


def med(results, name, index):
    return statistics.median(x[index] for x in results[name])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="paired rounds (default 9)")
    parser.add_argument("--root", help="an existing root (zstd initramfs) instead of the cached Debian root")
    parser.add_argument("--write-readme", action="store_true", help="rewrite the README's performance section")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench_check: needs root (the Debian root's files are root's, and it is unpacked with their owners)")
    py = sys.executable
    tmp = tempfile.mkdtemp(prefix="guestprep-bench-")
    try:
        root = args.root
        if root is None:
            tarball = subprocess.check_output(["bash", os.path.join(REPO, "tests/e2e/build_root.sh")],
                                              universal_newlines=True).strip().splitlines()[-1]
            root = os.path.join(tmp, "root")
            os.mkdir(root)
            subprocess.check_call(["tar", "-C", root, "--numeric-owner", "-xf", tarball])
        roots = [("zstd", root), ("gzip", make_gzip_root(root, tmp))]
        site = stage_installed(tmp, py)
        pyz = build_pyz(tmp)
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", LC_ALL="C")
        env.pop("PYTHONPATH", None)
        installed_env = dict(env, PYTHONPATH=site)
        pyz_env = dict(env, GUESTPREP_PYZ_CACHE=os.path.join(tmp, "pyz-cache"))
        warm = dict(pyz_env)
        warm.pop("PYTHONDONTWRITEBYTECODE")
        subprocess.call([py, pyz, "list"], stdout=subprocess.DEVNULL, env=warm, cwd="/")
        entry = "from agent.output.cli import main_exit; main_exit()"   # what the console script runs
        rows = []
        for compression, path in roots:
            check = ["check", "--root", path, "--format", "json"]
            commands = [("floor", floor_argv(py, path, compression)),
                        ("installed", [py, "-c", entry] + check, installed_env),
                        ("pyz", [py, pyz] + check, pyz_env)]
            results = measure(args.runs, commands, env)
            rows.append((compression, path, results))
        scale = []
        status = "/var/lib/dpkg/status"
        if os.path.exists(root + status):
            scale.append(("dpkg status x10 packages", make_scaled_root(root, tmp, "root-pkgs", status, more_packages)))
        if os.path.exists(root + "/etc/fstab"):
            scale.append(("/etc/fstab +20,000 lines", make_scaled_root(root, tmp, "root-fstab", "/etc/fstab",
                                                                    bigger_fstab)))
        if os.path.isdir(root + "/var/log"):
            scale.append(("/var/log +2,000 rotated logs", make_log_root(root, tmp)))
        scaled = None
        if scale:
            commands = [("base", [py, "-c", entry, "check", "--root", root, "--format", "json"])]
            commands += [(label, [py, "-c", entry, "check", "--root", p, "--format", "json"]) for label, p in scale]
            scaled = measure(args.runs, commands, installed_env)
        text = report(rows, scaled, [label for label, _ in scale], args.runs, py, root)
        print(text)
        if args.write_readme:
            rewrite(os.path.join(REPO, "README.md"), text)
            print("bench_check: README performance section rewritten")
    finally:
        if os.path.dirname(tmp) == tempfile.gettempdir() and os.path.basename(tmp).startswith("guestprep-bench-"):
            shutil.rmtree(tmp)


def report(rows, scaled, scale_labels, runs, py, root):
    load = os.getloadavg()[0]
    lines = ["## Performance", "",
             "Written by `benchmarks/bench_check.py --write-readme` ({} paired rounds, medians; {}, Python {}, "
             "{} CPUs, load average {:.1f} when measured; {}), not typed.".format(
                 runs, datetime.date.today().isoformat(), platform.python_version(), os.cpu_count(), load,
                 "the cached Debian 12 root of tests/e2e" if os.path.basename(root) == "root" else root),
             "",
             "The floor is the work any tool must do to answer the check's hardest question: start Python "
             "with `import psutil, distro` and decompress each kernel's initramfs once, in full, reading it in "
             "Python (the host's `zstd -dc` piped into Python for zstd, zlib in Python for gzip). The "
             "Debian image lacks virtio_console: guestprep reads it up to the image's own modules.dep, which "
             "rules that driver out (the libraries and programs sorted after it, a fifth of the archive, are "
             "not decompressed), taking the cpio headers into Python while the files' data goes from the "
             "decompressor to /dev/null by splice. Ratios are CPU time "
             "(process and children, user + system), the measure that stays true on a loaded machine; wall "
             "times are shown for reference. Installed = byte-compiled package; pyz = `guestprep.pyz`, its "
             "modules' code loaded from the cache its first run on the machine wrote (see \"One file\" above).",
             "",
             "| root | floor CPU | installed CPU | pyz CPU | installed / floor | pyz / installed | "
             "wall: floor, installed, pyz | peak RSS installed, pyz |",
             "|---|---|---|---|---|---|---|---|"]
    for compression, _, r in rows:
        codes = sorted(set(x[3] for name in ("installed", "pyz") for x in r[name]))
        lines.append("| Debian 12, {} initramfs | {:.0f} ms | {:.0f} ms | {:.0f} ms | **{:.2f}x** | **{:.2f}x** | "
                     "{:.0f}, {:.0f}, {:.0f} ms | {:.1f}, {:.1f} MiB |".format(
                         compression, med(r, "floor", 0) * 1000, med(r, "installed", 0) * 1000,
                         med(r, "pyz", 0) * 1000, ratio(r, "installed", "floor", 0), ratio(r, "pyz", "installed", 0),
                         med(r, "floor", 1) * 1000, med(r, "installed", 1) * 1000, med(r, "pyz", 1) * 1000,
                         max(x[2] for x in r["installed"]) / 1024, max(x[2] for x in r["pyz"]) / 1024)
                     + ("" if codes == [3] or len(codes) == 1 else " exit codes {}".format(codes)))
    if scaled:
        lines += ["", "Scaling (installed, CPU time against the same root unchanged):", ""]
        for label in scale_labels:
            lines.append("- {}: {:.2f}x".format(label, ratio(scaled, label, "base", 0)))
    lines += ["", "Goals (issue 14): installed / floor at or below 1.0x, pyz / installed within 1.05x, "
              "peak memory under 40 MiB, cost flat in the number of packages and linear in config size."]
    return "\n".join(lines) + "\n"


def rewrite(readme, body):
    with open(readme, encoding="utf-8") as handle:
        text = handle.read()
    block = BEGIN + "\n" + body + END
    if BEGIN in text and END in text:
        start = text.index(BEGIN)
        new = text[:start] + block + text[text.index(END, start) + len(END):]
    else:
        new = text.rstrip("\n") + "\n\n" + block + "\n"
    with open(readme, "w", encoding="utf-8") as handle:
        handle.write(new)


if __name__ == "__main__":
    main()
