"""Hostile sizes: every reader ends in a clear finding within seconds, in bounded memory.

An image can hold a YAML alias bomb ("billion laughs": a few hundred bytes, 10**9 nodes
once expanded), a valid netplan document repeated to 8 MB, an 80,000-line fstab, or any
configuration file grown to the 16 MiB Root.read_bytes takes. Two levels:

* in-process, each parser in agent/parsers gets the largest input its reader lets through
  (Root.read_config: 1 MiB, 10,000 lines; YAML: 64 KiB, 100 aliases, 100,000 nodes)
  and must finish in TIME_BOUND seconds with a tracemalloc peak under MEMORY_BOUND; the
  bombs past those limits are refused with a reason that names the limit;
* `check` and `plan --format json` run as a user runs them against roots holding each
  bomb: wall time, the children's peak RSS and the finding's text are asserted.

The bounds are generous (a shared 2-core machine); before these limits the same runs
took 40 s to over 60 s and 2.8 GB.
"""
import os
import subprocess
import sys
import time
import tracemalloc

import pytest

import safetylib

from agent.parsers import bootcfg, eni, fstab, ini, keyvalue, netplan, udev_rules, yamlsafe
from agent.core.rootfs import MAX_CONFIG_BYTES, MAX_CONFIG_LINES, Root, RootError

TIME_BOUND = 5.0                   # seconds, one parser call / one reader call
CLI_TIME_BOUND = 20.0              # seconds, one whole `check` or `plan` (imports and all checks)
MEMORY_BOUND = 64 * 1024 * 1024    # tracemalloc peak of one parser call
CLI_RSS_BOUND = 400 * 1024         # KiB, the peak RSS of one check or plan run (ru_maxrss)
CLI_TIMEOUT = 90                   # a run past this is a failure, not a hang of the suite

# 80,000 short lines: under 1 MiB, so the line limit is what refuses it.
FSTAB_80000 = "/a /b ext4\n" * 80000
NETPLAN_DOC = ("network:\n  version: 2\n  ethernets:\n    eth0:\n      addresses: [192.168.1.5/24]\n"
               "      gateway4: 192.168.1.1\n      nameservers:\n        addresses: [8.8.8.8]\n")


def alias_bomb(levels=9, width=9):
    """The billion laughs: each level a list of `width` aliases of the one before."""
    lines = ["network:", "  version: 2", "  lol0: &l0 [" + ", ".join(['"lol"'] * width) + "]"]
    for n in range(1, levels + 1):
        lines.append("  lol{0}: &l{0} [".format(n) + ", ".join(["*l{}".format(n - 1)] * width) + "]")
    lines.append("  ethernets:\n    eth0:\n      dhcp4: true\n      x: *l{}".format(levels))
    return "\n".join(lines) + "\n"


def up_to(unit, size=MAX_CONFIG_BYTES, lines=MAX_CONFIG_LINES):
    """`unit` repeated as often as Root.read_config lets through (bytes and lines)."""
    count = min(size // len(unit.encode()), lines // max(1, unit.count("\n")))
    return unit * count


def bounded(call, *args):
    """(result, seconds, tracemalloc peak in bytes) of call(*args): timed on its own, then
    run again under tracemalloc (which slows pure-Python parsing several times over)."""
    started = time.monotonic()
    result = call(*args)
    elapsed = time.monotonic() - started
    tracemalloc.start()
    try:
        call(*args)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return result, elapsed, peak


PARSERS = {
    "fstab": (fstab.parse, "/dev/vdb1 /data ext4 defaults 0 2\n"),
    "eni": (eni.parse, "auto eth0\niface eth0 inet static\n    address 10.0.0.1/24\n    gateway 10.0.0.254\n"),
    "ini": (ini.parse, "[connection]\nid=eth0\ntype=ethernet\n[ipv4]\nmethod=manual\naddress1=10.0.0.2/24\n"),
    "keyvalue": (keyvalue.parse, 'GRUB_CMDLINE_LINUX="console=tty0 quiet $(x) \'q\'"\n'),
    "bootcfg-grub2": (bootcfg.grub2_entries, "menuentry 'Debian' {\n  linux /vmlinuz root=/dev/sda1 ro\n}\n"),
    "bootcfg-legacy": (bootcfg.grub_legacy_entries, "title Debian\n  kernel /vmlinuz root=/dev/sda1 ro\n"),
    "bootcfg-default": (bootcfg.default_grub, 'GRUB_CMDLINE_LINUX="console=tty0"\n'),
    "udev_rules": (udev_rules.parse, 'SUBSYSTEM=="net", ACTION=="add", ATTR{address}=="52:54:00:12:34:56", '
                                     'NAME="eth0"\n'),
}


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_each_line_parser_within_the_read_limit(name):
    parse, unit = PARSERS[name]
    text = up_to(unit)
    assert len(text.encode()) <= MAX_CONFIG_BYTES and text.count("\n") <= MAX_CONFIG_LINES
    _result, elapsed, peak = bounded(parse, text)
    assert elapsed < TIME_BOUND, "{}: {:.1f} s for {} bytes".format(name, elapsed, len(text))
    assert peak < MEMORY_BOUND, "{}: {} MiB".format(name, peak >> 20)


def test_netplan_within_the_yaml_limit():
    doc = NETPLAN_DOC + "".join("    eth{}:\n      dhcp4: true\n".format(n) for n in range(1, 100000))
    doc = doc[:yamlsafe.MAX_BYTES].rsplit("\n    eth", 1)[0] + "\n"
    (parsed, problems), elapsed, peak = bounded(netplan.parse, doc)
    assert parsed is not None and not problems
    assert elapsed < TIME_BOUND and peak < MEMORY_BOUND, (elapsed, peak)


@pytest.mark.parametrize("bomb, said", [
    (alias_bomb(), "YAML nodes (an alias bomb?)"),
    (alias_bomb(levels=3, width=40), "more than 100 YAML aliases"),
    (NETPLAN_DOC * (8 * 1024 * 1024 // len(NETPLAN_DOC)), "more than the 65536 a YAML file is read up to"),
    ("network: &n\n  version: 2\n  loop: *n\n", "refers to a node that contains it"),
])
def test_netplan_bombs_are_refused(bomb, said):
    (doc, problems), elapsed, peak = bounded(netplan.parse, bomb)
    assert doc is None and len(problems) == 1 and said in problems[0].message, problems
    assert problems[0].message.startswith("not read: ")
    assert elapsed < TIME_BOUND and peak < MEMORY_BOUND, (elapsed, peak)
    # the document and every other YAML reader (cloud-init) refuse it the same way
    with pytest.raises(yamlsafe.TooComplex):
        yamlsafe.safe_load(bomb)


def test_read_config_refuses_size_and_line_bombs(tmp_path):
    root_path = safetylib.mini_root(str(tmp_path / "root"))
    root = Root(root_path)
    safetylib.write(root_path, "/etc/fstab", FSTAB_80000)
    safetylib.write(root_path, "/etc/network/interfaces", "#" * (15 << 20) + "\n")
    for path, said in (("/etc/fstab", "too many lines (80000, more than the 10000"),
                       ("/etc/network/interfaces", "too large")):
        started = time.monotonic()
        with pytest.raises(RootError) as caught:
            root.read_config(path)
        assert said in str(caught.value) and time.monotonic() - started < TIME_BOUND
    assert root.read_config_or_none("/etc/absent") is None


# -- whole runs -----------------------------------------------------------------------

# Runs the command given after its first two arguments (a file for the peak, a timeout) and
# writes the command's peak RSS in KiB to the file. A child started by pytest itself would
# count pytest's own memory in its peak: Linux keeps the high-water mark of the memory a
# process had before exec (for a vfork()ed child, its parent's), and pytest holds hundreds
# of MiB by now. This small process's children start from its few MiB.
PEAK_OF = """\
import resource, subprocess, sys
try:
    code = subprocess.call(sys.argv[3:], timeout=float(sys.argv[2]))
except subprocess.TimeoutExpired:
    code = 124
with open(sys.argv[1], "w") as handle:
    handle.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(code % 256)
"""


def _run(tmp_path, *args):
    """(CliResult, seconds, the run's peak RSS in KiB); a run past CLI_TIMEOUT fails the test."""
    peak_file = str(tmp_path / "peak")
    argv = [sys.executable, "-c", PEAK_OF, peak_file, str(CLI_TIMEOUT), sys.executable, "-m", "agent"]
    started = time.monotonic()
    done = subprocess.run(argv + [str(a) for a in args], cwd=safetylib.REPO, env=safetylib.cli_env(),
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    elapsed = time.monotonic() - started
    if done.returncode == 124:
        pytest.fail("guestprep {} ran past {} s".format(" ".join(map(str, args)), CLI_TIMEOUT))
    with open(peak_file) as handle:
        peak = int(handle.read())
    return (safetylib.CliResult(done.returncode, done.stdout.decode("utf-8", "replace"),
                                done.stderr.decode("utf-8", "replace"), args), elapsed, peak)


# Every bind source below a data disk's mount point: judged against every line that goes,
# this was quadratic (10,000 lines: over a minute for plan, with difflib's matching).
FSTAB_PAIRS = "".join("/dev/vdb{0} /data{0} ext4 defaults 0 2\n/data{0}/sub /mnt/{0} none bind 0 0\n".format(n)
                      for n in range(MAX_CONFIG_LINES // 2))
BIG = 15 << 20
SCENARIOS = {
    # path, content, item, what the finding says
    "fstab-80000-lines": ("/etc/fstab", FSTAB_80000, "fstab", "too many lines (80000"),
    "fstab-10000-lines-of-bind-mounts": ("/etc/fstab", FSTAB_PAIRS, "fstab", "comes from /data4999"),
    "netplan-alias-bomb": ("/etc/netplan/50-cloud-init.yaml", alias_bomb(), "dhcp", "alias bomb"),
    "netplan-8MB": ("/etc/netplan/50-cloud-init.yaml", NETPLAN_DOC * (8 * 1024 * 1024 // len(NETPLAN_DOC)),
                    "dhcp", "too large"),
    "eni-15MB": ("/etc/network/interfaces", "iface eth0 inet static\n    address 10.0.0.1/24\n" * (BIG // 48),
                 "dhcp", "too large"),
    "nm-keyfile-15MB": ("/etc/NetworkManager/system-connections/eth0.nmconnection",
                        "[ipv4]\nmethod=manual\naddress1=10.0.0.2/24\n" * (BIG // 40), "dhcp", "too large"),
    "default-grub-lines": ("/etc/default/grub", 'GRUB_CMDLINE_LINUX="quiet"\n' * 20000, "grub", "too many lines"),
    "grub-cfg-15MB": ("/boot/grub/grub.cfg", "menuentry 'D' {\n linux /vmlinuz root=/dev/sda1 ro\n}\n" * (BIG // 50),
                      "grub", "too large"),
    "udev-15MB": ("/etc/udev/rules.d/70-persistent-net.rules",
                  'SUBSYSTEM=="net", ATTR{address}=="52:54:00:12:34:56", NAME="eth0"\n' * (BIG // 64), "dhcp",
                  "too large"),
    "selinux-lines": ("/etc/selinux/config", "SELINUX=enforcing\n" * 50000, "selinux", "too many lines"),
    "adjtime-lines": ("/etc/adjtime", "0.0 0 0.0\n" * 50000, "rtc", "too many lines"),
    "os-release-15MB": ("/etc/os-release", 'ID=debian\nVERSION_ID="12"\n' * (BIG // 26), "selinux", ""),
    "cloud-cfg-alias-bomb": ("/etc/cloud/cloud.cfg", alias_bomb().replace("network:", "datasource_list: [AliYun]\n"
                                                                          "system_info:"), "cloudinit", "alias"),
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_whole_runs_end_in_a_finding_quickly(name, tmp_path):
    path, content, item, said = SCENARIOS[name]
    root = safetylib.mini_root(str(tmp_path / "root"))
    safetylib.write(root, path, content)
    slowest, peak = 0.0, 0
    for command in ("check", "plan"):
        done, elapsed, rss = _run(tmp_path, command, "--root", root, "--format", "json")
        slowest, peak = max(slowest, elapsed), max(peak, rss)
        safetylib.no_traceback(done)
        assert done.returncode in (0, 3), done
        assert elapsed < CLI_TIME_BOUND, "{} {}: {:.1f} s".format(name, command, elapsed)
        assert said in done.out, "{} {}: no finding saying {!r}".format(name, command, said)
        if "--items" not in done.argv:
            assert '"{}"'.format(item) in done.out
    assert peak < CLI_RSS_BOUND, "{}: guestprep reached {} MiB".format(name, peak >> 10)
    safetylib.record("hostile_sizes", {name: {"bytes": len(content.encode()), "seconds": round(slowest, 1),
                                              "max_rss_kib": peak}})
