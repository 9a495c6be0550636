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
from typing import List, NamedTuple

from agent.facts import disks
from agent.core.model import Check, Status
from agent.parsers import DISABLED_PREFIX, split_ending, split_lines
from agent.parsers import fstab as fstab_parser
from agent.core.rootfs import RootError

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
_DISK = re.compile(r"/dev/((?:sd|vd|xvd|hd)[a-z]+|nvme[0-9]+n[0-9]+|mmcblk[0-9]+)")

# Names udev derives from the disk's bus, controller and model: VMware's scsi-... or
# VirtualBox's ata-VBOX_HARDDISK_... never appear on ECS. The dm-, md- and lvm- ones are
# stable (they name LVM volumes and RAID sets by their own UUIDs).
_BUS_NAME = re.compile(r"/dev/disk/(?:by-path/|by-id/(?!dm-|md-|lvm-))")

_RESOLVABLE = ("uuid", "label", "partuuid", "partlabel", "devname")
_SYSTEM_NAMES = {"/": "the root filesystem", "/boot": "/boot", "/boot/efi": "/boot/efi",
                 "/efi": "/efi"}

DISABLE = "disable"
REWRITE = "rewrite"


class Finding(NamedTuple):
    lineno: int        # 0 for a finding about the whole file
    status: str
    kind: str          # data, network, below, devname, missing, separate, garbled, noroot
    text: str          # "line 12: /dev/vdb1 on /data (ext4) is a data disk"
    action: str = ""   # DISABLE, REWRITE, or '' (left for a person: see the hint)
    spec: str = ""
    mountpoint: str = ""
    new_line: str = ""  # the rewritten line, for REWRITE
    swap: bool = False


class Analysis(NamedTuple):
    findings: List[Finding]
    entries: list
    disabled: int      # lines guestprep commented out in an earlier run
    unresolved: str    # why devices were not looked up, or ''


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
        return "{} (swap)".format(entry.spec)
    if "bind" in entry.options or "rbind" in entry.options:
        return "{} on {} (bind)".format(entry.spec, entry.mountpoint)
    return "{} on {} ({})".format(entry.spec, entry.mountpoint, entry.fstype)


def _system_name(entry):
    if entry.fstype == "swap":
        return "swap"
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


def _finding(entry, status, kind, said, action="", new_line=""):
    return Finding(entry.lineno, status, kind, "line {}: {}".format(entry.lineno, said), action,
                   entry.spec, _mountpoint(entry), new_line, entry.fstype == "swap")


def _resolver(ctx):
    """(live facts that can resolve devices or None, why not)."""
    if ctx.live is None:
        return None, "the image is not running"
    # Without udev's /dev/disk (a container, a chroot) every UUID= would look missing, and
    # guestprep would comment out filesystems that are fine.
    if not ctx.root.isdir("/dev/disk"):
        return None, "/dev/disk does not exist (no udev)"
    return ctx.live, ""


def analyse(ctx, text):
    """Every finding about the fstab `text`; the remediation plans from the same analysis."""
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
        unresolved += " (kernel names read from {}, mounted at {})".format(
            disks.image_root(ctx)["device"], ctx.root.path)

    findings = []
    gone = []     # mount points of the lines to comment out
    sourced = []  # bind mounts and files (loop, swap): judged once we know what goes
    for entry in entries:
        role = fstab_parser.classify(entry)
        kind = fstab_parser.spec_kind(entry.spec)
        if role == "virtual":
            continue
        if role == "bind" or kind == "path":
            sourced.append(entry)
            continue
        if role == "data" and (kind == "none" or entry.fstype == "overlay"):
            continue   # names no device: its layers live on the root filesystem
        if role == "data" and entry.spec in system_specs:
            role = "system"
        lenient = _lenient(entry)
        status = Status.WARN if lenient else Status.FAIL
        note = " ({})".format(lenient) if lenient else ""
        disk = _disk(entry.spec)
        other_disk = disk is not None and disk not in system_disks
        missing = (live is not None and kind in _RESOLVABLE
                   and live.device_for(entry.spec) is None)

        if role == "network":
            findings.append(_finding(entry, status, "network",
                                     _what(entry) + " is a network share" + note, DISABLE))
            gone.append(_mountpoint(entry))
            continue
        if role == "data" or (role == "swap" and other_disk):
            if _mountpoint(entry) in OS_MOUNTPOINTS and not other_disk and not missing:
                findings.append(_finding(entry, Status.WARN, "separate",
                                         _what(entry) + " is a separate filesystem"))
                # and on to the name check below: it stays mounted, so its name must last
            else:
                if role == "swap":
                    said = " is swap on another disk ({})".format(disk)
                elif set(entry.fstype.split(",")) & {"iso9660", "udf"}:
                    said = " is a CD/DVD drive"
                elif missing:
                    said = " is a data disk; its device does not exist"
                else:
                    said = " is a data disk"
                findings.append(_finding(entry, status, "data", _what(entry) + said + note,
                                         DISABLE))
                gone.append(_mountpoint(entry))
                continue

        # What stays: the system disk's filesystems (/, /boot, /boot/efi, swap) and separate
        # OS directories. Commenting one of these out stops the boot harder than a wrong
        # name does, so their problems are rewritten with a known UUID or proposed.
        if missing:
            findings.append(_finding(entry, status, "missing", "{}'s device {} does not exist{}".format(
                _system_name(entry), entry.spec, note)))
            continue
        if _unstable(entry.spec):
            uuid = None
            if live is not None:
                device = live.device_for(entry.spec)
                uuid = live.uuid_of(device) if device else None
            elif ctx.offline and fstab_parser.is_kernel_device_name(entry.spec):
                # The image's root is the filesystem mounted at --root; the other partitions
                # of its old disk are the host's partitions of the same disk, when visible.
                uuid = disks.image_uuid_of(ctx, entry.spec, root_spec or entry.spec, entry.fstype) \
                    if root_spec or _mountpoint(entry) == "/" else None
            said = _what(entry) + " uses a {} device name".format(
                "kernel" if fstab_parser.is_kernel_device_name(entry.spec) else "bus")
            if uuid:
                raw = split_ending(lines[entry.lineno - 1])[0]
                findings.append(_finding(entry, Status.FAIL, "devname",
                                         said + " (its UUID is {})".format(uuid), REWRITE,
                                         _rewritten(raw, uuid)))
            else:
                findings.append(_finding(entry, Status.FAIL, "devname", said))

    # A bind mount, loop file or swap file whose source sits on a mount that goes away
    # fails at boot just as that mount would.
    # Each source's own ancestors looked up, not every source against every line that
    # goes: a hostile fstab of bind mounts and data disks made that quadratic.
    order = {}
    for mountpoint in gone:
        order.setdefault(mountpoint, len(order))
    for entry in sourced:
        source = entry.spec.rstrip("/") or "/"
        below = _first_gone_above(source, order)
        if below:
            lenient = _lenient(entry)
            findings.append(_finding(
                entry, Status.WARN if lenient else Status.FAIL, "below",
                "{} comes from {}{}".format(_what(entry), below,
                                           " ({})".format(lenient) if lenient else ""),
                DISABLE))

    for problem in problems:
        raw = split_ending(lines[problem.lineno - 1])[0].strip()
        findings.append(Finding(problem.lineno, Status.WARN, "garbled",
                                "line {} is not a valid entry, {}: {!r}".format(
                                    problem.lineno, problem.message, _short(raw))))

    if not any(_mountpoint(e) == "/" for e in entries):
        findings.append(Finding(0, Status.WARN, "noroot", "no entry for /"))
    findings.sort(key=lambda f: f.lineno)
    return Analysis(findings, entries, disabled, unresolved)


def line_numbers(numbers):
    numbers = sorted(set(numbers))
    return "line{} {}".format("" if len(numbers) == 1 else "s", ", ".join(str(n) for n in numbers))


def _root_uuid_command(ctx):
    """What prints the UUID and type of the target's root filesystem. On an image root that
    is a plain directory findmnt would answer for the host's filesystem: blkid on the image's
    partition then."""
    if ctx.offline and disks.image_root(ctx).get("plain_directory"):
        return "blkid -s UUID -s TYPE /dev/loopNpM   # the image's root partition"
    return "findmnt -no UUID,FSTYPE " + ctx.root.path


def _hint_and_commands(ctx, findings):
    """One paragraph per kind of finding, and the commands a person would type."""
    path = ctx.root.display(FSTAB)
    kinds = set(f.kind for f in findings)
    hints, commands = [], []
    lsblk = "lsblk -o NAME,FSTYPE,UUID,LABEL,MOUNTPOINT"
    disable = [f for f in findings if f.action == DISABLE]
    if disable:
        hint = (
            "Not on the system disk ({}; {}): data disks and network shares are not attached "
            "to an instance created from the image, and a mount that cannot be made stops its "
            "boot (002). `guestprep fix --items fstab` comments these lines out (marked "
            "'{}'); once the instance runs, attach the disks and mount them again with "
            "nofail.".format(", ".join(sorted(set(f.mountpoint if not f.swap else "swap"
                                                  for f in disable))),
                             line_numbers(f.lineno for f in disable), DISABLED_PREFIX.strip()))
        if any(f.status == Status.WARN for f in disable):
            hint += (" nofail or noauto keeps a missing disk from stopping a systemd boot "
                     "(hence only a warning for those lines), but the image should still "
                     "mount nothing outside the system disk.")
        hints.append(hint)
        commands.append("sed -i {} {}".format(
            " ".join("-e '{}s/^/# /'".format(n) for n in sorted(set(f.lineno for f in disable))),
            path))
    devnames = [f for f in findings if f.kind == "devname"]
    rewrite = [f for f in devnames if f.action == REWRITE]
    if rewrite:
        hints.append(
            "Kernel and bus device names change on ECS (its disks are virtio vda or NVMe "
            "nvme0n1). `guestprep fix --items fstab` mounts {} by the UUID read from this "
            "system; the old line stays above, commented out.".format(
                line_numbers(f.lineno for f in rewrite)))
    pending = [f for f in devnames if f.action != REWRITE]
    if pending:
        names = ", ".join(sorted(set(f.spec for f in pending)))
        if ctx.offline:
            image = disks.image_root(ctx)
            if image.get("known"):
                why = ("the filesystem mounted at {} is {} ({}), but these lines name no partition of "
                       "the same disk that the host sees with a matching filesystem (for the image's "
                       "other partitions, attach the whole disk: `losetup -fP --show IMAGE` or "
                       "`qemu-nbd -c /dev/nbd0 IMAGE`)".format(ctx.root.path, image["device"], image["uuid"]))
            else:
                why = image.get("why") or "the image is not mounted"
            hints.append(
                "Kernel and bus device names ({}; {}) change on ECS (its disks are virtio vda "
                "or NVMe nvme0n1): mount by UUID= instead. guestprep could not read their UUIDs: {}. "
                "Read each UUID on this host (blkid on the image's partition, findmnt where the "
                "image's filesystem is mounted) and replace the device name by UUID=<uuid>, keeping "
                "the other fields.".format(names, line_numbers(f.lineno for f in pending), why))
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
        else:
            hints.append(
                "Kernel and bus device names ({}; {}) change on ECS, and guestprep could not "
                "read the UUID: find it with blkid and replace the device name by "
                "UUID=<uuid>, keeping the other fields.".format(
                    names, line_numbers(f.lineno for f in pending)))
            for spec in sorted(set(f.spec for f in pending)):
                commands.append("blkid -s UUID -o value " + spec)
    if "missing" in kinds:
        hints.append(
            "A filesystem the system needs names a device that does not exist, so mounting it "
            "fails at boot (for /, /boot and /boot/efi the boot stops, 003). guestprep never comments out /, /boot, /boot/efi, swap or an OS "
            "directory: find the right UUID with lsblk and correct {}.".format(
                line_numbers(f.lineno for f in findings if f.kind == "missing")))
        commands.append(lsblk)
    if "separate" in kinds:
        hints.append(
            "Separate filesystems for OS directories ({}) come with the image only when they "
            "are on the system disk, where ECS expects a single root partition (002). If one "
            "is on a data disk, comment its line out by hand: guestprep cannot tell, so it "
            "leaves OS directories mounted.".format(
                ", ".join(f.mountpoint for f in findings if f.kind == "separate")))
        if lsblk not in commands:
            commands.append(lsblk)
    if "garbled" in kinds:
        hints.append(
            "mount and systemd skip lines they cannot parse, so whatever {} meant to mount is "
            "missing: correct or remove {} in {}.".format(
                line_numbers(f.lineno for f in findings if f.kind == "garbled"),
                "them" if len([f for f in findings if f.kind == "garbled"]) > 1 else "it", path))
    if "noroot" in kinds:
        hints.append(
            "Without an entry for /, nothing remounts the root filesystem with its options "
            "after the initramfs mounted it (systemd-remount-fs does nothing), so with `ro` on "
            "the kernel command line it stays read-only. Add a line such as "
            "'UUID=<uuid> / ext4 defaults 0 1'.")
        commands.append(_root_uuid_command(ctx))
    return "\n".join(hints), commands


class Fstab(Check):
    id = "fstab"
    title = "/etc/fstab mounts only the system disk, by UUID or label"
    item = "GUESTOS.Fstab"
    repair_item = "fstab"

    def run(self, ctx):
        path = ctx.root.display(FSTAB)
        try:
            text = ctx.root.read_config_or_none(FSTAB)
        except RootError as e:
            return self.result(
                Status.ERROR, "{} cannot be read: {}".format(path, e.reason),
                "Every mount at boot is read from {}: it must be a readable text file. Restore "
                "it from a backup or write one with the root filesystem's UUID.".format(path),
                paths=[FSTAB])
        if text is None:
            # Boots (the initramfs mounts / from root=), but nothing remounts it read-write.
            return self.result(
                Status.WARN, "{} does not exist".format(path),
                "Without /etc/fstab the root filesystem keeps the options the initramfs "
                "mounted it with (read-only with `ro` on the kernel command line), and "
                "systemd-remount-fs does nothing. Create it with an entry for / by UUID.",
                commands=[_root_uuid_command(ctx)],
                paths=[FSTAB])

        analysis = analyse(ctx, text)
        notes = []
        if analysis.disabled:
            notes.append("{} line{} disabled by guestprep".format(
                analysis.disabled, "" if analysis.disabled == 1 else "s"))
        if analysis.unresolved:
            notes.append("devices not resolved: " + analysis.unresolved)
        suffix = " ({})".format("; ".join(notes)) if notes else ""
        findings = analysis.findings
        data = {"disable": [f.lineno for f in findings if f.action == DISABLE],
                "rewrite": [f.lineno for f in findings if f.action == REWRITE]}
        if not findings:
            mounts = ["swap" if e.fstype == "swap" else e.mountpoint for e in analysis.entries
                      if fstab_parser.classify(e) != "virtual"]
            return self.passed("{} mounts only the system disk: {}{}".format(
                path, ", ".join(mounts) or "nothing", suffix), paths=[FSTAB], data=data)
        hint, commands = _hint_and_commands(ctx, findings)
        return self.result(
            Status.worst(f.status for f in findings),
            "{}: {}{}".format(path, "; ".join(f.text for f in findings), suffix),
            hint, commands=commands, paths=[FSTAB], data=data)
