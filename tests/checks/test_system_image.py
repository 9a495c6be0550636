import struct

import pytest

from agent.facts import disks
from agent.checks.moc_instance_types import MocInstanceTypes
from agent.checks.system_image import SystemImage
from agent.core.engine import Engine
from agent.core.model import Status
from conftest import FakeLive

GIB = 1024 ** 3
KVER = "5.15.0-91-generic"


def run(guest, live=None, check=SystemImage):
    return Engine([check]).run_check(guest.ctx(live=live), check())


def kernel(guest, config="CONFIG_VIRTIO_BLK=y\nCONFIG_VIRTIO_NET=m\nCONFIG_VIRTIO_PCI=y\nCONFIG_BLK_DEV_NVME=m\n"):
    guest.write("/boot/vmlinuz-" + KVER, b"\x00k")
    guest.write("/boot/initrd.img-" + KVER, b"\x00i")
    guest.write("/boot/config-" + KVER, config)


def superblock(incompat=0x242, ro_compat=0x46b):
    sb = bytearray(1024)
    sb[0x38:0x3A] = b"\x53\xef"
    sb[0x5C:0x68] = struct.pack("<III", 0x3c, incompat, ro_compat)
    return bytes(sb)


def mbr(types):
    sector = bytearray(512)
    for i, t in enumerate(types):
        sector[446 + 16 * i + 4] = t
    sector[510:512] = b"\x55\xaa"
    return bytes(sector)


def live_disk(guest, monkeypatch, parts=("vda1",), size_gib=40, table=None, sb=None):
    """The sysfs of a virtio disk vda with `parts`, / on vda1, and the bytes read_device returns."""
    guest.mkdir("/sys/devices/pci0000:00/0000:00:04.0/virtio1/block/vda")
    base = "/sys/devices/pci0000:00/0000:00:04.0/virtio1/block/vda"
    guest.write(base + "/size", "{}\n".format(size_gib * GIB // 512))
    guest.symlink("/sys/class/block/vda", "../../devices/pci0000:00/0000:00:04.0/virtio1/block/vda")
    for i, part in enumerate(parts, 1):
        guest.write("{}/{}/partition".format(base, part), "{}\n".format(i))
        guest.symlink("/sys/class/block/" + part, "../../devices/pci0000:00/0000:00:04.0/virtio1/block/vda/" + part)
    guest.write("/dev/vda", b"")
    guest.write("/dev/vda1", b"")
    table = table if table is not None else mbr([0x83] * len(parts))
    sb = sb if sb is not None else superblock()

    def read(path, offset, length):
        if path == "/dev/vda":
            return table[offset:offset + length]
        if path == "/dev/vda1" and offset == 1024:
            return sb
        raise OSError(13, "Permission denied")
    monkeypatch.setattr(disks, "read_device", read)
    return FakeLive(mounts=[("/dev/vda1", "/", "ext4", "rw,relatime")])


def test_offline_says_what_cannot_be_known(guest):
    kernel(guest)
    guest.write("/etc/fstab", "UUID=0b6c / ext4 rw,discard,errors=remount-ro 0 1\n")
    result = run(guest)
    assert result.status == Status.PASS
    assert result.summary == ("root is ext4 (/etc/fstab); ext4 features not read: the superblock of a mounted "
                              "image's filesystem is out of reach from --root; partition table, partition count, "
                              "LVM layout and disk size not known (the image is not running)")


def test_btrfs_root_fails(guest):
    kernel(guest)
    guest.write("/etc/fstab", "UUID=0b6c / btrfs subvol=@ 0 0\n")
    result = run(guest)
    assert result.status == Status.FAIL
    assert result.summary.startswith("root filesystem is btrfs (/etc/fstab); ECS supports ext3, ext4 and xfs")


def test_no_kernel_fails_and_missing_initramfs(guest):
    guest.write("/etc/fstab", "/dev/vda1 / xfs defaults 0 0\n")
    assert run(guest).summary.startswith("no kernel in /boot: this is not a bootable system disk")
    guest.write("/boot/vmlinuz-" + KVER, b"\x00k")
    result = run(guest)
    assert result.status == Status.FAIL
    assert result.summary.startswith("no initramfs for any kernel in /boot ({})".format(KVER))


def test_live_single_partition_mbr_passes(guest, monkeypatch):
    kernel(guest)
    live = live_disk(guest, monkeypatch)
    result = run(guest, live=live)
    assert result.status == Status.PASS
    assert result.summary == "root is ext4 (the mount table); /dev/vda is 40.0 GiB; MBR partition table"


def test_live_64bit_and_project_quota_warn(guest, monkeypatch):
    kernel(guest)
    live = live_disk(guest, monkeypatch, sb=superblock(incompat=0x242 | 0x80, ro_compat=0x46b | 0x2000 | 0x100))
    result = run(guest, live=live)
    assert result.status == Status.WARN
    assert "has the 64bit feature" in result.summary
    assert "has both project and quota features" in result.summary
    assert "tune2fs -l /dev/vda1 | grep -i features" in result.commands


def test_live_unreadable_superblock_is_said(guest, monkeypatch):
    kernel(guest)
    live = live_disk(guest, monkeypatch, sb=b"")
    monkeypatch.setattr(disks, "read_device", lambda p, o, n: (_ for _ in ()).throw(OSError(13, "Permission denied"))
                        if p == "/dev/vda1" else mbr([0x83]))
    result = run(guest, live=live)
    assert "ext4 features not read: cannot read the superblock (/dev/vda1: Permission denied)" in result.summary


def test_live_extra_partitions_and_size(guest, monkeypatch):
    kernel(guest)
    live = live_disk(guest, monkeypatch, parts=("vda1", "vda2", "vda3"), size_gib=3)
    result = run(guest, live=live)
    assert result.status == Status.FAIL
    assert "system disk /dev/vda is 3.0 GiB, outside 5-2,048 GiB" in result.summary
    assert "system disk /dev/vda has 3 partitions (vda1, vda2, vda3), not a single root partition" in result.summary


def gpt(types):
    disk = bytearray(34 * 512)
    disk[0:512] = mbr([0xEE])
    disk[512:520] = b"EFI PART"
    disk[512 + 72:512 + 88] = struct.pack("<QII", 2, 128, 128)
    guids = {"esp": bytes.fromhex("28732ac11ff8d211ba4b00a0c93ec93b"),
             "bios": bytes.fromhex("4861682149646f6e744e656564454649"),
             "linux": bytes.fromhex("af3dc60f838472478e793d69d8477de4")}
    for i, t in enumerate(types):
        disk[1024 + 128 * i:1024 + 128 * i + 16] = guids[t]
    return bytes(disk)


def test_live_gpt_with_esp_and_bios_boot_counts_as_single_root(guest, monkeypatch):
    kernel(guest)
    live = live_disk(guest, monkeypatch, parts=("vda1", "vda14", "vda15"), table=gpt(["linux", "bios", "esp"]))
    result = run(guest, live=live)
    assert result.status == Status.PASS, result.summary
    assert result.summary.endswith("GPT partition table")
    assert disks.partition_table(gpt(["esp"]))[1] == [disks.ESP_GUID]


@pytest.mark.parametrize("data", [b"", b"\x00" * 512, b"garbage" * 100])
def test_partition_table_garbage(data):
    assert disks.partition_table(data) == ("none", [])


def test_lvm_spanning_disks_fails(guest, monkeypatch):
    kernel(guest)
    live = live_disk(guest, monkeypatch)
    guest.mkdir("/sys/devices/virtual/block/dm-0/slaves")
    guest.symlink("/sys/class/block/dm-0", "../../devices/virtual/block/dm-0")
    guest.symlink("/sys/devices/virtual/block/dm-0/slaves/vda1", "../../../../pci0000:00/0000:00:04.0/virtio1/block/vda/vda1")
    guest.symlink("/sys/devices/virtual/block/dm-0/slaves/vdb", "../../../../pci0000:00/0000:00:05.0/virtio2/block/vdb")
    guest.write("/sys/devices/pci0000:00/0000:00:05.0/virtio2/block/vdb/size", "100\n")
    guest.symlink("/sys/class/block/vdb", "../../devices/pci0000:00/0000:00:05.0/virtio2/block/vdb")
    guest.symlink("/dev/mapper/vg-root", "../dm-0")
    guest.write("/dev/dm-0", b"")
    live = FakeLive(mounts=[("/dev/mapper/vg-root", "/", "xfs", "rw")])
    result = run(guest, live=live)
    assert result.status == Status.FAIL
    assert result.summary.startswith("the root /dev/dm-0 spans disks /dev/vda, /dev/vdb (LVM or RAID)")


def test_moc_passes_with_virtio_and_nvme(guest):
    guest.os_release("ubuntu", "22.04", "debian")
    kernel(guest)
    result = run(guest, check=MocInstanceTypes)
    assert result.status == Status.PASS
    assert result.summary.startswith("ubuntu 22.04, kernel {}: virtio_blk, virtio_net, virtio_pci, nvme".format(KVER))


def test_moc_old_centos_and_missing_virtio(guest):
    guest.write("/etc/redhat-release", "CentOS release 5.8 (Final)\n")
    kernel(guest, config="CONFIG_VIRTIO_BLK=y\n# CONFIG_VIRTIO_NET is not set\nCONFIG_VIRTIO_PCI=y\n")
    result = run(guest, check=MocInstanceTypes)
    assert result.status == Status.FAIL
    assert result.summary.startswith("centos 5.8 is older than 5.11; kernel {} has no virtio_net".format(KVER))
    assert "has no nvme driver" in result.summary


def test_moc_modules_dep_when_no_config(guest):
    guest.os_release("debian", "12")
    guest.write("/boot/vmlinuz-" + KVER, b"\x00k")
    guest.write("/lib/modules/{}/modules.dep".format(KVER),
                "kernel/drivers/block/virtio_blk.ko.xz:\nkernel/drivers/net/virtio_net.ko.xz: "
                "kernel/net/core/failover.ko.xz\nkernel/drivers/nvme/host/nvme.ko.xz: kernel/drivers/nvme/host/nvme-core.ko.xz\n")
    guest.write("/lib/modules/{}/modules.builtin".format(KVER), "kernel/drivers/virtio/virtio_pci.ko\n")
    assert run(guest, check=MocInstanceTypes).status == Status.PASS


@pytest.mark.parametrize("os_id,like,expected", [
    ("debian", "", "update-initramfs -c -k " + KVER),
    ("rocky", "rhel centos fedora", "dracut -f --kver " + KVER),
    ("sles", "suse", "dracut -f --kver " + KVER),
])
def test_missing_initramfs_gives_this_distributions_command(guest, os_id, like, expected):
    guest.os_release(os_id, "1", like=like)
    guest.write("/etc/fstab", "/dev/vda1 / xfs defaults 0 0\n")
    guest.write("/boot/vmlinuz-" + KVER, b"\x00k")
    result = run(guest)
    assert result.status == Status.FAIL
    prefix = "" if guest.base == "/" else "chroot /mnt/image "
    assert list(result.commands) == [prefix + expected]
    other = "dracut" if "update-initramfs" in expected else "update-initramfs"
    assert other not in result.hint and "(Debian)" not in result.hint
