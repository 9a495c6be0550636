"""Hostile images with --root: guestprep reads and writes only inside the root, never blocks.

Each scenario puts something hostile where a config file (or the state directory) should
be: absolute and relative symlinks out of the root, symlink loops, FIFOs, device nodes,
a sparse 20 GB file, bytes that are not UTF-8, directories. `check`, `plan`, `fix --yes`,
`rollback` and `clean` run as a user runs them, each under a timeout; a sentinel tree
outside the root (and the host paths the links name) must be byte-for-byte unchanged,
nothing of it may show in the output, and no traceback may be printed.
"""
import hashlib
import json
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


# -- hostile journals: the journal inside an image is untrusted input ---------------------------

def hostile_run(tmp_path):
    """A root fixed for selinux and rtc, its journal's path, the state of its /etc, a host secret."""
    root = safetylib.mini_root(str(tmp_path / "root"))
    done = guestprep("fix", "--root", root, "--yes", "--items", "selinux,rtc")
    assert done.returncode in (0, 3), done
    runs = root + "/var/lib/guestprep/runs"
    run = os.path.join(runs, os.listdir(runs)[0])
    secret = safetylib.write(str(tmp_path / "host"), "/etc/secret", "root:$6$" + MARKER + ":19000::::::\n")
    return root, run, secret


def rewrite_journal(run, change):
    path = os.path.join(run, "journal.jsonl")
    with open(path) as handle:
        records = [json.loads(line) for line in handle if line.strip()]
    for record in records:
        if record.get("type") == "begin":
            change(record)
    with open(path, "w") as handle:
        handle.write("".join(json.dumps(r) + "\n" for r in records))


def sha_of(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def climb(run, host_path):
    return "../" * (run.count("/") + 4) + host_path.lstrip("/")


def only_first_file_backup(change):
    """Apply `change` to the last begin record only: the first stays honest, and still must not
    be rolled back when another record of the run is hostile."""
    seen = []

    def apply(record):
        seen.append(record)
        if len(seen) == 2:
            change(record)
    return apply


def journal_backup_climbs_out(run, secret):
    def change(record):
        record["before"].update(backup=climb(run, secret), sha256=sha_of(secret))
        record["before"].pop("size", None)
    rewrite_journal(run, only_first_file_backup(change))


def journal_backup_is_absolute(run, secret):
    rewrite_journal(run, only_first_file_backup(lambda r: r["before"].update(backup=secret, sha256=sha_of(secret))))


def journal_backup_is_dev_zero(run, secret):
    rewrite_journal(run, only_first_file_backup(lambda r: r["before"].update(backup="/dev/zero")))


def backup_is_a_link_out(run, secret):
    def change(record):
        name = os.path.join(run, record["before"]["backup"])
        os.unlink(name)
        os.symlink(secret, name)
        record["before"].update(sha256=sha_of(secret), size=os.path.getsize(secret))
    rewrite_journal(run, only_first_file_backup(change))


def backup_is_a_fifo(run, secret):
    def change(record):
        name = os.path.join(run, record["before"]["backup"])
        os.unlink(name)
        os.mkfifo(name)
    rewrite_journal(run, only_first_file_backup(change))


def backups_dir_is_a_link_out(run, secret):
    backups = os.path.join(run, "backups")
    subprocess.check_call(["rm", "-rf", backups])
    os.symlink(os.path.dirname(secret), backups)

    def change(record):
        os.rename(secret, os.path.join(os.path.dirname(secret), os.path.basename(record["before"]["backup"])))
    rewrite_journal(run, only_first_file_backup(change))


def backup_grown_past_its_size(run, secret):
    def change(record):
        with open(os.path.join(run, record["before"]["backup"]), "ab") as handle:
            handle.write(b"\0" * (1 << 20))
    rewrite_journal(run, only_first_file_backup(change))


def path_climbs_out(run, secret):
    rewrite_journal(run, only_first_file_backup(lambda r: r.update(path="/../../../.." + secret)))


def journal_is_a_link_to_dev_zero(run, secret):
    path = os.path.join(run, "journal.jsonl")
    os.unlink(path)
    os.symlink("/dev/zero", path)


HOSTILE_JOURNALS = dict((f.__name__, f) for f in (
    journal_backup_climbs_out, journal_backup_is_absolute, journal_backup_is_dev_zero, backup_is_a_link_out,
    backup_is_a_fifo, backups_dir_is_a_link_out, backup_grown_past_its_size, path_climbs_out,
    journal_is_a_link_to_dev_zero))


@pytest.mark.parametrize("name", sorted(HOSTILE_JOURNALS))
def test_a_hostile_journal_is_refused_and_nothing_is_written(name, tmp_path):
    root, run, secret = hostile_run(tmp_path)
    HOSTILE_JOURNALS[name](run, secret)
    host = tree_state(os.path.dirname(os.path.dirname(secret)))
    before = tree_state(root + "/etc")
    # A bounded address space: a rollback that reads /dev/zero into memory fails fast, not the machine.
    done = guestprep("rollback", "--root", root, timeout=TIMEOUT, memory=1 << 30)
    safetylib.no_traceback(done)
    assert done.returncode == 5, (name, done)
    assert "guestprep: error: " in done.err and "internal error" not in done.err, (name, done)
    if name != "journal_is_a_link_to_dev_zero":
        assert "nothing was rolled back" in done.err, (name, done)
    assert tree_state(root + "/etc") == before, name + ": rollback wrote into the root"
    assert tree_state(os.path.dirname(os.path.dirname(secret))) == host, name
    assert MARKER not in done.out + done.err
    # clean still removes it (the way out of a damaged journal)
    assert guestprep("clean", "--root", root, "--yes", timeout=TIMEOUT).returncode == 0
    safetylib.record("hostile_journals", {name: {"refused": True}})
