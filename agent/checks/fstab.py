"""GUESTOS.Fstab: /etc/fstab mounts only the system disk, by names that survive the import.

Seed 002 (creating a custom image): data disks listed in /etc/fstab stop an instance made
from the image booting, because those disks are not attached to it; the lines must go
(002 shows deleting `/dev/xvdb1 /leejd ext4 defaults 0 0`). Seed 003 (image check,
GUESTOS.Fstab): a filesystem in fstab that does not exist, or a wrong UUID, makes the boot
fail. On ECS the system disk is a virtio (`vda`) or NVMe (`nvme0n1`) disk, so kernel names
from the old hypervisor (/dev/sda1, /dev/xvda1, /dev/hda1) no longer name the same
partition; UUID= and LABEL= do. Seed 000 warns against careless edits of /etc/fstab, so the
fix only comments lines out (never deletes) and rewrites a device name only when it knows
the UUID for certain.
"""
import re

from agent.core.model import Check, Message, Status, joined
from agent.core.rootfs import RootError
from agent.facts import disks
from agent.parsers import DISABLED_PREFIX, LazyPattern, split_ending, split_lines
from agent.parsers import fstab as fstab_parser
from agent.tuples import namedtuple

FSTAB = "/etc/fstab"

# Directories installers (anaconda, debian-installer, CIS/STIG layouts) put on their own
# partition or LV of the system disk, where they come along with the image: commenting out
# /usr or /var there would break an image that works. So unless the entry is provably on
# another disk (a kernel name like /dev/sdb1) or its device is gone, guestprep only warns.
OS_MOUNTPOINTS = frozenset({
    "/usr", "/usr/local", "/var", "/var/log", "/var/log/audit", "/var/tmp", "/tmp", "/home",
    "/opt",
})

# Kernel names of the first disk on each bus: with no system mount named by a kernel name,
# these are the best guess at which disk the image was installed on.
_FIRST_DISKS = frozenset({"sda", "vda", "xvda", "hda", "nvme0n1", "mmcblk0"})
_DISK = LazyPattern(r"/dev/((?:sd|vd|xvd|hd)[a-z]+|nvme[0-9]+n[0-9]+|mmcblk[0-9]+)")

# Names udev derives from the disk's bus, controller and model: VMware's scsi-... or
# VirtualBox's ata-VBOX_HARDDISK_... never appear on ECS. The dm-, md- and lvm- ones are
# stable (they name LVM volumes and RAID sets by their own UUIDs).
_BUS_NAME = LazyPattern(r"/dev/disk/(?:by-path/|by-id/(?!dm-|md-|lvm-))")

_RESOLVABLE = ("uuid", "label", "partuuid", "partlabel", "devname")
_SYSTEM_NAMES = {"/": "the root filesystem", "/boot": "/boot", "/boot/efi": "/boot/efi",
                 "/efi": "/efi"}

DISABLE = "disable"
REWRITE = "rewrite"


class Finding(namedtuple("Finding", (
    "lineno",                 # int: 0 for a finding about the whole file
    "status",                 # str
    "kind",                   # str: data, network, below, devname, missing, separate, garbled, noroot
    "text",                   # str: a Message: "line 12: /dev/vdb1 on /data (ext4) is a data disk"
    "action",                 # str: DISABLE, REWRITE, or '' (left for a person: see the hint)
    "spec",                   # str
    "mountpoint",             # str
    "new_line",               # str: the rewritten line, for REWRITE
    "swap",                   # bool
    "code",                   # str: the public slug after "fstab." (data-disk, device-name, ...)
), action="", spec="", mountpoint="", new_line="", swap=False, code="")):
    """One judged fstab line (or the whole file): what the fix and the phrasing work from."""

    __slots__ = ()


class Analysis(namedtuple("Analysis", (
    "findings",               # List[Finding]
    "entries",                # list
    "disabled",               # int: lines guestprep commented out in an earlier run
    "unresolved",             # str: why devices were not looked up, or '' (a Message)
))):
    __slots__ = ()


class Layout(namedtuple("Layout", (
    "entries",                # list
    "problems",               # list
    "lines",                  # list
    "disabled",               # int
    "live",                   # object: live facts that can resolve devices, or None
    "unresolved",             # str
    "system_disks",           # frozenset
    "system_specs",           # frozenset
    "root_spec",              # str: the kernel name / is mounted by, or None
))):
    """What the judging needs to know about the file and the disks, gathered once."""

    __slots__ = ()


def _mountpoint(entry):
    return entry.mountpoint.rstrip("/") or "/"


def _disk(spec):
    match = _DISK.match(spec)
    return match.group(1) if match and fstab_parser.is_kernel_device_name(spec) else None


def _unstable(spec):
    return fstab_parser.is_kernel_device_name(spec) or bool(_BUS_NAME.match(spec))


def _lenient(entry):
    """'nofail' or 'noauto' when a missing device would not stop the boot, else ''."""
    # systemd-fstab-generator makes a nofail mount only wanted by local-fs.target (a missing
    # disk is logged and the boot goes on) and never mounts noauto at boot. The catalogue
    # still wants only the system disk's filesystems in the image, so these lines are
    # reported and commented out too, but as WARN: they do not stop the instance booting.
    for option in ("noauto", "nofail"):
        if option in entry.options:
            return option
    return ""


def _what(entry):
    if entry.fstype == "swap":
        return Message("{spec} (swap)", spec=entry.spec)
    if "bind" in entry.options or "rbind" in entry.options:
        return Message("{spec} on {mountpoint} (bind)", spec=entry.spec, mountpoint=entry.mountpoint)
    return Message("{spec} on {mountpoint} ({fstype})", spec=entry.spec, mountpoint=entry.mountpoint,
                   fstype=entry.fstype)


def _note(option):
    return Message(" ({option})", option=option) if option else ""


def _system_name(entry):
    if entry.fstype == "swap":
        return "swap"
    if _mountpoint(entry) == "/":
        return Message("the root filesystem")
    return _SYSTEM_NAMES.get(_mountpoint(entry), _mountpoint(entry))


def _first_gone_above(path, order):
    """Of the mount points in `order` (mount point -> position; / never counts) that `path`
    is on or under, the one that comes first; None for none."""
    best = None
    while path and path != "/":
        position = order.get(path)
        if position is not None and (best is None or position < best[0]):
            best = (position, path)
        parent = path.rsplit("/", 1)[0]
        if parent == path:
            break
        path = parent
    return best[1] if best else None


def _rewritten(raw, uuid):
    """`raw` with its first field replaced by UUID=<uuid>; spacing and other fields kept."""
    return re.sub(r"\A(\s*)\S+", lambda m: m.group(1) + "UUID=" + uuid, raw, count=1)


def _short(text, width=60):
    return text if len(text) <= width else text[:width - 3] + "..."


# -- phrasing: one template per kind of finding ---------------------------------------------

_TEXTS = {
    "network-share": "line {line}: {what} is a network share{note}",
    "separate-filesystem": "line {line}: {what} is a separate filesystem",
    "swap-other-disk": "line {line}: {what} is swap on another disk ({disk}){note}",
    "cd-drive": "line {line}: {what} is a CD/DVD drive{note}",
    "data-disk-missing": "line {line}: {what} is a data disk; its device does not exist{note}",
    "data-disk": "line {line}: {what} is a data disk{note}",
    "device-missing": "line {line}: {name}'s device {spec} does not exist{note}",
    "kernel-name-uuid": "line {line}: {what} uses a kernel device name (its UUID is {uuid})",
    "bus-name-uuid": "line {line}: {what} uses a bus device name (its UUID is {uuid})",
    "kernel-name": "line {line}: {what} uses a kernel device name",
    "bus-name": "line {line}: {what} uses a bus device name",
    "source-gone": "line {line}: {what} comes from {below}{note}",
}
# The public code of each text (several texts share one: waivers name the problem, not the
# wording).
_CODES = {"data-disk-missing": "data-disk", "kernel-name-uuid": "device-name",
          "bus-name-uuid": "device-name", "kernel-name": "device-name", "bus-name": "device-name"}
# Seed 003 names missing devices and wrong names; everything else is 002's "only the system disk".
_REFS = {"device-missing": ("003",), "device-name": ("003",), "invalid-line": ("003",), "no-root-entry": ()}


def _finding(entry, status, kind, text_key, action="", new_line="", **fields):
    template = _TEXTS[text_key]
    if "{what}" in template:
        fields.setdefault("what", _what(entry))
    text = Message(template, line=entry.lineno, **fields)
    return Finding(entry.lineno, status, kind, text, action, entry.spec, _mountpoint(entry), new_line,
                   entry.fstype == "swap", _CODES.get(text_key, text_key))


# -- gathering --------------------------------------------------------------------------------

def _resolver(ctx):
    """(live facts that can resolve devices or None, why not)."""
    if ctx.live is None:
        return None, Message("the image is not running")
    # Without udev's /dev/disk (a container, a chroot) every UUID= would look missing, and
    # guestprep would comment out filesystems that are fine.
    if not ctx.root.isdir("/dev/disk"):
        return None, Message("/dev/disk does not exist (no udev)")
    return ctx.live, ""


def survey(ctx, text):
    """The entries of the fstab `text` and what is known about their disks."""
    entries, problems = fstab_parser.parse(text)
    lines = split_lines(text)
    disabled = sum(1 for line in lines if line.startswith(DISABLED_PREFIX))
    live, unresolved = _resolver(ctx)

    system_disks = set(_disk(e.spec) for e in entries
                       if fstab_parser.classify(e) == "system" and _disk(e.spec))
    system_disks = system_disks or _FIRST_DISKS
    # A line naming the same device as /, /boot or /boot/efi mounts another part of that
    # filesystem (btrfs subvolumes: SUSE's default /var, /srv, /root, /.snapshots ...), so
    # it is on the system disk, not a data disk or a separate filesystem.
    system_specs = set(e.spec for e in entries if fstab_parser.classify(e) == "system"
                       and fstab_parser.spec_kind(e.spec) in _RESOLVABLE)

    roots = [e.spec for e in entries if _mountpoint(e) == "/" and fstab_parser.is_kernel_device_name(e.spec)]
    root_spec = roots[-1] if roots else None
    if live is None and ctx.offline and root_spec and disks.image_root(ctx).get("known"):
        unresolved = Message("{why} (kernel names read from {device}, mounted at {root})", why=unresolved,
                             device=disks.image_root(ctx)["device"], root=ctx.root.path)
    return Layout(entries, problems, lines, disabled, live, unresolved, frozenset(system_disks),
                  frozenset(system_specs), root_spec)


def _uuid_of(ctx, layout, entry):
    """The UUID of an entry's device when guestprep can know it for certain, else None."""
    if layout.live is not None:
        device = layout.live.device_for(entry.spec)
        return layout.live.uuid_of(device) if device else None
    if ctx.offline and fstab_parser.is_kernel_device_name(entry.spec):
        # The image's root is the filesystem mounted at --root; the other partitions of its
        # old disk are the host's partitions of the same disk, when visible.
        if layout.root_spec or _mountpoint(entry) == "/":
            return disks.image_uuid_of(ctx, entry.spec, layout.root_spec or entry.spec, entry.fstype)
    return None


# -- judging ------------------------------------------------------------------------------------

def _judge_entry(ctx, layout, entry, role, kind):
    """(the findings about a device line, whether the line goes)."""
    if role == "data" and entry.spec in layout.system_specs:
        role = "system"
    lenient = _lenient(entry)
    status = Status.WARN if lenient else Status.FAIL
    note = _note(lenient)
    disk = _disk(entry.spec)
    other_disk = disk is not None and disk not in layout.system_disks
    live = layout.live
    missing = live is not None and kind in _RESOLVABLE and live.device_for(entry.spec) is None

    if role == "network":
        return [_finding(entry, status, "network", "network-share", DISABLE, note=note)], True
    separate = None
    if role == "data" or (role == "swap" and other_disk):
        if _mountpoint(entry) in OS_MOUNTPOINTS and not other_disk and not missing:
            # and on to the name check below: it stays mounted, so its name must last
            separate = _finding(entry, Status.WARN, "separate", "separate-filesystem")
        elif role == "swap":
            return [_finding(entry, status, "data", "swap-other-disk", DISABLE, disk=disk, note=note)], True
        elif set(entry.fstype.split(",")) & {"iso9660", "udf"}:
            return [_finding(entry, status, "data", "cd-drive", DISABLE, note=note)], True
        else:
            key = "data-disk-missing" if missing else "data-disk"
            return [_finding(entry, status, "data", key, DISABLE, note=note)], True
    if separate is not None:
        return [separate] + _judge_name(ctx, layout, entry, status, note, missing), False
    return _judge_name(ctx, layout, entry, status, note, missing), False


def _judge_name(ctx, layout, entry, status, note, missing):
    """What stays: the system disk's filesystems (/, /boot, /boot/efi, swap) and separate OS
    directories. Commenting one of these out stops the boot harder than a wrong name does,
    so their problems are rewritten with a known UUID or proposed."""
    if missing:
        return [_finding(entry, status, "missing", "device-missing", name=_system_name(entry),
                         spec=entry.spec, note=note)]
    if not _unstable(entry.spec):
        return []
    uuid = _uuid_of(ctx, layout, entry)
    bus = "kernel" if fstab_parser.is_kernel_device_name(entry.spec) else "bus"
    if uuid:
        raw = split_ending(layout.lines[entry.lineno - 1])[0]
        return [_finding(entry, Status.FAIL, "devname", bus + "-name-uuid", REWRITE, _rewritten(raw, uuid),
                         uuid=uuid)]
    return [_finding(entry, Status.FAIL, "devname", bus + "-name")]


def _judge_sourced(sourced, gone):
    """A bind mount, loop file or swap file whose source sits on a mount that goes away
    fails at boot just as that mount would."""
    # Each source's own ancestors looked up, not every source against every line that
    # goes: a hostile fstab of bind mounts and data disks made that quadratic.
    order = {}
    for mountpoint in gone:
        order.setdefault(mountpoint, len(order))
    findings = []
    for entry in sourced:
        source = entry.spec.rstrip("/") or "/"
        below = _first_gone_above(source, order)
        if below:
            lenient = _lenient(entry)
            findings.append(_finding(entry, Status.WARN if lenient else Status.FAIL, "below", "source-gone",
                                     DISABLE, below=below, note=_note(lenient)))
    return findings


def analyse(ctx, text):
    """Every finding about the fstab `text`; the remediation plans from the same analysis."""
    layout = survey(ctx, text)
    findings = []
    gone = []     # mount points of the lines to comment out
    sourced = []  # bind mounts and files (loop, swap): judged once we know what goes
    for entry in layout.entries:
        role = fstab_parser.classify(entry)
        kind = fstab_parser.spec_kind(entry.spec)
        if role == "virtual":
            continue
        if role == "bind" or kind == "path":
            sourced.append(entry)
            continue
        if role == "data" and (kind == "none" or entry.fstype == "overlay"):
            continue   # names no device: its layers live on the root filesystem
        judged, goes = _judge_entry(ctx, layout, entry, role, kind)
        if goes:
            gone.append(_mountpoint(entry))
        findings.extend(judged)
    findings.extend(_judge_sourced(sourced, gone))

    for problem in layout.problems:
        raw = split_ending(layout.lines[problem.lineno - 1])[0].strip()
        findings.append(Finding(problem.lineno, Status.WARN, "garbled", Message(
            "line {line} is not a valid entry, {problem}: {raw!r}", line=problem.lineno,
            problem=problem.message, raw=_short(raw)), code="invalid-line"))

    if not any(_mountpoint(e) == "/" for e in layout.entries):
        findings.append(Finding(0, Status.WARN, "noroot", Message("no entry for /"), code="no-root-entry"))
    findings.sort(key=lambda f: f.lineno)
    return Analysis(findings, layout.entries, layout.disabled, layout.unresolved)


def line_numbers(numbers):
    numbers = sorted(set(numbers))
    if len(numbers) == 1:
        return Message("line {number}", number=numbers[0])
    return Message("lines {numbers}", numbers=", ".join(str(n) for n in numbers))


def _root_uuid_command(ctx):
    """What prints the UUID and type of the target's root filesystem. On an image root that
    is a plain directory findmnt would answer for the host's filesystem: blkid on the image's
    partition then."""
    if ctx.offline and disks.image_root(ctx).get("plain_directory"):
        return Message("blkid -s UUID -s TYPE /dev/loopNpM   # the image's root partition")   # comment translated
    return "findmnt -no UUID,FSTYPE " + ctx.root.path


_LSBLK = "lsblk -o NAME,FSTYPE,UUID,LABEL,MOUNTPOINT"


def _disable_advice(ctx, findings, path):
    disable = [f for f in findings if f.action == DISABLE]
    if not disable:
        return [], []
    fields = dict(mounts=", ".join(sorted(set(f.mountpoint if not f.swap else "swap" for f in disable))),
                  lines=line_numbers(f.lineno for f in disable), marker=DISABLED_PREFIX.strip())
    hint = [Message("Not on the system disk ({mounts}; {lines}): data disks and network shares are not attached "
                    "to an instance created from the image, and a mount that cannot be made stops its "
                    "boot (002). `guestprep fix --items fstab` comments these lines out (marked "
                    "'{marker}'); once the instance runs, attach the disks and mount them again with "
                    "nofail.", **fields)]
    if any(f.status == Status.WARN for f in disable):
        hint.append(Message("nofail or noauto keeps a missing disk from stopping a systemd boot "
                            "(hence only a warning for those lines), but the image should still "
                            "mount nothing outside the system disk."))
    command = "sed -i {} {}".format(
        " ".join("-e '{}s/^/# /'".format(n) for n in sorted(set(f.lineno for f in disable))), path)
    return [joined(hint, " ")], [command]


def _devname_advice(ctx, findings):
    devnames = [f for f in findings if f.kind == "devname"]
    hints, commands = [], []
    rewrite = [f for f in devnames if f.action == REWRITE]
    if rewrite:
        hints.append(Message(
            "Kernel and bus device names change on ECS (its disks are virtio vda or NVMe "
            "nvme0n1). `guestprep fix --items fstab` mounts {lines} by the UUID read from this "
            "system; the old line stays above, commented out.", lines=line_numbers(f.lineno for f in rewrite)))
    pending = [f for f in devnames if f.action != REWRITE]
    if not pending:
        return hints, commands
    fields = dict(names=", ".join(sorted(set(f.spec for f in pending))),
                  lines=line_numbers(f.lineno for f in pending))
    if not ctx.offline:
        hints.append(Message(
            "Kernel and bus device names ({names}; {lines}) change on ECS, and guestprep could not "
            "read the UUID: find it with blkid and replace the device name by "
            "UUID=<uuid>, keeping the other fields.", **fields))
        commands.extend("blkid -s UUID -o value " + spec for spec in sorted(set(f.spec for f in pending)))
        return hints, commands
    image = disks.image_root(ctx)
    if image.get("known"):
        why = Message("the filesystem mounted at {root} is {device} ({uuid}), but these lines name no partition "
                      "of the same disk that the host sees with a matching filesystem (for the image's "
                      "other partitions, attach the whole disk: `losetup -fP --show IMAGE` or "
                      "`qemu-nbd -c /dev/nbd0 IMAGE`)", root=ctx.root.path, device=image["device"],
                      uuid=image["uuid"])
    else:
        why = image.get("why") or Message("the image is not mounted")
    hints.append(Message(
        "Kernel and bus device names ({names}; {lines}) change on ECS (its disks are virtio vda "
        "or NVMe nvme0n1): mount by UUID= instead. guestprep could not read their UUIDs: {why}. "
        "Read each UUID on this host (blkid on the image's partition, findmnt where the "
        "image's filesystem is mounted) and replace the device name by UUID=<uuid>, keeping "
        "the other fields.", why=why, **fields))
    for f in pending:
        # On a plain directory findmnt would answer for the host's own filesystem.
        if f.swap:
            command = "blkid -s UUID -o value /dev/loopNpM   # the image's swap partition"
        elif image.get("plain_directory"):
            command = "blkid -s UUID -o value /dev/loopNpM   # the image's partition for " + f.mountpoint
        elif f.mountpoint == "/":
            command = "findmnt -no UUID " + ctx.root.path
        else:
            command = "findmnt -no UUID " + ctx.root.display(f.mountpoint)
        if command not in commands:
            commands.append(command)
    return hints, commands


def _hint_and_commands(ctx, findings):
    """One paragraph per kind of finding, and the commands a person would type."""
    path = ctx.root.display(FSTAB)
    kinds = set(f.kind for f in findings)
    hints, commands = _disable_advice(ctx, findings, path)
    more_hints, more_commands = _devname_advice(ctx, findings)
    hints += more_hints
    commands += more_commands
    if "missing" in kinds:
        hints.append(Message(
            "A filesystem the system needs names a device that does not exist, so mounting it "
            "fails at boot (for /, /boot and /boot/efi the boot stops, 003). guestprep never comments out /, "
            "/boot, /boot/efi, swap or an OS directory: find the right UUID with lsblk and correct {lines}.",
            lines=line_numbers(f.lineno for f in findings if f.kind == "missing")))
        commands.append(_LSBLK)
    if "separate" in kinds:
        hints.append(Message(
            "Separate filesystems for OS directories ({mounts}) come with the image only when they "
            "are on the system disk, where ECS expects a single root partition (002). If one "
            "is on a data disk, comment its line out by hand: guestprep cannot tell, so it "
            "leaves OS directories mounted.",
            mounts=", ".join(f.mountpoint for f in findings if f.kind == "separate")))
        if _LSBLK not in commands:
            commands.append(_LSBLK)
    garbled = [f for f in findings if f.kind == "garbled"]
    if garbled:
        hints.append(Message("mount and systemd skip lines they cannot parse, so whatever {lines} meant to mount is "
                             "missing: correct or remove them in {path}." if len(garbled) > 1 else
                             "mount and systemd skip lines they cannot parse, so whatever {lines} meant to mount is "
                             "missing: correct or remove it in {path}.",
                             lines=line_numbers(f.lineno for f in garbled), path=path))
    if "noroot" in kinds:
        hints.append(Message(
            "Without an entry for /, nothing remounts the root filesystem with its options "
            "after the initramfs mounted it (systemd-remount-fs does nothing), so with `ro` on "
            "the kernel command line it stays read-only. Add a line such as "
            "'UUID=<uuid> / ext4 defaults 0 1'."))
        commands.append(_root_uuid_command(ctx))
    return joined(hints, "\n"), commands


def _notes(analysis):
    """" (2 lines disabled by guestprep; devices not resolved: ...)" or ''."""
    notes = []
    if analysis.disabled == 1:
        notes.append(Message("1 line disabled by guestprep"))
    elif analysis.disabled:
        notes.append(Message("{count} lines disabled by guestprep", count=analysis.disabled))
    if analysis.unresolved:
        notes.append(Message("devices not resolved: {why}", why=analysis.unresolved))
    return Message(" ({notes})", notes=joined(notes, "; ")) if notes else ""


class Fstab(Check):
    id = "fstab"
    title = "/etc/fstab mounts only the system disk, by UUID or label"
    item = "GUESTOS.Fstab"
    repair_item = "fstab"
    refs = ("002", "003")

    def run(self, ctx):
        path = ctx.root.display(FSTAB)
        try:
            text = ctx.root.read_config_or_none(FSTAB)
        except RootError as e:
            return self.result(
                Status.ERROR, Message("{path} cannot be read: {reason}", path=path, reason=e.reason),
                Message("Every mount at boot is read from {path}: it must be a readable text file. Restore "
                        "it from a backup or write one with the root filesystem's UUID.", path=path),
                paths=[FSTAB], code="unreadable")
        if text is None:
            # Boots (the initramfs mounts / from root=), but nothing remounts it read-write.
            return self.result(
                Status.WARN, Message("{path} does not exist", path=path),
                Message("Without /etc/fstab the root filesystem keeps the options the initramfs "
                        "mounted it with (read-only with `ro` on the kernel command line), and "
                        "systemd-remount-fs does nothing. Create it with an entry for / by UUID."),
                commands=[_root_uuid_command(ctx)], paths=[FSTAB], code="missing")

        analysis = analyse(ctx, text)
        notes = _notes(analysis)
        findings = analysis.findings
        data = {"disable": [f.lineno for f in findings if f.action == DISABLE],
                "rewrite": [f.lineno for f in findings if f.action == REWRITE]}
        if not findings:
            mounts = ["swap" if e.fstype == "swap" else e.mountpoint for e in analysis.entries
                      if fstab_parser.classify(e) != "virtual"]
            return self.passed(Message("{path} mounts only the system disk: {mounts}{notes}", path=path,
                                       mounts=", ".join(mounts) if mounts else Message("nothing"), notes=notes),
                               paths=[FSTAB], data=data, code="system-disk-only")
        hint, commands = _hint_and_commands(ctx, findings)
        result = self.results([self.finding(f.status, f.code, f.text, FSTAB, f.lineno, _REFS.get(f.code, ("002",)))
                               for f in findings],
                              hint, commands=commands, paths=[FSTAB], data=data)
        return result._replace(summary=Message("{path}: {findings}{notes}", path=path,
                                               findings=joined([f.text for f in findings], "; "), notes=notes))
