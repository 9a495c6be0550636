"""agent.facts.kernels: the kernel config and module lists, as the kernel's tools write them."""
from agent.facts import kernels

CONFIG = ("#\n# Automatically generated file; DO NOT EDIT.\n#\nCONFIG_CC_VERSION_TEXT=\"gcc (Debian 12.2.0-14) 12.2.0\"\n"
          "CONFIG_VIRTIO_BLK=m\n# CONFIG_VIRTIO_CONSOLE is not set\nCONFIG_BLK_DEV_NVME=y\n"
          "CONFIG_NVME_CORE=y  \nCONFIG_LOCALVERSION=\"\"\nCONFIG_X=a=b\n")


def test_config_values_as_the_kernel_writes_them():
    assert kernels.parse_config(CONFIG) == {
        "CONFIG_CC_VERSION_TEXT": "gcc (Debian 12.2.0-14) 12.2.0", "CONFIG_VIRTIO_BLK": "m",
        "CONFIG_BLK_DEV_NVME": "y", "CONFIG_NVME_CORE": "y", "CONFIG_LOCALVERSION": "", "CONFIG_X": "a=b"}
    assert kernels.parse_config(CONFIG.replace("\n", "\r\n"))["CONFIG_VIRTIO_BLK"] == "m"


def test_module_names_of_modules_dep_and_modules_builtin():
    dep = ("kernel/drivers/block/virtio_blk.ko.xz: kernel/drivers/virtio/virtio.ko.xz\n"
           "kernel/drivers/nvme/host/nvme-core.ko.zst:\n"
           "kernel/fs/ext4/ext4.ko: kernel/fs/jbd2/jbd2.ko kernel/lib/crc16.ko\n"
           "kernel/drivers/net/virtio_net.ko.gz:\n"
           "updates/dkms/vboxguest.ko\n"
           "kernel/odd.ko.ko:\n"
           "not a module line\n"
           "kernel/drivers/x/readme.txt:\n")
    assert kernels._module_names(dep) == {"virtio_blk", "nvme_core", "ext4", "virtio_net", "vboxguest", "odd.ko"}
    assert kernels._module_names(dep.replace("\n", "\r\n")) == kernels._module_names(dep)
    builtin = "kernel/drivers/virtio/virtio_pci.ko\nkernel/drivers/scsi/virtio_scsi.ko\n"
    assert kernels._module_names(builtin) == {"virtio_pci", "virtio_scsi"}
