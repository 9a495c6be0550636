"""How the target builds its initramfs: which tool (initramfs-tools or dracut), which files
configure it, whether it builds host-only images, and the command that rebuilds them.

(The images' contents are agent.facts.initramfs's to read; the kernels they belong to,
agent.facts.kernels'.)
"""

from agent.core.rootfs import RootError
from agent.parsers import LazyPattern, keyvalue

MKINITRAMFS = ("/usr/sbin/mkinitramfs", "/sbin/mkinitramfs", "/usr/sbin/update-initramfs")
DRACUT = ("/usr/bin/dracut", "/usr/sbin/dracut", "/sbin/dracut")


def initramfs_tool(ctx):
    """'initramfs-tools', 'dracut' or None: how the target builds its initramfs images."""
    root = ctx.root
    if any(root.exists(p) for p in MKINITRAMFS):
        return "initramfs-tools"
    if any(root.exists(p) for p in DRACUT):
        return "dracut"
    return None


def rebuild_commands(ctx):
    """What a person types to rebuild every image, for the target's tool."""
    tool = initramfs_tool(ctx)
    if tool == "initramfs-tools":
        return [ctx.in_guest("update-initramfs -u -k all")]
    if tool == "dracut":
        return [ctx.in_guest("dracut -f --regenerate-all")]
    return []


# -- how the initramfs tool picks drivers ------------------------------------------------
#
# initramfs-tools with MODULES=dep and dracut with hostonly="yes" put into the image only the
# drivers of the machine the rebuild runs on: on the old hypervisor (vmw_pvscsi, hv_storvsc)
# or on the helper machine that has the disk mounted, never ECS's virtio or NVMe drivers.
# mkinitramfs sources initramfs.conf, then conf.d/* in name order; dracut sources
# dracut.conf, then the *.conf files of /etc/dracut.conf.d and /usr/lib/dracut/dracut.conf.d
# merged by name (a name in /etc hides the one in /usr/lib). The last assignment wins.

INITRAMFS_TOOLS_CONF = "/etc/initramfs-tools/initramfs.conf"
INITRAMFS_TOOLS_CONF_D = "/etc/initramfs-tools/conf.d"
DRACUT_CONF = "/etc/dracut.conf"
DRACUT_CONF_DIRS = ("/etc/dracut.conf.d", "/usr/lib/dracut/dracut.conf.d")
_MKINITRAMFS_CONF_NAME = LazyPattern(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def _last_assignment(ctx, paths, key):
    """(value, path, lineno) of the last assignment of `key` over the shell files `paths`."""
    found = (None, None, 0)
    for path in paths:
        try:
            text = ctx.root.read_config_or_none(path)
        except RootError:
            continue
        if text is None:
            continue
        for assignment in keyvalue.parse(text)[0]:
            if assignment.key == key:
                found = (assignment.value.strip(), path, assignment.lineno)
    return found


def initramfs_tools_conf_files(ctx, extra=None):
    """The files mkinitramfs reads its settings from, in order (with `extra`, a conf.d file
    that is about to be written)."""
    names = set(n for n in ctx.root.listdir(INITRAMFS_TOOLS_CONF_D)
                if _MKINITRAMFS_CONF_NAME.match(n) and ".dpkg-" not in n)
    if extra:
        names.add(extra.rsplit("/", 1)[1])
    return [INITRAMFS_TOOLS_CONF] + [INITRAMFS_TOOLS_CONF_D + "/" + n for n in sorted(names)]


def dracut_conf_files(ctx, extra=None):
    """The files dracut reads its settings from, in order (with `extra`, an /etc/dracut.conf.d
    file that is about to be written)."""
    by_name = {}
    for directory in reversed(DRACUT_CONF_DIRS):     # /etc last: it hides /usr/lib
        for name in ctx.root.listdir(directory):
            if name.endswith(".conf"):
                by_name[name] = directory + "/" + name
    if extra:
        by_name[extra.rsplit("/", 1)[1]] = extra
    return [DRACUT_CONF] + [by_name[n] for n in sorted(by_name)]


def initramfs_hostonly(ctx, tool):
    """How `tool` ('initramfs-tools' or 'dracut') picks drivers in the target.

    {'hostonly': bool, 'setting': 'MODULES=dep', 'path', 'lineno', 'explicit': bool (set in
    /etc by an administrator, not a distribution default under /usr/lib)}.
    """
    def compute():
        if tool == "initramfs-tools":
            value, path, lineno = _last_assignment(ctx, initramfs_tools_conf_files(ctx), "MODULES")
            value = value or "most"
            return {"hostonly": value == "dep", "setting": "MODULES=" + value, "path": path,
                    "lineno": lineno, "explicit": path is not None}
        if tool == "dracut":
            value, path, lineno = _last_assignment(ctx, dracut_conf_files(ctx), "hostonly")
            # Upstream dracut builds generic images unless told otherwise; Fedora, RHEL and
            # SUSE turn host-only on in /usr/lib/dracut/dracut.conf.d/01-dist.conf.
            value = value or "no"
            return {"hostonly": value == "yes", "setting": 'hostonly="{}"'.format(value), "path": path,
                    "lineno": lineno, "explicit": bool(path) and path.startswith("/etc/")}
        return {"hostonly": False, "setting": "", "path": None, "lineno": 0, "explicit": False}
    return ctx.fact("initramfs_hostonly:" + str(tool), compute)