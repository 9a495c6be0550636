"""Every registered check on every distribution's fixture root (like python-distro's
per-distribution trees).

The roots under tests/fixtures/roots/<name>/ are small trees written from the real file
formats of each distribution as installed (os-release as shipped, fstab, the default
network configuration with DHCP, selinux, grub defaults, sshd_config, fake password
hashes). Each test copies its root to a temporary directory first (the fixtures are
never written in place) and runs every check in agent.checks.CHECKS offline, so checks
added later are exercised too: none may end in ERROR, and a few results per root are
pinned. RPM roots carry their rpm database in the distribution's own format (written by
tests/fixtures/make_rpmdbs.py from rpm-qa.txt, the `rpm -qa` answer they must give), and
the checks run with the read-only runner `check --root` uses: no check may ask for a
program of the image.
"""
import os
import shutil

import pytest

from agent.checks import CHECKS
from agent.core.context import Context
from agent.core.engine import Engine
from agent.core.model import Status
from agent.core.rootfs import Root
from agent.core.runner import ReadOnlyRunner

HERE = os.path.dirname(os.path.abspath(__file__))
ROOTS = os.path.join(HERE, "fixtures", "roots")
RPM_QA = "rpm-qa.txt"

# name: (os id, version, family, {check id: status})
# dhcp: DHCP bound to the installer's NIC name (ens3) gets no lease on ECS, whose NIC has another
# name (issue 10): FAIL; a NetworkManager profile bound to eth0 only WARNs, NetworkManager's own
# DHCP profile covers the new NIC; eth0 in ifcfg is the name the fix would give it.
EXPECTED = {
    "centos7": ("centos", "7", "rhel", {
        "selinux": Status.FAIL, "dhcp": Status.PASS, "firewall": Status.WARN, "ssh": Status.PASS,
        "root_account": Status.PASS, "fw_cfg": Status.SKIP, "critical_files": Status.PASS,
        "cloud_assistant": Status.WARN, "nic": Status.PASS, "data_disks_mounted": Status.SKIP}),
    "rocky8": ("rocky", "8.9", "rhel", {
        "selinux": Status.FAIL, "dhcp": Status.PASS, "fw_cfg": Status.PASS, "ssh": Status.PASS,
        "firewall": Status.PASS, "root_account": Status.PASS}),
    "alma9": ("almalinux", "9.3", "rhel", {
        "selinux": Status.FAIL, "dhcp": Status.WARN, "fw_cfg": Status.PASS, "ssh": Status.PASS,
        "root_account": Status.PASS, "nic": Status.PASS}),
    "alinux3": ("alinux", "3", "rhel", {
        "selinux": Status.PASS, "dhcp": Status.PASS, "cloud_assistant": Status.PASS,
        "security_center_agent": Status.PASS, "fw_cfg": Status.SKIP, "ssh": Status.PASS}),
    "ubuntu1804": ("ubuntu", "18.04", "debian", {
        "selinux": Status.PASS, "dhcp": Status.FAIL, "firewall": Status.PASS, "ssh": Status.PASS,
        "root_account": Status.WARN,
        "critical_files": Status.PASS, "cloud_assistant": Status.WARN}),
    "ubuntu2004": ("ubuntu", "20.04", "debian", {
        "dhcp": Status.FAIL, "firewall": Status.PASS, "ssh": Status.PASS, "critical_files": Status.PASS}),
    "ubuntu2204": ("ubuntu", "22.04", "debian", {
        "dhcp": Status.FAIL, "firewall": Status.PASS, "ssh": Status.PASS, "critical_files": Status.PASS,
        "nic": Status.PASS}),
    "debian10": ("debian", "10", "debian", {
        "dhcp": Status.FAIL, "ssh": Status.PASS, "root_account": Status.PASS, "critical_files": Status.PASS}),
    "debian11": ("debian", "11", "debian", {
        "dhcp": Status.FAIL, "ssh": Status.PASS, "root_account": Status.INFO, "critical_files": Status.PASS}),
    "debian12": ("debian", "12", "debian", {
        "dhcp": Status.FAIL, "selinux": Status.PASS, "ssh": Status.PASS, "firewall": Status.PASS,
        "root_account": Status.INFO, "critical_files": Status.PASS, "fw_cfg": Status.SKIP,
        "security_center_agent": Status.INFO}),
    "sles15": ("sles", "15.5", "suse", {
        "dhcp": Status.PASS, "firewall": Status.WARN, "ssh": Status.PASS, "root_account": Status.PASS,
        "nic": Status.PASS}),
    "opensuse15": ("opensuse-leap", "15.5", "suse", {
        "dhcp": Status.PASS, "firewall": Status.WARN, "ssh": Status.PASS, "critical_files": Status.PASS}),
}


def test_every_fixture_root_has_expectations():
    assert sorted(EXPECTED) == sorted(n for n in os.listdir(ROOTS) if os.path.isdir(os.path.join(ROOTS, n)))


def copy_root(name, tmp_path):
    """The root copied to tmp_path, and {name: version-release} its rpm-qa.txt lists."""
    target = str(tmp_path / name)
    shutil.copytree(os.path.join(ROOTS, name), target, symlinks=True,
                    ignore=lambda directory, names: [RPM_QA] if directory == os.path.join(ROOTS, name) else [])
    expected = {}
    qa = os.path.join(ROOTS, name, RPM_QA)
    if os.path.exists(qa):
        with open(qa) as handle:
            expected = dict(line.rstrip("\n").split("\t", 1) for line in handle if line.strip())
    return target, expected


def snapshot(path):
    """Every file's bytes and every link's target under path."""
    found = {}
    for directory, _dirs, files in os.walk(path):
        for name in files + _dirs:
            full = os.path.join(directory, name)
            if os.path.islink(full):
                found[full] = "-> " + os.readlink(full)
            elif os.path.isfile(full):
                with open(full, "rb") as handle:
                    found[full] = handle.read()
    return found


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_check_runs_on_the_fixture_root(name, tmp_path):
    os_id, version, family, statuses = EXPECTED[name]
    target, rpm_qa = copy_root(name, tmp_path)
    before = snapshot(target)
    ctx = Context(Root(target), live=None)
    assert isinstance(ctx.runner, ReadOnlyRunner)
    assert (ctx.os.id, ctx.os.version, ctx.os.family) == (os_id, version, family)
    if rpm_qa:
        assert ctx.packages.manager == "rpm" and ctx.packages.versions == rpm_qa, ctx.packages.error
    engine = Engine(CHECKS)
    results = engine.run_checks(ctx)
    assert len(results) == len(CHECKS)
    errors = ["{}: {}".format(r.check_id, r.summary) for r in results if r.status == Status.ERROR]
    assert errors == []
    by_id = dict((r.check_id, r) for r in results)
    got = dict((check_id, by_id[check_id].status) for check_id in statuses)
    assert got == statuses, dict((c, by_id[c].summary) for c in statuses if got[c] != statuses[c])
    for result in results:
        assert result.status in Status.ORDER
        if result.status in (Status.WARN, Status.FAIL):
            assert result.hint, result.check_id
        assert "notarealhash" not in repr(result) and "$fixture$" not in repr(result)
    # Checking writes nothing and asks for no program of the image.
    assert snapshot(target) == before
    assert ctx.runner.refused == []


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_roots_hold_no_real_password_hash(name):
    with open(os.path.join(ROOTS, name, "etc", "shadow")) as handle:
        for line in handle:
            field = line.split(":")[1]
            assert field in ("*", "!", "!!", "") or "$fixture$notarealhash" in field, line


@pytest.mark.parametrize("name", sorted(n for n in EXPECTED if EXPECTED[n][2] == "debian"))
def test_fixture_package_versions_belong_to_the_fixtures_release(name):
    # A report quotes them ("cloud-init 23.4.4-0ubuntu0~22.04.1" on Ubuntu 18.04 was wrong).
    import re
    os_id, version, _family, _statuses = EXPECTED[name]
    with open(os.path.join(ROOTS, name, "var", "lib", "dpkg", "status")) as handle:
        versions = re.findall(r"^Version: (\S+)$", handle.read(), re.M)
    if os_id == "ubuntu":
        tags = set(re.findall(r"(?:~|ubuntu0\.)(\d\d\.\d\d)", " ".join(versions)))
        assert tags <= {version}, versions
    else:
        tags = set(re.findall(r"\+deb(\d+)u", " ".join(versions)))
        assert tags <= {version}, versions
