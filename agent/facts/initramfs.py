"""List the file names inside an initramfs image, without unpacking it.

Whether virtio_blk or nvme can load before the root filesystem is mounted depends on
what is inside each kernel's initramfs (seed 000: virtio_net must be in the initramfs;
003: GUESTOS.Virtio, GUESTOS.Nvme). The image format is the one the kernel unpacks
(Documentation/driver-api/early-userspace/buffer-format.rst): one or more cpio archives
(newc 070701, crc 070702, odc and old binary 070707), each optionally compressed, one
after the other with zero padding between them. Dracut and initramfs-tools put an
uncompressed early-microcode archive first and the compressed main archive after it.

Only headers are parsed; file data is skipped (seeked over in the raw file, discarded
while decompressing), and `iter_names` is a generator, so a caller that has found what
it looks for stops reading there. gzip, xz, lzma and bzip2 are decompressed with the
standard library; zstd and lz4 (Debian 12 and Ubuntu defaults) are not in Python 3.6's,
so they go through the `zstandard`/`lz4` modules when importable, else through the HOST's
`zstd -dc` / `lz4 -dc` (runner.host_stream: found on the machine guestprep runs on, run
by absolute path with the image file as standard input, never chrooted). Never the
image's own tool: an image is untrusted input (issue 11). Where neither exists, the
error says so and which package to install here; the caller reports "unknown", not a guess.
"""
import bz2
import errno
import lzma
import os
import stat
import zlib

from agent.core.model import Message
from agent.core.rootfs import RootError
from agent.parsers import kmod

# Reads and decompressed pieces are kept at 64 KiB: below glibc's mmap threshold (128 KiB),
# so every buffer comes from the heap and is reused. Larger ones are mapped and unmapped per
# read, and the page faults of that cost more than the decompression of a zstd image (measured
# by benchmarks/bench_check.py: 256 KiB reads of a 51 MB image spent 40 ms more in the kernel).
CHUNK = 1 << 16
# What a decompressing process's output is read in: a header, its name and a small file's data.
HEADER_READ = 1 << 13
MODULE_SUFFIXES = (".ko", ".ko.xz", ".ko.zst", ".ko.gz")

# Compressed segments: magic -> name. lz4 images use the legacy frame (lz4 -l).
_MAGICS = (
    (b"\x1f\x8b", "gzip"),
    (b"\x1f\x9e", "gzip"),                # "old gzip", accepted by the kernel too
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x5d\x00\x00", "lzma"),
    (b"BZh", "bzip2"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\x02\x21\x4c\x18", "lz4"),
    (b"\x04\x22\x4d\x18", "lz4"),
    (b"\x89LZO", "lzo"),
)
# Decompressed by a tool of this machine: (argv, the package a person installs). zstd skips the
# frame's checksum (--no-check, 5 % of its time): it covers the files' data, which is thrown away,
# and is verified only after the last name was read, when a failure no longer changes the answer.
_TOOLS = {
    "zstd": (("zstd", "-dcq", "--no-check"), "zstd"),
    "lz4": (("lz4", "-dcq"), "lz4"),
    "lzo": (("lzop", "-dc"), "lzop"),
}
_NEWC = (b"070701", b"070702")
_TRAILER = "TRAILER!!!"


class InitramfsError(Exception):
    """The image cannot be read: not an initramfs, truncated, or no way to decompress it.

    Raised with a Message (or an OS's own error text); `message` gives it back unflattened,
    so the finding that quotes it is translated (issue 15)."""

    @property
    def message(self):
        return self.args[0] if self.args else ""


def compression_of(head):
    """The compression named by the first bytes of a segment, or None."""
    for magic, name in _MAGICS:
        if head.startswith(magic):
            return name
    return None


def module_name(path):
    """'virtio_blk' for '.../virtio_blk.ko.xz' (and nvme_core for nvme-core.ko); None otherwise."""
    base = path.rsplit("/", 1)[-1]
    for suffix in MODULE_SUFFIXES:
        if base.endswith(suffix):
            # The kernel treats '-' and '_' in module names alike; files use either.
            return base[:-len(suffix)].replace("-", "_")
    return None


# -- byte sources ---------------------------------------------------------------

class _Source(object):
    """A forward-only byte stream with peek; subclasses supply _fill().

    The buffer is consumed by moving an index, not by slicing: headers are small and
    chunks large, and copying the rest of a chunk per header read would dominate.
    """

    def __init__(self):
        self._buf = b""
        self._i = 0            # next unread byte in _buf
        self._pos = 0          # bytes consumed, relative to where this source started
        self.eof = False

    def _fill(self):
        raise NotImplementedError

    def _available(self):
        return len(self._buf) - self._i

    def _need(self, n):
        while self._available() < n and not self.eof:
            chunk = self._fill()
            if chunk:
                self._buf = self._buf[self._i:] + chunk
                self._i = 0
            else:
                self.eof = True
        return self._available() >= n

    def peek(self, n):
        if len(self._buf) - self._i < n:
            self._need(n)
        return self._buf[self._i:self._i + n]

    def read(self, n):
        if len(self._buf) - self._i < n:
            self._need(n)
        data = self._buf[self._i:self._i + n]
        self._i += len(data)
        self._pos += len(data)
        return data

    def skip(self, n):
        """Skip n bytes; False when the stream ended first."""
        while n > 0:
            if not self._available() and not self._need(1):
                return False
            step = min(n, self._available())
            self._i += step
            self._pos += step
            n -= step
        return True

    def skip_zeros(self):
        """Skip zero padding between archives."""
        if self._i < len(self._buf) and self._buf[self._i]:
            return               # a header follows at once (every entry but the padded ones)
        while self._need(1):
            rest = len(self._buf) - len(self._buf[self._i:].lstrip(b"\x00"))
            self._pos += rest - self._i
            self._i = rest
            if self._available():
                return

    def tell(self):
        return self._pos


class _FileSource(_Source):
    """The raw image from `start`; skips are seeks."""

    def __init__(self, fd, start, size):
        _Source.__init__(self)
        self.fd = fd
        self.start = start
        self.size = size
        self._offset = start     # file offset of the end of _buf

    def _fill(self):
        os.lseek(self.fd, self._offset, os.SEEK_SET)
        chunk = os.read(self.fd, CHUNK)
        self._offset += len(chunk)
        return chunk

    def skip(self, n):
        if n > self._available():
            skipped_past = n - self._available()
            self._pos += n
            self._buf, self._i = b"", 0
            self._offset += skipped_past
            if self._offset > self.size:
                self.eof = True
                return False
            return True
        return _Source.skip(self, n)

    @property
    def offset(self):
        """File offset of the next unread byte."""
        return self.start + self._pos


class _DecompressingSource(_Source):
    """Decompresses one stream read from a _FileSource; `end_offset` is where it ended."""

    def __init__(self, raw, decompressor, name):
        _Source.__init__(self)
        self.raw = raw
        self.d = decompressor
        self.name = name
        self.end_offset = None

    def _fill(self):
        while True:
            if getattr(self.d, "eof", False):
                # What the decompressor did not use is the next segment of the image.
                self.end_offset = self.raw.offset - len(self.d.unused_data)
                return b""
            # The decompressor may hold input it has not turned into output yet (it stops at
            # CHUNK bytes of output): zlib hands it back as unconsumed_tail, lzma and bz2 keep it.
            tail = getattr(self.d, "unconsumed_tail", None)
            if tail:
                data = tail
            elif tail is None and not getattr(self.d, "needs_input", True):
                data = b""
            else:
                data = self.raw.read(CHUNK)
                if not data:
                    raise InitramfsError(Message("truncated {name} data", name=self.name))
            try:
                out = self.d.decompress(data, CHUNK)
            except (zlib.error, lzma.LZMAError, OSError, EOFError, ValueError) as e:
                raise InitramfsError(Message("damaged {name} data: {error}", name=self.name, error=str(e)))
            if out:
                return out


class _ProcessSource(_Source):
    """Standard output of a decompressing process.

    Headers are read in small pieces and the files' data between them is discarded by the
    stream (spliced to /dev/null where it can be): a 51 MB image then costs the reader its
    headers, not a copy of every byte into this process.
    """

    def __init__(self, stream):
        _Source.__init__(self)
        self.stream = stream
        # One read(2) per piece where the stream offers it: a buffered read() of a pipe loops
        # until it has the bytes asked for and copies them once more.
        self._read = getattr(stream, "read1", stream.read)
        self._discard = getattr(stream, "discard", None) or (lambda n: len(self._read(min(n, CHUNK))))

    def _fill(self):
        return self._read(HEADER_READ)

    def skip(self, n):
        if n <= self._available():
            return _Source.skip(self, n)
        n -= self._available()
        self._pos += self._available()
        self._buf, self._i = b"", 0
        while n > 0:
            dropped = self._discard(n)
            if not dropped:
                self.eof = True
                return False
            n -= dropped
            self._pos += dropped
        return True


class _ModuleSource(_Source):
    """zstandard / lz4 Python modules, when installed: no process needed."""

    def __init__(self, raw, reader):
        _Source.__init__(self)
        self.reader = reader

    def _fill(self):
        return self.reader.read(CHUNK)


class _RawReader(object):
    """A file-like view of a _FileSource for the zstandard/lz4 stream readers."""

    def __init__(self, raw):
        self.raw = raw

    def read(self, n=-1):
        return self.raw.read(CHUNK if n is None or n < 0 else n)


def _python_decompressor(name):
    if name == "gzip":
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if name == "xz":
        return lzma.LZMADecompressor(lzma.FORMAT_XZ)
    if name == "lzma":
        return lzma.LZMADecompressor(lzma.FORMAT_ALONE)
    if name == "bzip2":
        return bz2.BZ2Decompressor()
    return None


def _module_reader(name, raw):
    """A stream reader from an optional module, or None when it is not installed."""
    try:
        if name == "zstd":
            import zstandard
            return zstandard.ZstdDecompressor().stream_reader(_RawReader(raw), read_across_frames=True)
        if name == "lz4" and raw.peek(4) == b"\x04\x22\x4d\x18":
            import lz4.frame
            return lz4.frame.LZ4FrameFile(_RawReader(raw), "rb")
    except (ImportError, TypeError):
        return None
    return None


# -- cpio -------------------------------------------------------------------------

def _hex(field, what):
    try:
        return int(field, 16)
    except ValueError:
        raise InitramfsError(Message("damaged cpio header ({what} {value})", what=what, value=repr(field)))


# The largest file whose data a caller can ask for (an image's modules.dep: a generic kernel's
# lists every module in a few hundred KiB); a larger one is skipped like any other.
MAX_KEPT = 4 << 20
# The kernel's own unpacker refuses names longer than PATH_MAX; so do we, before reading
# them, so a damaged header cannot make us allocate gigabytes.
PATH_MAX = 4096


def _name_size(namesize):
    if namesize > PATH_MAX:
        raise InitramfsError(Message("damaged cpio header (name size {size})", size=namesize))
    return namesize


def _cpio(src, keep=None):
    """Yield (name, data) of the cpio archives at the start of `src`, one after the other.

    data is None, the file's data skipped, except for regular files of newc archives that
    `keep(name)` is true of and that hold at most MAX_KEPT bytes. Stops (without consuming)
    at data that is neither a cpio header nor zero padding: in the raw image that is the
    next, compressed, segment.
    """
    while True:
        src.skip_zeros()
        head = src.peek(6)
        if not head:
            return
        if head in _NEWC:
            header = src.read(110)
            if len(header) < 110:
                raise InitramfsError(Message("truncated cpio header"))
            filesize = _hex(header[54:62], Message("file size"))
            namesize = _name_size(_hex(header[94:102], Message("name size")))
            name = src.read(namesize)
            if len(name) < namesize:
                raise InitramfsError(Message("truncated cpio name"))
            src.skip((4 - (110 + namesize) % 4) % 4)
            data_pad = (4 - filesize % 4) % 4
            mode = header[14:22]
        elif head == b"070707":          # odc: octal, no padding
            header = src.read(76)
            if len(header) < 76:
                raise InitramfsError(Message("truncated cpio header"))
            try:
                namesize, filesize = int(header[59:65], 8), int(header[65:76], 8)
            except ValueError:
                raise InitramfsError(Message("damaged odc cpio header"))
            name = src.read(_name_size(namesize))
            data_pad = 0
            mode = None          # data is kept from newc archives only, the only kind builders write
        elif head[:2] in (b"\xc7\x71", b"\x71\xc7"):   # old binary, either byte order
            header = src.read(26)
            if len(header) < 26:
                raise InitramfsError(Message("truncated cpio header"))
            order = "little" if header[:2] == b"\xc7\x71" else "big"

            def word(i):
                return int.from_bytes(header[i:i + 2], order)
            namesize = word(20)
            filesize = (word(22) << 16) | word(24)
            name = src.read(namesize)
            src.skip(namesize % 2)
            data_pad = filesize % 2
            mode = None
        else:
            return
        text = name.rstrip(b"\x00").decode("utf-8", "surrogateescape")
        if text == _TRAILER:
            continue
        name = text[2:] if text.startswith("./") else text
        data = None
        if keep is not None and filesize <= MAX_KEPT and _regular(mode) and keep(name):
            data = _take(src, filesize)
            if len(data) < filesize:
                raise InitramfsError(Message("truncated cpio data of {name}", name=text))
            src.skip(data_pad)
        elif not src.skip(filesize + data_pad) and filesize:
            raise InitramfsError(Message("truncated cpio data of {name}", name=text))
        yield name, data


def _regular(mode):
    """Whether a newc header's mode field (None for other formats) is a regular file's."""
    try:
        return mode is not None and int(mode, 16) & 0o170000 == 0o100000
    except ValueError:
        return False


def _take(src, n):
    """n bytes of `src` (fewer at its end), read in pieces of at most CHUNK."""
    parts = []
    while n > 0:
        part = src.read(min(n, CHUNK))
        if not part:
            break
        parts.append(part)
        n -= len(part)
    return b"".join(parts)


# -- the image ------------------------------------------------------------------------

def _open(root, path):
    try:
        host = root.resolve(path)
    except RootError as e:
        raise InitramfsError(e.reason)
    try:
        # Look before opening: opening a device can have effects (a tape rewinds).
        if not stat.S_ISREG(os.lstat(host).st_mode):
            raise InitramfsError(Message("not a regular file"))
        fd = os.open(host, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as e:
        raise InitramfsError(os.strerror(e.errno))
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_size == 0:
        os.close(fd)
        raise InitramfsError(Message("not a regular file") if not stat.S_ISREG(st.st_mode) else Message("empty file"))
    return fd, st.st_size


def iter_names(root, path, runner=None, info=None):
    """Yield the names of the files in the initramfs at guest `path` (without './').

    `info`, a dict when given, receives 'compression' (list, one per segment). Raises
    InitramfsError (its message without the path) for anything that is not a readable
    initramfs.
    """
    entries = _entries(root, path, runner, info)
    try:
        for name, _data in entries:
            yield name
    finally:
        entries.close()


def _entries(root, path, runner=None, info=None, keep=None):
    """Yield (name, data) of the files in the initramfs at guest `path`: iter_names with the
    data of the files `keep` names (see _cpio)."""
    info = info if info is not None else {}
    info.setdefault("compression", [])
    fd, size = _open(root, path)
    stream = None
    try:
        offset = 0
        found_any = False
        while offset < size:
            raw = _FileSource(fd, offset, size)
            raw.skip_zeros()
            head = raw.peek(8)
            if not head:
                break
            if head[:6] in _NEWC + (b"070707",) or head[:2] in (b"\xc7\x71", b"\x71\xc7"):
                info["compression"].append("none")
                for entry in _cpio(raw, keep):
                    found_any = True
                    yield entry
                if raw.offset == offset:
                    break
                offset = raw.offset
                continue
            name = compression_of(head)
            if name is None:
                if found_any:
                    break       # trailing data the kernel would ignore too
                raise InitramfsError(Message("not an initramfs (unknown data at offset {offset})", offset=raw.offset))
            info["compression"].append(name)
            decompressor = _python_decompressor(name)
            if decompressor is not None:
                src = _DecompressingSource(raw, decompressor, name)
                for entry in _cpio(src, keep):
                    found_any = True
                    yield entry
                if src.peek(1):
                    raise InitramfsError(Message("unknown data inside the {name} segment", name=name))
                offset = src.end_offset if src.end_offset is not None else size
                continue
            # zstd / lz4 / lzo: the rest of the image goes to one decompressor.
            reader = _module_reader(name, raw)
            if reader is not None:
                src = _ModuleSource(raw, reader)
            else:
                stream = _start_tool(runner, name, fd, raw.offset)
                src = _ProcessSource(stream)
            from_tool = False    # names from this segment (the early archive's do not count)
            try:
                for entry in _cpio(src, keep):
                    found_any = from_tool = True
                    yield entry
            except InitramfsError as e:
                if stream is not None:
                    stream.close()
                    raise InitramfsError(Message("{error} ({failure})", error=e.message,
                                                 failure=_tool_failure(stream, name)))
                raise
            # A decompressor that failed before any name is a damaged image, not an empty one
            # (one that complains after the archive's end, of padding, is not).
            if stream is not None and stream.close() and not from_tool:
                raise InitramfsError(_tool_failure(stream, name))
            break
        if not found_any:
            raise InitramfsError(Message("no cpio archive in it"))
    finally:
        if stream is not None:
            stream.close()
        os.close(fd)


def _no_tool(name):
    argv, package = _TOOLS[name]
    return Message("{name}-compressed, and this machine has no {tool} to read it (install package {package} "
                   "where guestprep runs; the image's own tool is never run)", name=name, tool=argv[0],
                   package=package)


def _start_tool(runner, name, fd, offset):
    argv, _package = _TOOLS[name]
    if runner is None:
        from agent.core.runner import host_stream
    elif hasattr(runner, "host_stream"):
        host_stream = runner.host_stream
    else:
        raise InitramfsError(Message("{name}-compressed, and no way to run this machine's {tool}", name=name,
                                     tool=argv[0]))
    os.lseek(fd, offset, os.SEEK_SET)
    try:
        return host_stream(argv, stdin_fd=fd)
    except OSError as e:
        if e.errno == errno.ENOENT:
            raise InitramfsError(_no_tool(name))
        raise InitramfsError(Message("cannot run {tool}: {error}", tool=argv[0], error=str(e)))


def _tool_failure(stream, name):
    argv, _package = _TOOLS[name]
    if stream.returncode == 127:
        return _no_tool(name)
    return Message("{command} exited with {code}: {error}", command=" ".join(argv), code=stream.returncode,
                   error=stream.error_text() or Message("no message"))


def list_names(root, path, runner=None):
    """Every file name in the image, in archive order."""
    return list(iter_names(root, path, runner))


def find_modules(root, path, wanted, runner=None, info=None, version=None):
    """The subset of module names `wanted` (e.g. {'virtio_blk'}) whose .ko files the image holds.

    Stops reading as soon as every wanted module has been seen; and, given the kernel's
    `version`, at the image's own lib/modules/<version>/modules.dep when it lists none of
    the wanted modules not seen yet (an empty one does not count). modprobe loads only what
    modules.dep lists, so a module it leaves out cannot load from the image whatever follows;
    initramfs-tools and dracut sort the archive, so the file comes after every module and
    the libraries and programs after it (a fifth of a Debian image) need not be
    decompressed. A module it lists is still looked for as a file.
    """
    wanted = set(w.replace("-", "_") for w in wanted)
    found = set()
    if not wanted:
        return found
    keep = None
    if version:
        dep_paths = frozenset(base + version + "/modules.dep" for base in ("lib/modules/", "usr/lib/modules/"))
        keep = dep_paths.__contains__
    entries = _entries(root, path, runner, info, keep)
    try:
        for name, data in entries:
            if data is not None:
                listed = kmod.module_names(data.decode("utf-8", "surrogateescape"))
                if listed and not (wanted - found) & listed:
                    break
                continue
            module = module_name(name)
            if module in wanted:
                found.add(module)
                if found == wanted:
                    break
    finally:
        entries.close()
    return found
