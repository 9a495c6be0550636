"""chattr flags survive fix and rollback on a real ext4 (a loop-mounted image file).

Every file fix rewrites is replaced by a new inode (temp file, rename). The new inode
must carry the old one's flags: +d (nodump), +A (noatime), +s (secure deletion), +S,
+u, +c ... but not +i/+a, which no rename can pass and the shadow fix manages as steps
of its own. tmpfs has no inode flags, so the root lives on an ext4 image of its own.
"""
import os
import subprocess

import pytest

import safetylib
from safetylib import guestprep, snapshot

from agent.core import rootfs
from agent.core.rootfs import FS_APPEND_FL, FS_IMMUTABLE_FL, Root

FS_SECRM_FL = 0x01     # s
FS_UNRM_FL = 0x02      # u
FS_COMPR_FL = 0x04     # c
FS_SYNC_FL = 0x08      # S
FS_NODUMP_FL = 0x40    # d
FS_NOATIME_FL = 0x80   # A

# The three files, and what each carries.
PLANTED = {"/etc/fstab": FS_NODUMP_FL, "/etc/selinux/config": FS_NOATIME_FL, "/etc/adjtime": FS_SECRM_FL}


@pytest.fixture
def ext4(tmp_path, mounts, as_root):
    """An empty ext4 mounted at tmp_path/ext4 (unmounted at teardown)."""
    for tool in ("mkfs.ext4", "mount"):
        if subprocess.call(["which", tool], stdout=subprocess.DEVNULL) != 0:
            pytest.skip(tool + " not installed")
    image = str(tmp_path / "ext4.img")
    with open(image, "wb") as handle:
        handle.truncate(16 << 20)
    subprocess.check_call(["mkfs.ext4", "-q", "-F", image], stdout=subprocess.DEVNULL)
    mnt = mounts.add(str(tmp_path / "ext4"))
    os.makedirs(mnt)
    done = subprocess.run(["mount", "-o", "loop", image, mnt], stderr=subprocess.PIPE)
    if done.returncode != 0:
        pytest.skip("cannot loop-mount an ext4 image here: " + done.stderr.decode(errors="replace"))
    return mnt


def flags_of(root_path, path):
    return Root(root_path).get_flags(path)


def plant(root_path, flags_by_path):
    root = Root(root_path)
    for path, add in flags_by_path.items():
        root.set_flags(path, root.get_flags(path) | add)
        assert root.get_flags(path) & add == add, path


def test_fix_and_rollback_keep_nodump_noatime_and_secure_deletion(ext4):
    mini = safetylib.mini_root(os.path.join(ext4, "root"))
    plant(mini, PLANTED)
    original = snapshot(mini, list(PLANTED))

    done = guestprep("fix", "--root", mini, "--items", "fstab,selinux,rtc", "--yes")
    safetylib.no_traceback(done)
    assert done.returncode in (0, 3), done
    fixed = snapshot(mini, list(PLANTED))
    for path, flag in PLANTED.items():
        assert fixed[path][0] != original[path][0], path + " was not rewritten"
        assert flags_of(mini, path) & flag == flag, "{} lost its flag 0x{:x} in fix".format(path, flag)
        # exactly the old flags: nothing dropped, nothing added
        assert fixed[path][4] == original[path][4], path

    back = guestprep("rollback", "--root", mini)
    assert back.returncode == 0, back
    assert snapshot(mini, list(PLANTED)) == original
    safetylib.record("flags", {"files": len(PLANTED), "flags": ["+d", "+A", "+s"]})


def test_every_carried_flag_survives_and_immutable_is_not_carried(ext4):
    """Each chattr bit ext4 keeps on a regular file comes through a rewrite; +i/+a are refused
    by the rename itself, and CARRIED_FLAGS leaves them out."""
    assert not rootfs.CARRIED_FLAGS & (FS_IMMUTABLE_FL | FS_APPEND_FL)
    mini = safetylib.mini_root(os.path.join(ext4, "root"))
    every = FS_SECRM_FL | FS_UNRM_FL | FS_COMPR_FL | FS_SYNC_FL | FS_NODUMP_FL | FS_NOATIME_FL
    root = Root(mini)
    try:
        root.set_flags("/etc/fstab", root.get_flags("/etc/fstab") | every)
    except OSError as e:
        pytest.skip("this kernel's ext4 refuses s/u/c/S/d/A together: {}".format(e))
    before = root.get_flags("/etc/fstab")
    root.atomic_write("/etc/fstab", b"# rewritten\n")
    assert root.get_flags("/etc/fstab") == before

    root.set_flags("/etc/adjtime", root.get_flags("/etc/adjtime") | FS_IMMUTABLE_FL)
    try:
        with pytest.raises(OSError):
            root.atomic_write("/etc/adjtime", b"0.0 0 0.0\n0\nUTC\n")
        assert not [n for n in os.listdir(mini + "/etc") if n.endswith(".guestprep-tmp")]
    finally:
        root.set_flags("/etc/adjtime", root.get_flags("/etc/adjtime") & ~FS_IMMUTABLE_FL)
