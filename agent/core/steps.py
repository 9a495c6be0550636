"""Change steps: what a remediation plans, as data, each kind owning its behaviour.

A kind of step is one class (convert2rhel's RestorableChange): its fields, how it is shown
in a plan (JSON, text, the generated shell script), what a plan file records of it, how it
is journaled and applied, how its journal record is checked and undone. The engine, the
journal, the plan file and the report only call these methods; a new kind of step is one
new subclass of Step here (or anywhere: a subclass with an `op` registers itself).

Nothing here writes: a step applies itself and undoes its record only through the journal
passed in (agent/core/journal.py), which alone backs up, writes, removes and runs. So the
checks, which import the step classes through agent.core.model, still load no code that
writes.
"""
import re
import shlex

from agent.tuples import namedtuple

# Names the journal gives backups, and the hashes it records (a journal found inside an
# image is untrusted input: every record is checked against these before rollback).
BACKUP_RE = re.compile(r"^backups/[0-9]{1,9}(\.[0-9]{1,6})?$")
SHA_RE = re.compile(r"^[0-9a-f]{64}$")

# Programs that install, remove or reinstall packages: a RunCommand of one of these is a
# package step, refused while the package manager is broken (checks/package_manager.py).
PACKAGE_TOOLS = frozenset(("apt-get", "apt", "aptitude", "dpkg", "yum", "dnf", "microdnf", "zypper", "rpm"))

# op -> step class: rollback reads the op of each record a journal holds.
KINDS = {}


def kind_of(op):
    """The step class that writes journal records with this op, or None."""
    return KINDS.get(op) if isinstance(op, str) else None


class Step(object):
    """Base of every kind of change step. Subclasses are namedtuples of their fields (see
    WriteFile) with an `op`: the journal record's "op" and the plan JSON's "kind"."""

    __slots__ = ()
    op = ""
    # Defaults the fields of some kinds override.
    live_only = False       # meaningless on a mounted image: left out of an offline plan
    run_last = False        # run once after every plan's other steps
    # The guest path whose whole content the step replaces with its `content` ("" if none):
    # the engine combines two plans' appends to one file and plans again over a rewrite.
    writes = ""

    def __init_subclass__(cls, **kwargs):
        super(Step, cls).__init_subclass__(**kwargs)
        if cls.__dict__.get("op"):
            KINDS[cls.op] = cls

    # -- what it is ---------------------------------------------------------------

    @property
    def reversible(self):
        """Whether rollback undoes it."""
        return True

    def paths(self):
        """The guest paths it changes."""
        return [self.path]

    def changes_packages(self):
        return False

    def commands(self):
        """(argv, network) of each of the target's programs it runs."""
        return ()

    def space(self, old_size):
        """(bytes of backup, bytes of a new file written beside it or None) to change a file
        of old_size: what the journal checks is free before a run starts."""
        return old_size, None

    def written_text(self):
        """The new text it writes (scanned for secrets before a script holds it), or ''."""
        return ""

    # -- shown in a plan -----------------------------------------------------------

    def plan_dict(self, ctx, diff):
        """The step in `plan --format json`; `diff(ctx, step)` renders a file's unified diff."""
        return {"kind": type(self).__name__}

    def plan_lines(self, ctx, info, fix_reversible):
        """Lines of `plan` text after its why, from plan_dict's `info`."""
        return []

    def script_lines(self, ctx, script):
        """Lines of `plan --format script`; `script` quotes (quote, heredoc), names files
        under $ROOT (host) and asks for a file's state to be checked first (expect)."""
        return []

    def plan_file_dict(self, ctx, file_state):
        """What `plan --out` records: the kind, and file_state(root, path) of what it reads."""
        return {"kind": type(self).__name__}

    # -- applied and undone through the journal --------------------------------------

    def journal_apply(self, journal, ctx, record):
        """Complete the begin `record` (seq, item, why), journal it and make the change, only
        through `journal`; end with journal.finish(). Raises on failure."""
        raise TypeError("unknown step {!r}".format(self))

    @classmethod
    def undo(cls, journal, ctx, record, completed):
        """Undo a begin record of this op: (outcome, message)."""
        raise NotImplementedError

    @classmethod
    def check_record(cls, record):
        """None when a begin record of this op is one guestprep writes, else what is wrong
        (seq and item are checked before)."""
        return check_path(record) or check_before(record.get("before"))


# -- the four kinds ---------------------------------------------------------------------
# Paths are guest paths (inside the target root).

class _WriteFile(namedtuple("_WriteFile", (
    "path",                   # str
    "content",                # bytes
    "mode",                   # Optional[int]: for a new file; an existing file keeps its own
    "why",                    # str
), mode=None, why="")):
    __slots__ = ()


class WriteFile(_WriteFile, Step):
    """Replace (or create) a file with `content` (bytes), atomically."""

    __slots__ = ()
    op = "write"

    @property
    def writes(self):
        return self.path

    def space(self, old_size):
        return old_size, len(self.content)      # its backup; the temp file of the new content

    def written_text(self):
        return self.content.decode("utf-8", "replace")

    def plan_dict(self, ctx, diff):
        return {"kind": "write", "path": self.path, "why": self.why, "diff": diff(ctx, self)}

    def plan_lines(self, ctx, info, fix_reversible):
        from agent.core.model import Message  # the model imports this module: Message when used
        return [info["diff"].rstrip("\n") or Message("   (no change to {path})", path=self.path)]

    def script_lines(self, ctx, script):
        path = ctx.root.guest(ctx.root.resolve(self.path))   # through symlinks, as fix does
        script.expect(path)
        if ctx.root.exists(path):
            st = ctx.root.stat(path)
            mode, uid, gid = st.st_mode & 0o7777, st.st_uid, st.st_gid
        else:
            mode, uid, gid = self.mode if self.mode is not None else 0o644, 0, 0
        text = self.content.decode("utf-8", "surrogateescape")
        return ["mkdir -p \"$(dirname {})\"".format(script.host(path)),
                script.heredoc(script.host(path + ".guestprep-new"), text),
                "put {} {} {:o} {} {}".format(script.host(path), _sha256(self.content), mode, uid, gid)]

    def plan_file_dict(self, ctx, file_state):
        return {"kind": "write", "path": self.path, "before": file_state(ctx.root, self.path),
                "content_sha256": _sha256(self.content)}

    def journal_apply(self, journal, ctx, record):
        root = ctx.root
        # Write through symlinks to the file itself (as an editor does); the link stays.
        path = root.guest(root.resolve(self.path))
        record.update(op="write", path=path, before=journal.snapshot(root, path, record["seq"]),
                      after_sha256=_sha256(self.content))
        journal.begin(record, path)
        mode = self.mode if record["before"]["kind"] == "missing" else None
        journal.write_file(root, path, self.content, mode)
        journal.finish(record, self.path)

    @classmethod
    def undo(cls, journal, ctx, record, completed):
        return journal.undo_file(ctx, record, record["after_sha256"])

    @classmethod
    def check_record(cls, record):
        problem = check_path(record)
        if problem:
            return problem
        if not (isinstance(record.get("after_sha256"), str) and SHA_RE.match(record["after_sha256"])):
            return "no valid after_sha256"
        return check_before(record.get("before"))


class _RemoveFile(namedtuple("_RemoveFile", (
    "path",                   # str
    "why",                    # str
), why="")):
    __slots__ = ()


class RemoveFile(_RemoveFile, Step):
    """Remove a file or symlink (backed up; rollback puts it back)."""

    __slots__ = ()
    op = "remove"

    def plan_dict(self, ctx, diff):
        return {"kind": "remove", "path": self.path, "why": self.why}

    def plan_lines(self, ctx, info, fix_reversible):
        return ["   $ rm " + ctx.root.display(self.path)]

    def script_lines(self, ctx, script):
        script.expect(self.path)
        return ["backup {}".format(script.host(self.path)), "rm -f {}".format(script.host(self.path))]

    def plan_file_dict(self, ctx, file_state):
        return {"kind": "remove", "path": self.path, "before": file_state(ctx.root, self.path)}

    def journal_apply(self, journal, ctx, record):
        root = ctx.root
        record.update(op="remove", path=self.path, before=journal.snapshot(root, self.path, record["seq"]))
        journal.begin(record, self.path)
        if record["before"]["kind"] != "missing":
            journal.remove_file(root, self.path)
        journal.finish(record, self.path)

    @classmethod
    def undo(cls, journal, ctx, record, completed):
        return journal.undo_file(ctx, record, None)


class _SetFlags(namedtuple("_SetFlags", (
    "path",                   # str
    "clear",                  # int
    "set",                    # int
    "why",                    # str
), clear=0, set=0, why="")):
    __slots__ = ()


class SetFlags(_SetFlags, Step):
    """Change inode flags (chattr). `clear` and `set` are FS_*_FL bit masks."""

    __slots__ = ()
    op = "flags"

    def space(self, old_size):
        return 0, None  # flags are restored from the journal record, not a backup

    def chattr_ops(self):
        """'-i -a' / '+i' (the immutable and append-only flags)."""
        letters = {0x10: "i", 0x20: "a"}
        ops = ["-" + letters[bit] for bit in sorted(letters) if self.clear & bit]
        ops += ["+" + letters[bit] for bit in sorted(letters) if self.set & bit]
        return " ".join(ops)

    def chattr_command(self, ctx):
        return "chattr {} {}".format(self.chattr_ops(), ctx.root.display(self.path))

    def plan_dict(self, ctx, diff):
        return {"kind": "flags", "path": self.path, "why": self.why, "command": self.chattr_command(ctx)}

    def plan_lines(self, ctx, info, fix_reversible):
        return ["   $ " + info["command"]]

    def script_lines(self, ctx, script):
        return ["chattr {} {}".format(self.chattr_ops(), script.host(self.path))]

    def plan_file_dict(self, ctx, file_state):
        return {"kind": "flags", "path": self.path, "clear": self.clear, "set": self.set,
                "before": file_state(ctx.root, self.path)}

    def journal_apply(self, journal, ctx, record):
        root = ctx.root
        flags = root.get_flags(self.path)
        if flags is None:
            raise journal.StepFailed("{}: the filesystem has no inode flags".format(self.path))
        new = (flags & ~self.clear) | self.set
        record.update(op="flags", path=self.path, flags_before=flags, flags_after=new)
        journal.begin(record, self.path)
        journal.set_flags(root, self.path, new)
        journal.finish(record, self.path)

    @classmethod
    def undo(cls, journal, ctx, record, completed):
        return journal.undo_flags(ctx, record)

    @classmethod
    def check_record(cls, record):
        problem = check_path(record)
        if problem:
            return problem
        if not isinstance(record.get("flags_before"), int) or not isinstance(record.get("flags_after"), int):
            return "invalid flags"
        return None


class _RunCommand(namedtuple("_RunCommand", (
    "argv",                   # Tuple[str, ...]
    "why",                    # str
    "undo_hint",              # str: what a person runs to undo it (rollback cannot)
    "env",                    # Optional[dict]
    "live_only",              # bool: e.g. 'systemctl stop': meaningless on an image
    # Files the command rewrites or creates (guest paths): the journal backs them up before
    # it runs, and rollback restores them byte for byte (removes the ones it created).
    "modifies",               # Tuple[str, ...]
    # Run once after every plan's other steps (file edits) in this run; the same argv asked
    # for by several plans runs once (one initramfs rebuild for virtio and nvme).
    "run_last",               # bool
    # The command downloads packages: a mounted image's container gets the host's network
    # (and resolver) for it; every other command runs with no network.
    "network",                # bool
), why="", undo_hint="", env=None, live_only=False, modifies=(), run_last=False, network=False)):
    __slots__ = ()


class RunCommand(_RunCommand, Step):
    """Run a command inside the target: on a mounted image (--root), the image's program in a
    container (agent/core/runner.py). Irreversible unless it declares the files it modifies."""

    __slots__ = ()
    op = "command"

    @property
    def reversible(self):
        # rollback restores the files it declares; any other effect of a command stays
        return bool(self.modifies)

    def paths(self):
        return list(self.modifies)

    def changes_packages(self):
        return bool(self.argv) and self.argv[0].rsplit("/", 1)[-1] in PACKAGE_TOOLS

    def commands(self):
        return ((self.argv, self.network),)

    def space(self, old_size):
        return old_size, old_size       # its backup; the command's new image beside the old

    def plan_dict(self, ctx, diff):
        # argv: the command as run in the target; runs: whether it is the image's program
        # and how it is contained (agent/core/runner.py), network on or off.
        return {"kind": "command", "why": self.why, "argv": list(self.argv),
                "runs": _describe_command(ctx.runner, self.argv, self.network),
                "undo": self.undo_hint, "modifies": list(self.modifies), "run_last": self.run_last}

    def plan_lines(self, ctx, info, fix_reversible):
        # Lines with words are Messages (the report shows them in the chosen language).
        from agent.core.model import Message  # the model imports this module: Message when used
        command = "   $ " + " ".join(shlex.quote(a) for a in info["argv"])
        out = [command if self.reversible or fix_reversible else
               Message("{command}   (IRREVERSIBLE)", command=command),
               Message("     ({text})", text=info["runs"]["text"])]
        if info["undo"]:
            out.append(Message("     (to undo by hand: {command})", command=info["undo"]))
        if info.get("modifies"):
            out.append(Message("     (backed up first, restored by rollback: {paths})",
                                paths=", ".join(ctx.root.display(p) for p in info["modifies"])))
        return out

    def script_lines(self, ctx, script):
        env = ""
        if self.env:
            env = "env " + " ".join(script.quote("{}={}".format(k, v)) for k, v in sorted(self.env.items())) + " "
        out = ["in_root {} {}{}".format(1 if self.network else 0, env, " ".join(script.quote(a) for a in self.argv))]
        if self.undo_hint:
            out.append("# to undo by hand: " + script.one_line(self.undo_hint))
        return out

    def plan_file_dict(self, ctx, file_state):
        return {"kind": "command", "argv": list(self.argv),
                "modifies": dict((p, file_state(ctx.root, p)) for p in self.modifies)}

    def journal_apply(self, journal, ctx, record):
        argv = list(self.argv)   # as run in the target; `runs` says where and how contained
        record.update(op="command", argv=argv, undo_hint=self.undo_hint,
                      runs=_describe_command(ctx.executor, self.argv, self.network)["text"])
        journal.run_command(ctx, record, self.argv, self.env, self.network, self.modifies)

    @classmethod
    def undo(cls, journal, ctx, record, completed):
        return journal.undo_command(ctx, record, completed)

    @classmethod
    def check_record(cls, record):
        files = record.get("files", [])
        if not isinstance(files, list):
            return "invalid files"
        for entry in files:
            if not isinstance(entry, dict) or not guest_path(entry.get("path")):
                return "file {!r} is not an absolute path inside the root".format(
                    entry.get("path") if isinstance(entry, dict) else entry)
            problem = check_before(entry.get("before"))
            if problem:
                return problem
        dirs = record.get("dirs", {})
        if not isinstance(dirs, dict):
            return "invalid dirs"
        for directory, names in dirs.items():
            if not guest_path(directory) or not isinstance(names, list) or not all(
                    isinstance(n, str) and "/" not in n for n in names):
                return "invalid directory listing of {!r}".format(directory)
        return None


def _describe_command(runner, argv, network):
    from agent.core.runner import describe_command  # not loaded by importing the model
    return describe_command(runner, argv, network)


def is_package_step(step):
    return step.changes_packages()


# -- checking a journal's records (untrusted input) --------------------------------------

def _sha256(data):
    import hashlib  # here: loading OpenSSL is a cost a check (which writes nothing) need not pay
    return hashlib.sha256(data).hexdigest()


def guest_path(value):
    return (isinstance(value, str) and value.startswith("/") and "\0" not in value
            and ".." not in value.split("/"))


def check_path(record):
    if not guest_path(record.get("path")):
        return "path {!r} is not an absolute path inside the root".format(record.get("path"))
    return None


def check_before(before):
    if not isinstance(before, dict) or before.get("kind") not in ("missing", "symlink", "file"):
        return "no valid 'before' state"
    if before["kind"] == "symlink" and not isinstance(before.get("target"), str):
        return "a symlink without a target"
    if before["kind"] == "file":
        if not isinstance(before.get("backup"), str) or not BACKUP_RE.match(before["backup"]):
            return "backup {!r} is not a name guestprep writes (backups/<n>)".format(before.get("backup"))
        if not isinstance(before.get("sha256"), str) or not SHA_RE.match(before["sha256"]):
            return "backup {} has no valid sha256".format(before["backup"])
        for key in ("mode", "uid", "gid"):
            if not isinstance(before.get(key), int) or before[key] < 0:
                return "backup {} has no valid {}".format(before["backup"], key)
        if before.get("size") is not None and (not isinstance(before["size"], int) or before["size"] < 0):
            return "backup {} has no valid size".format(before["backup"])
        xattrs = before.get("xattrs", {})
        if not isinstance(xattrs, dict) or not all(isinstance(v, str) for v in xattrs.values()):
            return "backup {} has invalid xattrs".format(before["backup"])
    return None


def check_begin(record):
    """None when a begin record is one guestprep writes; else what is wrong."""
    if not isinstance(record.get("seq"), int) or not isinstance(record.get("item"), str):
        return "no step number or item"
    kind = kind_of(record.get("op"))
    if kind is None:
        return "unknown operation {!r}".format(record.get("op"))
    return kind.check_record(record)
