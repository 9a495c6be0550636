"""GUESTOS.OnlineResizeFS: the root partition and filesystem must grow on first boot.

An ECS system disk is usually larger than the imported image (seed 003, GUESTOS.OnlineResizeFS:
a 20 GB image on a 100 GB system disk gets a 100 GB root partition). cloud-init does it on
first boot: its `growpart` module runs the `growpart` command (seed 000: install
cloud-utils-growpart) and its `resizefs` module the root filesystem's resize tool (seed 000:
resize2fs from e2fsprogs; xfs_growfs for XFS). When one is missing the instance keeps the
image's size and the rest of the disk is unused.
"""
from agent.core.context import shell_command
from agent.facts.cloudinit import cloud_config, installed_version, module_names
from agent.core.model import Check, Status
from agent.parsers import fstab
from agent.core.rootfs import RootError

FSTAB = "/etc/fstab"
GROWPART_PACKAGES = {"debian": "cloud-guest-utils", "rhel": "cloud-utils-growpart", "suse": "growpart"}
# Any of these provides /usr/bin/growpart (cloud-utils did before Debian and Ubuntu split it).
GROWPART_ANY = ("cloud-guest-utils", "cloud-utils-growpart", "growpart", "cloud-utils")
BIN_DIRS = ("/usr/bin", "/bin", "/usr/sbin", "/sbin")
GROWPART_FILES = tuple(d + "/growpart" for d in BIN_DIRS)
# root fs type -> (tool, package by family)
RESIZE_TOOLS = {
    "ext2": ("resize2fs", {"debian": "e2fsprogs", "rhel": "e2fsprogs", "suse": "e2fsprogs"}),
    "ext3": ("resize2fs", {"debian": "e2fsprogs", "rhel": "e2fsprogs", "suse": "e2fsprogs"}),
    "ext4": ("resize2fs", {"debian": "e2fsprogs", "rhel": "e2fsprogs", "suse": "e2fsprogs"}),
    "xfs": ("xfs_growfs", {"debian": "xfsprogs", "rhel": "xfsprogs", "suse": "xfsprogs"}),
    "btrfs": ("btrfs", {"debian": "btrfs-progs", "rhel": "btrfs-progs", "suse": "btrfsprogs"}),
}
TOOL_PACKAGES = {"resize2fs": ("e2fsprogs",), "xfs_growfs": ("xfsprogs",), "btrfs": ("btrfs-progs", "btrfsprogs")}
MODULES = ("growpart", "resizefs")


def tool_present(ctx, tool, packages):
    """(present, evidence): a file in the usual bin directories, or an installed package."""
    for directory in BIN_DIRS:
        path = directory + "/" + tool
        if ctx.root.exists(path):
            return True, path
    if ctx.packages.known:
        name = ctx.packages.any_of(packages)
        if name:
            return True, "package " + name
    return False, ""


def root_fstype(ctx):
    """(fstype or '', source, problem): the / entry of /etc/fstab, else the live mount."""
    problem = ""
    try:
        text = ctx.root.read_config_or_none(FSTAB)
    except RootError as e:
        text, problem = None, "{}: {}".format(FSTAB, e.reason)
    if text:
        entries, _problems = fstab.parse(text)
        roots = [e for e in entries if e.mountpoint == "/" and e.fstype not in ("auto", "none", "")]
        if roots:
            return roots[-1].fstype, FSTAB, problem
    if ctx.live is not None:
        for _device, mountpoint, fstype, _opts in ctx.live.mounts():
            if mountpoint == "/" and fstype not in ("rootfs", "overlay", ""):
                return fstype, "the running system's mounts", problem
    return "", "", problem


class Growpart(Check):
    id = "growpart"
    title = "root partition and filesystem grow on first boot (growpart, resize tool, cloud-init modules)"
    item = "GUESTOS.OnlineResizeFS"
    repair_item = "growpart"

    def run(self, ctx):
        family = ctx.os.family
        install = ctx.package_manager()
        fails, warns, hints, found, missing = [], [], [], [], []

        present, evidence = tool_present(ctx, "growpart", GROWPART_ANY)
        if present:
            found.append("growpart ({})".format(evidence))
        else:
            package = GROWPART_PACKAGES.get(family, "cloud-utils-growpart")
            fails.append("growpart is not installed")
            missing.append(package)

        fstype, fs_source, fs_problem = root_fstype(ctx)
        if fs_problem:
            warns.append("cannot read the root filesystem type: " + fs_problem)
        if fstype in RESIZE_TOOLS:
            tool, packages = RESIZE_TOOLS[fstype]
            present, evidence = tool_present(ctx, tool, TOOL_PACKAGES[tool])
            if present:
                found.append("{} for the {} root ({})".format(tool, fstype, evidence))
            else:
                fails.append("{} is missing; the {} root filesystem (per {}) cannot grow".format(tool, fstype, fs_source))
                missing.append(packages.get(family, packages["rhel"]))
        elif fstype:
            warns.append("root filesystem {} (per {}) has no resize tool guestprep knows; ECS expects "
                         "ext3, ext4 or xfs".format(fstype, fs_source))
            hints.append("Use an ext4 or xfs root filesystem for an ECS image.")
        else:
            # No / entry (a debootstrap root, say): any tool that cloud-init's resizefs runs will do.
            tools = [(t, tool_present(ctx, t, TOOL_PACKAGES[t])) for t in ("resize2fs", "xfs_growfs")]
            have = [t for t, (ok, _e) in tools if ok]
            if have:
                found.append("{} (root filesystem type unknown: no / entry in {})".format(", ".join(have), FSTAB))
            else:
                fails.append("no resize2fs or xfs_growfs (root filesystem type unknown: no / entry in {})".format(FSTAB))
                missing.append("e2fsprogs")

        installed, _version, _where = installed_version(ctx)
        paths = []
        if not installed:
            warns.append("cloud-init is not installed, so nothing grows the root partition on first boot")
            hints.append("Install cloud-init (see GUESTOS.CloudInit: guestprep fix --items cloudinit).")
        else:
            config = cloud_config(ctx)
            if config.problems:
                warns.append("cloud-init configuration unreadable: " + config.problem_text())
                paths.extend(p for p, _r in config.problems)
            if not config.exists:
                warns.append("cloud-init is installed but /etc/cloud/cloud.cfg is missing")
                hints.append("Reinstall cloud-init to restore /etc/cloud/cloud.cfg.")
            else:
                enabled = module_names(config.get("cloud_init_modules"))
                absent = [m for m in MODULES if m not in enabled]
                origin = config.origin.get("cloud_init_modules", "/etc/cloud/cloud.cfg")
                if absent:
                    warns.append("cloud-init module(s) {} not in cloud_init_modules of {}".format(", ".join(absent), origin))
                    paths.append(origin)
                    hints.append("Add them back to cloud_init_modules in {} (after write_files):\n{}".format(
                        origin, "".join(" - {}\n".format(m) for m in absent).rstrip("\n")))
                grow = config.get("growpart")
                if isinstance(grow, dict) and grow.get("mode") in (False, "off", "false"):
                    where = config.origin.get("growpart")
                    warns.append("growpart is turned off (growpart: mode: off) in {}".format(where))
                    paths.append(where)
                    hints.append("Remove `growpart: mode: off` from {} (the default mode is auto).".format(where))
                if config.get("resize_rootfs") in (False, "false", "off", "no"):
                    where = config.origin.get("resize_rootfs")
                    warns.append("resize_rootfs: false in {}".format(where))
                    paths.append(where)
                    hints.append("Remove `resize_rootfs: false` from {}.".format(where))

        commands = []
        if missing:
            hints.insert(0, "Install {} so the root partition and filesystem grow to the ECS system "
                            "disk's size (guestprep fix --items growpart runs the commands below)."
                         .format(" and ".join(missing)))
            if install:
                if install["refresh"]:
                    commands.append(shell_command(ctx, install["refresh"]))
                commands.append(shell_command(ctx, install["install"] + missing))
        data = {"missing": missing}
        if fails:
            return self.failed("; ".join(fails + warns), " ".join(hints), commands=commands,
                               paths=paths, data=data)
        if warns:
            return self.result(Status.WARN, "; ".join(warns), " ".join(hints), paths=paths, data=data)
        return self.passed("; ".join(found) + "; cloud-init runs growpart and resizefs")
