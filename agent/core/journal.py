"""Write-ahead journal of every change guestprep makes, and rollback from a later process.

Before a file is touched its bytes are copied into the run's backups (fsynced) and a
`begin` record with its mode, owner, xattrs and inode flags is appended (fsynced); only
then is the change made, and a `done` record follows. So after a crash at any point the
journal knows every file that may have changed and holds its original. Rollback restores
a file only when it still holds what guestprep wrote (or the original already): a file
the user edited since is left alone and reported, never overwritten.

Layout, under /var/lib/guestprep of the target or --backup-dir (mode 0700):
    lock                      flock: one fix or rollback at a time in this directory
    runs/<run id>/journal.jsonl
    runs/<run id>/backups/<seq> (mode 0600; may hold a copy of /etc/shadow)
and, on the host, /run/lock/guestprep/root-<dev>-<inode>.lock: one fix or rollback at a
time on a target root, whatever --backup-dir each was given (a read-only image included).

A journal found inside an image is untrusted input: load() checks every record against
what guestprep writes (backup names are `backups/<seq>[.<n>]`, paths are absolute guest
paths), and a backup is read only as a regular file of the run's own backups directory,
never through a link, and only as many bytes as the journal recorded.
"""
import base64
import errno
import fcntl
import hashlib
import json
import logging
import os
import random
import stat
import tempfile
import time

from agent.core import faults
from agent.core.model import Message, joined
from agent.core.rootfs import FS_USER_FLAGS, RootError, fsync_dir, read_up_to, read_xattrs, write_all
from agent.core.steps import BACKUP_RE, Step, check_begin, kind_of

log = logging.getLogger("guestprep")

STATE_DIR = "/var/lib/guestprep"
# Bits chattr may change (linux/fs.h FS_FL_USER_MODIFIABLE): only these are restored.
USER_FLAGS = FS_USER_FLAGS
# Host directories for the per-root lock, first usable one wins (tmpfs, cleared at boot).
LOCK_DIRS = ("/run/lock", "/run", "/var/lock")
MAX_JOURNAL = 64 << 20       # a journal holds records, never file contents
MAX_DIR_NAMES = 4096         # names of a directory recorded before a command runs


class JournalError(Exception):
    pass


class Busy(JournalError):
    pass


class StepFailed(JournalError):
    """A step that did not complete; `message` says why as a Message (translated in reports)."""

    def __init__(self, message):
        JournalError.__init__(self, message)
        self.message = message


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def new_run_id():
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-{:04x}".format(random.randrange(1 << 16))


class StateDir(object):
    """Where runs are kept: <root>/var/lib/guestprep, or a host directory given by --backup-dir.

    lock() takes two flocks: the target root's (on the host, keyed by the root directory's
    device and inode, so `--root R` and `--root R --backup-dir D` exclude each other, a
    read-only image too) and the state directory's own. `lock_fd` is the root's lock: a
    child process that inherits it keeps the target busy until it exits.
    """

    def __init__(self, root, backup_dir=None):
        self.root = root
        self.path = os.path.abspath(backup_dir) if backup_dir else root.resolve(STATE_DIR)
        self._lock_fd = None
        self._root_lock = None      # (fd, path) of the target root's lock

    @property
    def runs_path(self):
        return os.path.join(self.path, "runs")

    @property
    def lock_fd(self):
        """The target root's lock (an flock on this fd), or None when not locked."""
        return self._root_lock[0] if self._root_lock else None

    @property
    def lock_fds(self):
        """The root's and the backup directory's locked descriptors: the runner hands both to
        every child, so both stay held until the last one exits, even if guestprep is killed."""
        return tuple(fd for fd in (self.lock_fd, self._lock_fd) if fd is not None)

    def ensure(self):
        for path in (self.path, self.runs_path):
            if os.path.islink(path):
                # An image's own /var/lib/guestprep/runs -> /somewhere would put backups on the host.
                raise JournalError("{} is a symbolic link; guestprep keeps backups only in a real "
                                   "directory (remove it, or use --backup-dir)".format(path))
            if not os.path.isdir(path):
                try:
                    os.makedirs(path, 0o700)
                except OSError as e:
                    # Another run may have made it a moment ago: that is no failure.
                    if e.errno != errno.EEXIST or not os.path.isdir(path) or os.path.islink(path):
                        raise
            os.chmod(path, 0o700)

    def lock(self):
        """Take the target's lock, then the state lock, or raise Busy naming the holder."""
        self._lock_root()
        try:
            self._lock_state()
        except BaseException:
            self._unlock_root()
            raise
        faults.point("lock-taken")

    def _lock_state(self):
        path = os.path.join(self.path, "lock")
        try:
            self.ensure()
            # O_NOFOLLOW: a `lock` symlink planted in an image must not truncate a host file.
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        except OSError as e:
            raise JournalError("cannot take the lock {}: {}".format(
                path, "it is a symbolic link" if e.errno == errno.ELOOP else e.strerror))
        _flock(fd, path, lambda holder: "the backup directory {} is busy: another guestprep run ({}) holds {}; "
               "wait for it to finish; nothing was changed".format(self.path, holder, path))
        _write_holder(fd, self.root.path)
        self._lock_fd = fd

    def _root_lock_path(self):
        try:
            st = os.stat(self.root.path)
        except OSError as e:
            raise JournalError("cannot lock {}: {}".format(self.root.path, e.strerror))
        name = "root-{:x}-{:x}.lock".format(st.st_dev, st.st_ino)
        errors = []
        for base in LOCK_DIRS + (tempfile.gettempdir(),):
            directory = os.path.join(base, "guestprep")
            try:
                try:
                    os.mkdir(directory, 0o700)
                except OSError as e:
                    if e.errno != errno.EEXIST:
                        raise
                st = os.lstat(directory)
                # Shared places (/tmp): only a real directory of our own, not one planted by another user.
                if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
                    raise OSError(errno.EPERM, "not a directory of this user")
                return os.path.join(directory, name)
            except OSError as e:
                errors.append("{}: {}".format(directory, e.strerror))
        raise JournalError("cannot lock {}: no directory for its lock ({})".format(
            self.root.path, "; ".join(errors)))

    def _lock_root(self):
        path = self._root_lock_path()
        while True:
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
            except OSError as e:
                raise JournalError("cannot take the lock {} of {}: {}".format(path, self.root.path, e.strerror))
            _flock(fd, path, lambda holder: "{} is busy: another guestprep run ({}) holds its lock {}; "
                   "wait for it to finish; nothing was changed".format(self.root.path, holder, path))
            # The holder before us unlinks the file as it lets go: lock the file still named so.
            try:
                named = os.stat(path)
            except OSError:
                named = None
            mine = os.fstat(fd)
            if named is not None and (named.st_dev, named.st_ino) == (mine.st_dev, mine.st_ino):
                break
            os.close(fd)
        _write_holder(fd, self.root.path)
        self._root_lock = (fd, path)

    def _unlock_root(self):
        if self._root_lock is not None:
            fd, path = self._root_lock
            try:
                os.unlink(path)     # while still held, so no one locks a file about to go
            except OSError:
                pass
            os.close(fd)
            self._root_lock = None

    def unlock(self):
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        self._unlock_root()

    def run_ids(self):
        """Run ids, oldest first."""
        try:
            # lexists, not isfile: a journal that is a link or a device is refused when loaded,
            # not passed over as if the run had never been.
            return sorted(name for name in os.listdir(self.runs_path)
                          if os.path.lexists(os.path.join(self.runs_path, name, "journal.jsonl")))
        except OSError:
            return []


def _flock(fd, path, busy):
    """Take an exclusive flock on fd without waiting. Held by another: fd is closed and Busy
    raised with busy(holder) as its message; any other failure is a JournalError."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        holder = _holder(fd)
        os.close(fd)
        if e.errno in (errno.EAGAIN, errno.EACCES):
            raise Busy(busy(holder))
        raise JournalError("cannot take the lock {}: {}".format(path, e.strerror))


def _write_holder(fd, root_path):
    try:
        os.ftruncate(fd, 0)
        os.write(fd, "{} {}\n".format(os.getpid(), root_path).encode("utf-8", "replace"))
    except OSError:
        pass  # the pid only names the holder; a full filesystem must not stop the lock


def _read_at(fd, n, offset):
    """os.pread by seek and read: the same here (the writes that follow append, or rewrite
    from 0), and the tests' fake filesystem (pyfakefs) fakes these two but not pread, which
    would read whatever real file or pipe has that descriptor number."""
    os.lseek(fd, offset, os.SEEK_SET)
    return os.read(fd, n)


def _holder(fd):
    """'pid N: <its command line>' of the process a lock file names."""
    try:
        text = _read_at(fd, 256, 0).decode("utf-8", "replace")
    except OSError:
        text = ""
    pid = text.split()[0] if text.split() else ""
    if not pid.isdigit():
        return "another process"
    try:
        with open("/proc/{}/cmdline".format(pid), "rb") as handle:
            argv = handle.read(400).split(b"\0")
        command = " ".join(a.decode("utf-8", "replace") for a in argv if a)
    except (IOError, OSError):
        if not os.path.exists("/proc/{}".format(pid)) and os.path.isdir("/proc/self"):
            # Killed, while a command it started (an initramfs rebuild) runs on with the lock.
            return "pid {}, which has exited; a command it started still holds the lock".format(pid)
        command = ""
    return "pid {}{}".format(pid, ": " + command if command else "")


class Journal(object):
    def __init__(self, state, run_id, records=None):
        self.state = state
        self.run_id = run_id
        self.dir = os.path.join(state.runs_path, run_id)
        self.records = list(records or [])

    # -- files --------------------------------------------------------------

    @classmethod
    def create(cls, state, meta):
        state.ensure()
        run_id = new_run_id()
        journal = cls(state, run_id)
        # Not makedirs: it would create the run's directory 0777 & ~umask, not 0700.
        os.mkdir(journal.dir, 0o700)
        try:
            os.mkdir(os.path.join(journal.dir, "backups"), 0o700)
            fsync_dir(state.runs_path)
            record = {"type": "run", "run_id": run_id, "time": time.time()}
            record.update(meta)
            journal.append(record)
        except BaseException:
            # A full disk: no empty run directory is left behind to puzzle rollback and clean.
            journal._discard()
            raise
        faults.point("journal-created", run_id)
        return journal

    def _discard(self):
        for path in (os.path.join(self.dir, "journal.jsonl"), os.path.join(self.dir, "backups"), self.dir):
            try:
                (os.rmdir if not path.endswith(".jsonl") else os.unlink)(path)
            except OSError:
                pass

    @classmethod
    def load(cls, state, run_id):
        path = os.path.join(state.runs_path, run_id, "journal.jsonl")
        records = []
        skipped = 0
        try:
            # Not followed, not a FIFO or device, not endless: the journal may come from the image.
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as e:
            raise JournalError("cannot read journal {}: {}".format(
                path, "it is a symbolic link" if e.errno == errno.ELOOP else e.strerror))
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise JournalError("cannot read journal {}: not a regular file".format(path))
            if st.st_size > MAX_JOURNAL:
                raise JournalError("cannot read journal {}: {} bytes, more than guestprep ever writes"
                                   .format(path, st.st_size))
            chunks, size = [], 0
            while size <= MAX_JOURNAL:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
            data = b"".join(chunks)
        except (IOError, OSError) as e:
            raise JournalError("cannot read journal {}: {}".format(path, e))
        finally:
            os.close(fd)
        torn = None
        lines = data.split(b"\n")
        for number, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                record = json.loads(line.decode("utf-8"))
            except ValueError:
                # A line torn by a crash or a full disk: the record it began was never acted on
                # (a change is made only after its record is whole), and every record after it
                # starts on a line of its own.
                skipped += 1
                if number == len(lines) - 1:
                    torn = len(data) - len(line)    # the last one goes before the next append
                continue
            records.append(record)
        journal = cls(state, run_id, [r for r in records if isinstance(r, dict)])
        journal._torn_at = torn
        journal.skipped = skipped
        journal.problem = _validate(records)
        return journal

    skipped = 0
    problem = None
    _torn_at = None

    def verify(self):
        """Raise JournalError unless the journal is one guestprep wrote and its backups are
        regular files of the recorded sizes: checked before anything is rolled back."""
        where = os.path.join(self.dir, "journal.jsonl")
        if self.problem:
            raise JournalError("journal {} was not written by guestprep or is damaged: {}; nothing was "
                               "rolled back".format(where, self.problem))
        for record in self.begins():
            befores = [record.get("before")] + [f["before"] for f in record.get("files", ())]
            for before in befores:
                if before and before.get("kind") == "file":
                    try:
                        os.close(self._open_backup(before)[0])
                    except JournalError as e:
                        raise JournalError("{} (journal {}); nothing was rolled back".format(e, where))

    def append(self, record):
        line = (json.dumps(record, sort_keys=True) + "\n").encode("utf-8")
        path = os.path.join(self.dir, "journal.jsonl")
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            if self._torn_at is not None:
                # Half a record a crash left at the end: never acted on, so it goes.
                os.ftruncate(fd, self._torn_at)
                self._torn_at = None
            size = os.fstat(fd).st_size
            if size and _read_at(fd, 1, size - 1) != b"\n":
                # After a line torn by a crash: this record starts a line of its own, so both
                # stay readable (load skips the torn one).
                line = b"\n" + line
            try:
                half = len(line) // 2
                write_all(fd, line[:half])
                faults.point("journal-partial", record.get("type", ""))
                write_all(fd, line[half:])
                os.fsync(fd)
            except OSError:
                # A full disk: take back the part written, so no torn line is left at all.
                try:
                    os.ftruncate(fd, size)
                    os.fsync(fd)
                except OSError:
                    pass
                raise
        finally:
            os.close(fd)
        self.records.append(record)

    def _write_backup(self, seq, data):
        path = os.path.join(self.dir, "backups", str(seq))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            half = len(data) // 2
            write_all(fd, data[:half])
            faults.point("backup-partial", str(seq))
            write_all(fd, data[half:])
            os.fsync(fd)
            os.close(fd)
            fd = None
            fsync_dir(os.path.dirname(path))
        except BaseException:
            if fd is not None:
                os.close(fd)
            _unlink_quietly(path)   # its begin record was never written: nothing refers to it
            raise
        faults.point("backup-written", str(seq))
        return "backups/" + str(seq)

    def _open_backup(self, before):
        """(fd, size) of a backup the journal names, opened only as a regular file inside
        this run's own backups directory, never through a link; JournalError otherwise."""
        name = before.get("backup")
        if not isinstance(name, str) or not BACKUP_RE.match(name):
            raise JournalError("backup {!r} is not a name guestprep writes (backups/<n>)".format(name))
        backups = os.path.join(self.dir, "backups")
        path = os.path.join(self.dir, name)
        try:
            for directory in (self.dir, backups):
                # Real directories, not links out of the run (state.ensure() checked the runs).
                if not stat.S_ISDIR(os.lstat(directory).st_mode):
                    raise OSError(errno.ELOOP, "not a directory")
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as e:
            raise JournalError("backup {} of {}: {}".format(name, self.dir, "a symbolic link or not a directory"
                                                            if e.errno in (errno.ELOOP, errno.ENOTDIR) else e.strerror))
        size = os.fstat(fd).st_size
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise JournalError("backup {} of {} is not a regular file".format(name, self.dir))
        wanted = before.get("size")
        if wanted is not None and size != wanted:
            os.close(fd)
            raise JournalError("backup {} of {} has {} bytes, the journal recorded {}".format(
                name, self.dir, size, wanted))
        return fd, size

    def _read_backup(self, before):
        fd, size = self._open_backup(before)
        try:
            return read_up_to(fd, size)
        finally:
            os.close(fd)

    # -- state ----------------------------------------------------------------

    def begins(self, item=None):
        # A command several items asked for (run_last) is theirs together: "items" names them all.
        return [r for r in self.records if r.get("type") == "begin" and (
            item is None or r.get("item") == item or item in r.get("items", ()))]

    def done_seqs(self):
        return set(r["seq"] for r in self.records if r.get("type") == "done")

    @property
    def meta(self):
        return self.records[0] if self.records and self.records[0].get("type") == "run" else {}

    @property
    def rolled_back(self):
        return any(r.get("type") == "rolled-back" for r in self.records)

    @property
    def changed_something(self):
        return bool(self.begins())

    @property
    def finished(self):
        return any(r.get("type") == "end" for r in self.records)

    # -- applying ----------------------------------------------------------------

    def snapshot(self, root, path, seq):
        """Back up `path` for step `seq`: the record's "before" state, everything needed to put
        it back (bytes, link target, mode, owner, xattrs, flags)."""
        host = root.resolve(path, follow=False)
        try:
            st = os.lstat(host)
        except OSError as e:
            if e.errno == errno.ENOENT:
                return {"kind": "missing"}
            raise
        if stat.S_ISLNK(st.st_mode):
            return {"kind": "symlink", "target": os.readlink(host)}
        if not stat.S_ISREG(st.st_mode):
            raise RootError(path, "not a regular file; guestprep will not replace it")
        data = root.read_bytes(path)
        return {
            "kind": "file", "backup": self._write_backup(seq, data), "sha256": sha256(data), "size": len(data),
            "mode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid,
            "xattrs": {k: base64.b64encode(v).decode("ascii") for k, v in read_xattrs(host).items()},
            "flags": root.get_flags(path),
        }

    def apply(self, ctx, item, step, also=()):
        """Apply one change step, write-ahead. Raises StepFailed (or OSError) when it fails.

        `also`: further items that asked for the same step (a shared run_last command).
        """
        if not isinstance(step, Step):
            raise TypeError("unknown step {!r}".format(step))
        # A step that failed before its begin record was written still used its number: its
        # backup is gone, but the next step must not trip on a name it had taken.
        seq = max([r.get("seq", 0) for r in self.begins()] + [self._last_seq]) + 1
        self._last_seq = seq
        record = {"type": "begin", "seq": seq, "item": item, "why": getattr(step, "why", "")}
        if also:
            record["items"] = [item] + [i for i in also if i != item]
        # The step kind fills in its record and makes its change through the primitives below.
        step.journal_apply(self, ctx, record)

    # Primitives a step kind applies itself with (agent/core/steps.py), write-ahead: the
    # begin record (with a snapshot of what will change) before the change, done after it.

    StepFailed = StepFailed

    def begin(self, record, path):
        """Append the begin record, fsynced: only then may the change be made."""
        self.append(record)
        faults.point("begin-appended", path)

    def finish(self, record, path):
        self.append({"type": "done", "seq": record["seq"]})
        faults.point("done-appended", path)

    def write_file(self, root, path, content, mode):
        if path.startswith(STATE_DIR + "/") and not root.isdir(STATE_DIR):
            # A record guestprep keeps in the image (the network manifest) while the
            # journal itself is in --backup-dir: the state directory is guestprep's own.
            os.makedirs(root.resolve(STATE_DIR), 0o700)
        root.atomic_write(path, content, mode=mode)

    def remove_file(self, root, path):
        root.remove(path)
        faults.point("removed", path)

    def set_flags(self, root, path, flags):
        root.set_flags(path, flags)
        faults.point("flags-set", path)

    def run_command(self, ctx, record, argv, env, network, modifies):
        """Back up the files the command modifies, journal it, run it, record what it left."""
        root = ctx.root
        seq = record["seq"]
        files = self._snapshot_files(root, modifies, seq)
        if files:
            record["files"] = files
            # The names in each directory of those files, so rollback can remove what a
            # command killed halfway left there (initrd.img-X.new, .dpkg-bak, dracut temps).
            record["dirs"] = self._dir_names(root, files)
        self.append(record)
        # network only when asked for: a runner without it (a test double) runs the rest
        done = ctx.executor.run(argv, env=env, **({"network": True} if network else {}))
        log.info("%s exited %s\n%s%s", " ".join(argv), done.returncode, done.stdout[-4000:], done.stderr[-4000:])
        finished = {"type": "done", "seq": seq, "returncode": done.returncode}
        if files:
            # What the command left, so rollback can tell its output from a later edit.
            finished["after"] = dict((f["path"], self._file_state(root, f["path"])) for f in files)
            finished["dirs_after"] = self._dir_names(root, files)
        self.append(finished)
        if not done.ok:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-8:])
            if tail:
                raise StepFailed(Message("{command} exited with {code}:\n{output}", command=" ".join(argv),
                                         code=done.returncode, output=tail))
            raise StepFailed(Message("{command} exited with {code} (no output)", command=" ".join(argv),
                                     code=done.returncode))

    _last_seq = 0

    def end(self, status):
        self.append({"type": "end", "status": status, "time": time.time()})

    # -- rollback ----------------------------------------------------------------

    def rollback(self, ctx, item=None):
        """Undo the run's changes (or one item's), newest first.

        Returns [(record, outcome, message)], outcome one of 'restored', 'unchanged',
        'conflict', 'irreversible', 'failed'.
        """
        self.verify()
        outcomes = []
        done = self.done_seqs()
        for record in reversed(self.begins(item)):
            try:
                outcome, message = self._undo(ctx, record, record["seq"] in done)
            except (OSError, RootError, JournalError) as e:
                outcome, message = "failed", str(e)
            outcomes.append((record, outcome, message))
            faults.point("rollback-step", record.get("path", ""))
        if item is None:
            try:
                self.append({"type": "rolled-back", "time": time.time(),
                             "failed": sum(1 for _r, o, _m in outcomes if o in ("conflict", "failed"))})
            except OSError as e:
                # The files are back; a later rollback finds them so and changes nothing.
                log.warning("could not record the rollback in %s: %s", self.dir, e.strerror or e)
        return outcomes

    def _undo(self, ctx, record, completed):
        return kind_of(record["op"]).undo(self, ctx, record, completed)

    # Primitives a step kind undoes its record with (agent/core/steps.py).

    def undo_command(self, ctx, record, completed):
        """Restore the files a command declared; a command without any cannot be undone."""
        if record.get("files"):
            return self._undo_files(ctx.root, record, self._after(record["seq"]) if completed else None)
        if not completed:
            return "unchanged", Message("never ran")
        if record.get("undo_hint"):
            return "irreversible", Message("cannot be undone automatically; to undo: {command}",
                                           command=record["undo_hint"])
        return "irreversible", Message("cannot be undone automatically")

    def undo_flags(self, ctx, record):
        """Put back the inode flags the record changed, keeping any other flag as it is now."""
        root = ctx.root
        path = record["path"]
        if root.islink(path):
            # Flags are set through an open file: never on what a link made since points to.
            return "conflict", Message("now a symbolic link to {target}, which guestprep did not make; left in "
                                       "place", target=root.readlink(path))
        current = root.get_flags(path)
        if current is None:
            raise JournalError("{}: cannot read inode flags".format(path))
        changed = (record["flags_before"] ^ record["flags_after"]) & USER_FLAGS
        wanted = (current & ~changed) | (record["flags_before"] & changed)
        if wanted == current:
            return "unchanged", Message("flags already as before")
        root.set_flags(path, wanted)
        return "restored", Message("inode flags restored")

    def undo_file(self, ctx, record, after_sha256):
        """Put the record's path back as its "before" state says, when it still holds what
        guestprep left there: `after_sha256`, the content it wrote, or None when it removed it."""
        root = ctx.root
        path = record["path"]
        self._remove_temp_files(root, path)
        before = record["before"]
        current = self._current(root, path)
        # What guestprep left there: its new content, or nothing when it removed the file.
        ours = {after_sha256}
        if current not in ours and _is_link(current) and current != _link(before):
            # A link made since the run (systemd's /var/lib/dbus/machine-id -> /etc/machine-id):
            # writing the original back would go through it to the file it names.
            return "conflict", Message("now a symbolic link to {target}, which guestprep did not make; left in "
                                       "place{original}", target=current[len("link:"):],
                                       original=self._original_in(before))
        if before["kind"] == "missing":
            if current is None:
                return "unchanged", Message("already absent")
            if current in ours:
                root.remove(path)
                return "restored", Message("removed the file guestprep created")
            return "conflict", Message("changed since guestprep created it; left in place")
        if before["kind"] == "symlink":
            if current == _link(before):
                return "unchanged", Message("symlink already in place")
            if current not in ours and current is not None:
                return "conflict", Message("changed since guestprep touched it; left in place")
            if current is not None:
                root.remove(path)
            root.symlink(before["target"], path)
            return "restored", Message("symlink restored")
        # A regular file: bytes, mode, owner, xattrs, then flags.
        if current not in ours and current != before["sha256"]:
            return "conflict", Message("changed since guestprep wrote it; left in place{original}",
                                       original=self._original_in(before))
        data = self._read_backup(before)
        if sha256(data) != before["sha256"]:
            raise JournalError("backup {} is damaged".format(before["backup"]))
        xattrs = {k: base64.b64decode(v) for k, v in before.get("xattrs", {}).items()}
        st = root.lstat(path) if current is not None else None
        if (current == before["sha256"] and st is not None and stat.S_IMODE(st.st_mode) == before["mode"]
                and (st.st_uid, st.st_gid) == (before["uid"], before["gid"])):
            # The bytes may be back from a rollback that died before it set the flags again.
            if self._restore_flags(root, path, before):
                return "restored", Message("inode flags restored")
            return "unchanged", Message("already the original")
        if root.islink(path):
            raise JournalError("{} became a symbolic link while being rolled back; left in place".format(path))
        root.atomic_write(path, data, mode=before["mode"], owner=(before["uid"], before["gid"]), xattrs=xattrs)
        self._restore_flags(root, path, before)
        return "restored", Message("original bytes, mode and owner restored")

    def _original_in(self, before):
        if before.get("kind") != "file":
            return ""
        return Message(" (original in {path})", path=os.path.join(self.dir, before["backup"]))

    @staticmethod
    def _restore_flags(root, path, before):
        """Set the file's user-settable inode flags as they were; True when they had changed."""
        if before.get("flags") is None:
            return False   # the filesystem had no inode flags
        current_flags = root.get_flags(path)
        if current_flags is None:
            return False
        wanted = (current_flags & ~USER_FLAGS) | (before["flags"] & USER_FLAGS)
        if wanted == current_flags:
            return False
        root.set_flags(path, wanted)
        return True

    # -- files a command declared it modifies (initramfs images, grub.cfg) -----------------

    def _snapshot_files(self, root, paths, seq):
        """Back up each declared file before the command runs, streamed (images are large)."""
        files, seen, written = [], set(), []
        try:
            for index, path in enumerate(paths):
                if root.islink(path) and path not in seen:
                    # The link itself (a command may replace it with a file) and, below, the file
                    # it points to (a command may write through it).
                    seen.add(path)
                    files.append({"path": path, "before": {"kind": "symlink", "target": root.readlink(path)}})
                if root.lexists(path):
                    path = root.guest(root.resolve(path))   # the file a symlink points to
                if path in seen:
                    continue
                seen.add(path)
                entry = {"path": path}
                host = root.resolve(path)
                try:
                    st = os.lstat(host)
                except OSError as e:
                    if e.errno != errno.ENOENT:
                        raise
                    entry["before"] = {"kind": "missing"}
                    files.append(entry)
                    continue
                if not stat.S_ISREG(st.st_mode):
                    raise RootError(path, "not a regular file; guestprep will not back it up")
                name = "backups/{}.{}".format(seq, index)
                written.append(os.path.join(self.dir, name))
                digest, size = self._copy_to_backup(host, written[-1])
                entry["before"] = {
                    "kind": "file", "backup": name, "sha256": digest, "size": size,
                    "mode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid,
                    "xattrs": {k: base64.b64encode(v).decode("ascii") for k, v in read_xattrs(host).items()}}
                files.append(entry)
        except BaseException:
            for path in written:    # no begin record will name them (a full disk, most likely)
                _unlink_quietly(path)
            raise
        return files

    @staticmethod
    def _dir_names(root, files):
        """{directory: [names]} of the directories holding the files a command modifies."""
        found = {}
        for entry in files:
            directory = entry["path"].rsplit("/", 1)[0] or "/"
            if directory in found or not root.isdir(directory):
                continue
            names = root.listdir(directory)
            if len(names) <= MAX_DIR_NAMES:
                found[directory] = names
        return found

    @staticmethod
    def _copy_to_backup(source, target):
        """Copy `source` to a new `target`; (sha256, size). A partial copy is removed."""
        digest = hashlib.sha256()
        size = 0
        src = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            dst = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            try:
                while True:
                    chunk = os.read(src, 1 << 20)
                    if not chunk:
                        break
                    digest.update(chunk)
                    size += len(chunk)
                    write_all(dst, chunk)
                os.fsync(dst)
                os.close(dst)
                dst = None
                fsync_dir(os.path.dirname(target))
            except BaseException:
                if dst is not None:
                    os.close(dst)
                _unlink_quietly(target)
                raise
        finally:
            os.close(src)
        return digest.hexdigest(), size

    @staticmethod
    def _file_sha256(root, path):
        """sha256 of a regular file of any size, or None when absent or not a regular file."""
        if not root.lexists(path) or root.islink(path):
            return None
        try:
            fd = os.open(root.resolve(path), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except (OSError, RootError):
            return None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            digest = hashlib.sha256()
            while True:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    return digest.hexdigest()
                digest.update(chunk)
        finally:
            os.close(fd)

    def _after(self, seq):
        return self._done(seq).get("after") or {}

    @classmethod
    def _file_state(cls, root, path):
        """'link:TARGET' for a symlink, else the sha256 of a regular file (None otherwise)."""
        if root.islink(path):
            return "link:" + root.readlink(path)
        return cls._file_sha256(root, path)

    def _undo_files(self, root, record, after):
        """Put back the files a command changed. `after` (None when the command may not have
        finished) holds what it left: a file changed since is a conflict, left alone."""
        restored, conflicts = [], []
        for entry in record["files"]:
            path, before = entry["path"], entry["before"]
            current = self._file_state(root, path)
            ours = set([after.get(path)]) if after is not None else None
            if before["kind"] == "symlink":
                if current == "link:" + before["target"]:
                    continue
                if (ours is not None and current not in ours) or (root.isdir(path) and not root.islink(path)):
                    conflicts.append(path)
                    continue
                if root.lexists(path):
                    root.remove(path)
                root.symlink(before["target"], path)
                restored.append(path)
                continue
            if before["kind"] == "missing":
                if current is None and not root.lexists(path):
                    continue
                if ours is not None and current not in ours:
                    conflicts.append(path)
                    continue
                root.remove(path)
                restored.append(path)
                continue
            if current == before["sha256"]:
                continue
            if ours is not None and current not in ours:
                conflicts.append(path)
                continue
            if root.islink(path):
                root.remove(path)   # the command made it a link: writing would follow it
            self._restore_large(root, path, before)
            restored.append(path)
        left = self._remove_command_leftovers(root, record, after is not None)
        if left:
            restored.append(Message("removed {paths}", paths=", ".join(left)))
        if conflicts and restored:
            return "conflict", Message("changed since the command ran, left in place: {paths}; restored {restored}",
                                       paths=", ".join(conflicts), restored=joined(restored, ", "))
        if conflicts:
            return "conflict", Message("changed since the command ran, left in place: {paths}",
                                       paths=", ".join(conflicts))
        if restored:
            return "restored", Message("restored what the command changed: {paths}", paths=joined(restored, ", "))
        return "unchanged", Message("the files the command changes are as before")

    def _remove_command_leftovers(self, root, record, completed):
        """Remove the entries a command added next to the files it modifies and that are named
        after one of them (initrd.img-X.new, initrd.img-X.dpkg-bak, dracut's initramfs-X.img.<pid>,
        grub.cfg.new): what update-initramfs, dracut or grub-mkconfig leave when killed. Never
        an entry that was there before the command ran; after a command that finished, only
        those it left when it finished (not ones someone made later)."""
        after = self._done(record["seq"]).get("dirs_after", {}) if completed else {}
        bases = {}
        for entry in record.get("files", ()):
            directory, base = entry["path"].rsplit("/", 1)
            bases.setdefault(directory or "/", set()).add(base)
        removed = []
        for directory, names in sorted(record.get("dirs", {}).items()):
            before = set(names)
            for name in root.listdir(directory):
                if name in before or not _named_after(name, bases.get(directory, ())):
                    continue
                if completed and name not in after.get(directory, ()):
                    continue
                path = directory.rstrip("/") + "/" + name
                if root.isdir(path) and not root.islink(path):
                    continue    # unlink only: a command's temp directory is left to the person
                root.remove(path)
                removed.append(path)
        return removed

    def _done(self, seq):
        for r in self.records:
            if r.get("type") == "done" and r.get("seq") == seq:
                return r
        return {}

    def _restore_large(self, root, path, before):
        import mmap
        fd, size = self._open_backup(before)
        try:
            data = None
            if size > 1 << 24:
                try:
                    # Mapped, not read: an initramfs image need not fit in memory twice.
                    data = mmap.mmap(fd, size, access=mmap.ACCESS_READ)
                except (OSError, ValueError, AttributeError):
                    data = None
            if data is None:
                data = self._read_backup(before)
            try:
                if sha256(data) != before["sha256"]:
                    raise JournalError("backup {} is damaged".format(before["backup"]))
                xattrs = {k: base64.b64decode(v) for k, v in before.get("xattrs", {}).items()}
                root.atomic_write(path, data, mode=before["mode"], owner=(before["uid"], before["gid"]),
                                  xattrs=xattrs)
            finally:
                if not isinstance(data, bytes):
                    data.close()
        finally:
            os.close(fd)

    @staticmethod
    def _current(root, path):
        """sha256 of the file now; 'link:TARGET' for a symlink; None when absent; 'other' for a
        directory, device, FIFO or a file that cannot be read."""
        if not root.lexists(path):
            return None
        if root.islink(path):
            return "link:" + root.readlink(path)
        digest = Journal._file_sha256(root, path)
        return digest if digest is not None else "other"

    @staticmethod
    def _remove_temp_files(root, path):
        """Temp files of an atomic write a crash interrupted, next to `path`."""
        directory, base = path.rsplit("/", 1)
        for leftover in root.glob((directory or "/") + "/." + base + ".*.guestprep-tmp"):
            try:
                root.remove(leftover)
            except OSError:
                pass


def space_shortfall(root, state, steps):
    """'' when the filesystems of the state directory and of the files `steps` change have
    room for the backups, the journal, the new files and a rollback; else what is short.

    An estimate on the safe side, in whole blocks: a fix that starts must be able to finish
    or be rolled back, not stop halfway on a full disk.
    """
    need = {}       # st_dev -> [bytes, inodes, host path, block size]

    def add(host, size, inodes=1):
        while not os.path.exists(host) and os.path.dirname(host) != host:
            host = os.path.dirname(host)    # a state directory not made yet: its parent's filesystem
        try:
            st, vfs = os.stat(host), os.statvfs(host)
        except OSError:
            return
        block = vfs.f_frsize or vfs.f_bsize or 4096
        entry = need.setdefault(st.st_dev, [0, 0, host, block])
        entry[0] += -(-size // block) * block
        entry[1] += inodes

    def size_of(path):
        try:
            st = os.lstat(root.resolve(path))
        except (OSError, RootError):
            return 0
        return st.st_size if stat.S_ISREG(st.st_mode) else 0

    def directory_of(path):
        try:
            return os.path.dirname(root.resolve(path))
        except RootError:
            return None

    journal_bytes, biggest = 4096, {}
    for step in steps:
        paths = step.paths()
        journal_bytes += 2048 + 512 * len(paths)
        for path in paths:
            old = size_of(path)
            backup, beside = step.space(old)
            if backup:
                add(state.path, backup)                     # its backup
            directory = directory_of(path)
            if directory is None:
                continue
            if beside is not None:
                add(directory, beside)                      # a new file (or image) beside the old
            dev = _dev(directory)
            if dev is not None and old > biggest.get(dev, (0, None))[0]:
                biggest[dev] = (old, directory)
    for old, directory in biggest.values():
        add(directory, old)                                 # rollback's temp file of the original
    add(state.path, journal_bytes, inodes=3)                # journal, run and backups directories
    add(state.path, 2 * 4096, inodes=0)                     # the two directories' own blocks
    for dev, (size, inodes, host, _block) in sorted(need.items()):
        vfs = os.statvfs(host)
        # f_bavail, also for root: ext4's reserved clusters are free but never for file data.
        free = vfs.f_bavail * vfs.f_frsize
        if size > free:
            return "{}: not enough free space ({}): about {} KiB needed for the backups, the journal and " \
                   "the new files, {} KiB free".format(host, os.strerror(errno.ENOSPC), -(-size // 1024), free // 1024)
        if vfs.f_files and inodes > vfs.f_favail:
            return "{}: not enough free inodes ({}): {} needed, {} free".format(
                host, os.strerror(errno.ENOSPC), inodes, vfs.f_favail)
    return ""


def _dev(host):
    try:
        return os.stat(host).st_dev
    except OSError:
        return None


def _link(before):
    return "link:" + before["target"] if before.get("kind") == "symlink" else None


def _is_link(state):
    return isinstance(state, str) and state.startswith("link:")


def _named_after(name, bases):
    """True for `base.<anything>` and `.base.<anything>`: a temp or backup name of a file."""
    return any(name.startswith(base + ".") or name.startswith("." + base + ".") for base in bases)


def _unlink_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def _validate(records):
    """None when every record that rollback acts on is one guestprep writes; else what is wrong."""
    seqs = set()
    for number, record in enumerate(records, 1):
        if not isinstance(record, dict):
            return "record {} is not an object".format(number)
        if record.get("type") != "begin":
            continue
        problem = check_begin(record)
        if problem:
            return "record {}: {}".format(number, problem)
        if record["seq"] in seqs:
            return "record {}: step {} begins twice".format(number, record["seq"])
        seqs.add(record["seq"])
    return None
