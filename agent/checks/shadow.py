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
from agent.core.model import Check, Status
from agent.parsers import fstab
from agent.core.rootfs import FS_APPEND_FL, FS_IMMUTABLE_FL, RootError

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
    words, letters = [], ""
    if flags & FS_IMMUTABLE_FL:
        words.append("immutable")
        letters += "i"
    if flags & FS_APPEND_FL:
        words.append("append-only")
        letters += "a"
    return "{} (+{})".format(" and ".join(words), letters)


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


class Shadow(Check):
    id = "shadow"
    title = "/etc/shadow writable by ECS"
    item = "shadow"
    repair_item = "shadow"

    def run(self, ctx):
        root = ctx.root
        fails, warns, infos, hints, commands, paths = [], [], [], [], [], []
        present, broken = [], []
        for path in FILES:
            if root.isfile(path):
                present.append(path)
                continue
            if root.isdir(path):
                problem = "is a directory, not a file"
            elif root.lexists(path):
                problem = "is a dangling symlink" if root.islink(path) else "is not a regular file"
            elif path in REQUIRED:
                problem = "does not exist"
            else:
                continue   # no gshadow: nothing for ECS to write there
            fails.append("{} {}".format(path, problem))
            broken.append(path)
        paths.extend(broken)
        if SHADOW in broken:
            hints.append("ECS has nowhere to set the root password without a regular file {}: "
                         "create it from /etc/passwd with pwconv.".format(SHADOW))
            if root.isfile("/etc/passwd") and not root.lexists(SHADOW):
                commands.append(" ".join(ctx.runner.command_line(("pwconv",))))
        others = [p for p in broken if p != SHADOW]
        if others:
            hints.append("Restore {} from a backup or the distribution's package (grpconv "
                         "recreates /etc/gshadow) before capturing the image.".format(", ".join(others)))

        readonly = readonly_files(root, present)
        where = "{} {}".format(", ".join(readonly), "is" if len(readonly) == 1 else "are")
        locked, unsupported = [], []
        for path in present:
            try:
                flags = root.get_flags(path)
            except RootError as e:
                warns.append("cannot read the attributes of {}: {}".format(path, e.reason))
                paths.append(path)
                continue
            if flags is None:
                unsupported.append(path)
            elif flags & LOCKING_FLAGS:
                locked.append((path, flags))
        if locked:
            fails.extend("{} is {}".format(path, describe_flags(flags)) for path, flags in locked)
            paths.extend(path for path, _flags in locked)
            hints.append("ECS rewrites the account files on first boot to set the root password "
                         "and keys; the kernel refuses that while the immutable or append-only "
                         "attribute is set, even for root. Clear it (guestprep fix --items shadow "
                         "does this reversibly{}). If a hardening tool set it, keep it from "
                         "setting it again before the image is captured.".format(
                             ", once the filesystem is writable" if readonly else ""))
            commands.append("chattr -i -a " + " ".join(root.display(p) for p, _f in locked))
        if unsupported:
            infos.append("inode attributes not supported here for {} (the filesystem has none, "
                         "so none can be set)".format(", ".join(unsupported)))

        if readonly:
            paths.extend(p for p in readonly if p not in paths)
            if ctx.offline:
                # How the host mounted the image, not how ECS will: that is /etc/fstab's job.
                warns.append("{} on a filesystem mounted read-only here".format(where))
                hints.append("The image is mounted read-only on this host, so nothing in it can "
                             "be fixed: remount it read-write (find the mount point with findmnt, "
                             "then mount -o remount,rw MOUNTPOINT) and run guestprep again.")
                commands.append("findmnt -T " + root.display(readonly[0]))
            else:
                fails.append("{} on a filesystem mounted read-only".format(where))
                hints.append("ECS cannot write {} on a read-only filesystem. Remount it read-write "
                             "(mount -o remount,rw /) and make sure /etc/fstab does not mount it "
                             "with `ro`; guestprep does not change mounts itself.".format(SHADOW))
                commands.append("mount -o remount,rw /")

        try:
            text = root.read_config_or_none(FSTAB)
        except RootError as e:
            text = None
            warns.append("cannot read {} to see how / is mounted: {}".format(FSTAB, e.reason))
            paths.append(FSTAB)
        entry = fstab_readonly_entry(text) if text is not None else None
        if entry is not None:
            fails.append("{} mounts {} read-only (line {}: `ro`), so ECS cannot write {}".format(
                FSTAB, entry.mountpoint, entry.lineno, SHADOW))
            paths.append(FSTAB)
            hints.append("Edit {}: in the options of the {} entry (line {}) replace `ro` with "
                         "`rw` (or `defaults`); systemd remounts {} with these options at every "
                         "boot. guestprep does not edit this line itself.".format(
                             root.display(FSTAB), entry.mountpoint, entry.lineno, entry.mountpoint))

        data = {"locked": dict(locked), "readonly": bool(readonly), "fstab_ro": entry is not None}
        if fails or warns:
            status = Status.FAIL if fails else Status.WARN
            summary = "; ".join(fails + warns)
            if infos:
                summary += " ({})".format("; ".join(infos))
            hint = " ".join(hints) or "Check the files named above."
            return self.result(status, summary, hint, commands=commands, paths=paths, data=data)
        checked = ", ".join(present)
        if infos:
            return self.result(Status.INFO, "{} writable; {}".format(checked, "; ".join(infos)),
                               paths=present, data=data)
        return self.passed("{} writable: no immutable or append-only attribute, not mounted "
                           "read-only".format(checked), paths=present, data=data)
