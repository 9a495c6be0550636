"""A fix on a filesystem that fills up, or that is read-only: a clear error, exit 4, no partial change.

The full filesystem is a small tmpfs mounted inside pytest's temporary directory, holding
a small Debian-like root (or only --backup-dir). A filler file leaves exactly k free
pages, for every k from 0 to past what a whole fix needs, so the space runs out at every
write of a fix in turn: the state lock, the journal, a backup, a temp file, the log.
Each run must exit 4 (or succeed, once there is room), name the problem, leave every
file its original or its complete new content (the original for each item it reports
ROLLED BACK), leave no temp file, and `rollback` must then give back the original.
Then KiB by KiB, from 0 to 64 KiB free (on tmpfs, and on a loop-mounted ext4 of 1 KiB
blocks where every KiB counts): `fix` either refuses before its first change (it checks the
space it needs) or finishes or rolls back; never an internal error, never "File exists",
never a run directory without its journal or a journal line that does not parse.
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


# -- every KiB from 0 to 64 free, on tmpfs and on ext4 with 1 KiB blocks ---------------------

def mount_ext4(path, mounts, tmp_path, size_kib=2048):
    """A loop-mounted ext4 of 1 KiB blocks, no reserved blocks: every KiB of free space counts."""
    image = str(tmp_path / "ext4.img")
    with open(image, "wb") as handle:
        handle.truncate(size_kib * 1024)
    subprocess.check_call(["mkfs.ext4", "-q", "-F", "-b", "1024", "-m", "0", "-N", "512", image])
    os.makedirs(path)
    mounts.add(path)
    subprocess.check_call(["mount", "-o", "loop", image, path])
    return path


def fill_kib(mountpoint, leave_kib):
    """Fill the filesystem but `leave_kib` KiB (rounded down to its blocks) of what files can use."""
    filler = os.path.join(mountpoint, "filler")
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        # Rounds: ext4 holds back blocks for data not yet written out, and gives them back at fsync.
        for chunk in (1 << 16, 4096, 1024):
            while True:
                st = os.statvfs(mountpoint)
                size = st.f_bavail * st.f_frsize - leave_kib * 1024
                if size <= 0:
                    break
                try:
                    os.write(fd, b"\0" * min(size, chunk))
                    os.fsync(fd)
                except OSError as e:
                    assert e.errno == errno.ENOSPC
                    break
    finally:
        os.close(fd)
    return filler


def run_cli(capsys, *args):
    """guestprep in this process: 65 fixes and rollbacks would take minutes as processes."""
    from agent.output import cli
    capsys.readouterr()
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return safetylib.CliResult(code, out, err, args)


def journals_readable(state_dir, where):
    """Every run directory holds a journal, every line of it parses, and guestprep trusts it."""
    from agent.core.journal import Journal, StateDir
    runs = os.path.join(state_dir, "runs")
    names = sorted(os.listdir(runs)) if os.path.isdir(runs) else []
    for name in names:
        path = os.path.join(runs, name, "journal.jsonl")
        assert os.path.isfile(path), "{}: run directory {} without a journal".format(where, name)
        with open(path, "rb") as handle:
            data = handle.read()
        for line in data.split(b"\n"):
            if line:
                json.loads(line.decode("utf-8"))        # no record glued onto a torn one
        loaded = Journal.load(StateDir(safetylib.Root("/"), state_dir), name)
        assert getattr(loaded, "problem", None) is None, (where, loaded.problem)
    return names


@pytest.mark.usefixtures("as_root")
@pytest.mark.parametrize("fs", ["tmpfs", "ext4"])
def test_every_kib_of_free_space_from_0_to_64(fs, tmp_path, mounts, capsys):
    _ref, fixed, original, full_rc = fixed_content(tmp_path)
    mnt = str(tmp_path / "small")
    if fs == "tmpfs":
        mount_tmpfs(mnt, mounts, size="768k")
        step = 4        # tmpfs counts whole pages: the KiB between change nothing
    else:
        mount_ext4(mnt, mounts, tmp_path)
        step = 1
    # Every KiB (page) from 0 to 64, then on until a fix has room to finish.
    steps = list(range(0, 65, step)) + list(range(68, 257, 4))
    root = os.path.join(mnt, "root")
    state_dir = os.path.join(root, "var/lib/guestprep")
    codes, started = {}, []
    for kib in steps:
        safetylib.mini_root(root)
        filler = fill_kib(mnt, kib)
        st = os.statvfs(mnt)
        where = "{}: fix with {} KiB free ({} KiB asked)".format(fs, st.f_bavail * st.f_frsize // 1024, kib)
        done = run_cli(capsys, "fix", "--root", root, "--yes", "--format", "json")
        codes[kib] = done.returncode
        assert done.returncode in (0, 3, 4), (where, done)      # the codes README documents for fix
        assert "internal error" not in done.err and "File exists" not in done.out + done.err, (where, done)
        document = json.loads(done.out) if done.out.strip() else {}
        if document.get("results"):
            rolled_back = check_outcome(done, root, original, fixed, where)
        else:
            # The state directory itself could not be made, before any change: said on stderr,
            # and stdout holds only the error envelope (one JSON document on every exit path).
            assert not done.out.strip() or document["error"]["exit_code"] == 4, (where, done)
            assert done.returncode == 4 and "No space left on device" in done.err, (where, done)
            assert "nothing was changed" in done.err, (where, done)
            assert snapshot(root, MINI_TOUCHED, flags=False) == original, where
            rolled_back = ["all"]
        runs = journals_readable(state_dir, where)
        if runs:
            started.append(kib)
        os.unlink(filler)
        back = run_cli(capsys, "rollback", "--root", root, "--all")
        assert back.returncode == 0, (where, back)
        assert snapshot(root, MINI_TOUCHED, flags=False) == original, where
        assert run_cli(capsys, "clean", "--root", root, "--yes").returncode == 0
        if not rolled_back:
            assert done.returncode == full_rc, (where, done)
            if kib > 64:
                break
    else:
        pytest.fail("{}: no fix finished with up to {} KiB free".format(fs, steps[-1]))
    assert codes[0] == 4
    safetylib.record("enospc_kib_" + fs, {"runs": len(codes), "kib": [0, max(codes)],
                                          "started_from_kib": min(started) if started else None,
                                          "exit_codes": sorted(set(codes.values()))})
