"""agent.parsers.fstab against real fstab files and garbage."""
import pytest

from agent.parsers import DISABLED_PREFIX, comment_out, fstab
from agent.parsers.fstab import FstabEntry

RHEL7 = """
#
# /etc/fstab
# Created by anaconda on Tue Mar 10 09:14:01 2020
#
# Accessible filesystems, by reference, are maintained under '/dev/disk'
# See man pages fstab(5), findfs(8), mount(8) and/or blkid(8) for more info
#
UUID=6b2ce2f6-5d6c-4b5b-9e5f-0e1c2a3b4c5d /                       xfs     defaults        0 0
UUID=3e9a5a0b-2b6d-4c1e-9a3e-8b7f0e1c2d3a /boot                   xfs     defaults        0 0
/dev/mapper/centos-swap swap                    swap    defaults        0 0
"""

CLOUDIMG = """LABEL=cloudimg-rootfs\t/\t ext4\tdiscard,errors=remount-ro\t0 1
LABEL=UEFI\t/boot/efi\tvfat\tumask=0077\t0 1
"""

DEBIAN = """# /etc/fstab: static file system information.
#
# Use 'blkid' to print the universally unique identifier for a
# device; this may be used with UUID= as a more robust way to name devices
# that works even if disks are added and removed. See fstab(5).
#
# systemd generates mount units based on this file, see systemd.mount(5).
# Please run 'systemctl daemon-reload' after making changes here.
#
# <file system> <mount point>   <type>  <options>       <dump>  <pass>
# / was on /dev/sda1 during installation
UUID=0f6c8a3e-7d0e-4c7b-9a53-1c2d3e4f5a6b /               ext4    errors=remount-ro 0       1
# swap was on /dev/sda5 during installation
UUID=a1b2c3d4-e5f6-4789-abcd-ef0123456789 none            swap    sw              0       0
/dev/sr0        /media/cdrom0   udf,iso9660 user,noauto     0       0
"""

MIXED = """/dev/vda1 / ext4 defaults 1 1
/dev/vdb1 /data ext4 defaults 0 2
/dev/nvme1n1p1 /srv xfs defaults,nofail 0 0
/srv/www /var/www none bind 0 0
nfs.example.com:/export/home /home nfs4 defaults,_netdev 0 0
//fileserver/share /mnt/share cifs credentials=/root/.smb 0 0
tmpfs /tmp tmpfs defaults,size=2G 0 0
proc /proc proc defaults 0 0
/dev/disk/by-label/My\\040Data /mnt/My\\040Data ext4 defaults 0 2
/swapfile none swap sw 0 0
"""



SAMPLE_NAMES = {RHEL7: "rhel7", CLOUDIMG: "cloudimg", DEBIAN: "debian", MIXED: "mixed"}


def text_id(value):
    """Short test ids: a sample's name, or a placeholder for other long texts."""
    if isinstance(value, str) and len(value) > 40:
        return SAMPLE_NAMES.get(value, "long-text")
    return None

def fields(entry):
    return (entry.spec, entry.mountpoint, entry.fstype, entry.options,
            entry.freq, entry.passno)


@pytest.mark.parametrize("text, expected", ids=text_id, argvalues=[
    (RHEL7, [
        (9, ("UUID=6b2ce2f6-5d6c-4b5b-9e5f-0e1c2a3b4c5d", "/", "xfs", ("defaults",), 0, 0)),
        (10, ("UUID=3e9a5a0b-2b6d-4c1e-9a3e-8b7f0e1c2d3a", "/boot", "xfs", ("defaults",), 0, 0)),
        (11, ("/dev/mapper/centos-swap", "swap", "swap", ("defaults",), 0, 0)),
    ]),
    (CLOUDIMG, [
        (1, ("LABEL=cloudimg-rootfs", "/", "ext4", ("discard", "errors=remount-ro"), 0, 1)),
        (2, ("LABEL=UEFI", "/boot/efi", "vfat", ("umask=0077",), 0, 1)),
    ]),
    (DEBIAN, [
        (12, ("UUID=0f6c8a3e-7d0e-4c7b-9a53-1c2d3e4f5a6b", "/", "ext4", ("errors=remount-ro",), 0, 1)),
        (14, ("UUID=a1b2c3d4-e5f6-4789-abcd-ef0123456789", "none", "swap", ("sw",), 0, 0)),
        (15, ("/dev/sr0", "/media/cdrom0", "udf,iso9660", ("user", "noauto"), 0, 0)),
    ]),
])
def test_parse_real_files(text, expected):
    entries, problems = fstab.parse(text)
    assert problems == []
    assert [(e.lineno, fields(e)) for e in entries] == expected
    lines = text.split("\n")
    assert [e.raw for e in entries] == [lines[e.lineno - 1] for e in entries]


def test_parse_crlf_and_missing_final_newline():
    entries, problems = fstab.parse("# c\r\nUUID=1 / ext4 defaults 0 1\r\n/dev/sdb1 /d xfs rw")
    assert problems == []
    assert entries == [
        FstabEntry(2, "UUID=1 / ext4 defaults 0 1", "UUID=1", "/", "ext4", ("defaults",), 0, 1),
        FstabEntry(3, "/dev/sdb1 /d xfs rw", "/dev/sdb1", "/d", "xfs", ("rw",), 0, 0),
    ]


@pytest.mark.parametrize("line, spec, mountpoint", [
    ("/dev/sdb1 /mnt/My\\040Disk ext4 defaults 0 0", "/dev/sdb1", "/mnt/My Disk"),
    ("LABEL=My\\040Data /data ext4 defaults", "LABEL=My Data", "/data"),
    ("/dev/sdc1 /a\\011b\\134c ext4 defaults", "/dev/sdc1", "/a\tb\\c"),
    # Not an octal escape: kept as written, like libmount does.
    ("/dev/sdc1 /a\\x20\\8 ext4 defaults", "/dev/sdc1", "/a\\x20\\8"),
])
def test_octal_escapes(line, spec, mountpoint):
    (entry,), _ = fstab.parse(line + "\n")
    assert (entry.spec, entry.mountpoint, entry.raw) == (spec, mountpoint, line)


@pytest.mark.parametrize("line, options, freq, passno", [
    ("/dev/vda1 / ext4", (), 0, 0),
    ("/dev/vda1 / ext4 defaults", ("defaults",), 0, 0),
    ("/dev/vda1 / ext4 defaults 1", ("defaults",), 1, 0),
    ("  /dev/vda1\t\t/  ext4 \t defaults 1 2  ", ("defaults",), 1, 2),
])
def test_optional_fields(line, options, freq, passno):
    (entry,), problems = fstab.parse(line)
    assert problems == []
    assert (entry.options, entry.freq, entry.passno) == (options, freq, passno)


BINARY = b"\x00\xff\xfe\x01garbage\n\x89PNG\r\n\x1a\n".decode("utf-8", "surrogateescape")


@pytest.mark.parametrize("text, problem_lines", ids=text_id, argvalues=[
    ("", []),
    ("\n\n   \n\t\n", []),
    ("# only a comment", []),
    ("=", [1]),
    ("/dev/sda1 /", [1]),
    ("UUID=1 / ext4 defaults 0 x", [1]),
    ("UUID=1 / ext4 defaults -1 0", [1]),
    ("UUID=1 / ext4 defaults 0 \u00b2", [1]),
    ("UUID=1 / ext4 defaults \u0661 0", [1]),
    ("UUID=1 / ext4 defaults 0 1 # comment", [1]),
    (BINARY, [1, 2, 3]),
    pytest.param("x" * 200000 + "\n", [1], id="huge-line-1"),
    pytest.param("a b " + "c" * 200000 + "\nproc /proc proc defaults 0 0\n", [], id="huge-line-2"),
    ("ok / ext4\nbad\n\nnone /dev/shm tmpfs defaults 0 0\n#x\ntoo few\n", [2, 6]),
])
def test_garbage_is_reported_never_raised(text, problem_lines):
    entries, problems = fstab.parse(text)
    assert [p.lineno for p in problems] == problem_lines
    assert all(p.message for p in problems)
    assert len(entries) + len(problems) == sum(
        1 for line in text.split("\n") if line.strip() and not line.strip().startswith("#"))


@pytest.mark.parametrize("spec, kind", [
    ("UUID=6b2ce2f6-5d6c-4b5b-9e5f-0e1c2a3b4c5d", "uuid"),
    ("LABEL=cloudimg-rootfs", "label"),
    ("PARTUUID=0e1c2a3b-01", "partuuid"),
    ("PARTLABEL=EFI\\040System", "partlabel"),
    ("/dev/disk/by-uuid/6b2ce2f6-5d6c-4b5b-9e5f-0e1c2a3b4c5d", "uuid"),
    ("/dev/disk/by-label/root", "label"),
    ("/dev/disk/by-partuuid/0e1c2a3b-01", "partuuid"),
    ("/dev/disk/by-partlabel/root", "partlabel"),
    ("/dev/disk/by-id/virtio-abc-part1", "devname"),
    ("/dev/sda1", "devname"),
    ("/dev/mapper/centos-root", "devname"),
    ("/dev/vg0/root", "devname"),
    ("/srv/www", "path"),
    ("/swapfile", "path"),
    ("nfs.example.com:/export/home", "network"),
    ("[fd00::1]:/export", "network"),
    ("mon1,mon2:/", "network"),
    ("user@host:/srv", "network"),
    ("//fileserver/share", "network"),
    ("none", "none"),
    ("tmpfs", "none"),
    ("proc", "none"),
    ("sysfs", "none"),
    ("devpts", "none"),
    ("shm", "none"),
    ("uuid=lowercase-tag", "other"),
    ("somelabel", "other"),
    ("", "other"),
])
def test_spec_kind(spec, kind):
    assert fstab.spec_kind(spec) == kind


@pytest.mark.parametrize("spec", [
    "/dev/sda", "/dev/sda1", "/dev/sdaa12", "/dev/vda", "/dev/vdb1", "/dev/xvda",
    "/dev/xvdf1", "/dev/hda2", "/dev/nvme0n1", "/dev/nvme0n1p1", "/dev/nvme12n3p15",
    "/dev/mmcblk0", "/dev/mmcblk0p2",
])
def test_kernel_device_names(spec):
    assert fstab.is_kernel_device_name(spec)


@pytest.mark.parametrize("spec", [
    "/dev/mapper/centos-root", "/dev/mapper/sda1", "/dev/md0", "/dev/md127p1",
    "/dev/centos/root", "/dev/vg0/lv_data", "/dev/disk/by-uuid/1234",
    "/dev/disk/by-id/ata-sda1", "/dev/sr0", "/dev/nvme0", "/dev/nvme0n1p",
    "/dev/sda1x", "UUID=1", "sda1", "/dev/sd", "", "/dev/loop0", "/dev/dm-0",
])
def test_stable_or_other_names_are_not_kernel_names(spec):
    assert not fstab.is_kernel_device_name(spec)


@pytest.mark.parametrize("line, role", [
    ("UUID=1 / xfs defaults 0 0", "system"),
    ("UUID=1 /boot xfs defaults 0 0", "system"),
    ("UUID=1 /boot/ xfs defaults 0 0", "system"),
    ("LABEL=UEFI /boot/efi vfat umask=0077 0 1", "system"),
    ("/dev/sda1 /efi vfat defaults 0 1", "system"),
    ("/dev/mapper/centos-swap swap swap defaults 0 0", "swap"),
    ("/swapfile none swap sw 0 0", "swap"),
    ("tmpfs /tmp tmpfs defaults,size=2G 0 0", "virtual"),
    ("proc /proc proc defaults 0 0", "virtual"),
    ("devpts /dev/pts devpts gid=5,mode=620 0 0", "virtual"),
    ("cgroup2 /sys/fs/cgroup cgroup2 rw 0 0", "virtual"),
    ("efivarfs /sys/firmware/efi/efivars efivarfs ro 0 0", "virtual"),
    ("/srv/www /var/www none bind 0 0", "bind"),
    ("/srv /mnt/srv none rbind,ro 0 0", "bind"),
    ("nfs.example.com:/export/home /home nfs4 defaults,_netdev 0 0", "network"),
    ("//fileserver/share /mnt/share cifs credentials=/root/.smb 0 0", "network"),
    ("user@host:/srv /mnt/remote fuse.sshfs defaults 0 0", "network"),
    ("gluster1:/vol0 /mnt/gluster glusterfs defaults 0 0", "network"),
    ("server:/export /mnt/auto auto defaults 0 0", "network"),
    ("hostshare /mnt/host 9p trans=virtio 0 0", "data"),
    ("/dev/vdb1 /data ext4 defaults 0 2", "data"),
    ("UUID=2 /home ext4 defaults 0 2", "data"),
    ("/dev/sr0 /media/cdrom0 udf,iso9660 user,noauto 0 0", "data"),
])
def test_classify(line, role):
    (entry,), _ = fstab.parse(line)
    assert fstab.classify(entry) == role


def test_constants():
    assert fstab.SYSTEM_MOUNTPOINTS == frozenset({"/", "/boot", "/boot/efi", "/efi"})
    assert {"proc", "sysfs", "devpts", "tmpfs", "cgroup2", "autofs", "ramfs"} <= fstab.VIRTUAL_FSTYPES
    assert "ext4" not in fstab.VIRTUAL_FSTYPES and "swap" not in fstab.VIRTUAL_FSTYPES


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("final_newline", [True, False])
def test_commenting_out_data_entries_touches_only_those_lines(newline, final_newline):
    text = MIXED.replace("\n", newline)
    if not final_newline:
        text = text[:-len(newline)]
    entries, _ = fstab.parse(text)
    drop = [e.lineno for e in entries if fstab.classify(e) in ("data", "network")]
    assert drop == [2, 3, 5, 6, 9]
    edited = comment_out(text, drop)
    old, new = text.split(newline), edited.split(newline)
    assert len(old) == len(new)
    for lineno, (before, after) in enumerate(zip(old, new), 1):
        assert after == (DISABLED_PREFIX + before if lineno in drop else before)
    assert comment_out(edited, drop) == edited
    remaining, problems = fstab.parse(edited)
    assert problems == []
    assert [e.lineno for e in remaining] == [1, 4, 7, 8, 10]
