"""SIGKILL guestprep at every crash point of a real fix and of its rollback, then recover.

On one copy of the real Debian root with the core defects (static ENI, netplan, NM keyfile
and networkd; SELinux enforcing; a data disk in fstab; LOCAL adjtime; chattr +i
/etc/shadow), plus a nodump flag and a user xattr that rollback must put back:

1. a traced `fix --yes --items <the five reversible items>` lists every passage of every crash point (agent/core/faults.py), and
   gives the complete new content of each file; a traced `rollback` lists its passages;
2. for each passage, `fix` (or `rollback` after a clean fix) is killed there with SIGKILL;
   every touched file must then be its original or its complete new content, never
   truncated or missing, and a temp file never under the real name;
3. recovery: `rollback` (or, for every second fix injection, `fix` again, which must
   complete the change, then `rollback --all`) must give back the exact original: bytes,
   mode, owner, group, inode flags, xattrs, and no file more in the touched directories;
   no run may be left pending; `clean` resets the state directory for the next one.
"""
import collections
import os
import subprocess
import time

import pytest

import safetylib
from safetylib import guestprep, snapshot

from agent.output import cli
from agent.core.engine import Engine
from agent.core.journal import StateDir
from agent.core.rootfs import Root

pytestmark = pytest.mark.e2e

DEBIAN = safetylib.e2e_debian_tests()
TOUCHED = tuple(DEBIAN.TOUCHED) + ("/etc/shadow",)
# The reversible items of the defects, named: the other checks (the initramfs readers
# among them) would cost seconds per run and change nothing on disk.
ITEMS = ("--items", "selinux,dhcp,fstab,shadow,rtc")
FS_NODUMP_FL = 0x40


def prepare(debian):
    DEBIAN.put_defects(debian)
    for path in ("/etc/fstab", "/etc/adjtime"):
        # nodump (+d): a flag the new inode of an atomic write lacks, so rollback must set it.
        assert subprocess.call(["chattr", "+d", debian.p(path)]) == 0
    os.setxattr(debian.p("/etc/fstab"), "user.guestprep-test", b"keep me")


def read_trace(path):
    """[(point, n, detail)] in the order the run passed them."""
    counts = collections.Counter()
    passages = []
    with open(path) as handle:
        for line in handle:
            point, _, detail = line.rstrip("\n").partition("\t")
            counts[point] += 1
            passages.append((point, counts[point], detail))
    return passages


def loose(state):
    """A file's state without its inode flags (checked apart: they change after the bytes)."""
    if state is None or state[0] == "symlink":
        return state
    return state[:4] + state[5:]


def assert_original_or_new(root, original, fixed, where):
    now = snapshot(root, TOUCHED)
    for path in TOUCHED:
        state = now[path]
        assert state is not None, "{}: {} is missing".format(where, path)
        assert loose(state) in (loose(original[path]), loose(fixed[path])), \
            "{}: {} is neither its original nor its new content: {}".format(where, path, state)
        assert state[4] in (original[path][4], fixed[path][4]), "{}: {} flags {:#x}".format(where, path, state[4])
    for directory in set(os.path.dirname(p) + "/" for p in TOUCHED):
        extra = set(now[directory]) - set(original[directory])
        assert all(safetylib.TEMP_RE.match(name) for name in extra), \
            "{}: unexpected files in {}: {}".format(where, directory, sorted(extra))
    return len(safetylib.leftovers(root, TOUCHED))


def assert_back_to_original(root, original, where):
    now = snapshot(root, TOUCHED)
    for key in sorted(original):
        assert now[key] == original[key], "{}: {} is {} instead of {}".format(where, key, now[key], original[key])
    pending = Engine.journals_to_roll_back(StateDir(Root(root)), every=True)
    assert not pending, "{}: runs still to roll back: {}".format(where, [j.run_id for j in pending])


def reset(root, where):
    assert cli.main(["clean", "--root", root, "--yes"]) == 0, where
    assert not os.path.exists(os.path.join(root, "var/lib/guestprep")), where


def test_sigkill_at_every_crash_point_then_rollback_or_fix_again(debian_root, tmp_path, capsys):
    started = time.time()
    root = debian_root.path
    prepare(debian_root)
    original = snapshot(root, TOUCHED)

    fix_trace, rollback_trace = str(tmp_path / "fix.trace"), str(tmp_path / "rollback.trace")
    first = guestprep("fix", "--root", root, "--yes", *ITEMS, trace=fix_trace)
    assert first.returncode in (0, 3), first
    safetylib.no_traceback(first)
    fixed = snapshot(root, TOUCHED)
    for path in TOUCHED:
        assert fixed[path] != original[path], "the fix did not touch " + path
    assert not fixed["/etc/shadow"][4] & 0x10 and original["/etc/shadow"][4] & 0x10
    done = guestprep("rollback", "--root", root, trace=rollback_trace)
    assert done.returncode == 0, done
    assert_back_to_original(root, original, "traced rollback")
    reset(root, "traced rollback")

    fix_passages = read_trace(fix_trace)
    rollback_passages = read_trace(rollback_trace)
    injections = []
    by_point = collections.Counter()
    by_path = collections.Counter()
    leftovers_seen = 0

    for index, (point, n, detail) in enumerate(fix_passages):
        where = "fix killed at {}:{} ({})".format(point, n, detail)
        crashed = guestprep("fix", "--root", root, "--yes", *ITEMS, crash_at="{}:{}".format(point, n))
        assert crashed.killed, where + ": not killed: {!r}".format(crashed)
        leftovers_seen += assert_original_or_new(root, original, fixed, where)
        if index % 2:
            recovery = "fix again, then rollback --all"
            again = guestprep("fix", "--root", root, "--yes", *ITEMS)
            assert again.returncode == first.returncode, (where, again)
            safetylib.no_traceback(again)
            now = snapshot(root, TOUCHED)
            for path in TOUCHED:
                assert loose(now[path]) == loose(fixed[path]) and now[path][4] == fixed[path][4], \
                    "{}: fix again left {} as {}".format(where, path, now[path])
            done = guestprep("rollback", "--root", root, "--all")
        else:
            recovery = "rollback"
            done = guestprep("rollback", "--root", root)
        assert done.returncode == 0, (where, done)
        safetylib.no_traceback(done)
        assert_back_to_original(root, original, where + ", after " + recovery)
        reset(root, where)
        injections.append({"command": "fix", "point": point, "n": n, "detail": detail, "recovery": recovery})
        by_point["fix " + point] += 1
        if detail.startswith("/"):
            by_path[detail] += 1

    for point, n, detail in rollback_passages:
        where = "rollback killed at {}:{} ({})".format(point, n, detail)
        done = guestprep("fix", "--root", root, "--yes", *ITEMS)
        assert done.returncode == first.returncode, (where, done)
        crashed = guestprep("rollback", "--root", root, crash_at="{}:{}".format(point, n))
        assert crashed.killed, where + ": not killed: {!r}".format(crashed)
        leftovers_seen += assert_original_or_new(root, original, fixed, where)
        done = guestprep("rollback", "--root", root)
        assert done.returncode == 0, (where, done)
        safetylib.no_traceback(done)
        assert_back_to_original(root, original, where + ", after rollback again")
        reset(root, where)
        injections.append({"command": "rollback", "point": point, "n": n, "detail": detail,
                           "recovery": "rollback again"})
        by_point["rollback " + point] += 1
        if detail.startswith("/"):
            by_path[detail] += 1
    capsys.readouterr()

    distinct = set((i["command"], i["point"], i["n"]) for i in injections)
    assert len(distinct) == len(injections) >= 100
    for path in TOUCHED:
        assert by_path[path] >= 3, "too few injections while {} changed: {}".format(path, dict(by_path))
    safetylib.record("crash", {
        "injections": len(injections),
        "survived": len(injections),
        "fix_injections": len(fix_passages),
        "rollback_injections": len(rollback_passages),
        "points": sorted(set(p for p, _n, _d in fix_passages + rollback_passages)),
        "by_point": dict(by_point),
        "by_path": dict(by_path),
        "files": list(TOUCHED),
        "temp_leftovers_seen_and_removed": leftovers_seen,
        "seconds": round(time.time() - started, 1),
    })
