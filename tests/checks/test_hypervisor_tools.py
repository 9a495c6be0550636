import os
import sys

from agent.checks.hypervisor_tools import HypervisorTools
from agent.core.engine import Engine
from agent.core.model import RunCommand, Status
from conftest import FakeRunner
from remediations.hypervisor_tools import HypervisorToolsFix

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bootsamples import dpkg_status, rpm_answer  # noqa: E402


def run(guest, **kw):
    return Engine([HypervisorTools]).run_check(guest.ctx(**kw), HypervisorTools())


def test_clean_debian_passes(guest):
    guest.os_release("debian", "12")
    guest.write("/var/lib/dpkg/status", dpkg_status({"openssh-server": "1:9.2p1-2"}))
    result = run(guest)
    assert result.status == Status.PASS
    assert result.summary == "no guest tools of VMware, VirtualBox, Hyper-V, Xen or Parallels"


def test_open_vm_tools_package_warns_and_is_removed_when_named(guest):
    guest.os_release("debian", "13")
    guest.write("/var/lib/dpkg/status", dpkg_status({"open-vm-tools": "2:12.5.0-2", "openssh-server": "1"}))
    guest.write("/etc/vmware-tools/tools.conf", "")   # the package ships /etc/vmware-tools too
    ctx = guest.ctx()
    result = HypervisorTools().run(ctx)
    assert result.status == Status.WARN
    assert result.summary == "VMware Tools: package open-vm-tools 2:12.5.0-2"
    assert result.commands[0].endswith("apt-get purge -y open-vm-tools")
    engine = Engine([HypervisorTools], [HypervisorToolsFix])
    assert engine.select(None, default_fixes=True) == []          # irreversible: only when named
    assert [c.id for c in engine.select(["hypervisor-tools"], default_fixes=True)] == ["hypervisor_tools"]
    steps = HypervisorToolsFix().plan(ctx, result)
    assert steps == [RunCommand(("apt-get", "purge", "-y", "open-vm-tools"),
                                why="remove the guest tools of the source hypervisor",
                                undo_hint=result.commands[0].replace("purge", "install"))]


def test_every_vendor_by_package_on_rhel(guest):
    guest.os_release("rocky", "9.3", "rhel centos fedora")
    guest.mkdir("/var/lib/rpm")
    guest.write("/usr/bin/dnf", b"", mode=0o755)
    runner = FakeRunner(guest.ctx().root.path, rpm_answer({
        "open-vm-tools": "12.2.5-3.el9", "hyperv-daemons": "0-0.42.20190303git.el9",
        "hypervkvpd": "0-0.42.20190303git.el9", "xe-guest-utilities-latest": "8.4.0-1",
        "xe-guest-utilities": "7.30.0-11", "VirtualBox-guest-additions": "7.0.14-1.fc39"}))
    ctx = guest.ctx(runner=runner)
    result = HypervisorTools().run(ctx)
    assert result.summary == (
        "VMware Tools: package open-vm-tools 12.2.5-3.el9; "
        "VirtualBox Guest Additions: package VirtualBox-guest-additions 7.0.14-1.fc39; "
        "Hyper-V daemons: packages hyperv-daemons 0-0.42.20190303git.el9, hypervkvpd 0-0.42.20190303git.el9; "
        "Xen guest utilities: package xe-guest-utilities 7.30.0-11")
    steps = HypervisorToolsFix().plan(ctx, result)
    assert [s.argv for s in steps] == [("dnf", "remove", "-y", "open-vm-tools", "VirtualBox-guest-additions",
                                        "hyperv-daemons", "hypervkvpd", "xe-guest-utilities")]


def test_tarball_installs_are_removed_by_the_vendors_uninstaller(guest):
    guest.os_release("centos", "7", "rhel fedora")
    guest.write("/var/lib/dpkg/status", dpkg_status({}))
    guest.write("/etc/vmware-tools/locations", "answer BINDIR /usr/bin\n")
    guest.write("/usr/bin/vmware-uninstall-tools.pl", b"#!/usr/bin/perl\n", mode=0o755)
    guest.write("/opt/VBoxGuestAdditions-7.0.14/uninstall.sh", b"#!/bin/sh\n", mode=0o755)
    guest.write("/opt/VBoxGuestAdditions-6.1.50/uninstall.sh", b"#!/bin/sh\n", mode=0o755)
    guest.write("/usr/lib/parallels-tools/version", "19.1.0\n")
    ctx = guest.ctx()
    result = HypervisorTools().run(ctx)
    assert result.status == Status.WARN
    assert "VMware Tools: installed from the vendor's tarball (/etc/vmware-tools/locations, " \
           "/usr/bin/vmware-uninstall-tools.pl)" in result.summary
    # No installer script to remove it with: named, left to a person.
    assert "Parallels Tools: installed from the vendor's tarball (/usr/lib/parallels-tools)" in result.summary
    assert "No uninstaller was found for Parallels Tools: remove /usr/lib/parallels-tools by hand." in result.hint
    assert [s.argv for s in HypervisorToolsFix().plan(ctx, result)] == [
        ("/usr/bin/vmware-uninstall-tools.pl",), ("/opt/VBoxGuestAdditions-7.0.14/uninstall.sh",)]
    guest.write("/usr/lib/parallels-tools/install", b"#!/bin/bash\n", mode=0o755)
    result = HypervisorTools().run(guest.ctx())
    steps = HypervisorToolsFix().plan(guest.ctx(), result)
    assert [s.argv for s in steps] == [
        ("/usr/bin/vmware-uninstall-tools.pl",),
        ("/opt/VBoxGuestAdditions-7.0.14/uninstall.sh",),
        ("/usr/lib/parallels-tools/install", "--remove")]
    assert guest.ctx().in_guest("/opt/VBoxGuestAdditions-7.0.14/uninstall.sh") in result.commands


def test_fix_runs_the_removal_and_the_recheck_passes(guest):
    guest.os_release("debian", "12")
    guest.write("/var/lib/dpkg/status", dpkg_status({"hyperv-daemons": "6.1.76-1"}))

    class Apt(FakeRunner):
        def run(self, argv, env=None, timeout=None, stdin_text=None, network=False):
            done = FakeRunner.run(self, argv, env, timeout, stdin_text)
            if argv[:2] == ("apt-get", "purge"):
                guest.write("/var/lib/dpkg/status", dpkg_status({}))
            return done

    runner = Apt(guest.ctx().root.path)
    ctx = guest.ctx(runner=runner)
    engine = Engine([HypervisorTools], [HypervisorToolsFix])
    checks = engine.select(["hypervisor-tools"], default_fixes=True)
    plans = engine.plan(ctx, checks, engine.run_checks(ctx, checks))
    _journal, outcomes = engine.apply(ctx, plans, guest.state())
    assert [o.outcome for o in outcomes] == ["FIXED"]
    assert runner.calls == [("apt-get", "purge", "-y", "hyperv-daemons")]
