"""The only place that starts processes.

Commands about the guest run inside it: chrooted when the root is a mounted image, so the
guest's own package manager acts on the guest's own database. Host binaries are never
asked questions about the guest.
"""
import os
import subprocess
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
