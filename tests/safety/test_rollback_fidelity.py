"""Rollback gives back everything about every touched file, and only once.

Bytes, mode, owner, group, xattrs (user.* and security.selinux) and inode flags come
back; files a fix created are removed; a journal torn by a crash is still rolled back
exactly once; rollback of a rolled-back run is refused clearly.
"""
import errno
import json
import os
import subprocess

import pytest

import safetylib
from safetylib import MINI_TOUCHED, guestprep, snapshot

from agent.core import journal as journal_mod
from agent.core.context import Context
from agent.core.engine import Engine
from agent.core.journal import Journal, StateDir
from agent.core.model import RemoveFile, WriteFile
from agent.core.rootfs import Root

FS_NODUMP_FL = 0x40
FS_NOATIME_FL = 0x80
SELINUX_LABEL = b"system_u:object_r:net_conf_t:s0\x00"


def set_label(host):
    """Set security.selinux; returns why not when this kernel refuses it (no SELinux LSM ...)."""
    try:
        os.setxattr(host, "security.selinux", SELINUX_LABEL)
    except OSError as e:
        return "the kernel refuses security.selinux here ({})".format(errno.errorcode.get(e.errno, e.errno))
    return ""


@pytest.mark.usefixtures("as_root")
def test_bytes_mode_owner_xattrs_and_flags_come_back(mini):
    refused = ""
    for n, path in enumerate(MINI_TOUCHED):
        host = mini + path
        os.chown(host, 1000 + n, 2000 + n)
        os.chmod(host, (0o640, 0o600, 0o644, 0o604)[n])
        os.setxattr(host, "user.origin", "file {}".format(n).encode())
        refused = set_label(host) or refused
        subprocess.check_call(["chattr", "+d" if n % 2 else "+A", host])
    original = snapshot(mini, MINI_TOUCHED)
    for path in MINI_TOUCHED:
        state = original[path]
        assert state[4] & (FS_NODUMP_FL | FS_NOATIME_FL), state
        assert ("user.origin", b"file %d" % MINI_TOUCHED.index(path)) in state[5]

    done = guestprep("fix", "--root", mini, "--yes", "--format", "json")
    assert done.returncode in (0, 3), done
    fixed = snapshot(mini, MINI_TOUCHED)
    for path in MINI_TOUCHED:
        # the fix itself keeps mode, owner, inode flags and xattrs (the SELinux label included)
        assert fixed[path][0] != original[path][0]
        assert fixed[path][1:] == original[path][1:], path

    back = guestprep("rollback", "--root", mini)
    assert back.returncode == 0, back
    assert snapshot(mini, MINI_TOUCHED) == original
    safetylib.record("fidelity", {"files": len(MINI_TOUCHED), "selinux_label": not refused,
                                  "selinux_label_skipped_because": refused})
    if refused:
        pytest.skip("bytes, mode, owner, user.* xattrs and flags verified; security.selinux not: " + refused)


def test_a_file_the_fix_created_is_removed(tmp_path):
    root = Root(safetylib.mini_root(str(tmp_path / "root")))
    ctx = Context(root)
    state = StateDir(root)
    journal = Journal.create(state, {"root": root.path})
    journal.apply(ctx, "test", WriteFile("/etc/99-guestprep.cfg",
                                         b"datasource_list: [AliYun]\n", mode=0o600))
    created = root.path + "/etc/99-guestprep.cfg"
    assert os.stat(created).st_mode & 0o777 == 0o600
    outcomes = Journal.load(state, journal.run_id).rollback(ctx)
    assert [o for _r, o, _m in outcomes] == ["restored"]
    assert not os.path.lexists(created)


def test_rollback_of_a_rolled_back_run_is_refused(mini):
    done = guestprep("fix", "--root", mini, "--yes", "--format", "json")
    run_id = json.loads(done.out)["run_id"]
    assert guestprep("rollback", "--root", mini).returncode == 0
    again = guestprep("rollback", "--root", mini)
    assert again.returncode == 0 and "Nothing to roll back" in again.out
    named = guestprep("rollback", "--root", mini, "--run", run_id)
    assert named.returncode == 2 and "run {} was already rolled back".format(run_id) in named.err, named


def test_a_journal_torn_by_a_crash_is_rolled_back_once(mini):
    """A crash mid-record leaves half a line; the rollback's own record must still parse.

    Before the fix, the `rolled-back` record was appended to the torn half line, the
    joined line never parsed, and every later `rollback` undid the same run again (and
    reported conflicts once the user had edited a file since).
    """
    original = snapshot(mini, MINI_TOUCHED)
    done = guestprep("fix", "--root", mini, "--yes", "--format", "json")
    run_id = json.loads(done.out)["run_id"]
    path = os.path.join(mini, "var/lib/guestprep/runs", run_id, "journal.jsonl")
    with open(path, "ab") as handle:
        handle.write(b'{"item": "rtc", "op": "wri')      # what SIGKILL mid-append leaves
    back = guestprep("rollback", "--root", mini)
    assert back.returncode == 0 and "Rolled back run " + run_id in back.out, back
    assert snapshot(mini, MINI_TOUCHED) == original
    journal = Journal.load(StateDir(Root(mini)), run_id)
    assert journal.rolled_back
    with open(path, "rb") as handle:
        for line in handle:
            json.loads(line.decode())                        # every line whole again
    with open(mini + "/etc/adjtime", "a") as handle:
        handle.write("# edited after the rollback\n")
    again = guestprep("rollback", "--root", mini)
    assert again.returncode == 0 and "Nothing to roll back" in again.out, again


def test_an_unterminated_last_record_is_kept_and_ended(tmp_path):
    root = Root(safetylib.mini_root(str(tmp_path / "root")))
    state = StateDir(root)
    journal = Journal.create(state, {"root": root.path})
    path = os.path.join(journal.dir, "journal.jsonl")
    with open(path, "rb+") as handle:
        data = handle.read()
        handle.seek(0)
        handle.truncate()
        handle.write(data.rstrip(b"\n"))
    loaded = Journal.load(state, journal.run_id)
    assert loaded.meta["run_id"] == journal.run_id
    loaded.end("complete")
    assert [r["type"] for r in Journal.load(state, journal.run_id).records] == ["run", "end"]


def test_engine_reports_a_journal_it_cannot_create(tmp_path, monkeypatch):
    root = Root(safetylib.mini_root(str(tmp_path / "root")))
    from agent.checks import CHECKS
    from remediations import REMEDIATIONS
    engine = Engine(CHECKS, REMEDIATIONS)
    ctx = Context(root)
    checks = engine.select(["selinux"])
    plans = engine.plan(ctx, checks, engine.run_checks(ctx, checks))

    def full(*_a, **_kw):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(journal_mod.Journal, "create", classmethod(full))
    journal, outcomes = engine.apply(ctx, plans, StateDir(root))
    assert journal is None
    assert [(o.check_id, o.outcome) for o in outcomes] == [("selinux", "ROLLED BACK")]
    assert "No space left on device; nothing was changed" in outcomes[0].message


def test_rollback_never_writes_through_a_link_made_after_the_run(tmp_path):
    """issue 16: after a reboot systemd wrote a new /etc/machine-id and made
    /var/lib/dbus/machine-id a link to it; rollback took the link for "absent, ours to
    restore", wrote the old id through it and said it had succeeded."""
    mini = safetylib.mini_root(str(tmp_path / "root"))
    safetylib.write(mini, "/etc/machine-id", "0123old\n", 0o444)
    safetylib.write(mini, "/var/lib/dbus/machine-id", "0123old\n", 0o444)
    os.makedirs(mini + "/etc/cloud/cloud.cfg.d")
    root = Root(mini)
    ctx = Context(root)
    journal = Journal.create(StateDir(root), {"root": mini})
    journal.apply(ctx, "seal", RemoveFile("/var/lib/dbus/machine-id"))
    journal.apply(ctx, "seal", WriteFile("/etc/machine-id", b""))
    journal.apply(ctx, "seal", WriteFile("/etc/cloud/cloud.cfg.d/99-guestprep.cfg", b"x: 1\n"))
    journal.end("complete")
    # the next boot
    safetylib.write(mini, "/etc/machine-id", "4567new\n", 0o444)
    os.symlink("/etc/machine-id", mini + "/var/lib/dbus/machine-id")
    os.unlink(mini + "/etc/cloud/cloud.cfg.d/99-guestprep.cfg")
    os.symlink("/etc/fstab", mini + "/etc/cloud/cloud.cfg.d/99-guestprep.cfg")
    fstab = safetylib.file_state(mini, "/etc/fstab")

    back = guestprep("rollback", "--root", mini)
    safetylib.no_traceback(back)
    assert back.returncode == 5, back
    rows = dict((line.split()[2], line.split()[0]) for line in back.out.splitlines() if line.startswith(
        ("conflict", "restored", "unchanged", "failed")))
    assert rows["/var/lib/dbus/machine-id"] == "conflict", back
    assert rows["/etc/cloud/cloud.cfg.d/99-guestprep.cfg"] == "conflict", back
    assert "symbolic link to /etc/machine-id" in back.out, back
    with open(mini + "/etc/machine-id") as handle:
        assert handle.read() == "4567new\n"                 # not the old id, written through the link
    assert os.readlink(mini + "/var/lib/dbus/machine-id") == "/etc/machine-id"
    assert os.readlink(mini + "/etc/cloud/cloud.cfg.d/99-guestprep.cfg") == "/etc/fstab"
    assert safetylib.file_state(mini, "/etc/fstab") == fstab


def test_a_record_whose_write_failed_leaves_no_torn_line(tmp_path, monkeypatch):
    """A full disk mid-record: the part written is taken back, and the next record (the
    run's end after a rollback) is a line of its own."""
    root = Root(safetylib.mini_root(str(tmp_path / "root")))
    state = StateDir(root)
    journal = Journal.create(state, {"root": root.path})
    real = journal_mod.write_all
    calls = []

    def half_then_full(fd, data):
        calls.append(data)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fd, data)
    monkeypatch.setattr(journal_mod, "write_all", half_then_full)
    with pytest.raises(OSError):
        journal.append({"type": "begin", "seq": 1, "item": "x", "op": "flags", "path": "/etc/fstab",
                        "flags_before": 0, "flags_after": 1})
    monkeypatch.setattr(journal_mod, "write_all", real)
    journal.end("failed")
    with open(os.path.join(journal.dir, "journal.jsonl"), "rb") as handle:
        lines = handle.read().splitlines()
    assert [json.loads(line.decode())["type"] for line in lines] == ["run", "end"]
