"""lvm_devices: an LVM devices file that names the build VM's disks (issue 16).

lvm2 2.03.12 and later read /etc/lvm/devices/system.devices (when lvm.conf's
`use_devicesfile` is on, the default of RHEL 9 and of installers that write the file) and
use only the physical volumes it lists, by IDTYPE: sys_wwid, sys_serial, mpath_uuid,
md_uuid, loop_file, ... of the build VM's disks. On ECS the disk is a virtio disk with
another serial and no WWID, so LVM ignores the PV: an LVM root never activates and the
instance stops in the initramfs. virt-sysprep's `lvm-system-devices` operation (enabled
by default: "When cloning VMs, WWIDs may change, breaking lvm pvscan") removes the file,
and so does this fix. A devname entry is re-found by its PVID when the name changes, so a
file of devname entries only is left alone.

Without the file LVM scans every device, as before 2.03.12 (lvm.conf's `use_devicesfile`
stays as it is: setting it to 0 would also undo a devices file written on the instance
later). The initramfs carries its own copy (Debian's lvm2 hook copies /etc/lvm, dracut's
lvm module the devices file), so the fix rebuilds it when it holds one.
"""
import re

from agent.core.model import Check, Message, Status
from agent.core.rootfs import RootError
from agent.facts import disks, initramfs, kernels

DEVICES_FILE = "/etc/lvm/devices/system.devices"
LVM_CONF = "/etc/lvm/lvm.conf"
INITRAMFS_NAME = DEVICES_FILE.lstrip("/")
# Device ids that stay true when a disk moves to new hardware: a name, or a file.
PORTABLE = ("devname", "loop_file")


def parse_devices(text):
    """[{'IDTYPE': ..., 'IDNAME': ..., 'DEVNAME': ..., 'PVID': ...}] of a devices file
    (VERSION and HASH lines and comments left out)."""
    entries = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("IDTYPE="):
            continue
        entries.append(dict(f.split("=", 1) for f in line.split() if "=" in f))
    return entries


def use_devicesfile(text):
    """lvm.conf's devices/use_devicesfile: (0 or 1 or None, where it comes from). Unset, it is
    lvm2's built-in default, which lvm.conf states in its commented line (`lvmconfig --type
    default` writes the file so): 0 in Debian's lvm2, 1 in RHEL 9's."""
    active = re.findall(r"^\s*use_devicesfile\s*=\s*(\d+)", text or "", re.M)
    if active:
        return int(active[-1]), LVM_CONF
    default = re.findall(r"^\s*#\s*use_devicesfile\s*=\s*(\d+)", text or "", re.M)
    if default:
        return int(default[-1]), Message("lvm2's default, as the comment in {path} gives it", path=LVM_CONF)
    return None, ""


def root_on_lvm(ctx):
    spec = disks.root_filesystem(ctx).get("spec") or ""
    return spec.startswith("/dev/mapper/") and "luks" not in spec or bool(re.match(r"^/dev/[^/]+/[^/]+$", spec)
                                                                          and not spec.startswith("/dev/disk/"))


def images_with_copy(ctx):
    """Initramfs images (guest paths) that hold a copy of the devices file."""
    found = []
    for kernel in kernels.installed(ctx):
        if not kernel.initramfs:
            continue
        try:
            names = initramfs.iter_names(ctx.root, kernel.initramfs, ctx.runner)
            if any(n.lstrip("./") == INITRAMFS_NAME for n in names):
                found.append(kernel.initramfs)
        except Exception:   # an image it cannot read: the rebuild covers it anyway
            continue
    return found


class LvmDevices(Check):
    id = "lvm_devices"
    title = "no LVM devices file naming the build VM's disks"
    item = "lvm-devices"
    repair_item = "lvm-devices"

    def run(self, ctx):
        root = ctx.root
        if not root.lexists(DEVICES_FILE):
            return self.passed(Message("no LVM devices file ({path})", path=DEVICES_FILE), code="none")
        try:
            text = root.read_config(DEVICES_FILE)
            conf = root.read_config_or_none(LVM_CONF) or ""
        except RootError as e:
            return self.result(Status.WARN, Message("{path} cannot be read: {reason}", path=DEVICES_FILE,
                                                    reason=e.reason),
                               Message("Look at it by hand: LVM uses only the disks it lists."), paths=[DEVICES_FILE],
                               code="unreadable")
        setting, source = use_devicesfile(conf)
        entries = parse_devices(text)
        pinned = [e for e in entries if e.get("IDTYPE") not in PORTABLE]
        types = sorted(set(e.get("IDTYPE", "?") for e in entries))
        data = {"entries": len(entries), "pinned": len(pinned), "idtypes": types, "use_devicesfile": setting,
                "pinned_types": sorted(set(e.get("IDTYPE", "?") for e in pinned))}
        if setting == 0:
            return self.result(Status.INFO, Message(
                "{path} lists {count} device(s) but use_devicesfile = 0 ({source}): LVM does not read it",
                path=DEVICES_FILE, count=len(entries), source=source), data=data, code="unused")
        if not pinned:
            return self.passed(Message("{path} lists {count} device(s), by {types} only: LVM finds them by PVID on "
                                       "new disks", path=DEVICES_FILE, count=len(entries),
                                       types=", ".join(types) or Message("nothing")), data=data,
                               code="portable")
        lvm_root = root_on_lvm(ctx)
        data["images"] = images_with_copy(ctx)
        data["kernels"] = [{"version": k.version, "initramfs": k.initramfs, "initramfs_path": k.initramfs_path}
                           for k in kernels.installed(ctx)]
        fields = dict(path=DEVICES_FILE, pinned=len(pinned), count=len(entries), types=", ".join(data["pinned_types"]))
        if source:
            summary = Message("{path} pins {pinned} of {count} device(s) by the build VM's disk ids ({types}) "
                              "(use_devicesfile = 1, {source}): on ECS's virtio disks LVM ignores those physical "
                              "volumes", source=source, **fields)
        else:
            summary = Message("{path} pins {pinned} of {count} device(s) by the build VM's disk ids ({types}) "
                              "(use_devicesfile not set in {conf}: lvm2 2.03.12+ may default to 1): on ECS's virtio "
                              "disks LVM ignores those physical volumes", conf=LVM_CONF, **fields)
        status = Status.FAIL if lvm_root else Status.WARN
        findings = [self.finding(status, "pinned", summary, path=DEVICES_FILE)]
        if data["images"]:
            findings.append(self.finding(status, "initramfs-copy", Message(
                "the initramfs has a copy: {images}", images=", ".join(data["images"]))))
        if lvm_root:
            hint = Message("The root filesystem is on LVM: the instance would stop in the initramfs. Remove the "
                           "devices file (as virt-sysprep's lvm-system-devices does; `guestprep fix --items "
                           "lvm-devices`), and rebuild the initramfs if it holds a copy. After import, "
                           "`vgimportdevices -a` on the instance writes a new one for its own disks.")
        else:
            hint = Message("Volume groups on these disks would not activate. Remove the devices file (as "
                           "virt-sysprep's lvm-system-devices does; `guestprep fix --items lvm-devices`), and rebuild "
                           "the initramfs if it holds a copy. After import, `vgimportdevices -a` on the instance "
                           "writes a new one for its own disks.")
        commands = [ctx.in_guest("mv {0} {0}.build-vm".format(DEVICES_FILE))]
        return self.results(findings, hint, commands=commands, paths=[DEVICES_FILE], data=data)
