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
