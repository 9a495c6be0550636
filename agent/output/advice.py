"""What to enter on ImportImage, computed from a check's results and the target's facts.

Seed 001 (importing a custom image) lists the wizard's parameters: OS type (linux), the
OS version (Platform), the architecture, the boot mode (BIOS, UEFI; the API also takes
UEFI-Preferred), the image format (RAW, VHD, QCOW2, VMDK; auto-detected when unsure) and
the system disk size (1-2,048 GiB, not smaller than the image; seed 000: set it from the
virtual disk size, not the file size). ImportImage also takes Features.NvmeSupport (only
when the NVMe driver is in place: GUESTOS.Nvme) and DetectionStrategy=Standard, which runs
the image check of seed 003 on import. Seed 004 recommends community image names of the
form ubuntu20.04_kernel4.18_x86_64_20230101_v1.0: distribution and version, kernel
major.minor, architecture, publication date and an image version.

Nothing here writes or runs anything: it is advice printed after `guestprep check`.
"""
import datetime
import math
import re
import shlex

from agent.core.model import Message, Status, joined
from agent.facts import boot, disks, elf, kernels, osinfo, versions

GIB = 1024 ** 3
FORMATS = ("RAW", "VHD", "QCOW2", "VMDK")
PLACEHOLDERS = {"region": "<region>", "bucket": "<bucket>", "object": "<object>", "size": "<GiB>",
                "format": "<fmt>"}

# os-release ID -> the distribution word of a community image name (seed 004).
_NAME_WORDS = {"opensuse-leap": "opensuse", "opensuse-tumbleweed": "opensuse", "sles": "sles",
               "rhel": "rhel", "alinux": "alinux", "almalinux": "almalinux", "rocky": "rocky"}


def _result(results, check_id):
    for r in results:
        if r.check_id == check_id:
            return r
    return None


def disk_size_gib(size_bytes):
    """The system disk size to enter: the virtual size rounded up to GiB, within 1-2,048."""
    if not size_bytes:
        return None
    return min(max(int(math.ceil(size_bytes / float(GIB))), 1), 2048)


def image_name(os_info, kernel, arch, today, version="v1.0"):
    """A community image name in seed 004's form, e.g. ubuntu20.04_kernel4.18_x86_64_20230101_v1.0."""
    distro = _NAME_WORDS.get(os_info.id, os_info.id or "linux")
    if osinfo.is_centos_stream(os_info):
        distro = "centos-stream"
    distro = re.sub(r"[^a-z0-9.-]", "", distro.lower()) or "linux"
    parts = [distro + re.sub(r"[^0-9A-Za-z.]", "", os_info.version or "")]
    major_minor = versions.kernel_major_minor(kernel)
    if major_minor:
        parts.append("kernel" + major_minor)
    parts.append(arch or "x86_64")
    parts.append(today.strftime("%Y%m%d"))
    parts.append(version)
    name = "_".join(parts)
    if not name[0].isalpha():   # ImportImage names start with a letter
        name = "linux" + name
    return name[:128]


def compute(ctx, results, today=None):
    """The `import_image` object: each parameter with its value and where it came from."""
    today = today or datetime.date.today()
    notes = []
    platform, support = osinfo.platform_of(ctx.os) if ctx.os.id else (osinfo.OTHERS, "unsupported")
    if support == "unsupported":
        notes.append(Message("The distribution is not a standard ECS platform: \"{others}\" means ECS does not "
                             "configure the instance; \"{customized}\" needs Alibaba's configuration scripts in the "
                             "image (seed 001).", others=osinfo.OTHERS, customized=osinfo.CUSTOMIZED))

    arch = elf.architecture(ctx)["arch"]
    if arch not in elf.IMPORT_ARCHITECTURES:
        if arch is None:
            notes.append(Message("Architecture: could not be read — pick it yourself (ECS takes x86_64, i386, arm64)."))
        else:
            notes.append(Message("Architecture: {arch} cannot be imported — pick it yourself (ECS takes x86_64, "
                                 "i386, arm64).", arch=arch))
        arch_value = None
    else:
        arch_value = arch

    mode = boot.boot_mode(ctx)["mode"]
    if arch == "arm64":
        mode = "UEFI"
    if mode is None:
        notes.append(Message("BootMode: no boot loader found; choose the mode the image boots with."))

    kernel = boot.default_kernel(ctx)["version"] or kernels.running_kernel(ctx)
    if not kernel:
        notes.append(Message("No kernel found: the image name carries no kernel version."))

    disk = disks.system_disk(ctx)
    size = disk_size_gib(disk.get("size_bytes")) if disk.get("known") else None
    size_note = (Message("{disk} rounded up to GiB", disk=disk["disk"]) if size else
                 Message("the virtual size of the exported disk, rounded up to GiB (qemu-img info shows it), "
                         "1-2,048 GiB"))

    nvme = _result(results, "nvme")
    nvme_ok = nvme is not None and nvme.status == Status.PASS
    if nvme is None:
        notes.append(Message("Features.NvmeSupport: the NVMe check did not run, so it is left out."))
    elif not nvme_ok:
        notes.append(Message("Features.NvmeSupport is left out: GUESTOS.Nvme did not pass."))

    name = image_name(ctx.os, kernel, arch_value, today)
    params = [
        ("ImageName", name, Message("seed 004's community image form")),
        ("OSType", "linux", ""),
        ("Platform", platform, ctx.os.name or Message("unknown distribution")),
        ("Architecture", arch_value, elf.architecture(ctx)["source"]),
        ("BootMode", mode, joined(boot.boot_mode(ctx)["evidence"])),
        ("DiskDeviceMapping.1.DiskImageSize", size, size_note),
        ("DiskDeviceMapping.1.Format", None, Message("the format of the uploaded file: {formats}",
                                                      formats=", ".join(FORMATS))),
        ("DetectionStrategy", "Standard", Message("runs the image check (seed 003) on import")),
    ]
    if nvme_ok:
        params.append(("Features.NvmeSupport", "supported", Message("GUESTOS.Nvme passed")))
    command = command_line(dict((k, v) for k, v, _ in params))
    return {
        "parameters": [{"name": k, "value": v, "source": s} for k, v, s in params],
        "image_name": name,
        "formats": list(FORMATS),
        "command": command,
        "notes": notes,
    }


def command_line(values):
    """The `aliyun ecs ImportImage` command line; unknown values stay <placeholders>."""
    def value(key, placeholder):
        got = values.get(key)
        return shlex.quote(str(got)) if got not in (None, "") else placeholder

    argv = ["aliyun ecs ImportImage",
            "--RegionId " + PLACEHOLDERS["region"],
            "--ImageName " + value("ImageName", "<name>"),
            "--OSType linux",
            "--Platform " + value("Platform", "'Others Linux'"),
            "--Architecture " + value("Architecture", "<x86_64|arm64|i386>"),
            "--BootMode " + value("BootMode", "<BIOS|UEFI|UEFI-Preferred>"),
            "--DiskDeviceMapping.1.OSSBucket " + PLACEHOLDERS["bucket"],
            "--DiskDeviceMapping.1.OSSObject " + PLACEHOLDERS["object"],
            "--DiskDeviceMapping.1.DiskImageSize " + value("DiskDeviceMapping.1.DiskImageSize", PLACEHOLDERS["size"]),
            "--DiskDeviceMapping.1.Format " + value("DiskDeviceMapping.1.Format", PLACEHOLDERS["format"]),
            "--DetectionStrategy Standard"]
    if values.get("Features.NvmeSupport"):
        argv.append("--Features.NvmeSupport supported")
    return " ".join(argv)


def refs(advice):
    """The seeds the advice's text cites: 004 (the image name's form), 003 (the image check of
    DetectionStrategy), and 001 when the distribution is not a standard platform (its note)."""
    platform = next((p["value"] for p in advice["parameters"] if p["name"] == "Platform"), None)
    return ("001", "003", "004") if platform == osinfo.OTHERS else ("003", "004")


def text(advice):
    """The advice as the lines printed after the check report."""
    from agent.output.i18n import t, tr
    out = [t("What to enter on ImportImage")]
    width = max(len(p["name"]) for p in advice["parameters"])
    for p in advice["parameters"]:
        shown = p["value"] if p["value"] not in (None, "") else "?"
        line = "  {}  {}".format(p["name"].ljust(width), shown)
        if p["source"]:
            line += "  ({})".format(tr(p["source"]))
        out.append(line)
    for note in advice["notes"]:
        out.append("  " + t("note: {note}", note=tr(note)))
    out.append("  " + t("Equivalent command (fill in the <...> values):"))
    out.append("  $ " + advice["command"])
    return "\n".join(out) + "\n"
