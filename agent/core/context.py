"""The context handed to every check and remediation: no globals anywhere else."""
import shlex

from agent.core.rootfs import Root
from agent.core.runner import ReadOnlyRunner, Runner
from agent.facts import osinfo, packages


class Options(object):
    def __init__(self, strict=False, verbose=False, selections=None):
        self.strict = strict
        self.verbose = verbose
        # {check id: [operation names]} from `--items seal:history,...` (None: all of them)
        self.selections = selections or {}


class Context(object):
    """root (Root), runner (what checks and plans use), os (OSInfo), live (LiveFacts or None),
    options; executor (what the journal runs a fix's commands with).

    On a mounted image the default runner is a ReadOnlyRunner: checks and plans cannot start
    the image's programs at all. Only a context made for `fix` (executor=Runner) can run
    them, and only through the journal's RunCommand steps. An explicit `runner` (tests'
    fakes) serves as both unless an executor is given.
    """

    def __init__(self, root, runner=None, os_info=None, live=None, options=None, executor=None):
        self.root = root
        if runner is None:
            runner = Runner(root.path) if root.is_host else ReadOnlyRunner(root.path)
            if executor is None and root.is_host:
                executor = runner
        elif executor is None and not getattr(runner, "read_only", False):
            executor = runner
        self.runner = runner
        self._executor = executor
        self.os = os_info if os_info is not None else osinfo.detect(root)
        self.live = live
        self.options = options or Options()
        self._packages = None
        self._facts = {}

    @classmethod
    def for_root(cls, path="/", options=None, runner=None, live=None, execute=False, container="auto"):
        """The usual context: live facts only when the target is the running system.

        execute=True (fix only) gives it an executor that runs the target's programs, in
        `container` (agent/core/runner.py) on a mounted image; check and plan only render them."""
        root = Root(path)
        if live is None and root.is_host:
            from agent.facts.live import LiveFacts
            live = LiveFacts(root)
        executor = None
        if runner is None:
            executor = Runner(root.path, container=container)
            if not root.is_host:
                runner = ReadOnlyRunner(root.path, executor)
            else:
                runner = executor
            if not execute:
                executor = None if not root.is_host else executor
        return cls(root, runner=runner, live=live, options=options, executor=executor)

    @property
    def executor(self):
        """The runner that runs a fix's commands in the target; check and plan have none."""
        if self._executor is None:
            return ReadOnlyRunner(self.root.path, getattr(self.runner, "_render", None))
        return self._executor

    def in_guest(self, command):
        """A shell command line as a person runs it against the target: chrooted with --root."""
        return command if self.root.is_host else "chroot {} {}".format(shlex.quote(self.root.path), command)

    def refresh(self):
        """Forget cached facts after a fix changed the target."""
        self._packages = None
        self._facts = {}

    def fact(self, name, compute):
        """A fact several checks share (architecture, boot mode, root device), computed once
        per run: `compute()` the first time, the cached value after (agent/facts/)."""
        if name not in self._facts:
            self._facts[name] = compute()
        return self._facts[name]

    @property
    def offline(self):
        return self.live is None

    @property
    def packages(self):
        """The target's installed packages, queried once per run."""
        if self._packages is None:
            self._packages = packages.installed(self.root, self.runner)
        return self._packages

    def package_manager(self):
        """Install/remove command prefixes for the target's family."""
        family = self.os.family
        if family == "debian":
            return {"install": ["apt-get", "install", "-y"], "remove": ["apt-get", "purge", "-y"],
                    "refresh": ["apt-get", "update"]}
        if family == "suse":
            return {"install": ["zypper", "--non-interactive", "install"],
                    "remove": ["zypper", "--non-interactive", "remove"], "refresh": None}
        if family == "rhel":
            # The guest's own tool when it can be seen; else by release (dnf from EL 8 on).
            if self.root.exists("/usr/bin/dnf"):
                tool = "dnf"
            elif self.root.exists("/usr/bin/yum"):
                tool = "yum"
            else:
                tool = "yum" if (self.os.major or 0) < 8 and self.os.id in ("rhel", "centos", "ol") else "dnf"
            return {"install": [tool, "install", "-y"], "remove": [tool, "remove", "-y"], "refresh": None}
        return None


def shell_command(ctx, argv):
    """A command as a person types it for this target (chrooted for a mounted image)."""
    return " ".join(shlex.quote(a) for a in ctx.runner.command_line(argv))
