"""Build rpm databases for tests, in the three formats agent/facts/rpmdb.py reads.

header_blob() writes an rpm header as rpm stores it in its database (index count, data
length, 16-byte big-endian index entries, data store), for tests on pyfakefs. ndb_bytes()
lays blobs out as rpm's lib/backend/ndb/rpmpkg.c does (header, slot pages, 16-byte blob
blocks). bdb_file() makes a real Berkeley DB hash with Berkeley DB's own db_load (package
db5.3-util). sqlite_file() makes the sqlite schema rpm 4.16+ uses (Packages(hnum, blob)).
Real headers come from real rpm (tests/test_rpmdb_real.py); these helpers only arrange them.
"""
import hashlib
import os
import shutil
import sqlite3
import struct
import subprocess
import sys

from agent.facts import rpmdb

STRING, STRING_ARRAY, INT16, INT32 = 6, 8, 3, 4


def header_blob(name, version="1.0", release="1", epoch=None, arch="x86_64", files=(), algo=8):
    """files: [(path, bytes or None for a link, mode, flags, link target)]."""
    tags = [(rpmdb.NAME, STRING, name), (rpmdb.VERSION, STRING, version), (rpmdb.RELEASE, STRING, release),
            (rpmdb.ARCH, STRING, arch), (1044, STRING, "{}-{}-{}.src.rpm".format(name, version, release)),
            (1004, STRING, "{} (a guestprep test fixture, built from the real "
                                                       "header format)".format(name))]
    if epoch is not None:
        tags.append((rpmdb.EPOCH, INT32, [epoch]))
    if files:
        dirs, bases, indexes, digests, modes, flags, links, sizes = [], [], [], [], [], [], [], []
        for path, content, mode, flag, link in files:
            directory, base = path.rsplit("/", 1)
            directory += "/"
            if directory not in dirs:
                dirs.append(directory)
            indexes.append(dirs.index(directory))
            bases.append(base)
            name_ = {1: "md5", 8: "sha256"}[algo]
            digests.append(hashlib.new(name_, content).hexdigest() if content is not None else "")
            modes.append(mode)
            flags.append(flag)
            links.append(link or "")
            sizes.append(len(content) if content is not None else len(link or ""))
        tags += [(rpmdb.FILESIZES, INT32, sizes), (rpmdb.FILEMODES, INT16, modes),
                 (rpmdb.FILEDIGESTS, STRING_ARRAY, digests), (rpmdb.FILELINKTOS, STRING_ARRAY, links),
                 (rpmdb.FILEFLAGS, INT32, flags), (rpmdb.DIRINDEXES, INT32, indexes),
                 (rpmdb.BASENAMES, STRING_ARRAY, bases), (rpmdb.DIRNAMES, STRING_ARRAY, dirs),
                 (rpmdb.FILEDIGESTALGO, INT32, [algo])]
    index, store = b"", b""
    for tag, kind, value in sorted(tags):
        if kind in (INT32,):
            store += b"\x00" * (-len(store) % 4)
            data = struct.pack(">{}I".format(len(value)), *value)
        elif kind == INT16:
            store += b"\x00" * (-len(store) % 2)
            data = struct.pack(">{}H".format(len(value)), *value)
        elif kind == STRING:
            data = value.encode() + b"\x00"
        else:
            data = b"".join(v.encode() + b"\x00" for v in value)
        count = len(value) if isinstance(value, list) else 1
        index += struct.pack(">iIiI", tag, kind, len(store), count)
        store += data
    return struct.pack(">II", len(tags), len(store)) + index + store


def ndb_bytes(blobs):
    """An ndb Packages.db holding `blobs` (package indexes 1..n)."""
    page, block = 4096, 16
    npages = 1
    slots = [struct.pack("<IIII", 0x746f6c53, 0, 0, 0)] * (npages * page // 16 - 2)
    data = b""
    offset = npages * page // block     # in blocks, after the slot pages
    for i, blob in enumerate(blobs, 1):
        record = struct.pack("<IIII", 0x53626c42, i, 0, len(blob)) + blob
        record += b"\x00" * (-len(record) % block)
        slots[i - 1] = struct.pack("<IIII", 0x746f6c53, i, offset, len(record) // block)
        data += record
        offset += len(record) // block
    head = struct.pack("<IIII", 0x506d7052, 0, 1, npages) + b"\x00" * 16
    return head + b"".join(slots) + data


def sqlite_file(path, blobs):
    """rpmdb.sqlite holding `blobs`: the schema made by real rpm (--initdb) when it is here,
    else its Packages table alone (all that -qa and agent/facts/rpmdb.py read)."""
    rpm = shutil.which("rpm")
    if rpm:
        import tempfile
        scratch = tempfile.mkdtemp()
        try:
            subprocess.run([rpm, "--dbpath", scratch, "--define", "_db_backend sqlite", "--initdb"], check=True)
            db = sqlite3.connect(os.path.join(scratch, "rpmdb.sqlite"))
            db.execute("PRAGMA journal_mode = DELETE")   # one file, no -wal/-shm beside it
            db.executemany("INSERT INTO Packages (hnum, blob) VALUES (?, ?)", list(enumerate(blobs, 1)))
            db.commit()
            db.execute("VACUUM")
            db.close()
            shutil.copyfile(os.path.join(scratch, "rpmdb.sqlite"), path)
        finally:
            shutil.rmtree(scratch)
        return
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)")
    db.executemany("INSERT INTO Packages (hnum, blob) VALUES (?, ?)", [(i, b) for i, b in enumerate(blobs, 1)])
    db.commit()
    db.close()


def db_load():
    return shutil.which("db5.3_load") or shutil.which("db_load")


def bdb_file(path, blobs, pagesize=512):
    """A Berkeley DB hash `Packages` as rpm writes it: key = instance number (native-endian
    uint32), value = header blob on overflow pages. Needs db_load (package db5.3-util).
    Real headers are kilobytes, always stored off-page (rpm's bdb_ro reads nothing else);
    the small page size keeps the small test headers off-page too."""
    lines = ["VERSION=3", "format=bytevalue", "type=hash", "db_pagesize={}".format(pagesize), "HEADER=END"]
    for i, blob in enumerate(blobs, 1):
        lines.append(" " + struct.pack("=I", i).hex())
        lines.append(" " + blob.hex())
    lines.append("DATA=END")
    if os.path.exists(path):
        os.remove(path)
    subprocess.run([db_load(), path], input=("\n".join(lines) + "\n").encode(), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


if __name__ == "__main__":   # python tests/rpmdbs.py ndb|bdb|sqlite OUT blob-files...
    kind, out, sources = sys.argv[1], sys.argv[2], sys.argv[3:]
    blobs = [open(s, "rb").read() for s in sources]
    if kind == "ndb":
        with open(out, "wb") as handle:
            handle.write(ndb_bytes(blobs))
    elif kind == "bdb":
        bdb_file(out, blobs)
    else:
        sqlite_file(out, blobs)
