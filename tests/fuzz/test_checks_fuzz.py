"""Every check (and every fix's plan) over a guest whose config files are all fuzzed.

On pyfakefs, each generated input writes thirteen config files at once (fstab, SELinux,
GRUB, adjtime, the six network formats, cloud-init, the package database), for a Debian,
RHEL or SUSE guest, then runs every registered check through the engine and plans every
fix. No exception may leave the engine. A check that fails with anything but RootError
becomes an ERROR "check failed unexpectedly": those are bugs, recorded as findings with
the input that caused them, and fail the test.
"""
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

import fuzzlib
from fuzzlib import count, format_text, fuzz_settings, samples

from agent.checks import CHECKS
from agent.core.context import Context
from agent.core.engine import Engine
from agent.core.model import Status
from agent.core.rootfs import Root
from remediations import REMEDIATIONS

FSTAB = samples("parsers/test_fstab.py", "checks/test_fstab.py")
KEYVALUE = samples("parsers/test_keyvalue.py", "checks/test_selinux.py")
INI = samples("parsers/test_ini.py")
ENI = samples("parsers/test_eni.py")
NETPLAN = samples("parsers/test_netplan.py")
UDEV = samples("parsers/test_udev_rules.py")
BOOT = samples("parsers/test_bootcfg.py", "checks/test_grub.py")
DHCP = samples("checks/test_dhcp.py")
RTC = samples("checks/test_rtc.py") + ["0.0 0 0.0\n0\nLOCAL\n"]
CLOUD = samples("checks/test_cloudinit.py")
DPKG = samples("test_cli.py", "checks/test_qemu_ga.py", "checks/test_growpart.py")

FILES = {
    "/etc/fstab": format_text(FSTAB),
    "/etc/selinux/config": format_text(KEYVALUE, "SELINUX="),
    "/etc/default/grub": format_text(BOOT + KEYVALUE),
    "/boot/grub/grub.cfg": format_text(BOOT),
    "/etc/adjtime": format_text(RTC, "LOCALUTC"),
    "/etc/network/interfaces": format_text(ENI + DHCP),
    "/etc/netplan/50-cloud-init.yaml": format_text(NETPLAN + DHCP),
    "/etc/NetworkManager/system-connections/eth0.nmconnection": format_text(INI + DHCP),
    "/etc/systemd/network/10-eth0.network": format_text(INI + DHCP),
    "/etc/sysconfig/network-scripts/ifcfg-eth0": format_text(KEYVALUE + DHCP),
    "/etc/udev/rules.d/70-persistent-net.rules": format_text(UDEV),
    "/etc/cloud/cloud.cfg": format_text(CLOUD),
    "/var/lib/dpkg/status": format_text(DPKG),
}
RELEASES = {
    "debian": 'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12"\n',
    "rhel": 'ID="centos"\nVERSION_ID="7"\nID_LIKE="rhel fedora"\nPRETTY_NAME="CentOS Linux 7"\n',
    "suse": 'ID="sles"\nVERSION_ID="15.4"\nPRETTY_NAME="SLES 15 SP4"\n',
}
ENGINE = Engine(CHECKS, REMEDIATIONS)
pytestmark = pytest.mark.fuzz


class QuietRunner(object):
    """Every command 'succeeds' with no output: the checks must cope on their own."""

    def __init__(self, root_path):
        self.root_path = root_path

    def command_line(self, argv):
        return tuple(argv)

    def run(self, argv, env=None, timeout=None, stdin_text=None, network=False):
        from agent.core.runner import Completed
        return Completed(tuple(argv), 0, "", "")


@fuzz_settings(0.3)
@given(files=st.fixed_dictionaries(dict((path, strategy) for path, strategy in FILES.items())),
       family=st.sampled_from(sorted(RELEASES)))
def test_every_check_and_plan_survive_fuzzed_config_files(fs, files, family):
    count("checks")
    fuzzlib.COUNTS["check_file_inputs"] += len(files)
    for path, text in dict(files, **{"/etc/os-release": RELEASES[family]}).items():
        if os.path.lexists(path):
            os.remove(path)
        fs.create_file(path, contents=text.encode("utf-8", "surrogateescape"))
    for d in ("/usr/bin", "/usr/lib"):
        if not os.path.isdir(d):
            fs.create_dir(d)
    ctx = Context(Root("/"), runner=QuietRunner("/"))
    results = ENGINE.run_checks(ctx)
    crashes = [r for r in results if r.status == Status.ERROR and "unexpectedly" in r.summary]
    for r in results:
        if r.status == Status.ERROR:
            fuzzlib.EXPECTED["ERROR " + ("crash" if r in crashes else "RootError")] += 1
    for r in crashes:
        fuzzlib.FINDINGS["check {} crashed".format(r.check_id)].append(
            {"summary": r.summary, "files": dict((p, t[:200]) for p, t in files.items())})
    try:
        ENGINE.plan(ctx, ENGINE.checks, results)
    except Exception as e:   # escapes Engine.plan: the CLI would say "internal error"
        fuzzlib.FINDINGS["plan escaped"].append({"error": "{}: {}".format(type(e).__name__, e), "family": family,
                                                 "files": dict((p, t[:200]) for p, t in files.items())})
        raise
    assert not crashes, [r.summary for r in crashes]
