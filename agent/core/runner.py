"""The only place that starts processes.

Commands about the guest run inside it. On the VM itself (root /) they are the guest's own
trusted tools and run as they are. On a mounted image (--root DIR) the image is untrusted
input, and a root process in a chroot is not contained (it can mount, mknod and write the
host's disks): its programs run only in a container made by systemd-nspawn or, where nspawn
is missing, bubblewrap, with a new /proc of their own pid namespace, /sys read-only, a
minimal /dev, no host path visible besides the image, no network unless the step downloads
packages, and only the capabilities a package manager and initramfs tools need. Where
neither tool exists they are refused, or run chrooted when the operator says so
(--unsafe-chroot). Host binaries are never asked questions about the guest.

Every child inherits the state locks' descriptors (lock_fds) and runs in its own process
group: the flock stays held until the last child exits, even when guestprep itself is
killed, and a timeout stops the whole group.

`fix` alone gets such a Runner (Context.executor). `check` and `plan` on a mounted image get
a ReadOnlyRunner, which cannot start the image's programs at all; what they need to know
they read from the image's files and databases, or ask a host tool about a file's bytes
(host_stream: a decompressor, by absolute host path, never chrooted).
"""
import errno
import os
import shutil
import signal
import sys
import time

from agent.core.model import Message
from agent.tuples import namedtuple

DEFAULT_TIMEOUT = 1800   # a package install on a slow mirror
# os.splice: Python 3.10 and later on Linux; before, discard() reads.
_splice = getattr(os, "splice", None)
# seconds a command that closed its output gets to exit before close() stops it
ENDING_GRACE = 2
STOP_GRACE = 10          # seconds between SIGTERM and SIGKILL of a timed-out command's group

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# A predictable, non-interactive environment: no pager, no prompts, C messages.
GUEST_ENV = {"LC_ALL": "C", "LANG": "C", "DEBIAN_FRONTEND": "noninteractive", "PATH": PATH}

NSPAWN = "systemd-nspawn"
BWRAP = "bwrap"
CHROOT = "chroot"        # only with --unsafe-chroot: not contained
LIVE = "live"
# The Debian/Ubuntu (and Fedora/SUSE) package that ships each tool.
PACKAGE_OF = {NSPAWN: "systemd-container", BWRAP: "bubblewrap"}
TOOL_NAMES = {NSPAWN: "systemd-nspawn", BWRAP: "bubblewrap", CHROOT: "chroot"}

# Capabilities a guest program keeps in the container; every other one is dropped.
#   CAP_CHOWN, CAP_FOWNER, CAP_FSETID   dpkg/rpm unpack files with their owners and modes
#                                       (setuid bits included) and replace files of any owner
#   CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH  root reads and writes files not mode-readable to it
#                                       (/etc/shadow 0000 on EL, package database files)
#   CAP_SETUID, CAP_SETGID              apt drops to its _apt user to download; maintainer
#                                       scripts run commands as service users (runuser, su)
#   CAP_SETFCAP                         postinst scripts set file capabilities (setcap ping)
#   CAP_KILL                            a maintainer script stops the daemons it started
# Dropped among others: CAP_SYS_ADMIN (mount, namespaces), CAP_MKNOD, CAP_SYS_MODULE,
# CAP_SYS_RAWIO, CAP_SYS_PTRACE, CAP_SYS_BOOT, CAP_SYS_TIME, CAP_NET_ADMIN, CAP_NET_RAW,
# CAP_SYS_CHROOT, CAP_LINUX_IMMUTABLE, CAP_AUDIT_*, CAP_BPF: none is needed to install a
# package or build an initramfs, and each is a way out of a container.
KEEP_CAPS = ("CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
             "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP")
ALL_CAPS = ("CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
            "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
            "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
            "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
            "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
            "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
            "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
            "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE")
DROP_CAPS = tuple(c for c in ALL_CAPS if c not in KEEP_CAPS)

NO_CONTAINER = Message("guestprep runs a mounted image's programs only in a container, and neither "
                        "systemd-nspawn nor bwrap is installed on this machine: install systemd-container "
                        "(or bubblewrap), or pass --unsafe-chroot to run them chrooted, uncontained")


def nspawn_argv(tool, root, argv, network=False, env=None):
    """systemd-nspawn running `argv` from the image at `root` (see the module docstring)."""
    line = [tool, "--quiet", "--register=no", "--keep-unit", "--directory=" + root,
            "--machine=guestprep-{}".format(os.getpid()),
            "--console=pipe",            # our pipes as stdio, never the host's terminal
            "--link-journal=no",         # nothing of the host's journal, nothing written for it
            "--timezone=off",            # "auto" would rewrite the image's /etc/localtime
            "--no-new-privileges=yes",
            "--drop-capability=" + ",".join(DROP_CAPS)]
    # A package download needs the host's network and its resolver, bound read-only over
    # the image's own /etc/resolv.conf (never copied into the image); everything else runs
    # with no network at all (a loopback of its own).
    line += ["--resolv-conf=bind-host"] if network else ["--private-network", "--resolv-conf=off"]
    for key, value in sorted((env or {}).items()):
        line.append("--setenv={}={}".format(key, value))
    return line + ["--"] + list(argv)


def bwrap_argv(tool, root, argv, network=False, env=None):
    """bubblewrap running `argv` from the image at `root`: the image is the only host path
    bound (read-write, it is what the fix changes); /proc new for its pid namespace, /dev
    minimal (null, zero, full, random, urandom, tty), /sys read-only, /run and /tmp empty."""
    line = [tool, "--bind", root, "/", "--proc", "/proc", "--dev", "/dev", "--ro-bind", "/sys", "/sys",
            "--tmpfs", "/run", "--tmpfs", "/tmp",
            "--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try",
            # No user namespace: root must stay root to the image's files (dpkg chowns to
            # service users); the capability set below is what limits it.
            "--hostname", "guestprep", "--die-with-parent", "--clearenv", "--cap-drop", "ALL"]
    for cap in KEEP_CAPS:
        line += ["--cap-add", cap]
    if network:
        line += ["--ro-bind-try", "/etc/resolv.conf", "/etc/resolv.conf"]
    else:
        line.append("--unshare-net")
    for key, value in sorted((env or {}).items()):
        line += ["--setenv", key, value]
    return line + ["--"] + list(argv)


class Containment(namedtuple("Containment", (
    "tool",                   # str
    "path",                   # Optional[str]
    "refused",                # str
), path=None, refused="")):
    """How the target's programs run: tool is live, systemd-nspawn, bwrap, chroot, or ''
    when they are refused (`refused` says why and what to install)."""

    __slots__ = ()

    @property
    def contained(self):
        return self.tool in (NSPAWN, BWRAP)

    def describe(self, program, network=False):
        """One line for plan: how `program` (argv[0]) will run."""
        if self.tool == LIVE:
            return Message("live: runs {program} on this system", program=program)
        if self.refused:
            return Message("refused: {reason}", reason=self.refused)
        if self.tool == CHROOT:
            return Message("runs the image's {program} chrooted, NOT contained (--unsafe-chroot): as root on "
                           "this machine", program=program)
        if network:
            return Message("runs the image's {program} inside {tool}, network on", program=program,
                           tool=TOOL_NAMES[self.tool])
        return Message("runs the image's {program} inside {tool}, network off", program=program,
                       tool=TOOL_NAMES[self.tool])

    def as_dict(self, program, network=False):
        return {"program": program, "from_image": self.tool != LIVE, "container": self.tool or None,
                "contained": self.contained, "network": bool(network) if self.tool != LIVE else True,
                "refused": self.refused, "text": self.describe(program, network)}


def containment(root_path, container="auto", which=None):
    """How a target's programs run. `container`: auto (systemd-nspawn, else bwrap),
    systemd-nspawn, bwrap, or chroot (--unsafe-chroot: nspawn or bwrap when present, else chroot)."""
    if root_path == "/":
        return Containment(LIVE)
    which = which or shutil.which
    if container in (NSPAWN, BWRAP):
        path = which(container)
        if path:
            return Containment(container, path)
        return Containment("", None, Message("{tool} is not installed on this machine: install {package}",
                                             tool=container, package=PACKAGE_OF[container]))
    for tool in (NSPAWN, BWRAP):
        path = which(tool)
        if path:
            return Containment(tool, path)
    if container == CHROOT:
        return Containment(CHROOT, which("chroot") or "chroot")
    return Containment("", None, NO_CONTAINER)


def describe_command(runner, argv, network=False):
    """What plan says of a RunCommand: a dict (see Containment.as_dict); a runner that does not
    say how it runs things (a test double) is taken as running them as they are."""
    how = getattr(runner, "containment", None)
    how = how() if how is not None else Containment(LIVE)
    return how.as_dict(argv[0] if argv else "", network)


class Completed(namedtuple("Completed", (
    "argv",                   # Tuple[str, ...]
    "returncode",             # int
    "stdout",                 # str
    "stderr",                 # str
))):
    __slots__ = ()

    @property
    def ok(self):
        return self.returncode == 0


class Stream(object):
    """A running command's standard output, read as bytes while it runs (see Runner.stream)."""

    def __init__(self, proc, argv, errors):
        self.proc = proc
        self.argv = argv
        self._errors = errors
        self._null = None          # /dev/null for discard(); -1 when splice cannot be used
        self.ended = False         # its output was read to the end
        self.returncode = None

    def read(self, n):
        data = self.proc.stdout.read(n)
        self.ended = self.ended or not data
        return data

    def read1(self, n):
        """At most n bytes, from one read(2) of the pipe (b'' at its end): no copy through a buffer."""
        data = os.read(self.proc.stdout.fileno(), n)
        self.ended = self.ended or not data
        return data

    def discard(self, n):
        """Drop at most n bytes of the output; how many were dropped (0 at its end). One
        splice(2) to /dev/null where Python and the kernel offer it: the bytes never enter this
        process, which is most of what skipping the files of a decompressed initramfs costs."""
        fd = self.proc.stdout.fileno()
        if self._null is None and _splice is not None:
            self._null = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
        if self._null is not None and self._null >= 0:
            try:
                count = _splice(fd, self._null, n)
                self.ended = self.ended or not count
                return count
            except OSError as e:
                if e.errno not in (errno.EINVAL, errno.ENOSYS):
                    raise
                os.close(self._null)
                self._null = -1      # not for this pipe or kernel: read from now on
        return len(self.read1(min(n, 1 << 16)))

    def close(self):
        """Stop the command if it still runs; its exit status, or None when it was stopped."""
        if self._null is not None and self._null >= 0:
            os.close(self._null)
            self._null = -1
        if self.proc.stdout is not None and not self.proc.stdout.closed:
            if self.ended:
                # It closed its output: it is exiting. Its status says whether it failed.
                deadline = time.time() + ENDING_GRACE
                while self.proc.poll() is None and time.time() < deadline:
                    time.sleep(0.001)
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.stdout.close()
            code = self.proc.wait()
            self.returncode = None if code == -9 else code
        return self.returncode

    def error_text(self):
        """The last lines the command wrote to standard error."""
        try:
            self._errors.seek(0)
            text = self._errors.read().decode("utf-8", "replace")
        except (OSError, ValueError):
            return ""
        lines = text.strip().splitlines()[-4:]
        if self.returncode == 127 and not lines:
            lines = ["{}: command not found".format(self.argv[0])]
        return "; ".join(lines)


class Runner(object):
    def __init__(self, root_path="/", container="auto"):
        self.root_path = root_path
        self.container = container
        self._containment = None
        # The root's and the backup directory's lock descriptors while a fix holds them (the
        # engine sets them): every child inherits them, so the locks are held until the last
        # one exits (issue 12).
        self.lock_fds = ()

    def containment(self):
        if self._containment is None:
            self._containment = containment(self.root_path, self.container)
        return self._containment

    def command_line(self, argv):
        """The argv as a person types it against the target: prefixed with chroot when the
        root is not / (hints and the journal; what runs is container_argv())."""
        argv = tuple(argv)
        if self.root_path != "/":
            return ("chroot", self.root_path) + argv
        return argv

    def container_argv(self, argv, network=False, env=None):
        """What is executed for `argv`: (argv, environment of the process started). Raises
        OSError(EPERM) when the target's programs must not run here (no container tool)."""
        how = self.containment()
        environment = dict(os.environ)
        environment.update(GUEST_ENV)
        if env:
            environment.update(env)
        if how.tool == LIVE:
            return tuple(self.command_line(argv)), environment
        if how.refused:
            raise OSError(errno.EPERM, how.refused)
        guest_env = dict(GUEST_ENV)
        guest_env.update(env or {})
        if how.tool == NSPAWN:
            # No lock file next to the image on the host (nspawn's own image locking).
            environment["SYSTEMD_NSPAWN_LOCK"] = "0"
            return tuple(nspawn_argv(how.path, self.root_path, argv, network, guest_env)), environment
        if how.tool == BWRAP:
            return tuple(bwrap_argv(how.path, self.root_path, argv, network, guest_env)), environment
        return (how.path, self.root_path) + tuple(argv), environment

    def _popen(self, full, **kw):
        """Start `full` in its own process group, holding the state locks' descriptors."""
        import subprocess  # only when a program runs (not at startup)
        fds = tuple(self.lock_fds)
        if fds:
            if self.containment().tool in (BWRAP, CHROOT):
                # bwrap and chroot hand every open descriptor to the image's program, which
                # must not get a writable host file: the host's own sh holds the lock while
                # the command runs, with that descriptor closed for it. (nspawn closes it
                # itself and holds it in its own process.)
                full = (sys.executable or "python3", "-I", "-S", "-c", _HOLD) + tuple(full)
        return subprocess.Popen(full, pass_fds=fds, start_new_session=True, **kw)

    def run(self, argv, env=None, timeout=DEFAULT_TIMEOUT, stdin_text=None, network=False):
        """Run argv inside the target. Never raises for a failing command: see returncode.
        `network`: the command downloads packages (a mounted image's container gets the
        host's network only then)."""
        import subprocess  # only when a program runs (not at startup)
        try:
            full, environment = self.container_argv(argv, network, env)
        except OSError as e:
            return Completed(self.command_line(argv), 126, "", "{}: {}".format(argv[0], e.strerror))
        try:
            proc = self._popen(full, stdin=subprocess.PIPE if stdin_text is not None else subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               universal_newlines=True, env=environment)
        except OSError as e:
            return Completed(full, 127, "", "{}: {}".format(full[0], e.strerror))
        try:
            out, err = proc.communicate(stdin_text, timeout=timeout)
        except subprocess.TimeoutExpired:
            stop_group(proc)
            out, err = proc.communicate()
            return Completed(full, 124, out, _quiet(err) + "\ntimed out after {}s".format(timeout))
        return Completed(full, proc.returncode, out, _quiet(err))

    def stream(self, argv, stdin_fd=None, env=None):
        """Start argv inside the target with `stdin_fd` (an open file, read from its current
        offset) as standard input; return a Stream of its standard output. Bytes in, bytes
        out, never all in memory: for decompressing a large file with the target's own tool."""
        import subprocess  # only when a program runs (not at startup)
        full, environment = self.container_argv(argv, False, env)
        # stderr to a file, not a pipe: a chatty command must not block on a pipe nobody reads.
        errors = _scratch_file()
        try:
            proc = subprocess.Popen(full, stdin=stdin_fd if stdin_fd is not None else subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=errors, env=environment)
        except OSError:
            errors.close()
            raise
        return Stream(proc, full, errors)

    def host_stream(self, argv, stdin_fd):
        return host_stream(argv, stdin_fd)


NOT_RUN = 126
NOT_RUN_MESSAGE = ("not run on an image: guestprep check and plan never start the image's own programs "
                   "with --root (a root process in a chroot is not contained)")


class GuestProgramRefused(OSError):
    """A check or plan asked to start one of the image's programs on a mounted image."""

    def __init__(self, argv):
        OSError.__init__(self, errno.EPERM, "{}: {}".format(" ".join(argv), NOT_RUN_MESSAGE))
        self.argv = tuple(argv)


class ReadOnlyRunner(object):
    """The runner of check and plan on a mounted image: renders command lines (for plans and
    hints, exactly as the fix would run them) but never starts a program from the image.
    run() answers a Completed with returncode 126 and NOT_RUN_MESSAGE; stream() raises
    GuestProgramRefused. Every refused argv is kept in `refused` (tests assert it stays empty)."""

    read_only = True

    def __init__(self, root_path, render=None):
        self.root_path = root_path
        self._render = render if render is not None else Runner(root_path)
        self.refused = []

    def command_line(self, argv):
        return self._render.command_line(argv)

    def containment(self):
        """How the fix would run the image's programs (plans say it); nothing runs here."""
        how = getattr(self._render, "containment", None)
        return how() if how is not None else Containment(LIVE)

    def run(self, argv, env=None, timeout=None, stdin_text=None):
        self.refused.append(tuple(argv))
        return Completed(tuple(argv), NOT_RUN, "", NOT_RUN_MESSAGE)

    def stream(self, argv, stdin_fd=None, env=None):
        self.refused.append(tuple(argv))
        raise GuestProgramRefused(argv)

    def host_stream(self, argv, stdin_fd):
        return host_stream(argv, stdin_fd)


def host_tool(name):
    """Absolute path of a program on the machine guestprep runs on (never the image's)."""
    return shutil.which(name, path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")


def host_stream(argv, stdin_fd):
    """Run a HOST program (argv[0] looked up on the host, run by absolute path, never
    chrooted) with `stdin_fd` (an open file of the image, from its current offset) as input;
    a Stream of its output. For decompressing an initramfs: the bytes are the image's, the
    code is the host's. Raises OSError(ENOENT) when the host has no such program.

    Started with fork and exec, not subprocess: `check --root` starts no other program, and
    subprocess with what it imports (threading, selectors, tempfile ...) cost more than the
    rest of the start of a decompressor."""
    path = host_tool(argv[0])
    if path is None:
        raise OSError(errno.ENOENT, "no {} on this machine".format(argv[0]))
    full = (path,) + tuple(argv[1:])
    environment = {"LC_ALL": "C", "LANG": "C", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    # stderr to a file, not a pipe: a chatty program must not block on a pipe nobody reads.
    errors = _scratch_file()
    read_end, write_end = os.pipe()
    try:
        proc = _Child.start(full, environment, stdin_fd, write_end, errors.fileno())
    except OSError:
        os.close(read_end)
        errors.close()
        raise
    finally:
        os.close(write_end)
    proc.stdout = os.fdopen(read_end, "rb", 0)
    _widen_pipe(read_end)
    return Stream(proc, full, errors)


def _scratch_file():
    """An anonymous read-write file (memfd where Python has it, else an unlinked temp file)."""
    memfd_create = getattr(os, "memfd_create", None)     # Python 3.8 and later
    if memfd_create is not None:
        try:
            return os.fdopen(memfd_create("guestprep-stderr", getattr(os, "MFD_CLOEXEC", 1)), "w+b")
        except OSError:
            pass
    import tempfile
    return tempfile.TemporaryFile()


class _Child(object):
    """A program started by fork and exec: as much of subprocess.Popen as a Stream uses."""

    def __init__(self, pid):
        self.pid = pid
        self.stdout = None
        self.returncode = None

    @classmethod
    def start(cls, argv, env, stdin_fd, stdout_fd, stderr_fd):
        """Start `argv` (argv[0] an absolute path) in /, with the three descriptors as its stdio,
        no other descriptor (as subprocess's close_fds: not even one guestprep was started with)
        and the signals Python ignores (SIGPIPE, SIGXFSZ) back at their defaults. A program
        that cannot be executed exits with 127, as a shell's does."""
        import fcntl
        # Above 2, so that putting one in place cannot overwrite another (stdio may be closed).
        fds = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3) for fd in (stdin_fd, stdout_fd, stderr_fd)]
        try:
            pid = os.fork()
            if pid == 0:   # pragma: no cover - the child; exec or _exit, never back to Python
                try:
                    for sig in ("SIGPIPE", "SIGXFSZ"):
                        try:
                            signal.signal(getattr(signal, sig), signal.SIG_DFL)
                        except (AttributeError, ValueError, OSError):
                            pass     # not on this platform, or not the main thread: run as is
                    os.chdir("/")
                    for target, fd in enumerate(fds):
                        os.dup2(fd, target)
                    _close_from(3)
                    os.execve(argv[0], list(argv), env)
                finally:
                    os._exit(127)
        finally:
            for fd in fds:
                os.close(fd)
        return cls(pid)

    def poll(self):
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = _exit_code(status)
        return self.returncode

    def wait(self):
        if self.returncode is None:
            _, status = os.waitpid(self.pid, 0)
            self.returncode = _exit_code(status)
        return self.returncode

    def kill(self):
        if self.returncode is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _close_from(lowest):
    """Close every descriptor from `lowest` up (in a child, before exec): one close_range(2)
    where Python uses it (3.10 and later), else those /proc/self/fd lists."""
    if sys.version_info >= (3, 10):
        os.closerange(lowest, 1 << 20)
        return
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        names = [str(fd) for fd in range(lowest, 1024)]
    for name in names:
        if name.isdigit() and int(name) >= lowest:
            try:
                os.close(int(name))
            except OSError:
                pass


def _exit_code(status):
    """An exit status as subprocess reports it: the code, or minus the signal that ended it."""
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def _widen_pipe(fd):
    """Let the pipe hold 1 MiB (F_SETPIPE_SZ) instead of 64 KiB: a decompressor then blocks,
    and its reader wakes, a sixteenth as often. Best effort: the limit may be lower for users."""
    try:
        import fcntl
        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except (ImportError, OSError):
        pass


# Runs `argv` with only stdio (subprocess closes every other descriptor, the lock's too)
# and waits, holding the descriptors it inherited; exits as the command did.
_HOLD = ("import subprocess, sys\n"
         "code = subprocess.call(sys.argv[1:])\n"
         "sys.exit(code if code >= 0 else 128 - code)\n")


def _quiet(err):
    """stderr without nspawn's own notice that it cannot remove its propagation directory when
    /run is not a tmpfs (an empty directory; every command would report it)."""
    if "Attempted to remove disk file system" not in err:
        return err
    return "".join(line for line in err.splitlines(True)
                   if not line.startswith("Attempted to remove disk file system under \"/run/systemd/nspawn/"))


def stop_group(proc, grace=None):
    """SIGTERM the process group `proc` leads (nspawn then kills its container), SIGKILL
    what is left after `grace` seconds (STOP_GRACE)."""
    grace = STOP_GRACE if grace is None else grace
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except OSError:
            pass
        deadline = time.time() + grace
        while sig == signal.SIGTERM and proc.poll() is None and time.time() < deadline:
            time.sleep(0.1)
        if sig == signal.SIGTERM and proc.poll() is not None:
            # The leader is gone; anything still in its group goes too.
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            return


# Host processes: `guestprep boot-test` runs the HOST's qemu-img and qemu on a host disk file.
# That is not a question about a guest root (those go through Runner above, chrooted), so it
# has its own small runner, kept here so that this module stays the only place that starts
# processes.

def _die_with_parent():  # pragma: no cover - runs in the child between fork and exec
    """Ask Linux to SIGKILL the child when guestprep dies, even by SIGKILL: no orphaned qemu."""
    try:
        import ctypes
        import signal
        ctypes.CDLL(None).prctl(1, int(signal.SIGKILL))   # PR_SET_PDEATHSIG
    except Exception:
        pass


class HostProcess(object):
    """A long-running host process whose output goes to a file; stop() always ends it."""

    def __init__(self, argv, output_path):
        import subprocess  # only when a program runs (not at startup)
        self.argv = tuple(argv)
        self._output = open(output_path, "wb")
        try:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=self._output,
                                         stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        except OSError:
            self._output.close()
            raise

    @property
    def pid(self):
        return self.proc.pid

    def poll(self):
        return self.proc.poll()

    def stop(self, grace=5.0):
        """SIGTERM, then SIGKILL after `grace` seconds; returns the exit status."""
        import subprocess  # only when a program runs (not at startup)
        try:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            return self.proc.returncode
        finally:
            self._output.close()


class HostRunner(object):
    """Host binaries on host files (qemu-img, qemu-system-x86_64), never chrooted."""

    def which(self, name):
        import shutil
        return shutil.which(name)

    def run(self, argv, timeout=120):
        """Run argv on the host; never raises for a failing command (see returncode)."""
        import subprocess  # only when a program runs (not at startup)
        argv = tuple(argv)
        environment = dict(os.environ, LC_ALL="C", LANG="C")
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, universal_newlines=True, env=environment)
        except OSError as e:
            return Completed(argv, 127, "", "{}: {}".format(argv[0], e.strerror))
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            return Completed(argv, 124, out, err + "\ntimed out after {}s".format(timeout))
        return Completed(argv, proc.returncode, out, err)

    def start(self, argv, output_path):
        """Start a long-running process (stdout and stderr to output_path)."""
        return HostProcess(argv, output_path)
