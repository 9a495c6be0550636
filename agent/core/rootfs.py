"""The target root: guest paths mapped to host paths, without ever leaving the root.

An image is untrusted input. Absolute symlinks inside it are re-anchored at the root,
`..` never climbs above it, loops are reported, and reads refuse FIFOs, devices and
enormous files, so a hostile /etc/fstab cannot make guestprep read the host's
files or block forever.
"""
import errno
import fcntl
import fnmatch
import os
import stat
import struct

from agent.core import faults
from agent.core.model import Message

MAX_READ = 16 * 1024 * 1024
# A configuration file guestprep parses (fstab, network configs, grub, udev rules ...):
# real ones are a few KiB. Past these limits the file is reported, not parsed, so a hostile
# image's 80,000-line fstab ends in a finding within a second instead of a minute.
MAX_CONFIG_BYTES = 1024 * 1024
MAX_CONFIG_LINES = 10000
MAX_SYMLINKS = 40

# linux/fs.h; the kernel reads and writes an int through these.
FS_IOC_GETFLAGS = 0x80086601
FS_IOC_SETFLAGS = 0x40086602
FS_APPEND_FL = 0x00000020
FS_IMMUTABLE_FL = 0x00000010
# Bits chattr may change (linux/fs.h FS_FL_USER_MODIFIABLE).
FS_USER_FLAGS = 0x000380FF
# What an atomic replacement carries onto the new inode: every chattr bit (+d nodump,
# +A noatime, +s secure deletion, +u, +c, +S ...) but +i and +a. A file with either cannot
# be renamed over at all; the fixes that must replace one (shadow) clear and set them again
# as journaled steps of their own. Bits outside this set (+e extents ...) stay as the
# filesystem made the new inode.
CARRIED_FLAGS = FS_USER_FLAGS & ~(FS_IMMUTABLE_FL | FS_APPEND_FL)


class RootError(Exception):
    """A guest path that cannot be used: outside the root, a loop, not a regular file ..."""

    def __init__(self, path, reason):
        Exception.__init__(self, "{}: {}".format(path, reason))
        self.path = path
        self.reason = reason

    @property
    def message(self):
        """'path: reason' as a Message, so that a report translates the reason."""
        from agent.core.model import Message
        return Message("{path}: {reason}", path=self.path, reason=self.reason)


def _parts(path):
    return [p for p in path.split("/") if p not in ("", ".")]


def _entry_kind(entry):
    try:
        if entry.is_symlink():
            return "link"
        if entry.is_file(follow_symlinks=False):
            return "file"
        if entry.is_dir(follow_symlinks=False):
            return "dir"
    except OSError:
        pass
    return "other"


class Root(object):
    """One per run. `path` is the host directory holding the guest's `/`."""

    def __init__(self, path="/"):
        self.path = os.path.realpath(path)
        # Guest paths whose contents were read this run: what a support bundle carries.
        self.reads = set()

    @property
    def is_host(self):
        return self.path == "/"

    def __repr__(self):
        return "Root({!r})".format(self.path)

    def display(self, guest_path):
        """How to show a guest path to a person: the host path when the root is mounted."""
        return guest_path if self.is_host else self.path.rstrip("/") + guest_path

    # -- resolution -------------------------------------------------------

    def resolve(self, guest_path, follow=True):
        """Host path of `guest_path`, following symlinks inside the root only.

        With follow=False the last component is not followed (for lstat, readlink, remove).
        """
        if not guest_path.startswith("/"):
            raise RootError(guest_path, Message("not an absolute guest path"))
        todo = _parts(guest_path)
        todo.reverse()          # popped from the end: the next component is todo[-1]
        done = []
        links = 0
        # The host path of `done`, kept as a string (os.path.join per component and
        # os.path.islink's extra call cost more than the lstat: this runs thousands of times).
        base = self.path.rstrip("/")
        current = base
        lstat, is_link = os.lstat, stat.S_ISLNK
        while todo:
            name = todo.pop()
            if name == "..":
                if done:
                    done.pop()
                    current = base + "/" + "/".join(done) if done else base
                continue
            candidate = current + "/" + name
            if todo or follow:
                try:
                    link = is_link(lstat(candidate).st_mode)
                except (OSError, ValueError):
                    link = False
                if link:
                    links += 1
                    if links > MAX_SYMLINKS:
                        raise RootError(guest_path, Message("too many levels of symbolic links (a loop?)"))
                    target = os.readlink(candidate)
                    if target.startswith("/"):
                        done = []
                        current = base
                    todo.extend(reversed(_parts(target)))
                    continue
            done.append(name)
            current = candidate
        return current if done else self.path

    def guest(self, host_path):
        """Guest path of a host path inside the root."""
        rel = os.path.relpath(host_path, self.path)
        return "/" if rel == "." else "/" + rel

    # -- queries ----------------------------------------------------------

    def _test(self, predicate, guest_path, follow=True):
        """A yes/no question about a path; a path that cannot be resolved is a no."""
        try:
            return predicate(self.resolve(guest_path, follow))
        except RootError:
            return False

    def exists(self, guest_path):
        return self._test(os.path.exists, guest_path)

    def lexists(self, guest_path):
        return self._test(os.path.lexists, guest_path, follow=False)

    def isfile(self, guest_path):
        return self._test(os.path.isfile, guest_path)

    def isdir(self, guest_path):
        return self._test(os.path.isdir, guest_path)

    def islink(self, guest_path):
        return self._test(os.path.islink, guest_path, follow=False)

    def stat(self, guest_path):
        return os.stat(self.resolve(guest_path))

    def lstat(self, guest_path):
        return os.lstat(self.resolve(guest_path, follow=False))

    def readlink(self, guest_path):
        return os.readlink(self.resolve(guest_path, follow=False))

    def statvfs(self, guest_path):
        return os.statvfs(self.resolve(guest_path))

    def listdir(self, guest_path):
        """Sorted entries of a directory; [] when it does not exist."""
        host = self.resolve(guest_path)
        try:
            return sorted(os.listdir(host))
        except OSError as e:
            if e.errno in (errno.ENOENT, errno.ENOTDIR):
                return []
            raise RootError(guest_path, os.strerror(e.errno))

    def entries(self, guest_path):
        """Sorted (name, kind) of a directory's entries, kind as lstat sees the entry itself:
        'link', 'file', 'dir' or 'other'; [] when the directory does not exist. The directory
        is resolved once and the kinds come with the names (no system call per entry on most
        filesystems); asking islink/isfile/isdir of each entry resolved every entry's path from
        the root again (a dozen system calls a file in a deep /var/log)."""
        host = self.resolve(guest_path)
        found = []
        try:
            with os.scandir(host) as names:
                for entry in names:
                    found.append((entry.name, _entry_kind(entry)))
        except OSError as e:
            if e.errno in (errno.ENOENT, errno.ENOTDIR):
                return []
            raise RootError(guest_path, os.strerror(e.errno))
        found.sort()
        return found

    def entry_sizes(self, guest_path, names):
        """{name: lstat's st_size} of some entries of one directory (0 when it cannot be had),
        the directory resolved once."""
        host = self.resolve(guest_path)
        sizes = {}
        for name in names:
            sizes[name] = 0
            if name in ("", ".", "..") or "/" in name:     # entries of this directory only
                continue
            try:
                sizes[name] = os.lstat(host + "/" + name).st_size
            except (OSError, ValueError):
                pass
        return sizes

    def glob(self, pattern):
        """Guest paths matching a pattern whose wildcards are in the last component only."""
        directory, base = pattern.rsplit("/", 1)
        directory = directory or "/"
        # fnmatch.filter: the pattern compiled once, not per name (fnmatchcase); on POSIX it is
        # as case-sensitive as fnmatchcase.
        return [directory.rstrip("/") + "/" + name for name in fnmatch.filter(self.listdir(directory), base)]

    def read_bytes(self, guest_path, limit=MAX_READ):
        """Contents of a regular file. Raises RootError for anything else, with a reason."""
        host = self.resolve(guest_path)
        _only_regular(guest_path, host)
        self.reads.add(guest_path)
        try:
            fd = os.open(host, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as e:
            raise RootError(guest_path, os.strerror(e.errno))
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise RootError(guest_path, Message("not a regular file ({kind})", kind=_kind(st.st_mode)))
            if st.st_size > limit:
                raise RootError(guest_path, Message("too large ({size} bytes)", size=st.st_size))
            chunks = []
            size = 0
            while True:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    break
                size += len(chunk)
                if size > limit:
                    raise RootError(guest_path, Message("too large (over {size} bytes)", size=limit))
                chunks.append(chunk)
            return b"".join(chunks)
        except OSError as e:
            raise RootError(guest_path, os.strerror(e.errno))
        finally:
            os.close(fd)

    def read_text(self, guest_path, limit=MAX_READ):
        """A text file as str. Bytes that are not UTF-8 survive a round trip (surrogateescape)."""
        data = self.read_bytes(guest_path, limit)
        if b"\x00" in data:
            raise RootError(guest_path, Message("binary data where a text file was expected"))
        return data.decode("utf-8", "surrogateescape")

    def read_text_or_none(self, guest_path, limit=MAX_READ):
        """read_text, or None when the file does not exist (other problems still raise)."""
        if not self.lexists(guest_path):
            return None
        return self.read_text(guest_path, limit)

    def read_config(self, guest_path):
        """read_text of a configuration file, bounded by MAX_CONFIG_BYTES and MAX_CONFIG_LINES."""
        text = self.read_text(guest_path, MAX_CONFIG_BYTES)
        lines = text.count("\n")
        if lines > MAX_CONFIG_LINES:
            raise RootError(guest_path, Message("too many lines ({lines}, more than the {limit} a configuration "
                                                "file is read up to)", lines=lines, limit=MAX_CONFIG_LINES))
        return text

    def read_config_or_none(self, guest_path):
        """read_config, or None when the file does not exist (other problems still raise)."""
        if not self.lexists(guest_path):
            return None
        return self.read_config(guest_path)

    def get_flags(self, guest_path):
        """Inode flags (FS_*_FL) or None where the filesystem has none (or for a device or FIFO)."""
        host = self.resolve(guest_path)
        try:
            _only_regular(guest_path, host, directories=True)
        except RootError as e:
            if e.reason.startswith("not a regular file"):
                return None   # the ioctl would go to a device's driver
            raise
        try:
            fd = os.open(host, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as e:
            raise RootError(guest_path, os.strerror(e.errno))
        try:
            return _fd_flags(fd)
        finally:
            os.close(fd)

    # -- writes (only the engine and journal call these) --------------------

    def set_flags(self, guest_path, flags):
        host = self.resolve(guest_path)
        fd = os.open(host, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            fcntl.ioctl(fd, FS_IOC_SETFLAGS, struct.pack("i", flags))
        finally:
            os.close(fd)

    def atomic_write(self, guest_path, data, mode=None, owner=None, xattrs=None):
        """Write via a temp file in the same directory, fsync, rename, fsync the directory.

        An existing file keeps its mode, owner and extended attributes (the SELinux label
        included) unless they are given, and its inode flags but +i/+a (CARRIED_FLAGS);
        on any failure the temp file is removed and the old file is untouched.
        """
        host = self.resolve(guest_path)
        directory, base = os.path.split(host)
        old = None
        try:
            old = os.lstat(host)
        except OSError:
            pass
        if old is not None and not stat.S_ISREG(old.st_mode):
            raise RootError(guest_path, Message("not a regular file ({kind})", kind=_kind(old.st_mode)))
        if mode is None:
            mode = stat.S_IMODE(old.st_mode) if old is not None else 0o644
        if owner is None and old is not None:
            owner = (old.st_uid, old.st_gid)
        if xattrs is None:
            xattrs = read_xattrs(host) if old is not None else {}
        old_flags = _host_flags(host) if old is not None else None
        import tempfile  # only writes need it (check never does)
        fd, tmp = tempfile.mkstemp(prefix="." + base + ".", suffix=".guestprep-tmp", dir=directory)
        try:
            # Before the data: +c and the like act on what is written after them.
            _carry_flags(fd, old_flags, guest_path)
            half = len(data) // 2
            write_all(fd, data[:half])
            faults.point("temp-partial", guest_path)
            write_all(fd, data[half:])
            # By path, not fd: the temp file is ours, in the target's own directory.
            os.chmod(tmp, mode)
            if owner is not None:
                os.chown(tmp, owner[0], owner[1])
            write_xattrs(tmp, xattrs)
            os.fsync(fd)
            os.close(fd)
            fd = None
            faults.point("temp-fsynced", guest_path)
            os.rename(tmp, host)
            faults.point("renamed", guest_path)
        except BaseException:
            if fd is not None:
                os.close(fd)
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        fsync_dir(directory)

    def remove(self, guest_path):
        host = self.resolve(guest_path, follow=False)
        os.unlink(host)
        fsync_dir(os.path.dirname(host))

    def symlink(self, target, guest_path):
        host = self.resolve(guest_path, follow=False)
        os.symlink(target, host)
        fsync_dir(os.path.dirname(host))


def _fd_flags(fd):
    """FS_IOC_GETFLAGS of an open file, or None where the filesystem has none."""
    try:
        buf = fcntl.ioctl(fd, FS_IOC_GETFLAGS, struct.pack("i", 0))
        return struct.unpack("i", buf)[0]
    except (OSError, IOError, TypeError, ValueError):
        return None


def _host_flags(host):
    """Inode flags of a regular host file (already checked to be one), None when unknown."""
    try:
        fd = os.open(host, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return _fd_flags(fd)
    finally:
        os.close(fd)


def _carry_flags(fd, old_flags, guest_path):
    """Give the new inode (open as fd) the old file's CARRIED_FLAGS. A bit the filesystem
    refuses on a new inode is dropped and logged, never a reason to leave the file as it was."""
    if not old_flags or not old_flags & CARRIED_FLAGS:
        return
    current = _fd_flags(fd)
    if current is None:
        return
    wanted = (current & ~CARRIED_FLAGS) | (old_flags & CARRIED_FLAGS)
    if wanted == current:
        return
    try:
        fcntl.ioctl(fd, FS_IOC_SETFLAGS, struct.pack("i", wanted))
        return
    except (OSError, IOError):
        pass
    lost = []
    for bit in range(32):
        flag = 1 << bit
        if not flag & old_flags & CARRIED_FLAGS:
            continue
        have = _fd_flags(fd) or 0
        try:
            fcntl.ioctl(fd, FS_IOC_SETFLAGS, struct.pack("i", have | flag))
        except (OSError, IOError):
            lost.append(flag)
    if lost:
        import logging  # only a fix gets here
        logging.getLogger("guestprep").warning(
            "%s: the filesystem refused inode flag(s) %s on the rewritten file", guest_path,
            ", ".join("0x{:x}".format(f) for f in lost))


def _only_regular(guest_path, host, directories=False):
    """Refuse a device, FIFO or socket before opening it: opening one can act (a watchdog
    arms, a tape rewinds, a FIFO's writer wakes up), and an image may hold any of them."""
    try:
        st = os.stat(host)
    except OSError as e:
        raise RootError(guest_path, os.strerror(e.errno))
    if not (stat.S_ISREG(st.st_mode) or (directories and stat.S_ISDIR(st.st_mode))):
        raise RootError(guest_path, Message("not a regular file ({kind})", kind=_kind(st.st_mode)))


def _kind(mode):
    for test, name in ((stat.S_ISDIR, Message("a directory")), (stat.S_ISFIFO, Message("a FIFO")),
                       (stat.S_ISCHR, Message("a character device")), (stat.S_ISBLK, Message("a block device")),
                       (stat.S_ISSOCK, Message("a socket")), (stat.S_ISLNK, Message("a symlink"))):
        if test(mode):
            return name
    return Message("not a regular file")


def write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def read_up_to(fd, length, chunk=1 << 20):
    """`length` bytes read from `fd` at its offset (fewer at the end of the file), in reads
    of at most `chunk` bytes."""
    chunks, left = [], length
    while left > 0:
        data = os.read(fd, min(left, chunk))
        if not data:
            break
        chunks.append(data)
        left -= len(data)
    return b"".join(chunks)


def fsync_dir(directory):
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_xattrs(host_path):
    """Extended attributes of a file as {name: bytes}; {} where unsupported."""
    try:
        names = os.listxattr(host_path, follow_symlinks=False)
    except (OSError, AttributeError):
        return {}
    found = {}
    for name in names:
        try:
            found[name] = os.getxattr(host_path, name, follow_symlinks=False)
        except OSError:
            pass
    return found


def write_xattrs(host_path, xattrs):
    for name, value in sorted(xattrs.items()):
        try:
            os.setxattr(host_path, name, value, follow_symlinks=False)
        except OSError as e:
            # A filesystem without xattrs cannot hold a label to lose; anything else is real.
            if e.errno not in (errno.ENOTSUP, errno.EOPNOTSUPP):
                raise
