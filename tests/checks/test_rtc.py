import os
import stat

import pytest

from agent.checks.rtc import Rtc
from agent.core.engine import Engine
from agent.core.model import Status
from conftest import FakeLive
from remediations.rtc import RtcFix

# What util-linux hwclock and systemd-timedated write.
UTIL_LINUX_LOCAL = "0.000000 1700000000 0.000000\n1700000000\nLOCAL\n"
SYSTEMD_LOCAL = "0.0 0 0\n0\nLOCAL\n"
DEBIAN_UTC = "0.0 0 0.0\n0\nUTC\n"


def run(guest, **kw):
    return Engine([Rtc]).run_check(guest.ctx(**kw), Rtc())


def test_absent_file_is_utc(guest):
    result = run(guest)
    assert result.status == Status.PASS
    assert "does not exist" in result.summary


@pytest.mark.parametrize("text", [DEBIAN_UTC, "0.0 0 0.0\n0\n", "0.0 0 0.0\n0\n\n", "0.0 0 0.0\n", "",
                                  "0.0 0 0.0\r\n0\r\nUTC\r\n", "0.0 0 0.0\n0\nUTC"])
def test_utc_or_missing_third_line_passes(guest, text):
    guest.write("/etc/adjtime", text)
    result = run(guest)
    assert result.status == Status.PASS, result.summary
    assert result.paths == ("/etc/adjtime",)


@pytest.mark.parametrize("text", [UTIL_LINUX_LOCAL, SYSTEMD_LOCAL, "0.0 0 0.0\r\n0\r\nLOCAL\r\n",
                                  "0.0 0 0.0\n0\nLOCAL"])
def test_local_fails_with_hint_and_command(guest, text):
    guest.write("/etc/adjtime", text)
    result = run(guest)
    assert result.status == Status.FAIL
    assert result.summary == "/etc/adjtime reads the hardware clock as local time (third line LOCAL)"
    assert "timedatectl set-local-rtc 0" in result.hint
    assert result.paths == ("/etc/adjtime",)
    # offline (the fixture has no live facts): never suggest running timedatectl on the host
    assert result.commands == ("sed -i '3s/^.*$/UTC/' " + guest.ctx().root.display("/etc/adjtime"),)


def test_live_suggests_timedatectl(guest):
    guest.write("/etc/adjtime", SYSTEMD_LOCAL)
    result = run(guest, live=FakeLive())
    assert result.status == Status.FAIL
    assert result.commands == ("timedatectl set-local-rtc 0",)
    assert "RTC in local TZ: yes" in result.hint


@pytest.mark.parametrize("third", ["local", "LOCAL ", "localtime", "GMT"])
def test_unknown_third_line_warns(guest, third):
    guest.write("/etc/adjtime", "0.0 0 0.0\n0\n{}\n".format(third))
    result = run(guest)
    assert result.status == Status.WARN
    assert "neither UTC nor LOCAL" in result.summary
    assert repr(third) in result.summary
    assert result.hint and result.commands


@pytest.mark.parametrize("data", [b"hello world\nthis is not\nadjtime\n", b"\xff\xfe garbage\n",
                                  b"0.0 0 0.0\nnot-a-number\nUTC\n"])
def test_garbage_text_warns_and_is_not_edited(guest, data):
    guest.write("/etc/adjtime", data)
    ctx = guest.ctx()
    result = Engine([Rtc]).run_check(ctx, Rtc())
    assert result.status == Status.WARN
    assert "not in adjtime format" in result.summary
    assert result.commands
    assert RtcFix().plan(ctx, result) == []


def test_local_with_garbled_first_line_still_fails(guest):
    guest.write("/etc/adjtime", "drift?\n0\nLOCAL\n")
    result = run(guest)
    assert result.status == Status.FAIL
    assert "also line 1 is not three numbers" in result.summary


def test_binary_file_is_a_clear_warning(guest):
    guest.write("/etc/adjtime", b"\x00\x01\x02LOCAL\x00")
    result = run(guest)
    assert result.status == Status.WARN
    assert result.summary == "cannot read /etc/adjtime: binary data where a text file was expected"
    assert result.commands == ("rm " + guest.ctx().root.display("/etc/adjtime"),)


def test_directory_is_a_clear_warning(guest):
    guest.mkdir("/etc/adjtime")
    result = run(guest)
    assert result.status == Status.WARN
    assert "not a regular file (a directory)" in result.summary
    assert result.commands[0].startswith("rm -r ")


@pytest.mark.parametrize("before,after", [
    (UTIL_LINUX_LOCAL, "0.000000 1700000000 0.000000\n1700000000\nUTC\n"),
    (SYSTEMD_LOCAL, "0.0 0 0\n0\nUTC\n"),
    ("0.0 0 0.0\r\n0\r\nLOCAL\r\n", "0.0 0 0.0\r\n0\r\nUTC\r\n"),
    ("0.0 0 0.0\n0\nLOCAL", "0.0 0 0.0\n0\nUTC"),
    ("0.0 0 0.0\n0\nlocal\nextra\n", "0.0 0 0.0\n0\nUTC\nextra\n"),
])
def test_fix_replaces_only_the_third_line(guest, before, after):
    guest.write("/etc/adjtime", before)
    ctx = guest.ctx()
    steps = RtcFix().plan(ctx, Rtc().run(ctx))
    assert len(steps) == 1
    assert steps[0].path == "/etc/adjtime"
    assert steps[0].content == after.encode()


def test_fix_plans_nothing_when_utc(guest):
    guest.write("/etc/adjtime", DEBIAN_UTC)
    ctx = guest.ctx()
    assert RtcFix().plan(ctx, Rtc().run(ctx)) == []


@pytest.mark.parametrize("original", [UTIL_LINUX_LOCAL, "0.0 0 0.0\r\n0\r\nLOCAL\r\n"])
def test_fix_apply_recheck_rollback(guest, original):
    guest.write("/etc/adjtime", original, mode=0o600)
    engine = Engine([Rtc], [RtcFix])
    ctx = guest.ctx()
    plans = engine.plan(ctx, engine.checks, engine.run_checks(ctx))
    journal, outcomes = engine.apply(ctx, plans, guest.state())
    assert [o.outcome for o in outcomes] == ["FIXED"]
    newline = "\r\n" if "\r" in original else "\n"
    assert guest.read("/etc/adjtime") == original.replace("LOCAL" + newline, "UTC" + newline)
    assert engine.run_checks(ctx)[0].status == Status.PASS
    # idempotent: nothing left to plan, and the fix itself finds nothing either
    assert engine.plan(ctx, engine.checks, engine.run_checks(ctx)) == []
    assert RtcFix().plan(ctx, Rtc().run(ctx)) == []
    outcomes = journal.rollback(ctx)
    assert [o for _r, o, _m in outcomes] == ["restored"]
    with open(guest.host("/etc/adjtime"), "rb") as handle:
        assert handle.read() == original.encode()
    assert stat.S_IMODE(os.stat(guest.host("/etc/adjtime")).st_mode) == 0o600
    assert engine.run_checks(ctx)[0].status == Status.FAIL
