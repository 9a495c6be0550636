"""A fix on a filesystem that fills up, or that is read-only: a clear error, exit 4, no partial change.

The full filesystem is a small tmpfs mounted inside pytest's temporary directory, holding
a small Debian-like root (or only --backup-dir). A filler file leaves exactly k free
pages, for every k from 0 to past what a whole fix needs, so the space runs out at every
write of a fix in turn: the state lock, the journal, a backup, a temp file, the log.
Each run must exit 4 (or succeed, once there is room), name the problem, leave every
file its original or its complete new content (the original for each item it reports
ROLLED BACK), leave no temp file, and `rollback` must then give back the original.
Every mount is unmounted at teardown, even when a test fails.
"""
import errno
import json
import os
import subprocess

import pytest

import safetylib
from safetylib import MINI_TOUCHED, guestprep, snapshot

PAGE = 4096
ITEM_FILES = {"selinux": ["/etc/selinux/config"], "fstab": ["/etc/fstab"], "rtc": ["/etc/adjtime"],
              "dhcp": ["/etc/network/interfaces"]}


def mount_tmpfs(path, mounts, size="512k"):
    os.makedirs(path)
    mounts.add(path)
    subprocess.check_call(["mount", "-t", "tmpfs", "-o", "size={},mode=0755".format(size), "tmpfs", path])
    return path


def fill(mountpoint, leave_pages):
    """Fill the filesystem but `leave_pages` free pages; returns the filler's path."""
    filler = os.path.join(mountpoint, "filler")
    st = os.statvfs(mountpoint)
    size = max(0, (st.f_bavail - leave_pages) * st.f_frsize)
    with open(filler, "wb") as handle:
        try:
            handle.write(b"\0" * size)
            handle.flush()
        except OSError as e:
            assert e.errno == errno.ENOSPC
    return filler


def free_pages(mountpoint):
    return os.statvfs(mountpoint).f_bavail


def fixed_content(tmp_path):
    """The complete new content of each file, from a fix with room enough."""
    root = safetylib.mini_root(str(tmp_path / "reference"))
    done = guestprep("fix", "--root", root, "--yes", "--format", "json")
    assert done.returncode in (0, 3), done
    pristine = safetylib.mini_root(str(tmp_path / "pristine"))
    return root, snapshot(root, MINI_TOUCHED, flags=False), snapshot(pristine, MINI_TOUCHED, flags=False), \
        done.returncode


def check_outcome(done, root, original, fixed, where):
    """Exit 0/3 or 4 with a clear reason; each file original or new; failed items original."""
    safetylib.no_traceback(done)
    data = json.loads(done.out)
    outcomes = dict((o["id"], o) for o in data.get("outcomes", []))
    rolled_back = [i for i, o in outcomes.items() if o["outcome"] == "ROLLED BACK"]
    now = snapshot(root, MINI_TOUCHED, flags=False)
    for item, paths in ITEM_FILES.items():
        for path in paths:
            assert now[path] in (original[path], fixed[path]), "{}: {} partly changed: {}".format(where, path, now[path])
            if item in rolled_back:
                assert now[path] == original[path], "{}: {} ROLLED BACK but changed".format(where, item)
            elif outcomes.get(item, {}).get("outcome") == "FIXED":
                assert now[path] == fixed[path], "{}: {} FIXED but not changed".format(where, item)
    assert not safetylib.leftovers(root, MINI_TOUCHED), where
    if rolled_back:
        assert done.returncode == 4, (where, done)
        messages = " ".join(outcomes[i]["message"] for i in rolled_back) + done.err
        assert "No space left on device" in messages or "Read-only file system" in messages, (where, done)
    return rolled_back


@pytest.mark.usefixtures("as_root")
def test_root_on_a_filesystem_that_fills_up(tmp_path, mounts):
    _ref, fixed, original, full_rc = fixed_content(tmp_path)
    mnt = mount_tmpfs(str(tmp_path / "small"), mounts)
    root = os.path.join(mnt, "root")
    runs, failures_seen, k = 0, set(), 0
    while True:
        safetylib.mini_root(root)
        assert snapshot(root, MINI_TOUCHED, flags=False) == original
        filler = fill(mnt, k)
        where = "fix with {} free page(s)".format(free_pages(mnt))
        done = guestprep("fix", "--root", root, "--yes", "--format", "json")
        runs += 1
        rolled_back = check_outcome(done, root, original, fixed, where)
        os.unlink(filler)
        back = guestprep("rollback", "--root", root)
        assert back.returncode == 0, (where, back)
        assert snapshot(root, MINI_TOUCHED, flags=False) == original, where
        assert guestprep("clean", "--root", root, "--yes").returncode == 0
        failures_seen.add(tuple(sorted(rolled_back)))
        if not rolled_back:
            assert done.returncode == full_rc, (where, done)
            break
        k += 1
        assert k < 64, "a fix still fails with 64 free pages"
    assert len(failures_seen) >= 2   # the space ran out at different items in turn
    safetylib.record("enospc_root", {"runs": runs, "pages_needed": k})


@pytest.mark.usefixtures("as_root")
def test_backup_dir_on_a_filesystem_that_fills_up(tmp_path, mounts):
    _ref, fixed, original, full_rc = fixed_content(tmp_path)
    mnt = mount_tmpfs(str(tmp_path / "small"), mounts)
    backups = os.path.join(mnt, "backups")
    root = str(tmp_path / "root")
    runs, k = 0, 0
    while True:
        safetylib.mini_root(root)
        filler = fill(mnt, k)
        where = "fix with --backup-dir on {} free page(s)".format(free_pages(mnt))
        done = guestprep("fix", "--root", root, "--yes", "--format", "json", "--backup-dir", backups)
        runs += 1
        rolled_back = check_outcome(done, root, original, fixed, where)
        os.unlink(filler)
        back = guestprep("rollback", "--root", root, "--backup-dir", backups)
        assert back.returncode == 0, (where, back)
        assert snapshot(root, MINI_TOUCHED, flags=False) == original, where
        assert guestprep("clean", "--root", root, "--yes", "--backup-dir", backups).returncode == 0
        if not rolled_back:
            assert done.returncode == full_rc, (where, done)
            break
        k += 1
        assert k < 64, "a fix still fails with 64 free pages"
    safetylib.record("enospc_backup_dir", {"runs": runs, "pages_needed": k})


def read_only_bind(source, target, mounts):
    os.makedirs(target)
    mounts.add(target)
    subprocess.check_call(["mount", "--bind", source, target])
    subprocess.check_call(["mount", "-o", "remount,bind,ro", target])
    return target


@pytest.mark.usefixtures("as_root")
def test_read_only_root_without_backup_dir_is_a_clear_error(mini, tmp_path, mounts):
    original = snapshot(mini, MINI_TOUCHED)
    ro = read_only_bind(mini, str(tmp_path / "ro"), mounts)
    done = guestprep("fix", "--root", ro, "--yes")
    safetylib.no_traceback(done)
    assert done.returncode == 4, done
    assert "Read-only file system" in done.err and "nothing was changed" in done.err, done
    assert snapshot(mini, MINI_TOUCHED) == original
    assert not os.path.exists(os.path.join(mini, "var/lib/guestprep"))


@pytest.mark.usefixtures("as_root")
def test_read_only_root_with_backup_dir_rolls_every_item_back(mini, tmp_path, mounts):
    original = snapshot(mini, MINI_TOUCHED)
    subprocess.check_call(["chattr", "+i", os.path.join(mini, "etc/shadow")])
    ro = read_only_bind(mini, str(tmp_path / "ro"), mounts)
    backups = str(tmp_path / "backups")
    done = guestprep("fix", "--root", ro, "--yes", "--format", "json", "--backup-dir", backups)
    outcomes = dict((o["id"], o["outcome"]) for o in json.loads(done.out)["outcomes"])
    assert done.returncode == 4, done
    for item in ("selinux", "fstab", "rtc", "dhcp"):
        assert outcomes[item] == "ROLLED BACK", outcomes
    # shadow sees the read-only mount itself and plans nothing, or fails to clear +i
    assert outcomes["shadow"] in ("ROLLED BACK", "SKIPPED"), outcomes
    unflagged = snapshot(mini, MINI_TOUCHED, flags=False)
    check_outcome(done, mini, unflagged, unflagged, "read-only bind mount")
    assert "Read-only file system" in done.out
    assert snapshot(mini, MINI_TOUCHED) == original
    assert safetylib.Root(mini).get_flags("/etc/shadow") & 0x10
    back = guestprep("rollback", "--root", ro, "--backup-dir", backups)
    assert back.returncode == 0, back
    subprocess.call(["chattr", "-i", os.path.join(mini, "etc/shadow")])
