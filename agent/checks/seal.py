"""seal: what an image must not carry when it is shared or published (seed 004).

Seed 004's security confirmation for community images asks that the image hold no
personal or sensitive data: no account with an empty or weak password, no key of the
builder in root's authorized_keys, no shell history, no SSH host keys (every instance
made from the image would present the same ones), no machine-id (systemd-networkd derives
the DHCP client id from it, so clones share one), no cloud-init state of the build VM
(cloud-init would treat the first boot as a reboot of the old instance), and no logs.

It also matters for a private image cloned into many instances (host keys, machine-id),
so it is a warning, not a failure; an account without a password is a failure: anyone
at the console of every instance logs in.

The fix ("seal", applied only when named, never by --items all) removes or empties what
it can restore: history files, authorized_keys, host keys (only when something in the
image makes new ones at boot), machine-id, cloud-init's state, rotated logs; it empties
current logs and locks passwordless accounts. Its backups are secrets too: they stay in
the journal (0600 in 0700) until `guestprep clean --yes`, which must run before capture,
and this check warns while guestprep's own backups are in the image.

Only names, paths, counts and sizes leave this module: never a hash, a key or a line of
history.
"""
import shlex

from agent.checks.root_account import PASSWD, SHADOW, WEAK, passwd_entries, read_shadow
from agent.model import Check, Status
from agent.rootfs import RootError

HOME_DIRS = ("/root", "/home")
HISTORY_FILES = (".bash_history", ".zsh_history", ".history", ".sh_history", ".ash_history",
                 ".python_history", ".mysql_history", ".psql_history", ".sqlite_history",
                 ".lesshst", ".viminfo", ".wget-hsts", ".local/share/fish/fish_history")
AUTHORIZED_KEYS = ("/root/.ssh/authorized_keys", "/root/.ssh/authorized_keys2")
SSH_DIR = "/etc/ssh"
MACHINE_ID = "/etc/machine-id"
DBUS_MACHINE_ID = "/var/lib/dbus/machine-id"
CLOUD_DIR = "/var/lib/cloud"
CLOUD_KEEP = ("seed", "scripts")      # the user's own seed data and scripts stay
LOG_DIR = "/var/log"
LOG_SKIP = ("journal",)               # journald's binary files: journalctl --vacuum-* (hint)
ROTATED = (".gz", ".xz", ".bz2", ".zst", ".old")
MAX_LOG_BYTES = 64 * 1024 * 1024      # larger logs are left to the hint (their backups would fill /)
MAX_FILES = 5000                      # a bound on the walk of a hostile image
STATE_DIR = "/var/lib/guestprep"
# What makes new SSH host keys at boot when they are missing.
KEYGEN_UNITS = ("sshd-keygen@.service", "sshd-keygen.service", "sshd-gen-keys-start.service")
KEYGEN_BINARIES = ("/usr/sbin/sshd-gen-keys-start",)
UNIT_DIRS = ("/usr/lib/systemd/system", "/lib/systemd/system", "/etc/systemd/system")
LOGIN_SHELL_NOT = ("nologin", "false", "sync", "shutdown", "halt")


def walk_files(root, top, skip=(), limit=MAX_FILES):
    """Guest paths of the regular files and symlinks below `top` (symlinked directories are
    not followed), at most `limit` of them; and whether the walk stopped at the limit."""
    found, stack = [], [top]
    while stack:
        directory = stack.pop()
        for name in sorted(root.listdir(directory)):
            path = directory.rstrip("/") + "/" + name
            if directory == top and name in skip:
                continue
            if root.islink(path) or root.isfile(path):
                found.append(path)
                if len(found) >= limit:
                    return found, True
            elif root.isdir(path):
                stack.append(path)
    return found, False


def _size(root, path):
    try:
        return root.lstat(path).st_size
    except (OSError, RootError):
        return 0


def _homes(root, accounts):
    homes = []
    for entry in accounts:
        if entry.home.startswith("/") and entry.home != "/" and entry.home not in homes and root.isdir(entry.home):
            homes.append(entry.home)
    for base in HOME_DIRS:
        if base == "/root":
            candidates = [base] if root.isdir(base) else []
        else:
            candidates = [base + "/" + n for n in root.listdir(base) if root.isdir(base + "/" + n)]
        homes.extend(h for h in candidates if h not in homes)
    return homes


def history_files(root, accounts):
    return [home + "/" + name for home in _homes(root, accounts) for name in HISTORY_FILES
            if root.isfile(home + "/" + name) and not root.islink(home + "/" + name)]


def host_keys(root):
    return [p for p in root.glob(SSH_DIR + "/ssh_host_*key*") if root.isfile(p) and not root.islink(p)]


def key_regenerator(ctx):
    """What makes new host keys at boot ('' when nothing in the image does)."""
    root = ctx.root
    for directory in UNIT_DIRS:
        for unit in KEYGEN_UNITS:
            if root.exists(directory + "/" + unit):
                return unit
    for path in KEYGEN_BINARIES:
        if root.exists(path):
            return path
    if (ctx.packages.known and "cloud-init" in ctx.packages
            and not root.exists("/etc/cloud/cloud-init.disabled")):
        return "cloud-init (ssh module, ssh_deletekeys)"
    return ""


def cloud_state(root):
    if not root.isdir(CLOUD_DIR):
        return []
    files, _more = walk_files(root, CLOUD_DIR, skip=CLOUD_KEEP)
    return files


def log_files(root):
    """(rotated logs to remove, current logs to empty, logs too large to handle, truncated walk)."""
    if not root.isdir(LOG_DIR):
        return [], [], [], False
    files, more = walk_files(root, LOG_DIR, skip=LOG_SKIP)
    rotated, current, large = [], [], []
    for path in files:
        if root.islink(path):
            continue
        name = path.rsplit("/", 1)[1]
        size = _size(root, path)
        if name.endswith(ROTATED) or _numbered(name):
            rotated.append(path)
        elif size > MAX_LOG_BYTES:
            large.append(path)
        elif size > 0:
            current.append(path)
    return rotated, current, large, more


def _numbered(name):
    """syslog.1, messages-20240101, auth.log.2: a rotated log."""
    base, _dot, last = name.rpartition(".")
    if base and last.isdigit():
        return True
    stem, _dash, date = name.rpartition("-")
    return bool(stem) and len(date) == 8 and date.isdigit()


def _can_log_in(entry):
    return bool(entry.shell) and entry.shell.rsplit("/", 1)[-1] not in LOGIN_SHELL_NOT


class Seal(Check):
    id = "seal"
    title = "nothing personal or shared in the image (keys, history, machine-id, logs)"
    item = "seal"
    repair_item = "seal"

    def run(self, ctx):
        root = ctx.root
        findings = []   # (status, text)
        data = {}
        accounts = passwd_entries(root.read_text_or_none(PASSWD) or "")
        try:
            shadow_text = root.read_text_or_none(SHADOW)
        except RootError as e:
            shadow_text = None
            findings.append((Status.WARN, "{} cannot be read ({}): passwords not checked".format(SHADOW, e.reason)))
        if shadow_text is not None:
            states = read_shadow(shadow_text)
            logins = set(e.name for e in accounts if _can_log_in(e))
            known = set(e.name for e in accounts if e.uid is not None)
            empty = sorted(n for n, s in states.items() if s == "empty" and (n in logins or n not in known))
            weak = sorted(n for n, s in states.items() if s in WEAK)
            if empty:
                findings.append((Status.FAIL, "accounts without a password: " + ", ".join(empty)))
            if weak:
                findings.append((Status.WARN, "accounts with weak password hashes: " + ", ".join(weak)))
            data["empty_password"] = empty

        keys = [p for p in AUTHORIZED_KEYS if root.isfile(p) and _size(root, p) > 0]
        if keys:
            findings.append((Status.WARN, "root's authorized keys: " + ", ".join(keys)))
        data["authorized_keys"] = keys

        history = history_files(root, accounts)
        if history:
            findings.append((Status.WARN, "{} shell history file(s): {}".format(len(history), ", ".join(history[:5]) + (
                ", ..." if len(history) > 5 else ""))))
        data["history"] = history

        hostkeys = host_keys(root)
        regen = key_regenerator(ctx)
        if hostkeys:
            findings.append((Status.WARN, "{} SSH host key file(s) in {} (every instance would share them{})".format(
                len(hostkeys), SSH_DIR, "" if regen else "; nothing in the image makes new ones at boot")))
        data["host_keys"] = hostkeys
        data["key_regenerator"] = regen

        machine_id = root.isfile(MACHINE_ID) and _size(root, MACHINE_ID) > 0
        dbus_id = root.isfile(DBUS_MACHINE_ID) and not root.islink(DBUS_MACHINE_ID)
        if machine_id:
            findings.append((Status.WARN, MACHINE_ID + " is set (clones would share it)"))
        data["machine_id"] = machine_id
        data["dbus_machine_id"] = dbus_id

        cloud = cloud_state(root)
        if cloud:
            findings.append((Status.WARN, "cloud-init state of this machine in {} ({} file(s))".format(CLOUD_DIR, len(cloud))))
        data["cloud_state"] = cloud

        rotated, current, large, more = log_files(root)
        if rotated or current or large:
            total = sum(_size(root, p) for p in rotated + current + large)
            findings.append((Status.WARN, "{} log file(s) in {} ({:.1f} MiB){}".format(
                len(rotated + current + large), LOG_DIR, total / 1048576.0, ", more not counted" if more else "")))
        data["logs_rotated"], data["logs_current"], data["logs_large"] = rotated, current, large
        journal = root.isdir(LOG_DIR + "/journal") and bool(root.listdir(LOG_DIR + "/journal"))

        runs = root.listdir(STATE_DIR + "/runs") if root.isdir(STATE_DIR + "/runs") else []
        if runs:
            # INFO, not WARN: right after a fix they are expected (rollback needs them), and
            # seal's own fix leaves some; the command below removes them before capture.
            findings.append((Status.INFO, "guestprep's own backups of {} run(s) in {} (copies of the files "
                             "it changed): remove them before capture".format(len(runs), STATE_DIR)))

        if not findings:
            return self.passed("no passwordless accounts, authorized keys, history, host keys, machine-id, "
                               "cloud-init state or logs in the image")
        hint = ["Before an image is shared or published (seed 004), and for any image cloned into many "
                "instances, remove what belongs to this machine."]
        if data.get("empty_password"):
            hint.append("Lock or set a password for the passwordless accounts.")
        if hostkeys and not regen:
            hint.append("Nothing in the image makes new SSH host keys at boot (no cloud-init, no "
                        "sshd-keygen unit): install cloud-init before removing them, or sshd will not start.")
        fixable = (data.get("empty_password") or keys or history or (hostkeys and regen) or machine_id
                   or dbus_id or cloud or rotated or current)
        if fixable:
            hint.append("`guestprep fix --items seal` does this (only when named; never with --items all); "
                        "rollback restores it until `guestprep clean --yes`, which you then must run before "
                        "capture so the backups do not ship.")
        if history and ctx.live is not None:
            # bash writes the session's history at logout, after the fix removed the file.
            hint.append("Your shell writes its history again when you log out: run `unset HISTFILE` "
                        "in the session that seals, or `history -c` before logging out.")
        if keys:
            hint.append("Without root's authorized keys only the key pair or password ECS sets at instance "
                        "creation lets you in.")
        commands = []
        if runs:
            commands.append("guestprep clean --yes" + ("" if root.is_host else " --root " + shlex.quote(root.path)))
        if journal:  # journald's files: its own tool on the running system, rm on an image
            if root.is_host:
                commands.append("journalctl --rotate && journalctl --vacuum-time=1s")
            else:
                commands.append("rm -rf {}/*".format(shlex.quote(root.display(LOG_DIR + "/journal"))))
        for path in large:
            commands.append("truncate -s 0 " + shlex.quote(root.display(path)))
        status = Status.worst(s for s, _t in findings)
        if status == Status.INFO:
            hint = ["guestprep's backups are in the image: `guestprep clean --yes` removes them (rollback is "
                    "then gone); run it before capture."]
        return self.result(status, "; ".join(t for _s, t in findings), " ".join(hint), commands=commands,
                           paths=keys + history[:20] + hostkeys + ([MACHINE_ID] if machine_id else []), data=data)
