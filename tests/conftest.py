"""Shared fixtures: a guest root on pyfakefs, at / and at a mounted-image path.

Every check test takes `guest` and so runs twice: once with the guest at / (as on the
VM) and once at /mnt/image (as with --root). Nothing here touches the real filesystem.
"""
import os
import stat
import sys

import pytest
try:
    from pyfakefs.fake_os import FakeOsModule
except ImportError:  # pyfakefs 4.x (the last releases for Python 3.6)
    from pyfakefs.fake_filesystem import FakeOsModule

# The checkout (for `agent`, `remediations`) and this directory (for `from conftest import ...`).
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from agent.core.context import Context  # noqa: E402
from agent.core.journal import StateDir  # noqa: E402
from agent.core.rootfs import Root  # noqa: E402
from agent.core.runner import Completed  # noqa: E402

ROOTS = ("/", "/mnt/image")

_fake_open = FakeOsModule.open


if getattr(FakeOsModule.open, "keeps_mode", False):  # conftest imported twice
    _fake_open = FakeOsModule.open.original


def _open_keeping_mode(self, path, flags, mode=None, *args, **kwargs):
    # pyfakefs chmods an existing file to `mode` (default 0777 & ~umask) on every os.open;
    # the real os.open ignores mode without O_CREAT. Keep the file's own mode, as Linux does.
    if mode is None and not flags & os.O_CREAT:
        try:
            mode = stat.S_IMODE(self.filesystem.resolve(path).st_mode)
        except (OSError, IOError):
            pass
    return _fake_open(self, path, flags, mode, *args, **kwargs)


_open_keeping_mode.keeps_mode = True
_open_keeping_mode.original = _fake_open
FakeOsModule.open = _open_keeping_mode


class FakeRunner(object):
    """Records commands; answers from a {argv-tuple-prefix: (rc, stdout, stderr)} table."""

    def __init__(self, root_path="/", answers=None):
        self.root_path = root_path
        self.answers = dict(answers or {})
        self.calls = []

    def command_line(self, argv):
        argv = tuple(argv)
        return argv if self.root_path == "/" else ("chroot", self.root_path) + argv

    def run(self, argv, env=None, timeout=None, stdin_text=None, network=False):
        argv = tuple(argv)
        self.calls.append(argv)
        for prefix in sorted(self.answers, key=len, reverse=True):
            if argv[:len(prefix)] == prefix:
                rc, out, err = self.answers[prefix]
                return Completed(self.command_line(argv), rc, out, err)
        return Completed(self.command_line(argv), 0, "", "")


class FakeLive(object):
    """Live facts with fixed answers (what psutil and /proc would say)."""

    def __init__(self, processes=(), mounts=(), nics=("eth0",), default_iface="eth0", cmdline=(),
                 devices=None, uuids=None, listening=(22,), using=None):
        self._processes = set(processes)
        self._mounts = list(mounts)
        self._nics = list(nics)
        self._default = default_iface
        self._cmdline = list(cmdline)
        self._devices = dict(devices or {})   # fstab spec -> device
        self._uuids = dict(uuids or {})       # device -> UUID
        self._listening = sorted(listening)   # TCP ports in LISTEN state
        self._using = dict(using or {})       # mount point -> [(pid, name)]

    def process_names(self):
        return set(self._processes)

    def mounts(self):
        return list(self._mounts)

    def nics(self):
        return list(self._nics)

    def default_route_interface(self):
        return self._default

    def listening_tcp_ports(self):
        return list(self._listening)

    def kernel_cmdline(self):
        return list(self._cmdline)

    def device_for(self, spec):
        return self._devices.get(spec)

    def uuid_of(self, device):
        return self._uuids.get(device)

    def processes_using(self, mountpoint):
        return list(self._using.get(mountpoint, []))


class Guest(object):
    """A guest tree on the fake filesystem, rooted at `base`."""

    def __init__(self, fs, base):
        self.fs = fs
        self.base = base
        fs.create_dir(base)
        fs.create_dir(self.host("/etc"))
        fs.create_dir(self.host("/usr/bin"))

    def host(self, guest_path):
        return guest_path if self.base == "/" else self.base.rstrip("/") + guest_path

    def write(self, guest_path, content, mode=0o644):
        if isinstance(content, str):
            content = content.encode("utf-8")
        host = self.host(guest_path)
        if os.path.exists(host):
            os.remove(host)
        self.fs.create_file(host, contents=content, st_mode=0o100000 | mode)
        return host

    def mkdir(self, guest_path):
        self.fs.create_dir(self.host(guest_path))

    def symlink(self, guest_path, target):
        self.fs.create_symlink(self.host(guest_path), target)

    def read(self, guest_path):
        with open(self.host(guest_path), "rb") as handle:
            return handle.read().decode("utf-8", "surrogateescape")

    def exists(self, guest_path):
        return os.path.lexists(self.host(guest_path))

    def os_release(self, os_id="debian", version="12", like=""):
        text = 'ID={}\nVERSION_ID="{}"\nPRETTY_NAME="{} {}"\n'.format(os_id, version, os_id, version)
        if like:
            text += 'ID_LIKE="{}"\n'.format(like)
        self.write("/etc/os-release", text)

    def rpm_db(self, packages=None, blobs=(), damaged=False):
        """Write the guest's rpm database (ndb, /var/lib/rpm/Packages.db): {name: version-release}
        as headers, plus ready blobs (rpmdbs.header_blob); damaged=True writes a broken one."""
        import rpmdbs
        blobs = list(blobs) + [rpmdbs.header_blob(name, *evr.rsplit("-", 1)) if "-" in evr
                               else rpmdbs.header_blob(name, evr, "1") for name, evr in sorted((packages or {}).items())]
        if not self.exists("/var/lib/rpm"):
            self.mkdir("/var/lib/rpm")
        self.write("/var/lib/rpm/Packages.db", b"RpmP damaged" if damaged else rpmdbs.ndb_bytes(blobs))

    def _rpm_db_from_answers(self, runner):
        """Tests written when checks asked `rpm -qa` give its answer: turn it into the database
        the checks now read (a failing answer into a damaged database)."""
        answer = (getattr(runner, "answers", None) or {}).get(("rpm", "-qa"))
        if answer is None or not self.exists("/var/lib/rpm") or self.exists("/var/lib/rpm/Packages.db"):
            return
        rc, out, _err = answer
        packages = dict(line.split("\t", 1) for line in out.splitlines() if "\t" in line)
        self.rpm_db(packages, damaged=rc != 0)

    def ctx(self, live=None, runner=None):
        root = Root(self.base)
        self._rpm_db_from_answers(runner)
        return Context(root, runner=runner or FakeRunner(root.path), live=live)

    def state(self):
        return StateDir(Root(self.base))


@pytest.fixture(params=ROOTS, ids=["root=/", "root=/mnt/image"])
def guest(fs, request):
    return Guest(fs, request.param)


@pytest.fixture(autouse=True)
def conforming_findings(monkeypatch):
    """Every Result a check returns in any test has conforming findings (codes, refs, Message
    templates: tests/findingconformance.py), so each pyfakefs scenario checks them too."""
    from agent.checks import CHECKS
    from findingconformance import assert_conforming

    def checked(run):
        def wrapper(self, ctx):
            result = run(self, ctx)
            try:
                assert_conforming(self, result)
            except AssertionError as e:
                # pytest.fail is a BaseException: the engine's "one broken check never stops
                # the others" (except Exception) cannot turn it into an ERROR result.
                pytest.fail(str(e), pytrace=False)
            return result
        return wrapper

    for cls in CHECKS:
        monkeypatch.setattr(cls, "run", checked(cls.run))
