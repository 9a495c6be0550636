"""GUESTOS.BootMode: whether the image boots with BIOS, UEFI or both, and what to import it as.

Seed 001: pick the image's own boot mode on import (BIOS or UEFI); a wrong choice makes
instances from the image fail to start. ImportImage also takes UEFI-Preferred, for images
that boot both ways (hybrid cloud images). ARM64 images boot with UEFI only (seed 000's
extra ARM requirements). Live, /sys/firmware/efi says how the VM booted; offline (and as
evidence of the other mode live), an EFI system partition in /etc/fstab with EFI GRUB or
shim packages means UEFI, and GRUB's i386-pc modules, grub-pc or GRUB legacy mean BIOS.
On a GPT disk, BIOS GRUB also needs a BIOS boot partition (checked live).
"""
from agent.core.model import Check, Message, Status, joined, things
from agent.facts import boot

# Each distribution's own package names (x86: arm64 images are UEFI whatever is found),
# since grub-pc, grub2-pc and grub2-i386-pc are the same thing on Debian, RHEL and SUSE.
_LOADER_PACKAGES = {
    "debian": ("grub-pc", things(["grub-efi-amd64", "shim-signed"])),
    "rhel": ("grub2-pc", things(["grub2-efi-x64", "shim-x64"])),
    "suse": ("grub2-i386-pc", things(["grub2-x86_64-efi", "shim"])),
}


def _install_hint(ctx):
    bios, uefi = _LOADER_PACKAGES.get(ctx.os.family, ("grub-pc / grub2-pc", things(["grub-efi / grub2-efi", "shim"])))
    return Message("Install GRUB for the boot mode the image uses ({bios} for BIOS; {uefi} with an EFI system "
                   "partition for UEFI) and choose that BootMode on import.", bios=bios, uefi=uefi)


class BootMode(Check):
    id = "boot_mode"
    title = "boot mode to import with"
    item = "GUESTOS.BootMode"
    repair_item = ""
    refs = ("000", "001")

    def run(self, ctx):
        found = boot.boot_mode(ctx)
        mode = found["mode"]
        data = dict(found)
        evidence = joined(found["evidence"])
        if mode is None:
            if evidence:
                summary = Message("neither a BIOS nor a UEFI boot loader was found ({evidence})", evidence=evidence)
            else:
                summary = Message("neither a BIOS nor a UEFI boot loader was found")
            return self.result(Status.WARN, summary, _install_hint(ctx), data=data, code="no-loader")
        if found["problems"]:
            return self.result(Status.WARN, Message(
                "import with BootMode={mode}, but {problems} ({evidence})",
                mode=mode, problems=joined(found["problems"]), evidence=evidence),
                Message("Seed 001: choose the boot mode the image really boots with, or instances fail to start."),
                data=data, code="doubtful", refs=("001",))
        return self.result(Status.INFO, Message("import with BootMode={mode} ({evidence})", mode=mode,
                                                evidence=evidence), data=data, code="mode")
