"""Two runs against one root never interleave; every exit code of STYLE.md is reachable.

The first `fix` is frozen with SIGSTOP right after its first step (the crash-point hook's
`:stop`), so it holds the lock for certain while the second `fix`, a `rollback` and a
`clean` try their luck: each must say which process holds the lock, exit 6 (busy) and
change nothing; the first then finishes normally. The lock is the target root's, not the
backup directory's: a second run with another --backup-dir (or through a read-only bind
mount of the same root) is refused too, and two fixes started together on a root that has
no /var/lib/guestprep yet give one busy message, never "File exists" or an internal error.
"""
import os
import signal
import subprocess
import sys
import time

import pytest

import safetylib
from safetylib import MINI_TOUCHED, guestprep, snapshot

EXIT_CODES_SEEN = set()


def wait_stopped(pid, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        with open("/proc/{}/stat".format(pid)) as handle:
            if handle.read().rsplit(")", 1)[1].split()[0] == "T":
                return
        time.sleep(0.05)
    raise AssertionError("process {} did not stop".format(pid))


def assert_busy(result, holder_pid):
    assert result.returncode == 6, result
    assert "is busy: another guestprep run (pid {}:".format(holder_pid) in result.err, result
    assert "-m agent fix" in result.err, result          # the holder's command line is named
    assert "nothing was changed" in result.err and "Traceback" not in result.err, result


def frozen_fix(root, *extra, **kw):
    """A `fix` stopped (SIGSTOP) at a crash point while it holds the lock."""
    proc = subprocess.Popen([sys.executable, "-m", "agent", "fix", "--root", root, "--yes"] + list(extra),
                            cwd=safetylib.REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=safetylib.cli_env(crash_at=kw.get("at", "between-steps:1:stop")))
    wait_stopped(proc.pid)
    return proc


def resume(proc):
    os.kill(proc.pid, signal.SIGCONT)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err


def test_a_second_run_waits_its_turn_and_changes_nothing(mini):
    first = subprocess.Popen([sys.executable, "-m", "agent", "fix", "--root", mini, "--yes"],
                             cwd=safetylib.REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=safetylib.cli_env(crash_at="between-steps:1:stop"))
    try:
        wait_stopped(first.pid)
        during = snapshot(mini, MINI_TOUCHED)
        runs = os.path.join(mini, "var/lib/guestprep/runs")
        runs_during = sorted(os.listdir(runs))
        assert len(runs_during) == 1
        for args in (("fix", "--root", mini, "--yes"), ("fix", "--root", mini, "--yes", "--format", "json"),
                     ("rollback", "--root", mini), ("clean", "--root", mini, "--yes")):
            second = guestprep(*args)
            assert_busy(second, first.pid)
            assert snapshot(mini, MINI_TOUCHED) == during, args
            assert sorted(os.listdir(runs)) == runs_during, args
            EXIT_CODES_SEEN.add(6)
    finally:
        os.kill(first.pid, signal.SIGCONT)
        out, err = first.communicate(timeout=60)
    assert first.returncode in (0, 3), err
    assert b"FIXED" in out
    after = snapshot(mini, MINI_TOUCHED)
    assert all(after[p] != during[p] for p in MINI_TOUCHED[1:]) or after != during
    safetylib.record("concurrency", {"runs_refused": 4, "exit_code": 6})


def test_the_lock_is_the_roots_whatever_the_backup_directory(mini, tmp_path):
    # fix --root R holds the lock; fix --root R --backup-dir D must not run beside it, nor
    # the other way round.
    backups = str(tmp_path / "backups")
    for first_args, second_args in ((("--backup-dir", backups), ()), ((), ("--backup-dir", backups))):
        first = frozen_fix(mini, *first_args)
        try:
            during = snapshot(mini, MINI_TOUCHED)
            second = guestprep("fix", "--root", mini, "--yes", *second_args)
            assert_busy(second, first.pid)
            assert snapshot(mini, MINI_TOUCHED) == during
            if second_args:     # a backup directory with runs of its own: its rollback waits too
                assert_busy(guestprep("rollback", "--root", mini, *second_args), first.pid)
        finally:
            code, _out, err = resume(first)
        assert code in (0, 3), err
        assert guestprep("rollback", "--root", mini, *first_args).returncode == 0
    EXIT_CODES_SEEN.add(6)


@pytest.mark.usefixtures("as_root")
def test_a_read_only_bind_mount_of_the_root_is_the_same_target(mini, tmp_path, mounts):
    ro = str(tmp_path / "ro")
    os.makedirs(ro)
    mounts.add(ro)
    subprocess.check_call(["mount", "--bind", mini, ro])
    subprocess.check_call(["mount", "-o", "remount,bind,ro", ro])
    first = frozen_fix(mini)
    try:
        second = guestprep("fix", "--root", ro, "--yes", "--backup-dir", str(tmp_path / "backups"))
        assert_busy(second, first.pid)
        assert guestprep("check", "--root", ro).returncode == 3      # checking needs no lock
    finally:
        code, _out, err = resume(first)
    assert code in (0, 3), err


def test_two_fixes_racing_to_make_the_state_directory(tmp_path):
    # The first holds the lock before var/lib/guestprep exists (frozen at the lock itself):
    # the second must get the busy message, not "cannot take the lock ...: File exists", exit 4.
    root = safetylib.mini_root(str(tmp_path / "frozen"))
    first = frozen_fix(root, at="lock-taken:1:stop")
    try:
        second = guestprep("fix", "--root", root, "--yes")
        assert_busy(second, first.pid)
    finally:
        code, _out, err = resume(first)
    assert code in (0, 3), err
    # And started together for real, a few times: each ends 0/3 (it ran) or 6 (busy).
    codes = []
    for n in range(4):
        root = safetylib.mini_root(str(tmp_path / "race{}".format(n)))
        procs = [subprocess.Popen([sys.executable, "-m", "agent", "fix", "--root", root, "--yes"],
                                  cwd=safetylib.REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  env=safetylib.cli_env()) for _ in range(2)]
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            err = err.decode("utf-8", "replace")
            assert proc.returncode in (0, 3, 6), err
            assert "File exists" not in err and "internal error" not in err and "Traceback" not in err, err
            if proc.returncode == 6:
                assert "is busy: another guestprep run" in err, err
            codes.append(proc.returncode)
        assert guestprep("rollback", "--root", root, "--all").returncode == 0
    safetylib.record("concurrency_race", {"races": 4, "busy": codes.count(6)})


CHILD_HOLDS_THE_LOCK = r"""
import os, subprocess, sys
sys.path.insert(0, sys.argv[1])
from agent.core.journal import StateDir
from agent.core.rootfs import Root
state = StateDir(Root(sys.argv[2]))
state.lock()
# A command that inherits the root's lock fd (what the runner hands its children) ...
child = subprocess.Popen(["sleep", "60"], pass_fds=state.lock_fds, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
print(child.pid, flush=True)
os._exit(0)     # ... outlives guestprep, killed before it could unlock
"""


def test_a_command_left_running_keeps_the_target_busy(mini, tmp_path):
    holder = subprocess.run([sys.executable, "-c", CHILD_HOLDS_THE_LOCK, safetylib.REPO, mini],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert holder.returncode == 0, holder
    child = int(holder.stdout.split()[0])
    try:
        busy = guestprep("rollback", "--root", mini)
        assert busy.returncode == 6, busy
        assert "which has exited; a command it started still holds the lock" in busy.err, busy
        # The command holds the root's own lock too, not only the backup directory's: a run
        # with its backups elsewhere is just as busy (it held only the latter before).
        elsewhere = guestprep("fix", "--root", mini, "--yes", "--items", "selinux",
                              "--backup-dir", str(tmp_path / "elsewhere"))
        assert elsewhere.returncode == 6, elsewhere
    finally:
        os.kill(child, signal.SIGKILL)
        time.sleep(0.2)
    done = guestprep("fix", "--root", mini, "--yes", "--items", "selinux")
    assert done.returncode in (0, 3), done


def test_exit_0_nothing_blocks(tmp_path):
    root = safetylib.mini_root(str(tmp_path / "root"), defects=False)
    done = guestprep("check", "--root", root, "--items", "selinux,fstab,rtc,dhcp")
    assert done.returncode == 0, done
    done = guestprep("fix", "--root", root, "--yes", "--items", "selinux,fstab,rtc,dhcp")
    assert done.returncode == 0 and "Nothing to fix" in done.out, done
    EXIT_CODES_SEEN.add(0)


def test_exit_1_internal_error(mini):
    # A bug nothing from outside can cause on purpose: one injected into a real process.
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from agent.core import engine; from agent.output import cli; "
         "engine.Engine.run_checks = lambda *a, **k: 1 / 0; sys.argv[0] = 'guestprep'; cli.main_exit()",
         "check", "--root", mini], cwd=safetylib.REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        universal_newlines=True, timeout=120)
    assert done.returncode == 1, done
    assert "internal error: ZeroDivisionError" in done.stderr and "Traceback" not in done.stderr
    EXIT_CODES_SEEN.add(1)


def test_arming_an_image_without_the_unit_is_refused_with_exit_2(mini):
    done = guestprep("fix", "--root", mini, "--at-shutdown", "selinux")
    assert done.returncode == 2 and "cannot arm" in done.err, done


def test_exit_2_usage_errors(mini, tmp_path):
    for args in (("check", "--root", mini, "--items", "nosuch"), ("check", "--root", str(tmp_path / "absent")),
                 ("frobnicate",), ("fix", "--root", mini, "--format", "xml"), ()):
        done = guestprep(*args)
        assert done.returncode == 2, (args, done)
        assert "Traceback" not in done.err
    EXIT_CODES_SEEN.add(2)


def test_exit_3_blocking_findings(mini):
    done = guestprep("check", "--root", mini)
    assert done.returncode == 3 and "FAIL" in done.out, done
    EXIT_CODES_SEEN.add(3)


@pytest.mark.usefixtures("as_root")
def test_exit_4_a_fix_failed_and_was_rolled_back(mini):
    original = snapshot(mini, MINI_TOUCHED)
    subprocess.check_call(["chattr", "+i", mini + "/etc/selinux/config"])
    try:
        done = guestprep("fix", "--root", mini, "--yes", "--items", "selinux,rtc")
    finally:
        subprocess.call(["chattr", "-i", mini + "/etc/selinux/config"])
    assert done.returncode == 4, done
    assert "ROLLED BACK" in done.out and "Operation not permitted" in done.out, done
    now = snapshot(mini, MINI_TOUCHED)
    assert now["/etc/selinux/config"][:4] == original["/etc/selinux/config"][:4]
    assert now["/etc/adjtime"] != original["/etc/adjtime"]           # the other item was fixed
    EXIT_CODES_SEEN.add(4)


def test_exit_5_rollback_needs_attention(mini):
    guestprep("fix", "--root", mini, "--yes", "--items", "selinux")
    safetylib.write(mini, "/etc/selinux/config", "SELINUX=permissive\n# the admin's edit\n")
    done = guestprep("rollback", "--root", mini)
    assert done.returncode == 5 and "conflict" in done.out, done
    with open(mini + "/etc/selinux/config") as handle:
        assert handle.read() == "SELINUX=permissive\n# the admin's edit\n"
    EXIT_CODES_SEEN.add(5)


def test_zz_every_exit_code_was_reached():
    if len(EXIT_CODES_SEEN) < 7:
        pytest.skip("run with the whole module: seen {}".format(sorted(EXIT_CODES_SEEN)))
    assert EXIT_CODES_SEEN == {0, 1, 2, 3, 4, 5, 6}
    safetylib.record("exit_codes", {"reached": sorted(EXIT_CODES_SEEN)})
