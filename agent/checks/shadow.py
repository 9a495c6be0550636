"""shadow: ECS must be able to write /etc/shadow (and passwd, group, gshadow) on first boot.

Seeds 000 and 002: when an instance is created, ECS sets the root password (and the key
pair) by rewriting /etc/shadow; if the file is "read-only" the password cannot be set
and creating the instance fails. For root, file modes do not make a file read-only
(CAP_DAC_OVERRIDE ignores them, and RHEL ships /etc/shadow as mode 0000), so what
actually stops the write is an immutable (chattr +i) or append-only (+a) inode
attribute, which hardening scripts set on these files, or a read-only mount of the
filesystem that holds /etc (an `ro` root entry in /etc/fstab, which systemd applies
when it remounts /). passwd, group and gshadow are rewritten by the same tools (usermod,
chpasswd, cloud-init's user creation), so their attributes matter too.

The file contents are never read: /etc/shadow holds password hashes.
"""
from agent.core.model import Check, Message, Status, joined
from agent.core.rootfs import FS_APPEND_FL, FS_IMMUTABLE_FL, RootError
from agent.parsers import fstab

SHADOW = "/etc/shadow"
REQUIRED = ("/etc/shadow", "/etc/passwd", "/etc/group")
OPTIONAL = ("/etc/gshadow",)
FILES = REQUIRED + OPTIONAL
FSTAB = "/etc/fstab"
# Attributes that make the kernel refuse to replace or rewrite a file, even for root.
LOCKING_FLAGS = FS_IMMUTABLE_FL | FS_APPEND_FL
# statvfs f_flag bit of a read-only mount (os.ST_RDONLY on Linux); checks do not import os.
ST_RDONLY = 1


def describe_flags(flags):
    """'immutable (+i)', 'append-only (+a)' or 'immutable and append-only (+ia)'."""
    immutable, append = bool(flags & FS_IMMUTABLE_FL), bool(flags & FS_APPEND_FL)
    if immutable and append:
        return Message("immutable and append-only (+ia)")
    if immutable:
        return Message("immutable (+i)")
    return Message("append-only (+a)") if append else Message("(+)")


def locked_files(root):
    """[(path, flags)] of the account files that carry +i or +a; unreadable ones are left out."""
    locked = []
    for path in FILES:
        if not root.exists(path):
            continue
        try:
            flags = root.get_flags(path)
        except RootError:
            continue
        if flags is not None and flags & LOCKING_FLAGS:
            locked.append((path, flags))
    return locked


def readonly_files(root, paths):
    """The paths among `paths` whose filesystem is mounted read-only where guestprep runs."""
    found = []
    for path in paths:
        try:
            if root.statvfs(path).f_flag & ST_RDONLY:
                found.append(path)
        except (OSError, RootError, AttributeError):
            continue   # unknown: say nothing rather than guess
    return found


def fstab_readonly_entry(text):
    """The fstab entry that mounts /etc read-only at boot, or None.

    The entry is the most specific of `/` and `/etc`; among its options the last of
    `ro`/`rw` wins, as mount(8) applies them in order.
    """
    entries, _problems = fstab.parse(text)
    covering = None
    for entry in entries:
        mountpoint = entry.mountpoint.rstrip("/") or "/"
        if mountpoint not in ("/", "/etc") or entry.fstype == "swap":
            continue
        if covering is None or len(mountpoint) >= len(covering.mountpoint.rstrip("/") or "/"):
            covering = entry
    if covering is None:
        return None
    readonly = False
    for option in covering.options:
        if option == "ro":
            readonly = True
        elif option in ("rw", "defaults"):
            readonly = False
    return covering if readonly else None


_KINDS = {   # what is wrong with an account file -> (code, text)
    "directory": ("not-a-file", "{path} is a directory, not a file"),
    "dangling": ("dangling-symlink", "{path} is a dangling symlink"),
    "special": ("not-a-file", "{path} is not a regular file"),
    "missing": ("missing", "{path} does not exist"),
}


# Two whole sentences (a translation needs each), not one with a clause put in.
_LOCKED_HINT = ("ECS rewrites the account files on first boot to set the root password "
                "and keys; the kernel refuses that while the immutable or append-only "
                "attribute is set, even for root. Clear it (guestprep fix --items shadow "
                "does this reversibly). If a hardening tool set it, keep it from "
                "setting it again before the image is captured.")
_LOCKED_HINT_RO = ("ECS rewrites the account files on first boot to set the root password "
                   "and keys; the kernel refuses that while the immutable or append-only "
                   "attribute is set, even for root. Clear it (guestprep fix --items shadow "
                   "does this reversibly, once the filesystem is writable). If a hardening tool "
                   "set it, keep it from setting it again before the image is captured.")


class Files(object):
    """What shadow reads about the account files, gathered once: their kinds, inode
    attributes, read-only mounts, and the fstab entry that mounts /etc."""

    def __init__(self, root):
        self.present, self.broken = [], []     # broken: [(path, kind)]
        for path in FILES:
            if root.isfile(path):
                self.present.append(path)
            elif root.isdir(path):
                self.broken.append((path, "directory"))
            elif root.lexists(path):
                self.broken.append((path, "dangling" if root.islink(path) else "special"))
            elif path in REQUIRED:
                self.broken.append((path, "missing"))
            # no gshadow: nothing for ECS to write there
        self.readonly = readonly_files(root, self.present)
        self.flags, self.unreadable = {}, []   # unreadable: [(path, reason)]
        for path in self.present:
            try:
                self.flags[path] = root.get_flags(path)
            except RootError as e:
                self.unreadable.append((path, e.reason))
        self.locked = [(p, self.flags[p]) for p in self.present
                       if p in self.flags and self.flags[p] is not None and self.flags[p] & LOCKING_FLAGS]
        self.unsupported = [p for p in self.present if p in self.flags and self.flags[p] is None]
        try:
            text, self.fstab_problem = root.read_config_or_none(FSTAB), ""
        except RootError as e:
            text, self.fstab_problem = None, e.reason
        self.fstab_entry = fstab_readonly_entry(text) if text is not None else None


class Shadow(Check):
    id = "shadow"
    title = "/etc/shadow writable by ECS"
    item = "shadow"
    repair_item = "shadow"
    refs = ("000", "002")

    def run(self, ctx):
        files = Files(ctx.root)
        fails, warns, infos, hints, commands, paths = [], [], [], [], [], []
        for judge in (self._broken, self._attributes, self._readonly, self._fstab):
            judge(ctx, files, fails, warns, infos, hints, commands, paths)

        data = {"locked": dict(files.locked), "readonly": bool(files.readonly),
                "fstab_ro": files.fstab_entry is not None}
        if fails or warns:
            hint = joined(hints, " ") if hints else Message("Check the files named above.")
            result = self.results(fails + warns + infos, hint, commands=commands, paths=paths, data=data)
            if infos:
                result = result._replace(summary=Message(
                    "{problems} ({notes})", problems=joined([f.text for f in fails + warns], "; "),
                    notes=joined([f.text for f in infos], "; ")))
            return result
        checked = ", ".join(files.present)
        if infos:
            result = self.results(infos, paths=files.present, data=data)
            return result._replace(summary=Message("{files} writable; {notes}", files=checked,
                                                   notes=joined([f.text for f in infos], "; ")))
        return self.passed(Message("{files} writable: no immutable or append-only attribute, not mounted "
                                   "read-only", files=checked), paths=files.present, data=data, code="writable")

    # -- judging: each appends its findings, hints, commands and paths ----------------------

    def _broken(self, ctx, files, fails, warns, infos, hints, commands, paths):
        for path, kind in files.broken:
            code, template = _KINDS[kind]
            fails.append(self.finding(Status.FAIL, code, Message(template, path=path), path))
            paths.append(path)
        broken = [p for p, _kind in files.broken]
        root = ctx.root
        if SHADOW in broken:
            hints.append(Message("ECS has nowhere to set the root password without a regular file {path}: "
                                 "create it from /etc/passwd with pwconv.", path=SHADOW))
            if root.isfile("/etc/passwd") and not root.lexists(SHADOW):
                commands.append(" ".join(ctx.runner.command_line(("pwconv",))))
        others = [p for p in broken if p != SHADOW]
        if others:
            hints.append(Message("Restore {paths} from a backup or the distribution's package (grpconv "
                                 "recreates /etc/gshadow) before capturing the image.", paths=", ".join(others)))

    def _attributes(self, ctx, files, fails, warns, infos, hints, commands, paths):
        for path, reason in files.unreadable:
            warns.append(self.finding(Status.WARN, "attributes-unreadable", Message(
                "cannot read the attributes of {path}: {reason}", path=path, reason=reason), path))
            paths.append(path)
        if files.locked:
            for path, flags in files.locked:
                fails.append(self.finding(Status.FAIL, "locked", Message(
                    "{path} is {flags}", path=path, flags=describe_flags(flags)), path))
            paths.extend(path for path, _flags in files.locked)
            hints.append(Message(_LOCKED_HINT_RO if files.readonly else _LOCKED_HINT))
            commands.append("chattr -i -a " + " ".join(ctx.root.display(p) for p, _f in files.locked))
        if files.unsupported:
            infos.append(self.finding(Status.INFO, "attributes-unsupported", Message(
                "inode attributes not supported here for {paths} (the filesystem has none, "
                "so none can be set)", paths=", ".join(files.unsupported))))

    def _readonly(self, ctx, files, fails, warns, infos, hints, commands, paths):
        readonly = files.readonly
        if not readonly:
            return
        paths.extend(p for p in readonly if p not in paths)
        one = len(readonly) == 1
        where = ", ".join(readonly)
        if ctx.offline:
            # How the host mounted the image, not how ECS will: that is /etc/fstab's job.
            warns.append(self.finding(Status.WARN, "mounted-readonly-here", Message(
                "{paths} is on a filesystem mounted read-only here" if one else
                "{paths} are on a filesystem mounted read-only here", paths=where)))
            hints.append(Message("The image is mounted read-only on this host, so nothing in it can "
                                 "be fixed: remount it read-write (find the mount point with findmnt, "
                                 "then mount -o remount,rw MOUNTPOINT) and run guestprep again."))
            commands.append("findmnt -T " + ctx.root.display(readonly[0]))
        else:
            fails.append(self.finding(Status.FAIL, "mounted-readonly", Message(
                "{paths} is on a filesystem mounted read-only" if one else
                "{paths} are on a filesystem mounted read-only", paths=where)))
            hints.append(Message("ECS cannot write {path} on a read-only filesystem. Remount it read-write "
                                 "(mount -o remount,rw /) and make sure /etc/fstab does not mount it "
                                 "with `ro`; guestprep does not change mounts itself.", path=SHADOW))
            commands.append("mount -o remount,rw /")

    def _fstab(self, ctx, files, fails, warns, infos, hints, commands, paths):
        if files.fstab_problem:
            warns.append(self.finding(Status.WARN, "fstab-unreadable", Message(
                "cannot read {path} to see how / is mounted: {reason}", path=FSTAB, reason=files.fstab_problem),
                FSTAB))
            paths.append(FSTAB)
        entry = files.fstab_entry
        if entry is None:
            return
        fails.append(self.finding(Status.FAIL, "fstab-readonly", Message(
            "{path} mounts {mountpoint} read-only (line {line}: `ro`), so ECS cannot write {shadow}",
            path=FSTAB, mountpoint=entry.mountpoint, line=entry.lineno, shadow=SHADOW), FSTAB, entry.lineno))
        paths.append(FSTAB)
        hints.append(Message("Edit {path}: in the options of the {mountpoint} entry (line {line}) replace `ro` "
                             "with `rw` (or `defaults`); systemd remounts {mountpoint} with these options at "
                             "every boot. guestprep does not edit this line itself.",
                             path=ctx.root.display(FSTAB), mountpoint=entry.mountpoint, line=entry.lineno))
