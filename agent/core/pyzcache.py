"""Compiled code for guestprep.pyz, kept outside the archive (issue 14).

zipimport compiles every module of a zip application from source on every run and never
writes bytecode: the single file spent as long compiling as the installed package spends
on the whole check. The archive cannot carry bytecode, which is specific to one Python
version while the one file runs on 3.6 to 3.13. So the first run under a given Python
compiles the archive's modules once and keeps the code in one file per (archive content,
Python bytecode version); later runs load it from there, through a finder placed before
zipimport.

Where (never inside --root, never anywhere that is captured with the image):
  root       /run/guestprep/pyz                   (tmpfs: gone at reboot, never in an image)
  others     $XDG_RUNTIME_DIR/guestprep/pyz, else ~/.cache/guestprep/pyz
  GUESTPREP_PYZ_CACHE=DIR overrides it; GUESTPREP_PYZ_CACHE=off (or empty) turns it off.
  As with .pyc files, `python3 -B` (PYTHONDONTWRITEBYTECODE) uses a cache but never writes one.

Trust: the directory must be a real directory owned by the user running guestprep with no
access for group or others (it is created 0700), the file a regular file owned by the same
user and writable by nobody else; the file names the size and CRC-32 of the archive it was
compiled from and of its own contents, and both are checked on every load. Anything else
(another user's file, a changed archive, a truncated or altered file) is ignored and, where
the directory is ours, replaced. The checksums tell a changed archive or a damaged file, which
is what they are for: whoever could forge one (write the archive, or files as this user in
this private directory) runs code as this user already. They are not SHA-256, because
hashlib loads OpenSSL, which cost each run of the single file 5 ms, more than the checks
it served (zlib is loaded anyway, for the initramfs). Any failure to read or write (a
read-only system, no home) falls back silently to zipimport: the cache only ever changes how
fast guestprep starts.
"""
import marshal
import os
import sys

MAGIC = b"guestprep-pyz-code 2\n"
PACKAGES = ("agent", "remediations")


def cache_dir(environ=None):
    """The directory for this user's cache, or None when it is turned off."""
    environ = os.environ if environ is None else environ
    if "GUESTPREP_PYZ_CACHE" in environ:
        value = environ["GUESTPREP_PYZ_CACHE"]
        return None if value in ("", "off", "0", "no") else value
    if os.geteuid() == 0:
        return "/run/guestprep/pyz"
    base = environ.get("XDG_RUNTIME_DIR")
    if base:
        return os.path.join(base, "guestprep", "pyz")
    home = environ.get("HOME")
    return os.path.join(home, ".cache", "guestprep", "pyz") if home else None


def _bytecode_magic():
    """The interpreter's bytecode magic number (hex): code objects are specific to it."""
    try:
        from importlib._bootstrap_external import MAGIC_NUMBER
    except ImportError:
        return "any"
    import binascii
    return binascii.hexlify(MAGIC_NUMBER).decode("ascii")


DIGEST_LENGTH = 24


def checksum(data):
    """Size and CRC-32 of `data`, DIGEST_LENGTH hex digits."""
    import zlib
    return "{:016x}{:08x}".format(len(data), zlib.crc32(data) & 0xFFFFFFFF)


def _private_dir(path, create):
    """True when `path` is a directory owned by us that no one else can write or enter."""
    if create:
        try:
            os.makedirs(path, 0o700)
        except OSError:
            pass
    try:
        st = os.lstat(path)
    except OSError:
        return False
    import stat
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o077


def _trusted_file(fd):
    import stat
    st = os.fstat(fd)
    return stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o022


def _read_all(fd):
    chunks = []
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def load(path, archive_digest):
    """{module name: (is package, marshalled code)} from a trusted cache file, else None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        if not _trusted_file(fd):
            return None
        data = _read_all(fd)
    except OSError:
        return None
    finally:
        os.close(fd)
    head = len(MAGIC) + 2 * (DIGEST_LENGTH + 1)
    if not data.startswith(MAGIC) or len(data) < head:
        return None
    digests = data[len(MAGIC):head].decode("ascii", "replace").split("\n")
    payload = data[head:]
    if digests[0] != archive_digest or digests[1] != checksum(payload):
        return None
    try:
        codes = marshal.loads(payload)
    except (EOFError, ValueError, TypeError):
        return None
    return codes if isinstance(codes, dict) else None


def compile_archive(archive):
    """{module name: (is package, marshalled code)} of every module of the archive's packages."""
    import zipfile
    codes = {}
    with zipfile.ZipFile(archive) as z:
        for name in z.namelist():
            if not name.endswith(".py") or not name.startswith(tuple(p + "/" for p in PACKAGES)):
                continue
            module = name[:-3].replace("/", ".")
            package = module.endswith(".__init__")
            if package:
                module = module[:-len(".__init__")]
            code = compile(z.read(name), os.path.join(archive, name), "exec", dont_inherit=True)
            codes[module] = (package, marshal.dumps(code))
    return codes


def store(directory, path, archive_digest, codes):
    """Write the cache file atomically (a private temporary file renamed into place)."""
    payload = marshal.dumps(codes)
    data = MAGIC + (archive_digest + "\n" + checksum(payload) + "\n").encode("ascii") + payload
    tmp = os.path.join(directory, ".tmp-{}-{}".format(os.getpid(), os.path.basename(path)))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except OSError:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
    os.rename(tmp, path)


class CodeFinder(object):
    """A meta path finder serving the archive's modules from the cached code."""

    def __init__(self, archive, codes):
        self.archive = archive
        self.codes = codes

    def find_spec(self, fullname, path=None, target=None):
        entry = self.codes.get(fullname)
        if entry is None:
            return None
        from importlib.machinery import ModuleSpec
        package, _code = entry
        parts = fullname.split(".")
        origin = os.path.join(self.archive, *parts) + ("/__init__.py" if package else ".py")
        spec = ModuleSpec(fullname, self, origin=origin, is_package=package)
        if package:
            spec.submodule_search_locations = [os.path.join(self.archive, *parts)]
        spec.has_location = True
        return spec

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        code = marshal.loads(self.codes[module.__name__][1])
        exec(code, module.__dict__)

    def get_source(self, fullname):
        """For tracebacks: the source, from the archive."""
        import zipfile
        path = fullname.replace(".", "/")
        try:
            with zipfile.ZipFile(self.archive) as z:
                for name in (path + "/__init__.py", path + ".py"):
                    if name in z.NameToInfo:
                        return z.read(name).decode("utf-8", "replace")
        except (OSError, zipfile.BadZipFile):
            pass
        return None


def install(archive, directory=None):
    """Serve the archive's modules from the cache (building it first when needed).

    Returns the finder, or None when the cache is off or cannot be used (then nothing
    changes: zipimport compiles from source as before).
    """
    directory = cache_dir() if directory is None else directory
    if not directory:
        return None
    try:
        with open(archive, "rb") as handle:
            digest = checksum(handle.read())
        name = "pyz-{}-{}-{}.code".format(digest, sys.implementation.cache_tag or "none", _bytecode_magic())
        path = os.path.join(directory, name)
        codes = None
        if _private_dir(directory, create=False):
            codes = load(path, digest)
        if codes is None:
            # Like Python's own .pyc files: -B / PYTHONDONTWRITEBYTECODE reads, never writes.
            if sys.dont_write_bytecode or not _private_dir(directory, create=True):
                return None
            codes = compile_archive(archive)
            store(directory, path, digest, codes)
    except Exception:   # noqa: BLE001 -- a cache failure must never stop guestprep
        return None
    finder = CodeFinder(archive, codes)
    sys.meta_path.insert(0, finder)
    return finder
