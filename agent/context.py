"""The context handed to every check and remediation: no globals anywhere else."""
import shlex

from agent import osinfo, packages
from agent.rootfs import Root
from agent.runner import Runner


class Options(object):
    def __init__(self, strict=False, verbose=False, selections=None):
        self.strict = strict
        self.verbose = verbose
        # {check id: [operation names]} from `--items seal:history,...` (None: all of them)
        self.selections = selections or {}


class Context(object):
    """root (Root), runner (Runner), os (OSInfo), live (LiveFacts or None), options."""

    def __init__(self, root, runner=None, os_info=None, live=None, options=None):
        self.root = root
        self.runner = runner or Runner(root.path)
        self.os = os_info if os_info is not None else osinfo.detect(root)
        self.live = live
        self.options = options or Options()
        self._packages = None
        self._facts = {}

    @classmethod
    def for_root(cls, path="/", options=None, runner=None, live=None):
        """The usual context: live facts only when the target is the running system."""
        root = Root(path)
        if live is None and root.is_host:
            from agent.live import LiveFacts
            live = LiveFacts(root)
        return cls(root, runner=runner, live=live, options=options)

    def in_guest(self, command):
        """A shell command line as a person runs it against the target: chrooted with --root."""
        return command if self.root.is_host else "chroot {} {}".format(shlex.quote(self.root.path), command)

    def refresh(self):
        """Forget cached facts after a fix changed the target."""
        self._packages = None
        self._facts = {}

    def fact(self, name, compute):
        """A fact several checks share (architecture, boot mode, root device), computed once
        per run: `compute()` the first time, the cached value after (agent/facts.py)."""
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
