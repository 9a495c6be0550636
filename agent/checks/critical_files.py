"""critical-files: the files ECS reads to recognise and boot the image must be as shipped.

Seed 000 (その他): do not modify critical system files such as /sbin, /bin, /lib*;
do not modify /etc/issue*, or ECS cannot identify the distribution and the instance's OS
cannot be created; do not modify /boot/grub/menu.lst, or the instance cannot start.
Seed 002 repeats the list (/etc/issue*, /etc/*-release, /etc/*_version, menu.lst) and
asks that root's /bin, /sbin and /lib stay untouched.

What "unmodified" means comes from the package database, where it offers it:
- RPM: the owning package's header (read from the rpm database by agent/facts/rpmdb.py, no
  rpm process: an image is untrusted input) gives each file's digest (MD5 or SHA-256 by
  FILEDIGESTALGO), mode, link target and %config flag; the file's bytes are hashed here,
  as `rpm -V` would (size, digest, link, mode; not owner, group or mtime);
- dpkg: the file's MD5 against the conffile checksums in /var/lib/dpkg/status and the
  /var/lib/dpkg/info/<package>.md5sums of base-files and the *-release packages, computed
  here from the file's bytes, without running a process. A path the package's .list names
  without an MD5 is a link it ships (/etc/os-release): a regular file there (`sed -i` made
  it one) is a change too, and a conffile that is now a link is reported under its own name.
Files no package owns (a generated menu.lst) cannot be verified and are not reported.

On merged-/usr systems /bin, /sbin, /lib and /lib64 are symlinks into /usr; they must be
relative (`lib -> usr/lib`): an absolute link points at the host's /usr/lib as soon as
the disk is mounted somewhere else than /, which is how an image is inspected and
repaired. A missing /etc/os-release (with no older release file either) leaves ECS
nothing to identify the distribution by.
"""
import fnmatch
import stat

from agent.core.context import shell_command
from agent.core.model import Check, Message, Status, joined
from agent.core.rootfs import RootError
from agent.facts.rpmdb import RpmDbError
from agent.parsers import LazyPattern

OS_RELEASE = "/etc/os-release"
PATTERNS = ("/etc/issue*", "/etc/*-release", "/etc/*_version")
FIXED = ("/boot/grub/menu.lst",)
MERGED_LINKS = ("/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32")
DPKG_STATUS = "/var/lib/dpkg/status"
DPKG_INFO = "/var/lib/dpkg/info"
CONTENT_FLAGS = "S5L"
# Findings whose path goes into the result's paths (a problem reading a file does not).
_PATH_CODES = ("os-release-missing", "os-release-dangling", "absolute-link", "broken-link", "link-outside-usr",
               "modified", "permissions")
_MD5_HEX = LazyPattern(r"^[0-9a-f]{32}$")
# PATTERNS and FIXED as one expression: fnmatch tried each of them on each of dpkg's conffiles.
_CRITICAL_PATH = LazyPattern("|".join("(?:{})".format(fnmatch.translate(p)) for p in PATTERNS + FIXED))


def candidates(root):
    """Guest paths of the files to verify (regular files, through symlinks)."""
    paths = []
    for pattern in PATTERNS:
        for path in root.glob(pattern):
            if root.isfile(path) and path not in paths:
                paths.append(path)
    for path in FIXED:
        if root.isfile(path):
            paths.append(path)
    return paths


def real_path(root, path):
    """The guest path a (possibly symlinked) path ends at: /etc/os-release -> /usr/lib/os-release."""
    try:
        return root.guest(root.resolve(path))
    except RootError:
        return path


def dpkg_conffiles(text):
    """{path: (package, md5)} from /var/lib/dpkg/status (obsolete and new conffiles left out)."""
    found = {}
    for paragraph in text.split("\n\n"):
        if "Conffiles:" not in paragraph:     # most packages have none: no line loop for them
            continue
        package, in_conffiles = None, False
        for line in paragraph.splitlines():
            if line.startswith("Package:"):
                package = line.split(":", 1)[1].strip()
                in_conffiles = False
            elif line.startswith("Conffiles:"):
                in_conffiles = True
            elif in_conffiles and line.startswith(" "):
                words = line.split()
                if len(words) >= 2 and package and "obsolete" not in words[2:] and \
                        _MD5_HEX.match(words[1]):
                    found[words[0]] = (package, words[1])
            else:
                in_conffiles = False
    return found


def dpkg_md5sums(text, package):
    found = {}
    for line in text.splitlines():
        words = line.split(None, 1)
        if len(words) == 2 and _MD5_HEX.match(words[0]):
            found["/" + words[1].strip().lstrip("/")] = (package, words[0])
    return found


def dpkg_links(listed, md5sums, package):
    """{path: package} for what a package's .list names but its .md5sums does not: links
    (/etc/os-release -> ../usr/lib/os-release), and conffiles, which the caller drops."""
    summed = set("/" + line.split(None, 1)[1].strip().lstrip("/")
                 for line in md5sums.splitlines() if len(line.split(None, 1)) == 2)
    paths = [line.strip() for line in listed.splitlines() if line.startswith("/")]
    parents = set(p.rsplit("/", 1)[0] for p in paths)
    return dict((p, package) for p in paths if p not in summed and p not in parents)


def _how(change):
    if change.get("missing"):
        return Message(" (missing)")
    if change.get("replaced"):
        return Message(" (a regular file where the package has a symbolic link)")
    if change.get("link"):
        return Message(" (a symlink to {link})", link=change["link"])
    return ""


def _change_finding(check, change):
    path, package = change["path"], change["package"]
    if change.get("mode_only"):
        text = Message("{path} has changed permissions or owner ({package})", path=path, package=package) \
            if package else Message("{path} has changed permissions or owner (package unknown)", path=path)
        return check.finding(Status.WARN, "permissions", text, path)
    text = Message("{path} differs from package {package}{how}", path=path, package=package, how=_how(change)) \
        if package else Message("{path} differs from package (owner unknown){how}", path=path, how=_how(change))
    return check.finding(Status.FAIL, "modified", text, path)


class CriticalFiles(Check):
    id = "critical_files"
    title = "Release, issue and boot files unmodified; /lib links relative"
    item = "critical-files"
    repair_item = "critical-files"

    refs = ("000", "002")

    def run(self, ctx):
        root = ctx.root
        findings, commands = [], []
        legacy = self._judge_release(root, findings)
        self._judge_links(ctx, findings, commands)
        files = candidates(root)
        verified, modified, problems = self._verify(ctx, files)
        findings.extend(problems)
        paths = [f.path for f in findings if f.code.split(".", 1)[1] in _PATH_CODES]
        for change in modified:
            if change["path"] in paths:
                continue    # a missing or dangling /etc/os-release, said above; still fixed
            findings.append(_change_finding(self, change))
            paths.append(change["path"])
        data = {"modified": modified}
        manager = ctx.packages.manager
        note = Message("no {path} (older system: {files})", path=OS_RELEASE, files=", ".join(legacy)) if legacy else ""

        if not findings:
            if verified:
                how = Message("verified against {manager} ({count} file(s))", manager=manager, count=verified)
            elif manager is None:
                how = Message("no package database to verify against")
            else:
                how = Message("nothing to verify")
            return self.passed(Message("release and issue files unmodified ({how}); /bin, /sbin, /lib links fine"
                                       "{note}", how=how, note=Message("; {note}", note=note) if note else ""),
                               paths=files, data=data, code="unmodified")
        if note:
            findings.append(self.finding(Status.INFO, "legacy-release", note))
        hint, more = self._advice(ctx, findings, modified, files)
        return self.results(findings, hint, commands=commands + more, paths=paths, data=data)

    # -- judging ----------------------------------------------------------------------------

    def _judge_release(self, root, findings):
        """Findings about /etc/os-release; the older release files when it is absent."""
        if not root.lexists(OS_RELEASE):
            legacy = [p for p in root.glob("/etc/*-release") if root.isfile(p)]
            if not legacy:
                findings.append(self.finding(Status.FAIL, "os-release-missing", Message(
                    "{path} is missing and there is no other release file", path=OS_RELEASE), OS_RELEASE))
            return legacy
        if not root.exists(OS_RELEASE):
            findings.append(self.finding(Status.FAIL, "os-release-dangling", Message(
                "{path} is a dangling symlink (-> {target})", path=OS_RELEASE, target=root.readlink(OS_RELEASE)),
                OS_RELEASE))
        return []

    def _judge_links(self, ctx, findings, commands):
        root = ctx.root
        for link in MERGED_LINKS:
            if not root.islink(link):
                continue
            target = root.readlink(link)
            if target.startswith("/"):
                findings.append(self.finding(Status.FAIL, "absolute-link", Message(
                    "{link} -> {target} is an absolute symlink", link=link, target=target), link))
                commands.append(self._relink(ctx, link, target.lstrip("/")))
            elif not root.exists(link):
                findings.append(self.finding(Status.FAIL, "broken-link", Message(
                    "{link} -> {target} points at nothing", link=link, target=target), link))
            elif not target.startswith("usr/"):
                findings.append(self.finding(Status.WARN, "link-outside-usr", Message(
                    "{link} -> {target} does not point into /usr", link=link, target=target), link))

    def _verify(self, ctx, files):
        """(files verified, changes found, findings about what could not be verified)."""
        manager = ctx.packages.manager
        if manager == "rpm" and files:
            verified, found, problems = self._rpm(ctx, files)
            if problems:
                # One finding, as rpm -V reports them together.
                return verified, found, [self.finding(Status.INFO, "unverified", joined(problems, "; "),
                                                      problems[0].args.get("path", ""))]
            return verified, found, []
        if manager == "dpkg" and files:
            verified, found, problems = self._dpkg(ctx, files)
            return verified, found, [self.finding(Status.WARN, "unverified", p, p.args.get("path", ""))
                                     for p in problems]
        return 0, [], []

    # -- phrasing the advice ----------------------------------------------------------------

    def _advice(self, ctx, findings, modified, files):
        codes = set(f.code.split(".", 1)[1] for f in findings)
        hints, commands = [], []
        content = [m for m in modified if not m.get("mode_only")]
        if content:
            hints.append(Message("Seeds 000 and 002: ECS identifies the distribution from /etc/issue* and the "
                                 "release files and boots through menu.lst; restore them from their packages "
                                 "(`guestprep fix --items critical-files` reinstalls them, keeping a backup of the "
                                 "changed files for rollback)."))
            commands.extend(self._restore_commands(ctx, content))
        if any(m.get("mode_only") for m in modified):
            pkgs = sorted(set(m["package"] for m in modified if m.get("mode_only") and m["package"]))
            if pkgs:
                commands.append(shell_command(ctx, ["rpm", "--setperms"] + pkgs))
                commands.append(shell_command(ctx, ["rpm", "--setugids"] + pkgs))
        links = codes & {"absolute-link", "broken-link", "os-release-dangling"} or any(
            f.code.endswith(".modified") and "symlink" in f.text for f in findings)
        if links:
            hints.append(Message("/bin, /sbin and /lib* must be relative links into /usr (seed 000: do not modify "
                                 "/sbin, /bin, /lib*): an absolute link resolves to the wrong tree when the disk is "
                                 "mounted elsewhere. Replace the link atomically (commands below)."))
        if any(f.path == OS_RELEASE for f in findings):
            hints.append(Message("ECS identifies the OS from {path}: reinstall the package that ships it "
                                 "(base-files, *-release, or systemd on some distributions).", path=OS_RELEASE))
        if not hints:
            # Only verification problems were found: say how to verify by hand.
            manager = ctx.packages.manager
            verify = {"rpm": "rpm -Vf " + " ".join(files[:6]), "dpkg": "dpkg --verify base-files"}.get(manager)
            hints.append(Message("guestprep could not verify the release and issue files against the package "
                                 "database (above); verify them by hand and restore changed ones from their "
                                 "packages."))
            if verify:
                commands.append(ctx.in_guest(verify))
        return joined(hints, " "), commands

    # -- rpm ----------------------------------------------------------------------------

    def _rpm(self, ctx, files):
        """Verify `files` (and the paths their links end at) against their packages' headers."""
        db = ctx.packages.rpm
        if db is None or not db.known:
            reason = (db.error if db is not None else ctx.packages.error) or "no rpm database"
            return 0, [], [Message("package verification: unknown ({reason})", reason=reason)]
        root = ctx.root
        try:
            owners = db.owners()
        except RpmDbError as e:
            return 0, [], [Message("package verification: unknown ({reason})", reason=str(e))]
        wanted = []
        for path in files:
            for candidate in (path, real_path(root, path)):
                if candidate not in wanted:
                    wanted.append(candidate)
        found, verified, problems = [], 0, []
        for path in wanted:
            entries = [(h, e) for h, e in owners.get(path, ()) if not e["flags_ghost"]]
            if not entries:
                continue
            verified += 1
            try:
                changes = [_rpm_verify(root, path, entry) for _header, entry in entries]
            except RootError as e:
                verified -= 1
                problems.append(Message("{path} cannot be verified: {reason}", path=path, reason=e.reason))
                continue
            if any(not flags for flags in changes):
                continue    # matches one of its owners (multilib packages share files)
            header, entry = entries[0]
            flags = changes[0]
            missing = flags == "missing"
            content = missing or any(f in flags for f in CONTENT_FLAGS)
            found.append({"path": path, "package": header.name, "config": entry["config"], "missing": missing,
                          "mode_only": not content, "flags": flags})
        return verified, found, problems

    # -- dpkg ---------------------------------------------------------------------------

    def _dpkg(self, ctx, files):
        root = ctx.root
        problems = []
        sums = {}
        try:
            status = root.read_text_or_none(DPKG_STATUS) or ""
        except RootError as e:
            return 0, [], [Message("{path} cannot be read: {reason}", path=DPKG_STATUS, reason=e.reason)]
        packages = ["base-files"] + sorted(p for p in ctx.packages.versions if p.endswith("-release"))
        links = {}      # paths a package ships without an MD5: links (its .list names them)
        for package in packages:
            for name in (package, package + ":" + "amd64", package + ":" + "arm64"):
                path = "{}/{}.md5sums".format(DPKG_INFO, name)
                try:
                    text = root.read_text_or_none(path)
                    listed = root.read_text_or_none("{}/{}.list".format(DPKG_INFO, name)) if text else None
                except RootError as e:
                    problems.append(Message("{path} cannot be read: {reason}", path=path, reason=e.reason))
                    continue
                if text is not None:
                    sums.update(dpkg_md5sums(text, package))
                    links.update(dpkg_links(listed or "", text, package))
                    break
        conffile_sums = dpkg_conffiles(status)
        sums.update(conffile_sums)
        conffiles = set(conffile_sums)
        for path in conffiles:
            links.pop(path, None)    # dh_md5sums leaves conffiles out of .md5sums
        found, verified = [], 0
        # A file dpkg knows but the disk lacks (or a link to nothing): dpkg will not bring a
        # conffile back by itself.
        for path in sorted(set(conffiles) | set(links)):
            if _CRITICAL_PATH.match(path) and not root.exists(path):
                package = conffile_sums[path][0] if path in conffiles else links[path]
                found.append({"path": path, "package": package, "config": path in conffiles,
                              "missing": True, "mode_only": False, "flags": "missing"})
        for path in files:
            real = real_path(root, path)
            if path not in sums and real not in sums and path in links and not root.islink(path):
                # `sed -i` on /etc/os-release: the package's link is now an edited copy.
                found.append({"path": path, "package": links[path], "config": False, "missing": False,
                              "mode_only": False, "flags": "L", "replaced": True})
                continue
            # The package's own name for the file: /etc/issue even when it is now a link elsewhere.
            owned = path if path in sums else real
            known = sums.get(owned)
            if known is None:
                continue
            package, expected = known
            try:
                digest = file_digest("md5", root.read_bytes(real))
            except RootError as e:
                problems.append(Message("{path} cannot be read: {reason}", path=path, reason=e.reason))
                continue
            verified += 1
            if digest != expected:
                change = {"path": owned, "package": package, "config": owned in conffiles,
                          "missing": False, "mode_only": False, "flags": "5"}
                if owned == path and root.islink(path):
                    change["link"] = root.readlink(path)
                found.append(change)
        return verified, found, problems

    # -- commands -------------------------------------------------------------------------

    @staticmethod
    def _relink(ctx, link, target):
        name = link.lstrip("/")
        if ctx.root.is_host:
            # ln -sfn unlinks first: for a moment there is no /lib. A rename is atomic.
            return "ln -s {t} /{n}.new && mv -T /{n}.new /{n}".format(t=target, n=name)
        base = ctx.root.path.rstrip("/")
        return "ln -sfn {} {}/{}".format(target, base, name)

    @staticmethod
    def _restore_commands(ctx, modified):
        pkgs = sorted(set(m["package"] for m in modified if m["package"]))
        if not pkgs:
            return []
        configs = [ctx.root.display(m["path"]) for m in modified if m["config"]]
        # A changed config file survives a reinstall (rpm writes .rpmnew, dpkg keeps it):
        # move it aside first, so the package puts its own copy back.
        commands = ["mv {0} {0}.modified".format(c) for c in configs]
        steps = restore_argv(ctx, pkgs)
        if steps:
            commands.append(shell_command(ctx, steps))
        return commands


def file_digest(algo, data):
    """Hex digest of a file's bytes, to compare with its package's record. Not a security use:
    MD5 comes from Python's own implementation where it has one, since OpenSSL in FIPS mode
    refuses MD5 through hashlib (the check would end in an error on such a host) and loading
    OpenSSL costs a check of a dpkg image more than all its hashing; else from hashlib, saying
    so (usedforsecurity, Python 3.9 and RHEL 8's 3.6)."""
    if algo == "md5":
        try:
            import _md5
            return _md5.md5(data).hexdigest()
        except ImportError:     # built without it (RHEL 9's Python): hashlib has it
            pass
    import hashlib
    try:
        return hashlib.new(algo, data, usedforsecurity=False).hexdigest()  # novermin: TypeError below
    except TypeError:           # no usedforsecurity before Python 3.9
        return hashlib.new(algo, data).hexdigest()


def _rpm_verify(root, path, entry):
    """rpm -V's flags for one file against its header entry: '' when it matches, 'missing',
    else letters of S (size), 5 (digest), L (link target), M (mode)."""
    try:
        st = root.lstat(path)
    except (OSError, RootError):
        return "missing"
    mode = entry["mode"]
    flags = ""
    if mode is not None and stat.S_ISLNK(mode):
        if not stat.S_ISLNK(st.st_mode):
            return "L"
        return "" if root.readlink(path) == entry["link"] else "L"
    if stat.S_ISLNK(st.st_mode):
        # The package has a regular file here, the disk a link (the link's target is judged
        # under its own name when it is a candidate too).
        try:
            st = root.stat(path)
        except (OSError, RootError):
            return "missing"
    if mode is not None and stat.S_ISREG(mode):
        if not stat.S_ISREG(st.st_mode):
            return "5"
        if entry["size"] is not None and entry["size"] != st.st_size:
            flags += "S"
        if entry["digest"] and entry["algo"]:
            digest = file_digest(entry["algo"], root.read_bytes(path))
            if digest != entry["digest"].lower():
                flags += "5"
    if mode is not None and stat.S_IMODE(mode) != stat.S_IMODE(st.st_mode):
        flags += "M"
    return flags


def restore_argv(ctx, packages):
    """The command that puts the packages' files back (missing config files included)."""
    manager = ctx.packages.manager
    if manager == "dpkg":
        # Pinned to the installed version: unpinned, apt-get exits 0 having done nothing when
        # it cannot download the package ("Reinstallation of ... is not possible"), and it
        # upgrades instead of reinstalling when the mirror has a newer one.
        pinned = ["{}={}".format(p, ctx.packages.version(p)) if ctx.packages.version(p) else p
                  for p in packages]
        return ["apt-get", "install", "--reinstall", "-y", "-o", "Dpkg::Options::=--force-confmiss"] + pinned
    install = ctx.package_manager()
    if not install:
        return None
    tool = install["install"][0]
    if tool == "zypper":
        return ["zypper", "--non-interactive", "install", "--force"] + packages
    return [tool, "reinstall", "-y"] + packages
