"""Hostile images with --root: guestprep reads and writes only inside the root, never blocks.

Each scenario puts something hostile where a config file (or the state directory) should
be: absolute and relative symlinks out of the root, symlink loops, FIFOs, device nodes,
a sparse 20 GB file, bytes that are not UTF-8, directories. `check`, `plan`, `fix --yes`,
`rollback` and `clean` run as a user runs them, each under a timeout; a sentinel tree
outside the root (and the host paths the links name) must be byte-for-byte unchanged,
nothing of it may show in the output, and no traceback may be printed.
"""
import os
import stat
import subprocess
import threading

import pytest

import safetylib
from safetylib import guestprep, tree_state

MARKER = "HOST-ONLY-MARKER-7f3a"
TIMEOUT = 60
COMMANDS = (("check",), ("check", "--format", "json"), ("plan",), ("plan", "--format", "json"),
            ("fix", "--yes"), ("fix", "--yes", "--format", "json"), ("rollback",), ("clean", "--yes"))
CONFIGS = ("/etc/fstab", "/etc/selinux/config", "/etc/adjtime", "/etc/network/interfaces", "/etc/shadow",
           "/etc/passwd", "/etc/default/grub", "/var/lib/dpkg/status", "/etc/os-release")


def outside_tree(top):
    """A sentinel tree outside the root, shaped like a host's /etc."""
    for rel, text in (("host/etc/shadow", "root:$6$" + MARKER + ":19000:0:99999:7:::\n"),
                      ("host/etc/fstab", "/dev/sdz9 /" + MARKER + " ext4 defaults 0 2\n"),
                      ("host/etc/selinux/config", "SELINUX=enforcing # " + MARKER + "\n"),
                      ("host/etc/adjtime", "0.0 0 0.0\n0\nLOCAL\n"),
                      ("host/etc/network/interfaces", "iface eth9 inet static # " + MARKER + "\n"),
                      ("state/keep", MARKER + "\n")):
        safetylib.write(top, "/" + rel, text)
    return top


def link(root, guest_path, target):
    host = root + guest_path
    os.makedirs(os.path.dirname(host), exist_ok=True)
    if os.path.lexists(host):
        if os.path.isdir(host) and not os.path.islink(host):
            os.rmdir(host) if not os.listdir(host) else subprocess.check_call(["rm", "-rf", host])
        else:
            os.unlink(host)
    os.symlink(target, host)


def replace(root, guest_path, make):
    host = root + guest_path
    os.makedirs(os.path.dirname(host), exist_ok=True)
    if os.path.lexists(host):
        if os.path.isdir(host) and not os.path.islink(host):
            subprocess.check_call(["rm", "-rf", host])
        else:
            os.unlink(host)
    make(host)


def up(guest_path):
    """A relative path from guest_path's directory that climbs far above any root."""
    return "../" * (guest_path.count("/") + 12)


def scenario_absolute_links(root, outside):
    for path in ("/etc/fstab", "/etc/selinux/config", "/etc/adjtime", "/etc/network/interfaces"):
        link(root, path, outside + "/host" + path)           # a host path that exists
    link(root, "/etc/shadow", "/host/etc/shadow")            # re-anchored: absent in the root
    link(root, "/etc/netplan", "/")
    link(root, "/var/lib/guestprep", outside + "/state")


def scenario_relative_links(root, outside):
    rel = outside.lstrip("/")
    for path in ("/etc/fstab", "/etc/selinux/config", "/etc/adjtime", "/etc/network/interfaces", "/etc/shadow"):
        link(root, path, up(path) + rel + "/host" + path)
    link(root, "/etc/netplan", "../../../../..")
    link(root, "/var/lib/guestprep", up("/var/lib/guestprep") + rel + "/state")


def scenario_state_dir_to_tmp(root, outside):
    link(root, "/var/lib/guestprep", outside_host_tmp())
    link(root, "/etc/NetworkManager", "/")


def scenario_state_dir_contents_out(root, outside):
    # guestprep's own files in the image's state directory, linked to the host
    os.makedirs(root + "/var/lib/guestprep", mode=0o700)
    link(root, "/var/lib/guestprep/lock", outside + "/state/keep")
    link(root, "/var/lib/guestprep/guestprep.log", outside + "/host/etc/fstab")
    os.makedirs(outside + "/state/runs")
    link(root, "/var/lib/guestprep/runs", outside + "/state/runs")


def scenario_lock_and_log_out(root, outside):
    os.makedirs(root + "/var/lib/guestprep/runs", mode=0o700)
    link(root, "/var/lib/guestprep/lock", outside + "/state/keep")
    link(root, "/var/lib/guestprep/guestprep.log", outside + "/host/etc/shadow")


def scenario_loops(root, outside):
    for path in CONFIGS[:-1]:
        link(root, path, path)                                # itself
    link(root, "/etc/netplan", "/etc/netplan/../netplan")
    link(root, "/etc/systemd/network", "a")
    link(root, "/etc/systemd/a", "network")
    link(root, "/var/lib/guestprep", "/var/lib/guestprep2")
    link(root, "/var/lib/guestprep2", "/var/lib/guestprep")


def scenario_fifos(root, outside):
    for path in CONFIGS[:-1]:
        replace(root, path, os.mkfifo)
    replace(root, "/etc/netplan/50-cloud-init.yaml", os.mkfifo)
    replace(root, "/etc/NetworkManager/system-connections/eth0.nmconnection", os.mkfifo)


def scenario_devices(root, outside):
    # /dev/null, /dev/zero, /dev/urandom and a loop block device, where files should be
    devices = ((stat.S_IFCHR, 1, 3), (stat.S_IFCHR, 1, 5), (stat.S_IFCHR, 1, 9), (stat.S_IFBLK, 7, 0))
    for n, path in enumerate(CONFIGS[:-1]):
        kind, major, minor = devices[n % len(devices)]
        replace(root, path, lambda host, k=kind, a=major, b=minor: os.mknod(host, 0o600 | k, os.makedev(a, b)))
    replace(root, "/etc/netplan/50-cloud-init.yaml", lambda h: os.mknod(h, 0o600 | stat.S_IFCHR, os.makedev(1, 5)))


def scenario_enormous(root, outside):
    for path in CONFIGS[:-1]:
        def sparse(host):
            with open(host, "wb") as handle:
                handle.truncate(20 * 1024 ** 3)
                handle.seek(20 * 1024 ** 3 - 20)
                handle.write(b"SELINUX=enforcing\nx\n")
        replace(root, path, sparse)


def scenario_not_utf8(root, outside):
    texts = {
        "/etc/fstab": b"/dev/vdb1 /d\xe4ta ext4 defaults 0 2\n\xff\xfe\n",
        "/etc/selinux/config": b"SELINUX=enforcing\n# \xc3\x28 \xa0\xa1\nSELINUXTYPE=t\xe9rgeted\n",
        "/etc/adjtime": b"0.0 0 0.0\n0\nLOC\xc1L\n",
        "/etc/network/interfaces": b"auto eth0\niface eth0 inet static\n    address 10.0.0.\xff/24\n",
        "/etc/netplan/60-x.yaml": b"network:\n  ethernets:\n    eth\xff0:\n      addresses: [10.0.0.5/24]\n",
        "/etc/default/grub": b"GRUB_CMDLINE_LINUX=\"selinux=1 \xfe\"\n",
        "/var/lib/dpkg/status": b"Package: cloud-init\nStatus: install ok installed\nVersion: 2\xff\n\n",
        "/etc/shadow": b"root:\xff\xfe:19000::::::\n",
        "/etc/passwd": b"\x00\x01binary\x00\n",
    }
    for path, data in texts.items():
        replace(root, path, lambda host, d=data: open(host, "wb").write(d))


def scenario_directories(root, outside):
    for path in CONFIGS[:-1] + ("/etc/netplan/50-cloud-init.yaml",):
        replace(root, path, os.makedirs)


SCENARIOS = {
    "absolute-symlinks-out": scenario_absolute_links,
    "relative-symlinks-out": scenario_relative_links,
    "state-dir-to-host-tmp": scenario_state_dir_to_tmp,
    "state-dir-contents-out": scenario_state_dir_contents_out,
    "state-lock-and-log-out": scenario_lock_and_log_out,
    "symlink-loops": scenario_loops,
    "fifos": scenario_fifos,
    "device-nodes": scenario_devices,
    "enormous-sparse-files": scenario_enormous,
    "not-utf8": scenario_not_utf8,
    "directories-for-files": scenario_directories,
}


def outside_host_tmp():
    return "/tmp/guestprep-outside-{}".format(os.getpid())


@pytest.mark.usefixtures("as_root")
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_hostile_image(name, tmp_path, clean_tree):
    outside = outside_tree(str(tmp_path / "outside"))
    root = safetylib.mini_root(str(tmp_path / "root"))
    host_tmp = outside_host_tmp()
    assert not os.path.lexists(host_tmp)
    SCENARIOS[name](root, outside)
    before = tree_state(outside)
    tried = 0
    try:
        for command in COMMANDS:
            try:
                done = guestprep(command[0], "--root", root, *command[1:], timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                pytest.fail("{} {}: blocked for {} s".format(name, " ".join(command), TIMEOUT))
            tried += 1
            where = "{}: guestprep {}".format(name, " ".join(command))
            safetylib.no_traceback(done)
            # rollback and clean refuse a state directory they cannot trust: exit 5 and 1
            allowed = {"rollback": (0, 5), "clean": (0, 1)}.get(command[0], (0, 3, 4))
            assert done.returncode in allowed, (where, done)
            if done.returncode in (1, 5):
                assert "guestprep: error: " in done.err, (where, done)
            assert "internal error" not in done.err, (where, done)
            assert MARKER not in done.out and MARKER not in done.err, (where, done)
            assert tree_state(outside) == before, where + ": the tree outside the root changed"
            assert not os.path.lexists(host_tmp), where + ": wrote to the host's " + host_tmp
    finally:
        clean_tree(root)
    safetylib.record("hostile", {name: {"commands": tried}})


@pytest.mark.usefixtures("as_root")
def test_special_files_are_never_opened(tmp_path):
    """Opening a device node can act (a watchdog arms, a tape rewinds): stat it first.

    A FIFO with a writer waiting is the witness: the writer's open returns only when
    somebody opens the FIFO for reading.
    """
    root = safetylib.mini_root(str(tmp_path / "root"))
    opened = {}
    writers = []
    for path in ("/etc/fstab", "/etc/selinux/config", "/etc/adjtime", "/etc/shadow", "/etc/passwd"):
        host = root + path
        os.unlink(host)
        os.mkfifo(host)

        def wait(host=host, path=path):
            fd = os.open(host, os.O_WRONLY)     # blocks until a reader opens the FIFO
            opened[path] = True
            os.close(fd)
        thread = threading.Thread(target=wait, daemon=True)
        thread.start()
        writers.append((host, thread))
    try:
        for command in (("check",), ("plan",), ("fix", "--yes")):
            done = guestprep(command[0], "--root", root, *command[1:], timeout=TIMEOUT)
            safetylib.no_traceback(done)
            assert done.returncode in (0, 3, 4), done
        for _host, thread in writers:
            thread.join(0.2)
        seen = sorted(opened)
    finally:
        for host, thread in writers:
            if thread.is_alive():
                fd = os.open(host, os.O_RDONLY | os.O_NONBLOCK)   # release the writer
                thread.join(5)
                os.close(fd)
    assert seen == [], "guestprep opened these FIFOs: {}".format(seen)
