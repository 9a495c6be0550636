"""Write-ahead journal of every change guestprep makes, and rollback from a later process.

Before a file is touched its bytes are copied into the run's backups (fsynced) and a
`begin` record with its mode, owner, xattrs and inode flags is appended (fsynced); only
then is the change made, and a `done` record follows. So after a crash at any point the
journal knows every file that may have changed and holds its original. Rollback restores
a file only when it still holds what guestprep wrote (or the original already): a file
the user edited since is left alone and reported, never overwritten.

Layout, under /var/lib/guestprep of the target or --backup-dir (mode 0700):
    lock                      flock: one fix or rollback at a time
    runs/<run id>/journal.jsonl
    runs/<run id>/backups/<seq> (mode 0600; may hold a copy of /etc/shadow)
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
import time

from agent import faults, model
from agent.rootfs import RootError, fsync_dir, read_xattrs, write_all

log = logging.getLogger("guestprep")

STATE_DIR = "/var/lib/guestprep"
# Bits chattr may change (linux/fs.h FS_FL_USER_MODIFIABLE): only these are restored.
USER_FLAGS = 0x000380FF


class JournalError(Exception):
    pass


class Busy(JournalError):
    pass


class StepFailed(JournalError):
    pass


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def new_run_id():
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-{:04x}".format(random.randrange(1 << 16))


class StateDir(object):
    """Where runs are kept: <root>/var/lib/guestprep, or a host directory given by --backup-dir."""

    def __init__(self, root, backup_dir=None):
        self.root = root
        self.path = os.path.abspath(backup_dir) if backup_dir else root.resolve(STATE_DIR)
        self._lock_fd = None

    @property
    def runs_path(self):
        return os.path.join(self.path, "runs")

    def ensure(self):
        for path in (self.path, self.runs_path):
            if os.path.islink(path):
                # An image's own /var/lib/guestprep/runs -> /somewhere would put backups on the host.
                raise JournalError("{} is a symbolic link; guestprep keeps backups only in a real "
                                   "directory (remove it, or use --backup-dir)".format(path))
            if not os.path.isdir(path):
                os.makedirs(path, 0o700)
            os.chmod(path, 0o700)

    def lock(self):
        """Take the state lock or raise Busy naming the process that holds it."""
        path = os.path.join(self.path, "lock")
        try:
            self.ensure()
            # O_NOFOLLOW: a `lock` symlink planted in an image must not truncate a host file.
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        except OSError as e:
            raise JournalError("cannot take the lock {}: {}".format(
                path, "it is a symbolic link" if e.errno == errno.ELOOP else e.strerror))
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = os.read(fd, 64).decode("ascii", "replace").strip() or "another process"
            os.close(fd)
            if e.errno in (errno.EAGAIN, errno.EACCES):
                raise Busy("another guestprep run (pid {}) holds {}; wait for it to finish"
                           .format(holder, os.path.join(self.path, "lock")))
            raise
        try:
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
        except OSError:
            pass  # the pid only names the holder; a full filesystem must not stop the lock
        self._lock_fd = fd
        faults.point("lock-taken")

    def unlock(self):
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def run_ids(self):
        """Run ids, oldest first."""
        try:
            return sorted(name for name in os.listdir(self.runs_path)
                          if os.path.isfile(os.path.join(self.runs_path, name, "journal.jsonl")))
        except OSError:
            return []


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
        os.mkdir(os.path.join(journal.dir, "backups"), 0o700)
        fsync_dir(state.runs_path)
        record = {"type": "run", "run_id": run_id, "time": time.time()}
        record.update(meta)
        journal.append(record)
        faults.point("journal-created", run_id)
        return journal

    @classmethod
    def load(cls, state, run_id):
        path = os.path.join(state.runs_path, run_id, "journal.jsonl")
        records = []
        good = 0
        torn = last = None     # where a record torn by a crash starts; an unterminated last record
        try:
            with open(path, "rb") as handle:
                for line in handle:
                    try:
                        records.append(json.loads(line.decode("utf-8")))
                    except ValueError:
                        # A torn last line from a crash: the record it began was never acted on.
                        torn = good
                        break
                    good += len(line)
                    if not line.endswith(b"\n"):
                        # Whole but unterminated: keep it, and end it before the next record.
                        torn = good
                        last = line
        except (IOError, OSError) as e:
            raise JournalError("cannot read journal {}: {}".format(path, e))
        journal = cls(state, run_id, records)
        journal._torn_at = torn
        journal._newline_first = last is not None
        return journal

    _torn_at = None
    _newline_first = False

    def append(self, record):
        line = (json.dumps(record, sort_keys=True) + "\n").encode("utf-8")
        path = os.path.join(self.dir, "journal.jsonl")
        if self._torn_at is not None:
            # Appended after a torn line, a record would join it and never parse: rollback's
            # own record would be lost and the run rolled back again and again. A torn record
            # was never acted on, so it goes; a whole record missing its newline gets one.
            os.truncate(path, self._torn_at)
            if self._newline_first:
                line = b"\n" + line
            self._torn_at, self._newline_first = None, False
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        try:
            half = len(line) // 2
            write_all(fd, line[:half])
            faults.point("journal-partial", record.get("type", ""))
            write_all(fd, line[half:])
            os.fsync(fd)
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
        finally:
            os.close(fd)
        fsync_dir(os.path.dirname(path))
        faults.point("backup-written", str(seq))
        return "backups/" + str(seq)

    def _read_backup(self, name):
        with open(os.path.join(self.dir, name), "rb") as handle:
            return handle.read()

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

    def _snapshot(self, root, path, seq):
        """Everything needed to put `path` back: bytes, link target, mode, owner, xattrs, flags."""
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
            "kind": "file", "backup": self._write_backup(seq, data), "sha256": sha256(data),
            "mode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid,
            "xattrs": {k: base64.b64encode(v).decode("ascii") for k, v in read_xattrs(host).items()},
            "flags": root.get_flags(path),
        }

    def apply(self, ctx, item, step, also=()):
        """Apply one change step, write-ahead. Raises StepFailed (or OSError) when it fails.

        `also`: further items that asked for the same step (a shared run_last command).
        """
        root = ctx.root
        seq = len(self.begins()) + 1
        record = {"type": "begin", "seq": seq, "item": item, "why": getattr(step, "why", "")}
        if also:
            record["items"] = [item] + [i for i in also if i != item]
        if isinstance(step, model.WriteFile):
            # Write through symlinks to the file itself (as an editor does); the link stays.
            path = root.guest(root.resolve(step.path))
            record.update(op="write", path=path, before=self._snapshot(root, path, seq),
                          after_sha256=sha256(step.content))
            self.append(record)
            faults.point("begin-appended", path)
            before = record["before"]
            mode = step.mode if before["kind"] == "missing" else None
            root.atomic_write(path, step.content, mode=mode)
        elif isinstance(step, model.RemoveFile):
            record.update(op="remove", path=step.path, before=self._snapshot(root, step.path, seq))
            self.append(record)
            faults.point("begin-appended", step.path)
            if record["before"]["kind"] != "missing":
                root.remove(step.path)
                faults.point("removed", step.path)
        elif isinstance(step, model.SetFlags):
            flags = root.get_flags(step.path)
            if flags is None:
                raise StepFailed("{}: the filesystem has no inode flags".format(step.path))
            new = (flags & ~step.clear) | step.set
            record.update(op="flags", path=step.path, flags_before=flags, flags_after=new)
            self.append(record)
            faults.point("begin-appended", step.path)
            root.set_flags(step.path, new)
            faults.point("flags-set", step.path)
        elif isinstance(step, model.RunCommand):
            argv = list(ctx.executor.command_line(step.argv))
            record.update(op="command", argv=argv, undo_hint=step.undo_hint)
            files = self._snapshot_files(root, getattr(step, "modifies", ()), seq)
            if files:
                record["files"] = files
            self.append(record)
            done = ctx.executor.run(step.argv, env=step.env)
            log.info("%s exited %s\n%s%s", " ".join(argv), done.returncode, done.stdout[-4000:], done.stderr[-4000:])
            finished = {"type": "done", "seq": seq, "returncode": done.returncode}
            if files:
                # What the command left, so rollback can tell its output from a later edit.
                finished["after"] = dict((f["path"], self._file_state(root, f["path"])) for f in files)
            self.append(finished)
            if not done.ok:
                tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-8:])
                raise StepFailed("{} exited with {}{}".format(" ".join(argv), done.returncode,
                                                              ":\n" + tail if tail else " (no output)"))
            return
        else:
            raise TypeError("unknown step {!r}".format(step))
        self.append({"type": "done", "seq": seq})
        faults.point("done-appended", getattr(step, "path", ""))

    def end(self, status):
        self.append({"type": "end", "status": status, "time": time.time()})

    # -- rollback ----------------------------------------------------------------

    def rollback(self, ctx, item=None):
        """Undo the run's changes (or one item's), newest first.

        Returns [(record, outcome, message)], outcome one of 'restored', 'unchanged',
        'conflict', 'irreversible', 'failed'.
        """
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
            self.append({"type": "rolled-back", "time": time.time(),
                         "failed": sum(1 for _r, o, _m in outcomes if o in ("conflict", "failed"))})
        return outcomes

    def _undo(self, ctx, record, completed):
        root = ctx.root
        op = record["op"]
        if op == "command":
            if record.get("files"):
                return self._undo_files(root, record, self._after(record["seq"]) if completed else None)
            if not completed:
                return "unchanged", "never ran"
            return "irreversible", "cannot be undone automatically" + (
                "; to undo: " + record["undo_hint"] if record.get("undo_hint") else "")
        path = record["path"]
        if op == "flags":
            current = root.get_flags(path)
            if current is None:
                raise JournalError("{}: cannot read inode flags".format(path))
            changed = (record["flags_before"] ^ record["flags_after"]) & USER_FLAGS
            wanted = (current & ~changed) | (record["flags_before"] & changed)
            if wanted == current:
                return "unchanged", "flags already as before"
            root.set_flags(path, wanted)
            return "restored", "inode flags restored"
        self._remove_temp_files(root, path)
        before = record["before"]
        current = self._current(root, path)
        if op == "write":
            ours = {record["after_sha256"]}
        else:
            ours = {None}
        if before["kind"] == "missing":
            if current is None:
                return "unchanged", "already absent"
            if current in ours:
                root.remove(path)
                return "restored", "removed the file guestprep created"
            return "conflict", "changed since guestprep created it; left in place"
        if before["kind"] == "symlink":
            if root.islink(path) and root.readlink(path) == before["target"]:
                return "unchanged", "symlink already in place"
            if current not in ours and current is not None:
                return "conflict", "changed since guestprep touched it; left in place"
            if current is not None or root.islink(path):
                root.remove(path)
            root.symlink(before["target"], path)
            return "restored", "symlink restored"
        # A regular file: bytes, mode, owner, xattrs, then flags.
        if current not in ours and current != before["sha256"]:
            return "conflict", "changed since guestprep wrote it; left in place (original in {})".format(
                os.path.join(self.dir, before["backup"]))
        data = self._read_backup(before["backup"])
        if sha256(data) != before["sha256"]:
            raise JournalError("backup {} is damaged".format(before["backup"]))
        xattrs = {k: base64.b64decode(v) for k, v in before.get("xattrs", {}).items()}
        st = root.lstat(path) if current is not None else None
        if (current == before["sha256"] and st is not None and stat.S_IMODE(st.st_mode) == before["mode"]
                and (st.st_uid, st.st_gid) == (before["uid"], before["gid"])):
            # The bytes may be back from a rollback that died before it set the flags again.
            if self._restore_flags(root, path, before):
                return "restored", "inode flags restored"
            return "unchanged", "already the original"
        root.atomic_write(path, data, mode=before["mode"], owner=(before["uid"], before["gid"]), xattrs=xattrs)
        self._restore_flags(root, path, before)
        return "restored", "original bytes, mode and owner restored"

    @staticmethod
    def _restore_flags(root, path, before):
        """Set the file's user-settable inode flags as they were; True when they had changed."""
        if not before.get("flags"):
            return False
        current_flags = root.get_flags(path) or 0
        wanted = (current_flags & ~USER_FLAGS) | (before["flags"] & USER_FLAGS)
        if wanted == current_flags:
            return False
        root.set_flags(path, wanted)
        return True

    # -- files a command declared it modifies (initramfs images, grub.cfg) -----------------

    def _snapshot_files(self, root, paths, seq):
        """Back up each declared file before the command runs, streamed (images are large)."""
        files, seen = [], set()
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
            digest = self._copy_to_backup(host, os.path.join(self.dir, name))
            entry["before"] = {
                "kind": "file", "backup": name, "sha256": digest, "mode": stat.S_IMODE(st.st_mode),
                "uid": st.st_uid, "gid": st.st_gid,
                "xattrs": {k: base64.b64encode(v).decode("ascii") for k, v in read_xattrs(host).items()}}
            files.append(entry)
        return files

    @staticmethod
    def _copy_to_backup(source, target):
        digest = hashlib.sha256()
        src = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            dst = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            try:
                while True:
                    chunk = os.read(src, 1 << 20)
                    if not chunk:
                        break
                    digest.update(chunk)
                    write_all(dst, chunk)
                os.fsync(dst)
            finally:
                os.close(dst)
        finally:
            os.close(src)
        fsync_dir(os.path.dirname(target))
        return digest.hexdigest()

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
        for r in self.records:
            if r.get("type") == "done" and r.get("seq") == seq:
                return r.get("after") or {}
        return {}

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
        if conflicts:
            return "conflict", "changed since the command ran, left in place: {}{}".format(
                ", ".join(conflicts), "; restored " + ", ".join(restored) if restored else "")
        if restored:
            return "restored", "restored what the command changed: " + ", ".join(restored)
        return "unchanged", "the files the command changes are as before"

    def _restore_large(self, root, path, before):
        import mmap
        host = os.path.join(self.dir, before["backup"])
        fd = os.open(host, os.O_RDONLY | os.O_CLOEXEC)
        try:
            size = os.fstat(fd).st_size
            data = None
            if size > 1 << 24:
                try:
                    # Mapped, not read: an initramfs image need not fit in memory twice.
                    data = mmap.mmap(fd, size, access=mmap.ACCESS_READ)
                except (OSError, ValueError, AttributeError):
                    data = None
            if data is None:
                data = self._read_backup(before["backup"])
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
        """sha256 of the file now, or None when it is absent (or not a regular file)."""
        if not root.lexists(path) or root.islink(path):
            return None
        try:
            return sha256(root.read_bytes(path))
        except RootError:
            return None

    @staticmethod
    def _remove_temp_files(root, path):
        """Temp files of an atomic write a crash interrupted, next to `path`."""
        directory, base = path.rsplit("/", 1)
        for leftover in root.glob((directory or "/") + "/." + base + ".*.guestprep-tmp"):
            try:
                root.remove(leftover)
            except OSError:
                pass
