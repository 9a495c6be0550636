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


# -- waivers of one finding's code ---------------------------------------------------

def package_manager(image, capsys, *extra):
    """check --items package-manager as JSON: (exit code, the result). The image has a package
    dpkg left half-configured (a FAIL finding) and no repository (a WARN finding)."""
    (image / "var/lib/dpkg/status").write_text(
        "Package: libc6\nStatus: install ok half-configured\nVersion: 2.36\n")
    code, out, err = run(capsys, "check", "--root", str(image), "--items", "package_manager", "--format", "json",
                         *extra)
    assert err == "" or code != 2, err
    return code, json.loads(out)["results"][0]


def write(tmp_path, *sections):
    path = tmp_path / "w.ini"
    path.write_text("".join("[{}]\nreason = {}\nby = me\nexpires = {}\n".format(*s) for s in sections))
    return str(path)


def test_a_waived_finding_code_leaves_the_other_findings_to_decide_the_status(image, capsys, tmp_path):
    code, result = package_manager(image, capsys)
    assert code == 3 and result["status"] == "FAIL"
    codes = dict((f["code"], f["status"]) for f in result["findings"])
    assert codes == {"package_manager.dpkg-interrupted": "FAIL", "package_manager.no-repository": "WARN"}
    code, result = package_manager(image, capsys, "--waivers", write(
        tmp_path, ("package_manager.dpkg-interrupted", "rebuilt on ECS", FUTURE)))
    # The FAIL is accepted; the repository WARN is what is left.
    assert code == 0 and result["status"] == "WARN"
    assert dict((f["code"], f["status"]) for f in result["findings"]) == {
        "package_manager.dpkg-interrupted": "WAIVED", "package_manager.no-repository": "WARN"}
    assert result["waiver"]["code"] == "package_manager.dpkg-interrupted"
    assert result["waiver"]["status"] == "FAIL" and result["waiver"]["reason"] == "rebuilt on ECS"
    code, _result = package_manager(image, capsys, "--waivers", write(
        tmp_path, ("package_manager.dpkg-interrupted", "r", FUTURE)), "--fail-on", "warn")
    assert code == 3


def test_waiving_every_finding_code_waives_the_result(image, capsys, tmp_path):
    code, result = package_manager(image, capsys, "--waivers", write(
        tmp_path, ("package_manager.dpkg-interrupted", "a", FUTURE), ("package_manager.no-repository", "b", FUTURE)))
    assert code == 0 and result["status"] == "WAIVED"
    assert set(f["status"] for f in result["findings"]) == {"WAIVED"}
    assert [w["code"] for w in result["waiver"]["findings"]] == [
        "package_manager.dpkg-interrupted", "package_manager.no-repository"]
    code, out, _err = run(capsys, "check", "--root", str(image), "--items", "package_manager", "--waivers",
                          write(tmp_path, ("package_manager.dpkg-interrupted", "a", FUTURE),
                                ("package_manager.no-repository", "b", FUTURE)))
    out = " ".join(out.split())
    assert code == 0 and "package_manager.dpkg-interrupted: FAIL waived by me until {}: a".format(FUTURE) in out
    assert "package_manager.no-repository: WARN waived by me until {}: b".format(FUTURE) in out


def test_an_expired_finding_waiver_is_still_a_finding(image, capsys, tmp_path):
    code, result = package_manager(image, capsys, "--waivers", write(
        tmp_path, ("package_manager.dpkg-interrupted", "r", PAST)))
    assert code == 3 and result["status"] == "FAIL"
    assert dict((f["code"], f["status"]) for f in result["findings"])["package_manager.dpkg-interrupted"] == "FAIL"
    assert result["waiver"]["expired"] is True
    assert "waiver of package_manager.dpkg-interrupted by me expired on {}".format(PAST) in result["summary"]


def test_junit_carries_each_finding_and_its_waiver(image, capsys, tmp_path):
    (image / "var/lib/dpkg/status").write_text("Package: libc6\nStatus: install ok half-configured\n")
    code, out, _err = run(capsys, "check", "--root", str(image), "--items", "package_manager", "--format", "junit",
                          "--waivers", write(tmp_path, ("package_manager.dpkg-interrupted", "known", FUTURE)))
    case = ET.fromstring(out).find(".//testcase")
    text = case.find("system-out").text
    assert "  WAIVED package_manager.dpkg-interrupted: dpkg was interrupted: libc6 (half-configured) " \
           "(/var/lib/dpkg/status)" in text
    assert "  WARN package_manager.no-repository: no package repository is configured" in text
    assert "package_manager.dpkg-interrupted: FAIL waived by me" in text


def test_a_finding_code_of_no_check_is_a_usage_error(image, capsys, tmp_path):
    path = write(tmp_path, ("nosuch.thing", "r", FUTURE))
    code, out, err = run(capsys, "check", "--root", str(image), "--waivers", path)
    assert code == 2 and "no check is named nosuch.thing" in err
    # The prefix must be a check id: a repair item (assist) is not a finding code's prefix.
    code, out, err = run(capsys, "check", "--root", str(image), "--waivers", write(tmp_path, ("assist.missing", "r",
                                                                                              FUTURE)))
    assert code == 2 and "assist.missing" in err
