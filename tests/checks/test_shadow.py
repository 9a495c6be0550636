"""shadow on pyfakefs. pyfakefs has no inode flags, so `inodes` backs Root.get_flags,
Root.set_flags and Root.statvfs with a dict; tests/test_shadow_realfs.py does the same
through the real ioctls."""
import os

import pytest

from agent.checks.shadow import Shadow
from agent.core.engine import Engine
from agent.core.model import SetFlags, Status
from agent.core.rootfs import FS_APPEND_FL, FS_IMMUTABLE_FL, Root, RootError
from conftest import FakeLive
from remediations.shadow import ShadowFix

FS_NOATIME_FL = 0x80
FS_EXTENT_FL = 0x80000
PASSWD = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
GROUP = "root:x:0:\ndaemon:x:1:\nshadow:x:42:\n"
# Never a real hash in a fixture: locked accounts only.
SHADOW = "root:*:19500:0:99999:7:::\ndaemon:*:19500:0:99999:7:::\n"
GSHADOW = "root:*::\ndaemon:*::\nshadow:*::\n"
DEBIAN_FSTAB = ("# /etc/fstab: static file system information.\n"
                "UUID=0b1d6c3e-5d0a-4c4f-9f57-0d7c1b2a3e4f /     ext4 errors=remount-ro 0 1\n"
                "UUID=4F2A-1B3C /boot/efi vfat umask=0077 0 1\n")


class FakeStatvfs(object):
    def __init__(self, f_flag):
        self.f_flag = f_flag


class Inodes(object):
    """Inode flags by host path; `readonly` host paths report ST_RDONLY from statvfs."""

    def __init__(self):
        self.flags = {}
        self.readonly = set()
        self.supported = True
        self.broken = set()

    def set(self, guest, path, flags):
        self.flags[guest.host(path)] = flags

    def get(self, guest, path):
        return self.flags.get(guest.host(path), FS_EXTENT_FL)


@pytest.fixture
def inodes(monkeypatch):
    fake = Inodes()

    def get_flags(root, guest_path):
        host = root.resolve(guest_path)
        if host in fake.broken or not os.path.exists(host):
            raise RootError(guest_path, "Permission denied")
        if not fake.supported:
            return None
        return fake.flags.get(host, FS_EXTENT_FL)

    def set_flags(root, guest_path, flags):
        fake.flags[root.resolve(guest_path)] = flags

    def statvfs(root, guest_path):
        return FakeStatvfs(1 if root.resolve(guest_path) in fake.readonly else 0)

    monkeypatch.setattr(Root, "get_flags", get_flags)
    monkeypatch.setattr(Root, "set_flags", set_flags)
    monkeypatch.setattr(Root, "statvfs", statvfs)
    return fake


def accounts(guest, gshadow=True, fstab=DEBIAN_FSTAB):
    guest.write("/etc/passwd", PASSWD)
    guest.write("/etc/group", GROUP)
    guest.write("/etc/shadow", SHADOW, mode=0o640)
    if gshadow:
        guest.write("/etc/gshadow", GSHADOW, mode=0o640)
    if fstab is not None:
        guest.write("/etc/fstab", fstab)


def run(guest, **kw):
    return Engine([Shadow]).run_check(guest.ctx(**kw), Shadow())


def test_writable_files_pass(guest, inodes):
    accounts(guest)
    result = run(guest)
    assert result.status == Status.PASS
    assert result.paths == ("/etc/shadow", "/etc/passwd", "/etc/group", "/etc/gshadow")


def test_gshadow_is_optional(guest, inodes):
    accounts(guest, gshadow=False, fstab=None)
    assert run(guest).status == Status.PASS


def test_immutable_and_append_only_fail_naming_each_file(guest, inodes):
    accounts(guest)
    inodes.set(guest, "/etc/shadow", FS_IMMUTABLE_FL | FS_EXTENT_FL)
    inodes.set(guest, "/etc/passwd", FS_APPEND_FL | FS_EXTENT_FL)
    result = run(guest)
    assert result.status == Status.FAIL
    assert result.summary == "/etc/shadow is immutable (+i); /etc/passwd is append-only (+a)"
    shown = guest.ctx().root.display
    assert result.commands == ("chattr -i -a {} {}".format(shown("/etc/shadow"), shown("/etc/passwd")),)
    assert "root password" in result.hint
    assert result.paths == ("/etc/shadow", "/etc/passwd")


def test_both_attributes_on_one_file(guest, inodes):
    accounts(guest)
    inodes.set(guest, "/etc/gshadow", FS_IMMUTABLE_FL | FS_APPEND_FL)
    assert run(guest).summary == "/etc/gshadow is immutable and append-only (+ia)"


def test_harmless_flags_pass(guest, inodes):
    accounts(guest)
    inodes.set(guest, "/etc/shadow", FS_NOATIME_FL | FS_EXTENT_FL)
    assert run(guest).status == Status.PASS


def test_no_inode_flags_is_info_not_a_failure(guest, inodes):
    accounts(guest)
    inodes.supported = False
    result = run(guest)
    assert result.status == Status.INFO
    assert "attributes not supported here" in result.summary


def test_missing_shadow_fails_and_suggests_pwconv(guest, inodes):
    guest.write("/etc/passwd", PASSWD)
    guest.write("/etc/group", GROUP)
    result = run(guest)
    assert result.status == Status.FAIL
    assert result.summary == "/etc/shadow does not exist"
    assert "pwconv" in result.commands[0]
    assert "nowhere to set the root password" in result.hint


def test_directory_instead_of_passwd_is_a_finding_and_does_not_hide_others(guest, inodes):
    accounts(guest)
    os.remove(guest.host("/etc/passwd"))
    guest.mkdir("/etc/passwd")
    inodes.set(guest, "/etc/shadow", FS_IMMUTABLE_FL)
    result = run(guest)
    assert result.status == Status.FAIL
    assert result.summary == "/etc/passwd is a directory, not a file; /etc/shadow is immutable (+i)"
    assert "/etc/passwd" in result.hint


def test_dangling_symlink_shadow_fails(guest, inodes):
    accounts(guest)
    os.remove(guest.host("/etc/shadow"))
    guest.symlink("/etc/shadow", "/nonexistent/shadow")
    result = run(guest)
    assert result.status == Status.FAIL
    assert result.summary == "/etc/shadow is a dangling symlink"


def test_unreadable_attributes_warn_and_other_files_are_still_checked(guest, inodes):
    accounts(guest)
    inodes.broken.add(guest.host("/etc/group"))
    inodes.set(guest, "/etc/shadow", FS_APPEND_FL)
    result = run(guest)
    assert result.status == Status.FAIL
    assert "/etc/shadow is append-only (+a)" in result.summary
    assert "cannot read the attributes of /etc/group: Permission denied" in result.summary


def test_unreadable_attributes_alone_warn(guest, inodes):
    accounts(guest)
    inodes.broken.add(guest.host("/etc/group"))
    assert run(guest).status == Status.WARN


@pytest.mark.parametrize("options", ["ro", "defaults,ro", "ro,errors=remount-ro", "rw,ro"])
def test_fstab_ro_root_fails(guest, inodes, options):
    accounts(guest, fstab="# root\nUUID=abc / ext4 {} 0 1\n".format(options))
    result = run(guest)
    assert result.status == Status.FAIL
    assert result.summary == ("/etc/fstab mounts / read-only (line 2: `ro`), so ECS cannot write "
                              "/etc/shadow")
    assert "replace `ro`" in result.hint
    assert result.data["fstab_ro"] is True


@pytest.mark.parametrize("fstab", [
    "UUID=abc / ext4 ro,rw 0 1\n",                       # the last of ro/rw wins
    "UUID=abc / ext4 errors=remount-ro 0 1\n",           # remount-ro only after an error
    "UUID=abc / ext4 defaults 0 1\nUUID=d /usr ext4 ro 0 2\n",
    "UUID=abc / ext4 ro 0 1\nUUID=e /etc ext4 rw 0 2\n",  # /etc is what counts
    "garbage line\n\x7fELF\n",
])
def test_fstab_without_ro_for_etc_passes(guest, inodes, fstab):
    accounts(guest, fstab=fstab)
    assert run(guest).status == Status.PASS


def test_binary_fstab_warns_but_attributes_are_still_checked(guest, inodes):
    accounts(guest, fstab=None)
    guest.write("/etc/fstab", b"\x00\x00binary")
    inodes.set(guest, "/etc/shadow", FS_IMMUTABLE_FL)
    result = run(guest)
    assert result.status == Status.FAIL
    assert "/etc/shadow is immutable (+i)" in result.summary
    assert "cannot read /etc/fstab" in result.summary


def test_readonly_mount_fails_on_the_running_system(guest, inodes):
    accounts(guest)
    inodes.readonly.update(guest.host(p) for p in ("/etc/shadow", "/etc/passwd", "/etc/group", "/etc/gshadow"))
    result = run(guest, live=FakeLive())
    assert result.status == Status.FAIL
    assert "mounted read-only" in result.summary
    assert "mount -o remount,rw /" in result.commands


def test_readonly_mount_of_an_image_only_warns(guest, inodes):
    accounts(guest)
    inodes.readonly.add(guest.host("/etc/shadow"))
    result = run(guest)
    assert result.status == Status.WARN
    assert result.summary == "/etc/shadow is on a filesystem mounted read-only here"
    assert result.commands == ("findmnt -T " + guest.ctx().root.display("/etc/shadow"),)


def test_fix_plans_one_setflags_per_locked_file(guest, inodes):
    accounts(guest)
    inodes.set(guest, "/etc/shadow", FS_IMMUTABLE_FL | FS_EXTENT_FL)
    inodes.set(guest, "/etc/gshadow", FS_APPEND_FL)
    ctx = guest.ctx()
    steps = ShadowFix().plan(ctx, Shadow().run(ctx))
    assert [(s.path, s.clear, s.set) for s in steps] == [
        ("/etc/shadow", FS_IMMUTABLE_FL | FS_APPEND_FL, 0),
        ("/etc/gshadow", FS_IMMUTABLE_FL | FS_APPEND_FL, 0)]
    assert all(isinstance(s, SetFlags) for s in steps)


def test_fix_plans_nothing_for_readonly_mount_or_fstab(guest, inodes):
    accounts(guest, fstab="UUID=abc / ext4 ro 0 1\n")
    ctx = guest.ctx(live=FakeLive())
    assert ShadowFix().plan(ctx, Shadow().run(ctx)) == []
    inodes.set(guest, "/etc/shadow", FS_IMMUTABLE_FL)
    inodes.readonly.add(guest.host("/etc/shadow"))
    assert ShadowFix().plan(ctx, Shadow().run(ctx)) == []


def test_fix_apply_recheck_rollback(guest, inodes):
    accounts(guest)
    inodes.set(guest, "/etc/shadow", FS_IMMUTABLE_FL | FS_EXTENT_FL)
    inodes.set(guest, "/etc/passwd", FS_APPEND_FL | FS_IMMUTABLE_FL)
    engine = Engine([Shadow], [ShadowFix])
    ctx = guest.ctx()
    plans = engine.plan(ctx, engine.checks, engine.run_checks(ctx))
    journal, outcomes = engine.apply(ctx, plans, guest.state())
    assert [o.outcome for o in outcomes] == ["FIXED"]
    assert inodes.get(guest, "/etc/shadow") == FS_EXTENT_FL
    assert inodes.get(guest, "/etc/passwd") == 0
    assert engine.run_checks(ctx)[0].status == Status.PASS
    assert engine.plan(ctx, engine.checks, engine.run_checks(ctx)) == []
    assert ShadowFix().plan(ctx, Shadow().run(ctx)) == []
    outcomes = journal.rollback(ctx)
    assert [o for _r, o, _m in outcomes] == ["restored", "restored"]
    assert inodes.get(guest, "/etc/shadow") == FS_IMMUTABLE_FL | FS_EXTENT_FL
    assert inodes.get(guest, "/etc/passwd") == FS_APPEND_FL | FS_IMMUTABLE_FL
    assert guest.read("/etc/shadow") == SHADOW
    assert engine.run_checks(ctx)[0].status == Status.FAIL


def test_fstab_ro_remains_after_the_attribute_fix(guest, inodes):
    accounts(guest, fstab="UUID=abc / ext4 ro 0 1\n")
    inodes.set(guest, "/etc/shadow", FS_IMMUTABLE_FL)
    engine = Engine([Shadow], [ShadowFix])
    ctx = guest.ctx()
    plans = engine.plan(ctx, engine.checks, engine.run_checks(ctx))
    assert [s.path for s in plans[0].steps] == ["/etc/shadow"]
    _journal, outcomes = engine.apply(ctx, plans, guest.state())
    assert [o.outcome for o in outcomes] == ["STILL FAILING"]
    assert "fstab" in outcomes[0].message
    assert inodes.get(guest, "/etc/shadow") == 0


def test_output_never_contains_the_file_contents(guest, inodes):
    accounts(guest)
    inodes.set(guest, "/etc/shadow", FS_IMMUTABLE_FL)
    result = run(guest)
    text = " ".join([result.summary, result.hint] + list(result.commands)) + repr(result.data)
    assert "19500" not in text and "root:*" not in text
