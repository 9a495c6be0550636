"""Which services the target starts at boot: systemd units and SysV init scripts.

The one place that knows where unit files live (UNIT_DIRS, in systemd's search order)
and what makes a unit start at boot. systemd starts a unit that some *.wants or
*.requires directory links to: `systemctl enable` puts those links (and any Alias=
names) under /etc/systemd/system, a package may ship static ones under /usr/lib; a link
to /dev/null in /etc/systemd/system masks the unit whatever else says. SysV init
starts a script that an S link in /etc/rcN.d (or Red Hat's /etc/rc.d/rcN.d) names.
Everything is read through ctx.root; nothing is asked of the image's systemctl.
"""
import fnmatch

from agent.core.rootfs import RootError

SYSTEMD_ETC = "/etc/systemd/system"
# systemd's search order (the first file found is the one loaded); /lib is /usr/lib's
# twin on systems whose /usr is not merged.
UNIT_DIRS = (SYSTEMD_ETC, "/usr/local/lib/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system")
SYSV_DIRS = ("/etc/rc{}.d", "/etc/rc.d/rc{}.d")
RUNLEVELS = "0123456S"


def _matcher(units):
    if callable(units):
        return units
    names = (units,) if isinstance(units, str) else tuple(units)
    return lambda name: name in names


def unit_installed(root, unit):
    """True when some unit directory holds `unit` (a file or a link)."""
    return any(root.lexists(d + "/" + unit) for d in UNIT_DIRS)


def masked(root, unit):
    """True when /etc/systemd/system/<unit> links to /dev/null."""
    path = SYSTEMD_ETC + "/" + unit
    try:
        return root.islink(path) and root.readlink(path) == "/dev/null"
    except (OSError, RootError):
        return False


def unit_file(root, unit):
    """The unit file systemd loads for `unit` ('' when none, or when masked)."""
    if masked(root, unit):
        return ""
    for directory in UNIT_DIRS:
        if root.isfile(directory + "/" + unit):
            return directory + "/" + unit
    return ""


def sysv_links(root, names):
    """The S links that start the init script `names` (a name or names) in some runlevel.
    Each runlevel directory is listed once, whatever the number of names."""
    listings = {}
    links = []
    for name in (names,) if isinstance(names, str) else names:
        for level in RUNLEVELS:
            for pattern in SYSV_DIRS:
                directory = pattern.format(level)
                if directory not in listings:
                    listings[directory] = root.listdir(directory)
                links.extend(directory + "/" + n for n in fnmatch.filter(listings[directory], "S??" + name))
    return links


def enabled_links(root, units, sysv_names=(), vendor=False, aliases=True):
    """Guest paths that start `units` (a name, names, or a predicate on a unit name) at boot.

    Links in the *.wants and *.requires directories of /etc/systemd/system (of every
    UNIT_DIRS with `vendor`: a package's static links count too), with `aliases` the
    names in /etc/systemd/system that link to a .service (what `systemctl enable`
    creates for Alias= and `systemctl disable` removes), and the SysV S links of
    `sysv_names`. A file reached by two names (/lib and /usr/lib as one directory,
    /etc/rc3.d a link to /etc/rc.d/rc3.d) is named once.
    """
    wanted = _matcher(units)
    links, seen = [], set()

    def add(path):
        try:
            host = root.resolve(path, follow=False)
        except RootError:
            host = path
        if host not in seen:
            seen.add(host)
            links.append(path)

    # Each directory is listed once (this is asked for every unit of every check).
    listings = dict((d, root.listdir(d)) for d in (UNIT_DIRS if vendor else (SYSTEMD_ETC,)))
    for directory, listing in listings.items():
        for kind in (".wants", ".requires"):
            for sub in [directory + "/" + n for n in listing if n.endswith(kind)]:
                for name in root.listdir(sub):
                    if wanted(name):
                        add(sub + "/" + name)
    if aliases:
        for name in listings[SYSTEMD_ETC]:
            path = SYSTEMD_ETC + "/" + name
            if wanted(name) or not root.islink(path):
                continue
            try:
                target = root.readlink(path)
            except (OSError, RootError):
                continue
            target = target.rstrip("/").rsplit("/", 1)[-1]
            if target.endswith(".service") and wanted(target):
                add(path)
    for path in sysv_links(root, sysv_names):
        add(path)
    return links


def unit_enabled(root, unit):
    """True when some *.wants or *.requires directory (of /etc or a package) links to `unit`."""
    return bool(enabled_links(root, unit, vendor=True, aliases=False))
