import os
import stat

import pytest

from agent.checks.growpart import Growpart
from agent.core.engine import Engine
from agent.core.model import RunCommand, Status
from agent.core.runner import Completed
from conftest import FakeLive, FakeRunner
from remediations.growpart import GrowpartFix

CLOUD_CFG = """\
# The modules that run in the 'init' stage
cloud_init_modules:
 - migrator
 - seed_random
 - bootcmd
 - write-files
 - growpart
 - resizefs
 - disk_setup
 - mounts
 - set_hostname
 - update_hostname
 - update_etc_hosts
 - ca-certs
 - rsyslog
 - users-groups
 - ssh
"""

# /etc/fstab as anaconda writes it (xfs root) and as a Debian installer does (ext4).
RHEL_FSTAB = """\

#
# /etc/fstab
# Created by anaconda on Tue Mar  5 10:12:41 2024
#
# Accessible filesystems, by reference, are maintained under '/dev/disk/'.
# See man pages fstab(5), findfs(8), mount(8) and/or blkid(8) for more info.
#
UUID=8c2f6a2e-5a47-4b37-9d7e-9b7fbf0d6a10 /                       xfs     defaults        0 0
UUID=3e5c4c0a-8d55-4c2f-a4c5-1cd2f0b0a3de /boot                   xfs     defaults        0 0
"""
DEBIAN_FSTAB = """\
# /etc/fstab: static file system information.
#
# <file system> <mount point>   <type>  <options>       <dump>  <pass>
UUID=0b6f2d4e-4b59-4d1b-9a53-7b3d8d6c1e2f /               ext4    errors=remount-ro 0       1
/dev/sr0        /media/cdrom0   udf,iso9660 user,noauto     0       0
"""


def dpkg_status(*names):
    versions = {"cloud-init": "22.4.2-1+deb12u4", "cloud-guest-utils": "0.33-1",
                "e2fsprogs": "1.47.0-2+b2", "xfsprogs": "6.1.0-1", "base-files": "12.4+deb12u5"}
    return "\n".join("Package: {}\nStatus: install ok installed\nPriority: optional\nArchitecture: amd64\n"
                     "Version: {}\nDescription: {}\n".format(n, versions[n], n) for n in names)


def sh(ctx, *argv):
    return " ".join(ctx.runner.command_line(argv))


def debian(guest, packages=("base-files", "cloud-init", "cloud-guest-utils", "e2fsprogs"), fstab=DEBIAN_FSTAB):
    guest.os_release("debian", "12")
    guest.write("/var/lib/dpkg/status", dpkg_status(*packages))
    if fstab is not None:
        guest.write("/etc/fstab", fstab)
    if "cloud-init" in packages:
        guest.write("/etc/cloud/cloud.cfg", CLOUD_CFG)
    if "cloud-guest-utils" in packages:
        guest.write("/usr/bin/growpart", "#!/bin/sh\n", mode=0o755)
    if "e2fsprogs" in packages:
        guest.write("/usr/sbin/resize2fs", "", mode=0o755)


def rpm_guest(guest, os_id, version, rpm_lines, like="rhel fedora"):
    guest.os_release(os_id, version, like)
    guest.mkdir("/var/lib/rpm")
    guest.write("/etc/fstab", RHEL_FSTAB)
    guest.write("/etc/cloud/cloud.cfg", CLOUD_CFG)
    return FakeRunner(guest.ctx().root.path,
                      {("rpm", "-qa"): (0, "".join(line + "\n" for line in rpm_lines), "")})


def run(guest, **kw):
    ctx = guest.ctx(**kw)
    return ctx, Growpart().run(ctx)


def test_debian_complete_passes(guest):
    debian(guest)
    result = run(guest)[1]
    assert result.status == Status.PASS
    assert result.summary == ("growpart (/usr/bin/growpart); resize2fs for the ext4 root (/usr/sbin/resize2fs); "
                              "cloud-init runs growpart and resizefs")


def test_growpart_missing_fails_with_commands(guest):
    debian(guest, packages=("base-files", "cloud-init", "e2fsprogs"))
    ctx, result = run(guest)
    assert result.status == Status.FAIL
    assert result.summary == "growpart is not installed"
    assert result.commands == (sh(ctx, "apt-get", "update"), sh(ctx, "apt-get", "install", "-y", "cloud-guest-utils"))
    assert GrowpartFix().plan(ctx, result) == [
        RunCommand(("apt-get", "update"), why="refresh the package lists", network=True),
        RunCommand(("apt-get", "install", "-y", "cloud-guest-utils"),
                   why="install cloud-guest-utils (GUESTOS.OnlineResizeFS)",
                   undo_hint=sh(ctx, "apt-get", "purge", "-y", "cloud-guest-utils"), network=True)]


def test_package_without_file_still_counts(guest):
    # Evidence from either source: the package database or the file.
    debian(guest)
    os.remove(guest.host("/usr/bin/growpart"))
    assert "growpart (package cloud-guest-utils)" in run(guest)[1].summary


@pytest.mark.parametrize("os_id, version, tools, like, argv", [
    ("centos", "7", ("/usr/bin/yum",), "rhel fedora", ("yum", "install", "-y", "cloud-utils-growpart", "xfsprogs")),
    ("rocky", "8.9", ("/usr/bin/dnf",), "rhel centos fedora",
     ("dnf", "install", "-y", "cloud-utils-growpart", "xfsprogs")),
    ("sles", "15.5", (), "suse", ("zypper", "--non-interactive", "install", "growpart", "xfsprogs")),
])
def test_rpm_families_install_growpart_and_xfsprogs(guest, os_id, version, tools, like, argv):
    runner = rpm_guest(guest, os_id, version, ["cloud-init\t23.4-7.el9", "e2fsprogs\t1.45.6-5.el8"], like=like)
    for tool in tools:
        guest.write(tool, "", mode=0o755)
    ctx, result = run(guest, runner=runner)
    assert result.status == Status.FAIL
    assert result.summary == ("growpart is not installed; xfs_growfs is missing; the xfs root filesystem "
                              "(per /etc/fstab) cannot grow")
    assert result.data == {"missing": list(argv[-2:])}
    assert [s.argv for s in GrowpartFix().plan(ctx, result)] == [argv]
    assert [c for c in runner.calls if c[:1] == ("rpm",)] == []   # the database is read, rpm never run


def test_rpm_with_everything_passes(guest):
    runner = rpm_guest(guest, "almalinux", "9.3",
                       ["cloud-init\t23.4-7.el9", "cloud-utils-growpart\t0.33-1.el9", "xfsprogs\t6.3.0-1.el9"])
    result = run(guest, runner=runner)[1]
    assert result.status == Status.PASS
    assert result.summary.startswith("growpart (package cloud-utils-growpart); xfs_growfs for the xfs root "
                                     "(package xfsprogs)")


def test_modules_removed_warns_with_snippet_and_plans_nothing(guest):
    debian(guest)
    guest.write("/etc/cloud/cloud.cfg", CLOUD_CFG.replace(" - growpart\n", "").replace(" - resizefs\n", ""))
    ctx, result = run(guest)
    assert result.status == Status.WARN
    assert result.summary == "cloud-init module(s) growpart, resizefs not in cloud_init_modules of /etc/cloud/cloud.cfg"
    assert "cloud_init_modules in /etc/cloud/cloud.cfg (after write_files):\n - growpart\n - resizefs" in result.hint
    engine = Engine([Growpart], [GrowpartFix])
    plans = engine.plan(ctx, engine.checks, [result])
    assert plans[0].steps == [] and plans[0].skipped


def test_module_spellings_are_recognised(guest):
    debian(guest)
    guest.write("/etc/cloud/cloud.cfg.d/50-modules.cfg",
                "cloud_init_modules:\n - [ cc_growpart, always ]\n - resizefs\n - ssh\n")
    result = run(guest)[1]
    assert result.status == Status.PASS


def test_override_in_cfg_d_removing_growpart_is_named(guest):
    debian(guest)
    guest.write("/etc/cloud/cloud.cfg.d/50-modules.cfg", "cloud_init_modules: [ migrator, resizefs, ssh ]\n")
    result = run(guest)[1]
    assert result.summary == ("cloud-init module(s) growpart not in cloud_init_modules of "
                              "/etc/cloud/cloud.cfg.d/50-modules.cfg")


@pytest.mark.parametrize("snippet, words", [
    ("growpart:\n  mode: off\n", "growpart is turned off"),
    ("growpart: {mode: 'off', devices: ['/']}\n", "growpart is turned off"),
    ("resize_rootfs: false\n", "resize_rootfs: false in /etc/cloud/cloud.cfg.d/80-noresize.cfg"),
])
def test_growpart_or_resize_turned_off_warns(guest, snippet, words):
    debian(guest)
    guest.write("/etc/cloud/cloud.cfg.d/80-noresize.cfg", snippet)
    result = run(guest)[1]
    assert result.status == Status.WARN
    assert words in result.summary


def test_without_cloud_init_warns(guest):
    debian(guest, packages=("base-files", "cloud-guest-utils", "e2fsprogs"))
    result = run(guest)[1]
    assert result.status == Status.WARN
    assert result.summary == "cloud-init is not installed, so nothing grows the root partition on first boot"


def test_unknown_root_type_without_tools_fails_for_e2fsprogs(guest):
    debian(guest, packages=("base-files", "cloud-init", "cloud-guest-utils"),
           fstab="# UNCONFIGURED FSTAB FOR BASE SYSTEM\n")
    ctx, result = run(guest)
    assert result.status == Status.FAIL
    assert result.summary == "no resize2fs or xfs_growfs (root filesystem type unknown: no / entry in /etc/fstab)"
    assert [s.argv for s in GrowpartFix().plan(ctx, result)] == [("apt-get", "update"),
                                                                 ("apt-get", "install", "-y", "e2fsprogs")]


def test_unknown_root_type_with_a_tool_passes_and_says_so(guest):
    debian(guest, fstab="# UNCONFIGURED FSTAB FOR BASE SYSTEM\n")
    result = run(guest)[1]
    assert result.status == Status.PASS
    assert "resize2fs (root filesystem type unknown: no / entry in /etc/fstab)" in result.summary


def test_live_mounts_give_the_type_when_fstab_has_no_root(guest):
    debian(guest, fstab="")
    result = run(guest, live=FakeLive(mounts=[("/dev/vda1", "/", "xfs", "rw,relatime")]))[1]
    assert result.status == Status.FAIL
    assert "xfs_growfs is missing; the xfs root filesystem (per the running system's mounts)" in result.summary


def test_binary_fstab_is_named_and_other_findings_stay(guest):
    debian(guest, packages=("base-files", "cloud-init", "e2fsprogs"), fstab=None)
    guest.write("/etc/fstab", b"\x00\x00UUID=x / ext4")
    result = Engine([Growpart]).run_check(guest.ctx(), Growpart())
    assert result.status == Status.FAIL
    assert result.summary == ("growpart is not installed; cannot read the root filesystem type: "
                              "/etc/fstab: binary data where a text file was expected")


def test_unusual_root_filesystem_warns(guest):
    debian(guest, fstab="/dev/mapper/root / f2fs defaults 0 1\n")
    result = run(guest)[1]
    assert result.status == Status.WARN
    assert "root filesystem f2fs" in result.summary


class AptRunner(FakeRunner):
    """Acts like apt-get install inside the guest: the tool appears."""

    def __init__(self, guest):
        FakeRunner.__init__(self, guest.ctx().root.path)
        self.guest = guest

    def run(self, argv, env=None, timeout=None, stdin_text=None, network=False):
        argv = tuple(argv)
        self.calls.append(argv)
        if argv[:3] == ("apt-get", "install", "-y"):
            self.guest.write("/usr/bin/growpart", "#!/bin/sh\n", mode=0o755)
        return Completed(self.command_line(argv), 0, "", "")


def test_fix_apply_recheck_and_rollback(guest):
    debian(guest, packages=("base-files", "cloud-init", "e2fsprogs"))
    runner = AptRunner(guest)
    ctx = guest.ctx(runner=runner)
    engine = Engine([Growpart], [GrowpartFix])
    assert engine.select(None, default_fixes=True) == []
    checks = engine.select(["growpart"])
    plans = engine.plan(ctx, checks, engine.run_checks(ctx, checks))
    journal, outcomes = engine.apply(ctx, plans, guest.state())
    assert [o.outcome for o in outcomes] == ["FIXED"]
    assert runner.calls == [("apt-get", "update"), ("apt-get", "install", "-y", "cloud-guest-utils")]
    assert stat.S_IMODE(os.stat(guest.host("/usr/bin/growpart")).st_mode) == 0o755
    assert engine.plan(ctx, checks, engine.run_checks(ctx, checks)) == []
    assert [o for _r, o, _m in journal.rollback(ctx)] == ["irreversible", "irreversible"]


def test_failed_install_is_reported_as_rolled_back(guest):
    debian(guest, packages=("base-files", "cloud-init", "e2fsprogs"))
    runner = FakeRunner(guest.ctx().root.path,
                        {("apt-get", "install"): (100, "", "E: Unable to locate package cloud-guest-utils")})
    ctx = guest.ctx(runner=runner)
    engine = Engine([Growpart], [GrowpartFix])
    plans = engine.plan(ctx, engine.checks, engine.run_checks(ctx))
    _journal, outcomes = engine.apply(ctx, plans, guest.state())
    assert [o.outcome for o in outcomes] == ["ROLLED BACK"]
    assert "Unable to locate package" in outcomes[0].message
