"""The CLI as a user meets it: exit codes, JSON alone on stdout, clear usage errors."""
import json
import os

import pytest

from agent import cli

SELINUX_ENFORCING = "SELINUX=enforcing\nSELINUXTYPE=targeted\n"


@pytest.fixture
def image(tmp_path):
    root = tmp_path / "image"
    for d in ("etc/selinux", "usr/bin", "var/lib/dpkg"):
        (root / d).mkdir(parents=True)
    (root / "etc/os-release").write_text('ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12"\n')
    (root / "etc/fstab").write_text("UUID=0a1b2c3d-0000-4000-8000-000000000001 / ext4 defaults 0 1\n")
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


def test_check_json_is_alone_on_stdout_and_blocking_exits_3(image, capsys):
    (image / "etc/selinux/config").write_text(SELINUX_ENFORCING)
    code, out, err = run(capsys, "check", "--root", str(image), "--format", "json")
    data = json.loads(out)
    assert code == 3 and data["exit_code"] == 3
    assert data["format_version"] == 1 and data["root"] == str(image) and data["live"] is False
    selinux = [r for r in data["results"] if r["id"] == "selinux"][0]
    assert selinux["item"] == "GUESTOS.Selinux" and selinux["status"] == "FAIL"
    assert set(selinux) >= {"id", "item", "repair_item", "status", "summary", "hint", "paths"}


def test_items_select_checks_and_unknown_items_are_usage_errors(image, capsys):
    code, out, err = run(capsys, "check", "--root", str(image), "--items", "selinux", "--format", "json")
    assert code == 0
    assert [r["id"] for r in json.loads(out)["results"]] == ["selinux"]
    code, out, err = run(capsys, "check", "--root", str(image), "--items", "selinux,nosuch")
    assert code == 2 and "unknown item(s): nosuch" in err and out == ""


def test_not_a_linux_root_and_missing_root_are_usage_errors(tmp_path, capsys):
    code, _out, err = run(capsys, "check", "--root", str(tmp_path))
    assert code == 2 and "does not look like a Linux root" in err
    code, _out, err = run(capsys, "check", "--root", str(tmp_path / "missing"))
    assert code == 2 and "not a directory" in err
    code, _out, err = run(capsys, "frobnicate")
    assert code == 2


def test_plan_writes_nothing_and_fix_then_rollback(image, capsys):
    config = image / "etc/selinux/config"
    config.write_text(SELINUX_ENFORCING)
    code, out, _err = run(capsys, "plan", "--root", str(image), "--items", "selinux")
    assert "-SELINUX=enforcing" in out and "+SELINUX=disabled" in out
    assert config.read_text() == SELINUX_ENFORCING
    assert not (image / "var/lib/guestprep").exists()

    code, out, _err = run(capsys, "fix", "--root", str(image), "--items", "selinux", "--yes")
    assert code == 0 and "FIXED" in out
    assert config.read_text() == "SELINUX=disabled\nSELINUXTYPE=targeted\n"
    code, out, _err = run(capsys, "fix", "--root", str(image), "--items", "selinux", "--yes")
    assert "Nothing to fix" in out

    code, out, _err = run(capsys, "rollback", "--root", str(image))
    assert code == 0 and "restored" in out
    assert config.read_text() == SELINUX_ENFORCING


def test_fix_exit_4_when_a_fix_fails_and_is_rolled_back(image, capsys, monkeypatch):
    config = image / "etc/selinux/config"
    config.write_text(SELINUX_ENFORCING)
    from agent import rootfs

    def no_space(self, *a, **kw):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(rootfs.Root, "atomic_write", no_space)
    code, out, _err = run(capsys, "fix", "--root", str(image), "--items", "selinux", "--yes", "--format", "json")
    assert code == 4
    outcome = json.loads(out)["outcomes"][0]
    assert outcome["outcome"] == "ROLLED BACK" and "No space left" in outcome["message"]
    assert config.read_text() == SELINUX_ENFORCING


def test_rollback_exit_5_when_a_file_changed_since(image, capsys):
    config = image / "etc/selinux/config"
    config.write_text(SELINUX_ENFORCING)
    run(capsys, "fix", "--root", str(image), "--items", "selinux", "--yes")
    config.write_text("SELINUX=disabled\n# edited by the admin\n")
    code, out, _err = run(capsys, "rollback", "--root", str(image))
    assert code == 5 and "conflict" in out
    assert config.read_text() == "SELINUX=disabled\n# edited by the admin\n"


def test_list_names_every_item(capsys):
    code, out, _err = run(capsys, "list", "--format", "json")
    items = [c["item"] for c in json.loads(out)["checks"]]
    for item in ("GUESTOS.Selinux", "GUESTOS.Dhcp", "GUESTOS.Fstab", "qemu-ga", "shadow",
                 "GUESTOS.CloudInit", "GUESTOS.OnlineResizeFS", "GUESTOS.RtcTimeMode"):
        assert item in items


def test_text_report_has_no_colour_when_not_a_terminal(image, capsys):
    code, out, _err = run(capsys, "check", "--root", str(image))
    assert "\033[" not in out
    assert "checks:" in out


def test_busy_lock_is_a_clear_message(image, capsys):
    from agent.journal import StateDir
    from agent.rootfs import Root
    (image / "etc/selinux/config").write_text(SELINUX_ENFORCING)
    holder = StateDir(Root(str(image)))
    holder.lock()
    try:
        code, _out, err = run(capsys, "fix", "--root", str(image), "--items", "selinux", "--yes")
    finally:
        holder.unlock()
    assert code == 1 and "another guestprep run (pid {})".format(os.getpid()) in err


def test_output_into_a_closed_pipe_is_quiet(tmp_path):
    # `guestprep list | head -1`: the reader leaves early; no "internal error", no traceback.
    import subprocess
    import sys
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.Popen([sys.executable, "-m", "agent", "list"], cwd=repo,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # closed before guestprep writes a byte
    err = proc.stderr.read().decode()
    proc.wait()
    proc.stderr.close()
    assert err == ""
    assert proc.returncode == 1


def test_list_is_a_table_with_aligned_columns(capsys):
    code, out, _err = run(capsys, "list")
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:2] == ["ITEM", "REPAIR"]
    column = lines[0].index("REPAIR ITEM")
    fstab = [l for l in lines if l.startswith("GUESTOS.Fstab ")][0]
    longest = [l for l in lines if l.startswith("data-disks-mounted ")][0]
    assert fstab[column:].startswith("fstab ") and longest[column:].startswith("data-disks-mounted ")
    assert fstab.index("auto") == longest.index("propose")
