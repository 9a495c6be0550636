"""lvm_devices: a devices file naming the build VM's disks is found, judged and moved aside."""
import pytest

from agent.checks.lvm_devices import DEVICES_FILE, LvmDevices, parse_devices, use_devicesfile
from agent.core.engine import Engine
from agent.core.model import RemoveFile, Status
from remediations.lvm_devices import LvmDevicesFix

# As lvmdevices (lvm2 2.03.16) writes it.
DEVICES = ("# LVM uses devices listed in this file.\n"
           "# Created by LVM command lvmdevices pid 4242 at Wed Dec  2 19:00:00 2026\n"
           "VERSION=1.1.2\n"
           "IDTYPE=sys_wwid IDNAME=naa.600140512345678 DEVNAME=/dev/sda2 PVID=abcDEF0123456789abcDEF0123456789 PART=2\n"
           "IDTYPE=devname IDNAME=/dev/vdb DEVNAME=/dev/vdb PVID=zyxWVU9876543210zyxWVU9876543210\n")


def image(guest, devices=DEVICES, conf="devices {\n}\n", fstab="/dev/mapper/vg-root / ext4 defaults 0 1\n"):
    guest.os_release("debian", "12")
    guest.write("/etc/fstab", fstab)
    guest.write("/etc/lvm/lvm.conf", conf)
    if devices is not None:
        guest.write(DEVICES_FILE, devices)


def test_parse_and_setting():
    entries = parse_devices(DEVICES + "garbage line\nIDTYPE\n")
    assert [e["IDTYPE"] for e in entries] == ["sys_wwid", "devname"]
    assert use_devicesfile("devices {\n\t# use_devicesfile = 1\n\tuse_devicesfile = 0\n}\n") == (0, "/etc/lvm/lvm.conf")
    assert use_devicesfile("devices {\n\t# use_devicesfile = 0\n}\n")[0] == 0     # Debian's built-in default
    assert use_devicesfile("devices {\n}\n") == (None, "")


def test_no_file_passes(guest):
    image(guest, devices=None)
    assert LvmDevices().run(guest.ctx()).status == Status.PASS


def test_a_root_on_lvm_pinned_by_wwid_fails_and_the_fix_moves_the_file_aside(guest):
    image(guest)
    ctx = guest.ctx()
    result = LvmDevices().run(ctx)
    assert result.status == Status.FAIL, result.summary
    assert "pins 1 of 2 device(s) by the build VM's disk ids (sys_wwid)" in result.summary
    assert "naa.6001405" not in result.summary and "abcDEF" not in result.summary
    assert "initramfs" in result.hint
    steps = LvmDevicesFix().plan(ctx, result)
    assert steps == [RemoveFile(DEVICES_FILE, why="it pins 1 device(s) by the build VM's disk ids (sys_wwid)")]
    engine = Engine([LvmDevices], [LvmDevicesFix])
    plans = engine.plan(ctx, engine.select(None, default_fixes=True), engine.run_checks(ctx))
    journal, outcomes = engine.apply(ctx, plans, guest.state())
    assert [o.outcome for o in outcomes] == ["FIXED"] and not guest.exists(DEVICES_FILE)
    journal.rollback(ctx)
    assert guest.read(DEVICES_FILE) == DEVICES


@pytest.mark.parametrize("conf, devices, fstab, status", [
    ("devices {\n use_devicesfile = 0\n}\n", DEVICES, "/dev/mapper/vg-root / ext4 defaults 0 1\n", Status.INFO),
    ("devices {\n # use_devicesfile = 0\n}\n", DEVICES, "/dev/mapper/vg-root / ext4 defaults 0 1\n", Status.INFO),
    ("devices {\n # use_devicesfile = 0\n use_devicesfile = 1\n}\n", DEVICES, "/dev/vg/root / ext4 defaults 0 1\n",
     Status.FAIL),
    ("", "VERSION=1.1.1\nIDTYPE=devname IDNAME=/dev/vda2 DEVNAME=/dev/vda2 PVID=x\n",
     "/dev/mapper/vg-root / ext4 defaults 0 1\n", Status.PASS),
    ("", DEVICES, "UUID=0a1b / ext4 defaults 0 1\n", Status.WARN),   # root not on LVM: data VGs
])
def test_judgement(guest, conf, devices, fstab, status):
    image(guest, devices=devices, conf=conf, fstab=fstab)
    assert LvmDevices().run(guest.ctx()).status == status
