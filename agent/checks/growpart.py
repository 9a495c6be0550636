"""GUESTOS.OnlineResizeFS: the root partition and filesystem must grow on first boot.

An ECS system disk is usually larger than the imported image (seed 003, GUESTOS.OnlineResizeFS:
a 20 GB image on a 100 GB system disk gets a 100 GB root partition). cloud-init does it on
first boot: its `growpart` module runs the `growpart` command (seed 000: install
cloud-utils-growpart) and its `resizefs` module the root filesystem's resize tool (seed 000:
resize2fs from e2fsprogs; xfs_growfs for XFS). When one is missing the instance keeps the
image's size and the rest of the disk is unused.
"""
from agent.core.context import shell_command
from agent.core.model import Check, Message, Status, joined, things
from agent.core.rootfs import RootError
from agent.facts.cloudinit import cloud_config, installed_version, module_names
from agent.parsers import fstab

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
            return True, Message("package {name}", name=name)
    return False, ""


def root_fstype(ctx):
    """(fstype or '', source, problem): the / entry of /etc/fstab, else the live mount."""
    problem = ""
    try:
        text = ctx.root.read_config_or_none(FSTAB)
    except RootError as e:
        text, problem = None, Message("{path}: {problem}", path=FSTAB, problem=e.reason)
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


class _Verdict(object):
    """What the judging steps of one run gather: problems (code, text[, path]) and what was
    found, the hints, the packages to install and the paths involved."""

    def __init__(self):
        self.fails, self.warns, self.hints, self.found, self.missing, self.paths = [], [], [], [], [], []


class Growpart(Check):
    id = "growpart"
    title = "root partition and filesystem grow on first boot (growpart, resize tool, cloud-init modules)"
    item = "GUESTOS.OnlineResizeFS"
    repair_item = "growpart"
    refs = ("000", "003")

    def run(self, ctx):
        install = ctx.package_manager()
        # What is wrong, as (code, text[, path]): the FAILs are told first, then the WARNs.
        v = _Verdict()
        self._judge_growpart(ctx, v)
        self._judge_resize_tool(ctx, v)
        self._judge_cloud_init(ctx, v)
        fails, warns, hints, found, missing, paths = v.fails, v.warns, v.hints, v.found, v.missing, v.paths

        commands = []
        if missing:
            hints.insert(0, Message("Install {packages} so the root partition and filesystem grow to the ECS "
                                    "system disk's size (guestprep fix --items growpart runs the commands below).",
                                    packages=things(missing)))
            if install:
                if install["refresh"]:
                    commands.append(shell_command(ctx, install["refresh"]))
                commands.append(shell_command(ctx, install["install"] + missing))
        data = {"missing": missing}
        findings = [self.finding(Status.FAIL, f[0], f[1]) for f in fails]
        findings += [self.finding(Status.WARN, w[0], w[1], path=w[2] if len(w) > 2 else "") for w in warns]
        hint = joined(hints, " ") if hints else ""
        if fails:
            return self.results(findings, hint, commands=commands, paths=paths, data=data)
        if warns:
            return self.results(findings, hint, paths=paths, data=data)
        return self.passed(Message("{found}; cloud-init runs growpart and resizefs", found=joined(found)),
                           code="grows")

    def _judge_growpart(self, ctx, v):
        """growpart itself (it grows the root partition)."""
        present, evidence = tool_present(ctx, "growpart", GROWPART_ANY)
        if present:
            v.found.append(Message("growpart ({evidence})", evidence=evidence))
        else:
            package = GROWPART_PACKAGES.get(ctx.os.family, "cloud-utils-growpart")
            v.fails.append(("no-growpart", Message("growpart is not installed")))
            v.missing.append(package)

    def _judge_resize_tool(self, ctx, v):
        """The tool that grows the root filesystem, by its type."""
        fstype, fs_source, fs_problem = root_fstype(ctx)
        if fs_problem:
            v.warns.append(("fstype-unreadable", Message("cannot read the root filesystem type: {problem}",
                                                         problem=fs_problem)))
        if fstype in RESIZE_TOOLS:
            tool, packages = RESIZE_TOOLS[fstype]
            present, evidence = tool_present(ctx, tool, TOOL_PACKAGES[tool])
            if present:
                v.found.append(Message("{tool} for the {fstype} root ({evidence})", tool=tool, fstype=fstype,
                                       evidence=evidence))
            else:
                v.fails.append(("no-resize-tool", Message(
                    "{tool} is missing; the {fstype} root filesystem (per {source}) cannot grow", tool=tool,
                    fstype=fstype, source=fs_source)))
                v.missing.append(packages.get(ctx.os.family, packages["rhel"]))
        elif fstype:
            v.warns.append(("fstype-unsupported", Message(
                "root filesystem {fstype} (per {source}) has no resize tool guestprep knows; ECS expects ext3, ext4 "
                "or xfs", fstype=fstype, source=fs_source)))
            v.hints.append(Message("Use an ext4 or xfs root filesystem for an ECS image."))
        else:
            # No / entry (a debootstrap root, say): any tool that cloud-init's resizefs runs will do.
            tools = [(t, tool_present(ctx, t, TOOL_PACKAGES[t])) for t in ("resize2fs", "xfs_growfs")]
            have = [t for t, (ok, _e) in tools if ok]
            if have:
                v.found.append(Message("{tools} (root filesystem type unknown: no / entry in {fstab})",
                                       tools=", ".join(have), fstab=FSTAB))
            else:
                v.fails.append(("no-resize-tools", Message(
                    "no resize2fs or xfs_growfs (root filesystem type unknown: no / entry in {fstab})", fstab=FSTAB)))
                v.missing.append("e2fsprogs")

    def _judge_cloud_init(self, ctx, v):
        """cloud-init, which runs growpart and resizefs on first boot, with both modules on."""
        installed, _version, _where = installed_version(ctx)
        if not installed:
            v.warns.append(("no-cloud-init", Message(
                "cloud-init is not installed, so nothing grows the root partition on first boot")))
            v.hints.append(Message("Install cloud-init (see GUESTOS.CloudInit: guestprep fix --items cloudinit)."))
        else:
            config = cloud_config(ctx)
            if config.problems:
                v.warns.append(("config-unreadable", Message("cloud-init configuration unreadable: {problems}",
                                                             problems=config.problem_text())))
                v.paths.extend(p for p, _r in config.problems)
            if not config.exists:
                v.warns.append(("no-cloud-cfg", Message(
                    "cloud-init is installed but /etc/cloud/cloud.cfg is missing")))
                v.hints.append(Message("Reinstall cloud-init to restore /etc/cloud/cloud.cfg."))
            else:
                enabled = module_names(config.get("cloud_init_modules"))
                absent = [m for m in MODULES if m not in enabled]
                origin = config.origin.get("cloud_init_modules", "/etc/cloud/cloud.cfg")
                if absent:
                    v.warns.append(("modules-missing", Message(
                        "cloud-init module(s) {modules} not in cloud_init_modules of {path}",
                        modules=", ".join(absent), path=origin), origin))
                    v.paths.append(origin)
                    v.hints.append(Message(
                        "Add them back to cloud_init_modules in {path} (after write_files):\n{lines}",
                        path=origin, lines="\n".join(" - {}".format(m) for m in absent)))
                grow = config.get("growpart")
                if isinstance(grow, dict) and grow.get("mode") in (False, "off", "false"):
                    where = config.origin.get("growpart")
                    v.warns.append(("growpart-off", Message("growpart is turned off (growpart: mode: off) in {path}",
                                                            path=where), where))
                    v.paths.append(where)
                    v.hints.append(Message("Remove `growpart: mode: off` from {path} (the default mode is auto).",
                                           path=where))
                if config.get("resize_rootfs") in (False, "false", "off", "no"):
                    where = config.origin.get("resize_rootfs")
                    v.warns.append(("resize-rootfs-off", Message("resize_rootfs: false in {path}", path=where), where))
                    v.paths.append(where)
                    v.hints.append(Message("Remove `resize_rootfs: false` from {path}.", path=where))
