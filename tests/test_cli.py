"""The CLI as a user meets it: exit codes, JSON alone on stdout, clear usage errors."""
import json
import os
import re

import pytest

from agent.output import cli

SELINUX_ENFORCING = "SELINUX=enforcing\nSELINUXTYPE=targeted\n"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# How the console script starts guestprep, for the tests that run it as a process.
MAIN_EXIT = "import sys; sys.argv[0] = 'guestprep'; from agent.output.cli import main_exit; main_exit()"


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
    from agent.core import rootfs

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
    from agent.core.journal import StateDir
    from agent.core.rootfs import Root
    (image / "etc/selinux/config").write_text(SELINUX_ENFORCING)
    holder = StateDir(Root(str(image)))
    holder.lock()
    try:
        code, _out, err = run(capsys, "fix", "--root", str(image), "--items", "selinux", "--yes")
    finally:
        holder.unlock()
    assert code == 6 and "another guestprep run (pid {}:".format(os.getpid()) in err
    assert "is busy" in err and "nothing was changed" in err


def test_output_into_a_closed_pipe_is_quiet(tmp_path):
    # `guestprep list | head -1`: the reader leaves early; no "internal error", no traceback.
    import subprocess
    import sys
    proc = subprocess.Popen([sys.executable, "-m", "agent", "list"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # closed before guestprep writes a byte
    err = proc.stderr.read().decode()
    proc.wait()
    proc.stderr.close()
    assert err == ""
    assert proc.returncode == 1


@pytest.mark.parametrize("argv", [("check", "--format", "json"), ("check",), ("plan",), ("list",),
                                  ("plan", "--format", "script")])
def test_the_quick_exit_loses_no_output(image, tmp_path, capsys, argv):
    # check, plan and list end without the interpreter's teardown (cli.NO_TEARDOWN_COMMANDS): what
    # sits in stdout's and stderr's buffers must still reach a file, as in-process main() writes it.
    import subprocess
    import sys
    (image / "etc/selinux/config").write_text(SELINUX_ENFORCING)
    argv = argv[:1] + (() if argv[0] == "list" else ("--root", str(image))) + argv[1:]
    want_code, want_out, want_err = run(capsys, *argv)
    out_path, err_path = tmp_path / "out", tmp_path / "err"
    buffered = dict((k, v) for k, v in os.environ.items() if k != "PYTHONUNBUFFERED")
    buffered["PYTHONIOENCODING"] = "utf-8"
    with open(str(out_path), "wb") as out, open(str(err_path), "wb") as err:
        code = subprocess.call([sys.executable, "-c", MAIN_EXIT] + list(argv), cwd=REPO, stdout=out, stderr=err,
                               env=buffered)
    # The clock and the free space of the disk the files are written to differ between the runs.
    clock = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d[^ \"\n]*|\d{5,}")
    assert code == want_code and (argv[0] == "list" or code == 3)
    assert len(want_out) > 1000
    assert clock.sub("TIME", out_path.read_text("utf-8")) == clock.sub("TIME", want_out)
    assert err_path.read_text("utf-8") == want_err


@pytest.mark.parametrize("closed", ["1", "2", "1 2"])
def test_a_closed_stdout_or_stderr_is_no_traceback(image, tmp_path, closed):
    # `guestprep check --root IMAGE >&-`: Python starts with sys.stdout None; the check runs and
    # its exit code is the result, as with >/dev/null.
    import subprocess
    import sys
    (image / "etc/selinux/config").write_text(SELINUX_ENFORCING)
    status = tmp_path / "status"
    # The shell closes the descriptors for the command only; it reports the exit code to a file.
    script = '"$@" {} ; echo "$?" > {}'.format(" ".join(fd + ">&-" for fd in closed.split()), status)
    for argv, code in ((["check", "--root", str(image)], 3), (["list"], 0),
                       (["check", "--root", str(image), "--format", "json"], 3)):
        proc = subprocess.run(["sh", "-c", script, "sh", sys.executable, "-c", MAIN_EXIT] + argv, cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.returncode == 0 and (proc.stdout == b"") == ("1" in closed), proc
        assert "Traceback" not in proc.stderr.decode() and "internal error" not in proc.stderr.decode(), proc
        assert status.read_text().strip() == str(code), (argv, closed, proc.stderr)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_output_that_cannot_be_written_is_said_as_such(image):
    # `guestprep check > report.txt` on a full disk: the report is lost, and the reason said is
    # the disk's, not "internal error".
    import subprocess
    import sys
    (image / "etc/selinux/config").write_text(SELINUX_ENFORCING)
    for argv in (["check", "--root", str(image)], ["list"], ["check", "--root", str(image), "--format", "json"],
                 ["plan", "--root", str(image)]):
        with open("/dev/full", "w") as full:
            proc = subprocess.run([sys.executable, "-c", MAIN_EXIT] + argv, cwd=REPO, stdout=full,
                                  stderr=subprocess.PIPE, universal_newlines=True)
        assert proc.returncode == 1, (argv, proc.stderr)
        assert proc.stderr == "guestprep: cannot write the output: No space left on device\n", (argv, proc.stderr)


def test_list_is_a_table_with_aligned_columns(capsys):
    code, out, _err = run(capsys, "list")
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:2] == ["ITEM", "REPAIR"]
    column = lines[0].index("REPAIR ITEM")
    fstab = [l for l in lines if l.startswith("GUESTOS.Fstab ")][0]
    longest = [l for l in lines if l.startswith("data-disks-mounted ")][0]
    assert fstab[column:].startswith("fstab ") and longest[column:].startswith("data-disks-mounted ")
    assert fstab.index("auto") == longest.index("propose")


def test_suggested_commands_keep_the_root_they_were_made_for(image, capsys):
    # Typed as printed, `guestprep plan` without --root would look at the host, not the image.
    import shlex
    (image / "etc/selinux/config").write_text(SELINUX_ENFORCING)
    code, out, _err = run(capsys, "check", "--root", str(image))
    assert code == 3
    # Blocking: the items named, since a plain fix leaves the package fixes (cloudinit) undone.
    assert "`guestprep plan --root {0} --items ".format(image) in out
    assert "`guestprep fix --root {0} --items ".format(image) in out
    assert "selinux" in out.split("`guestprep fix --root {0} --items ".format(image))[1].split("`")[0]
    (image / "var/lib/dpkg/status").write_text("")   # cloud-init missing: its fix must be named
    code, out, _err = run(capsys, "plan", "--root", str(image))
    suggested = [l.strip()[2:] for l in out.splitlines() if l.strip().startswith("$ guestprep plan")]
    assert suggested and suggested[0].startswith("guestprep plan --root {} --items ".format(image))
    assert "Also found, with fixes applied only when named" in out   # assist is a WARN, not failing
    code, out, _err = run(capsys, "fix", "--root", str(image), "--items", "selinux", "--yes")
    line = [l for l in out.splitlines() if "undo it with: " in l][0]
    rollback = line.split("undo it with: ", 1)[1]
    assert rollback.startswith("guestprep rollback --root {} --run ".format(image))
    assert "`guestprep clean --root {} --yes`".format(image) in out
    code, out, _err = run(capsys, *shlex.split(rollback)[1:])
    assert code == 0 and "restored" in out
    assert (image / "etc/selinux/config").read_text() == SELINUX_ENFORCING


def test_suggested_rollback_names_the_backup_dir(image, tmp_path, capsys):
    (image / "etc/selinux/config").write_text(SELINUX_ENFORCING)
    backups = str(tmp_path / "backups")
    code, out, _err = run(capsys, "fix", "--root", str(image), "--items", "selinux", "--yes",
                          "--backup-dir", backups)
    assert "guestprep rollback --root {} --backup-dir {} --run ".format(image, backups) in out


def test_rollback_undoes_the_newest_run_even_within_the_same_second(image, capsys, monkeypatch):
    # Run ids are the time to the second and a random suffix: the newer run may sort first.
    from agent.core import journal
    ids = iter(["20260101T000000Z-ffff", "20260101T000000Z-0000"])
    monkeypatch.setattr(journal, "new_run_id", lambda: next(ids))
    config = image / "etc/selinux/config"
    config.write_text(SELINUX_ENFORCING)
    adjtime = image / "etc/adjtime"
    adjtime.write_text("0.0 0 0.0\n0\nLOCAL\n")
    run(capsys, "fix", "--root", str(image), "--items", "selinux", "--yes")
    run(capsys, "fix", "--root", str(image), "--items", "rtc", "--yes")
    assert adjtime.read_text().endswith("UTC\n")
    code, out, _err = run(capsys, "rollback", "--root", str(image))
    assert code == 0 and "Rolled back run 20260101T000000Z-0000." in out
    assert adjtime.read_text() == "0.0 0 0.0\n0\nLOCAL\n"
    assert config.read_text() == "SELINUX=disabled\nSELINUXTYPE=targeted\n"
    code, out, _err = run(capsys, "rollback", "--root", str(image), "--all")
    assert "Rolled back run 20260101T000000Z-ffff." in out


def test_items_take_the_names_list_shows(image, capsys):
    # `guestprep list` prints root-account, free-space and GUESTOS.Selinux: a user types those.
    code, out, err = run(capsys, "check", "--root", str(image), "--items", "root-account,free-space",
                         "--format", "json")
    assert code in (0, 3), err
    assert [r["id"] for r in json.loads(out)["results"]] == ["root_account", "free_space"]
    (image / "etc/selinux/config").write_text(SELINUX_ENFORCING)
    code, out, err = run(capsys, "plan", "--root", str(image), "--items", "GUESTOS.Selinux")
    assert "+SELINUX=disabled" in out


def test_command_help_says_what_the_command_does(capsys):
    for command, words in (("check", "Read-only check"), ("fix", "only when named in --items"),
                           ("plan", "writes nothing"), ("rollback", "Undo the most recent fix run")):
        code, out, _err = run(capsys, command, "--help")
        assert code == 0 and words in " ".join(out.split()), command


def test_check_report_names_the_seed_documents_it_cites(image, capsys):
    code, out, _err = run(capsys, "check", "--root", str(image))
    assert "(seed 004's community image form)" in out
    assert out.rstrip("\n").splitlines()[-1].startswith("Seeds cited above are Alibaba Cloud ECS documents:")
    assert "004 'Community images'" in out


def test_plan_script_says_which_root_it_was_made_for(image, capsys):
    (image / "etc/selinux/config").write_text(SELINUX_ENFORCING)
    code, out, _err = run(capsys, "plan", "--root", str(image), "--items", "selinux", "--format", "script")
    assert "# Generated " in out
    assert " by: guestprep plan --root {} --format script --items selinux\n".format(image) in out


def test_seal_at_shutdown_refusal_suggests_commands_for_the_same_root(image, capsys):
    code, _out, err = run(capsys, "fix", "--root", str(image), "--at-shutdown", "seal")
    assert code == 2
    assert "Run `guestprep fix --root {0} --items seal` last, then `guestprep clean --root {0} --yes`".format(
        image) in err


# -- what a newcomer reads (issue 14) ---------------------------------------------------

@pytest.mark.parametrize("argv0, on_path, expected", [
    ("/usr/bin/guestprep", "/usr/bin/guestprep", "guestprep"),
    # A virtual environment's console script, not on PATH: typed by its path.
    (".venv/run/bin/guestprep", None, ".venv/run/bin/guestprep"),
    # Another guestprep earlier on PATH must not be the one suggested.
    ("/opt/gp/bin/guestprep", "/usr/bin/guestprep", "/opt/gp/bin/guestprep"),
    ("dist/guestprep.pyz", None, "python3 dist/guestprep.pyz"),
    ("/tmp/my dir/guestprep.pyz", None, "python3 '/tmp/my dir/guestprep.pyz'"),
    ("/src/guestprep/agent/__main__.py", None, "python3 -m agent"),
])
def test_suggested_commands_start_guestprep_as_this_run_was_started(argv0, on_path, expected):
    from agent.output import report
    assert report.program_name(argv0, which=lambda name: on_path) == expected


def test_hints_and_final_line_use_the_program_this_run_was_started_as(image, capsys, monkeypatch):
    (image / "etc/selinux/config").write_text(SELINUX_ENFORCING)
    monkeypatch.setattr(cli.sys, "argv", ["dist/guestprep.pyz", "check", "--root", str(image)])
    code = cli.main()
    out = capsys.readouterr()[0]
    assert code == 3
    named = re.search(r"`python3 dist/guestprep\.pyz plan --root {} --items (\S+)` shows the changes"
                      .format(re.escape(str(image))), out).group(1)
    assert "selinux" in named.split(",")
    # A hint's own mention of a guestprep command is typable too, with this run's --root.
    assert "python3 dist/guestprep.pyz fix --root {} --items".format(image) in out
    assert "`guestprep " not in out


def test_after_fix_the_blocking_line_names_the_item_plain_fix_never_applies(image, capsys):
    (image / "var/lib/dpkg/status").write_text(
        (image / "var/lib/dpkg/status").read_text()
        + "\nPackage: qemu-guest-agent\nStatus: install ok installed\nVersion: 1:7.2\n")
    code, out, _err = run(capsys, "fix", "--root", str(image), "--yes")
    assert code == 3
    tail = out[out.index("Blocking:"):]
    assert "qemu-ga (FAIL)" in tail and "GUESTOS.Selinux" not in tail
    fix_line = re.compile(r"`guestprep fix --root {} --items (\S+)` applies them".format(re.escape(str(image))))
    assert "qemu-ga" in fix_line.search(tail).group(1).split(",")
    code, out, _err = run(capsys, "check", "--root", str(image))
    assert code == 3 and "applies the safe ones" not in out
    assert "qemu-ga" in fix_line.search(out).group(1).split(",")


def test_declining_the_prompt_changes_nothing_and_keeps_the_blocking_exit_code(image, capsys, monkeypatch):
    (image / "etc/selinux/config").write_text(SELINUX_ENFORCING)
    before = (image / "etc/selinux/config").read_bytes()
    monkeypatch.setattr(cli, "_confirm", lambda plans: False)
    code, out, _err = run(capsys, "fix", "--root", str(image))
    assert code == 3
    assert "Nothing changed." in out and "GUESTOS.Selinux (FAIL)" in out
    assert (image / "etc/selinux/config").read_bytes() == before


def test_one_vocabulary_for_items_in_list_errors_json_and_readme(image, capsys):
    import re
    code, out, _err = run(capsys, "list", "--format", "json")
    rows = json.loads(out)["checks"]
    listed = [r["repair_item"] or r["item"] for r in rows]
    code, _out, err = run(capsys, "plan", "--root", str(image), "--items", "bogus")
    assert code == 2
    known = err.split("known (as `guestprep list` shows them): ")[1].split(", or all")[0].split(", ")
    assert known == listed                       # each once, spelled as list spells it
    assert not any("_" in name for name in known)
    # Every name list shows selects its check, and so does the item ID (any case).
    for r in rows:
        for name in filter(None, (r["repair_item"], r["item"], r["item"].lower())):
            code, out, err = run(capsys, "check", "--root", str(image), "--items", name, "--format", "json")
            assert code in (0, 3), (name, err)
            assert [x["id"] for x in json.loads(out)["results"]] == [r["id"]]
    # The README's --items paragraph names every repair item list shows.
    readme = open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")).read()
    paragraph = re.search(r"`--items` takes the repair items of the catalogue \(`([^`]*)`", readme).group(1).split()
    assert sorted(paragraph) == sorted(r["repair_item"] for r in rows if r["repair_item"])
