"""The rpm database of a target, read directly: no rpm process, nothing written.

An image is untrusted input: asking its own `rpm` means running the image's code as root
on the host, and an rpm query can create `__db.*` files in an EL7/EL8 image (issue 11). So
the three formats rpm stores installed headers in are read here, as go-rpmdb, syft and
trivy read them:

- sqlite (`rpmdb.sqlite`, EL9, Fedora 33+, rpm >= 4.16 default): table Packages(hnum, blob),
  opened read-only and immutable (`file:...?mode=ro&immutable=1`), so sqlite takes no lock
  and writes no journal or WAL file next to it;
- Berkeley DB hash (`Packages`, EL7, EL8, SUSE before 15.3): the header blobs are the
  values of the hash, kept on overflow pages (or inline when small) -- db_page.h;
- ndb (`Packages.db`, SUSE 15.3+; rpm's lib/backend/ndb/rpmpkg.c): a slot table, then
  blobs of 16-byte blocks, little-endian.

Each value is an rpm header as rpm stores it in its database ("unloaded", without the
8-byte header magic): int32 index count, int32 data length, the index entries (tag, type,
offset, count: 16 bytes each, big-endian), then the data store. The files each package
owns come from BASENAMES/DIRNAMES/DIRINDEXES, their digests from FILEDIGESTS
(algorithm in FILEDIGESTALGO, MD5 when absent), %config from FILEFLAGS.
"""
import errno
import os
import stat
import struct

from agent.core.rootfs import RootError

DB_DIRS = ("/usr/lib/sysimage/rpm", "/var/lib/rpm")
FILES = (("sqlite", "rpmdb.sqlite"), ("ndb", "Packages.db"), ("bdb", "Packages"))

# Header tags and types (rpm's rpmtag.h).
NAME, VERSION, RELEASE, EPOCH, ARCH = 1000, 1001, 1002, 1003, 1022
OLDFILENAMES, FILESIZES, FILEMODES, FILEDIGESTS, FILELINKTOS, FILEFLAGS = 1027, 1028, 1030, 1035, 1036, 1037
FILEUSERNAME, FILEGROUPNAME = 1039, 1040
DIRINDEXES, BASENAMES, DIRNAMES = 1116, 1117, 1118
FILEDIGESTALGO = 5011
RPMFILE_CONFIG, RPMFILE_GHOST = 1, 64
# PGP hash algorithm numbers rpm uses for FILEDIGESTALGO -> hashlib names.
DIGEST_ALGOS = {1: "md5", 2: "sha1", 8: "sha256", 9: "sha384", 10: "sha512", 11: "sha224"}

_INT_TYPES = {2: ("B", 1), 3: ("H", 2), 4: ("I", 4), 5: ("Q", 8)}
MAX_INDEX = 1 << 20         # index entries in one header (rpm's own limit is 0x0000ffff * 4)
MAX_DATA = 256 << 20        # bytes in one header's data store (rpm: 256 MiB)
MAX_BLOB = MAX_DATA + 16 * MAX_INDEX + 8


class RpmDbError(Exception):
    """The database cannot be read (damaged, unknown format); the message says what and where."""


class Header(object):
    """One parsed header: tag -> value (str, bytes, int list or str list)."""

    def __init__(self, blob):
        self.tags = parse_header(blob)

    def get(self, tag, default=None):
        return self.tags.get(tag, default)

    def string(self, tag):
        value = self.tags.get(tag)
        if isinstance(value, list):
            value = value[0] if value else None
        return value if isinstance(value, str) else ""

    def ints(self, tag):
        value = self.tags.get(tag)
        return value if isinstance(value, list) and all(isinstance(v, int) for v in value) else []

    def strings(self, tag):
        value = self.tags.get(tag)
        if isinstance(value, str):
            return [value]
        return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else []

    @property
    def name(self):
        return self.string(NAME)

    @property
    def evr(self):
        """VERSION-RELEASE, as `rpm -q --qf '%{VERSION}-%{RELEASE}'` prints it."""
        return "{}-{}".format(self.string(VERSION), self.string(RELEASE))

    @property
    def epoch(self):
        value = self.ints(EPOCH)
        return value[0] if value else None

    @property
    def arch(self):
        return self.string(ARCH)

    def filenames(self):
        """Every path the package owns, in header order."""
        basenames = self.strings(BASENAMES)
        if not basenames:
            return list(self.strings(OLDFILENAMES))
        dirnames = self.strings(DIRNAMES)
        indexes = self.ints(DIRINDEXES)
        if len(indexes) != len(basenames):
            raise RpmDbError("package {}: {} file names but {} directory indexes".format(
                self.name, len(basenames), len(indexes)))
        names = []
        for base, index in zip(basenames, indexes):
            if index >= len(dirnames):
                raise RpmDbError("package {}: directory index {} out of range".format(self.name, index))
            names.append(dirnames[index] + base)
        return names

    def files(self):
        """[{path, digest, algo, mode, config, link, user, group, size}] for each owned path."""
        names = self.filenames()
        digests = self.strings(FILEDIGESTS)
        modes = self.ints(FILEMODES)
        flags = self.ints(FILEFLAGS)
        links = self.strings(FILELINKTOS)
        users = self.strings(FILEUSERNAME)
        groups = self.strings(FILEGROUPNAME)
        sizes = self.ints(FILESIZES)
        algo_ids = self.ints(FILEDIGESTALGO)
        algo = DIGEST_ALGOS.get(algo_ids[0] if algo_ids else 1, "")

        def at(values, i, default):
            return values[i] if i < len(values) else default
        return [{"path": path, "digest": at(digests, i, ""), "algo": algo, "mode": at(modes, i, None),
                 "config": bool(at(flags, i, 0) & RPMFILE_CONFIG), "link": at(links, i, ""),
                 "flags_ghost": bool(at(flags, i, 0) & RPMFILE_GHOST),
                 "user": at(users, i, ""), "group": at(groups, i, ""), "size": at(sizes, i, None)}
                for i, path in enumerate(names)]


def _strings(data, start, count, end):
    values = []
    pos = start
    for _ in range(count):
        stop = data.find(b"\x00", pos, end)
        if stop < 0:
            raise RpmDbError("string runs past the data store")
        values.append(data[pos:stop].decode("utf-8", "surrogateescape"))
        pos = stop + 1
    return values


def parse_header(blob):
    """{tag: value} of an rpm header blob as stored in the database (no leading magic)."""
    if len(blob) >= 16 and blob[:3] == b"\x8e\xad\xe8":
        blob = blob[8:]     # a header with its magic (as in a package file): skip it
    if len(blob) < 8:
        raise RpmDbError("header too short ({} bytes)".format(len(blob)))
    count, size = struct.unpack(">II", blob[:8])
    if count == 0 or count > MAX_INDEX or size > MAX_DATA or 8 + 16 * count + size > len(blob):
        raise RpmDbError("header index ({} entries, {} bytes of data) does not fit its {} bytes".format(
            count, size, len(blob)))
    store = 8 + 16 * count
    end = store + size
    tags = {}
    for i in range(count):
        tag, kind, offset, n = struct.unpack(">iIiI", blob[8 + 16 * i:24 + 16 * i])
        if offset < 0 or offset > size:
            raise RpmDbError("tag {}: offset {} outside the data store".format(tag, offset))
        if tag in tags or tag < 1000:
            continue        # region tags (61-63), i18n table, signature tags: not needed here
        pos = store + offset
        if kind in (6,):            # STRING
            value = _strings(blob, pos, 1, end)[0]
        elif kind in (8, 9):        # STRING_ARRAY, I18NSTRING
            if n > size:
                raise RpmDbError("tag {}: {} strings in {} bytes".format(tag, n, size))
            value = _strings(blob, pos, n, end)
        elif kind in _INT_TYPES:
            code, width = _INT_TYPES[kind]
            if pos + width * n > end:
                raise RpmDbError("tag {}: {} integers run past the data store".format(tag, n))
            value = list(struct.unpack(">{}{}".format(n, code), blob[pos:pos + width * n]))
        elif kind in (1, 7):        # CHAR, BIN
            if pos + n > end:
                raise RpmDbError("tag {}: {} bytes run past the data store".format(tag, n))
            value = blob[pos:pos + n]
        else:
            continue
        tags[tag] = value
    if NAME not in tags:
        raise RpmDbError("header without a package name")
    return tags


# -- finding and opening the database -------------------------------------------------------

def _configured_backend(root):
    """%_db_backend from the target's own macro files (data, never executed), or ''."""
    backend = ""
    for path in ("/usr/lib/rpm/macros", "/etc/rpm/macros") + tuple(
            sorted(root.glob("/usr/lib/rpm/macros.d/macros.*")) + sorted(root.glob("/etc/rpm/macros.*"))):
        try:
            text = root.read_text_or_none(path, limit=1 << 20)
        except RootError:
            continue
        for line in (text or "").splitlines():
            words = line.split()
            if len(words) >= 2 and words[0] == "%_db_backend":
                backend = words[1]
    return backend


def locate(root):
    """(format, guest path) of the target's rpm database, or (None, why not)."""
    found = []
    for directory in DB_DIRS:
        for kind, name in FILES:
            path = directory + "/" + name
            if root.lexists(path):
                real = root.guest(root.resolve(path)) if root.exists(path) else path
                if (kind, real) not in found:
                    found.append((kind, real))
    if not found:
        if any(root.isdir(d) for d in DB_DIRS):
            return None, "the rpm database directory holds no rpmdb.sqlite, Packages.db or Packages"
        return None, "no rpm database"
    if len(set(kind for kind, _p in found)) > 1:
        backend = _configured_backend(root).replace("bdb_ro", "bdb")
        chosen = [f for f in found if f[0] == backend]
        if chosen:
            return chosen[0]
    return found[0]


def _open(root, path):
    """(fd, size) of a regular file inside the root, opened read-only without following a
    last symlink (the path is resolved inside the root first)."""
    host = root.resolve(path)
    try:
        # Look before opening: opening a device or FIFO can act or block.
        if not stat.S_ISREG(os.lstat(host).st_mode):
            raise RpmDbError("{}: not a regular file".format(path))
        fd = os.open(host, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as e:
        raise RpmDbError("{}: {}".format(path, os.strerror(e.errno)))
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise RpmDbError("{}: not a regular file".format(path))
    return fd, st.st_size


def _pread(handle, size, offset, path):
    """Exactly `size` bytes at `offset` of an unbuffered file, or RpmDbError."""
    try:
        handle.seek(offset)
        chunks, got = [], 0
        while got < size:
            chunk = handle.read(size - got)
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        data = b"".join(chunks)
    except OSError as e:
        raise RpmDbError("{}: {}".format(path, os.strerror(e.errno)))
    if len(data) != size:
        raise RpmDbError("{}: truncated at offset {}".format(path, offset))
    return data


def read_blobs(root, kind, path):
    """Every header blob in the database file (a list of bytes). Raises RpmDbError."""
    if kind == "sqlite":
        return _sqlite_blobs(root, path)
    fd, size = _open(root, path)
    handle = os.fdopen(fd, "rb", buffering=0)
    try:
        if kind == "bdb":
            return list(_bdb_blobs(handle, size, path))
        if kind == "ndb":
            return list(_ndb_blobs(handle, size, path))
    finally:
        handle.close()
    raise RpmDbError("{}: unknown database format {}".format(path, kind))


def _sqlite_blobs(root, path):
    import sqlite3
    from urllib.parse import quote
    host = root.resolve(path)
    try:
        if not stat.S_ISREG(os.lstat(host).st_mode):
            raise RpmDbError("{}: not a regular file".format(path))
    except OSError as e:
        raise RpmDbError("{}: {}".format(path, os.strerror(e.errno)))
    # immutable=1: no locks, no -wal/-shm/-journal files, no writes of any kind.
    uri = "file:{}?mode=ro&immutable=1".format(quote(host))
    try:
        db = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as e:
        raise RpmDbError("{}: {}".format(path, e))
    try:
        return [bytes(row[0]) for row in db.execute("SELECT blob FROM Packages ORDER BY hnum")
                if row[0] is not None]
    except sqlite3.Error as e:
        raise RpmDbError("{}: {}".format(path, e))
    finally:
        db.close()


# Berkeley DB (db_page.h): the meta page, then pages with a 26-byte header.
_BDB_HASH_MAGIC = 0x061561
_P_HASH_UNSORTED, _P_OVERFLOW, _P_HASH = 2, 7, 13
_H_KEYDATA, _H_OFFPAGE = 1, 3
_PAGE_HEADER = 26


def _bdb_blobs(fd, size, path):
    meta = _pread(fd, 72, 0, path) if size >= 72 else b""
    if len(meta) < 72:
        raise RpmDbError("{}: too short for a Berkeley DB".format(path))
    for order in ("<", ">"):
        if struct.unpack(order + "I", meta[12:16])[0] == _BDB_HASH_MAGIC:
            break
    else:
        raise RpmDbError("{}: not a Berkeley DB hash database (magic {})".format(path, meta[12:16].hex()))
    pagesize, = struct.unpack(order + "I", meta[20:24])
    last, = struct.unpack(order + "I", meta[32:36])
    if pagesize < 512 or pagesize > 65536 or pagesize & (pagesize - 1):
        raise RpmDbError("{}: implausible page size {}".format(path, pagesize))
    if (last + 1) * pagesize > size:
        raise RpmDbError("{}: {} pages of {} bytes do not fit its {} bytes".format(path, last + 1, pagesize, size))
    for pgno in range(1, last + 1):
        page = _pread(fd, pagesize, pgno * pagesize, path)
        if page[25] not in (_P_HASH, _P_HASH_UNSORTED):
            continue
        entries, = struct.unpack(order + "H", page[20:22])
        if entries % 2 or _PAGE_HEADER + 2 * entries > pagesize:
            raise RpmDbError("{}: page {}: damaged index ({} entries)".format(path, pgno, entries))
        offsets = struct.unpack(order + "{}H".format(entries), page[_PAGE_HEADER:_PAGE_HEADER + 2 * entries])
        for i in range(1, entries, 2):      # key, value, key, value ...: the values
            offset = offsets[i]
            if offset >= pagesize or offset < _PAGE_HEADER + 2 * entries:
                raise RpmDbError("{}: page {}: item offset {} outside the page".format(path, pgno, offset))
            kind = page[offset]
            if kind == _H_OFFPAGE:
                if offset + 12 > pagesize:
                    raise RpmDbError("{}: page {}: damaged overflow reference".format(path, pgno))
                first, length = struct.unpack(order + "II", page[offset + 4:offset + 12])
                yield _bdb_overflow(fd, first, length, pagesize, last, order, path)
            elif kind == _H_KEYDATA:
                # Inline item: it ends where the previous item (the key before it) starts.
                end = offsets[i - 1]
                if end <= offset or end > pagesize:
                    raise RpmDbError("{}: page {}: damaged inline item".format(path, pgno))
                data = page[offset + 1:end]
                if len(data) > 8:       # key 0's value is rpm's 4-byte instance counter
                    yield data


def _bdb_overflow(fd, pgno, length, pagesize, last, order, path):
    if length > MAX_BLOB:
        raise RpmDbError("{}: a {}-byte value is larger than any header".format(path, length))
    chunks, got, seen = [], 0, set()
    while pgno:
        if pgno > last or pgno in seen:
            raise RpmDbError("{}: overflow chain leaves the file or loops (page {})".format(path, pgno))
        seen.add(pgno)
        page = _pread(fd, pagesize, pgno * pagesize, path)
        if page[25] != _P_OVERFLOW:
            raise RpmDbError("{}: page {} should be an overflow page".format(path, pgno))
        nxt, = struct.unpack(order + "I", page[16:20])
        used, = struct.unpack(order + "H", page[22:24])
        if _PAGE_HEADER + used > pagesize:
            raise RpmDbError("{}: overflow page {} claims {} bytes".format(path, pgno, used))
        chunks.append(page[_PAGE_HEADER:_PAGE_HEADER + used])
        got += used
        pgno = nxt
    data = b"".join(chunks)
    if got != length:
        raise RpmDbError("{}: overflow chain holds {} bytes, expected {}".format(path, got, length))
    return data


# ndb (rpm's lib/backend/ndb/rpmpkg.c): little-endian throughout.
_NDB_MAGIC = struct.unpack("<I", b"RpmP")[0]
_NDB_SLOT = struct.unpack("<I", b"Slot")[0]
_NDB_BLOB = struct.unpack("<I", b"BlbS")[0]
_NDB_PAGE = 4096
_NDB_BLOCK = 16


def _ndb_blobs(fd, size, path):
    head = _pread(fd, 32, 0, path) if size >= 32 else b""
    if len(head) < 32:
        raise RpmDbError("{}: too short for an ndb database".format(path))
    magic, version, _generation, npages = struct.unpack("<IIII", head[:16])
    if magic != _NDB_MAGIC or version != 0:
        raise RpmDbError("{}: not an rpm ndb database (magic {}, version {})".format(path, head[:4].hex(), version))
    if npages == 0 or npages > 2048 or npages * _NDB_PAGE > size:
        raise RpmDbError("{}: implausible slot table ({} pages)".format(path, npages))
    table = _pread(fd, npages * _NDB_PAGE - 32, 32, path)
    for i in range(len(table) // 16):
        slot_magic, pkgidx, blkoff, blkcnt = struct.unpack("<IIII", table[16 * i:16 * i + 16])
        if slot_magic != _NDB_SLOT:
            raise RpmDbError("{}: slot {} is damaged".format(path, i))
        if pkgidx == 0:
            continue
        start = blkoff * _NDB_BLOCK
        if start + 16 > size or blkcnt * _NDB_BLOCK > MAX_BLOB + 64:
            raise RpmDbError("{}: package {} lies outside the file".format(path, pkgidx))
        blob_magic, blob_idx, _cksum, length = struct.unpack("<IIII", _pread(fd, 16, start, path))
        if blob_magic != _NDB_BLOB or blob_idx != pkgidx:
            raise RpmDbError("{}: package {}: damaged blob header".format(path, pkgidx))
        if 16 + length > blkcnt * _NDB_BLOCK or start + 16 + length > size:
            raise RpmDbError("{}: package {}: blob longer than its blocks".format(path, pkgidx))
        yield _pread(fd, length, start + 16, path)


# -- the database as guestprep uses it ------------------------------------------------------

class RpmDb(object):
    """The target's installed rpm headers, read once. `error` says why they are unknown."""

    def __init__(self, kind, path, headers, error=""):
        self.kind = kind
        self.path = path
        self.headers = headers
        self.error = error
        self._owners = None

    @property
    def known(self):
        return not self.error

    def packages(self):
        """[Header] of installed packages (gpg-pubkey pseudo-packages left out)."""
        return [h for h in self.headers if not h.name.startswith("gpg-pubkey")]

    def owners(self):
        """{path: [(Header, file dict)]} over every package's files."""
        if self._owners is None:
            owners = {}
            for header in self.packages():
                for entry in header.files():
                    owners.setdefault(entry["path"], []).append((header, entry))
            self._owners = owners
        return self._owners


def read(root):
    """RpmDb of the target (headers parsed); a damaged or unreadable one has `error` set."""
    try:
        kind, path = locate(root)
    except RootError as e:
        return RpmDb("unknown", None, [], "{}: {}".format(e.path, e.reason))
    if kind is None:
        return RpmDb(None, None, [], path)
    try:
        blobs = read_blobs(root, kind, path)
        headers = []
        for number, blob in enumerate(blobs, 1):
            try:
                headers.append(Header(blob))
            except RpmDbError as e:
                raise RpmDbError("{}: header {}: {}".format(path, number, e))
    except RootError as e:
        return RpmDb(kind, path, [], "{}: {}".format(e.path, e.reason))
    except (RpmDbError, OSError, ValueError, struct.error, MemoryError) as e:
        if isinstance(e, OSError) and e.errno == errno.ENOMEM:
            return RpmDb(kind, path, [], "{}: too large to read".format(path))
        return RpmDb(kind, path, [], str(e))
    if not headers:
        return RpmDb(kind, path, [], "{} ({}) lists no package".format(path, kind))
    return RpmDb(kind, path, headers)
