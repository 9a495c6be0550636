"""The host's view of a mounted image: mountinfo, superblock UUIDs, the image's partitions."""
import shutil
import struct
import subprocess
import uuid as uuid_mod

import pytest

from agent.facts import disks
from agent.core.context import Context
from agent.core.rootfs import Root
from conftest import FakeRunner
from imagemount import BOOT_UUID, ROOT_UUID, ext4_bytes, mount_image

U = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"


def reader(data):
    return lambda offset, length: data[offset:offset + length]


def test_mountinfo_lines_unescaped_and_garbage_skipped():
    text = ("36 25 7:1 / /mnt/my\\040image rw,relatime shared:1 - ext4 /dev/loop0p1 rw\n"
            "37 25 0:52 /@/home /home rw - btrfs /dev/vda2 rw,subvol=/@/home\n"
            "garbage line\n"
            "38 25 x:y / /z rw - ext4 /dev/x rw\n")
    mounts = disks.parse_mountinfo(text)
    assert mounts == [
        {"dev": (7, 1), "root": "/", "mountpoint": "/mnt/my image", "fstype": "ext4", "source": "/dev/loop0p1"},
        {"dev": (0, 52), "root": "/@/home", "mountpoint": "/home", "fstype": "btrfs", "source": "/dev/vda2"},
    ]


def test_superblock_layouts():
    raw = uuid_mod.UUID(U).bytes
    assert disks.filesystem_uuid(reader(ext4_bytes(U))) == ("ext4", U)
    xfs = b"XFSB" + bytes(0x1C) + raw + bytes(0x200)
    assert disks.filesystem_uuid(reader(xfs)) == ("xfs", U)
    btrfs = bytearray(0x10000 + 0x100)
    btrfs[0x10020:0x10030] = raw
    btrfs[0x10040:0x10048] = b"_BHRfS_M"
    assert disks.filesystem_uuid(reader(bytes(btrfs))) == ("btrfs", U)
    fat = bytearray(0x200)
    fat[0x43:0x47] = struct.pack("<I", 0x1A2B3C4D)
    fat[0x52:0x5A] = b"FAT32   "
    fat[510:512] = b"\x55\xaa"
    assert disks.filesystem_uuid(reader(bytes(fat))) == ("vfat", "1A2B-3C4D")
    assert disks.filesystem_uuid(reader(bytes(4096))) == (None, None)
    assert disks.filesystem_uuid(reader(b"")) == (None, None)


@pytest.mark.parametrize("tool", [["mkfs.ext4", "-q", "-F"], ["mkswap"]])
def test_uuid_of_a_real_filesystem_equals_blkid(tmp_path, tool):
    if not shutil.which(tool[0]) or not shutil.which("blkid"):
        pytest.skip(tool[0] + " or blkid missing")
    image = str(tmp_path / "fs.img")
    with open(image, "wb") as handle:
        handle.truncate(16 << 20)
    subprocess.check_call(tool + [image], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    expected = subprocess.check_output(["blkid", "-p", "-s", "UUID", "-o", "value", image],
                                       universal_newlines=True).strip()
    with open(image, "rb") as handle:
        data = handle.read(1 << 20)
    fstype, uuid = disks.filesystem_uuid(reader(data))
    assert uuid == expected and fstype in ("ext4", "swap")


def test_split_partition():
    assert disks.split_partition("/dev/sda1") == ("/dev/sda", 1)
    assert disks.split_partition("/dev/sdp12") == ("/dev/sdp", 12)
    assert disks.split_partition("/dev/xvda2") == ("/dev/xvda", 2)
    assert disks.split_partition("/dev/nvme0n1p3") == ("/dev/nvme0n1", 3)
    assert disks.split_partition("/dev/mmcblk0p1") == ("/dev/mmcblk0", 1)
    assert disks.split_partition("/dev/sda") == (None, None)
    assert disks.split_partition("UUID=x") == (None, None)


def ctx(guest):
    root = Root(guest.base)
    return Context(root, runner=FakeRunner(root.path), live=None)


def test_image_root_with_its_sibling_partitions(guest, fs, monkeypatch):
    mount_image(fs, monkeypatch, guest, partitions={1: ext4_bytes(BOOT_UUID), 2: ext4_bytes(ROOT_UUID),
                                                   3: bytes(4096)}, mounted=2)
    c = ctx(guest)
    image = disks.image_root(c)
    assert image["known"], image
    assert (image["device"], image["uuid"], image["partition"], image["disk"]) == (
        "/dev/loop0p2", ROOT_UUID, 2, "loop0")
    assert sorted(image["siblings"]) == [1, 2]     # partition 3 holds no filesystem
    assert disks.image_uuid_of(c, "/dev/sda2", "/dev/sda2") == ROOT_UUID
    assert disks.image_uuid_of(c, "/dev/sda1", "/dev/sda2") == BOOT_UUID
    assert disks.image_uuid_of(c, "/dev/sda3", "/dev/sda2") is None
    assert disks.image_uuid_of(c, "/dev/sdb1", "/dev/sda2") is None        # another disk
    assert disks.image_uuid_of(c, "/dev/sda1", "/dev/sda1") == ROOT_UUID   # root= names the root
    # The old root partition number disagrees with the host's: siblings cannot be matched.
    assert disks.image_uuid_of(c, "/dev/sda2", "/dev/sda3") is None


def test_image_root_not_a_mount_point_or_a_bind_mount(guest, fs):
    fs.create_file("/proc/self/mountinfo", contents="22 1 8:2 / /srv rw - ext4 /dev/sda2 rw\n")
    image = disks.image_root(ctx(guest))
    assert not image["known"] and "is not a mount point (a plain directory)" in image["why"]
    fs.remove_object("/proc/self/mountinfo")
    fs.create_file("/proc/self/mountinfo", contents="22 1 8:2 /images/x {} rw - ext4 /dev/sda2 rw\n".format(
        Root(guest.base).path))
    image = disks.image_root(ctx(guest))
    assert not image["known"] and "is a bind mount of /images/x inside /dev/sda2" in image["why"]


def test_image_root_unreadable_device_is_a_reason(guest, fs, monkeypatch):
    mount_image(fs, monkeypatch, guest, partitions={1: b"\x00" * 8192})
    image = disks.image_root(ctx(guest))
    assert not image["known"]
    assert image["why"].startswith("cannot read the UUID of /dev/loop0p1")


def test_a_btrfs_subvolume_mount_is_its_filesystem(guest, fs, monkeypatch):
    btrfs = bytearray(0x10000 + 0x100)
    btrfs[0x10020:0x10030] = uuid_mod.UUID(U).bytes
    btrfs[0x10040:0x10048] = b"_BHRfS_M"
    mount_image(fs, monkeypatch, guest, partitions={2: bytes(btrfs)}, mounted=2)
    path = Root(guest.base).path
    fs.remove_object("/proc/self/mountinfo")
    fs.create_file("/proc/self/mountinfo", contents="40 22 259:2 /@ {} rw - btrfs /dev/loop0p2 rw,subvol=/@\n"
                   .format(path))
    image = disks.image_root(ctx(guest))
    assert (image["known"], image["uuid"], image["fstype"]) == (True, U, "btrfs")
