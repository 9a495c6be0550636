import pytest

from agent.checks.free_space import FreeSpace
from agent.core.model import Status
from agent.core.rootfs import Root

GIB = 1024 ** 3


class Vfs(object):
    def __init__(self, size, free, inodes=1000000, free_inodes=900000, frsize=4096):
        self.f_frsize = frsize
        self.f_blocks = size // frsize
        self.f_bavail = free // frsize
        self.f_files = inodes
        self.f_favail = free_inodes


@pytest.mark.parametrize("vfs,status", [
    (Vfs(40 * GIB, 20 * GIB), Status.PASS),
    (Vfs(40 * GIB, 3 * GIB), Status.WARN),            # under 10 %
    (Vfs(4 * GIB, 900 * 1024 ** 2), Status.WARN),     # under 1 GiB
    (Vfs(40 * GIB, 100 * 1024 ** 2), Status.FAIL),    # under 200 MiB
    (Vfs(40 * GIB, 20 * GIB, 1000000, 10000), Status.WARN),   # inodes
    (Vfs(40 * GIB, 20 * GIB, 0, 0), Status.PASS),     # btrfs: no inode count
])
def test_thresholds(guest, monkeypatch, vfs, status):
    seen = []

    def statvfs(root, guest_path):
        seen.append((root.path, guest_path))
        return vfs
    monkeypatch.setattr(Root, "statvfs", statvfs)
    result = FreeSpace().run(guest.ctx())
    assert result.status == status
    assert seen == [(Root(guest.base).path, "/")]
    if status != Status.PASS:
        assert result.hint and any(c.startswith("df -h") for c in result.commands)


def test_statvfs_error_is_a_warning(guest, monkeypatch):
    def statvfs(root, guest_path):
        raise OSError(5, "Input/output error")
    monkeypatch.setattr(Root, "statvfs", statvfs)
    result = FreeSpace().run(guest.ctx())
    assert result.status == Status.WARN and "Input/output error" in result.summary
