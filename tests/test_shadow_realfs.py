"""shadow on a real directory with real inode flags (FS_IOC_GETFLAGS / FS_IOC_SETFLAGS).

pyfakefs cannot hold chattr attributes, so this drives the check, the engine's fix and
the journal's rollback against real files under tmp_path. Setting +i needs root
(CAP_LINUX_IMMUTABLE) and a filesystem with inode flags (ext4, xfs, btrfs ...); the tests
skip with the reason otherwise. Every test clears +i/+a again in teardown, or pytest
could not delete tmp_path.
"""
import os
import shutil
import subprocess

import pytest

from agent.checks.shadow import Shadow
from agent.core.context import Context
from agent.core.engine import Engine
from agent.core.journal import StateDir
from agent.core.model import Status
from agent.core.rootfs import FS_APPEND_FL, FS_IMMUTABLE_FL, Root
from remediations.shadow import ShadowFix

FILES = ("/etc/shadow", "/etc/passwd", "/etc/group", "/etc/gshadow")
CONTENT = {
    "/etc/passwd": b"root:x:0:0:root:/root:/bin/bash\n",
    "/etc/group": b"root:x:0:\nshadow:x:42:\n",
    "/etc/shadow": b"root:*:19500:0:99999:7:::\n",
    "/etc/gshadow": b"root:*::\nshadow:*::\n",
}


def _clear_all(base):
    """Drop +i/+a from everything under base (best effort), so the tree can be deleted."""
    root = Root(base)
    for directory, dirs, files in os.walk(base):
        for name in dirs + files:
            guest = root.guest(os.path.join(directory, name))
            if os.path.islink(os.path.join(directory, name)):
                continue
            try:
                flags = root.get_flags(guest)
                if flags is not None and flags & (FS_IMMUTABLE_FL | FS_APPEND_FL):
                    root.set_flags(guest, flags & ~(FS_IMMUTABLE_FL | FS_APPEND_FL))
            except (OSError, IOError):
                pass


@pytest.fixture
def real_root(tmp_path):
    base = str(tmp_path / "guest")
    os.makedirs(os.path.join(base, "etc"))
    for path, data in CONTENT.items():
        with open(base + path, "wb") as handle:
            handle.write(data)
        os.chmod(base + path, 0o640 if "shadow" in path else 0o644)
    with open(base + "/etc/fstab", "w") as handle:
        handle.write("UUID=0b1d6c3e-5d0a-4c4f-9f57-0d7c1b2a3e4f / ext4 errors=remount-ro 0 1\n")
    root = Root(base)
    if os.geteuid() != 0:
        pytest.skip("setting the immutable attribute needs root (CAP_LINUX_IMMUTABLE)")
    if root.get_flags("/etc/shadow") is None:
        pytest.skip("the filesystem of {} has no inode flags (FS_IOC_GETFLAGS fails)".format(tmp_path))
    try:
        yield root
    finally:
        _clear_all(base)


def chattr(root, path, add):
    flags = root.get_flags(path)
    try:
        root.set_flags(path, flags | add)
    except OSError as e:
        pytest.skip("cannot set inode attributes here: {}".format(e))


def lsattr_letters(root, path):
    """The attribute letters as lsattr prints them, when e2fsprogs is installed."""
    if not shutil.which("lsattr"):
        return None
    out = subprocess.check_output(["lsattr", "-d", root.resolve(path)], universal_newlines=True)
    return out.split()[0]


def ctx_for(root):
    return Context(root)   # offline: no live facts for a directory that is not /


def test_immutable_shadow_fix_and_rollback_with_real_flags(real_root):
    root = real_root
    original = {p: root.get_flags(p) for p in FILES}
    chattr(root, "/etc/shadow", FS_IMMUTABLE_FL)
    chattr(root, "/etc/passwd", FS_APPEND_FL)
    # the kernel really refuses the write ECS would make
    with pytest.raises(OSError):
        with open(root.resolve("/etc/shadow"), "ab") as handle:
            handle.write(b"x")
    letters = lsattr_letters(root, "/etc/shadow")
    if letters is not None:
        assert "i" in letters

    engine = Engine([Shadow], [ShadowFix])
    ctx = ctx_for(root)
    result = engine.run_checks(ctx)[0]
    assert result.status == Status.FAIL
    assert result.summary == "/etc/shadow is immutable (+i); /etc/passwd is append-only (+a)"
    assert result.commands == ("chattr -i -a {} {}".format(
        root.display("/etc/shadow"), root.display("/etc/passwd")),)

    plans = engine.plan(ctx, engine.checks, [result])
    assert [s.path for s in plans[0].steps] == ["/etc/shadow", "/etc/passwd"]
    journal, outcomes = engine.apply(ctx, plans, StateDir(root))
    assert [o.outcome for o in outcomes] == ["FIXED"]
    assert root.get_flags("/etc/shadow") == original["/etc/shadow"]
    assert root.get_flags("/etc/passwd") == original["/etc/passwd"]
    letters = lsattr_letters(root, "/etc/shadow")
    if letters is not None:
        assert "i" not in letters and "a" not in letters
    with open(root.resolve("/etc/shadow"), "ab") as handle:   # writable again
        handle.write(b"")
    assert engine.run_checks(ctx)[0].status == Status.PASS
    # a second fix plans nothing
    assert engine.plan(ctx, engine.checks, engine.run_checks(ctx)) == []
    assert ShadowFix().plan(ctx, Shadow().run(ctx)) == []

    outcomes = journal.rollback(ctx)
    assert [o for _r, o, _m in outcomes] == ["restored", "restored"]
    assert root.get_flags("/etc/shadow") == original["/etc/shadow"] | FS_IMMUTABLE_FL
    assert root.get_flags("/etc/passwd") == original["/etc/passwd"] | FS_APPEND_FL
    letters = lsattr_letters(root, "/etc/shadow")
    if letters is not None:
        assert "i" in letters
    assert engine.run_checks(ctx)[0].status == Status.FAIL
    for path, data in CONTENT.items():
        with open(root.resolve(path), "rb") as handle:
            assert handle.read() == data


def test_rollback_from_a_new_process_reads_the_journal(real_root):
    root = real_root
    chattr(root, "/etc/gshadow", FS_IMMUTABLE_FL | FS_APPEND_FL)
    engine = Engine([Shadow], [ShadowFix])
    ctx = ctx_for(root)
    plans = engine.plan(ctx, engine.checks, engine.run_checks(ctx))
    journal, _outcomes = engine.apply(ctx, plans, StateDir(root))
    assert not root.get_flags("/etc/gshadow") & (FS_IMMUTABLE_FL | FS_APPEND_FL)
    state = StateDir(root)
    (again,) = Engine.journals_to_roll_back(state)
    assert again.run_id == journal.run_id
    outcomes = again.rollback(ctx_for(Root(root.path)))
    assert [o for _r, o, _m in outcomes] == ["restored"]
    flags = root.get_flags("/etc/gshadow")
    assert flags & FS_IMMUTABLE_FL and flags & FS_APPEND_FL


def test_clean_real_tree_passes(real_root):
    result = Engine([Shadow]).run_check(ctx_for(real_root), Shadow())
    assert result.status == Status.PASS
