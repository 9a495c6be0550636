"""The target's installed kernels and the files that belong to each.

An imported image boots whatever kernel its boot loader picks, not necessarily the one
running now (seed 002 warns against upgrading the kernel before capture for that
reason), so driver checks (003: GUESTOS.Virtio, GUESTOS.Nvme) look at every installed
kernel: /lib/modules/<ver> (or /usr/lib/modules) with its boot image, config,
modules.builtin, modules.dep and initramfs, named the way each distribution names them.

A modules directory without a kernel image (a leftover of a removed kernel, DKMS
debris) is not a kernel that can boot and is ignored; so is the rescue kernel of RHEL
(vmlinuz-0-rescue-*), whose initramfs is generic and has no modules directory.
"""
import re

from agent.core.model import Message
from agent.core.rootfs import RootError
from agent.facts.versions import major_minor, version_key  # noqa: F401 (kernels.version_key)
from agent.parsers import LazyPattern, kmod
from agent.tuples import namedtuple

MODULE_DIRS = ("/lib/modules", "/usr/lib/modules")
IMAGE_NAMES = ("/boot/vmlinuz-{}", "/boot/vmlinux-{}", "/boot/Image-{}", "/boot/image-{}",
               "{moddir}/vmlinuz")
# Debian/Ubuntu (initramfs-tools), RHEL family and Fedora (dracut), SUSE (dracut, mkinitrd).
INITRAMFS_NAMES = ("/boot/initrd.img-{}", "/boot/initramfs-{}.img", "/boot/initrd-{}")
INITRAMFS_BY_FAMILY = {"debian": "/boot/initrd.img-{}", "rhel": "/boot/initramfs-{}.img",
                       "suse": "/boot/initrd-{}"}


class Kernel(namedtuple("Kernel", (
    "version",                # str
    "modules_dir",            # str: guest path of /lib/modules/<ver> ('' when absent)
    "image",                  # str: guest path of the boot image
    "initramfs",              # Optional[str]: guest path of the existing initramfs, or None
    "initramfs_path",         # str: where the distribution's tools write it
    "config",                 # Optional[str]: /boot/config-<ver> or <moddir>/config
    "running",                # bool
), running=False)):
    __slots__ = ()

    def label(self):
        return self.version + (" (running)" if self.running else "")


class KernelModules(namedtuple("KernelModules", (
    "builtin",                # FrozenSet[str]: from modules.builtin and =y options
    "provided",               # Optional[FrozenSet[str]]: module files listed in modules.dep; None when unknown
    "config",                 # dict: CONFIG_X -> 'y'/'m'/...; {} when no config
    "problems",               # Tuple[str, ...]
), problems=())):
    """What one kernel offers: modules built in, modules shipped as files, config options."""

    __slots__ = ()


def running_kernel(ctx):
    """uname -r of the running system (live only), else None: /proc/sys/kernel/osrelease of the root."""
    if ctx.live is None:
        return None
    try:
        text = ctx.root.read_text_or_none("/proc/sys/kernel/osrelease")
    except RootError:
        return None
    return text.strip() or None if text else None


def installed(ctx):
    """Every installed kernel of the target, oldest first (cached for the run)."""
    compute = lambda: _installed(ctx)  # noqa: E731
    fact = getattr(ctx, "fact", None)
    return fact("kernels.installed", compute) if fact else compute()


def _installed(ctx):
    root = ctx.root
    running = running_kernel(ctx)
    moddirs = {}
    for base in MODULE_DIRS:
        for version in root.listdir(base):
            if version not in moddirs and root.isdir(base + "/" + version):
                moddirs[version] = base + "/" + version
    versions = set(moddirs)
    for pattern in ("/boot/vmlinuz-*", "/boot/vmlinux-*", "/boot/Image-*", "/boot/image-*"):
        for path in root.glob(pattern):
            version = path.split("-", 1)[1]
            if not version.startswith("0-rescue-") and not version.endswith((".sig", ".hmac")):
                versions.add(version)
    kernels = []
    for version in versions:
        moddir = moddirs.get(version, "")
        image = None
        for name in IMAGE_NAMES:
            if name.startswith("{moddir}") and not moddir:
                continue
            candidate = name.format(version, moddir=moddir)
            if root.isfile(candidate):
                image = candidate
                break
        if image is None:
            continue
        initramfs = next((n.format(version) for n in INITRAMFS_NAMES if root.lexists(n.format(version))), None)
        config = next((p for p in ("/boot/config-" + version, moddir + "/config" if moddir else "")
                       if p and root.isfile(p)), None)
        kernels.append(Kernel(version, moddir, image, initramfs, initramfs or expected_initramfs(ctx, version),
                              config, running=version == running))
    kernels.sort(key=lambda k: version_key(k.version))
    return kernels


def expected_initramfs(ctx, version):
    """Where the target's own tools put the initramfs of `version`."""
    if ctx.root.isdir("/etc/initramfs-tools") and ctx.os.family != "suse":
        pattern = INITRAMFS_BY_FAMILY["debian"]
    else:
        pattern = INITRAMFS_BY_FAMILY.get(ctx.os.family, "/boot/initramfs-{}.img")
    return pattern.format(version)


# One search over the whole text instead of a Python loop over its lines: a distribution
# kernel's config has 5,000 lines.
_CONFIG_LINE = LazyPattern(r"^(CONFIG_[^=\n]*)=(.*)$", re.M)


def parse_config(text):
    """CONFIG_X=value lines of a kernel .config ('# CONFIG_X is not set' is absent)."""
    return dict((key, value.strip().strip('"')) for key, value in _CONFIG_LINE.findall(text))


def modules_of(ctx, kernel, options=()):
    """KernelModules of one kernel. `options` maps module name -> CONFIG_ option that
    builds it in (the config is the only record of =y where modules.builtin is missing)."""
    compute = lambda: _modules_of(ctx, kernel, dict(options))  # noqa: E731
    fact = getattr(ctx, "fact", None)
    key = "kernels.modules:{}:{}".format(kernel.version, ",".join(sorted(dict(options))))
    return fact(key, compute) if fact else compute()


def _modules_of(ctx, kernel, options):
    config, builtin_files, provided, problems = _kernel_files(ctx, kernel)
    builtin = set(name for name, option in options.items() if config.get(option) == "y")
    builtin.update(builtin_files)
    return KernelModules(frozenset(builtin), provided, config, problems)


def _kernel_files(ctx, kernel):
    """(config, modules.builtin names, modules.dep names or None, problems) of one kernel,
    read and parsed once per run whatever options the callers ask about."""
    compute = lambda: _read_kernel_files(ctx, kernel)  # noqa: E731
    fact = getattr(ctx, "fact", None)
    return fact("kernels.files:" + kernel.version, compute) if fact else compute()


def _read_kernel_files(ctx, kernel):
    root = ctx.root
    problems = []
    config = {}
    if kernel.config:
        try:
            config = parse_config(root.read_text(kernel.config))
        except RootError as e:
            problems.append(str(e))
    builtin = frozenset()
    provided = None
    if kernel.modules_dir:
        for name in ("modules.builtin", "modules.dep"):
            path = kernel.modules_dir + "/" + name
            try:
                text = root.read_text_or_none(path)
            except RootError as e:
                problems.append(str(e))
                continue
            if text is None:
                continue
            if name == "modules.builtin":
                builtin = frozenset(kmod.module_names(text))
            else:
                provided = frozenset(kmod.module_names(text))
    return config, builtin, provided, tuple(problems)


# Drivers an ECS instance needs before the root filesystem is mounted, with the config
# option that builds each in (003: GUESTOS.Virtio, GUESTOS.Nvme).
VIRTIO_OPTIONS = {"virtio_blk": "CONFIG_VIRTIO_BLK", "virtio_pci": "CONFIG_VIRTIO_PCI",
                  "virtio_net": "CONFIG_VIRTIO_NET", "virtio_scsi": "CONFIG_SCSI_VIRTIO",
                  "virtio_console": "CONFIG_VIRTIO_CONSOLE"}
NVME_OPTIONS = {"nvme": "CONFIG_BLK_DEV_NVME", "nvme_core": "CONFIG_NVME_CORE"}
DRIVER_OPTIONS = dict(VIRTIO_OPTIONS, **NVME_OPTIONS)


class DriverState(namedtuple("DriverState", (
    "kernel",                 # Kernel
    "builtin",                # FrozenSet[str]
    "in_initramfs",           # FrozenSet[str]
    "missing",                # Tuple[str, ...]: neither built in nor in the initramfs (sorted)
    "not_provided",           # Tuple[str, ...]: of those, the ones the kernel has no module file for
    "initramfs_error",        # str: why the initramfs could not be read ('' when it was)
    "problems",               # Tuple[str, ...]
), initramfs_error="", problems=())):
    """Where each wanted driver of one kernel is: built in, in the initramfs, or nowhere."""

    __slots__ = ()


def read_initramfs_modules(ctx, path, needed, version=None):
    """(module names among `needed` that the initramfs at `path` of kernel `version` holds,
    error text), read now with guestprep's own reader (never cached: it also verifies a
    freshly rebuilt image)."""
    from agent.facts import initramfs
    try:
        return frozenset(initramfs.find_modules(ctx.root, path, needed, ctx.runner, version=version)), ""
    except initramfs.InitramfsError as e:
        return frozenset(), Message("cannot read {path}: {error}", path=path, error=e.message)
    except RootError as e:
        return frozenset(), Message("cannot read {path}: {error}", path=path, error=e.message)
    except OSError as e:
        return frozenset(), Message("cannot read {path}: {error}", path=path, error=str(e))


def initramfs_modules(ctx, kernel, needed):
    """(module names found in the kernel's initramfs among `needed`, error text); cached.

    One read per image serves both driver checks: it looks for every driver either of
    them needs that the kernel does not build in, and stops once it has seen them all.
    """
    def compute():
        if kernel.initramfs is None:
            return frozenset(), Message("no initramfs (expected {path})", path=kernel.initramfs_path)
        return read_initramfs_modules(ctx, kernel.initramfs, needed, kernel.version)
    fact = getattr(ctx, "fact", None)
    key = "kernels.initramfs:{}:{}".format(kernel.version, ",".join(sorted(needed)))
    return fact(key, compute) if fact else compute()


def drivers(ctx, kernel, wanted):
    """DriverState of `wanted` (module names) in one kernel."""
    mods = modules_of(ctx, kernel, DRIVER_OPTIONS)
    builtin = frozenset(w for w in wanted if w in mods.builtin)
    # Ask the image for everything either check needs, so the second check reuses the read.
    needed = frozenset(d for d in DRIVER_OPTIONS if d not in mods.builtin)
    found, error = (frozenset(), "")
    if set(wanted) - builtin:
        found, error = initramfs_modules(ctx, kernel, needed)
    in_initramfs = frozenset(w for w in wanted if w in found)
    missing = tuple(sorted(set(wanted) - builtin - in_initramfs))
    not_provided = tuple(m for m in missing if mods.provided is not None and m not in mods.provided)
    return DriverState(kernel, builtin, in_initramfs, missing, not_provided, error, mods.problems)


def byte_sized_nvme_timeouts(version):
    """True for kernels whose nvme_core io_timeout/admin_timeout are `byte` parameters.

    Upstream declared them `module_param(..., byte, 0644)` (unsigned char) until Linux
    4.15 made them unsigned int; RHEL 7's 3.10 kernels (and SLES 12's 4.4/4.12, Ubuntu
    16.04's 4.4) keep the byte. There the kernel rejects 4294967295 as out of range and
    keeps its 30 s default, so 255 is the largest value that takes effect (AWS and Alibaba
    Cloud both document 255 as the maximum on earlier kernels).
    """
    return major_minor(version) < (4, 15)


# -- kernels the checks name (boot entries, features) ---------------------------------

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


def installed_kernels(ctx):
    """Versions of the installed kernels (those with a boot image), oldest first."""
    return [k.version for k in installed(ctx) if not is_rescue(k.version)]


def _kernel(ctx, version):
    return next((k for k in installed(ctx) if k.version == version), None)


def initramfs_for(ctx, version):
    """The /boot initramfs of a kernel version, or None."""
    kernel = _kernel(ctx, version)
    return kernel.initramfs if kernel else None




def has_kernel_feature(ctx, version, module, config_key):
    """True/False/None (unknown): `module` built in or shipped for kernel `version`."""
    kernel = _kernel(ctx, version)
    if kernel is None or not (kernel.config or kernel.modules_dir):
        return None
    mods = modules_of(ctx, kernel, {module: config_key})
    if module in mods.builtin or mods.config.get(config_key) in ("y", "m"):
        return True
    if mods.provided and module in mods.provided:
        return True
    if mods.problems or (not mods.config and mods.provided is None):
        return None  # the config or the module lists could not be read: unknown, not absent
    return False
