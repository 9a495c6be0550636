"""A disk the way a VMware VM leaves it, fixed on its mounted root (issue 10): the real
Debian root on a loop-mounted ext4 filesystem, with `root=/dev/sda1` on the GRUB line and
GRUB_DISABLE_LINUX_UUID=true, /dev/sda1 and a /dev/sdb1 data disk in fstab, MODULES=dep
and an initramfs without any virtio driver.

`guestprep fix --root` must write the UUID blkid reports for the loop device into grub.cfg,
/etc/default/grub and fstab, comment the data disk out, and rebuild the initramfs for
any hardware (update-initramfs with MODULES=dep needs the host's /sys and would pick the
host's drivers), so that lsinitramfs shows the virtio drivers; rollback restores every byte.
"""
import hashlib
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_initramfs_drivers import image_of, lsinitramfs, strip_virtio  # noqa: E402

FSTAB = """\
# /etc/fstab: static file system information.
/dev/sda1       /               ext4    errors=remount-ro 0       1
/dev/sdb1       /data           ext4    defaults        0       2
"""
DEFAULT_GRUB = """\
GRUB_DEFAULT=0
GRUB_TIMEOUT=5
GRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`
GRUB_CMDLINE_LINUX_DEFAULT="quiet"
GRUB_CMDLINE_LINUX=""
GRUB_DISABLE_LINUX_UUID=true
"""
GRUB_CFG = """\
set default="0"
menuentry 'Debian GNU/Linux' --class debian --class gnu-linux --class gnu --class os {{
\tinsmod part_msdos
\tinsmod ext2
\tset root='hd0,msdos1'
\tlinux\t/boot/vmlinuz-{v} root=/dev/sda1 ro  quiet
\tinitrd\t/boot/initrd.img-{v}
}}
menuentry 'Debian GNU/Linux, with Linux {v} (recovery mode)' {{
\tlinux\t/boot/vmlinuz-{v} root=/dev/sda1 ro single
\tinitrd\t/boot/initrd.img-{v}
}}
"""
GENERIC = "/etc/initramfs-tools/conf.d/guestprep-ecs"


def results(stdout):
    return dict((r["id"], r) for r in json.loads(stdout)["results"])


def sha(root, path):
    return hashlib.sha256(root.read(path)).hexdigest()


def test_vmware_disk_mounted_on_a_loop_device_boots_by_uuid_with_virtio(mounted_debian):
    debian, loop = mounted_debian
    image = strip_virtio(debian)          # MODULES=list, rebuilt: no virtio in the image
    conf = debian.read("/etc/initramfs-tools/initramfs.conf").decode()
    debian.write("/etc/initramfs-tools/initramfs.conf", conf.replace("\nMODULES=list\n", "\nMODULES=dep\n"))
    version = image_of(debian)[len("/boot/initrd.img-"):]
    grub_cfg = GRUB_CFG.format(v=version)
    debian.write("/boot/grub/grub.cfg", grub_cfg)
    debian.write("/etc/default/grub", DEFAULT_GRUB)
    debian.write("/etc/fstab", FSTAB)
    uuid = subprocess.check_output(["blkid", "-s", "UUID", "-o", "value", loop], universal_newlines=True).strip()
    assert uuid
    before = dict((p, sha(debian, p)) for p in (image, "/boot/grub/grub.cfg", "/etc/default/grub", "/etc/fstab",
                                                "/etc/initramfs-tools/initramfs.conf",
                                                "/etc/initramfs-tools/modules"))

    code, out, err = debian.guestprep("check", "--items", "grub,fstab,virtio", "--format", "json")
    found = results(out)
    assert code == 3, err
    assert found["grub"]["status"] == "FAIL"
    assert "writes root=UUID={} (the filesystem mounted at {}, {})".format(uuid, debian.path, loop) \
        in found["grub"]["hint"]
    assert "/dev/sda1 on / (ext4) uses a kernel device name (its UUID is {})".format(uuid) in found["fstab"]["summary"]
    assert "/dev/sdb1 on /data (ext4) is a data disk" in found["fstab"]["summary"]
    assert found["virtio"]["status"] == "FAIL"
    assert "host-only (MODULES=dep in /etc/initramfs-tools/initramfs.conf line" in found["virtio"]["summary"]

    code, out, err = debian.guestprep("plan", "--items", "grub,fstab,virtio")
    assert code == 3, out + err       # what the plan would fix still blocks
    assert GENERIC in out and "MODULES=dep" in out

    code, out, err = debian.guestprep("fix", "--items", "grub,fstab,virtio", "--yes")
    assert code == 0, out + err
    assert debian.read("/boot/grub/grub.cfg").decode() == grub_cfg.replace("root=/dev/sda1", "root=UUID=" + uuid)
    assert debian.read("/etc/default/grub").decode() == DEFAULT_GRUB.replace(
        "GRUB_DISABLE_LINUX_UUID=true", "GRUB_DISABLE_LINUX_UUID=false")
    fstab = debian.read("/etc/fstab").decode()
    assert "\nUUID={}       /               ext4    errors=remount-ro 0       1\n".format(uuid) in fstab
    assert "/dev/sdb1       /data" in fstab and "\n/dev/sdb1" not in fstab     # commented out
    assert "MODULES=most" in debian.read(GENERIC).decode()
    listing = lsinitramfs(debian, image)
    for module in ("virtio_blk.ko", "virtio_net.ko", "virtio_pci.ko", "virtio_scsi.ko"):
        assert module in listing, module

    code, out, err = debian.guestprep("check", "--items", "grub,fstab,virtio", "--format", "json")
    assert dict((k, v["status"]) for k, v in results(out).items()) == {
        "grub": "PASS", "fstab": "PASS", "virtio": "PASS"}, out

    code, out, err = debian.guestprep("rollback")
    assert code == 0, out + err
    assert dict((p, sha(debian, p)) for p in before) == before
    assert not os.path.lexists(debian.p(GENERIC))
