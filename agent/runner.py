"""The only place that starts processes.

Commands about the guest run inside it: chrooted when the root is a mounted image, so the
guest's own package manager acts on the guest's own database. Host binaries are never
asked questions about the guest.
"""
import os
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
