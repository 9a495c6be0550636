"""GUESTOS.Architecture: the image's architecture, read from an ELF header.

Seed 001: the architecture chosen on import must be the image's own, and ImportImage
takes x86_64 (64-bit), i386 (32-bit) and arm64. Seed 000: an ARM64 image has extra
requirements (CONFIG_FW_CFG_SYSFS, Alibaba's cloud-init) and ARM instances boot with UEFI
only, so it must be imported with BootMode=UEFI. The header's e_machine field of the
root's /bin/sh (or /usr/bin/env ...) is read through the root, so a mounted arm64 image
on an x86_64 host is told apart without running anything.
"""
import shlex

from agent.core.model import Check, Message, Status, joined
from agent.facts import elf, kernels


class Architecture(Check):
    id = "architecture"
    title = "architecture importable"
    item = "GUESTOS.Architecture"
    repair_item = ""
    refs = ("000", "001")

    def run(self, ctx):
        found = elf.architecture(ctx)
        arch, source = found["arch"], found["source"]
        data = {"arch": arch, "bits": found["bits"], "source": source}
        if arch is None:
            if found["problems"]:
                problems = joined(found["problems"])
            else:
                problems = Message("none of {candidates} exists", candidates=", ".join(elf.ELF_CANDIDATES))
            # Point `file` at something the image has: /bin/sh may be the file that is missing.
            shown = next((p for p in elf.ELF_CANDIDATES if ctx.root.exists(p)), None)
            if shown is None:
                shown = next((k.image for k in kernels.installed(ctx) if k.image), None)
            if shown:
                hint = Message("Choose the architecture on import yourself: `file` on {path} tells it.", path=shown)
            else:
                hint = Message("Choose the architecture on import yourself (x86_64, arm64 or i386: the one of the "
                               "machine the image came from).")
            return self.result(Status.WARN, Message(
                "the architecture cannot be read from the root's binaries ({problems})", problems=problems),
                hint, commands=["file " + shlex.quote(ctx.root.display(shown))] if shown else [],
                data=data, code="unreadable")
        if arch == "arm64":
            return self.result(Status.INFO, Message(
                "{arch} (ELF header of {source}): import with Architecture=arm64 and BootMode=UEFI",
                arch=arch, source=source),
                Message("ARM64 instances boot with UEFI only. Seed 000 also requires CONFIG_FW_CFG_SYSFS=y in the "
                        "kernel and Alibaba's cloud-init (19.1.18 or later) for passwords and key pairs to work."),
                paths=[source], data=data, code="arm64", refs=("000",))
        if arch in elf.IMPORT_ARCHITECTURES:
            return self.passed(Message("{arch} (ELF header of {source}): import with Architecture={arch}",
                                       arch=arch, source=source), paths=[source], data=data, code="importable")
        return self.failed(Message("{arch} (ELF header of {source}): ECS imports only x86_64, i386 and arm64 images",
                                   arch=arch, source=source),
                           Message("This image cannot run on ECS; build it for x86_64 or arm64."),
                           paths=[source], data=data, code="unsupported")
