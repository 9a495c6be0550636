import os
import stat
import sys

import pytest

from agent.checks.grub import Grub
from agent.facts.boot import regen_command
from agent.core.engine import Engine
from agent.core.model import Refused, RunCommand, Status, WriteFile
from remediations.grub import GrubFix
from conftest import FakeLive, FakeRunner

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bootsamples import (CENTOS6_GRUB_CONF, CENTOS6_KERNEL, DEBIAN12_GRUB_CFG, DEBIAN_KERNEL, DEBIAN_UUID,
                         RHEL7_GRUB_CFG, RHEL7_KERNEL, RHEL7_UUID, ROCKY9_BLS, ROCKY_KERNEL, ROCKY_MACHINE_ID,
                         UBUNTU2204_GRUB_CFG, UBUNTU_DEFAULT_GRUB, UBUNTU_KERNEL, dpkg_status, rpm_answer)


def run(guest, **kw):
    return Engine([Grub]).run_check(guest.ctx(**kw), Grub())


def debian(guest, grub_version="2.06-13+deb12u1"):
    guest.os_release("debian", "12")
    guest.write("/var/lib/dpkg/status", dpkg_status({"grub-pc": grub_version, "grub-common": grub_version}))
    guest.write("/boot/grub/grub.cfg", DEBIAN12_GRUB_CFG)
    for kver in (DEBIAN_KERNEL, "6.1.0-17-amd64"):
        guest.write("/boot/vmlinuz-" + kver, b"\x00kernel")
        guest.write("/boot/initrd.img-" + kver, b"\x00initrd")


def test_debian12_grub_cfg_passes_offline_and_says_uuids_were_not_resolved(guest):
    debian(guest)
    result = run(guest)
    assert result.status == Status.PASS
    assert result.summary == ("/boot/grub/grub.cfg: root= by UUID or LABEL, every kernel and initramfs present "
                              "(UUIDs were not resolved (the image is not running))")


def test_debian12_missing_initrd_fails_with_its_line(guest):
    debian(guest)
    os.remove(guest.host("/boot/initrd.img-6.1.0-17-amd64"))
    result = run(guest)
    assert result.status == Status.FAIL
    line = DEBIAN12_GRUB_CFG.splitlines().index("\t\tinitrd\t/boot/initrd.img-6.1.0-17-amd64") + 1
    assert result.summary == ("/boot/grub/grub.cfg line {}: initramfs /boot/initrd.img-6.1.0-17-amd64 does not "
                              "exist in /boot (entry 'Debian GNU/Linux, with Linux 6.1.0-17-amd64')".format(line))
    assert result.commands[-1] == guest.ctx().in_guest("update-grub")


def test_live_uuid_that_resolves_to_nothing_fails(guest):
    debian(guest)
    guest.mkdir("/dev/disk/by-uuid")
    live = FakeLive(devices={})
    result = run(guest, live=live)
    assert result.status == Status.FAIL
    assert "search for filesystem UUID {} finds nothing here".format(DEBIAN_UUID) in result.summary
    assert "root=UUID={} names no filesystem here".format(DEBIAN_UUID) in result.summary
    resolved = FakeLive(devices={"UUID=" + DEBIAN_UUID: "/dev/vda1"})
    assert run(guest, live=resolved).status == Status.PASS


def test_rhel7_separate_boot_resolves_paths_relative_to_boot(guest):
    guest.os_release("centos", "7", "rhel fedora")
    guest.mkdir("/var/lib/rpm")
    guest.write("/boot/grub2/grub.cfg", RHEL7_GRUB_CFG)
    guest.write("/boot/vmlinuz-" + RHEL7_KERNEL, b"\x00k")
    guest.write("/boot/initramfs-{}.img".format(RHEL7_KERNEL), b"\x00i")
    guest.write("/boot/vmlinuz-0-rescue-2d1f8d4e5a", b"\x00k")
    guest.write("/boot/initramfs-0-rescue-2d1f8d4e5a.img", b"\x00i")
    runner = FakeRunner(guest.ctx().root.path, rpm_answer({"grub2-pc": "2.02-0.87.el7.centos.7"}))
    result = run(guest, runner=runner)
    assert result.status == Status.PASS, result.summary
    os.remove(guest.host("/boot/vmlinuz-" + RHEL7_KERNEL))
    result = run(guest, runner=FakeRunner(guest.ctx().root.path, rpm_answer({})))
    assert result.status == Status.FAIL
    assert "kernel /vmlinuz-{} does not exist in /boot".format(RHEL7_KERNEL) in result.summary
    assert regen_command(guest.ctx()) == ("grub2-mkconfig", "-o", "/boot/grub2/grub.cfg")


def test_rhel7_search_uuid_checked_live(guest):
    guest.os_release("centos", "7", "rhel fedora")
    guest.write("/boot/grub2/grub.cfg", RHEL7_GRUB_CFG)
    guest.mkdir("/dev/disk")
    result = run(guest, live=FakeLive(devices={"UUID=" + RHEL7_UUID: "/dev/sda1"}))
    assert "UUID" not in result.summary


def test_ubuntu_root_by_device_name_fails_with_the_regeneration(guest):
    guest.os_release("ubuntu", "22.04", "debian")
    guest.write("/boot/grub/grub.cfg", UBUNTU2204_GRUB_CFG)
    guest.write("/etc/default/grub", UBUNTU_DEFAULT_GRUB)
    guest.write("/boot/vmlinuz-" + UBUNTU_KERNEL, b"\x00k")
    guest.write("/boot/initrd.img-" + UBUNTU_KERNEL, b"\x00i")
    result = run(guest)
    assert result.status == Status.FAIL
    assert result.summary.startswith("/etc/default/grub: GRUB_DISABLE_LINUX_UUID=true makes grub-mkconfig write "
                                     "root=/dev/... instead of root=UUID=; /boot/grub/grub.cfg line ")
    assert result.summary.endswith(": root=/dev/sda1 is a kernel device name")
    # Offline and the root is no mount point: no UUID to write, so the hint gives the commands
    # (no regeneration: grub-mkconfig cannot run in a chroot into a mounted image).
    ctx = guest.ctx()
    assert result.commands == (
        "blkid -s UUID -o value /dev/loopNpM",
        "sed -i 's|root=/dev/sda1\\b|root=UUID=<uuid>|g' " + ctx.root.display("/boot/grub/grub.cfg"),
        "sed -i 's|^GRUB_DISABLE_LINUX_UUID=.*|GRUB_DISABLE_LINUX_UUID=false|' " + ctx.root.display("/etc/default/grub"))
    assert "guestprep cannot read the UUID of the image's root filesystem" in result.hint
    with pytest.raises(Refused):
        GrubFix().plan(ctx, result)


def test_fix_ubuntu_live_sets_uuid_and_regenerates(guest):
    guest.os_release("ubuntu", "22.04", "debian")
    guest.write("/boot/grub/grub.cfg", UBUNTU2204_GRUB_CFG)
    guest.write("/etc/default/grub", UBUNTU_DEFAULT_GRUB.replace('GRUB_CMDLINE_LINUX=""',
                                                                 'GRUB_CMDLINE_LINUX="root=/dev/sda1 net.ifnames=0"'))
    guest.write("/boot/vmlinuz-" + UBUNTU_KERNEL, b"\x00k")
    guest.write("/boot/initrd.img-" + UBUNTU_KERNEL, b"\x00i")
    guest.mkdir("/dev/disk")
    live = FakeLive(devices={"/dev/sda1": "/dev/sda1", "UUID=5d7e9f0a-2b3c-4d5e-8f9a-0b1c2d3e4f50": "/dev/sda1"},
                    uuids={"/dev/sda1": "5d7e9f0a-2b3c-4d5e-8f9a-0b1c2d3e4f50"})
    ctx = guest.ctx(live=live)
    result = Grub().run(ctx)
    assert result.status == Status.FAIL
    steps = GrubFix().plan(ctx, result)
    assert steps == [
        WriteFile("/etc/default/grub", UBUNTU_DEFAULT_GRUB.replace(
            'GRUB_CMDLINE_LINUX=""', 'GRUB_CMDLINE_LINUX="root=UUID=5d7e9f0a-2b3c-4d5e-8f9a-0b1c2d3e4f50 '
            'net.ifnames=0"').replace("GRUB_DISABLE_LINUX_UUID=true", "GRUB_DISABLE_LINUX_UUID=false").encode(),
            why="name the root filesystem by UUID for grub-mkconfig"),
        RunCommand(("update-grub",), why="regenerate grub.cfg from /etc/default/grub",
                   undo_hint="after `guestprep rollback`, run update-grub again"),
    ]


def centos6(guest):
    guest.os_release("centos", "6", "rhel fedora")
    guest.write("/boot/grub/grub.conf", CENTOS6_GRUB_CONF, mode=0o600)
    guest.symlink("/boot/grub/menu.lst", "./grub.conf")
    guest.write("/boot/vmlinuz-" + CENTOS6_KERNEL, b"\x00k")
    guest.write("/boot/initramfs-{}.img".format(CENTOS6_KERNEL), b"\x00i")
    guest.mkdir("/dev/disk")
    return FakeLive(devices={"/dev/sda2": "/dev/sda2", "UUID=9e8d7c6b-aaaa-bbbb-cccc-ddddeeeeffff": "/dev/sda2"},
                    uuids={"/dev/sda2": "9e8d7c6b-aaaa-bbbb-cccc-ddddeeeeffff"})


def test_centos6_legacy_root_device_name_fails_once_for_two_names(guest):
    centos6(guest)
    result = run(guest)
    assert result.status == Status.FAIL
    assert result.summary == "/boot/grub/grub.conf line 16: root=/dev/sda2 is a kernel device name"


def test_grub_legacy_package_older_than_199_fails(guest):
    centos6(guest)
    guest.write("/boot/grub/grub.conf", CENTOS6_GRUB_CONF.replace("root=/dev/sda2", "root=UUID=9e8d"))
    runner = FakeRunner(guest.ctx().root.path, rpm_answer({"grub": "0.97-99.el6"}))
    guest.mkdir("/var/lib/rpm")
    result = run(guest, runner=runner)
    assert result.status == Status.FAIL
    assert result.summary == "package grub 0.97-99.el6 is older than GRUB 1.99"
    assert "GRUB 2 (1.99 or later)" in result.hint


def test_fix_centos6_legacy_apply_recheck_rollback(guest):
    live = centos6(guest)
    engine = Engine([Grub], [GrubFix])
    ctx = guest.ctx(live=live)
    results = engine.run_checks(ctx)
    plans = engine.plan(ctx, engine.checks, results)
    assert [type(s).__name__ for s in plans[0].steps] == ["WriteFile"]
    journal, outcomes = engine.apply(ctx, plans, guest.state())
    assert [o.outcome for o in outcomes] == ["FIXED"]
    text = guest.read("/boot/grub/grub.conf")
    assert "root=UUID=9e8d7c6b-aaaa-bbbb-cccc-ddddeeeeffff rd_NO_LUKS" in text
    assert text.replace("root=UUID=9e8d7c6b-aaaa-bbbb-cccc-ddddeeeeffff", "root=/dev/sda2") == CENTOS6_GRUB_CONF
    assert engine.plan(ctx, engine.checks, engine.run_checks(ctx)) == []
    journal.rollback(ctx)
    assert guest.read("/boot/grub/grub.conf") == CENTOS6_GRUB_CONF
    assert stat.S_IMODE(os.stat(guest.host("/boot/grub/grub.conf")).st_mode) == 0o600


def rocky(guest, separate_boot=True):
    guest.os_release("rocky", "9.3", "rhel centos fedora")
    guest.write("/boot/loader/entries/{}-{}.conf".format(ROCKY_MACHINE_ID, ROCKY_KERNEL), ROCKY9_BLS)
    guest.write("/boot/grub2/grub.cfg", "set default=\"${saved_entry}\"\ninsmod blscfg\nblscfg\n")
    guest.write("/boot/vmlinuz-" + ROCKY_KERNEL, b"\x00k")
    guest.write("/boot/initramfs-{}.img".format(ROCKY_KERNEL), b"\x00i")


def test_rocky9_bls_passes_and_lvm_root_is_stable(guest):
    rocky(guest)
    result = run(guest)
    assert result.status == Status.PASS, result.summary
    assert "/boot/loader/entries/" in result.summary


def test_rocky9_bls_missing_kernel_and_device_name(guest):
    rocky(guest)
    entry = "/boot/loader/entries/{}-{}.conf".format(ROCKY_MACHINE_ID, ROCKY_KERNEL)
    guest.write(entry, ROCKY9_BLS.replace("root=/dev/mapper/rl-root", "root=/dev/vda2"))
    os.remove(guest.host("/boot/vmlinuz-" + ROCKY_KERNEL))
    result = run(guest)
    assert result.status == Status.FAIL
    assert result.summary == ("{e} line 5: root=/dev/vda2 is a kernel device name; {e} line 3: kernel "
                              "/vmlinuz-{k} does not exist in /boot (entry 'Rocky Linux ({k}) 9.3 (Blue Onyx)')"
                              .format(e=entry, k=ROCKY_KERNEL))
    # Offline, with the root no mount point: the entry is edited by hand (sed), not with grubby.
    assert "sed -i 's|root=/dev/vda2\\b|root=UUID=<uuid>|g' " + guest.ctx().root.display(entry) in result.commands
    guest.write("/usr/sbin/grubby", b"#!/bin/sh\n", mode=0o755)
    guest.mkdir("/dev/disk")
    live = Grub().run(guest.ctx(live=FakeLive()))
    assert guest.ctx().in_guest("grubby --update-kernel=ALL --args=root=UUID=<uuid of />") in live.commands


def test_no_configuration_and_unmounted_boot_partition(guest):
    guest.os_release("debian", "12")
    guest.write("/etc/fstab", "UUID=1 / ext4 defaults 0 1\nUUID=2 /boot ext4 defaults 0 2\n")
    guest.mkdir("/boot")
    result = run(guest)
    assert result.status == Status.WARN
    assert result.summary.startswith("/boot is empty: /etc/fstab puts /boot on its own partition")
    guest.write("/etc/fstab", "UUID=1 / ext4 defaults 0 1\n")
    assert run(guest).summary.startswith("no GRUB configuration found")


def test_binary_grub_cfg_is_a_warning_naming_the_file_and_other_files_still_checked(guest):
    debian(guest)
    guest.write("/boot/grub/grub.cfg", b"\x00\x01\x02garbage")
    guest.write("/boot/grub/menu.lst", CENTOS6_GRUB_CONF)
    result = run(guest)
    assert result.status == Status.FAIL
    assert "/boot/grub/grub.cfg: binary data where a text file was expected" in result.summary
    assert "/boot/grub/menu.lst line 16: root=/dev/sda2 is a kernel device name" in result.summary


def test_directory_instead_of_grub_cfg(guest):
    debian(guest)
    os.remove(guest.host("/boot/grub/grub.cfg"))
    guest.mkdir("/boot/grub/grub.cfg")
    result = run(guest)
    assert result.status == Status.WARN
    assert result.summary == "/boot/grub/grub.cfg: not a regular file (a directory)"


def test_no_configuration_names_the_distributions_own_tool(guest):
    guest.write("/etc/fstab", "UUID=1 / ext4 defaults 0 1\n")
    guest.os_release("debian", "12")
    result = run(guest)
    assert result.status == Status.WARN and "`update-grub`" in result.hint
    assert "grub2-mkconfig" not in result.hint
    # Offline, a command typed on the host would act on the host's boot loader.
    assert not result.commands
    assert "on the VM itself" in result.hint
    guest.os_release("rocky", "9.3", like="rhel centos fedora")
    result = run(guest)
    assert "`grub2-mkconfig -o /boot/grub2/grub.cfg`" in result.hint and "update-grub" not in result.hint
    if guest.base == "/":
        result = run(guest, live=FakeLive())
        assert list(result.commands) == ["grub2-mkconfig -o /boot/grub2/grub.cfg"]
        assert "on the VM itself" not in result.hint


# -- offline: the UUID of the filesystem mounted at --root ------------------------------

VMWARE_GRUB_CFG = """\
menuentry 'Debian GNU/Linux' --class debian {
\tsearch --no-floppy --fs-uuid --set=root 3f6a8c1e-2b4d-4e5f-9a0b-1c2d3e4f5a6b
\tlinux\t/boot/vmlinuz-6.12.48+deb13-amd64 root=/dev/sda1 ro  quiet
\tinitrd\t/boot/initrd.img-6.12.48+deb13-amd64
}
submenu 'Advanced options for Debian GNU/Linux' {
\tmenuentry 'Debian GNU/Linux, with Linux 6.12.48+deb13-amd64 (recovery mode)' {
\t\tlinux\t/boot/vmlinuz-6.12.48+deb13-amd64 root=/dev/sda1 ro single
\t\tinitrd\t/boot/initrd.img-6.12.48+deb13-amd64
\t}
}
"""
VMWARE_DEFAULT_GRUB = """\
GRUB_DEFAULT=0
GRUB_TIMEOUT=5
GRUB_CMDLINE_LINUX_DEFAULT="quiet"
GRUB_CMDLINE_LINUX=""
GRUB_DISABLE_LINUX_UUID=true
"""
TRIXIE_KERNEL = "6.12.48+deb13-amd64"


def vmware_trixie(guest, tools=("/usr/sbin/grub-mkconfig",)):
    guest.os_release("debian", "13")
    guest.write("/boot/grub/grub.cfg", VMWARE_GRUB_CFG)
    guest.write("/boot/efi/EFI/debian/grub.cfg", VMWARE_GRUB_CFG)
    guest.write("/etc/default/grub", VMWARE_DEFAULT_GRUB)
    guest.write("/boot/vmlinuz-" + TRIXIE_KERNEL, b"\x00k")
    guest.write("/boot/initrd.img-" + TRIXIE_KERNEL, b"\x00i")
    for tool in tools:
        guest.write(tool, b"#!/bin/sh\n", mode=0o755)


def test_offline_hint_names_only_the_tools_the_image_has(guest):
    vmware_trixie(guest)     # grub-mkconfig, no update-grub
    assert regen_command(guest.ctx()) == ("grub-mkconfig", "-o", "/boot/grub/grub.cfg")
    guest.write("/usr/sbin/update-grub", b"#!/bin/sh\n", mode=0o755)
    assert regen_command(guest.ctx()) == ("update-grub",)


def test_offline_plain_directory_says_so_and_gives_the_commands(guest, fs):
    vmware_trixie(guest)
    fs.create_file("/proc/self/mountinfo", contents="22 1 8:2 / /srv rw - ext4 /dev/sda2 rw\n")
    ctx = guest.ctx()
    result = Grub().run(ctx)
    assert result.status == Status.FAIL
    assert "{} is not a mount point (a plain directory)".format(ctx.root.path) in result.hint
    assert "sed -i 's|root=/dev/sda1\\b|root=UUID=<uuid>|g' {} {} {}".format(
        ctx.root.display("/boot/efi/EFI/debian/grub.cfg"), ctx.root.display("/boot/grub/grub.cfg"),
        ctx.root.display("/etc/default/grub")) not in result.commands    # no root= in default/grub
    assert "sed -i 's|root=/dev/sda1\\b|root=UUID=<uuid>|g' {} {}".format(
        ctx.root.display("/boot/efi/EFI/debian/grub.cfg"), ctx.root.display("/boot/grub/grub.cfg")) \
        in result.commands
    assert not any("update-grub" in c or "mkconfig" in c for c in result.commands)
    engine = Engine([Grub], [GrubFix])
    plans = engine.plan(ctx, engine.checks, [result])
    assert plans[0].steps == []
    assert "is not a mount point" in plans[0].skipped


def test_offline_fix_writes_the_mounted_filesystems_uuid_everywhere_and_rolls_back(guest, fs, monkeypatch):
    from imagemount import ROOT_UUID, mount_image
    vmware_trixie(guest)
    mount_image(fs, monkeypatch, guest)
    ctx = guest.ctx()
    engine = Engine([Grub], [GrubFix])
    results = engine.run_checks(ctx)
    assert results[0].status == Status.FAIL
    assert "writes root=UUID={} (the filesystem mounted at {}, /dev/loop0p1)".format(
        ROOT_UUID, ctx.root.path) in results[0].hint
    plans = engine.plan(ctx, engine.checks, results)
    assert sorted(s.path for s in plans[0].steps) == ["/boot/efi/EFI/debian/grub.cfg", "/boot/grub/grub.cfg",
                                                      "/etc/default/grub"]
    assert all(isinstance(s, WriteFile) for s in plans[0].steps)
    from agent.output.report import plan_flags
    assert plan_flags(plans[0])[0] == "reversible"      # file edits only: rollback undoes them all
    journal, outcomes = engine.apply(ctx, plans, guest.state())
    assert [o.outcome for o in outcomes] == ["FIXED"], outcomes
    for path in ("/boot/grub/grub.cfg", "/boot/efi/EFI/debian/grub.cfg"):
        text = guest.read(path)
        assert text == VMWARE_GRUB_CFG.replace("root=/dev/sda1", "root=UUID=" + ROOT_UUID)
    assert guest.read("/etc/default/grub") == VMWARE_DEFAULT_GRUB.replace(
        "GRUB_DISABLE_LINUX_UUID=true", "GRUB_DISABLE_LINUX_UUID=false")
    assert engine.run_checks(ctx)[0].status == Status.PASS
    journal.rollback(ctx)
    assert guest.read("/boot/grub/grub.cfg") == VMWARE_GRUB_CFG
    assert guest.read("/etc/default/grub") == VMWARE_DEFAULT_GRUB


def test_offline_fix_bls_entries_grubenv_and_menu_lst(guest, fs, monkeypatch):
    from imagemount import ROOT_UUID, mount_image
    rocky(guest)
    entry = "/boot/loader/entries/{}-{}.conf".format(ROCKY_MACHINE_ID, ROCKY_KERNEL)
    guest.write(entry, ROCKY9_BLS.replace("root=/dev/mapper/rl-root", "root=/dev/xvda2"))
    guest.write("/boot/grub/menu.lst", CENTOS6_GRUB_CONF)
    mount_image(fs, monkeypatch, guest, partitions={2: __import__("imagemount").ext4_bytes(ROOT_UUID)}, mounted=2)
    ctx = guest.ctx()
    result = Grub().run(ctx)
    steps = GrubFix().plan(ctx, result)
    by_path = dict((s.path, s.content.decode()) for s in steps)
    assert by_path[entry] == ROCKY9_BLS.replace("root=/dev/mapper/rl-root", "root=UUID=" + ROOT_UUID)
    kernel_line = [line for line in CENTOS6_GRUB_CONF.splitlines(True) if line.strip().startswith("kernel")][0]
    assert by_path["/boot/grub/menu.lst"] == CENTOS6_GRUB_CONF.replace(
        kernel_line, kernel_line.replace("root=/dev/sda2", "root=UUID=" + ROOT_UUID))
    assert "#          kernel /vmlinuz-version ro root=/dev/sda2" in by_path["/boot/grub/menu.lst"]  # a comment
    assert not any(isinstance(s, RunCommand) for s in steps)


def test_grubenv_keeps_its_1024_bytes():
    from remediations.grub import grubenv_with_uuid
    body = "# GRUB Environment Block\nkernelopts=root=/dev/sda2 ro crashkernel=auto\nsaved_entry=x\n"
    env = body + "#" * (1024 - len(body))
    new = grubenv_with_uuid(env, {"/dev/sda2": "3f6a8c1e-2b4d-4e5f-9a0b-1c2d3e4f5a6b"})
    assert len(new) == 1024
    assert "kernelopts=root=UUID=3f6a8c1e-2b4d-4e5f-9a0b-1c2d3e4f5a6b ro crashkernel=auto\n" in new
    full = body + "x" * (1024 - len(body))
    assert grubenv_with_uuid(full, {"/dev/sda2": "3f6a8c1e-2b4d-4e5f-9a0b-1c2d3e4f5a6b"}) is None
