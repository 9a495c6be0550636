import os
import stat

import pytest

from agent.checks import CHECKS
from agent.checks.qemu_ga import QemuGa
from agent.core.engine import Engine
from agent.core.model import RunCommand, Status
from agent.core.runner import Completed
from conftest import FakeLive, FakeRunner
from remediations import REMEDIATIONS
from remediations.qemu_ga import QemuGaFix

# /var/lib/dpkg/status as dpkg writes it (Debian 12), trimmed to a few packages.
DPKG_BASE = """\
Package: base-files
Essential: yes
Status: install ok installed
Priority: required
Section: admin
Installed-Size: 340
Maintainer: Santiago Vila <sanvila@debian.org>
Architecture: amd64
Version: 12.4+deb12u5
Description: Debian base system miscellaneous files
 This package contains the basic filesystem hierarchy of a Debian system, and
 several important miscellaneous files.

Package: qemu-utils
Status: deinstall ok config-files
Priority: optional
Section: otherosfs
Installed-Size: 6712
Maintainer: Debian QEMU Team <pkg-qemu-devel@lists.alioth.debian.org>
Architecture: amd64
Source: qemu
Version: 1:7.2+dfsg-7+deb12u6
Description: QEMU utilities
"""

DPKG_QEMU_GA = """
Package: qemu-guest-agent
Status: install ok installed
Priority: optional
Section: admin
Installed-Size: 1134
Maintainer: Debian QEMU Team <pkg-qemu-devel@lists.alioth.debian.org>
Architecture: amd64
Source: qemu (1:7.2+dfsg-7+deb12u18)
Version: 1:7.2+dfsg-7+deb12u18+b3
Depends: libc6 (>= 2.34), libglib2.0-0 (>= 2.75.3), libnuma1 (>= 2.0.11), liburing2 (>= 2.0)
Conffiles:
 /etc/init.d/qemu-guest-agent 5c1b2d8a6b8b5f6a0e5e5b8f1c3e2d7a
Description: Guest-side qemu-system agent
 This package provides a daemon (agent) to run inside qemu-system
 guests (full system emulation).
"""

DEBIAN_UNIT = """\
[Unit]
Description=QEMU Guest Agent
BindsTo=dev-virtio\\x2dports-org.qemu.guest_agent.0.device
After=dev-virtio\\x2dports-org.qemu.guest_agent.0.device

[Service]
ExecStart=-/usr/sbin/qemu-ga
Restart=always
RestartSec=0

[Install]
"""

RHEL_UNIT = """\
[Unit]
Description=QEMU Guest Agent
BindsTo=dev-virtio\\x2dports-org.qemu.guest_agent.0.device
After=dev-virtio\\x2dports-org.qemu.guest_agent.0.device
IgnoreOnIsolate=True

[Service]
UMask=0077
EnvironmentFile=/etc/sysconfig/qemu-ga
ExecStart=/usr/bin/qemu-ga \\
  --method=virtio-serial \\
  --path=/dev/virtio-ports/org.qemu.guest_agent.0 \\
  $FILTER_RPC_ARGS \\
  -F/etc/qemu-ga/fsfreeze-hook
Restart=always
RestartSec=0

[Install]
WantedBy=dev-virtio\\x2dports-org.qemu.guest_agent.0.device
"""

RHEL_WANTS = ("/etc/systemd/system/dev-virtio\\x2dports-org.qemu.guest_agent.0.device.wants/"
              "qemu-guest-agent.service")


def sh(ctx, *argv):
    return " ".join(ctx.runner.command_line(argv))


def debian(guest, installed=True, enabled=True):
    guest.os_release("debian", "12")
    guest.write("/var/lib/dpkg/status", DPKG_BASE + (DPKG_QEMU_GA if installed else ""))
    guest.write("/usr/bin/systemctl", "", mode=0o755)
    if installed:
        guest.write("/usr/sbin/qemu-ga", "", mode=0o755)
        guest.write("/usr/lib/systemd/system/qemu-guest-agent.service", DEBIAN_UNIT)
        guest.write("/etc/init.d/qemu-guest-agent", "#!/bin/sh\n", mode=0o755)
    if enabled:
        for level in "2345":
            guest.symlink("/etc/rc{}.d/S01qemu-guest-agent".format(level), "../init.d/qemu-guest-agent")
        for level in "016":
            guest.symlink("/etc/rc{}.d/K01qemu-guest-agent".format(level), "../init.d/qemu-guest-agent")


def rpm_guest(guest, os_id, version, rpm_lines, binary="/usr/bin/qemu-ga"):
    guest.os_release(os_id, version, "rhel fedora" if os_id != "opensuse-leap" else "suse opensuse")
    guest.mkdir("/var/lib/rpm")
    guest.write("/usr/bin/systemctl", "", mode=0o755)
    if binary:
        guest.write(binary, "", mode=0o755)
    runner = FakeRunner(guest.ctx().root.path, {("rpm", "-qa"): (0, "".join(line + "\n" for line in rpm_lines), "")})
    return runner


def run(guest, **kw):
    ctx = guest.ctx(**kw)
    return ctx, QemuGa().run(ctx)


def test_not_installed_passes(guest):
    debian(guest, installed=False, enabled=False)
    _ctx, result = run(guest)
    assert result.status == Status.PASS
    assert result.summary == "qemu-guest-agent is not installed"


def test_config_files_only_is_not_installed(guest):
    # 'deinstall ok config-files' (removed, not purged) is no installed agent.
    guest.os_release("debian", "12")
    guest.write("/var/lib/dpkg/status", DPKG_BASE + DPKG_QEMU_GA.replace("install ok installed",
                                                                          "deinstall ok config-files"))
    assert run(guest)[1].status == Status.PASS


def test_debian_installed_and_sysv_enabled_fails(guest):
    debian(guest)
    ctx, result = run(guest)
    assert result.status == Status.FAIL
    assert result.summary == ("qemu-ga: package qemu-guest-agent 1:7.2+dfsg-7+deb12u18+b3 installed; "
                              "enabled at boot by /etc/rc[2345].d/S01qemu-guest-agent")
    assert result.commands == (sh(ctx, "systemctl", "disable", "qemu-guest-agent.service"),
                               sh(ctx, "apt-get", "purge", "-y", "qemu-guest-agent"))
    assert "seed 000" in result.hint
    assert result.data["packages"] == ["qemu-guest-agent"]
    assert result.data["enabled"] == ["/etc/rc{}.d/S01qemu-guest-agent".format(lv) for lv in "2345"]


def test_installed_not_enabled_names_udev(guest):
    debian(guest, enabled=False)
    result = run(guest)[1]
    assert result.status == Status.FAIL
    assert "started by udev" in result.summary


def test_systemd_wants_link_counts_once_with_merged_usr(guest):
    debian(guest, enabled=False)
    # /lib -> usr/lib (merged /usr): the same link must not be listed twice; it is named by
    # the first directory of systemd's search order (agent.facts.services.UNIT_DIRS).
    guest.symlink("/lib", "usr/lib")
    guest.symlink("/usr/lib/systemd/system/multi-user.target.wants/qemu-guest-agent.service",
                  "../qemu-guest-agent.service")
    result = run(guest)[1]
    assert result.data["enabled"] == ["/usr/lib/systemd/system/multi-user.target.wants/qemu-guest-agent.service"]


def test_live_running_process_fails_and_plans_stop(guest):
    debian(guest)
    ctx, result = run(guest, live=FakeLive(processes=["systemd", "qemu-ga", "sshd"]))
    assert result.status == Status.FAIL
    assert result.summary.endswith("; running (process qemu-ga)")
    assert result.commands[0] == sh(ctx, "systemctl", "disable", "--now", "qemu-guest-agent.service")
    steps = QemuGaFix().plan(ctx, result)
    assert steps[0] == RunCommand(("systemctl", "stop", "qemu-guest-agent.service"), why="stop the running agent",
                                  undo_hint=sh(ctx, "systemctl", "start", "qemu-guest-agent.service"),
                                  live_only=True)
    assert [s.argv for s in steps[1:]] == [("systemctl", "disable", "qemu-guest-agent.service"),
                                           ("apt-get", "purge", "-y", "qemu-guest-agent")]


def test_offline_plan_drops_the_live_only_stop(guest):
    debian(guest)
    ctx = guest.ctx()
    engine = Engine([QemuGa], [QemuGaFix])
    # The result of a live run, planned for an image: the engine removes the live-only step.
    result = QemuGa().run(guest.ctx(live=FakeLive(processes=["qemu-ga"])))
    plans = engine.plan(ctx, engine.checks, [result])
    assert [s.argv[:2] for s in plans[0].steps] == [("systemctl", "disable"), ("apt-get", "purge")]


def test_unknown_package_database_falls_back_to_files(guest):
    guest.os_release("debian", "12")
    guest.write("/usr/sbin/qemu-ga", "", mode=0o755)
    ctx, result = run(guest)
    assert result.status == Status.FAIL
    assert result.summary == ("qemu-ga: package database unknown (no dpkg or rpm database found); "
                              "/usr/sbin/qemu-ga present; started by udev when the guest-agent channel appears")
    assert "could not read the package database" in result.hint
    # Nothing to remove by package name: the plan only holds what is known.
    assert QemuGaFix().plan(ctx, result) == []


def test_unknown_package_database_without_binary_passes_and_says_so(guest):
    guest.os_release("debian", "12")
    result = run(guest)[1]
    assert result.status == Status.PASS
    assert result.summary.startswith("package database unknown (no dpkg or rpm database found); no qemu-ga binary")


def test_binary_dpkg_status_is_unknown_not_a_traceback(guest):
    guest.os_release("debian", "12")
    guest.write("/var/lib/dpkg/status", b"\x00\x01\x02Package: qemu-guest-agent\x00")
    guest.write("/usr/sbin/qemu-ga", "", mode=0o755)
    result = Engine([QemuGa]).run_check(guest.ctx(), QemuGa())
    assert result.status == Status.FAIL
    assert "package database unknown" in result.summary and "binary data" in result.summary


def test_leftover_links_without_agent_are_info(guest):
    debian(guest, installed=False)
    result = run(guest)[1]
    assert result.status == Status.INFO
    assert "leftover links" in result.summary


def test_rhel8_dnf_plan_reads_the_database_and_runs_no_rpm(guest):
    runner = rpm_guest(guest, "rocky", "8.9", ["bash\t4.4.20-4.el8", "qemu-guest-agent\t6.2.0-41.el8"])
    guest.write("/usr/bin/dnf", "", mode=0o755)
    guest.write("/usr/bin/yum", "", mode=0o755)
    guest.write("/usr/lib/systemd/system/qemu-guest-agent.service", RHEL_UNIT)
    guest.symlink(RHEL_WANTS, "/usr/lib/systemd/system/qemu-guest-agent.service")
    ctx = guest.ctx(runner=runner)
    result = QemuGa().run(ctx)
    assert result.status == Status.FAIL
    assert result.data["enabled"] == [RHEL_WANTS]
    steps = QemuGaFix().plan(ctx, result)
    assert [s.argv for s in steps] == [("systemctl", "disable", "qemu-guest-agent.service"),
                                       ("dnf", "remove", "-y", "qemu-guest-agent")]
    assert steps[1].undo_hint == sh(ctx, "dnf", "install", "-y", "qemu-guest-agent")
    assert [c for c in runner.calls if c[:1] == ("rpm",)] == []   # the database is read, rpm never run


def test_centos7_yum_plan(guest):
    runner = rpm_guest(guest, "centos", "7", ["qemu-guest-agent\t2.12.0-3.el7"])
    guest.write("/usr/bin/yum", "", mode=0o755)
    ctx = guest.ctx(runner=runner)
    steps = QemuGaFix().plan(ctx, QemuGa().run(ctx))
    assert [s.argv for s in steps] == [("yum", "remove", "-y", "qemu-guest-agent")]


def test_suse_zypper_plan_removes_both_names(guest):
    runner = rpm_guest(guest, "opensuse-leap", "15.5",
                       ["qemu-guest-agent\t8.2.2-150500.1.1", "qemu-ga\t8.2.2-150500.1.1"])
    ctx = guest.ctx(runner=runner)
    result = QemuGa().run(ctx)
    assert result.commands == (sh(ctx, "zypper", "--non-interactive", "remove", "qemu-guest-agent", "qemu-ga"),)
    steps = QemuGaFix().plan(ctx, result)
    assert [s.argv for s in steps] == [("zypper", "--non-interactive", "remove", "qemu-guest-agent", "qemu-ga")]


def test_damaged_rpm_database_is_unknown_database(guest):
    rpm_guest(guest, "rocky", "9.3", [])
    runner = FakeRunner(guest.ctx().root.path, {("rpm", "-qa"): (1, "", "error: rpmdb open failed")})
    result = QemuGa().run(guest.ctx(runner=runner))
    assert result.status == Status.FAIL
    assert "package database unknown (rpm database unreadable: /var/lib/rpm/Packages.db: " in result.summary


def test_default_selection_excludes_irreversible_fix_and_naming_selects_it():
    engine = Engine(CHECKS, REMEDIATIONS)
    default = [c.id for c in engine.select(None, default_fixes=True)]
    for check_id in ("qemu_ga", "cloudinit", "growpart"):
        assert check_id not in default
    assert "selinux" in default
    assert [c.id for c in engine.select(["qemu-ga"])] == ["qemu_ga"]
    assert [c.id for c in engine.select(["qemu_ga"])] == ["qemu_ga"]
    assert "qemu_ga" in [c.id for c in engine.select(["all"])]
    assert QemuGaFix.reversible is False


class DpkgRunner(FakeRunner):
    """Acts like apt-get purge inside the guest: drops the package from the dpkg status."""

    def __init__(self, guest):
        FakeRunner.__init__(self, guest.ctx().root.path)
        self.guest = guest

    def run(self, argv, env=None, timeout=None, stdin_text=None, network=False):
        argv = tuple(argv)
        self.calls.append(argv)
        if argv[:2] == ("apt-get", "purge"):
            self.guest.write("/var/lib/dpkg/status", DPKG_BASE)
            os.remove(self.guest.host("/usr/sbin/qemu-ga"))
        return Completed(self.command_line(argv), 0, "", "")


def test_fix_apply_recheck_and_rollback_reports_irreversible(guest):
    debian(guest)
    runner = DpkgRunner(guest)
    ctx = guest.ctx(runner=runner)
    engine = Engine([QemuGa], [QemuGaFix])
    checks = engine.select(["qemu-ga"])
    plans = engine.plan(ctx, checks, engine.run_checks(ctx, checks))
    journal, outcomes = engine.apply(ctx, plans, guest.state())
    assert [o.outcome for o in outcomes] == ["FIXED"]
    assert runner.calls == [("systemctl", "disable", "qemu-guest-agent.service"),
                            ("apt-get", "purge", "-y", "qemu-guest-agent")]
    assert not guest.exists("/usr/sbin/qemu-ga")
    # idempotent: nothing left to plan
    assert engine.plan(ctx, checks, engine.run_checks(ctx, checks)) == []
    undone = journal.rollback(ctx)
    assert [o for _r, o, _m in undone] == ["irreversible", "irreversible"]
    assert undone[0][2] == ("cannot be undone automatically; to undo: "
                            + sh(ctx, "apt-get", "install", "-y", "qemu-guest-agent"))


def test_failed_removal_is_rolled_back_and_reported(guest):
    debian(guest)
    runner = FakeRunner(guest.ctx().root.path, {("apt-get", "purge"): (100, "", "E: Could not get lock")})
    ctx = guest.ctx(runner=runner)
    engine = Engine([QemuGa], [QemuGaFix])
    plans = engine.plan(ctx, engine.checks, engine.run_checks(ctx))
    _journal, outcomes = engine.apply(ctx, plans, guest.state())
    assert [o.outcome for o in outcomes] == ["ROLLED BACK"]
    assert "E: Could not get lock" in outcomes[0].message
    assert stat.S_ISREG(os.stat(guest.host("/usr/sbin/qemu-ga")).st_mode)


@pytest.mark.parametrize("links", [["/etc/rc3.d/S02qemu-ga"], []])
def test_suse_sysv_name_is_seen(guest, links):
    guest.os_release("sles", "11.4")
    guest.write("/usr/sbin/qemu-ga", "", mode=0o755)
    for link in links:
        guest.symlink(link, "../init.d/qemu-ga")
    result = run(guest)[1]
    assert result.data["enabled"] == links
