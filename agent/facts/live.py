"""Facts about the running system (processes, NICs, mounts, block devices).

Only meaningful when the target is the running system (--root /). Offline, Context.live is
None and checks that need these facts are skipped with a reason. psutil is imported
lazily, on first use, so a plain check of a mounted image never pays for it.

psutil is optional (the single-file build vendors nothing): without it, the facts that
need it raise Unavailable, and the engine reports the check that asked as SKIP with the
reason instead of an ERROR. Facts read from /proc and /dev need no psutil.
"""
import os
import re

MISSING_PSUTIL = "psutil is not installed (python3-psutil)"


class Unavailable(Exception):
    """A fact of the running system that cannot be had here (a missing optional module)."""


class LiveFacts(object):
    def __init__(self, root):
        self.root = root
        self._psutil = None

    @property
    def missing(self):
        """Why psutil-based facts are unavailable ('' when they are available)."""
        try:
            self._ps()
        except Unavailable as e:
            return str(e)
        return ""

    def _ps(self):
        if self._psutil is None:
            try:
                import psutil  # lazily: only live checks pay for it
            except ImportError:
                raise Unavailable(MISSING_PSUTIL)
            except Exception as e:  # e.g. in a chroot without /proc, psutil fails to load
                raise Unavailable("psutil cannot be loaded ({}: {})".format(type(e).__name__, e))
            self._psutil = psutil
        return self._psutil

    def _call(self, what, fn):
        # psutil reads /proc and /sys: in a chroot or container without them it raises
        # whatever the parsing hits (OSError, IndexError ...), which is not a finding.
        ps = self._ps()
        try:
            return fn(ps)
        except Exception as e:
            raise Unavailable("psutil could not read the running system's {} ({}: {})".format(
                what, type(e).__name__, e))

    def process_names(self):
        def names(ps):
            found = set()
            for proc in ps.process_iter(["name"]):
                name = proc.info.get("name")
                if name:
                    found.add(name)
            return found
        try:
            return self._call("processes", names)
        except Unavailable:
            # Without psutil (the single-file build on a bare system), /proc/<pid>/comm has
            # the same names: the agent checks still see a running agent.
            return self._proc_comm_names()

    def _proc_comm_names(self):
        found = set()
        try:
            pids = [n for n in os.listdir("/proc") if n.isdigit()]
        except OSError as e:
            raise Unavailable("neither psutil nor /proc can list processes ({})".format(e))
        for pid in pids:
            try:
                with open("/proc/{}/comm".format(pid), "rb") as handle:
                    name = handle.read(64).decode("utf-8", "replace").strip()
            except OSError:  # the process ended meanwhile, or is hidden from us
                continue
            if name:
                found.add(name)
        return found

    def lock_holder(self, guest_path):
        """PID holding a package manager's lock file (0: free, None: no such file)."""
        return lock_holder(self.root.resolve(guest_path))

    def _proc_text(self, path):
        try:
            with open(path, "rb") as handle:
                return handle.read(1 << 22).decode("utf-8", "surrogateescape")
        except OSError as e:
            raise Unavailable("neither psutil nor {} can be read ({})".format(path, e.strerror))

    # Without psutil (the single-file build on a bare system) the same facts come from /proc
    # and /sys, which psutil itself reads: a check must not turn into SKIP for lack of it.

    def processes_using(self, mountpoint):
        """[(pid, name)] of processes whose working directory, root, program or an open file
        lies on `mountpoint` (what makes umount say "target is busy"), from /proc."""
        prefix = mountpoint.rstrip("/") + "/"
        try:
            pids = sorted((int(n) for n in os.listdir("/proc") if n.isdigit()))
        except OSError:
            return []
        using = []
        for pid in pids:
            base = "/proc/{}/".format(pid)
            links = [base + "cwd", base + "root", base + "exe"]
            try:
                links += [base + "fd/" + fd for fd in os.listdir(base + "fd")]
            except OSError:
                pass   # ended meanwhile, or not ours to see
            for link in links:
                try:
                    target = os.readlink(link)
                except OSError:
                    continue
                if target == mountpoint or target.startswith(prefix):
                    try:
                        with open(base + "comm", "rb") as handle:
                            name = handle.read(64).decode("utf-8", "replace").strip()
                    except OSError:
                        name = "?"
                    using.append((pid, name))
                    break
        return using

    def mounts(self):
        """[(device, mountpoint, fstype, options)] of mounted filesystems."""
        try:
            return self._call("mounts", lambda ps: [(p.device, p.mountpoint, p.fstype, p.opts)
                                                    for p in ps.disk_partitions(all=True)])
        except Unavailable:
            return proc_mounts(self._proc_text("/proc/self/mounts"))

    def nics(self):
        """Names of network interfaces other than loopback."""
        try:
            return self._call("network interfaces",
                              lambda ps: sorted(name for name in ps.net_if_addrs() if name != "lo"))
        except Unavailable:
            try:
                return sorted(name for name in os.listdir("/sys/class/net") if name != "lo")
            except OSError as e:
                raise Unavailable("neither psutil nor /sys/class/net can list interfaces ({})".format(e.strerror))

    def listening_tcp_ports(self):
        """TCP ports something listens on (IPv4 and IPv6), from psutil (/proc/net/tcp*)."""
        def ports(ps):
            return sorted(set(c.laddr[1] for c in ps.net_connections(kind="tcp")
                              if c.status == ps.CONN_LISTEN and c.laddr))
        try:
            return self._call("listening sockets", ports)
        except Unavailable:
            found = set()
            for path in ("/proc/net/tcp", "/proc/net/tcp6"):
                try:
                    found.update(proc_listening_ports(self._proc_text(path)))
                except Unavailable:
                    if path.endswith("tcp"):
                        raise
            return sorted(found)

    def default_route_interface(self):
        """The interface of the IPv4 default route, from /proc/net/route, or None."""
        try:
            text = self.root.read_text("/proc/net/route")
        except Exception:
            return None
        for line in text.splitlines()[1:]:
            fields = line.split()
            if len(fields) > 2 and fields[1] == "00000000":
                return fields[0]
        return None

    def kernel_cmdline(self):
        try:
            return self.root.read_text("/proc/cmdline").split()
        except Exception:
            return []

    def device_for(self, spec):
        """The block device an fstab spec (UUID=, LABEL=, PARTUUID=, /dev/...) names, or None."""
        links = {"UUID": "/dev/disk/by-uuid/", "LABEL": "/dev/disk/by-label/",
                 "PARTUUID": "/dev/disk/by-partuuid/", "PARTLABEL": "/dev/disk/by-partlabel/"}
        key, sep, value = spec.partition("=")
        path = links[key.upper()] + value if sep and key.upper() in links else spec
        if not path.startswith("/dev/"):
            return None
        host = os.path.realpath(path)
        return host if os.path.exists(host) else None

    def uuid_of(self, device):
        """The filesystem UUID of a block device, from /dev/disk/by-uuid, or None."""
        target = os.path.realpath(device)
        try:
            for name in os.listdir("/dev/disk/by-uuid"):
                if os.path.realpath(os.path.join("/dev/disk/by-uuid", name)) == target:
                    return name
        except OSError:
            pass
        return None


def lock_holder(path):
    """PID of the process holding a POSIX (fcntl) write lock on `path` (a host path of the
    running system), 0 when nobody holds one, None when the file is absent or unreadable.
    F_GETLK only asks: the file is opened read-only and nothing is locked or written.
    dpkg (lock-frontend, lock) and rpm (.rpm.lock) take such locks while they work."""
    import fcntl
    import stat
    import struct
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return None
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        # struct flock: short l_type, short l_whence, off_t l_start, off_t l_len, pid_t l_pid
        query = struct.pack("@hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
        answer = fcntl.fcntl(fd, fcntl.F_GETLK, query)
        kind, _whence, _start, _len, pid = struct.unpack("@hhqqi4x", answer)
        return 0 if kind == fcntl.F_UNLCK else pid
    except OSError:
        return None
    finally:
        os.close(fd)


def _unescape(field):
    # /proc/self/mounts writes space, tab, newline and backslash as \040, \011, \012, \134.
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def proc_mounts(text):
    """[(device, mountpoint, fstype, options)] from the text of /proc/self/mounts."""
    mounts = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 4:
            mounts.append((_unescape(fields[0]), _unescape(fields[1]), fields[2], fields[3]))
    return mounts


def proc_listening_ports(text):
    """Local ports in state LISTEN (0A) of /proc/net/tcp or tcp6."""
    ports = set()
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) > 3 and fields[3] == "0A" and ":" in fields[1]:
            try:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
            except ValueError:
                continue
    return ports
