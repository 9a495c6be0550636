from agent.checks.data_disks_mounted import DataDisksMounted
from agent.core.engine import Engine
from agent.core.model import RunCommand, Status
from conftest import FakeLive
from remediations.data_disks_mounted import DataDisksMountedFix

ROOT = ("/dev/vda1", "/", "ext4", "rw,relatime")
BOOT_EFI = ("/dev/vda15", "/boot/efi", "vfat", "rw")
VIRTUAL = [("proc", "/proc", "proc", "rw"), ("tmpfs", "/run", "tmpfs", "rw"),
           ("/dev/loop3", "/snap/core20/2015", "squashfs", "ro"), ("server:/export", "/mnt/nfs", "nfs4", "rw")]


DEVICES = "/sys/devices/pci0000:00/virtio/block"


def layout(guest):
    """/sys/class/block as the kernel shows it: partitions link into their disk's directory,
    dm-0 (an LVM volume) has vdc1 as its slave."""
    for disk, part in (("vda", "vda1"), ("vda", "vda15"), ("vdb", "vdb1"), ("vdc", "vdc1")):
        guest.write("{}/{}/{}/partition".format(DEVICES, disk, part), "1\n")
        guest.write("{}/{}/size".format(DEVICES, disk), "83886080\n")
        guest.symlink("/sys/class/block/" + part, "../../devices/pci0000:00/virtio/block/{}/{}".format(disk, part))
        guest.write("/dev/" + part, "")
    for disk in ("vda", "vdb", "vdc"):
        guest.symlink("/sys/class/block/" + disk, "../../devices/pci0000:00/virtio/block/" + disk)
    guest.write("/sys/class/block/dm-0/dm/name", "data-lv\n")
    guest.mkdir("/sys/class/block/dm-0/slaves/vdc1")
    guest.write("/dev/dm-0", "")
    guest.symlink("/dev/mapper/data-lv", "../dm-0")


def run(guest, mounts):
    live = FakeLive(mounts=mounts)
    return Engine([DataDisksMounted]).run_check(guest.ctx(live=live), DataDisksMounted()), live


def test_offline_is_skipped(guest):
    result = Engine([DataDisksMounted]).run_check(guest.ctx(), DataDisksMounted())
    assert result.status == Status.SKIP


def test_only_the_system_disk_passes(guest):
    layout(guest)
    result, _ = run(guest, [ROOT, BOOT_EFI] + VIRTUAL)
    assert result.status == Status.PASS
    assert "/dev/vda" in result.summary


def test_data_disks_fail_with_umount_commands_deepest_first(guest):
    layout(guest)
    mounts = [ROOT, BOOT_EFI, ("/dev/vdb1", "/data", "xfs", "rw"), ("/dev/vdb1", "/data/www/shared", "xfs", "rw"),
              ("/dev/mapper/data-lv", "/srv", "ext4", "rw")] + VIRTUAL
    result, live = run(guest, mounts)
    assert result.status == Status.FAIL
    assert "/dev/vdb" in result.summary and "/dev/vdc" in result.summary
    assert list(result.commands) == ["umount /data/www/shared", "umount /data", "umount /srv"]
    ctx = guest.ctx(live=live)
    steps = DataDisksMountedFix().plan(ctx, result)
    assert [s.argv for s in steps] == [("umount", "/data/www/shared"), ("umount", "/data"), ("umount", "/srv")]
    assert all(isinstance(s, RunCommand) and s.live_only and s.undo_hint.startswith("mount ") for s in steps)
    # Already unmounted: nothing left to plan.
    live._mounts = [ROOT]
    assert DataDisksMountedFix().plan(ctx, result) == []


def test_unknown_system_disk_warns(guest):
    result, _ = run(guest, [("/dev/root", "/", "ext4", "rw"), ("/dev/sdb1", "/data", "ext4", "rw")])
    assert result.status == Status.WARN
    assert "/dev/sdb1 on /data" in result.summary
    assert result.commands == ("umount /data",)


def test_fix_is_not_offered_for_an_image():
    assert DataDisksMountedFix.offline_safe is False and DataDisksMountedFix.reversible is False


def test_a_busy_mount_names_the_processes_that_hold_it(guest):
    layout(guest)
    live = FakeLive(mounts=[ROOT, ("/dev/vdb1", "/data", "xfs", "rw")] + VIRTUAL,
                    using={"/data": [(812, "postgres"), (1207, "bash")]})
    result = Engine([DataDisksMounted]).run_check(guest.ctx(live=live), DataDisksMounted())
    assert result.status == Status.FAIL
    assert "/data is in use by postgres (pid 812), bash (pid 1207)" in result.hint
    assert "target is busy" in result.hint
    assert result.data["mounts"][0]["in_use_by"] == [{"pid": 812, "name": "postgres"}, {"pid": 1207, "name": "bash"}]


def test_processes_using_a_mount_from_proc(tmp_path):
    # This process's working directory is on tmp_path's filesystem: /proc says so.
    import os
    from agent.facts.live import LiveFacts
    from agent.core.rootfs import Root
    held = tmp_path / "held"
    held.mkdir()
    handle = open(str(held / "open-file"), "w")
    try:
        using = LiveFacts(Root("/")).processes_using(str(held))
        assert (os.getpid(), open("/proc/self/comm").read().strip()) in using
        assert LiveFacts(Root("/")).processes_using(str(tmp_path / "nobody-here")) == []
    finally:
        handle.close()


def test_a_failed_umount_does_not_offer_a_rollback_of_nothing():
    import io
    from agent.output import report
    from agent.core.engine import Outcome

    class J(object):
        run_id = "20261202T000000Z-abcd"
    out = io.StringIO()
    report.outcomes_text([Outcome("data_disks_mounted", "data-disks-mounted", "ROLLED BACK",
                                  "failed: umount: /data: target is busy; its changes were rolled back", None)],
                         J(), out)
    assert "rollback --run" not in out.getvalue()
    assert "Nothing was left changed" in out.getvalue()
