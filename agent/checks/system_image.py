"""GUESTOS.SystemImage: the system disk has a layout ECS can import and boot.

Seed 000 (Linux images): MBR or GPT partition tables and xfs, ext3 and ext4 filesystems
are supported, but ext4 must not use the `64bit` feature, nor `project` together with
`quota` (`tune2fs -l <device> | grep features` shows them); the system disk must hold a
single root partition (other partitions keep the instance from starting or the disk from
being resized, as seed 002 repeats); the root must not be an LVM volume spanning disks;
the system disk is 5 to 2,048 GiB. Seed 003: the image must be a real system disk (not an
ISO or an empty image), so a kernel and initramfs must be in /boot.

On a mounted image (--root) the disk, its partition table and the ext4 superblock are
not visible from the directory: those facts are said to be unknown, never guessed.
"""
from agent.core.model import Check, Message, Status, joined
from agent.facts import disks, kernels
from agent.facts.initramfs_build import initramfs_tool

GIB = 1024 ** 3
MIN_GIB, MAX_GIB = 5, 2048
SUPPORTED_FS = ("ext3", "ext4", "xfs")
# Partitions a bootable system disk needs besides the root: not "other partitions".
_BOOT_TYPES = (disks.ESP_GUID, disks.BIOS_BOOT_GUID, "0xef")


def _initramfs_commands(ctx, versions):
    """What a person types to build the initramfs of these kernels with the target's tool."""
    tool = initramfs_tool(ctx) or {"debian": "initramfs-tools", "rhel": "dracut",
                                   "suse": "dracut"}.get(ctx.os.family)
    if tool == "initramfs-tools":
        return [ctx.in_guest("update-initramfs -c -k " + v) for v in versions]
    if tool == "dracut":
        return [ctx.in_guest("dracut -f --kver " + v) for v in versions]
    return []


def _kernel_findings(ctx, add):
    installed = kernels.installed_kernels(ctx)
    if not installed:
        separate = any(e.mountpoint.rstrip("/") == "/boot" for e in disks.fstab_entries(ctx))
        if separate and ctx.offline and not ctx.root.listdir("/boot"):
            add(Status.WARN, "boot-not-mounted", Message("/boot is its own partition and is not mounted under the "
                                                         "root, so its kernels cannot be seen"),
                Message("Mount the image's /boot partition at {path} and check again.", path=ctx.root.display("/boot")))
        else:
            add(Status.FAIL, "no-kernel", Message("no kernel in /boot: this is not a bootable system disk"),
                Message("Install the distribution's kernel package (it also builds the initramfs)."))
        return
    without = [k for k in installed if kernels.initramfs_for(ctx, k) is None]
    commands = _initramfs_commands(ctx, without)
    how = Message("with the commands below") if commands else \
        Message("with the distribution's tool (dracut -f --kver <version>, or update-initramfs -c -k <version>)")
    if without and len(without) == len(installed):
        add(Status.FAIL, "no-initramfs", Message("no initramfs for any kernel in /boot ({kernels})",
                                                 kernels=", ".join(without)),
            Message("Without an initramfs the kernel cannot mount the root filesystem. Build one {how}.", how=how),
            commands=commands)
    elif without:
        add(Status.WARN, "kernel-without-initramfs", Message("kernel {kernels} has no initramfs in /boot",
                                                             kernels=", ".join(without)),
            Message("Build its initramfs {how} or remove the kernel, so no boot entry starts a kernel that cannot "
                    "mount /.", how=how), commands=commands)


def _fs_findings(ctx, add, notes):
    rootfs = disks.root_filesystem(ctx)
    fstype = rootfs["fstype"]
    if not fstype:
        add(Status.WARN, "fstype-unknown", Message("the root filesystem's type is unknown (no / in /etc/fstab)"),
            Message("Seed 000: the root filesystem must be ext3, ext4 or xfs."), refs=("000",))
        return
    if fstype not in SUPPORTED_FS:
        add(Status.FAIL, "fstype-unsupported", Message("root filesystem is {fstype} ({source}); ECS supports ext3, "
                                                       "ext4 and xfs", fstype=fstype, source=rootfs["source"]),
            Message("Seed 000: move the root to an ext4 or xfs filesystem before capturing."), refs=("000",))
        return
    notes.append(Message("root is {fstype} ({source})", fstype=fstype, source=rootfs["source"]))
    if fstype != "ext4":
        return
    features, why = disks.root_ext_features(ctx)
    if features is None:
        notes.append(Message("ext4 features not read: {why}", why=why))
        return
    device = disks.kernel_name(ctx, rootfs["device"])
    if features["64bit"]:
        add(Status.WARN, "ext4-64bit", Message("the root ext4 filesystem has the 64bit feature, which seed 000 says "
                                               "imports do not support"),
            Message("Seed 000: ext4 must not use 64bit. It can be removed only offline, on the unmounted filesystem: "
                    "e2fsck -f /dev/{device} && resize2fs -s /dev/{device} (from a rescue system), or recreate the "
                    "filesystem with mkfs.ext4 -O ^64bit.", device=device),
            commands=["tune2fs -l /dev/{} | grep -i features".format(device)], refs=("000",))
    if features["project"] and features["quota"]:
        add(Status.WARN, "ext4-project-quota", Message("the root ext4 filesystem has both project and quota "
                                                       "features, which seed 000 says imports do not support"),
            Message("Turn one off on the unmounted filesystem: tune2fs -O ^project /dev/{device}.", device=device),
            commands=["tune2fs -l /dev/{} | grep -i features".format(device)], refs=("000",))


def _disk_findings(ctx, add, notes):
    disk = disks.system_disk(ctx)
    if not disk.get("known"):
        notes.append(Message("partition table, partition count, LVM layout and disk size not known ({why})",
                             why=disk["why"]))
        return disk
    if len(disk["disks"]) > 1:
        add(Status.FAIL, "spans-disks", Message("the root {device} spans disks {disks} (LVM or RAID)",
                                                device=disk["root_device"],
                                                disks=", ".join("/dev/" + d for d in disk["disks"])),
            Message("Seed 000: an LVM root spanning disks may keep the instance from starting. Move the root onto "
                    "the system disk alone (pvmove, vgreduce) before capturing."), commands=["lsblk", "pvs", "vgs"],
            refs=("000",))
    size = disk.get("size_bytes")
    if size is not None:
        gib = size / float(GIB)
        notes.append(Message("{disk} is {size:.1f} GiB", disk=disk["disk"], size=gib))
        if gib < MIN_GIB or gib > MAX_GIB:
            add(Status.FAIL, "disk-size", Message("system disk {disk} is {size:.1f} GiB, outside 5-2,048 GiB",
                                                  disk=disk["disk"], size=gib),
                Message("Seed 000: the system disk must be 5 to 2,048 GiB (its virtual size, not the file size). "
                        "Resize the virtual disk before exporting."), refs=("000",))
    table = disk.get("table")
    if table is None:
        notes.append(Message("partition table not read ({why})", why=disk.get("table_why")))
    elif table == "none":
        notes.append(Message("{disk} has no partition table (a filesystem on the whole disk)", disk=disk["disk"]))
    else:
        notes.append(Message("{table} partition table", table=table.upper()))
    parts = disk.get("partitions", [])
    boot_parts = sum(1 for t in disk.get("part_types", []) if t in _BOOT_TYPES)
    others = len(parts) - boot_parts - 1
    if others > 0:
        fields = dict(disk=disk["disk"], count=len(parts), partitions=", ".join(parts))
        if boot_parts:
            text = Message("system disk {disk} has {count} partitions ({partitions}), not a single root partition "
                           "besides {boot} boot partition(s)", boot=boot_parts, **fields)
        else:
            text = Message("system disk {disk} has {count} partitions ({partitions}), not a single root partition",
                           **fields)
        add(Status.WARN, "partitions", text, Message(
            "Seeds 000 and 002: only a system disk with a single root partition is supported (an EFI system "
            "or BIOS boot partition is part of booting and fine); other partitions can keep the instance from "
            "starting or the disk from being resized. Move /boot, swap or data partitions into the root or "
            "onto data disks."), commands=["lsblk -o NAME,SIZE,FSTYPE,MOUNTPOINT " + disk["disk"]],
            refs=("000", "002"))
    data = dict(disk)
    return data


class SystemImage(Check):
    id = "system_image"
    title = "system disk layout importable"
    item = "GUESTOS.SystemImage"
    repair_item = ""
    refs = ("000", "002", "003")

    def run(self, ctx):
        findings, notes = [], []

        def add(status, code, text, hint, commands=(), refs=()):
            findings.append((self.finding(status, code, text, refs=refs), hint, tuple(commands)))

        _kernel_findings(ctx, add)
        _fs_findings(ctx, add, notes)
        disk = _disk_findings(ctx, add, notes)
        data = {"disk": disk, "notes": notes}
        if not findings:
            return self.passed(joined(notes) if notes else Message("nothing to report"), data=data, code="importable")
        hint = joined([f[1] for f in findings], " ")
        commands = [c for f in findings for c in f[2]]
        result = self.results([f[0] for f in findings], hint, commands=commands, data=data)
        if notes:
            # What was measured, after the findings.
            result = result._replace(summary=Message("{findings} ({notes})", findings=joined(
                [f[0].text for f in findings]), notes=joined(notes)))
        return result
