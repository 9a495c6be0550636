import os
import stat

import pytest

from agent.checks.fstab import Fstab
from agent.core.engine import Engine
from agent.core.model import Mode, Status, WriteFile
from agent.parsers import DISABLED_PREFIX
from remediations.fstab import FstabFix
from conftest import FakeLive

D = DISABLED_PREFIX
OFFLINE = " (devices not resolved: the image is not running)"

RHEL7 = """\

#
# /etc/fstab
# Created by anaconda on Tue Mar 10 09:14:01 2020
#
# Accessible filesystems, by reference, are maintained under '/dev/disk'
# See man pages fstab(5), findfs(8), mount(8) and/or blkid(8) for more info
#
UUID=6b2ce2f6-5d6c-4b5b-9e5f-0e1c2a3b4c5d /                       xfs     defaults        0 0
UUID=3e9a5a0b-2b6d-4c1e-9a3e-8b7f0e1c2d3a /boot                   xfs     defaults        0 0
/dev/mapper/rhel-swap   swap                    swap    defaults        0 0
"""

UBUNTU_CLOUD = "LABEL=cloudimg-rootfs\t/\t ext4\tdiscard,errors=remount-ro\t0 1\nLABEL=UEFI\t/boot/efi\tvfat\tumask=0077\t0 1\n"

# A Debian VM from VMware: everything by kernel name, a data disk and the installer's CD-ROM.
VMWARE = """\
# /etc/fstab: static file system information.
#
# <file system> <mount point>   <type>  <options>       <dump>  <pass>
proc            /proc           proc    defaults        0       0
/dev/sda1       /               ext4    errors=remount-ro 0       1
/dev/sda5       none            swap    sw              0       0
/dev/sdb1       /data           ext4    defaults        0       2
/dev/scd0       /media/cdrom0   udf,iso9660 user,noauto     0       0
"""

ROOT_UUID = "0f6c8a3e-7d0e-4c7b-9a53-1c2d3e4f5a6b"
SWAP_UUID = "a1b2c3d4-e5f6-4789-abcd-ef0123456789"


def vmware_live():
    """The VMware VM itself, running: its kernel names resolve and have UUIDs."""
    return FakeLive(
        devices={"/dev/sda1": "/dev/sda1", "/dev/sda5": "/dev/sda5", "/dev/sdb1": "/dev/sdb1",
                 "/dev/scd0": "/dev/sr0",
                 "UUID=" + ROOT_UUID: "/dev/sda1", "UUID=" + SWAP_UUID: "/dev/sda5"},
        uuids={"/dev/sda1": ROOT_UUID, "/dev/sda5": SWAP_UUID, "/dev/sdb1": "d47a"})


def run(guest, text=None, live=None):
    if live is not None and not guest.exists("/dev/disk"):
        guest.mkdir("/dev/disk/by-uuid")   # udev is running
    if text is not None:
        guest.write("/etc/fstab", text)
    return Fstab().run(guest.ctx(live=live))


def plan_text(guest, live=None):
    if live is not None and not guest.exists("/dev/disk"):
        guest.mkdir("/dev/disk/by-uuid")
    ctx = guest.ctx(live=live)
    steps = FstabFix().plan(ctx, Fstab().run(ctx))
    if not steps:
        return None
    assert len(steps) == 1 and isinstance(steps[0], WriteFile) and steps[0].path == "/etc/fstab"
    return steps[0].content.decode("utf-8", "surrogateescape")


# -- clean files ----------------------------------------------------------------

def test_rhel7_by_uuid_passes(guest):
    result = run(guest, RHEL7)
    assert result.status == Status.PASS
    assert result.summary.endswith("/etc/fstab mounts only the system disk: /, /boot, swap" + OFFLINE)
    assert result.paths == ("/etc/fstab",)


def test_ubuntu_cloud_labels_pass(guest):
    result = run(guest, UBUNTU_CLOUD)
    assert result.status == Status.PASS
    assert result.summary.endswith("mounts only the system disk: /, /boot/efi" + OFFLINE)


def test_live_resolution_passes_and_says_nothing_about_offline(guest):
    live = FakeLive(devices={"LABEL=cloudimg-rootfs": "/dev/vda1", "LABEL=UEFI": "/dev/vda15"})
    result = run(guest, UBUNTU_CLOUD, live=live)
    assert result.status == Status.PASS
    assert "not resolved" not in result.summary


def test_virtual_filesystems_and_bind_mounts_on_the_root_disk_are_fine(guest):
    text = ("UUID=1 / ext4 defaults 0 1\n"
            "proc /proc proc defaults 0 0\n"
            "tmpfs /tmp tmpfs defaults,size=2G 0 0\n"
            "devpts /dev/pts devpts gid=5,mode=620 0 0\n"
            "/srv/www /var/www none bind 0 0\n"
            "/swapfile none swap sw 0 0\n"
            "overlay /merged overlay lowerdir=/a,upperdir=/b,workdir=/c 0 0\n")
    result = run(guest, text)
    assert result.status == Status.PASS
    assert plan_text(guest) is None


# -- data disks and shares ------------------------------------------------------

def test_vmware_offline_reports_each_line(guest):
    result = run(guest, VMWARE)
    assert result.status == Status.FAIL
    assert result.summary.split(": ", 1)[1] == (
        "line 5: /dev/sda1 on / (ext4) uses a kernel device name; "
        "line 6: /dev/sda5 (swap) uses a kernel device name; "
        "line 7: /dev/sdb1 on /data (ext4) is a data disk; "
        "line 8: /dev/scd0 on /media/cdrom0 (udf,iso9660) is a CD/DVD drive (noauto)" + OFFLINE)
    assert "(002)" in result.hint and "guestprep could not read their UUIDs" in result.hint
    assert "is not a mount point (a plain directory)" in result.hint or "cannot read /proc/self/mountinfo" \
        in result.hint
    fstab = guest.ctx().root.display("/etc/fstab")
    assert result.commands[0] == "sed -i -e '7s/^/# /' -e '8s/^/# /' " + fstab
    # Offline, the hint never proposes blkid on the host's own /dev/sda1.
    assert not any("blkid" in c and "/dev/sd" in c for c in result.commands)
    if "is not a mount point (a plain directory)" in result.hint:
        # findmnt on a plain directory would print the host's own filesystem's UUID.
        assert not any(c.startswith("findmnt") for c in result.commands)
        assert "blkid -s UUID -o value /dev/loopNpM   # the image's partition for /" in result.commands
    else:
        assert "findmnt -no UUID " + guest.ctx().root.path in result.commands


def test_vmware_offline_fix_comments_out_the_data_disks_only(guest):
    guest.write("/etc/fstab", VMWARE)
    assert plan_text(guest) == VMWARE.replace(
        "/dev/sdb1       /data", D + "/dev/sdb1       /data").replace(
        "/dev/scd0", D + "/dev/scd0")


def test_vmware_live_fix_rewrites_to_uuid_and_keeps_the_original(guest):
    guest.write("/etc/fstab", VMWARE)
    live = vmware_live()
    result = run(guest, live=live)
    assert "line 5: /dev/sda1 on / (ext4) uses a kernel device name (its UUID is {})".format(
        ROOT_UUID) in result.summary
    assert "not resolved" not in result.summary
    assert plan_text(guest, live=live) == """\
# /etc/fstab: static file system information.
#
# <file system> <mount point>   <type>  <options>       <dump>  <pass>
proc            /proc           proc    defaults        0       0
# guestprep disabled: /dev/sda1       /               ext4    errors=remount-ro 0       1
UUID=0f6c8a3e-7d0e-4c7b-9a53-1c2d3e4f5a6b       /               ext4    errors=remount-ro 0       1
# guestprep disabled: /dev/sda5       none            swap    sw              0       0
UUID=a1b2c3d4-e5f6-4789-abcd-ef0123456789       none            swap    sw              0       0
# guestprep disabled: /dev/sdb1       /data           ext4    defaults        0       2
# guestprep disabled: /dev/scd0       /media/cdrom0   udf,iso9660 user,noauto     0       0
"""


def test_nfs_and_cifs_shares_fail_and_are_commented_out(guest):
    text = ("LABEL=root / xfs defaults 0 0\n"
            "nfs.example.com:/export/home /home nfs4 defaults,_netdev 0 0\n"
            "//fileserver/share /mnt/share cifs credentials=/root/.smb 0 0\n")
    result = run(guest, text)
    assert result.status == Status.FAIL
    assert "line 2: nfs.example.com:/export/home on /home (nfs4) is a network share" in result.summary
    assert "line 3: //fileserver/share on /mnt/share (cifs) is a network share" in result.summary
    assert plan_text(guest) == ("LABEL=root / xfs defaults 0 0\n"
                                + D + "nfs.example.com:/export/home /home nfs4 defaults,_netdev 0 0\n"
                                + D + "//fileserver/share /mnt/share cifs credentials=/root/.smb 0 0\n")


def test_nofail_data_disk_is_a_warning_and_still_commented_out(guest):
    text = "UUID=1 / ext4 defaults 0 1\n/dev/vdb1 /data ext4 defaults,nofail 0 2\n"
    result = run(guest, text)
    assert result.status == Status.WARN
    assert "line 2: /dev/vdb1 on /data (ext4) is a data disk (nofail)" in result.summary
    assert "nofail or noauto keeps a missing disk from stopping a systemd boot" in result.hint
    assert plan_text(guest) == "UUID=1 / ext4 defaults 0 1\n" + D + "/dev/vdb1 /data ext4 defaults,nofail 0 2\n"


def test_escaped_space_in_mountpoint(guest):
    text = "UUID=1 / ext4 defaults 0 1\nLABEL=My\\040Data /mnt/My\\040Data ext4 defaults 0 2\n"
    result = run(guest, text)
    assert "line 2: LABEL=My Data on /mnt/My Data (ext4) is a data disk" in result.summary
    # the line is commented out exactly as written, escapes and all
    assert plan_text(guest) == "UUID=1 / ext4 defaults 0 1\n" + D + "LABEL=My\\040Data /mnt/My\\040Data ext4 defaults 0 2\n"


def test_bind_mount_from_a_data_disk_goes_with_it(guest):
    text = ("UUID=1 / ext4 defaults 0 1\n/dev/vdb1 /data ext4 defaults 0 2\n"
            "/data/www /var/www none bind 0 0\n/data/swapfile none swap sw 0 0\n"
            "/srv/www /var/www2 none bind 0 0\n")
    result = run(guest, text)
    assert "line 3: /data/www on /var/www (bind) comes from /data" in result.summary
    assert "line 4: /data/swapfile (swap) comes from /data" in result.summary
    assert "line 5" not in result.summary
    assert plan_text(guest) == ("UUID=1 / ext4 defaults 0 1\n" + D + "/dev/vdb1 /data ext4 defaults 0 2\n"
                                + D + "/data/www /var/www none bind 0 0\n" + D + "/data/swapfile none swap sw 0 0\n"
                                "/srv/www /var/www2 none bind 0 0\n")


def test_os_directories_on_the_system_disk_are_never_commented_out(guest):
    text = ("/dev/mapper/centos-root / xfs defaults 0 0\n"
            "UUID=2 /boot xfs defaults 0 0\n"
            "/dev/mapper/centos-home /home xfs defaults 0 0\n"
            "UUID=3 /var xfs defaults 0 0\n"
            "/dev/mapper/centos-swap swap swap defaults 0 0\n")
    result = run(guest, text)
    assert result.status == Status.WARN
    assert result.summary.split(": ", 1)[1] == (
        "line 3: /dev/mapper/centos-home on /home (xfs) is a separate filesystem; "
        "line 4: UUID=3 on /var (xfs) is a separate filesystem" + OFFLINE)
    assert "comment its line out by hand" in result.hint
    assert plan_text(guest) is None


def test_os_directory_on_another_disk_is_a_data_disk(guest):
    text = "/dev/sda1 / ext4 defaults 0 1\n/dev/sda3 /home ext4 defaults 0 2\n/dev/sdb1 /var ext4 defaults 0 2\n"
    result = run(guest, text)
    assert "line 2: /dev/sda3 on /home (ext4) is a separate filesystem" in result.summary
    assert "line 2: /dev/sda3 on /home (ext4) uses a kernel device name" in result.summary
    assert "line 3: /dev/sdb1 on /var (ext4) is a data disk" in result.summary
    assert plan_text(guest) == text.replace("/dev/sdb1", D + "/dev/sdb1")


def test_swap_on_another_disk_is_commented_out_but_system_swap_never(guest):
    text = "/dev/vda1 / ext4 defaults 0 1\n/dev/vda2 none swap sw 0 0\n/dev/vdb1 none swap sw 0 0\n"
    result = run(guest, text)
    assert "line 3: /dev/vdb1 (swap) is swap on another disk (vdb)" in result.summary
    assert plan_text(guest) == text.replace("/dev/vdb1", D + "/dev/vdb1")


@pytest.mark.parametrize("spec, word", [
    ("/dev/xvda1", "kernel"), ("/dev/nvme0n1p1", "kernel"), ("/dev/hda1", "kernel"),
    ("/dev/disk/by-id/ata-VBOX_HARDDISK_VB1234-part1", "bus"),
    ("/dev/disk/by-path/pci-0000:00:10.0-scsi-0:0:0:0-part1", "bus"),
])
def test_unstable_names_of_the_root_fail(guest, spec, word):
    result = run(guest, spec + " / ext4 defaults 0 1\n")
    assert result.status == Status.FAIL
    assert result.summary.split(": ", 1)[1] == "line 1: {} on / (ext4) uses a {} device name".format(
        spec, word) + OFFLINE
    assert plan_text(guest) is None


@pytest.mark.parametrize("spec", ["/dev/disk/by-id/dm-name-centos-root", "/dev/md0",
                                  "/dev/disk/by-uuid/1234", "PARTUUID=0e1c2a3b-01"])
def test_stable_names_pass(guest, spec):
    assert run(guest, spec + " / ext4 defaults 0 1\n").status == Status.PASS


# -- live resolution --------------------------------------------------------------

def test_live_missing_root_device_fails_and_is_never_commented_out(guest):
    live = FakeLive(devices={"UUID=3e9a5a0b-2b6d-4c1e-9a3e-8b7f0e1c2d3a": "/dev/vda1"})
    result = run(guest, RHEL7, live=live)
    assert result.status == Status.FAIL
    assert result.summary.split(": ", 1)[1] == (
        "line 9: the root filesystem's device UUID=6b2ce2f6-5d6c-4b5b-9e5f-0e1c2a3b4c5d does not exist; "
        "line 11: swap's device /dev/mapper/rhel-swap does not exist")
    assert "lsblk -o NAME,FSTYPE,UUID,LABEL,MOUNTPOINT" in result.commands
    assert plan_text(guest, live=live) is None


def test_live_missing_data_device_is_part_of_the_data_finding(guest):
    live = FakeLive(devices={"UUID=1": "/dev/vda1"})
    result = run(guest, "UUID=1 / ext4 defaults 0 1\nUUID=9 /home ext4 defaults 0 2\n", live=live)
    assert result.summary.split(": ", 1)[1] == (
        "line 2: UUID=9 on /home (ext4) is a data disk; its device does not exist")
    assert plan_text(guest, live=live) == "UUID=1 / ext4 defaults 0 1\n" + D + "UUID=9 /home ext4 defaults 0 2\n"


def test_without_udev_devices_are_not_resolved(guest):
    # A container: LiveFacts would find no /dev/disk/by-uuid link for any UUID=.
    guest.write("/etc/fstab", RHEL7 + "UUID=9 /home xfs defaults 0 0\n")
    result = Fstab().run(guest.ctx(live=FakeLive()))
    assert result.status == Status.WARN
    assert result.summary.split(": ", 1)[1] == (
        "line 12: UUID=9 on /home (xfs) is a separate filesystem "
        "(devices not resolved: /dev/disk does not exist (no udev))")
    assert FstabFix().plan(guest.ctx(live=FakeLive()), result) == []


def test_live_device_without_a_known_uuid_is_proposed_with_blkid(guest):
    live = FakeLive(devices={"/dev/sda1": "/dev/sda1"})
    result = run(guest, "/dev/sda1 / ext4 defaults 0 1\n", live=live)
    assert result.status == Status.FAIL
    assert result.commands == ("blkid -s UUID -o value /dev/sda1",)
    assert plan_text(guest, live=live) is None


def test_live_bus_name_rewritten(guest):
    spec = "/dev/disk/by-id/scsi-36000c29a1b2c3d4e5f6-part1"
    live = FakeLive(devices={spec: "/dev/sda1", "UUID=abcd": "/dev/sda1"}, uuids={"/dev/sda1": "abcd"})
    guest.write("/etc/fstab", "  {}\t/boot/efi vfat umask=0077 0 1\r\n".format(spec))
    assert plan_text(guest, live=live) == (
        "{}  {}\t/boot/efi vfat umask=0077 0 1\r\n  UUID=abcd\t/boot/efi vfat umask=0077 0 1\r\n".format(D, spec))


# -- bad input ----------------------------------------------------------------------

def test_garbage_lines_are_warned_about_by_number(guest):
    text = "UUID=1 / ext4 defaults 0 1\ngarbage\n/dev/vdb1 /data ext4 defaults zero 2\n"
    result = run(guest, text)
    assert result.status == Status.WARN
    assert result.summary.split(": ", 1)[1] == (
        "line 2 is not a valid entry, fewer than 3 fields (spec, mount point, type): 'garbage'; "
        "line 3 is not a valid entry, freq/passno not a number: 'zero': "
        "'/dev/vdb1 /data ext4 defaults zero 2'" + OFFLINE)
    assert "correct or remove them" in result.hint
    assert plan_text(guest) is None


def test_garbage_does_not_hide_other_findings(guest):
    result = run(guest, "\x01\x02 junk\nUUID=1 / ext4 defaults 0 1\n/dev/vdb /srv xfs defaults 0 0\n")
    assert result.status == Status.FAIL
    assert "line 1 is not a valid entry" in result.summary
    assert "line 3: /dev/vdb on /srv (xfs) is a data disk" in result.summary


def test_binary_fstab_is_an_error_not_a_traceback(guest):
    guest.write("/etc/fstab", b"\x00\x01\xff\xfeUUID=1 / ext4")
    result = Fstab().run(guest.ctx())
    assert result.status == Status.ERROR
    assert "binary data" in result.summary and result.hint


def test_fstab_that_is_a_directory_is_an_error(guest):
    guest.mkdir("/etc/fstab")
    result = Fstab().run(guest.ctx())
    assert result.status == Status.ERROR
    assert "not a regular file" in result.summary


def test_missing_fstab_warns(guest):
    result = run(guest)
    assert result.status == Status.WARN
    assert result.summary.endswith("/etc/fstab does not exist")
    assert "read-only" in result.hint and result.commands
    assert plan_text(guest) is None


def test_no_root_entry_warns(guest):
    result = run(guest, "# UNCONFIGURED FSTAB FOR BASE SYSTEM\n")
    assert result.status == Status.WARN
    assert result.summary.split(": ", 1)[1] == "no entry for /" + OFFLINE
    assert "systemd-remount-fs" in result.hint


def test_lines_disabled_earlier_are_counted_not_reported(guest):
    text = "UUID=1 / ext4 defaults 0 1\n" + D + "/dev/vdb1 /data ext4 defaults 0 2\n" + D + "/dev/vdc1 /x xfs rw\n"
    result = run(guest, text)
    assert result.status == Status.PASS
    assert result.summary.endswith(": / (2 lines disabled by guestprep; devices not resolved: "
                                   "the image is not running)")


# -- the fix through the engine ------------------------------------------------------

def test_fix_declares_itself():
    fix = FstabFix()
    assert (fix.id, fix.mode, fix.reversible, fix.offline_safe, fix.needs_reboot) == (
        "fstab", Mode.AUTO, True, True, False)


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_fix_apply_recheck_rollback_live(guest, newline):
    original = VMWARE.replace("\n", newline)
    guest.write("/etc/fstab", original, mode=0o640)
    engine = Engine([Fstab], [FstabFix])
    guest.mkdir("/dev/disk/by-uuid")
    ctx = guest.ctx(live=vmware_live())
    plans = engine.plan(ctx, engine.checks, engine.run_checks(ctx))
    journal, outcomes = engine.apply(ctx, plans, guest.state())
    assert [o.outcome for o in outcomes] == ["FIXED"]
    assert outcomes[0].result.status == Status.PASS
    assert "(4 lines disabled by guestprep)" in outcomes[0].result.summary
    fixed = guest.read("/etc/fstab")
    assert fixed.count(newline) == 10 and ("\r\n" not in fixed or newline == "\r\n")
    assert stat.S_IMODE(os.stat(guest.host("/etc/fstab")).st_mode) == 0o640
    # idempotent: nothing left to plan
    assert engine.plan(ctx, engine.checks, engine.run_checks(ctx)) == []
    outcomes = journal.rollback(ctx)
    assert [o for _r, o, _m in outcomes] == ["restored"]
    with open(guest.host("/etc/fstab"), "rb") as handle:
        assert handle.read() == original.encode()
    assert stat.S_IMODE(os.stat(guest.host("/etc/fstab")).st_mode) == 0o640


def test_fix_offline_leaves_kernel_names_and_stays_failing(guest):
    guest.write("/etc/fstab", VMWARE)
    engine = Engine([Fstab], [FstabFix])
    ctx = guest.ctx()
    plans = engine.plan(ctx, engine.checks, engine.run_checks(ctx))
    assert "lines 5, 6 left for you" in plans[0].steps[0].why
    journal, outcomes = engine.apply(ctx, plans, guest.state())
    assert [o.outcome for o in outcomes] == ["STILL FAILING"]
    assert outcomes[0].message.split(": ", 1)[1] == (
        "line 5: /dev/sda1 on / (ext4) uses a kernel device name; "
        "line 6: /dev/sda5 (swap) uses a kernel device name (2 lines disabled by guestprep; "
        "devices not resolved: the image is not running)")
    assert "guestprep could not read their UUIDs" in outcomes[0].result.hint
    # a second plan changes nothing: what is left needs a person
    assert plan_text(guest) is None
    journal.rollback(ctx)
    assert guest.read("/etc/fstab") == VMWARE


def test_fix_nofail_disk_is_fixed(guest):
    text = "LABEL=root / ext4 defaults 0 1\n/dev/vdb1 /data ext4 defaults,nofail 0 2"
    guest.write("/etc/fstab", text)
    engine = Engine([Fstab], [FstabFix])
    ctx = guest.ctx()
    journal, outcomes = engine.apply(ctx, engine.plan(ctx, engine.checks, engine.run_checks(ctx)),
                                     guest.state())
    assert [o.outcome for o in outcomes] == ["FIXED"]
    # no final newline before, none after
    assert guest.read("/etc/fstab") == "LABEL=root / ext4 defaults 0 1\n" + D + "/dev/vdb1 /data ext4 defaults,nofail 0 2"
    journal.rollback(ctx)
    assert guest.read("/etc/fstab") == text


# SLES/openSUSE's default layout: btrfs subvolumes of the root filesystem, each on its own
# line with the root's UUID. They are on the system disk; none is a data disk.
SLES_BTRFS = """\
UUID=4f6c1b2a-8d3e-4a5f-9b6c-7d8e9f0a1b57  /                       btrfs  defaults                         0  0
UUID=4f6c1b2a-8d3e-4a5f-9b6c-7d8e9f0a1b57  /var                    btrfs  subvol=/@/var                    0  0
UUID=4f6c1b2a-8d3e-4a5f-9b6c-7d8e9f0a1b57  /srv                    btrfs  subvol=/@/srv                    0  0
UUID=4f6c1b2a-8d3e-4a5f-9b6c-7d8e9f0a1b57  /root                   btrfs  subvol=/@/root                   0  0
UUID=4f6c1b2a-8d3e-4a5f-9b6c-7d8e9f0a1b57  /home                   btrfs  subvol=/@/home                   0  0
UUID=4f6c1b2a-8d3e-4a5f-9b6c-7d8e9f0a1b57  /boot/grub2/i386-pc     btrfs  subvol=/@/boot/grub2/i386-pc     0  0
UUID=4f6c1b2a-8d3e-4a5f-9b6c-7d8e9f0a1b57  /.snapshots             btrfs  subvol=/@/.snapshots             0  0
UUID=4a6d1c0e-2d5b-4d8e-9a61-3c1b2f7e9d10  swap                    swap   defaults                         0  0
"""


def test_btrfs_subvolumes_of_the_root_are_the_system_disk(guest):
    result = run(guest, SLES_BTRFS)
    assert result.status == Status.PASS, result.summary
    assert "/.snapshots" in result.summary
    assert plan_text(guest) is None


def test_a_btrfs_data_disk_next_to_subvolumes_is_still_a_data_disk(guest):
    result = run(guest, SLES_BTRFS + "UUID=d47a  /data  btrfs  defaults  0  0\n")
    assert result.status == Status.FAIL
    assert "line 9: UUID=d47a on /data (btrfs) is a data disk" in result.summary
    assert "/srv" not in result.summary and "/.snapshots" not in result.summary
    assert plan_text(guest).splitlines()[-1] == D + "UUID=d47a  /data  btrfs  defaults  0  0"


# -- offline, the image mounted at the root: UUIDs read from its disk --------------------

def test_vmware_mounted_image_root_and_sibling_swap_by_uuid_data_disk_out(guest, fs, monkeypatch):
    from imagemount import ROOT_UUID as IMAGE_ROOT, ext4_bytes, mount_image
    swap = bytearray(8192)
    swap[4096 - 10:4096] = b"SWAPSPACE2"
    swap[1024 + 12:1024 + 28] = bytes(bytearray(range(16)))
    mount_image(fs, monkeypatch, guest, partitions={1: ext4_bytes(IMAGE_ROOT), 5: bytes(swap)})
    guest.write("/etc/fstab", VMWARE)
    ctx = guest.ctx()
    result = Fstab().run(ctx)
    assert "line 5: /dev/sda1 on / (ext4) uses a kernel device name (its UUID is {})".format(IMAGE_ROOT) \
        in result.summary
    assert "line 6: /dev/sda5 (swap) uses a kernel device name (its UUID is 00010203-0405-0607-0809-0a0b0c0d0e0f)" \
        in result.summary
    assert "kernel names read from /dev/loop0p1, mounted at {}".format(ctx.root.path) in result.summary
    engine = Engine([Fstab], [FstabFix])
    journal, outcomes = engine.apply(ctx, engine.plan(ctx, engine.checks, [result]), guest.state())
    assert [o.outcome for o in outcomes] == ["FIXED"], outcomes
    text = guest.read("/etc/fstab")
    assert "\nUUID={}       /               ext4    errors=remount-ro 0       1\n".format(IMAGE_ROOT) in text
    assert "\nUUID=00010203-0405-0607-0809-0a0b0c0d0e0f       none            swap    sw" in text
    assert "\n" + D + "/dev/sdb1       /data" in text
    assert "\n" + D + "/dev/sda1       /" in text      # the old line stays, commented out
    journal.rollback(ctx)
    assert guest.read("/etc/fstab") == VMWARE


def test_mounted_image_without_visible_partitions_leaves_swap_with_a_command(guest, fs, monkeypatch):
    from imagemount import ROOT_UUID as IMAGE_ROOT, ext4_bytes, mount_image
    mount_image(fs, monkeypatch, guest, partitions={1: ext4_bytes(IMAGE_ROOT)})
    guest.write("/etc/fstab", VMWARE.replace("ext4    errors", "xfs     errors"))
    result = Fstab().run(guest.ctx())
    # The filesystem at the root is ext4, fstab says xfs: not taken for it.
    assert "line 5: /dev/sda1 on / (xfs) uses a kernel device name;" in result.summary
    guest.write("/etc/fstab", VMWARE)
    result = Fstab().run(guest.ctx())
    assert "(its UUID is {})".format(IMAGE_ROOT) in result.summary
    assert "line 6: /dev/sda5 (swap) uses a kernel device name;" in result.summary
    assert "attach the whole disk: `losetup -fP --show IMAGE`" in result.hint
    assert "blkid -s UUID -o value /dev/loopNpM   # the image's swap partition" in result.commands


def test_xen_names_resolve_too(guest, fs, monkeypatch):
    from imagemount import ROOT_UUID as IMAGE_ROOT, ext4_bytes, mount_image
    mount_image(fs, monkeypatch, guest, partitions={1: ext4_bytes(IMAGE_ROOT)})
    guest.write("/etc/fstab", "/dev/xvda1 / ext4 defaults 0 1\n/dev/xvdb1 /data ext4 defaults 0 2\n")
    assert plan_text(guest) == (D + "/dev/xvda1 / ext4 defaults 0 1\nUUID={} / ext4 defaults 0 1\n"
                                + D + "/dev/xvdb1 /data ext4 defaults 0 2\n").format(IMAGE_ROOT)


def test_plain_directory_root_never_offers_findmnt_which_would_answer_for_the_host(guest, fs):
    fs.create_file("/proc/self/mountinfo", contents="22 1 8:2 / /srv rw - ext4 /dev/sda2 rw\n")
    result = run(guest, VMWARE)
    assert "{} is not a mount point (a plain directory)".format(guest.ctx().root.path) in result.hint
    assert not any(c.startswith("findmnt") for c in result.commands)
    assert "blkid -s UUID -o value /dev/loopNpM   # the image's partition for /" in result.commands


# -- findings as data (issue 13) ----------------------------------------------------------

def test_findings_carry_stable_codes_and_the_entry_line(guest):
    result = run(guest, VMWARE)
    found = [(f.status, f.code, f.path, f.line) for f in result.findings]
    assert found == [
        (Status.FAIL, "fstab.device-name", "/etc/fstab", 5),
        (Status.FAIL, "fstab.device-name", "/etc/fstab", 6),
        (Status.FAIL, "fstab.data-disk", "/etc/fstab", 7),
        (Status.WARN, "fstab.cd-drive", "/etc/fstab", 8),
    ]
    assert result.findings[2].refs == ("002",) and result.findings[0].refs == ("003",)
    # The summary is the findings' texts, each a template a translation can render again.
    data_disk = result.findings[2].text
    assert data_disk.template == "line {line}: {what} is a data disk{note}"
    assert str(data_disk) == "line 7: /dev/sdb1 on /data (ext4) is a data disk"
    assert result.summary == "{}: {}{}".format(guest.ctx().root.display("/etc/fstab"),
                                               "; ".join(str(f.text) for f in result.findings), OFFLINE)
