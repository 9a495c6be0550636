"""A mounted image as the host sees it, on pyfakefs: /proc/self/mountinfo names the guest's
root path, /sys links the device to its disk, and the devices' first bytes hold real
superblock layouts (disks.read_device is the one thing replaced: pyfakefs has no block
devices)."""
import uuid as uuid_mod

from agent.facts import disks

ROOT_UUID = "3f6a8c1e-2b4d-4e5f-9a0b-1c2d3e4f5a6b"
BOOT_UUID = "7b1e2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"


def ext4_bytes(uuid):
    sb = bytearray(0x400)
    sb[0x38:0x3A] = b"\x53\xef"
    sb[0x68:0x78] = uuid_mod.UUID(uuid).bytes
    return bytes(bytearray(1024) + sb)


def mount_image(fs, monkeypatch, guest, partitions=None, mounted=1, disk="loop0", major=259):
    """Mount partition `mounted` of `partitions` ({number: device bytes}) at the guest root."""
    partitions = partitions if partitions is not None else {1: ext4_bytes(ROOT_UUID)}
    base = guest.ctx().root.path
    devices = {}
    for number, data in partitions.items():
        name = "{}p{}".format(disk, number)
        sysdir = "/sys/devices/virtual/block/{}/{}".format(disk, name)
        fs.create_file(sysdir + "/partition", contents="{}\n".format(number))
        fs.create_symlink("/sys/class/block/" + name, sysdir)
        fs.create_symlink("/sys/dev/block/{}:{}".format(major, number), sysdir)
        devices["/dev/" + name] = data
    fs.create_dir("/sys/devices/virtual/block/{}/queue".format(disk))
    fs.create_symlink("/sys/class/block/" + disk, "/sys/devices/virtual/block/" + disk)
    mountinfo = ("22 1 8:2 / / rw,relatime shared:1 - ext4 /dev/sda2 rw\n"
                 "40 22 {}:{} / {} rw,relatime shared:30 - ext4 /dev/{}p{} rw\n").format(
                     major, mounted, base.replace(" ", "\\040"), disk, mounted)
    if fs.exists("/proc/self/mountinfo"):
        fs.remove_object("/proc/self/mountinfo")
    fs.create_file("/proc/self/mountinfo", contents=mountinfo)

    def read_device(path, offset, length):
        if path not in devices:
            raise OSError(2, "No such file or directory")
        return devices[path][offset:offset + length]
    monkeypatch.setattr(disks, "read_device", read_device)
    return devices
