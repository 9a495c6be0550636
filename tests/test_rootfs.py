"""Root on a real temporary directory: an image is untrusted input."""
import os
import stat

import pytest

from agent.core.rootfs import Root, RootError


@pytest.fixture
def image(tmp_path):
    root = tmp_path / "image"
    (root / "etc").mkdir(parents=True)
    (root / "usr/lib").mkdir(parents=True)
    (root / "usr/lib/os-release").write_text("ID=debian\n")
    (tmp_path / "host-secret").write_text("host data\n")
    return root


def test_absolute_symlink_is_reanchored_at_the_root(image):
    os.symlink("/usr/lib/os-release", str(image / "etc/os-release"))
    root = Root(str(image))
    assert root.resolve("/etc/os-release") == str(image / "usr/lib/os-release")
    assert root.read_text("/etc/os-release") == "ID=debian\n"


def test_symlink_out_of_the_root_stays_inside(image, tmp_path):
    os.symlink(str(tmp_path / "host-secret"), str(image / "etc/fstab"))
    os.symlink("../../../host-secret", str(image / "etc/passwd"))
    root = Root(str(image))
    for path in ("/etc/fstab", "/etc/passwd"):
        assert root.resolve(path).startswith(str(image) + os.sep) or root.resolve(path) == str(image)
        with pytest.raises(RootError):
            root.read_text(path)


def test_dotdot_never_climbs_above_the_root(image):
    root = Root(str(image))
    assert root.resolve("/../../etc/../../usr/lib/os-release") == str(image / "usr/lib/os-release")


def test_symlink_loop_is_reported(image):
    os.symlink("/etc/b", str(image / "etc/a"))
    os.symlink("/etc/a", str(image / "etc/b"))
    with pytest.raises(RootError) as err:
        Root(str(image)).read_text("/etc/a")
    assert "loop" in str(err.value)


def test_fifo_is_refused_without_blocking(image):
    os.mkfifo(str(image / "etc/fstab"))
    with pytest.raises(RootError) as err:
        Root(str(image)).read_text("/etc/fstab")
    assert "FIFO" in str(err.value)


def test_directory_and_binary_and_large_files(image):
    (image / "etc/fstab").mkdir()
    (image / "etc/bin").write_bytes(b"\x7fELF\x00\x01")
    (image / "etc/big").write_bytes(b"a" * 2048)
    root = Root(str(image))
    with pytest.raises(RootError, match="directory"):
        root.read_text("/etc/fstab")
    with pytest.raises(RootError, match="binary"):
        root.read_text("/etc/bin")
    with pytest.raises(RootError, match="too large"):
        root.read_bytes("/etc/big", limit=1024)


def test_non_utf8_text_round_trips(image):
    (image / "etc/latin1").write_bytes(b"# caf\xe9\nKEY=1\n")
    root = Root(str(image))
    text = root.read_text("/etc/latin1")
    assert text.encode("utf-8", "surrogateescape") == b"# caf\xe9\nKEY=1\n"


def test_atomic_write_keeps_mode_owner_and_xattrs(image):
    path = image / "etc/shadow"
    path.write_text("root:*:1::::::\n")
    os.chmod(str(path), 0o640)
    os.chown(str(path), 0, 42)
    try:
        os.setxattr(str(path), "user.guestprep-test", b"label")
        has_xattr = True
    except OSError:
        has_xattr = False
    Root(str(image)).atomic_write("/etc/shadow", b"root:!:1::::::\n")
    st = os.stat(str(path))
    assert path.read_bytes() == b"root:!:1::::::\n"
    assert stat.S_IMODE(st.st_mode) == 0o640 and (st.st_uid, st.st_gid) == (0, 42)
    if has_xattr:
        assert os.getxattr(str(path), "user.guestprep-test") == b"label"
    assert [n for n in os.listdir(str(image / "etc")) if "guestprep-tmp" in n] == []


def test_atomic_write_failure_leaves_old_file_and_no_temp(image, monkeypatch):
    path = image / "etc/hosts"
    path.write_text("old\n")

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        Root(str(image)).atomic_write("/etc/hosts", b"new\n")
    assert path.read_text() == "old\n"
    assert [n for n in os.listdir(str(image / "etc")) if "guestprep-tmp" in n] == []


def test_entries_kinds_are_the_entries_own_and_the_directory_stays_inside(image, tmp_path):
    (image / "var/log/apt").mkdir(parents=True)
    (image / "var/log/syslog").write_text("x\n")
    os.mkfifo(str(image / "var/log/initctl"))
    os.symlink("/usr/lib", str(image / "var/log/lib"))              # a directory, by a link
    os.symlink(str(tmp_path / "host-secret"), str(image / "var/log/secret"))
    os.symlink("/usr/lib", str(image / "etc/libdir"))
    root = Root(str(image))
    assert root.entries("/var/log") == [("apt", "dir"), ("initctl", "other"), ("lib", "link"),
                                        ("secret", "link"), ("syslog", "file")]
    # An absolute link to a directory is the image's directory, never the host's.
    assert root.entries("/etc/libdir") == [("os-release", "file")]
    assert root.entries("/nonexistent") == [] and root.entries("/var/log/syslog") == []
    assert root.entry_sizes("/var/log", ["syslog", "lib", "absent", "../../etc"]) == {
        "syslog": 2, "lib": len("/usr/lib"), "absent": 0, "../../etc": 0}    # a link's own size; entries only


def test_glob_and_listdir(image):
    for name in ("ifcfg-eth0", "ifcfg-lo", "route-eth0"):
        (image / "etc" / name).write_text("")
    root = Root(str(image))
    assert root.glob("/etc/ifcfg-*") == ["/etc/ifcfg-eth0", "/etc/ifcfg-lo"]
    assert root.listdir("/nonexistent") == []
