"""Applicability as data (issue 13): what every check declares is valid, and the engine, not
the check, SKIPs it with the reason where it does not apply (a conformance test over every
check, like sos's over its plugins' `architectures` and `packages`)."""
import struct

import pytest

from agent.facts import elf
from agent.checks import CHECKS
from agent.checks.fw_cfg import FwCfg
from agent.core import applicability
from agent.core.engine import Engine
from agent.core.model import Applies, Check, Status
from agent.facts import osinfo
from conftest import FakeLive

MACHINES = dict((name, number) for number, name in elf.ELF_MACHINES.items())
ARCHITECTURES = set(MACHINES) | {"x32"}
# Fields the engine once read and no longer does: a check setting one would expect an effect.
REMOVED = ("families", "depends_on")


def elf(arch):
    header = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + struct.pack("<HHI", 2, MACHINES[arch], 1)
    return header + b"\x00" * (64 - len(header))


def target(guest, distribution, arch):
    """The guest as `distribution` (an applicability id) on `arch`."""
    os_id, name = distribution, distribution + " 9"
    if distribution == "centos-stream":
        os_id, name = "centos", "CentOS Stream 9"
    guest.write("/etc/os-release", 'ID={}\nVERSION_ID="9"\nPRETTY_NAME="{}"\n'.format(os_id, name))
    guest.write("/bin/sh", elf(arch), mode=0o755)
    return guest.ctx()


def example(applies):
    """A (distribution, arch) the Applies case matches."""
    if applies.distributions:
        distribution = applies.distributions[0]
    elif applies.families:
        distribution = osinfo.FAMILIES[applies.families[0]][0]
    else:
        distribution = "debian"
    return distribution, (applies.architectures or ("x86_64",))[0]


def run_probed(monkeypatch, cls, ctx):
    """The engine's result for `cls` on `ctx`, with run() standing in for the check's (and
    how many times the engine called it)."""
    calls = []

    def run(check, context):
        calls.append(context)
        return check.passed("ran")
    monkeypatch.setattr(cls, "run", run)
    return Engine([cls]).run_check(ctx, cls()), len(calls)


def test_every_check_declares_valid_applicability():
    for cls in CHECKS:
        assert isinstance(cls.live_only, bool), cls.id
        assert isinstance(cls.applies_to, tuple), cls.id
        for applies in cls.applies_to:
            assert isinstance(applies, Applies), cls.id
            assert applies.families or applies.distributions or applies.architectures, \
                "{}: an empty Applies matches every target; leave applies_to empty instead".format(cls.id)
            for field in applicability.FIELDS:
                assert isinstance(getattr(applies, field), tuple), (cls.id, field)
            assert set(applies.families) <= set(osinfo.FAMILIES), (cls.id, applies.families)
            assert set(applies.distributions) <= osinfo.DISTRIBUTIONS, (cls.id, applies.distributions)
            assert set(applies.architectures) <= ARCHITECTURES, (cls.id, applies.architectures)


def test_no_check_sets_a_field_the_engine_does_not_evaluate():
    for cls in CHECKS:
        for name in REMOVED:
            assert not hasattr(cls, name), "{}.{}: not evaluated; see agent/core/applicability.py".format(
                cls.id, name)
    assert not any(hasattr(Check, name) for name in REMOVED)


def test_live_only_checks_are_skipped_on_a_mounted_image_with_the_reason(guest, monkeypatch):
    live_only = [cls for cls in CHECKS if cls.live_only]
    assert live_only, "no live-only check left: this test and the field may go"
    guest.os_release()
    for cls in live_only:
        result, calls = run_probed(monkeypatch, cls, guest.ctx())
        assert (result.status, result.summary, calls) == (Status.SKIP, applicability.LIVE_ONLY, 0), cls.id
        result, calls = run_probed(monkeypatch, cls, guest.ctx(live=FakeLive()))
        assert (result.summary, calls) == ("ran", 1), cls.id


def test_checks_run_only_on_the_targets_they_apply_to(guest, monkeypatch):
    declaring = [cls for cls in CHECKS if cls.applies_to]
    assert declaring
    pool = [(d, a) for d in sorted(osinfo.DISTRIBUTIONS) for a in ("x86_64", "arm64", "i386", "riscv64")]
    for cls in declaring:
        for applies in cls.applies_to:
            result, calls = run_probed(monkeypatch, cls, target(guest, *example(applies)))
            assert (result.summary, calls) == ("ran", 1), (cls.id, applies)
        outside = [(d, a) for d, a in pool
                   if not any(applicability.matches(target(guest, d, a), x) for x in cls.applies_to)]
        assert outside, cls.id
        distribution, arch = outside[0]
        ctx = target(guest, distribution, arch)
        result, calls = run_probed(monkeypatch, cls, ctx)
        assert calls == 0 and result.status == Status.SKIP, cls.id
        assert result.summary == "applies to {} images only (this is {}, {})".format(
            applicability.describe(cls.applies_to), ctx.os.name, arch)
        assert result.findings[0].code == cls.id + ".skip"


@pytest.mark.parametrize("distribution,arch,applies", [
    ("debian", "arm64", True), ("centos-stream", "x86_64", True), ("rocky", "x86_64", True),
    ("anolis", "x86_64", True), ("almalinux", "x86_64", True), ("centos", "x86_64", False),
    ("debian", "x86_64", False), ("alinux", "x86_64", False), ("ubuntu", "i386", False)])
def test_fw_cfg_applies_where_seed_000_says(guest, monkeypatch, distribution, arch, applies):
    result, calls = run_probed(monkeypatch, FwCfg, target(guest, distribution, arch))
    assert calls == (1 if applies else 0)
    if not applies:
        # The words fw_cfg used when it computed this SKIP itself.
        assert result.summary == ("applies to ARM64, CentOS Stream, Anolis, AlmaLinux and Rocky Linux images "
                                  "only (this is {} 9, {})".format(distribution, arch))


def test_unknown_system_and_architecture_are_named_as_such(guest, monkeypatch):
    guest.write("/bin/sh", b"#!/bin/false\n")
    result, calls = run_probed(monkeypatch, FwCfg, guest.ctx())
    assert calls == 0
    assert result.summary.endswith("only (this is unknown, architecture unknown)")  # osinfo.UNKNOWN.name


def test_describe_names_each_case():
    assert applicability.describe((Applies(families=("suse",)),)) == "SUSE-family"
    assert applicability.describe((Applies(families=("rhel",), architectures=("arm64", "x86_64")),
                                   Applies(distributions=("ubuntu", "debian")))) == \
        "ARM64/x86-64 RHEL-family, Ubuntu and Debian"


def test_every_field_of_a_case_must_match(guest):
    case = Applies(families=("rhel",), architectures=("arm64",))
    assert applicability.matches(target(guest, "rocky", "arm64"), case)
    assert not applicability.matches(target(guest, "rocky", "x86_64"), case)
    assert not applicability.matches(target(guest, "debian", "arm64"), case)
