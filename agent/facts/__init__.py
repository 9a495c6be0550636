"""Facts several checks and the ImportImage advice share, computed once per run.

The architecture (from an ELF header, so it works on a mounted image of another
architecture), the boot entries and default kernel, the boot mode, the root filesystem
and, on the running system, the system disk. Each is cached on the context
(`ctx.fact(name, compute)`), so GUESTOS.Architecture, GUESTOS.BootMode, the
community-image name and the ImportImage command line all read the target once.

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

from agent.facts import kernels
from agent.parsers import bootcfg, keyvalue
from agent.parsers import fstab as fstab_parser
from agent.core.rootfs import RootError

# -- small helpers ------------------------------------------------------------------


version_key = kernels.version_key


def numeric_version(version):
    """(2, 6) from '1:2.06-13+deb12u1' or '2.06-0.87.el7': epoch dropped, leading numbers."""
    version = (version or "").split(":", 1)[-1]
    match = re.match(r"(\d+(?:\.\d+)*)", version)
    return tuple(int(p) for p in match.group(1).split(".")) if match else ()


def at_least(version, floor):
    """True when the dotted `version` is at least `floor` (a tuple of ints)."""
    have = numeric_version(version)
    return bool(have) and have >= tuple(floor)


# -- architecture (ELF header) ------------------------------------------------------

ELF_MACHINES = {2: "sparc", 3: "i386", 8: "mips", 20: "ppc", 21: "ppc64", 22: "s390x", 40: "arm",
                43: "sparc64", 62: "x86_64", 183: "arm64", 243: "riscv64", 258: "loongarch64"}
# The values ImportImage's Architecture takes (001: 32-bit, 64-bit, Arm 64-bit).
IMPORT_ARCHITECTURES = ("x86_64", "arm64", "i386")
ELF_CANDIDATES = ("/bin/sh", "/usr/bin/env", "/bin/bash", "/usr/bin/bash", "/sbin/init", "/usr/bin/ls")


def parse_elf(data):
    """(architecture or None, bits, problem) from the first bytes of an ELF file."""
    if len(data) < 20 or data[:4] != b"\x7fELF":
        return None, 0, "not an ELF file"
    bits = {1: 32, 2: 64}.get(data[4], 0)
    order = {1: "<", 2: ">"}.get(data[5])
    if not bits or not order:
        return None, bits, "unknown ELF class or byte order"
    machine = struct.unpack(order + "H", data[18:20])[0]
    name = ELF_MACHINES.get(machine)
    if name is None:
        return None, bits, "unknown ELF machine {}".format(machine)
    if name == "x86_64" and bits == 32:
        name = "x32"
    return name, bits, ""


def architecture(ctx):
    """{'arch', 'bits', 'source', 'problems'}: the first readable ELF among ELF_CANDIDATES."""
    def compute():
        problems = []
        for path in ELF_CANDIDATES:
            if not ctx.root.exists(path):
                continue
            try:
                data = ctx.root.read_bytes(path)[:64]
            except RootError as e:
                problems.append(str(e))
                continue
            arch, bits, problem = parse_elf(data)
            if arch:
                return {"arch": arch, "bits": bits, "source": path, "problems": problems}
            problems.append("{}: {}".format(path, problem))
        return {"arch": None, "bits": 0, "source": "", "problems": problems}
    return ctx.fact("architecture", compute)


# -- kernels and boot entries ---------------------------------------------------------

_KERNEL_PREFIXES = ("vmlinuz-", "vmlinux-", "Image-", "kernel-")


def kernel_version_of(path):
    """'6.1.0-18-amd64' from '/boot/vmlinuz-6.1.0-18-amd64' (None for other names)."""
    base = (path or "").rsplit("/", 1)[-1].rsplit(")", 1)[-1]
    for prefix in _KERNEL_PREFIXES:
        if base.startswith(prefix) and len(base) > len(prefix):
            return base[len(prefix):]
    return None


def is_rescue(version):
    return "rescue" in (version or "")


# Which kernels are installed, and where each one's files are, is kernels.py's to say; the
# checks here ask it, so every check agrees on the list.

def installed_kernels(ctx):
    """Versions of the installed kernels (those with a boot image), oldest first."""
    return [k.version for k in kernels.installed(ctx) if not is_rescue(k.version)]


def _kernel(ctx, version):
    return next((k for k in kernels.installed(ctx) if k.version == version), None)


def initramfs_for(ctx, version):
    """The /boot initramfs of a kernel version, or None."""
    kernel = _kernel(ctx, version)
    return kernel.initramfs if kernel else None


GRUB2_CFGS = ("/boot/grub2/grub.cfg", "/boot/grub/grub.cfg")
LEGACY_CFGS = ("/boot/grub/grub.conf", "/boot/grub/menu.lst", "/boot/grub/menu.list")
BLS_DIR = "/boot/loader/entries"
GRUBENVS = ("/boot/grub2/grubenv", "/boot/grub/grubenv")


class BootConfig(object):
    """One boot configuration file: kind 'grub2', 'legacy' or 'bls', its text and entries."""

    def __init__(self, path, kind, text=None, entries=(), default="", problem=""):
        self.path = path
        self.kind = kind
        self.text = text
        self.entries = list(entries)
        self.default = default
        self.problem = problem


def _efi_grub_cfgs(ctx):
    found = []
    for esp in ("/boot/efi/EFI", "/efi/EFI"):
        for vendor in ctx.root.listdir(esp):
            path = "{}/{}/grub.cfg".format(esp, vendor)
            if ctx.root.isfile(path):
                found.append(path)
    return found


def boot_configs(ctx):
    """Every GRUB 2, GRUB legacy and BLS file of the target (a file behind two names once)."""
    def compute():
        configs, seen = [], set()
        candidates = ([(p, "grub2") for p in GRUB2_CFGS + tuple(_efi_grub_cfgs(ctx))]
                      + [(p, "legacy") for p in LEGACY_CFGS]
                      + [(p, "bls") for p in ctx.root.glob(BLS_DIR + "/*.conf")])
        for path, kind in candidates:
            if not ctx.root.lexists(path):
                continue
            try:
                real = ctx.root.resolve(path)
            except RootError as e:
                configs.append(BootConfig(path, kind, problem=str(e.reason)))
                continue
            if real in seen:
                continue
            seen.add(real)
            try:
                text = ctx.root.read_config(path)
            except RootError as e:
                configs.append(BootConfig(path, kind, problem=e.reason))
                continue
            if kind == "grub2":
                configs.append(BootConfig(path, kind, text, bootcfg.grub2_entries(text)))
            elif kind == "legacy":
                default, entries = bootcfg.grub_legacy_entries(text)
                configs.append(BootConfig(path, kind, text, entries, default))
            else:
                configs.append(BootConfig(path, kind, text, [_bls_entry(path, text)]))
        return configs
    return ctx.fact("boot_configs", compute)


def _bls_entry(path, text):
    fields = bootcfg.bls_fields(text)
    kernel_lines = bootcfg.bls_entry(text)
    title = (fields.get("title") or [(0, "")])[0][1]
    initrds = tuple((lineno, word) for lineno, value in fields.get("initrd", ())
                    for word in value.split())
    kernel = kernel_lines[0] if kernel_lines else None
    entry_id = path.rsplit("/", 1)[-1][:-len(".conf")]
    return bootcfg.MenuEntry(kernel.lineno if kernel else 1, title, entry_id, (title,), kernel, initrds)


def grubenv(ctx):
    for path in GRUBENVS:
        try:
            text = ctx.root.read_config_or_none(path)
        except RootError:
            continue
        if text is not None:
            values = {}
            for line in text.splitlines():
                if "=" in line and not line.startswith("#"):
                    key, _, value = line.partition("=")
                    values[key] = value
            return path, values
    return None, {}


def _grub_default(ctx):
    try:
        text = ctx.root.read_config_or_none("/etc/default/grub")
    except RootError:
        text = None
    if text is None:
        return "0"
    values, _problems = keyvalue.parse(text)
    return (keyvalue.get(values, "GRUB_DEFAULT") or "0").strip()


def _pick(entries, wanted):
    """The entry GRUB boots for a default of `wanted`: index (top level), title, id or a>b path."""
    if not entries:
        return None
    if wanted.isdigit():
        top = [e for e in entries if len(e.path) == 1]
        index = int(wanted)
        return top[index] if index < len(top) else None
    parts = tuple(wanted.split(">"))
    for entry in entries:
        if wanted in (entry.title, entry.entry_id) or entry.path == parts:
            return entry
        if len(parts) > 1 and parts[-1] in (entry.title, entry.entry_id):
            return entry
    return None


def default_kernel(ctx):
    """{'version', 'how', 'entry_source'}: the kernel the boot loader starts by default."""
    def compute():
        configs = [c for c in boot_configs(ctx) if not c.problem]
        env_path, env = grubenv(ctx)
        grub_default = _grub_default(ctx)
        bls = [c for c in configs if c.kind == "bls" and c.entries[0].kernel is not None]
        if bls:
            entries = sorted((c.entries[0] for c in bls),
                             key=lambda e: version_key(kernel_version_of(e.kernel.kernel) or ""), reverse=True)
            saved = env.get("saved_entry", "")
            chosen = None
            if saved and grub_default == "saved":
                chosen = next((e for e in entries if e.entry_id == saved), None)
            how = "BLS entry {} ({} in {})".format(chosen.entry_id, "saved_entry", env_path) if chosen else ""
            if chosen is None:
                chosen = next((e for e in entries if not is_rescue(kernel_version_of(e.kernel.kernel))), entries[0])
                how = "the newest Boot Loader Spec entry ({}.conf)".format(chosen.entry_id)
            return {"version": kernel_version_of(chosen.kernel.kernel), "how": how}
        for config in configs:
            if config.kind != "grub2" or not config.entries:
                continue
            wanted = grub_default
            source = "GRUB_DEFAULT={}".format(grub_default)
            if grub_default == "saved":
                wanted = env.get("saved_entry", "") or "0"
                source = "saved_entry={} in {}".format(wanted, env_path) if env.get("saved_entry") else \
                    "GRUB_DEFAULT=saved, nothing saved"
            entry = _pick(config.entries, wanted) or config.entries[0]
            if entry.kernel is not None and kernel_version_of(entry.kernel.kernel):
                return {"version": kernel_version_of(entry.kernel.kernel),
                        "how": "menu entry '{}' of {} ({})".format(entry.title, config.path, source)}
        for config in configs:
            if config.kind != "legacy" or not config.entries:
                continue
            entry = _pick(config.entries, config.default if config.default.isdigit() else "0")
            entry = entry or config.entries[0]
            if entry.kernel is not None and kernel_version_of(entry.kernel.kernel):
                return {"version": kernel_version_of(entry.kernel.kernel),
                        "how": "entry '{}' of {} (default={})".format(entry.title, config.path,
                                                                       config.default or "0")}
        kernels = installed_kernels(ctx)
        if kernels:
            return {"version": kernels[-1], "how": "the newest kernel in /boot (no boot menu entry found)"}
        return {"version": None, "how": "no kernel found in /boot"}
    return ctx.fact("default_kernel", compute)


def running_kernel(ctx):
    """The running kernel's release (live only), else None."""
    return kernels.running_version(ctx)


def kernel_major_minor(version):
    match = re.match(r"(\d+)\.(\d+)", version or "")
    return "{}.{}".format(match.group(1), match.group(2)) if match else None


def has_kernel_feature(ctx, version, module, config_key):
    """True/False/None (unknown): `module` built in or shipped for kernel `version`."""
    kernel = _kernel(ctx, version)
    if kernel is None or not (kernel.config or kernel.modules_dir):
        return None
    mods = kernels.modules_of(ctx, kernel, {module: config_key})
    if module in mods.builtin or mods.config.get(config_key) in ("y", "m"):
        return True
    if mods.provided and module in mods.provided:
        return True
    if mods.problems or (not mods.config and mods.provided is None):
        return None  # the config or the module lists could not be read: unknown, not absent
    return False


# -- root filesystem and fstab ----------------------------------------------------------

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
                return {"device": device, "fstype": fstype, "source": "the mount table", "spec": device}
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
        chunks, left = [], length
        while left > 0:
            chunk = os.read(fd, left)
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
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


def _underlying_disks(ctx, name, depth=0):
    """Whole disks under a block device: through dm (LVM, crypt) and md slaves."""
    slaves = ctx.root.listdir("/sys/class/block/{}/slaves".format(name)) if depth < 8 else []
    if not slaves:
        return {_disk_of(ctx, name)}
    disks = set()
    for slave in slaves:
        disks |= _underlying_disks(ctx, slave, depth + 1)
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
            return {"known": False, "why": "the image is not running"}
        rootfs = root_filesystem(ctx)
        name = kernel_name(ctx, rootfs["device"])
        if not name or not ctx.root.exists("/sys/class/block/" + name):
            return {"known": False, "why": "the root device {} is not a block device guestprep can "
                    "follow in /sys".format(rootfs["device"] or "(unknown)")}
        disks = sorted(_underlying_disks(ctx, name))
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
            return None, "the superblock of a mounted image's filesystem is out of reach from --root"
        name = kernel_name(ctx, root_filesystem(ctx)["device"])
        if not name:
            return None, "the root device is not known"
        data, why = _read_device("/dev/" + name, 1024, 1024)
        if data is None:
            return None, "cannot read the superblock ({})".format(why)
        features = ext_features(data)
        if features is None:
            return None, "/dev/{} does not hold an ext2/3/4 superblock".format(name)
        return features, ""
    return ctx.fact("root_ext_features", compute)


# -- boot mode ---------------------------------------------------------------------------

EFI_PACKAGES = ("grub-efi-amd64", "grub-efi-amd64-signed", "grub-efi-amd64-bin", "grub-efi-arm64",
                "grub-efi-arm64-signed", "grub-efi-ia32", "grub2-efi-x64", "grub2-efi-aa64",
                "grub2-efi-ia32", "grub2-x86_64-efi", "grub2-arm64-efi", "shim", "shim-x64",
                "shim-aa64", "shim-signed", "systemd-boot")
BIOS_PACKAGES = ("grub-pc", "grub2-pc", "grub2-i386-pc", "grub", "grub-legacy")
BIOS_DIRS = ("/boot/grub/i386-pc", "/boot/grub2/i386-pc")


def esp_entry(ctx):
    for entry in fstab_entries(ctx):
        if (entry.mountpoint.rstrip("/") in ("/boot/efi", "/efi")) and entry.fstype in ("vfat", "msdos", "fat"):
            return entry
    return None


def boot_mode(ctx):
    """What the image can boot with and the BootMode to pick on import.

    {'mode': 'BIOS'|'UEFI'|'UEFI-Preferred'|None, 'efi', 'bios' (bools), 'booted' ('UEFI',
    'BIOS' or None offline), 'evidence' [strings], 'problems' [strings]}.
    """
    def compute():
        evidence, problems = [], []
        booted = None
        if ctx.live is not None:
            booted = "UEFI" if ctx.root.isdir("/sys/firmware/efi") else "BIOS"
            evidence.append("booted via {} now (/sys/firmware/efi {})".format(
                booted, "present" if booted == "UEFI" else "absent"))
        esp = esp_entry(ctx)
        pk = ctx.packages
        efi_pkgs = [p for p in EFI_PACKAGES if p in pk]
        bios_pkgs = [p for p in BIOS_PACKAGES if p in pk]
        bios_dirs = [d for d in BIOS_DIRS if ctx.root.isdir(d)]
        legacy = [c.path for c in boot_configs(ctx) if c.kind == "legacy" and not c.problem]
        if esp is not None:
            evidence.append("an EFI system partition in /etc/fstab ({} on {})".format(esp.spec, esp.mountpoint))
        if efi_pkgs:
            evidence.append("EFI boot packages: " + ", ".join(efi_pkgs))
        if bios_pkgs or bios_dirs:
            evidence.append("BIOS GRUB: " + ", ".join(bios_pkgs + bios_dirs))
        if legacy:
            evidence.append("GRUB legacy ({}), which boots with BIOS only".format(", ".join(legacy)))
        efi = booted == "UEFI" or (esp is not None and bool(efi_pkgs))
        bios = booted == "BIOS" or bool(bios_dirs) or bool(legacy) or bool(bios_pkgs)
        if esp is None and efi_pkgs and booted != "UEFI":
            problems.append("EFI packages are installed but /etc/fstab mounts no EFI system partition")
        arch = architecture(ctx)["arch"]
        if arch == "arm64":
            mode = "UEFI"
            if not efi:
                problems.append("arm64 instances boot with UEFI only, and no UEFI boot loader was found")
        elif efi and bios:
            mode = "UEFI-Preferred"
        elif efi:
            mode = "UEFI"
        elif bios:
            mode = "BIOS"
        else:
            mode = None
        disk = system_disk(ctx)
        if (mode in ("BIOS", "UEFI-Preferred") and disk.get("known") and disk.get("table") == "gpt"
                and BIOS_BOOT_GUID not in disk.get("part_types", [])):
            problems.append("{} has a GPT partition table without a BIOS boot partition, so GRUB "
                            "cannot boot it with BIOS".format(disk["disk"]))
            if efi:
                mode = "UEFI"
        return {"mode": mode, "efi": efi, "bios": bios, "booted": booted, "evidence": evidence,
                "problems": problems}
    return ctx.fact("boot_mode", compute)


# -- platform (ImportImage Platform values) -------------------------------------------------

# os-release ID -> ImportImage Platform, for the distributions seed 000 lists as supported.
SUPPORTED_PLATFORMS = {
    "alinux": "Aliyun", "aliyun": "Aliyun", "anolis": "Anolis", "centos": "CentOS",
    "debian": "Debian", "opensuse": "OpenSUSE", "opensuse-leap": "OpenSUSE",
    "opensuse-tumbleweed": "OpenSUSE", "rhel": "RedHat", "sles": "SUSE", "sled": "SUSE",
    "sles_sap": "SUSE", "ubuntu": "Ubuntu", "coreos": "CoreOS", "almalinux": "AlmaLinux",
    "rocky": "Rocky Linux", "freebsd": "FreeBSD",
}
# Values ImportImage accepts although seed 000 does not list the distribution.
OTHER_PLATFORMS = {"fedora": "Fedora", "fedora-coreos": "Fedora CoreOS", "kylin": "Kylin",
                   "uos": "UOS", "gentoo": "Gentoo"}
OTHERS = "Others Linux"
CUSTOMIZED = "Customized Linux"


def is_centos_stream(os_info):
    return os_info.id == "centos" and "stream" in (os_info.name or "").lower()


def platform_of(os_info):
    """(Platform value, 'supported' | 'accepted' | 'unsupported')."""
    if is_centos_stream(os_info):
        return "CentOS Stream", "supported"
    if os_info.id in SUPPORTED_PLATFORMS:
        return SUPPORTED_PLATFORMS[os_info.id], "supported"
    if os_info.id in OTHER_PLATFORMS:
        return OTHER_PLATFORMS[os_info.id], "accepted"
    return OTHERS, "unsupported"


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
            return {"known": False, "why": "the image is the running system"}
        text = _host_text(MOUNTINFO)
        if text is None:
            return {"known": False, "why": "cannot read " + MOUNTINFO}
        mounts = [m for m in parse_mountinfo(text) if m["mountpoint"] == path]
        if not mounts:
            return {"known": False, "plain_directory": True,
                    "why": "{} is not a mount point (a plain directory), so guestprep cannot "
                    "tell which filesystem it came from".format(path)}
        mount = mounts[-1]
        # A btrfs subvolume (/@, /root) is mounted from inside its filesystem, whose UUID
        # is the one root= and fstab name; anything else mounted from a subdirectory is a
        # bind mount of some other filesystem's directory.
        if mount["root"] != "/" and mount["fstype"] != "btrfs":
            return {"known": False, "why": "{} is a bind mount of {} inside {}, not the root of a "
                    "filesystem".format(path, mount["root"], mount["source"])}
        name = _block_name(mount["dev"][0], mount["dev"][1], mount["source"])
        if name is None:
            return {"known": False, "why": "{} is mounted from {} ({}), which is not a block device on this "
                    "host".format(path, mount["source"], mount["fstype"])}
        fstype, uuid, why = _device_uuid(name)
        if uuid is None:
            return {"known": False, "why": "cannot read the UUID of /dev/{}: {}".format(name, why)}
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


_PARTITION = re.compile(r"^/dev/((?:sd|vd|xvd|hd)[a-z]+|nvme[0-9]+n[0-9]+p|mmcblk[0-9]+p)([0-9]+)$")


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


# -- how the initramfs tool picks drivers ------------------------------------------------
#
# initramfs-tools with MODULES=dep and dracut with hostonly="yes" put into the image only the
# drivers of the machine the rebuild runs on: on the old hypervisor (vmw_pvscsi, hv_storvsc)
# or on the helper machine that has the disk mounted, never ECS's virtio or NVMe drivers.
# mkinitramfs sources initramfs.conf, then conf.d/* in name order; dracut sources
# dracut.conf, then the *.conf files of /etc/dracut.conf.d and /usr/lib/dracut/dracut.conf.d
# merged by name (a name in /etc hides the one in /usr/lib). The last assignment wins.

INITRAMFS_TOOLS_CONF = "/etc/initramfs-tools/initramfs.conf"
INITRAMFS_TOOLS_CONF_D = "/etc/initramfs-tools/conf.d"
DRACUT_CONF = "/etc/dracut.conf"
DRACUT_CONF_DIRS = ("/etc/dracut.conf.d", "/usr/lib/dracut/dracut.conf.d")
_MKINITRAMFS_CONF_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def _last_assignment(ctx, paths, key):
    """(value, path, lineno) of the last assignment of `key` over the shell files `paths`."""
    found = (None, None, 0)
    for path in paths:
        try:
            text = ctx.root.read_config_or_none(path)
        except RootError:
            continue
        if text is None:
            continue
        for assignment in keyvalue.parse(text)[0]:
            if assignment.key == key:
                found = (assignment.value.strip(), path, assignment.lineno)
    return found


def initramfs_tools_conf_files(ctx, extra=None):
    """The files mkinitramfs reads its settings from, in order (with `extra`, a conf.d file
    that is about to be written)."""
    names = set(n for n in ctx.root.listdir(INITRAMFS_TOOLS_CONF_D)
                if _MKINITRAMFS_CONF_NAME.match(n) and ".dpkg-" not in n)
    if extra:
        names.add(extra.rsplit("/", 1)[1])
    return [INITRAMFS_TOOLS_CONF] + [INITRAMFS_TOOLS_CONF_D + "/" + n for n in sorted(names)]


def dracut_conf_files(ctx, extra=None):
    """The files dracut reads its settings from, in order (with `extra`, an /etc/dracut.conf.d
    file that is about to be written)."""
    by_name = {}
    for directory in reversed(DRACUT_CONF_DIRS):     # /etc last: it hides /usr/lib
        for name in ctx.root.listdir(directory):
            if name.endswith(".conf"):
                by_name[name] = directory + "/" + name
    if extra:
        by_name[extra.rsplit("/", 1)[1]] = extra
    return [DRACUT_CONF] + [by_name[n] for n in sorted(by_name)]


def initramfs_hostonly(ctx, tool):
    """How `tool` ('initramfs-tools' or 'dracut') picks drivers in the target.

    {'hostonly': bool, 'setting': 'MODULES=dep', 'path', 'lineno', 'explicit': bool (set in
    /etc by an administrator, not a distribution default under /usr/lib)}.
    """
    def compute():
        if tool == "initramfs-tools":
            value, path, lineno = _last_assignment(ctx, initramfs_tools_conf_files(ctx), "MODULES")
            value = value or "most"
            return {"hostonly": value == "dep", "setting": "MODULES=" + value, "path": path,
                    "lineno": lineno, "explicit": path is not None}
        if tool == "dracut":
            value, path, lineno = _last_assignment(ctx, dracut_conf_files(ctx), "hostonly")
            # Upstream dracut builds generic images unless told otherwise; Fedora, RHEL and
            # SUSE turn host-only on in /usr/lib/dracut/dracut.conf.d/01-dist.conf.
            value = value or "no"
            return {"hostonly": value == "yes", "setting": 'hostonly="{}"'.format(value), "path": path,
                    "lineno": lineno, "explicit": bool(path) and path.startswith("/etc/")}
        return {"hostonly": False, "setting": "", "path": None, "lineno": 0, "explicit": False}
    return ctx.fact("initramfs_hostonly:" + str(tool), compute)
