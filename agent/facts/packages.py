"""Which packages the target has installed, from its own database, in one read.

Debian family: /var/lib/dpkg/status is parsed directly. RPM family: the rpm database
(sqlite, Berkeley DB or ndb) read directly by agent/facts/rpmdb.py. No process at all: an image
is untrusted input, and its own rpm must not run on the host (issue 11). Only on the
running system (--root /), where the VM's own tools are trusted, a database the reader
cannot read is asked of `rpm -qa` as before. Checks ask the resulting PackageSet, never
the package manager, so a full check costs one read however many packages it asks about.
"""
import re

from agent.core.rootfs import RootError
from agent.facts import rpmdb
from agent.parsers import LazyPattern

DPKG_STATUS = "/var/lib/dpkg/status"
RPM_DBS = ("/var/lib/rpm", "/usr/lib/sysimage/rpm")


class PackageSet(object):
    """Installed packages: name -> version. `manager` is 'dpkg', 'rpm' or None (unknown)."""

    def __init__(self, manager, versions, error="", rpm=None, interrupted=(), reason=""):
        self.manager = manager
        self.versions = dict(versions)
        self.error = error
        self.reason = reason or error   # the error without the path it is about
        self.rpm = rpm          # the RpmDb (headers with their files) on rpm systems
        # [(package, state)] of packages dpkg left mid-way (or flagged reinst-required).
        self.interrupted = list(interrupted)

    @property
    def known(self):
        return self.manager is not None and not self.error

    def __contains__(self, name):
        return name in self.versions

    def version(self, name):
        return self.versions.get(name)

    def any_of(self, names):
        """The first of `names` that is installed, or None."""
        for name in names:
            if name in self.versions:
                return name
        return None


# The three fields read, at the start of a line (continuation lines start with a blank);
# field names are case-insensitive. One search per paragraph, not a loop over every line of
# every field: the status file of a server has tens of thousands of lines. The search looks
# for a newline (a paragraph is searched with one put before it), which the regular
# expression engine finds far faster than it tries a `^` at every position.
_STATUS_FIELD = LazyPattern(r"\n(package|status|version)[ \t]*:([^\n]*)", re.I)
# dpkg states (the Status field's third word) of a package whose files are on disk; all but
# the first mean a dpkg run was interrupted.
DPKG_PRESENT = ("installed", "half-configured", "triggers-awaited", "triggers-pending", "unpacked", "half-installed")
DPKG_INTERRUPTED = DPKG_PRESENT[1:]


def dpkg_records(text):
    """[(package, Status words, version)] of the paragraphs of a dpkg status file naming a package."""
    records = []
    findall = _STATUS_FIELD.findall
    for paragraph in text.split("\n\n"):
        name = status = version = ""
        for key, value in findall("\n" + paragraph):     # the last of a field counts
            if key[0] in "pP":
                name = value
            elif key[0] in "sS":
                status = value
            else:
                version = value
        name = name.strip()
        if name:
            records.append((name, status.split(), version.strip()))
    return records


def dpkg_versions(records):
    """{package: version} of packages whose status is 'install ok installed' (or half-configured)."""
    return dict((name, version) for name, status, version in records
                if len(status) == 3 and status[2] in DPKG_PRESENT)


def dpkg_interrupted(records):
    """[(package, state)] of the packages dpkg left mid-way (or flagged reinst-required)."""
    found = []
    for name, status, _version in records:
        if len(status) != 3:
            continue
        if status[2] in DPKG_INTERRUPTED:
            found.append((name, status[2]))
        elif status[1] == "reinstreq":
            found.append((name, "reinst-required"))
    return found


def installed(root, runner):
    """PackageSet of the target root."""
    if root.exists(DPKG_STATUS):
        try:
            records = dpkg_records(root.read_text(DPKG_STATUS))
        except RootError as e:
            return PackageSet("dpkg", {}, str(e), reason=e.reason)
        return PackageSet("dpkg", dpkg_versions(records), interrupted=dpkg_interrupted(records))
    db = rpmdb.read(root)
    if db.kind is None and not any(root.isdir(path) for path in RPM_DBS):
        return PackageSet(None, {}, "no dpkg or rpm database found")
    if db.known:
        return PackageSet("rpm", dict((h.name, h.evr) for h in db.packages()), rpm=db)
    if root.is_host:
        # The running system: its own rpm is trusted and may know a format the reader does not.
        done = runner.run(["rpm", "-qa", "--qf", "%{NAME}\t%{VERSION}-%{RELEASE}\n"], timeout=120)
        if done.ok:
            versions = {}
            for line in done.stdout.splitlines():
                name, _, version = line.partition("\t")
                if name and not name.startswith("gpg-pubkey"):
                    versions[name] = version
            return PackageSet("rpm", versions, rpm=db)
    return PackageSet("rpm", {}, "rpm database unreadable: " + db.error, rpm=db)
