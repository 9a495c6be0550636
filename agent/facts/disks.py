"""Mounts, partitions and superblocks: the root filesystem, fstab, the system disk and, on a
mounted image, the host's view of the disk it lives on.

Everything is read through ctx.root, except the raw bytes of a block device (partition
table, ext4 superblock) that Root refuses by design: `read_device` reads those from a path
under /dev that is a block device: on the running system, or, with --root, the host's
device the image's root filesystem is mounted from (image_root: the host's mount table
and sysfs say which, the superblock gives the UUID that root= and fstab must name).
"""
import os
import re
import stat
import struct

from agent.core.model import Message
from agent.core.rootfs import RootError, read_up_to
from agent.parsers import LazyPattern
from agent.parsers import fstab as fstab_parser


def fstab_entries(ctx):
    def compute():
        try:
            text = ctx.root.read_config_or_none("/etc/fstab")
        except RootError:
            return []
        return fstab_parser.parse(text or "")[0]
    return ctx.fact("fstab_entries", compute)


def root_filesystem(ctx):
    """{'device', 'fstype', 'source', 'spec'} of the root filesystem (live: the mount table)."""
    def compute():
        if ctx.live is not None:
            try:
                mounts = ctx.live.mounts()
            except Exception:   # psutil missing: fall back to fstab
                mounts = []
            roots = [m for m in mounts if m[1] == "/"]
            if roots:
                device, _mp, fstype, _opts = roots[-1]
                return {"device": device, "fstype": fstype, "source": Message("the mount table"), "spec": device}
        for entry in fstab_entries(ctx):
            if (entry.mountpoint.rstrip("/") or "/") == "/":
                device = None
                if ctx.live is not None and ctx.root.isdir("/dev/disk"):
                    device = ctx.live.device_for(entry.spec)
                return {"device": device, "fstype": entry.fstype, "source": "/etc/fstab", "spec": entry.spec}
        return {"device": None, "fstype": None, "source": "", "spec": None}
    return ctx.fact("root_filesystem", compute)


# -- block devices (running system only) ---------------------------------------------

def read_device(path, offset, length):
    """`length` bytes at `offset` of the block device `path` of the running system.

    Only a path under /dev that is a block device is opened, read-only and non-blocking;
    raises OSError (EPERM, EACCES ...) or ValueError for anything else.
    """
    if not path.startswith("/dev/"):
        raise ValueError("{} is not under /dev".format(path))
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISBLK(os.fstat(fd).st_mode):
            raise ValueError("{} is not a block device".format(path))
        os.lseek(fd, offset, os.SEEK_SET)
        return read_up_to(fd, length)
    finally:
        os.close(fd)


def _read_device(path, offset, length):
    """read_device, or (None, why) instead of an exception."""
    try:
        return read_device(path, offset, length), ""
    except (OSError, ValueError) as e:
        return None, "{}: {}".format(path, getattr(e, "strerror", None) or e)


def kernel_name(ctx, device):
    """'vda1' or 'dm-0' for a /dev path (symlinks such as /dev/mapper/x followed)."""
    if not device or not device.startswith("/dev/") or device == "/dev/root":
        return None
    try:
        return ctx.root.guest(ctx.root.resolve(device)).rsplit("/", 1)[-1]
    except RootError:
        return None


def _sys(ctx, name, leaf):
    try:
        text = ctx.root.read_config_or_none("/sys/class/block/{}/{}".format(name, leaf))
    except RootError:
        return None
    return text.strip() if text is not None else None


def _disk_of(ctx, name):
    """The whole disk a partition belongs to (the disk itself when it is one)."""
    if _sys(ctx, name, "partition") is None:
        return name
    try:
        target = ctx.root.readlink("/sys/class/block/" + name)
    except (OSError, RootError):
        target = ""
    parts = [p for p in target.split("/") if p]
    if len(parts) >= 2 and parts[-1] == name:
        return parts[-2]
    match = re.match(r"(.*?\d+n\d+|mmcblk\d+|[a-z]+)(p?\d+)$", name)
    return match.group(1) if match else name


def underlying_disks(ctx, name, depth=0):
    """Whole disks under a block device: through dm (LVM, crypt) and md slaves."""
    slaves = ctx.root.listdir("/sys/class/block/{}/slaves".format(name)) if depth < 8 else []
    if not slaves:
        return {_disk_of(ctx, name)}
    disks = set()
    for slave in slaves:
        disks |= underlying_disks(ctx, slave, depth + 1)
    return disks


ESP_GUID = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"
BIOS_BOOT_GUID = "21686148-6449-6e6f-744e-656564454649"


def _guid(raw):
    a, b, c = struct.unpack("<IHH", raw[:8])
    return "{:08x}-{:04x}-{:04x}-{}-{}".format(a, b, c, raw[8:10].hex(), raw[10:16].hex())


def partition_table(data, read=None):
    """('gpt'|'mbr'|'none', [partition type strings]) from a disk's first sectors.

    `read(offset, length)` fetches the GPT partition entries when they lie beyond `data`.
    """
    if len(data) < 512 or data[510:512] != b"\x55\xaa":
        return "none", []
    types = [data[446 + 16 * i + 4] for i in range(4)]
    if 0xEE in types and len(data) >= 1024 and data[512:520] == b"EFI PART":
        entry_lba, count, size = struct.unpack("<QII", data[512 + 72:512 + 88])
        count, size = min(count, 256), size or 128
        entries = data[entry_lba * 512:entry_lba * 512 + count * size]
        if len(entries) < count * size and read is not None:
            entries = read(entry_lba * 512, count * size) or b""
        guids = []
        for i in range(len(entries) // size):
            raw = entries[i * size:i * size + 16]
            if raw != b"\x00" * 16:
                guids.append(_guid(raw))
        return "gpt", guids
    return "mbr", ["0x{:02x}".format(t) for t in types if t]


def system_disk(ctx):
    """Facts of the disk holding / on the running system; {'known': False, 'why'} otherwise."""
    def compute():
        if ctx.live is None:
            return {"known": False, "why": Message("the image is not running")}
        rootfs = root_filesystem(ctx)
        name = kernel_name(ctx, rootfs["device"])
        if not name or not ctx.root.exists("/sys/class/block/" + name):
            return {"known": False, "why": Message("the root device {device} is not a block device guestprep "
                                                  "can follow in /sys", device=rootfs["device"] or "?")}
        disks = sorted(underlying_disks(ctx, name))
        facts = {"known": True, "root_device": "/dev/" + name, "disks": disks,
                 "lvm": name.startswith("dm-")}
        disk = disks[0]
        facts["disk"] = "/dev/" + disk
        size = _sys(ctx, disk, "size")
        facts["size_bytes"] = int(size) * 512 if size and size.isdigit() else None
        facts["partitions"] = [p for p in ctx.root.listdir("/sys/class/block/" + disk)
                               if p.startswith(disk) and _sys(ctx, p, "partition") is not None]
        data, why = _read_device("/dev/" + disk, 0, 34 * 512)
        if data is None:
            facts["table"], facts["part_types"], facts["table_why"] = None, [], why
        else:
            facts["table"], facts["part_types"] = partition_table(
                data, lambda off, n: _read_device("/dev/" + disk, off, n)[0])
            facts["table_why"] = ""
        return facts
    return ctx.fact("system_disk", compute)


EXT4_64BIT = 0x80          # s_feature_incompat
EXT4_QUOTA = 0x100         # s_feature_ro_compat
EXT4_PROJECT = 0x2000      # s_feature_ro_compat


def ext_features(superblock):
    """{'64bit', 'quota', 'project'} booleans from the 1024 bytes of an ext2/3/4 superblock,
    or None when the bytes are not one."""
    if len(superblock) < 0x68 or superblock[0x38:0x3A] != b"\x53\xef":
        return None
    _compat, incompat, ro_compat = struct.unpack("<III", superblock[0x5C:0x68])
    return {"64bit": bool(incompat & EXT4_64BIT), "quota": bool(ro_compat & EXT4_QUOTA),
            "project": bool(ro_compat & EXT4_PROJECT)}


def root_ext_features(ctx):
    """(features dict or None, why not) of the root filesystem's superblock (live only)."""
    def compute():
        if ctx.live is None:
            return None, Message("the superblock of a mounted image's filesystem is out of reach from --root")
        name = kernel_name(ctx, root_filesystem(ctx)["device"])
        if not name:
            return None, Message("the root device is not known")
        data, why = _read_device("/dev/" + name, 1024, 1024)
        if data is None:
            return None, Message("cannot read the superblock ({error})", error=why)
        features = ext_features(data)
        if features is None:
            return None, Message("{device} does not hold an ext2/3/4 superblock", device="/dev/" + name)
        return features, ""
    return ctx.fact("root_ext_features", compute)


# -- the mounted image's own disk (--root, read on the host) ----------------------------
#
# With --root the image is not running, but the host has it mounted: the filesystem at the
# root path is the image's root filesystem, so its UUID is the one root= and /etc/fstab
# must name. The host's mount table and the superblock are host facts: they are read
# here, in Python, without starting any program of the image.

MOUNTINFO = "/proc/self/mountinfo"
HOST_SYS_BLOCK = "/sys/class/block"


def _unescape(field):
    """mountinfo escapes blanks and backslashes as \\040-style octal."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo(text):
    """[{'dev': (major, minor), 'root', 'mountpoint', 'fstype', 'source'}] of /proc/*/mountinfo
    lines, in order (a later mount on the same point hides the earlier ones)."""
    mounts = []
    for line in (text or "").splitlines():
        fields = line.split(" ")
        if "-" not in fields[6:]:
            continue
        dash = fields.index("-", 6)
        if len(fields) < dash + 3 or ":" not in fields[2]:
            continue
        major, _, minor = fields[2].partition(":")
        if not (major.isdigit() and minor.isdigit()):
            continue
        mounts.append({"dev": (int(major), int(minor)), "root": _unescape(fields[3]),
                       "mountpoint": _unescape(fields[4]), "fstype": fields[dash + 1],
                       "source": _unescape(fields[dash + 2])})
    return mounts


def _uuid_text(raw):
    h = raw.hex()
    return "{}-{}-{}-{}-{}".format(h[:8], h[8:12], h[12:16], h[16:20], h[20:32])


SWAP_PAGE_SIZES = (4096, 8192, 16384, 65536)


def filesystem_uuid(read):
    """(fstype, UUID) of the filesystem whose bytes `read(offset, length)` returns, or
    (None, None): ext2/3/4, XFS, btrfs, swap and FAT (the EFI system partition), the
    UUID as blkid prints it. Short reads mean 'not this filesystem', never an exception."""
    ext = read(1024, 0x78) or b""
    if len(ext) >= 0x78 and ext[0x38:0x3A] == b"\x53\xef":
        return "ext4", _uuid_text(ext[0x68:0x78])
    head = read(0, 0x200) or b""
    if len(head) >= 0x30 and head[:4] == b"XFSB":
        return "xfs", _uuid_text(head[0x20:0x30])
    btrfs = read(0x10000, 0x48) or b""
    if len(btrfs) >= 0x48 and btrfs[0x40:0x48] == b"_BHRfS_M":
        return "btrfs", _uuid_text(btrfs[0x20:0x30])
    for page in SWAP_PAGE_SIZES:
        if (read(page - 10, 10) or b"") in (b"SWAPSPACE2",):
            swap = read(1024, 0x1C) or b""
            if len(swap) >= 0x1C:
                return "swap", _uuid_text(swap[0x0C:0x1C])
    if len(head) >= 0x5A and head[510:512] == b"\x55\xaa":
        for name_at, serial_at in ((0x52, 0x43), (0x36, 0x27)):   # FAT32, FAT12/16
            if head[name_at:name_at + 3] == b"FAT":
                serial = struct.unpack("<I", head[serial_at:serial_at + 4])[0]
                return "vfat", "{:04X}-{:04X}".format(serial >> 16, serial & 0xFFFF)
    return None, None


def _host_text(path):
    try:
        with open(path) as handle:
            return handle.read(1 << 20)
    except (OSError, IOError, UnicodeDecodeError):
        return None


def _block_name(major, minor, source):
    """Kernel name of the block device major:minor (its /sys/dev/block link), else the
    mount source when it is a /dev path (btrfs reports an anonymous device number)."""
    link = "/sys/dev/block/{}:{}".format(major, minor)
    if os.path.exists(link):
        return os.path.basename(os.path.realpath(link))
    if source.startswith("/dev/") and os.path.exists(source):
        return os.path.basename(os.path.realpath(source))
    return None


def _partition_number(name):
    text = _host_text("{}/{}/partition".format(HOST_SYS_BLOCK, name))
    return int(text.strip()) if text and text.strip().isdigit() else None


def _device_uuid(name):
    """(fstype, uuid, why) of /dev/<name> on the host."""
    path = "/dev/" + name
    problems = []

    def read(offset, length):
        data, why = _read_device(path, offset, length)
        if data is None and why not in problems:
            problems.append(why)
        return data

    fstype, uuid = filesystem_uuid(read)
    if uuid:
        return fstype, uuid, ""
    return None, None, "; ".join(problems) or "no ext2/3/4, XFS, btrfs, swap or FAT superblock on " + path


def image_root(ctx):
    """The host's view of the disk a mounted image (--root) lives on.

    {'known': bool, 'why': why not, 'device': '/dev/loop0p1', 'fstype', 'uuid',
    'partition': 1 or None, 'disk': 'loop0', 'siblings': {partition number: {'device',
    'fstype', 'uuid'}}}. Siblings are the other partitions of the same disk when the host
    sees them (a loop device set up with --partscan, a qemu-nbd device).
    """
    def compute():
        path = ctx.root.path
        if ctx.live is not None:
            return {"known": False, "why": Message("the image is the running system")}
        text = _host_text(MOUNTINFO)
        if text is None:
            return {"known": False, "why": Message("cannot read {path}", path=MOUNTINFO)}
        mounts = [m for m in parse_mountinfo(text) if m["mountpoint"] == path]
        if not mounts:
            return {"known": False, "plain_directory": True,
                    "why": Message("{path} is not a mount point (a plain directory), so guestprep cannot "
                                   "tell which filesystem it came from", path=path)}
        mount = mounts[-1]
        # A btrfs subvolume (/@, /root) is mounted from inside its filesystem, whose UUID
        # is the one root= and fstab name; anything else mounted from a subdirectory is a
        # bind mount of some other filesystem's directory.
        if mount["root"] != "/" and mount["fstype"] != "btrfs":
            return {"known": False, "why": Message("{path} is a bind mount of {directory} inside {source}, not the "
                                                  "root of a filesystem", path=path, directory=mount["root"],
                                                  source=mount["source"])}
        name = _block_name(mount["dev"][0], mount["dev"][1], mount["source"])
        if name is None:
            return {"known": False, "why": Message("{path} is mounted from {source} ({fstype}), which is not a block "
                                                  "device on this host", path=path, source=mount["source"],
                                                  fstype=mount["fstype"])}
        fstype, uuid, why = _device_uuid(name)
        if uuid is None:
            return {"known": False, "why": Message("cannot read the UUID of {device}: {error}", device="/dev/" + name,
                                                  error=why)}
        facts = {"known": True, "why": "", "device": "/dev/" + name, "fstype": fstype, "uuid": uuid,
                 "partition": _partition_number(name), "disk": None, "siblings": {}}
        if facts["partition"] is not None:
            disk = os.path.basename(os.path.dirname(os.path.realpath("{}/{}".format(HOST_SYS_BLOCK, name))))
            facts["disk"] = disk
            try:
                names = sorted(os.listdir("{}/{}".format(HOST_SYS_BLOCK, disk)))
            except OSError:
                names = []
            for other in names:
                number = _partition_number(other) if other.startswith(disk) else None
                if number is None:
                    continue
                other_type, other_uuid, _why = (fstype, uuid, "") if other == name else _device_uuid(other)
                if other_uuid:
                    facts["siblings"][number] = {"device": "/dev/" + other, "fstype": other_type,
                                                 "uuid": other_uuid}
        return facts
    return ctx.fact("image_root", compute)


_PARTITION = LazyPattern(r"^/dev/((?:sd|vd|xvd|hd)[a-z]+|nvme[0-9]+n[0-9]+p|mmcblk[0-9]+p)([0-9]+)$")


def split_partition(device):
    """('/dev/sda', 1) for /dev/sda1, ('/dev/nvme0n1', 2) for /dev/nvme0n1p2; (None, None) else."""
    match = _PARTITION.match(device or "")
    if not match:
        return None, None
    disk = match.group(1)
    return "/dev/" + (disk[:-1] if disk.endswith("p") and not disk.startswith(("sd", "vd", "xvd", "hd"))
                      else disk), int(match.group(2))


_FSTYPE_FAMILIES = {"ext2": "ext4", "ext3": "ext4", "ext4": "ext4", "xfs": "xfs", "btrfs": "btrfs",
                    "swap": "swap", "vfat": "vfat", "msdos": "vfat", "fat": "vfat"}


def image_uuid_of(ctx, device, root_spec, fstype="auto"):
    """UUID of `device` (a kernel name from the image's old machine: /dev/sda2) on a mounted
    image, or None. `root_spec` is the kernel name the image uses for its root filesystem
    (root= or the / line of fstab): the image's root is the filesystem at --root, and a
    partition of the same old disk is the host partition with the same number, when the
    host sees the image's partitions. With `fstype` (fstab's third field) a filesystem of
    another type there is not taken for it."""
    image = image_root(ctx)
    if not image.get("known"):
        return None
    if device == root_spec:
        found = {"uuid": image["uuid"], "fstype": image["fstype"]}
    else:
        disk, number = split_partition(device)
        root_disk, root_number = split_partition(root_spec)
        if disk is None or disk != root_disk or root_number != image.get("partition"):
            return None
        found = image["siblings"].get(number)
    if not found:
        return None
    want = _FSTYPE_FAMILIES.get(fstype)
    if want is not None and want != _FSTYPE_FAMILIES.get(found["fstype"]):
        return None
    return found["uuid"]
