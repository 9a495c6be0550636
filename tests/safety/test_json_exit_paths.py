"""--format json: every way out of every command prints exactly one JSON document on stdout.

A pipeline reads stdout with a JSON parser whatever happened: a read-only target, a busy
lock, a usage error found after parsing, an internal error, ENOSPC, a failed rollback, a
plan the user refused. Each is driven here (as a user runs guestprep, or in-process with
the failure injected) and stdout must be one document: the report's envelope, with an
"error" object (message, exit code) when the command ended without a report.
"""
import errno
import json
import os
import signal
import subprocess
import sys

import pytest

import safetylib
from safetylib import guestprep
from test_concurrency_and_exit_codes import wait_stopped
from test_enospc_readonly import read_only_bind

from agent.output import cli, report
from agent.core.engine import Engine
from agent.core.journal import Journal, JournalError

JSON_COMMANDS = ("check", "plan", "fix", "rollback", "clean")


PARSED = {"documents": 0, "causes": set()}


def one_document(done_or_out, code=None):
    """The single JSON document on stdout (json.loads refuses two, or trailing text)."""
    out = done_or_out if isinstance(done_or_out, str) else done_or_out.out
    assert out.strip(), "stdout is empty: {!r}".format(done_or_out)
    data = json.loads(out)
    assert data["format_version"] == report.FORMAT_VERSION
    if code is not None:
        assert data["exit_code"] == code, data
    PARSED["documents"] += 1
    PARSED["causes"].add((data.get("command"), data.get("exit_code")))
    return data


def args_for(command, root, *more):
    args = [command, "--root", root, "--format", "json"] + list(more)
    if command in ("fix", "clean"):
        args.append("--yes")
    return args


@pytest.mark.parametrize("command", JSON_COMMANDS)
@pytest.mark.parametrize("cause", ("not-a-directory", "not-linux", "unknown-item", "bad-option"))
def test_usage_errors_are_one_document(command, cause, tmp_path):
    mini = safetylib.mini_root(str(tmp_path / "root"))
    if cause == "not-a-directory":
        args = args_for(command, str(tmp_path / "absent"))
    elif cause == "not-linux":
        os.makedirs(str(tmp_path / "empty"))
        args = args_for(command, str(tmp_path / "empty"))
    elif cause == "unknown-item":
        if command in ("rollback", "clean"):
            pytest.skip(command + " takes no --items")
        args = args_for(command, mini, "--items", "nosuch")
    else:
        args = args_for(command, mini, "--no-such-option")
    done = guestprep(*args)
    safetylib.no_traceback(done)
    assert done.returncode == report.EXIT_USAGE, done
    data = one_document(done, report.EXIT_USAGE)
    assert data["error"]["exit_code"] == report.EXIT_USAGE and data["error"]["message"], data
    assert data["command"] == command


@pytest.mark.usefixtures("as_root")
@pytest.mark.parametrize("command", JSON_COMMANDS)
def test_read_only_target(command, mini, tmp_path, mounts):
    """The issue's case: fix on a read-only root printed nothing on stdout."""
    if command == "rollback":
        assert guestprep("fix", "--root", mini, "--yes", "--items", "selinux").returncode in (0, 3)
    ro = read_only_bind(mini, str(tmp_path / "ro"), mounts)
    done = guestprep(*args_for(command, ro))
    safetylib.no_traceback(done)
    data = one_document(done, done.returncode)
    if command in ("fix", "rollback", "clean") and done.returncode not in (0, 3):
        assert "Read-only file system" in data["error"]["message"], data


def test_busy_lock(mini):
    first = subprocess.Popen([sys.executable, "-m", "agent", "fix", "--root", mini, "--yes"],
                             cwd=safetylib.REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=safetylib.cli_env(crash_at="between-steps:1:stop"))
    try:
        wait_stopped(first.pid)
        for command in ("fix", "rollback", "clean"):
            done = guestprep(*args_for(command, mini))
            assert done.returncode != 0, done
            data = one_document(done, done.returncode)
            assert "pid {}".format(first.pid) in data["error"]["message"], data
    finally:
        os.kill(first.pid, signal.SIGCONT)
        first.communicate(timeout=60)


def test_clean_without_yes_and_nothing_to_roll_back(mini):
    done = guestprep("rollback", "--root", mini, "--format", "json")
    assert done.returncode == 0, done
    assert one_document(done, 0)["changes"] == []
    guestprep("fix", "--root", mini, "--yes", "--items", "selinux")
    done = guestprep("clean", "--root", mini, "--format", "json")
    assert done.returncode == report.EXIT_USAGE, done
    assert "--yes" in one_document(done, report.EXIT_USAGE)["error"]["message"]


def test_a_damaged_journal_fails_rollback_with_one_document(mini):
    guestprep("fix", "--root", mini, "--yes", "--items", "selinux")
    runs = os.path.join(mini, "var/lib/guestprep/runs")
    (run,) = os.listdir(runs)
    with open(os.path.join(runs, run, "journal.jsonl"), "w") as handle:
        handle.write('{"type": "begin", "seq": 1, "op": "write", "path": "/etc/selinux/config", '
                     '"before": {"kind": "file", "backup": "backups/9", "sha256": "00"}}\n')
    done = guestprep("rollback", "--root", mini, "--format", "json")
    safetylib.no_traceback(done)
    assert done.returncode != 0, done
    assert one_document(done, done.returncode)["error"]["message"]


def _in_process(capsys, *args):
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("failure", (RuntimeError("boom"), KeyboardInterrupt(),
                                     OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))))
@pytest.mark.parametrize("command", ("check", "plan", "fix"))
def test_internal_errors_interrupts_and_enospc(command, failure, mini, capsys, monkeypatch):
    def fail(*_args, **_kw):
        raise failure
    monkeypatch.setattr(Engine, "run_checks", fail)
    code, out, err = _in_process(capsys, *args_for(command, mini))
    assert code == report.EXIT_INTERNAL
    data = one_document(out, report.EXIT_INTERNAL)
    assert data["error"]["message"] and data["error"]["message"] in err


def test_enospc_while_applying(mini, capsys, monkeypatch):
    def full(*_args, **_kw):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(Engine, "apply", full)
    code, out, _err = _in_process(capsys, *args_for("fix", mini))
    data = one_document(out, code)
    assert "No space left on device" in data["error"]["message"]


def test_rollback_failure_in_process(mini, capsys, monkeypatch):
    assert guestprep("fix", "--root", mini, "--yes", "--items", "selinux").returncode in (0, 3)

    def broken(*_args, **_kw):
        raise JournalError("backup backups/1 is damaged")
    monkeypatch.setattr(Journal, "rollback", broken)
    code, out, _err = _in_process(capsys, "rollback", "--root", mini, "--format", "json")
    assert code == report.EXIT_ROLLBACK_FAILED
    assert "damaged" in one_document(out, code)["error"]["message"]


def test_refused_plan_is_one_document(mini, capsys, monkeypatch):
    """On a terminal without --yes, fix asks (on stderr with --format json); a no is a document."""
    monkeypatch.setattr(cli, "_confirm", lambda plans, stream=None: False)
    code = cli.main(["fix", "--root", mini, "--format", "json"])
    out, _err = capsys.readouterr()
    data = one_document(out, code)
    # declining changes nothing; what blocked still blocks (exit 3), in the document too
    assert code == report.EXIT_BLOCKING and data["outcomes"] == [] and data["confirmed"] is False, data
    assert safetylib.file_state(mini, "/etc/selinux/config")[0] == safetylib.file_state(
        safetylib.mini_root(mini + "-again"), "/etc/selinux/config")[0]   # nothing changed


def test_zz_record():
    if PARSED["documents"] < 40:
        pytest.skip("run with the whole module: {} documents parsed".format(PARSED["documents"]))
    safetylib.record("json_exit_paths", {"documents": PARSED["documents"],
                                         "exit_codes": sorted(set(c for _cmd, c in PARSED["causes"])),
                                         "commands": sorted(set(c for c, _code in PARSED["causes"] if c))})


@pytest.mark.parametrize("args", (("--timeout", "0"), ()))
def test_boot_test_usage_errors_are_one_document(args, tmp_path):
    """boot-test prints its own result document; its usage errors (no such disk, a bad
    --timeout) are the CLI's envelope."""
    done = guestprep("boot-test", str(tmp_path / "absent.qcow2"), "--format", "json", *args)
    safetylib.no_traceback(done)
    assert done.returncode == report.EXIT_USAGE, done
    data = one_document(done, report.EXIT_USAGE)
    assert data["command"] == "boot-test" and data["error"]["message"], data
