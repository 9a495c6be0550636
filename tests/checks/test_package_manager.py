import os
import subprocess
import sys
import time

import pytest

from agent.checks.package_manager import PackageManager
from agent.checks.qemu_ga import QemuGa
from agent.core.engine import SKIPPED, Engine
from agent.facts.live import lock_holder
from agent.core.model import Check, Remediation, RunCommand, Status, WriteFile
from conftest import FakeLive, FakeRunner
from remediations.qemu_ga import QemuGaFix

SOURCES = "deb http://deb.debian.org/debian bookworm main\n"


def status(*entries):
    return "".join("Package: {}\nStatus: {}\nVersion: 1.0\nArchitecture: amd64\n\n".format(n, s) for n, s in entries)


def debian(guest, entries=(("base-files", "install ok installed"),), sources=SOURCES):
    guest.os_release("debian", "12")
    guest.write("/var/lib/dpkg/status", status(*entries))
    if sources is not None:
        guest.write("/etc/apt/sources.list", sources)


def run(guest, live=None):
    return PackageManager().run(guest.ctx(live=live))


def test_healthy_debian_passes(guest):
    debian(guest)
    result = run(guest)
    assert result.status == Status.PASS and result.data["refuse_packages"] == ""


@pytest.mark.parametrize("state", ["half-configured", "unpacked", "half-installed", "triggers-pending",
                                   "triggers-awaited"])
def test_interrupted_dpkg_fails_with_the_packages(guest, state):
    debian(guest, [("base-files", "install ok installed"), ("linux-image-6.1.0-18-amd64", "install ok " + state)])
    result = run(guest)
    assert result.status == Status.FAIL
    assert "dpkg was interrupted: linux-image-6.1.0-18-amd64 ({})".format(state) in result.summary
    assert any(c.endswith("dpkg --configure -a") for c in result.commands)
    assert "refuses them" in result.hint


def test_status_fields_are_read_as_dpkg_reads_them(guest):
    # Field names are case-insensitive (deb822), as for the installed versions (one parse:
    # agent/facts/packages.py); a continuation line is never a field.
    debian(guest)
    guest.write("/var/lib/dpkg/status", "Package: base-files\nStatus: install ok installed\n\n"
                "package: grub-pc\nSTATUS : install ok half-configured\nVersion: 2.06-13\n\n"
                "Package: foo\nStatus: install ok installed\nDescription: x\n Status: install ok unpacked\n")
    result = run(guest)
    assert result.status == Status.FAIL and "dpkg was interrupted: grub-pc (half-configured)" in result.summary
    assert "foo" not in result.summary


def test_an_unreadable_status_file_blocks_with_the_reason(guest):
    debian(guest)
    os.remove(guest.host("/var/lib/dpkg/status"))
    guest.mkdir("/var/lib/dpkg/status")          # a directory where dpkg's database belongs
    result = run(guest)
    assert result.status == Status.FAIL
    assert "/var/lib/dpkg/status cannot be read: " in result.summary
    assert [f.code for f in result.findings if f.status == Status.FAIL] == ["package_manager.dpkg-unreadable"]


def test_reinst_required_and_pending_updates_journal(guest):
    debian(guest, [("libc6", "install reinstreq installed")])
    guest.write("/var/lib/dpkg/updates/0001", "Package: libc6\n")
    result = run(guest)
    assert result.status == Status.FAIL
    assert "libc6 (reinst-required)" in result.summary and "1 journal entry in /var/lib/dpkg/updates" in result.summary


def test_config_files_and_not_installed_are_not_interruptions(guest):
    debian(guest, [("qemu-utils", "deinstall ok config-files"), ("foo", "purge ok not-installed")])
    assert run(guest).status == Status.PASS


@pytest.mark.parametrize("sources,ok", [
    (SOURCES, True),
    ("# deb http://deb.debian.org/debian bookworm main\ndeb-src http://x bookworm main\n", False),
    (None, False),
])
def test_apt_sources(guest, sources, ok):
    debian(guest, sources=sources)
    result = run(guest)
    assert (result.status == Status.PASS) is ok, result.summary
    if not ok:
        assert result.status == Status.WARN and "no package repository is configured" in result.summary


def test_deb822_sources_with_enabled_no_do_not_count(guest):
    debian(guest, sources=None)
    guest.write("/etc/apt/sources.list.d/debian.sources",
                "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nComponents: main\nEnabled: no\n")
    assert run(guest).status == Status.WARN
    guest.write("/etc/apt/sources.list.d/debian.sources",
                "Types: deb deb-src\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nComponents: main\n")
    assert run(guest).status == Status.PASS


def rhel(guest, repo="[baseos]\nname=BaseOS\nmirrorlist=https://mirrors.example/baseos\nenabled=1\n"):
    guest.os_release("rocky", "9.3", "rhel centos fedora")
    guest.rpm_db({"rocky-release": "9.3-1.el9", "kernel": "5.14.0-362.el9"})
    if repo is not None:
        guest.write("/etc/yum.repos.d/rocky.repo", repo)


def test_rpm_database_read_and_repo_enabled_passes(guest):
    rhel(guest)
    assert run(guest).status == Status.PASS


def test_disabled_or_urlless_repositories_are_none(guest):
    rhel(guest, "[baseos]\nname=BaseOS\nbaseurl=http://x/\nenabled=0\n\n[extras]\nname=no url\n")
    result = run(guest)
    assert result.status == Status.WARN and "/etc/yum.repos.d/*.repo" in result.summary


def test_damaged_rpm_database_fails(guest):
    rhel(guest)
    guest.rpm_db(damaged=True)
    # At / (the running system) rpm itself is asked too when the reader fails: here it fails.
    runner = FakeRunner(guest.base, {("rpm", "-qa"): (1, "", "error: rpmdb: damaged header")})
    result = PackageManager().run(guest.ctx(runner=runner))
    assert result.status == Status.FAIL and "rpm database is damaged or unreadable" in result.summary
    assert any(c.endswith("rpm --rebuilddb") for c in result.commands)


def test_offline_lock_files_are_not_evidence(guest):
    debian(guest)
    guest.write("/var/lib/dpkg/lock-frontend", "")
    guest.write("/run/zypp.pid", "1234\n")
    if guest.base == "/":
        pytest.skip("at / the guest is the running system")
    result = run(guest)
    assert result.status == Status.PASS
    assert "not evidence" in result.summary and "/var/lib/dpkg/lock-frontend" in result.summary


class LockedLive(FakeLive):
    def __init__(self, holders):
        FakeLive.__init__(self)
        self.holders = holders

    def lock_holder(self, path):
        return self.holders.get(path, 0)


def test_live_lock_held_by_another_process_fails(guest):
    debian(guest)
    result = run(guest, live=LockedLive({"/var/lib/dpkg/lock-frontend": 4242}))
    assert result.status == Status.FAIL
    assert "/var/lib/dpkg/lock-frontend is locked by process 4242" in result.summary
    assert run(guest, live=LockedLive({})).status == Status.PASS


def test_lock_holder_sees_another_process_fcntl_lock(tmp_path):
    path = str(tmp_path / "lock-frontend")
    open(path, "w").close()
    assert lock_holder(path) == 0
    assert lock_holder(str(tmp_path / "missing")) is None
    code = ("import fcntl, sys, time; f = open(sys.argv[1], 'w'); fcntl.lockf(f, fcntl.LOCK_EX); "
            "print('locked', flush=True); time.sleep(30)")
    child = subprocess.Popen([sys.executable, "-c", code, path], stdout=subprocess.PIPE, universal_newlines=True)
    try:
        assert child.stdout.readline().strip() == "locked"
        assert lock_holder(path) == child.pid
    finally:
        child.kill()
        child.wait()
    deadline = time.time() + 5
    while lock_holder(path) and time.time() < deadline:
        time.sleep(0.05)
    assert lock_holder(path) == 0
    with open(path) as handle:
        assert handle.read() == ""      # asked, never written


# -- the guard: package steps refused, file fixes applied -----------------------------------

class Toy(Check):
    id = "toy"
    title = "toy"
    item = "toy"
    repair_item = "toy"

    def run(self, ctx):
        if ctx.root.read_text_or_none("/etc/toy") == "fixed\n":
            return self.passed("fixed")
        return self.failed("not fixed", "fix it")


class ToyFix(Remediation):
    id = "toy"

    def plan(self, ctx, result):
        return [WriteFile("/etc/toy", b"fixed\n", mode=0o644, why="toy")]


def qemu_ga_debian(guest, entries):
    debian(guest, entries + [("qemu-guest-agent", "install ok installed")])
    guest.write("/usr/sbin/qemu-ga", "")


def test_plan_and_fix_refuse_package_steps_while_file_fixes_apply(guest):
    qemu_ga_debian(guest, [("initramfs-tools", "install ok half-configured")])
    engine = Engine([PackageManager, QemuGa, Toy], [QemuGaFix, ToyFix])
    ctx = guest.ctx(runner=FakeRunner(guest.base))
    # Only qemu-ga and toy asked for: the guard runs the package manager check itself.
    checks = engine.select(["qemu-ga", "toy"])
    results = engine.run_checks(ctx, checks)
    plans = dict((p.check_id, p) for p in engine.plan(ctx, checks, results))
    assert plans["qemu_ga"].steps == []
    assert plans["qemu_ga"].skipped.startswith("refused: it installs or removes packages")
    assert "dpkg was interrupted: initramfs-tools (half-configured)" in plans["qemu_ga"].skipped
    assert plans["toy"].steps
    journal, outcomes = engine.apply(ctx, list(plans.values()), guest.state())
    by_id = dict((o.check_id, o) for o in outcomes)
    assert by_id["toy"].outcome == "FIXED" and guest.read("/etc/toy") == "fixed\n"
    assert by_id["qemu_ga"].outcome == SKIPPED and "dpkg was interrupted" in by_id["qemu_ga"].message
    assert not [c for c in ctx.runner.calls if c[:1] == ("apt-get",)]


def test_a_healthy_package_manager_lets_package_steps_through(guest):
    qemu_ga_debian(guest, [])
    engine = Engine([PackageManager, QemuGa], [QemuGaFix])
    ctx = guest.ctx(runner=FakeRunner(guest.base))
    plans = engine.plan(ctx, engine.checks, engine.run_checks(ctx))
    assert [p.check_id for p in plans] == ["qemu_ga"]
    assert any(isinstance(s, RunCommand) and s.argv[0] == "apt-get" for s in plans[0].steps)
