"""The rpm database readers under mutated databases: read() never raises, and answers in
time, for any bytes in rpmdb.sqlite, Packages (Berkeley DB) or Packages.db (ndb).

The databases are real ones built here (rpmdbs: ndb as rpm's rpmpkg.c lays it out, Berkeley
DB by db_load when present, sqlite with rpm's table), then mutated: bytes flipped,
inserted, cut, 32-bit fields rewritten with huge values.
"""
import os
import shutil
import struct
import sys
import tempfile
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fuzzlib import count, fuzz_settings

pytestmark = pytest.mark.fuzz
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import rpmdbs  # noqa: E402
from agent.facts import rpmdb  # noqa: E402
from agent.core.rootfs import Root  # noqa: E402

FILES = [("/etc/issue", b"\\S\n", 0o100644, 17, None), ("/etc/os-release", None, 0o120777, 0, "../usr/lib/os-release")]
BLOBS = [rpmdbs.header_blob("x-release", "1", "2", files=FILES), rpmdbs.header_blob("kernel", "5.14", "1")] * 3


def _bases():
    bases = [("Packages.db", rpmdbs.ndb_bytes(BLOBS))]
    scratch = tempfile.mkdtemp()
    try:
        if rpmdbs.db_load():
            rpmdbs.bdb_file(os.path.join(scratch, "Packages"), BLOBS)
            with open(os.path.join(scratch, "Packages"), "rb") as handle:
                bases.append(("Packages", handle.read()))
        rpmdbs.sqlite_file(os.path.join(scratch, "rpmdb.sqlite"), BLOBS)
        with open(os.path.join(scratch, "rpmdb.sqlite"), "rb") as handle:
            bases.append(("rpmdb.sqlite", handle.read()))
    finally:
        shutil.rmtree(scratch)
    return bases


BASES = _bases()


@st.composite
def mutated(draw):
    name, data = draw(st.sampled_from(BASES))
    data = bytearray(data)
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "word", "cut", "insert"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "word" and len(data) >= at + 4:
            data[at:at + 4] = struct.pack("<I", draw(st.sampled_from([0, 1, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 4096])))
        elif kind == "cut":
            del data[at:at + draw(st.integers(1, 4096))]
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
    return name, bytes(data)


@fuzz_settings(1)
@given(mutated())
def test_rpm_database_reader_never_raises(case):
    name, data = case
    count("rpmdb")
    base = tempfile.mkdtemp()
    try:
        os.makedirs(os.path.join(base, "var/lib/rpm"))
        with open(os.path.join(base, "var/lib/rpm", name), "wb") as handle:
            handle.write(data)
        start = time.time()
        db = rpmdb.read(Root(base))
        if db.known:
            for header in db.packages():
                try:
                    header.files()
                except rpmdb.RpmDbError:
                    pass
        assert time.time() - start < 5
    finally:
        shutil.rmtree(base)
