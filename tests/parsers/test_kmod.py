"""agent.parsers.kmod: the module lists depmod and the kernel build write."""
from agent.parsers import kmod


def test_module_names_of_modules_dep_and_modules_builtin():
    dep = ("kernel/drivers/block/virtio_blk.ko.xz: kernel/drivers/virtio/virtio.ko.xz\n"
           "kernel/drivers/nvme/host/nvme-core.ko.zst:\n"
           "kernel/fs/ext4/ext4.ko: kernel/fs/jbd2/jbd2.ko kernel/lib/crc16.ko\n"
           "kernel/drivers/net/virtio_net.ko.gz:\n"
           "updates/dkms/vboxguest.ko\n"
           "kernel/odd.ko.ko:\n"
           "not a module line\n"
           "kernel/drivers/x/readme.txt:\n")
    assert kmod.module_names(dep) == {"virtio_blk", "nvme_core", "ext4", "virtio_net", "vboxguest", "odd.ko"}
    assert kmod.module_names(dep.replace("\n", "\r\n")) == kmod.module_names(dep)
    builtin = "kernel/drivers/virtio/virtio_pci.ko\nkernel/drivers/scsi/virtio_scsi.ko\n"
    assert kmod.module_names(builtin) == {"virtio_pci", "virtio_scsi"}
