"""agent/facts/rpmdb.py on built and on damaged databases: every damage is a clear error, fast."""
import os
import struct
import time

import pytest

import rpmdbs
from agent.facts import rpmdb
from agent.core.rootfs import Root

FILES = [("/etc/issue", b"\\S\n", 0o100644, 17, None), ("/etc/os-release", None, 0o120777, 0, "../usr/lib/os-release"),
         ("/usr/lib/os-release", b"ID=x\n", 0o100644, 0, None)]
BLOBS = [rpmdbs.header_blob("x-release", "1", "2.el9", epoch=3, arch="noarch", files=FILES),
         rpmdbs.header_blob("kernel", "5.14.0", "362.el9"),
         rpmdbs.header_blob("gpg-pubkey", "fd431d51", "4ae0493b")]


def root_with(tmp_path, name, data, directory="/var/lib/rpm"):
    target = str(tmp_path) + directory
    os.makedirs(target, exist_ok=True)
    with open(os.path.join(target, name), "wb") as handle:
        handle.write(data)
    return Root(str(tmp_path))


def test_header_fields_and_files():
    h = rpmdb.Header(BLOBS[0])
    assert (h.name, h.evr, h.epoch, h.arch) == ("x-release", "1-2.el9", 3, "noarch")
    files = dict((f["path"], f) for f in h.files())
    assert sorted(files) == ["/etc/issue", "/etc/os-release", "/usr/lib/os-release"]
    assert files["/etc/issue"]["config"] and not files["/usr/lib/os-release"]["config"]
    assert files["/etc/os-release"]["link"] == "../usr/lib/os-release"
    assert files["/usr/lib/os-release"]["algo"] == "sha256"


def test_ndb_database_lists_packages_without_gpg_keys(tmp_path):
    root = root_with(tmp_path, "Packages.db", rpmdbs.ndb_bytes(BLOBS), "/usr/lib/sysimage/rpm")
    os.makedirs(str(tmp_path / "var/lib"))
    os.symlink("../../usr/lib/sysimage/rpm", str(tmp_path / "var/lib/rpm"))
    db = rpmdb.read(root)
    assert db.known and db.kind == "ndb" and db.path == "/usr/lib/sysimage/rpm/Packages.db"
    assert [h.name for h in db.packages()] == ["x-release", "kernel"]
    assert [h.name for h, _f in db.owners()["/etc/issue"]] == ["x-release"]


def test_sqlite_database(tmp_path):
    target = tmp_path / "var/lib/rpm"
    target.mkdir(parents=True)
    rpmdbs.sqlite_file(str(target / "rpmdb.sqlite"), BLOBS)
    db = rpmdb.read(Root(str(tmp_path)))
    assert db.known and db.kind == "sqlite" and [h.name for h in db.packages()] == ["x-release", "kernel"]


def test_the_configured_backend_wins_when_several_files_exist(tmp_path):
    root = root_with(tmp_path, "Packages.db", rpmdbs.ndb_bytes(BLOBS[1:2]))
    root_with(tmp_path, "Packages", b"an old Berkeley DB left behind")
    os.makedirs(str(tmp_path / "usr/lib/rpm"))
    (tmp_path / "usr/lib/rpm/macros").write_text("%_db_backend\tndb\n")
    assert rpmdb.locate(root) == ("ndb", "/var/lib/rpm/Packages.db")
    (tmp_path / "usr/lib/rpm/macros").write_text("%_db_backend bdb\n")
    assert rpmdb.locate(root) == ("bdb", "/var/lib/rpm/Packages")


def _ndb_with(mutate):
    data = bytearray(rpmdbs.ndb_bytes(BLOBS))
    mutate(data)
    return bytes(data)


@pytest.mark.parametrize("name,data,message", [
    ("Packages.db", b"", "too short"),
    ("Packages.db", b"RpmQ" + b"\x00" * 60, "not an rpm ndb database"),
    ("Packages.db", _ndb_with(lambda d: d.__setitem__(slice(12, 16), struct.pack("<I", 2048))), "implausible slot table"),
    ("Packages.db", _ndb_with(lambda d: d.__setitem__(slice(32, 36), b"XXXX")), "slot 0 is damaged"),
    ("Packages.db", _ndb_with(lambda d: d.__setitem__(slice(40, 44), struct.pack("<I", 1 << 30))), "outside the file"),
    ("Packages.db", _ndb_with(lambda d: d.__setitem__(slice(4096, 4100), b"XXXX")), "damaged blob header"),
    ("Packages.db", _ndb_with(lambda d: d.__setitem__(slice(4096 + 12, 4096 + 16), struct.pack("<I", 1 << 31))),
     "longer than its blocks"),
    ("Packages.db", _ndb_with(lambda d: d.__setitem__(slice(4096 + 16, 4096 + 24), struct.pack(">II", 1 << 30, 5))),
     "does not fit"),
    ("Packages", b"\x00" * 100, "not a Berkeley DB hash"),
    ("Packages", b"\x00" * 12 + struct.pack("<I", 0x061561) + b"\x00" * 4 + struct.pack("<I", 100) + b"\x00" * 60,
     "implausible page size"),
    ("Packages", b"\x00" * 12 + struct.pack("<I", 0x061561) + b"\x00" * 4 + struct.pack("<I", 4096) + b"\x00" * 8
     + struct.pack("<I", 10 ** 6) + b"\x00" * 40, "do not fit"),
], ids=lambda v: v if isinstance(v, str) and " " in v else "")
def test_damaged_databases_are_clear_errors(tmp_path, name, data, message):
    root = root_with(tmp_path, name, data)
    start = time.time()
    db = rpmdb.read(root)
    assert not db.known and message in db.error, db.error
    assert time.time() - start < 2


def test_a_directory_without_a_database_and_a_fifo(tmp_path):
    os.makedirs(str(tmp_path / "var/lib/rpm"))
    assert "holds no rpmdb.sqlite" in rpmdb.read(Root(str(tmp_path))).error
    os.mkfifo(str(tmp_path / "var/lib/rpm/Packages.db"))
    assert "not a regular file" in rpmdb.read(Root(str(tmp_path))).error     # and it did not block


def test_a_truncated_berkeley_db_and_a_looping_overflow_chain(tmp_path):
    if not rpmdbs.db_load():
        pytest.skip("needs db_load (apt-get install db5.3-util)")
    target = tmp_path / "var/lib/rpm"
    target.mkdir(parents=True)
    rpmdbs.bdb_file(str(target / "Packages"), BLOBS)
    data = (target / "Packages").read_bytes()
    assert [h.name for h in rpmdb.read(Root(str(tmp_path))).packages()] != []
    (target / "Packages").write_bytes(data[:len(data) - 512])
    assert "do not fit" in rpmdb.read(Root(str(tmp_path))).error
    # Every overflow page's "next page" pointing at itself: a loop, found, not followed forever.
    pages = bytearray(data)
    for pgno in range(1, len(data) // 512):
        page = pages[pgno * 512:(pgno + 1) * 512]
        if page[25] == 7:
            pages[pgno * 512 + 16:pgno * 512 + 20] = struct.pack("<I", pgno)
    (target / "Packages").write_bytes(bytes(pages))
    assert "loops" in rpmdb.read(Root(str(tmp_path))).error


def test_a_symlink_loop_where_the_database_is(tmp_path):
    os.makedirs(str(tmp_path / "var/lib/rpm"))
    os.symlink("Packages.db", str(tmp_path / "var/lib/rpm/Packages.db"))
    db = rpmdb.read(Root(str(tmp_path)))
    assert not db.known and "too many levels of symbolic links" in db.error
