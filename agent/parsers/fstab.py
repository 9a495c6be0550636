"""Parse /etc/fstab and sort its entries for the ECS fstab item.

An imported system disk comes up with new device names (virtio ``vda`` or
NVMe ``nvme0n1`` instead of ``sda`` or ``xvda``) and without the data disks it
had before, and an fstab entry that cannot be mounted stops the boot (002:
data disks in fstab stop the instance starting; 003: GUESTOS.Fstab). So the
check needs each entry's device reference kind (``UUID=`` survives, a kernel
name does not) and its role (system, swap, virtual, bind, network, data).

The syntax follows libmount: fields separated by blanks, ``#`` comments,
octal escapes such as ``\\040`` for a space, freq and passno optional.
"""

from agent.parsers import LazyPattern, ParseProblem, split_ending, split_lines
from agent.tuples import namedtuple


class FstabEntry(namedtuple("FstabEntry", (
    "lineno",                 # int
    "raw",                    # str
    "spec",                   # str
    "mountpoint",             # str
    "fstype",                 # str
    "options",                # tuple
    "freq",                   # int
    "passno",                 # int
))):
    """One mount line; ``raw`` is the line without its ending."""

    __slots__ = ()


VIRTUAL_FSTYPES = frozenset({
    "proc", "sysfs", "devpts", "tmpfs", "devtmpfs", "securityfs", "cgroup",
    "cgroup2", "pstore", "debugfs", "hugetlbfs", "mqueue", "configfs",
    "efivarfs", "binfmt_misc", "fusectl", "tracefs", "bpf", "autofs", "ramfs",
    "rpc_pipefs", "nfsd", "selinuxfs", "usbfs", "devfs", "xenfs",
})

NETWORK_FSTYPES = frozenset({
    "nfs", "nfs4", "cifs", "smbfs", "smb3", "glusterfs", "fuse.glusterfs",
    "ceph", "fuse.ceph", "sshfs", "fuse.sshfs", "davfs", "lustre", "afs",
    "ncpfs", "fuse.s3fs", "s3fs",
})

SYSTEM_MOUNTPOINTS = frozenset({"/", "/boot", "/boot/efi", "/efi"})

# Sources that name no device at all (pseudo filesystems and bind helpers).
_NO_DEVICE_SPECS = frozenset({"none", "nodev", "shm", "udev", "sunrpc"}) | VIRTUAL_FSTYPES

_TAGS = (("UUID=", "uuid"), ("LABEL=", "label"), ("PARTUUID=", "partuuid"),
         ("PARTLABEL=", "partlabel"))
_BY_DIRS = (("/dev/disk/by-uuid/", "uuid"), ("/dev/disk/by-label/", "label"),
            ("/dev/disk/by-partuuid/", "partuuid"),
            ("/dev/disk/by-partlabel/", "partlabel"))

# Names the kernel hands out in probe order: they change with the bus the
# disk sits on after import. Device-mapper, md and LVM names are stable.
_KERNEL_NAME = LazyPattern(
    r"/dev/(?:(?:sd|vd|xvd|hd)[a-z]+[0-9]*"
    r"|nvme[0-9]+n[0-9]+(?:p[0-9]+)?"
    r"|mmcblk[0-9]+(?:p[0-9]+)?)\Z")

_NUMBER = LazyPattern(r"[0-9]+\Z")
_OCTAL = LazyPattern(r"\\([0-3][0-7]{2})")


def _unescape(field):
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), field)


def _parse_line(lineno, body):
    fields = body.split()
    if len(fields) < 3:
        return ParseProblem(lineno, "fewer than 3 fields (spec, mount point, type)")
    if len(fields) > 6:
        return ParseProblem(lineno, f"{len(fields)} fields, at most 6 expected")
    numbers = []
    for field in fields[4:6]:
        if not _NUMBER.match(field):
            return ParseProblem(lineno, f"freq/passno not a number: {field!r}")
        numbers.append(int(field))
    numbers += [0] * (2 - len(numbers))
    options = tuple(fields[3].split(",")) if len(fields) > 3 else ()
    return FstabEntry(lineno, body, _unescape(fields[0]), _unescape(fields[1]),
                      _unescape(fields[2]), options, numbers[0], numbers[1])


def parse(text):
    """Return ``(entries, problems)`` for the fstab ``text``."""
    entries, problems = [], []
    for lineno, line in enumerate(split_lines(text), 1):
        body = split_ending(line)[0]
        stripped = body.strip()
        if not stripped or stripped.startswith("#"):
            continue
        result = _parse_line(lineno, body)
        (entries if isinstance(result, FstabEntry) else problems).append(result)
    return entries, problems


def spec_kind(spec):
    """Classify the first fstab field by how it names the filesystem.

    One of 'uuid', 'label', 'partuuid', 'partlabel' (tag or its
    /dev/disk/by-* link), 'devname' (other /dev paths), 'path' (a file or
    directory, e.g. a bind source), 'network', 'none' (pseudo filesystems)
    or 'other'.
    """
    for prefix, kind in _TAGS + _BY_DIRS:
        if spec.startswith(prefix):
            return kind
    if spec.startswith("/dev/"):
        return "devname"
    if spec.startswith("//"):
        return "network"
    if spec.startswith("/"):
        return "path"
    if ":" in spec:
        return "network"
    if spec in _NO_DEVICE_SPECS:
        return "none"
    return "other"


def is_kernel_device_name(spec):
    """True for names like /dev/sda1, /dev/xvdb, /dev/nvme0n1p1 that change on ECS."""
    return bool(_KERNEL_NAME.match(spec))


def classify(entry):
    """Return the role of an entry: system, swap, virtual, bind, network or data.

    Only system, swap (if on the system disk), virtual and bind entries may
    stay in an ECS image; network and data entries stop the boot when their
    target is missing (002).
    """
    if "bind" in entry.options or "rbind" in entry.options:
        return "bind"
    if entry.fstype == "swap":
        return "swap"
    if entry.fstype in VIRTUAL_FSTYPES:
        return "virtual"
    if entry.fstype in NETWORK_FSTYPES or spec_kind(entry.spec) == "network":
        return "network"
    if (entry.mountpoint.rstrip("/") or "/") in SYSTEM_MOUNTPOINTS:
        return "system"
    return "data"
