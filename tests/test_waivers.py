"""Waivers and --fail-on (issue 15): a finding accepted on purpose, until a date."""
import datetime
import json
import xml.etree.ElementTree as ET

import pytest

from agent.output import cli

from agent.core import waivers

SELINUX_ENFORCING = "SELINUX=enforcing\nSELINUXTYPE=targeted\n"
FUTURE = (datetime.date.today() + datetime.timedelta(days=90)).isoformat()
PAST = (datetime.date.today() - datetime.timedelta(days=1)).isoformat()


@pytest.fixture
def image(tmp_path):
    root = tmp_path / "image"
    for d in ("etc/selinux", "usr/bin", "var/lib/dpkg"):
        (root / d).mkdir(parents=True)
    (root / "etc/os-release").write_text('ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12"\n')
    (root / "etc/selinux/config").write_text(SELINUX_ENFORCING)
    (root / "var/lib/dpkg/status").write_text("")
    return root


@pytest.fixture(autouse=True)
def no_machine_waivers(monkeypatch, tmp_path):
    # The default files are this machine's /etc/guestprep/waivers.*: point them at nothing.
    monkeypatch.setattr(waivers, "DEFAULT_PATHS", (str(tmp_path / "none.ini"),))


def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def only(image, capsys, *extra):
    """check --items selinux as JSON: (exit code, the selinux result)."""
    code, out, err = run(capsys, "check", "--root", str(image), "--items", "selinux", "--format", "json", *extra)
    assert err == "" or code != 2, err
    return code, json.loads(out)["results"][0] if out else None


def test_a_waived_fail_is_reported_waived_and_does_not_block(image, capsys, tmp_path):
    path = tmp_path / "waivers.ini"
    path.write_text("[GUESTOS.Selinux]\nreason = labels checked by the security team\nby = ops@example.com\n"
                    "expires = {}\n".format(FUTURE))
    assert only(image, capsys)[0] == 3
    code, result = only(image, capsys, "--waivers", str(path))
    assert code == 0
    assert result["status"] == "WAIVED"
    assert result["waiver"] == {"match": "GUESTOS.Selinux", "reason": "labels checked by the security team",
                                "by": "ops@example.com", "expires": FUTURE, "expired": False,
                                "file": str(path), "status": "FAIL"}
    code, out, _err = run(capsys, "check", "--root", str(image), "--items", "selinux", "--waivers", str(path))
    assert code == 0 and "WAIVED" in out
    out = " ".join(out.split())   # the text report wraps long lines
    assert "FAIL waived by ops@example.com until {}: labels checked by the security team".format(FUTURE) in out
    # Nothing to plan for an accepted finding.
    code, out, _err = run(capsys, "plan", "--root", str(image), "--items", "selinux", "--waivers", str(path))
    assert "SELINUX=disabled" not in out


def test_an_expired_waiver_blocks_again_and_says_so(image, capsys, tmp_path):
    path = tmp_path / "waivers.json"
    path.write_text(json.dumps({"waivers": [{"item": "selinux", "reason": "r", "by": "me", "expires": PAST}]}))
    code, result = only(image, capsys, "--waivers", str(path))
    assert code == 3
    assert result["status"] == "FAIL" and result["waiver"]["expired"] is True
    assert "waiver by me expired on {}".format(PAST) in result["summary"]


def test_junit_shows_the_waiver_as_a_skipped_case(image, capsys, tmp_path):
    path = tmp_path / "w.ini"
    path.write_text("[selinux]\nreason = known\nby = me\nexpires = {}\n".format(FUTURE))
    code, out, _err = run(capsys, "check", "--root", str(image), "--items", "selinux", "--format", "junit",
                          "--waivers", str(path))
    case = ET.fromstring(out).find(".//testcase")
    assert code == 0 and "waived by me" in case.find("skipped").get("message")


@pytest.mark.parametrize("text, message", [
    ("[selinux]\nreason = r\nby = me\n", "expires missing"),
    ("[selinux]\nreason = r\nby = me\nexpires = next week\n", "expires must be a date as YYYY-MM-DD"),
    ("[nosuch]\nreason = r\nby = me\nexpires = 2030-01-01\n", "no check is named nosuch"),
    ("reason = r\n", "not a valid INI file"),
])
def test_a_bad_waivers_file_is_a_usage_error_naming_it(image, capsys, tmp_path, text, message):
    path = tmp_path / "w.ini"
    path.write_text(text)
    code, out, err = run(capsys, "check", "--root", str(image), "--waivers", str(path))
    assert code == 2 and str(path) in err and message in err and out == ""


def test_fail_on_warn_blocks_on_warnings_and_fail_on_fail_does_not(image, capsys):
    # A mode SELinux does not know is a WARN.
    (image / "etc/selinux/config").write_text("SELINUX=bogus\n")
    assert only(image, capsys)[1]["status"] == "WARN"
    assert only(image, capsys)[0] == 0
    assert only(image, capsys, "--fail-on", "warn")[0] == 3
    assert only(image, capsys, "--strict", "--fail-on", "fail")[0] == 0


def test_the_machines_default_waivers_file_is_read(image, capsys, tmp_path, monkeypatch):
    path = tmp_path / "machine-waivers.ini"
    path.write_text("[selinux]\nreason = r\nby = me\nexpires = {}\n".format(FUTURE))
    monkeypatch.setattr(waivers, "DEFAULT_PATHS", (str(path),))
    assert only(image, capsys) == (0, only(image, capsys)[1])
    assert only(image, capsys)[1]["status"] == "WAIVED"
