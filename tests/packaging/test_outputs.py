"""The outputs CI systems and pipelines consume: JUnit XML, the plan as a shell script,
the merged fleet report, fixes armed for shutdown, and running without optional modules.

These run on a small root in a temporary directory (no root privileges needed); the
package builds and real Debian roots are in test_packages.py.
"""
import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from agent.output import cli

from agent.host import fleet

from agent.facts import live

from agent.core import shutdown
from agent.core.context import Context
from agent.core.engine import Engine
from agent.core.model import Check, Status
from agent.parsers import netplan
from agent.core.runner import Completed

SELINUX_ENFORCING = "SELINUX=enforcing\nSELINUXTYPE=targeted\n"
NETPLAN_STATIC = ("# written by the installer\nnetwork:\n  version: 2\n  ethernets:\n    eth0:\n"
                  "      addresses: [192.168.1.10/24]\n      gateway4: 192.168.1.1\n")
FSTAB = ("UUID=0a1b2c3d-0000-4000-8000-000000000001 / ext4 defaults 0 1\n"
         "/dev/sdb1 /data ext4 defaults 0 2\n")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UNIT_TEXT = "[Service]\nExecStop=/usr/bin/guestprep at-shutdown run\n"


@pytest.fixture
def image(tmp_path):
    root = tmp_path / "image"
    for d in ("etc/selinux", "etc/netplan", "usr/bin", "var/lib/dpkg", "usr/lib/systemd/system"):
        (root / d).mkdir(parents=True)
    (root / "etc/os-release").write_text('ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12"\n')
    (root / "etc/fstab").write_text(FSTAB)
    (root / "etc/selinux/config").write_text(SELINUX_ENFORCING)
    (root / "etc/netplan/01-netcfg.yaml").write_text(NETPLAN_STATIC)
    os.chmod(str(root / "etc/netplan/01-netcfg.yaml"), 0o600)
    (root / "var/lib/dpkg/status").write_text(
        "Package: cloud-init\nStatus: install ok installed\nVersion: 22.4.2-1\n\n"
        "Package: cloud-guest-utils\nStatus: install ok installed\nVersion: 0.33-1\n\n"
        "Package: e2fsprogs\nStatus: install ok installed\nVersion: 1.47.0-2\n")
    (root / "usr/bin/growpart").write_text("#!/bin/sh\n")
    return root


def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def tree(root):
    """{relative path: (bytes or link target, mode)} of every file under root, but guestprep's state."""
    found = {}
    for directory, dirs, files in os.walk(str(root)):
        dirs[:] = [d for d in dirs if d != "guestprep" or not directory.endswith("/var/lib")]
        for name in files:
            path = os.path.join(directory, name)
            st = os.lstat(path)
            if os.path.islink(path):
                found[os.path.relpath(path, str(root))] = (os.readlink(path), None)
            else:
                with open(path, "rb") as handle:
                    found[os.path.relpath(path, str(root))] = (handle.read(), st.st_mode & 0o7777)
    return found


# -- junit ---------------------------------------------------------------------------

def cases(xml_text):
    suites = ET.fromstring(xml_text.encode("utf-8"))
    assert suites.tag == "testsuites"
    return suites, dict((c.get("name").split(" ")[0], c) for c in suites.iter("testcase"))


def test_junit_check_has_one_testcase_per_check_with_failures_and_errors(image, capsys):
    code, out, err = run(capsys, "check", "--root", str(image), "--format", "junit")
    assert code == 3
    suites, by_id = cases(out)
    code_json, out_json, _ = run(capsys, "check", "--root", str(image), "--format", "json")
    results = json.loads(out_json)["results"]
    assert sorted(by_id) == sorted(r["id"] for r in results)
    failing = [r["id"] for r in results if r["status"] == "FAIL"]
    assert "selinux" in failing and "dhcp" in failing
    for r in results:
        case = by_id[r["id"]]
        kinds = [child.tag for child in case if child.tag != "system-out"]
        expected = {"FAIL": ["failure"], "ERROR": ["error"], "SKIP": ["skipped"]}.get(r["status"], [])
        assert kinds == expected, r
    selinux = by_id["selinux"].find("failure")
    assert selinux.get("type") == "FAIL" and "enforcing" in selinux.get("message")
    assert "SELINUX=disabled" in selinux.text
    assert suites.get("failures") == str(len(failing)) and suites.get("tests") == str(len(results))
    props = dict((p.get("name"), p.get("value")) for p in suites.iter("property"))
    assert props["exit_code"] == "3" and props["root"] == str(image)


def test_junit_warn_passes_unless_strict(image, capsys):
    (image / "etc/fstab").write_text("/dev/sdb1 /data ext4 defaults,nofail 0 2\n")   # no entry for /: WARN
    code, out, _ = run(capsys, "check", "--root", str(image), "--items", "fstab", "--format", "junit")
    assert code == 0
    _suites, by_id = cases(out)
    case = by_id["fstab"]
    assert [c.tag for c in case] == ["system-out"] and case.find("system-out").text.startswith("WARN: ")
    code, out, _ = run(capsys, "check", "--root", str(image), "--items", "fstab", "--format", "junit", "--strict")
    assert code == 3
    _suites, by_id = cases(out)
    assert by_id["fstab"].find("failure").get("type") == "WARN"


def test_junit_survives_control_characters_from_the_image():
    from agent.output import report
    assert report._xml_text("a\x1b[31mb\x00c\udcff") == "a\ufffd[31mb\ufffdc\ufffd"


def test_junit_fix_reports_the_final_state(image, capsys):
    code, out, err = run(capsys, "fix", "--root", str(image), "--yes", "--format", "junit", "--items", "selinux")
    assert code == 0, err
    _suites, by_id = cases(out)
    case = by_id["selinux"]
    assert case.find("failure") is None
    assert case.find("system-out").text.startswith("fix: FIXED: ")


# -- plan --format script ------------------------------------------------------------

def make_script(image, capsys, *extra):
    code, out, err = run(capsys, "plan", "--root", str(image), "--format", "script", "--items",
                         "selinux,dhcp,fstab", *extra)
    assert code == 3, err
    assert out.startswith("#!/bin/sh\n") and "\nset -eu\n" in out
    return out


def test_plan_script_is_valid_sh_and_does_what_fix_does(image, tmp_path, capsys):
    script = make_script(image, capsys)
    path = tmp_path / "plan.sh"
    path.write_text(script)
    assert subprocess.call(["sh", "-n", str(path)]) == 0
    for name in ("selinux", "dhcp", "fstab"):
        assert "# == " + name in script
    copy = tmp_path / "copy"
    shutil.copytree(str(image), str(copy), symlinks=True)
    before = tree(image)
    done = subprocess.run(["sh", str(path)], env=dict(os.environ, GUESTPREP_ROOT=str(copy)),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert done.returncode == 0, done.stderr
    assert tree(image) == before   # the plan itself wrote nothing
    code, _out, err = run(capsys, "fix", "--root", str(image), "--yes", "--items", "selinux,dhcp,fstab")
    assert code in (0, 3), err   # 3: checks without a fix (a tiny image has no kernel) still fail
    assert tree(copy) == tree(image)
    assert tree(copy) != before
    # the script's backups, and the network manifest the dhcp fix records before DHCP replaces the address
    backups = sorted(os.listdir(str(copy / "var/lib/guestprep")))
    assert len(backups) == 2 and backups[0] == "network-manifest.json" and backups[1].startswith("script-")
    backups = backups[1:]
    with open(str(copy / "var/lib/guestprep" / backups[0] / "etc/selinux/config")) as handle:
        assert handle.read() == SELINUX_ENFORCING


def test_plan_script_refuses_when_a_file_changed_since_the_plan(image, tmp_path, capsys):
    script = make_script(image, capsys)
    path = tmp_path / "plan.sh"
    path.write_text(script)
    (image / "etc/fstab").write_text(FSTAB + "# edited after the plan\n")
    before = tree(image)
    done = subprocess.run(["sh", str(path)], env=dict(os.environ, GUESTPREP_ROOT=str(image)),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert done.returncode == 3
    assert "etc/fstab changed since the plan was made" in done.stderr and "nothing was changed" in done.stderr
    assert tree(image) == before


def test_plan_script_keeps_exact_bytes_without_a_final_newline(image, tmp_path, capsys):
    (image / "etc/selinux/config").write_bytes(b"# caf\xe9 latin-1\nSELINUX=enforcing")
    # A subprocess: the script carries the file's own bytes, which are not UTF-8.
    done = subprocess.run([sys.executable, "-m", "agent", "plan", "--root", str(image), "--format", "script",
                           "--items", "selinux"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert done.returncode == 3, done.stderr
    assert b"# caf\xe9 latin-1\n" in done.stdout
    path = tmp_path / "plan.sh"
    path.write_bytes(done.stdout)
    copy = tmp_path / "copy"
    shutil.copytree(str(image), str(copy), symlinks=True)
    assert subprocess.call(["sh", str(path)], env=dict(os.environ, GUESTPREP_ROOT=str(copy))) == 0
    # JSON output: the text diff of a non-UTF-8 file fails on 3.6 when stdout is not UTF-8-safe
    assert subprocess.call([sys.executable, "-m", "agent", "fix", "--root", str(image), "--yes", "--items", "selinux",
                            "--format", "json"],
                           cwd=REPO, stdout=subprocess.DEVNULL) == 0
    assert (copy / "etc/selinux/config").read_bytes() == (image / "etc/selinux/config").read_bytes()
    assert (copy / "etc/selinux/config").read_bytes() == b"# caf\xe9 latin-1\nSELINUX=disabled"


def test_plan_script_with_nothing_to_do(image, tmp_path, capsys):
    (image / "etc/selinux/config").write_text("SELINUX=disabled\n")
    code, out, _ = run(capsys, "plan", "--root", str(image), "--format", "script", "--items", "selinux")
    assert code == 0 and "expect " not in out.split("set -eu", 1)[1].split("command -v", 1)[1]
    path = tmp_path / "plan.sh"
    path.write_text(out)
    done = subprocess.run(["sh", str(path)], env=dict(os.environ, GUESTPREP_ROOT=str(image)),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert done.returncode == 0 and "nothing to change" in done.stderr


# -- report merge ----------------------------------------------------------------------

def report_of(image, capsys, path, *argv):
    code, out, _ = run(capsys, "check", "--root", str(image), "--format", "json", *argv)
    path.write_text(out)
    return code


def test_report_merge_orders_hosts_and_items_worst_first(image, tmp_path, capsys):
    reports = tmp_path / "reports"
    reports.mkdir()
    assert report_of(image, capsys, reports / "bad.json") == 3
    (image / "etc/selinux/config").write_text("SELINUX=disabled\n")
    (image / "etc/fstab").write_text(FSTAB.splitlines(True)[0])
    (image / "etc/netplan/01-netcfg.yaml").write_text("network:\n  version: 2\n  ethernets:\n    eth0:\n      dhcp4: true\n")
    report_of(image, capsys, reports / "good.json")
    (reports / "broken.json").write_text("{not json")
    md, page = tmp_path / "fleet.md", tmp_path / "fleet.html"
    paths = sorted(str(p) for p in reports.iterdir())
    code, out, err = run(capsys, "report", "merge", "--markdown", str(md), "--html", str(page), *paths)
    assert code == 3 and out == ""
    assert "broken.json: unreadable report" in err
    text = md.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| host")]
    assert [r.split("|")[1].strip() for r in rows] == ["broken", "bad", "good"]
    header = [c.strip() for c in text.splitlines()[4].split("|")[1:-1]]
    assert header[:2] == ["host", "worst"]
    # Items that fail somewhere come before the ones that pass everywhere.
    good_row = [c.strip() for c in rows[2].split("|")[1:-1]]
    bad_row = [c.strip() for c in rows[1].split("|")[1:-1]]
    assert bad_row[1] == "FAIL" and "FAIL" in bad_row[2:5]
    statuses = [Status.ORDER.index(s) for s in bad_row[2:] if s in Status.ORDER]
    assert statuses == sorted(statuses, reverse=True) or bad_row[2] == "FAIL"
    assert "GUESTOS.Selinux" in header and good_row[header.index("GUESTOS.Selinux")] == "PASS"
    html_text = page.read_text()
    assert html_text.startswith("<!DOCTYPE html>") and "<style>" in html_text
    for external in ("http://", "https://", "<script", "<link", "src="):
        assert external not in html_text
    assert html_text.index(">broken<") < html_text.index(">bad<") < html_text.index(">good<")


def test_report_merge_escapes_what_hosts_report(tmp_path):
    data = {"tool": "guestprep", "command": "check", "os": {"name": "<b>os</b>"}, "exit_code": 3,
            "results": [{"id": "x", "item": "X|Y", "title": "t", "status": "FAIL",
                         "summary": "<script>alert(1)</script>", "hint": "a | b"}]}
    path = tmp_path / "h<1>.json"
    path.write_text(json.dumps(data))
    merged = fleet.merge([str(path)])
    page = fleet.html_page(merged)
    assert "<script>" not in page and "&lt;script&gt;" in page and "h&lt;1&gt;" in page
    assert "X\\|Y" in fleet.markdown(merged)


def test_report_merge_without_outputs_prints_markdown(image, tmp_path, capsys):
    report_of(image, capsys, tmp_path / "one.json")
    code, out, _ = run(capsys, "report", "merge", str(tmp_path / "one.json"))
    assert code == 3 and out.startswith("# guestprep fleet report\n") and "| one | FAIL |" in out
    code, _out, err = run(capsys, "report")
    assert code == 2 and "report merge" in err


# -- fix --at-shutdown -------------------------------------------------------------------

def test_arming_on_an_image_writes_the_items_and_enables_the_unit(image, capsys):
    (image / "usr/lib/systemd/system" / shutdown.UNIT).write_text(UNIT_TEXT)
    before = (image / "etc/netplan/01-netcfg.yaml").read_bytes()
    code, out, err = run(capsys, "fix", "--root", str(image), "--at-shutdown", "dhcp,selinux")
    assert code == 0, err
    assert "Armed: dhcp,selinux" in out
    armed = (image / "etc/guestprep/at-shutdown").read_text()
    assert "items=dhcp,selinux\n" in armed
    link = image / "etc/systemd/system/multi-user.target.wants" / shutdown.UNIT
    assert os.readlink(str(link)) == "/usr/lib/systemd/system/" + shutdown.UNIT
    # Nothing applied yet, and arming is no fix run: nothing for rollback.
    assert (image / "etc/netplan/01-netcfg.yaml").read_bytes() == before
    runs = image / "var/lib/guestprep/runs"
    assert not runs.exists() or os.listdir(str(runs)) == []
    code, out, _ = run(capsys, "at-shutdown", "status", "--root", str(image))
    assert "Armed: dhcp,selinux" in out
    # Outside a poweroff (a chroot's systemctl lists no job) the run leaves everything armed.
    code, out, _ = run(capsys, "at-shutdown", "run", "--root", str(image))
    assert code == 0 and "stay armed" in out and (image / "etc/guestprep/at-shutdown").exists()
    code, out, err = run(capsys, "at-shutdown", "run", "--root", str(image), "--force")
    assert code == 0, out + err
    assert "FIXED" in out and "SELINUX=disabled" in (image / "etc/selinux/config").read_text()
    assert "dhcp4: true" in (image / "etc/netplan/01-netcfg.yaml").read_text()
    assert not (image / "etc/guestprep/at-shutdown").exists() and not os.path.lexists(str(link))
    # Applied through the journal, so rollback undoes it.
    code, out, _ = run(capsys, "rollback", "--root", str(image))
    assert code == 0 and (image / "etc/netplan/01-netcfg.yaml").read_bytes() == before


def test_disarm_and_bad_arming(image, capsys):
    code, _out, err = run(capsys, "fix", "--root", str(image), "--at-shutdown", "dhcp")
    assert code == 2 and "guestprep-fix-at-shutdown.service is not installed" in err
    (image / "usr/lib/systemd/system" / shutdown.UNIT).write_text(UNIT_TEXT)
    code, _out, err = run(capsys, "fix", "--root", str(image), "--at-shutdown", "dhcp,nosuch")
    assert code == 2 and "unknown item(s): nosuch" in err
    assert not (image / "etc/guestprep/at-shutdown").exists()
    assert run(capsys, "fix", "--root", str(image), "--at-shutdown", "dhcp")[0] == 0
    code, out, _ = run(capsys, "at-shutdown", "disarm", "--root", str(image))
    assert code == 0 and out == "Disarmed.\n"
    assert not os.path.lexists(str(image / "etc/systemd/system/multi-user.target.wants" / shutdown.UNIT))
    code, out, _ = run(capsys, "at-shutdown", "run", "--root", str(image), "--force")
    assert code == 0 and "nothing armed" in out
    assert "SELINUX=enforcing" in (image / "etc/selinux/config").read_text()


class JobsRunner(object):
    def __init__(self, listing):
        self.listing = listing

    def run(self, argv, env=None, timeout=None, stdin_text=None, network=False):
        assert argv[:2] == ("systemctl", "list-jobs")
        return Completed(tuple(argv), 0, self.listing, "")


@pytest.mark.parametrize("listing,kind", [
    ("1234 poweroff.target start waiting\n1240 systemd-poweroff.service start waiting\n", shutdown.POWEROFF),
    ("88 halt.target start waiting\n", shutdown.POWEROFF),
    ("77 reboot.target start waiting\n", shutdown.REBOOT),
    ("12 apt-daily.service start running\n", shutdown.NONE),
    ("", shutdown.NONE),
])
def test_shutdown_kind(listing, kind):
    assert shutdown.shutdown_kind(JobsRunner(listing)) == kind


# -- optional modules absent -------------------------------------------------------------

class NeedsMounts(Check):
    id = "needs_mounts"
    item = "TEST.Mounts"
    title = "asks psutil"

    def run(self, ctx):
        return self.passed("{} mounts".format(len(ctx.live.mounts())))


def test_without_psutil_mounts_come_from_proc(image, monkeypatch):
    monkeypatch.setitem(sys.modules, "psutil", None)   # `import psutil` raises ImportError
    facts = live.LiveFacts(None)
    assert facts.missing == live.MISSING_PSUTIL
    ctx = Context.for_root(str(image), live=facts)
    result = Engine([NeedsMounts]).run_check(ctx, NeedsMounts())
    assert result.status == Status.PASS and result.summary != "0 mounts"


def test_without_psutil_or_proc_checks_that_need_it_are_skipped_not_errors(image, monkeypatch):
    monkeypatch.setitem(sys.modules, "psutil", None)
    facts = live.LiveFacts(None)

    def unreadable(path):
        raise live.Unavailable("neither psutil nor {} can be read (No such file or directory)".format(path))
    monkeypatch.setattr(facts, "_proc_text", unreadable)
    ctx = Context.for_root(str(image), live=facts)
    result = Engine([NeedsMounts]).run_check(ctx, NeedsMounts())
    assert result.status == Status.SKIP
    assert result.summary == ("skipped: neither psutil nor /proc/self/mounts can be read (No such file "
                              "or directory), which this check needs")


def test_without_psutil_process_names_come_from_proc(monkeypatch):
    # qemu-ga, cloud assistant and security center ask whether a process runs: /proc answers.
    monkeypatch.setitem(sys.modules, "psutil", None)
    with open("/proc/self/comm") as handle:
        me = handle.read().strip()
    assert me in live.LiveFacts(None).process_names()


def test_psutil_that_cannot_read_proc_is_a_skip(image, monkeypatch):
    class BrokenPsutil(object):
        @staticmethod
        def disk_partitions(all):
            raise IndexError("list index out of range")
    facts = live.LiveFacts(None)
    facts._psutil = BrokenPsutil
    # /proc answers what psutil could not parse ...
    result = Engine([NeedsMounts]).run_check(Context.for_root(str(image), live=facts), NeedsMounts())
    assert result.status == Status.PASS
    # ... and where /proc cannot be read either (a chroot without it), the check is a SKIP.
    def unreadable(path):
        raise live.Unavailable("neither psutil nor {} can be read".format(path))
    monkeypatch.setattr(facts, "_proc_text", unreadable)
    result = Engine([NeedsMounts]).run_check(Context.for_root(str(image), live=facts), NeedsMounts())
    assert result.status == Status.SKIP and "/proc/self/mounts can be read" in result.summary


def test_without_pyyaml_netplan_is_reported_unread(monkeypatch):
    monkeypatch.setattr(netplan, "yaml", None)
    doc, problems = netplan.parse(NETPLAN_STATIC)
    assert doc is None and [p.message for p in problems] == [netplan.MISSING_YAML]


def test_the_packaged_unit_is_the_one_the_single_file_installs():
    # systemd/ ships unit_text() for /usr/bin/guestprep: one text, two ways of installing it.
    with open(os.path.join(REPO, "systemd", shutdown.UNIT)) as handle:
        assert handle.read() == shutdown.unit_text([shutdown.PACKAGED_EXEC])


def test_the_single_file_installs_its_own_unit_on_the_running_system(tmp_path):
    # The running system is faked by a Root whose is_host is true; nothing under the real /.
    from agent.core.rootfs import Root

    class HostLike(Root):
        is_host = True

    class NoSystemctl(object):
        def run(self, argv, **kw):
            from agent.core.runner import Completed
            return Completed(tuple(argv), 0, "", "")
    root = HostLike(str(tmp_path))
    ctx = type("Ctx", (), {"root": root, "runner": NoSystemctl()})()
    argv = ["/usr/bin/python3", "/tmp/my dir/guestprep.pyz"]
    lines = shutdown.arm(ctx, ["dhcp"], argv)
    unit = (tmp_path / "etc/systemd/system" / shutdown.UNIT).read_text()
    assert 'ExecStop=/usr/bin/python3 "/tmp/my dir/guestprep.pyz" at-shutdown run --verbose\n' in unit
    assert any("Installed" in line and "guestprep.pyz" in line for line in lines)
    assert shutdown.disarm(root)
    assert not (tmp_path / "etc/systemd/system" / shutdown.UNIT).exists()
    # A packaged unit is never removed by disarm.
    (tmp_path / "usr/lib/systemd/system").mkdir(parents=True)
    (tmp_path / "usr/lib/systemd/system" / shutdown.UNIT).write_text(UNIT_TEXT)
    shutdown.arm(ctx, ["dhcp"], argv)
    assert not (tmp_path / "etc/systemd/system" / shutdown.UNIT).exists()
    shutdown.disarm(root)
    assert (tmp_path / "usr/lib/systemd/system" / shutdown.UNIT).exists()


def test_program_argv_is_absolute_for_a_unit_file():
    from agent.output import report
    assert report.program_argv("dist/guestprep.pyz", "/usr/bin/python3") == [
        "/usr/bin/python3", os.path.abspath("dist/guestprep.pyz")]
    assert report.program_argv("/usr/local/bin/guestprep", "/usr/bin/python3") == ["/usr/local/bin/guestprep"]
    assert report.program_argv("/src/agent/__main__.py", "/usr/bin/python3") is None
