"""package-manager: the package manager must work before a fix installs or removes a package.

Several fixes install or remove packages (qemu-ga, cloud-init, growpart, the cloud
assistant, critical-files' reinstall). With an interrupted dpkg (`dpkg --audit` not
empty: half-configured or unpacked packages, pending triggers, journal entries in
/var/lib/dpkg/updates), a damaged rpm database, another package manager holding its lock
or no repository configured, such an install fails halfway -- the most common failure in
Google's image-import (translate) tracker (issue 12). So this check finds them first,
from the databases and files only (an image is untrusted input: nothing of it is run),
and plan and fix refuse the package steps with its reason while file fixes still apply
(agent/core/engine.py, `guards_packages`).

A lock is only evidence on the running system: there an fcntl lock query on dpkg's
lock-frontend/lock, rpm's .rpm.lock or zypper's pid file tells whether a process holds
it. In an image nothing runs, and lock files left behind by a crash are not evidence.
"""
import re

from agent.core.model import Check, Message, Status
from agent.core.rootfs import RootError

DPKG_STATUS = "/var/lib/dpkg/status"
DPKG_UPDATES = "/var/lib/dpkg/updates"
DPKG_LOCKS = ("/var/lib/dpkg/lock-frontend", "/var/lib/dpkg/lock")
RPM_LOCKS = ("/var/lib/rpm/.rpm.lock", "/usr/lib/sysimage/rpm/.rpm.lock")
ZYPP_PID = "/run/zypp.pid"
REPO_DIRS = {"rhel": "/etc/yum.repos.d", "suse": "/etc/zypp/repos.d"}


def apt_sources(root):
    """Guest paths of apt source files with at least one enabled `deb` entry."""
    found = []
    paths = ["/etc/apt/sources.list"] + root.glob("/etc/apt/sources.list.d/*.list")
    for path in paths:
        text = root.read_text_or_none(path) if root.isfile(path) else None
        if text and any(line.split()[:1] == ["deb"] for line in text.splitlines()):
            found.append(path)
    for path in root.glob("/etc/apt/sources.list.d/*.sources"):
        text = root.read_text_or_none(path) if root.isfile(path) else None
        for stanza in re.split(r"\n\s*\n", text or ""):
            fields = dict((k.strip().lower(), v.strip()) for k, _s, v in
                          (line.partition(":") for line in stanza.splitlines() if ":" in line and line[:1] != "#"))
            if "deb" in fields.get("types", "").split() and fields.get("enabled", "yes").lower() != "no":
                found.append(path)
                break
    return found


def enabled_repos(root, directory):
    """Guest paths of *.repo files with at least one enabled section (yum/dnf/zypper ini)."""
    found = []
    for path in root.glob(directory + "/*.repo"):
        text = root.read_text_or_none(path) if root.isfile(path) else None
        section, enabled, url = None, True, False
        sections = []
        for line in (text or "").splitlines():
            line = line.strip()
            if line.startswith("[") and line.endswith("]"):
                if section is not None:
                    sections.append(enabled and url)
                section, enabled, url = line[1:-1], True, False
            elif "=" in line and section is not None and line[:1] not in "#;":
                key, _s, value = line.partition("=")
                key, value = key.strip().lower(), value.strip().lower()
                if key == "enabled":
                    enabled = value in ("1", "yes", "true", "on")
                elif key in ("baseurl", "mirrorlist", "metalink"):
                    url = bool(value)
        if section is not None:
            sections.append(enabled and url)
        if any(sections):
            found.append(path)
    return found


class PackageManager(Check):
    id = "package_manager"
    title = "Package manager usable: no interrupted dpkg, readable rpm database, free lock, a repository"
    item = "package-manager"
    repair_item = ""
    # The engine refuses package steps of every fix while this check FAILs (agent/core/engine.py).
    guards_packages = True

    def run(self, ctx):
        root = ctx.root
        packages = ctx.packages
        blocking, warnings, notes, commands = [], [], [], []
        if packages.manager is None:
            return self.result(Status.SKIP, Message("no dpkg or rpm database: no package manager to check"),
                               code="none")
        if packages.manager == "dpkg":
            interrupted = packages.interrupted
            if packages.error:
                blocking.append(("dpkg-unreadable", Message("{path} cannot be read: {reason}", path=DPKG_STATUS,
                                                            reason=packages.reason), DPKG_STATUS))
            if interrupted:
                shown = ", ".join("{} ({})".format(n, s) for n, s in interrupted[:8])
                if len(interrupted) > 8:
                    text = Message("dpkg was interrupted: {packages} and {more} more", packages=shown,
                                   more=len(interrupted) - 8)
                else:
                    text = Message("dpkg was interrupted: {packages}", packages=shown)
                blocking.append(("dpkg-interrupted", text, DPKG_STATUS))
            pending = [n for n in root.listdir(DPKG_UPDATES) if n.isdigit()] if root.isdir(DPKG_UPDATES) else []
            if pending:
                if len(pending) == 1:
                    text = Message("dpkg was interrupted: {count} journal entry in {path}", count=1, path=DPKG_UPDATES)
                else:
                    text = Message("dpkg was interrupted: {count} journal entries in {path}", count=len(pending),
                                   path=DPKG_UPDATES)
                blocking.append(("dpkg-journal", text, DPKG_UPDATES))
            if interrupted or pending:
                commands.append(ctx.in_guest("dpkg --configure -a"))
                commands.append(ctx.in_guest("apt-get -f install"))
        elif not packages.known:
            blocking.append(("rpmdb-unreadable", Message("the rpm database is damaged or unreadable ({error})",
                                                         error=packages.error), ""))
            commands.append(ctx.in_guest("rpm --rebuilddb"))
        locks = DPKG_LOCKS if packages.manager == "dpkg" else RPM_LOCKS
        if ctx.live is not None and hasattr(ctx.live, "lock_holder"):
            for path in locks:
                pid = ctx.live.lock_holder(path)
                if pid:
                    blocking.append(("locked", Message("{path} is locked by process {pid} (another package manager "
                                                       "is running)", path=path, pid=pid), path))
            holder = self._zypp_holder(root)
            if holder:
                blocking.append(("zypp-running", Message("{path} names running process {pid} (zypper or YaST is "
                                                         "running)", path=ZYPP_PID, pid=holder), ZYPP_PID))
        else:
            present = [p for p in locks + (ZYPP_PID,) if root.lexists(p)]
            if present:
                notes.append(("stale-locks", Message("lock files {paths} exist; in an image nothing runs, so they are "
                                                     "not evidence of a package manager at work",
                                                     paths=", ".join(present)), ""))
        repos = self._repositories(ctx)
        if repos is not None and not repos:
            warnings.append(("no-repository", Message("no package repository is configured ({where})",
                                                      where=self._repo_where(ctx)), ""))
        findings = [self.finding(Status.FAIL, code, text, path=path) for code, text, path in blocking]
        findings += [self.finding(Status.WARN, code, text, path=path) for code, text, path in warnings]
        data = {"refuse_packages": "; ".join(str(f.text) for f in findings)}
        notes = [self.finding(Status.INFO, code, text, path=path) for code, text, path in notes]
        if not findings:
            if repos:
                text = Message("package manager usable ({manager}, {count} repository file(s))",
                               manager=packages.manager, count=len(repos))
            else:
                text = Message("package manager usable ({manager})", manager=packages.manager)
            return self.results([self.finding(Status.PASS, "usable", text)] + notes, data=data, status=Status.PASS)
        if blocking:
            hint = Message("Fixes that install or remove packages fail halfway with a broken package manager, so "
                           "guestprep refuses them until this is repaired; file fixes still apply. Finish or repair "
                           "the package manager first (commands below), then run guestprep again.")
        else:
            hint = Message("Fixes that install or remove packages fail halfway with a broken package manager, so "
                           "guestprep refuses them until this is repaired; file fixes still apply. Configure a "
                           "repository the instance can reach (the distribution's mirror or Alibaba Cloud's).")
        return self.results(findings + notes, hint, commands=commands, data=data)

    @staticmethod
    def _zypp_holder(root):
        try:
            text = root.read_text_or_none(ZYPP_PID, limit=64) or ""
        except RootError:
            return None
        pid = text.strip()
        return pid if pid.isdigit() and int(pid) > 0 and root.isdir("/proc/" + pid) else None

    @staticmethod
    def _repositories(ctx):
        """Files with an enabled repository, or None when the family's format is not known."""
        if ctx.packages.manager == "dpkg":
            return apt_sources(ctx.root)
        directory = REPO_DIRS.get(ctx.os.family)
        if directory is None:
            return None
        return enabled_repos(ctx.root, directory)

    @staticmethod
    def _repo_where(ctx):
        if ctx.packages.manager == "dpkg":
            return Message("no `deb` line in /etc/apt/sources.list or sources.list.d")
        return Message("no enabled repository with a baseurl, mirrorlist or metalink in {directory}/*.repo",
                       directory=REPO_DIRS.get(ctx.os.family))
