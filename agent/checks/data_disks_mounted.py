"""data-disks-mounted: unmount data disks before the image is captured.

Seed 002 (Linux restrictions): カスタムイメージを作成する前にすべてのデータディスクを umount
し… — unmount every data disk before creating the image, or instances created from it
may not start; its FAQ shows `umount /dev/hda5` / `umount /mnt/hda5`. A filesystem of
another disk mounted at capture time leaves that disk's state (and usually an fstab
line, see the fstab check) in the image, which the new instance does not have.

On the running system only: the mount table (psutil) is compared with the disks under
the root filesystem (through LVM, dm-crypt and md, from /sys/class/block). Virtual
filesystems, loop devices (snaps, ISO images), optical drives, network filesystems and
the system disk's own partitions (/boot, /boot/efi) are left out; bind mounts of a data
disk's filesystem are listed with it, deepest mount point first, so the umount commands
work in the order shown.
"""
from agent.core.model import Check, Message, Status, joined
from agent.facts import disks as disk_facts

VIRTUAL_FS = ("proc", "sysfs", "devtmpfs", "devpts", "tmpfs", "cgroup", "cgroup2", "pstore", "bpf",
              "securityfs", "debugfs", "tracefs", "configfs", "fusectl", "mqueue", "hugetlbfs",
              "autofs", "rpc_pipefs", "binfmt_misc", "efivarfs", "overlay", "squashfs", "nsfs",
              "ramfs", "selinuxfs", "iso9660", "udf", "fuse.snapfuse", "nfs", "nfs4", "cifs", "smb3",
              "fuse.lxcfs", "fuse.gvfsd-fuse", "fuse.portal", "zfs")
NOT_DISKS = ("loop", "sr", "ram", "zram", "fd", "nbd")


def _disks_of(ctx, device):
    name = disk_facts.kernel_name(ctx, device)
    if not name or name.startswith(NOT_DISKS) or not ctx.root.exists("/sys/class/block/" + name):
        return name, None
    return name, sorted(disk_facts.underlying_disks(ctx, name))   # same walk as the system disk's


def _mounts(mounts):
    return joined([Message("{device} on {mountpoint}", device=m["device"], mountpoint=m["mountpoint"])
                   for m in mounts], ", ")


class DataDisksMounted(Check):
    id = "data_disks_mounted"
    title = "No data disks mounted"
    item = "data-disks-mounted"
    repair_item = "data-disks-mounted"
    refs = ("002",)
    live_only = True

    def run(self, ctx):
        mounts = [m for m in ctx.live.mounts()
                  if m[0].startswith("/dev/") and m[2] not in VIRTUAL_FS]
        system = disk_facts.system_disk(ctx)
        rootfs = disk_facts.root_filesystem(ctx)
        data_mounts = []
        unsure = []
        for device, mountpoint, fstype, _opts in mounts:
            if mountpoint == "/":
                continue
            name, disks = _disks_of(ctx, device)
            if name and name.startswith(NOT_DISKS):
                continue
            if system.get("known") and disks is not None:
                if set(disks) & set(system["disks"]):
                    continue
                data_mounts.append({"device": device, "mountpoint": mountpoint, "fstype": fstype,
                                    "disks": ["/dev/" + d for d in disks]})
            elif device != rootfs.get("device") and not mountpoint.startswith("/boot"):
                unsure.append({"device": device, "mountpoint": mountpoint, "fstype": fstype})
        order = lambda m: (-m["mountpoint"].rstrip("/").count("/"), m["mountpoint"])  # noqa: E731
        data_mounts.sort(key=order)
        unsure.sort(key=order)
        data = {"mounts": data_mounts, "unsure": unsure}
        commands = ["umount " + m["mountpoint"] for m in data_mounts + unsure]
        hint = Message("Seed 002: unmount every data disk before capturing the image, and remove its /etc/fstab "
                       "line (the fstab check and fix do that); an instance created from the image does not have "
                       "the disk. `guestprep fix --items data-disks-mounted` runs the umount commands (live only; "
                       "mount them again to undo).")
        busy = []
        for m in data_mounts + unsure:
            m["in_use_by"] = [{"pid": pid, "name": name} for pid, name in ctx.live.processes_using(m["mountpoint"])]
            if m["in_use_by"]:
                users = ", ".join("{} (pid {})".format(p["name"], p["pid"]) for p in m["in_use_by"][:8])
                if len(m["in_use_by"]) > 8:
                    busy.append(Message("{mountpoint} is in use by {users} and {more} more",
                                        mountpoint=m["mountpoint"], users=users, more=len(m["in_use_by"]) - 8))
                else:
                    busy.append(Message("{mountpoint} is in use by {users}", mountpoint=m["mountpoint"], users=users))
        if busy:
            # umount would fail with "target is busy": say who holds each one first.
            hint = Message("{busy}: stop those processes (or leave the directory) first, or the umount fails with "
                           "\"target is busy\". {hint}", busy="; ".join(busy), hint=hint)
        if data_mounts:
            disks = sorted(set(d for m in data_mounts for d in m["disks"]))
            return self.failed(Message("filesystems of {disks} mounted: {mounts}", disks=", ".join(disks),
                                       mounts=_mounts(data_mounts)), hint,
                               commands=commands, paths=[m["mountpoint"] for m in data_mounts], data=data,
                               code="mounted", refs=("002",))
        if unsure:
            return self.result(Status.WARN, Message(
                "the system disk is unknown ({why}); mounted besides /: {mounts}", why=system.get("why", ""),
                mounts=_mounts(unsure)),
                Message("If any of these is on a data disk, unmount it before capture. {hint}", hint=hint),
                commands=commands, data=data, code="unsure", refs=("002",))
        disk = system.get("disk") if system.get("known") else rootfs.get("device") or Message("unknown")
        return self.passed(Message("no data disk is mounted (system disk {disk})", disk=disk), data=data, code="none")
