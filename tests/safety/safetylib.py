"""Helpers of the safety tests: run the CLI as a user does, snapshot files exactly, record figures.

Figures (injections, escapes tried ...) go to JSON files under $GUESTPREP_SAFETY_RESULTS
(default build/safety-results in the checkout); tools/safety_report.py turns them into the
README's reliability section.
"""
import hashlib
import importlib.util
import json
import os
import re
import signal
import stat
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
REPO = os.path.dirname(TESTS)
RESULTS = os.environ.get("GUESTPREP_SAFETY_RESULTS") or os.path.join(REPO, "build", "safety-results")

sys.path.insert(0, REPO)
from agent.core.rootfs import Root, read_xattrs  # noqa: E402

TEMP_RE = re.compile(r"^\..*\.guestprep-tmp$")


def load_module(name, path):
    """Import a file under a unique module name (tests/e2e has no package and its own conftest)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def e2e_conftest():
    return load_module("guestprep_e2e_conftest", os.path.join(TESTS, "e2e", "conftest.py"))


def e2e_debian_tests():
    return load_module("guestprep_e2e_debian", os.path.join(TESTS, "e2e", "test_debian_root.py"))


def record(name, figures):
    """Write this test's figures as RESULTS/<name>.json (merged with what is there)."""
    os.makedirs(RESULTS, exist_ok=True)
    path = os.path.join(RESULTS, name + ".json")
    data = {}
    if os.path.exists(path):
        try:
            with open(path) as handle:
                data = json.load(handle)
        except ValueError:
            data = {}
    data.update(figures)
    data["recorded"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    tmp = path + ".tmp"
    with open(tmp, "w") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.write("\n")
    os.rename(tmp, path)


class CliResult(object):
    def __init__(self, returncode, out, err, argv):
        self.returncode, self.out, self.err, self.argv = returncode, out, err, argv

    @property
    def killed(self):
        return self.returncode == -signal.SIGKILL

    def __repr__(self):
        return "CliResult(rc={}, argv={}, out={!r}, err={!r})".format(
            self.returncode, self.argv, self.out[-2000:], self.err[-2000:])


def cli_env(**kw):
    env = dict(os.environ, NO_COLOR="1", LC_ALL="C.UTF-8")
    for name in ("GUESTPREP_CRASH_AT", "GUESTPREP_CRASH_TRACE", "GUESTPREP_DEBUG"):
        env.pop(name, None)
    if kw.get("crash_at"):
        env["GUESTPREP_CRASH_AT"] = kw["crash_at"]
    if kw.get("trace"):
        env["GUESTPREP_CRASH_TRACE"] = kw["trace"]
    env.update(kw.get("env") or {})
    return env


def guestprep(*args, **kw):
    """Run `python -m agent ARGS` from the checkout; kw: env (added), timeout, crash_at, trace, umask,
    memory (an address-space limit in bytes)."""
    env = cli_env(**kw)
    argv = [sys.executable, "-m", "agent"] + [str(a) for a in args]
    umask, memory = kw.get("umask"), kw.get("memory")

    def limits():
        if umask is not None:
            os.umask(umask)
        if memory is not None:      # a bounded address space: a read without end fails fast
            import resource
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    done = subprocess.run(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          stdin=subprocess.DEVNULL, env=env, timeout=kw.get("timeout", 120),
                          preexec_fn=limits if umask is not None or memory is not None else None)
    return CliResult(done.returncode, done.stdout.decode("utf-8", "replace"),
                     done.stderr.decode("utf-8", "replace"), args)


def file_state(root_path, guest_path, flags=True):
    """Everything rollback must restore about one file, or None when it is absent.

    flags=False leaves the inode flags out (0 on tmpfs, the extents flag on ext4)."""
    host = root_path.rstrip("/") + guest_path
    try:
        st = os.lstat(host)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(st.st_mode):
        return ("symlink", os.readlink(host))
    with open(host, "rb") as handle:
        digest = hashlib.sha256(handle.read()).hexdigest()
    flags = Root(root_path).get_flags(guest_path) if flags else None
    return (digest, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, flags,
            tuple(sorted(read_xattrs(host).items())))


def snapshot(root_path, paths, flags=True):
    """{path: file_state} for files and {dir/: sorted entries} for their directories."""
    found = {}
    for path in paths:
        found[path] = file_state(root_path, path, flags)
        directory = os.path.dirname(path)
        found[directory + "/"] = tuple(sorted(os.listdir(root_path.rstrip("/") + directory)))
    return found


def leftovers(root_path, paths):
    """Temp files of an interrupted atomic write next to any of `paths`."""
    found = set()
    for path in paths:
        directory = root_path.rstrip("/") + os.path.dirname(path)
        found.update(os.path.join(directory, n) for n in os.listdir(directory) if TEMP_RE.match(n))
    return sorted(found)


def tree_state(top):
    """Every entry under `top` (not following links): path -> (type, mode, size, sha, link)."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            digest = link = None
            if stat.S_ISREG(st.st_mode):
                with open(path, "rb") as handle:
                    digest = hashlib.sha256(handle.read()).hexdigest()
            elif stat.S_ISLNK(st.st_mode):
                link = os.readlink(path)
            found[os.path.relpath(path, top)] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode),
                                                 st.st_uid, st.st_gid, st.st_size, digest, link)
    return found


def write(root_path, guest_path, content, mode=0o644):
    host = root_path.rstrip("/") + guest_path
    os.makedirs(os.path.dirname(host), exist_ok=True)
    if isinstance(content, str):
        content = content.encode("utf-8")
    with open(host, "wb") as handle:
        handle.write(content)
    os.chmod(host, mode)
    return host


DPKG_STATUS = "".join(
    "Package: {}\nStatus: install ok installed\nVersion: {}\n\n".format(name, version)
    for name, version in (("cloud-init", "22.4.2-1"), ("cloud-guest-utils", "0.33-1"),
                          ("e2fsprogs", "1.47.0-2"), ("ifupdown", "0.8.41"), ("openssh-server", "1:9.2p1-2")))

SELINUX_ENFORCING = "# SELinux\nSELINUX=enforcing\nSELINUXTYPE=targeted\n"
FSTAB_DATA_DISK = ("UUID=0a1b2c3d-0000-4000-8000-000000000001 / ext4 errors=remount-ro 0 1\n"
                   "/dev/vdb1 /data ext4 defaults 0 2\n")
ADJTIME_LOCAL = "0.0 0 0.0\n0\nLOCAL\n"
ENI_STATIC = "auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet static\n    address 192.168.10.5/24\n" \
             "    gateway 192.168.10.1\n"
# Files the reversible fixes of a mini root rewrite.
MINI_TOUCHED = ("/etc/selinux/config", "/etc/fstab", "/etc/adjtime", "/etc/network/interfaces")


def mini_root(path, defects=True):
    """A small Debian-like root: enough for every check to run, with four reversible defects."""
    for d in ("etc/selinux", "etc/network", "usr/bin", "usr/sbin", "var/lib/dpkg", "root", "etc/ssh", "boot"):
        os.makedirs(os.path.join(path, d), exist_ok=True)
    write(path, "/etc/os-release", 'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n')
    write(path, "/etc/debian_version", "12.5\n")
    write(path, "/var/lib/dpkg/status", DPKG_STATUS)
    write(path, "/usr/bin/growpart", "#!/bin/sh\n", 0o755)
    write(path, "/usr/bin/cloud-init", "#!/bin/sh\n", 0o755)
    write(path, "/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n")
    write(path, "/etc/group", "root:x:0:\n")
    write(path, "/etc/shadow", "root:*:19000:0:99999:7:::\n", 0o640)
    if defects:
        write(path, "/etc/selinux/config", SELINUX_ENFORCING)
        write(path, "/etc/fstab", FSTAB_DATA_DISK)
        write(path, "/etc/adjtime", ADJTIME_LOCAL)
        write(path, "/etc/network/interfaces", ENI_STATIC)
    else:
        write(path, "/etc/selinux/config", "SELINUX=disabled\n")
        write(path, "/etc/fstab", FSTAB_DATA_DISK.splitlines(True)[0])
        write(path, "/etc/adjtime", "0.0 0 0.0\n0\nUTC\n")
        # DHCP on the first NIC whatever its name (eth0 alone is no longer clean: issue 10)
        write(path, "/etc/network/interfaces", "auto /e*/1=eth0\niface eth0 inet dhcp\n")
    return path


def no_traceback(result):
    assert "Traceback" not in result.err and "Traceback" not in result.out, result
