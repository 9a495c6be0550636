"""Two runs against one root never interleave; every exit code of STYLE.md is reachable.

The first `fix` is frozen with SIGSTOP right after its first step (the crash-point hook's
`:stop`), so it holds the lock for certain while the second `fix`, a `rollback` and a
`clean` try their luck: each must say which process holds the lock, exit 1 (STYLE.md:
the lock is reported as exit 1) and change nothing; the first then finishes normally.
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
            assert second.returncode == 1, second
            assert "another guestprep run (pid {}) holds".format(first.pid) in second.err, second
            assert "Traceback" not in second.err
            assert snapshot(mini, MINI_TOUCHED) == during, args
            assert sorted(os.listdir(runs)) == runs_during, args
            EXIT_CODES_SEEN.add(1)
    finally:
        os.kill(first.pid, signal.SIGCONT)
        out, err = first.communicate(timeout=60)
    assert first.returncode in (0, 3), err
    assert b"FIXED" in out
    after = snapshot(mini, MINI_TOUCHED)
    assert all(after[p] != during[p] for p in MINI_TOUCHED[1:]) or after != during
    safetylib.record("concurrency", {"runs_refused": 4})


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
        [sys.executable, "-c", "import sys; from agent import engine, cli; "
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
    if len(EXIT_CODES_SEEN) < 6:
        pytest.skip("run with the whole module: seen {}".format(sorted(EXIT_CODES_SEEN)))
    assert EXIT_CODES_SEEN == {0, 1, 2, 3, 4, 5}
    safetylib.record("exit_codes", {"reached": sorted(EXIT_CODES_SEEN)})
