"""GUESTOS.Virtio: every installed kernel can reach its virtio disk and NIC at boot.

ECS instances are KVM guests whose system disk is virtio_blk (or virtio_scsi) behind
virtio_pci, and whose NIC is virtio_net. Seed 003 (GUESTOS.Virtio): an image without
the virtio drivers raises a boot exception on ECS; seed 000: virtio_net must be in the
initrd/initramfs so the NIC is initialised before the network is configured. A driver
counts when it is built into the kernel (=y in /boot/config-<ver>, or listed in
modules.builtin) or its .ko is inside that kernel's initramfs; a module that is merely
installed under /lib/modules does not help before the root filesystem is mounted. Every
installed kernel is checked, not only the running one: the imported image boots the
boot loader's default. virtio_console (the serial console) only warns.

An initramfs tool set to build host-only images (initramfs-tools MODULES=dep, dracut
hostonly="yes") puts in only the drivers of the machine the rebuild runs on: the old
hypervisor's, or the helper machine's when the image is mounted there. That is a
warning even when today's images hold virtio, because the next kernel update before the
import drops it (shared with GUESTOS.Nvme through agent.facts.drivers).
"""
from agent.core.model import Check, Status
from agent.facts import drivers

REQUIRED = ("virtio_blk", "virtio_pci", "virtio_net", "virtio_scsi")
OPTIONAL = ("virtio_console",)


class Virtio(Check):
    id = "virtio"
    title = "virtio drivers in every kernel's initramfs"
    item = "GUESTOS.Virtio"
    repair_item = "virtio"
    refs = ("000", "003")

    def run(self, ctx):
        states = drivers.survey(ctx, REQUIRED + OPTIONAL)
        if not states:
            return self.result(Status.WARN, drivers.NO_KERNEL, drivers.NO_KERNEL_HINT, code="no-kernel")
        return drivers.evaluate(self, ctx, states, REQUIRED, OPTIONAL, "virtio", "GUESTOS.Virtio")
