"""The only place that starts processes.

Commands about the guest run inside it: chrooted when the root is a mounted image, so the
guest's own package manager acts on the guest's own database. Only `fix` gets such a
Runner. `check` and `plan` on a mounted image get a ReadOnlyRunner, which cannot start
the image's programs at all (an image is untrusted input: issue 11); what they need to
know they read from the image's files and databases, or ask a host tool about a file's
bytes (host_stream: a decompressor, by absolute host path, never chrooted).
"""
import errno
import os
import shutil
import subprocess
import tempfile
from typing import NamedTuple, Tuple

DEFAULT_TIMEOUT = 1800   # a package install on a slow mirror


class Completed(NamedTuple):
    argv: Tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self):
        return self.returncode == 0


class Stream(object):
    """A running command's standard output, read as bytes while it runs (see Runner.stream)."""

    def __init__(self, proc, argv, errors):
        self.proc = proc
        self.argv = argv
        self._errors = errors
        self.returncode = None

    def read(self, n):
        return self.proc.stdout.read(n)

    def close(self):
        """Stop the command if it still runs; its exit status, or None when it was stopped."""
        if self.proc.stdout is not None and not self.proc.stdout.closed:
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
    def __init__(self, root_path="/"):
        self.root_path = root_path

    def command_line(self, argv):
        """The argv as it will run: prefixed with chroot when the root is not /."""
        argv = tuple(argv)
        if self.root_path != "/":
            return ("chroot", self.root_path) + argv
        return argv

    def run(self, argv, env=None, timeout=DEFAULT_TIMEOUT, stdin_text=None):
        """Run argv inside the target. Never raises for a failing command: see returncode."""
        full = self.command_line(argv)
        environment = dict(os.environ)
        # A predictable, non-interactive environment: no pager, no prompts, C messages.
        environment.update({"LC_ALL": "C", "LANG": "C", "DEBIAN_FRONTEND": "noninteractive",
                            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"})
        if env:
            environment.update(env)
        try:
            proc = subprocess.Popen(full, stdin=subprocess.PIPE if stdin_text is not None else subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    universal_newlines=True, env=environment)
        except OSError as e:
            return Completed(full, 127, "", "{}: {}".format(full[0], e.strerror))
        try:
            out, err = proc.communicate(stdin_text, timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            return Completed(full, 124, out, err + "\ntimed out after {}s".format(timeout))
        return Completed(full, proc.returncode, out, err)

    def stream(self, argv, stdin_fd=None, env=None):
        """Start argv inside the target with `stdin_fd` (an open file, read from its current
        offset) as standard input; return a Stream of its standard output. Bytes in, bytes
        out, never all in memory: for decompressing a large file with the target's own tool."""
        full = self.command_line(argv)
        environment = dict(os.environ)
        environment.update({"LC_ALL": "C", "LANG": "C",
                            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"})
        if env:
            environment.update(env)
        # stderr to a file, not a pipe: a chatty command must not block on a pipe nobody reads.
        errors = tempfile.TemporaryFile()
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
    code is the host's. Raises OSError(ENOENT) when the host has no such program."""
    path = host_tool(argv[0])
    if path is None:
        raise OSError(errno.ENOENT, "no {} on this machine".format(argv[0]))
    full = (path,) + tuple(argv[1:])
    environment = {"LC_ALL": "C", "LANG": "C", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    errors = tempfile.TemporaryFile()
    try:
        proc = subprocess.Popen(full, stdin=stdin_fd, stdout=subprocess.PIPE, stderr=errors,
                                env=environment, cwd="/")
    except OSError:
        errors.close()
        raise
    return Stream(proc, full, errors)


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
