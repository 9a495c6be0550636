"""GUESTOS.Grub: the boot loader configuration names things that exist on ECS.

Seed 003 (image check, GUESTOS.Grub): a GRUB configuration with a device error, a missing
device or an invalid UUID makes the instance fail to boot. On ECS the system disk is a
virtio (`vda`) or NVMe (`nvme0n1`) disk, so `root=/dev/sda1` from the old hypervisor names
nothing; `root=UUID=` and `search --fs-uuid` do, provided the UUID is the one of the disk
being captured. A menu entry whose kernel or initramfs was removed from /boot fails the
same way when it is the default. GRUB older than 1.99 (GRUB legacy 0.9x) is flagged as the
catalogue asks. Seeds 000 and 002 warn that a carelessly edited /boot/grub/menu.lst stops
the instance booting, so guestprep only proposes changes here (applied when named).

On a mounted image (--root) root= is judged the same way; the UUID to replace a kernel
name with is the one of the filesystem mounted at the root (agent.facts.disks.image_root), and
the hints name only the GRUB tools the image has (update-grub, grub2-mkconfig,
grub-mkconfig, grubby).

Read: GRUB 2 grub.cfg (/boot/grub, /boot/grub2, the EFI system partition), GRUB legacy
menu.lst/grub.conf, Boot Loader Spec entries (/boot/loader/entries, RHEL 8+), the
GRUB_CMDLINE_LINUX* lines of /etc/default/grub and RHEL 8's `kernelopts` in grubenv.
"""
import re

from agent.core.model import Check, Message, Status, joined
from agent.core.rootfs import RootError
from agent.facts import boot, disks, versions
from agent.facts.boot import DEFAULT_GRUB
from agent.parsers import bootcfg, keyvalue
from agent.parsers import fstab as fstab_parser
from agent.tuples import namedtuple

GRUB_PACKAGES = ("grub", "grub2", "grub-pc", "grub2-common", "grub-common", "grub-legacy")
MIN_GRUB = (1, 99)


class Problem(namedtuple("Problem", (
    "status",                 # str
    "kind",                   # str: devname, missing, uuid, old, unreadable, disable-uuid
    "text",                   # str: a Message
    "path",                   # str
    "device",                 # str
    "lineno",                 # int
), path="", device="", lineno=0)):
    """What analyse() found; `kind` is the finding code's slug."""

    __slots__ = ()


def _where(path, lineno):
    return Message("{path} line {line}", path=path, line=lineno) if lineno else path


def _boot_path(ctx, path):
    """The guest path of a file GRUB names, or None when it cannot be judged ($var, (dev))."""
    path = re.sub(r"^\([^)]*\)", "", path or "")
    if not path.startswith("/") or "$" in path:
        return None
    # GRUB names files on the filesystem it boots from: with /boot its own partition,
    # /vmlinuz-x is /boot/vmlinuz-x seen from the root.
    for candidate in (path, "/boot" + path):
        if ctx.root.exists(candidate):
            return candidate
    return ""


def _resolver(ctx):
    if ctx.live is None:
        return None, "UUIDs were not resolved (the image is not running)"
    if not ctx.root.isdir("/dev/disk"):
        return None, "UUIDs were not resolved (/dev/disk does not exist)"
    return ctx.live, ""


def _args_findings(ctx, path, lineno, args, resolver, findings, roots):
    root = bootcfg.arg_value(args, "root")
    if root is None:
        return
    where = _where(path, lineno)
    if fstab_parser.is_kernel_device_name(root):
        findings.append(Problem(Status.FAIL, "devname", Message("{where}: root={root} is a kernel device name",
                                                                where=where, root=root), path, root, lineno))
        roots.append({"path": path, "lineno": lineno, "device": root})
    elif root.upper().startswith(("UUID=", "PARTUUID=")) and resolver is not None:
        if resolver.device_for(root) is None:
            findings.append(Problem(Status.FAIL, "uuid", Message("{where}: root={root} names no filesystem here",
                                                                 where=where, root=root), path, root, lineno))


def analyse(ctx):
    """(findings, data) for the check and its fix."""
    findings, roots = [], []
    resolver, unresolved = _resolver(ctx)
    configs = boot.boot_configs(ctx)
    data = {"roots": roots, "default_grub": [], "disable_uuid": False, "unresolved": unresolved,
            "bls": any(c.kind == "bls" for c in configs), "kernelopts": ""}

    try:
        default_text = ctx.root.read_config_or_none(DEFAULT_GRUB)
    except RootError as e:
        default_text = None
        findings.append(Problem(Status.WARN, "unreadable", Message("{path}: {problem}", path=DEFAULT_GRUB,
                                                                   problem=e.reason), DEFAULT_GRUB))
    if default_text is not None:
        values, _problems = keyvalue.parse(default_text)
        for key, args in sorted(bootcfg.default_grub(default_text).items()):
            root = bootcfg.arg_value(args, "root")
            if root and fstab_parser.is_kernel_device_name(root):
                findings.append(Problem(Status.FAIL, "devname", Message("{path}: {key} has root={root}",
                                                                        path=DEFAULT_GRUB, key=key, root=root),
                                        DEFAULT_GRUB, root))
                data["default_grub"].append({"key": key, "device": root})
        if (keyvalue.get(values, "GRUB_DISABLE_LINUX_UUID") or "").strip().lower() == "true":
            data["disable_uuid"] = True
            findings.append(Problem(Status.WARN, "disable-uuid", Message(
                "{path}: GRUB_DISABLE_LINUX_UUID=true makes grub-mkconfig write root=/dev/... instead of root=UUID=",
                path=DEFAULT_GRUB), DEFAULT_GRUB))

    env_path, env = boot.grubenv(ctx)
    if env.get("kernelopts"):
        data["kernelopts"] = env_path
        _args_findings(ctx, env_path, 0, tuple(bootcfg.split_words(env["kernelopts"])), resolver, findings, roots)

    for config in configs:
        if config.problem:
            findings.append(Problem(Status.WARN, "unreadable", Message("{path}: {problem}", path=config.path,
                                                                       problem=config.problem), config.path))
            continue
        for entry in config.entries:
            line = entry.kernel
            if line is None:
                continue
            _args_findings(ctx, config.path, line.lineno, line.args, resolver, findings, roots)
            at = line.lineno
            if config.kind == "bls":   # the options line carries the arguments, 'linux' the file
                at = (bootcfg.bls_fields(config.text).get("linux") or [(line.lineno, "")])[0][0]
            files = ([(at, line.kernel, "kernel")] if line.kernel else []) + \
                [(lineno, path, "initramfs") for lineno, path in entry.initrds]
            for lineno, path, what in files:
                if _boot_path(ctx, path) == "":
                    findings.append(Problem(Status.FAIL, "missing", _missing(_where(config.path, lineno), what, path,
                                                                             entry.title),
                                            config.path, "", lineno))
        if config.kind == "grub2" and resolver is not None:
            for lineno, uuid in bootcfg.search_uuids(config.text):
                if resolver.device_for("UUID=" + uuid) is None:
                    findings.append(Problem(Status.FAIL, "uuid", Message(
                        "{where}: search for filesystem UUID {uuid} finds nothing here",
                        where=_where(config.path, lineno), uuid=uuid), config.path, "", lineno))

    for name in GRUB_PACKAGES:
        version = ctx.packages.version(name)
        if version and versions.numeric_version(version) and not versions.at_least(version, MIN_GRUB):
            findings.append(Problem(Status.FAIL, "old", Message("package {name} {version} is older than GRUB 1.99",
                                                                name=name, version=version)))
            break
    return findings, data


def _missing(where, what, path, title):
    """The text of a kernel or initramfs a boot entry names that /boot does not have."""
    if what == "kernel" and title:
        return Message("{where}: kernel {file} does not exist in /boot (entry '{title}')", where=where, file=path,
                       title=title)
    if what == "kernel":
        return Message("{where}: kernel {file} does not exist in /boot", where=where, file=path)
    if title:
        return Message("{where}: initramfs {file} does not exist in /boot (entry '{title}')", where=where,
                       file=path, title=title)
    return Message("{where}: initramfs {file} does not exist in /boot", where=where, file=path)


def offline_uuid(ctx):
    """(UUID of the image's root filesystem, why not) on a mounted image: root= names the root
    filesystem, which is the one mounted at --root."""
    image = disks.image_root(ctx)
    return (image["uuid"], "") if image.get("known") else (None, image.get("why", ""))


def _hint(ctx, kinds, data):
    regen = boot.regen_command(ctx)
    regen_text = ctx.in_guest(" ".join(regen)) if regen else ""
    tools = boot.grub_tools(ctx)
    hints, commands = [], []
    if "devname" in kinds or "disable-uuid" in kinds:
        hints.append(Message("Name the root filesystem by UUID (root=UUID=..., `blkid` shows it): on ECS the "
                             "system disk is vda or nvme0n1, so /dev/sdX names nothing."))
        uuid, why = offline_uuid(ctx) if ctx.offline else (None, "")
        if ctx.offline and uuid:
            fields = dict(uuid=uuid, root=ctx.root.path, device=disks.image_root(ctx)["device"])
            if data.get("disable_uuid"):
                hints.append(Message("`guestprep fix --items grub` writes root=UUID={uuid} (the filesystem mounted at "
                                     "{root}, {device}) into every file above and sets GRUB_DISABLE_LINUX_UUID=false "
                                     "in {path}, as file edits `guestprep rollback` undoes; nothing needs "
                                     "regenerating.", path=DEFAULT_GRUB, **fields))
            else:
                hints.append(Message("`guestprep fix --items grub` writes root=UUID={uuid} (the filesystem mounted at "
                                     "{root}, {device}) into every file above, as file edits `guestprep rollback` "
                                     "undoes; nothing needs regenerating.", **fields))
        elif ctx.offline:
            devices = sorted(set([r["device"] for r in data.get("roots", [])]
                                 + [d["device"] for d in data.get("default_grub", [])]))
            hints.append(Message("guestprep cannot read the UUID of the image's root filesystem: {why}. Mount the "
                                 "image's root partition there (`losetup -fP --show IMAGE`, then `mount "
                                 "/dev/loopNpM {root}`) and run `guestprep fix --root {root} --items grub` again, or "
                                 "put the UUID blkid prints for that partition in place of the device name by hand.",
                                 why=why, root=ctx.root.path))
            commands.append("blkid -s UUID -o value /dev/loopNpM")
            files = sorted(set([r["path"] for r in data.get("roots", []) if r.get("lineno")]
                               + ([DEFAULT_GRUB] if data.get("default_grub") else [])))
            for device in devices:
                if files:
                    commands.append("sed -i 's|root={}\\b|root=UUID=<uuid>|g' {}".format(
                        device, " ".join(ctx.root.display(f) for f in files)))
            if data.get("disable_uuid") or data.get("default_grub"):
                commands.append("sed -i 's|^GRUB_DISABLE_LINUX_UUID=.*|GRUB_DISABLE_LINUX_UUID=false|' "
                                + ctx.root.display(DEFAULT_GRUB))
        else:
            if data.get("bls") and (not tools or "grubby" in tools):
                hints.append(Message("On Boot Loader Spec systems grubby changes every entry."))
                commands.append(ctx.in_guest("grubby --update-kernel=ALL --args=root=UUID=<uuid of />"))
            hints.append(Message("`guestprep fix --items grub` sets it in {path} (or the GRUB legacy file) and "
                                 "regenerates the configuration.", path=DEFAULT_GRUB))
        if ctx.offline and kinds <= {"devname", "disable-uuid"}:
            # From a chroot into a mounted image grub-mkconfig finds no device for its /.
            regen_text = ""
    if "missing" in kinds:
        hints.append(Message("Reinstall the kernel the entry names, or regenerate the configuration so that it "
                             "lists only installed kernels."))
    if "uuid" in kinds:
        hints.append(Message("A UUID that resolves to nothing stops GRUB or the initramfs: regenerate the "
                             "configuration on the system being captured, after any change to its filesystems."))
    if "old" in kinds:
        hints.append(Message("Upgrade the boot loader to GRUB 2 (1.99 or later) before capturing the image."))
    if "unreadable" in kinds:
        hints.append(Message("Repair or restore the unreadable boot configuration file named above."))
    if regen_text and kinds & {"devname", "disable-uuid", "missing", "uuid"}:
        commands.append(regen_text)
    return joined(hints, " "), commands


def _grouped(findings):
    """Finding texts, with one line for a device name repeated over a file's entries."""
    shown, lines = [], {}
    for f in findings:
        if f.kind == "devname" and f.lineno:
            key = (f.path, f.device)
            if key not in lines:
                lines[key] = []
                shown.append(key)
            lines[key].append(str(f.lineno))
        else:
            shown.append(f.text)
    return [(Message("{path} lines {lines}: root={root} is a kernel device name", path=item[0],
                     lines=", ".join(lines[item]), root=item[1]) if len(lines[item]) > 1 else
             Message("{path} line {lines}: root={root} is a kernel device name", path=item[0],
                     lines=lines[item][0], root=item[1]))
            if isinstance(item, tuple) else item for item in shown]


class Grub(Check):
    id = "grub"
    title = "boot loader configuration resolves"
    item = "GUESTOS.Grub"
    repair_item = "grub"
    refs = ("000", "002", "003")

    def run(self, ctx):
        configs = boot.boot_configs(ctx)
        if not configs:
            separate = any((e.mountpoint.rstrip("/") == "/boot") for e in disks.fstab_entries(ctx))
            if separate and ctx.offline and not ctx.root.listdir("/boot"):
                return self.result(
                    Status.WARN, Message("/boot is empty: /etc/fstab puts /boot on its own partition, which is not "
                                         "mounted under the root"),
                    Message("Mount the image's /boot partition at {path} and check again.",
                            path=ctx.root.display("/boot")), paths=["/boot"], code="boot-not-mounted")
            # The distribution's own command, not a list of every distribution's.
            regen = boot.regen_command(ctx)
            tool = " ".join(regen) if regen else "grub-mkconfig -o /boot/grub/grub.cfg"
            if ctx.offline:
                # Typed on the host it would rewrite the host's boot loader; chrooted into a
                # mounted image, grub-probe finds no device for its /.
                hint = Message("An ECS instance starts the boot loader inside the image: install GRUB 2 "
                               "(GUESTOS.BootMode names the packages) and generate its configuration with `{tool}` "
                               "before capturing. Run it on the VM itself: from a chroot into a mounted image, "
                               "grub-mkconfig cannot find the disk.", tool=tool)
            else:
                hint = Message("An ECS instance starts the boot loader inside the image: install GRUB 2 "
                               "(GUESTOS.BootMode names the packages) and generate its configuration with `{tool}` "
                               "before capturing.", tool=tool)
            return self.result(
                Status.WARN, Message("no GRUB configuration found (/boot/grub*/grub.cfg, menu.lst, "
                                     "/boot/loader/entries)"),
                hint, commands=[] if ctx.offline else [tool], code="no-config")
        findings, data = analyse(ctx)
        names = ", ".join(c.path for c in configs)
        if not findings:
            if data["unresolved"]:
                text = Message("{configs}: root= by UUID or LABEL, every kernel and initramfs present ({note})",
                               configs=names, note=data["unresolved"])
            else:
                text = Message("{configs}: root= by UUID or LABEL, every kernel and initramfs present", configs=names)
            return self.passed(text, paths=[c.path for c in configs], data=data, code="resolves")
        kinds = set(f.kind for f in findings)
        hint, commands = _hint(ctx, kinds, data)
        paths = sorted(set(f.path for f in findings if f.path))
        result = self.results([self.finding(f.status, f.kind, f.text, path=f.path, line=f.lineno) for f in findings],
                              hint, commands=commands, paths=paths, data=data)
        # Every finding is kept (with its file and line); the summary groups a device name
        # repeated over a file's entries into one line and shows the first four.
        shown = _grouped(findings)
        if len(shown) > 4:
            shown = shown[:4] + [Message("and {count} more", count=len(shown) - 4)]
        return result._replace(summary=joined(shown))
