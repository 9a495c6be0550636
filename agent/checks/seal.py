"""seal: what an image must not carry when it is shared or published (seed 004).

Seed 004's security confirmation for community images asks that the image hold no
personal or sensitive data: no account with an empty or weak password, no key of the
builder in root's authorized_keys, no shell history, no SSH host keys (every instance
made from the image would present the same ones), no machine-id (systemd-networkd derives
the DHCP client id from it, so clones share one), no cloud-init state of the build VM
(cloud-init would treat the first boot as a reboot of the old instance), and no logs.
The other operations follow virt-sysprep's defaults (`virt-sysprep --list-operations`,
the tool people use before publishing a template): DHCP leases (a new instance first asks
for the build VM's address), the udev rule that pins eth0 to the build VM's MAC, the
passwd-/shadow- backups (old hashes), /tmp and /var/tmp, package caches (size, stale
repositories), utmp/wtmp/btmp/lastlog, mail and cron spools (virt-sysprep's cron-spool is
one of its defaults too), the random seed and the registration identities of RHSM,
SUSEConnect, Ubuntu Pro and Landscape (virt-sysprep's rh-subscription-manager is a default:
every clone would present the build VM's entitlement).

The check is a list of small named operations (OPERATIONS): `--items seal` selects them
all, `--items seal:history,ssh-hostkeys` some, `seal:defaults,-cron-spool` all but one,
as virt-sysprep's `--operations` does; `guestprep list` shows them with a line each.

It also matters for a private image cloned into many instances (host keys, machine-id),
so it is a warning, not a failure; an account without a password is a failure: anyone
at the console of every instance logs in.

SSH host keys are removed only when something will make new ones at the next boot as that
boot will see it (a masked or disabled cloud-init, cloud-init=disabled on the kernel
command line, a datasource_list without ECS's AliYun, cloud_init_modules without ssh, an
empty ssh_genkeytypes all mean cloud-init will not): Debian's ssh.service makes none (the
package's postinst does), so with cloud-init off the keys stay and the finding says why;
otherwise sshd never starts again on any instance (issue 16).

Backups are secrets too: they stay in the journal (0600 in 0700) until `guestprep clean
--yes`, which must run before capture, and this check reports guestprep's own backups.
Directories that can be large (package caches, /tmp) are backed up only up to
MAX_OP_BYTES each; the rest is left to the hint's commands, and the finding gives sizes.

Only names, paths, counts and sizes leave this module: never a hash, a key or a line of
history.
"""
import re
import shlex

from agent.core.model import Check, Message, Status, joined
from agent.core.rootfs import MAX_READ, RootError
from agent.facts import boot, services
from agent.facts.accounts import PASSWD, SHADOW, WEAK, passwd_entries, read_shadow
from agent.facts.cloudinit import (
    CLOUD_CFG,
    DISABLED_MARKER,
    cloud_config,
    datasource_names,
    installed_version,
    masked_units,
    module_names,
)
from agent.parsers import LazyPattern

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
# Larger files are left to the hint's commands: the journal backs up a file only up to
# rootfs.MAX_READ, and their backups would fill /.
MAX_LOG_BYTES = MAX_READ
MAX_OP_BYTES = 256 * 1024 * 1024      # backups one operation may take (package caches, /tmp)
MAX_FILES = 5000                      # a bound on the walk of a hostile image
# Said after a count of files when a walk stopped at MAX_FILES.
MORE = Message(", more not counted")
STATE_DIR = "/var/lib/guestprep"
UTMP_FILES = ("/var/log/wtmp", "/var/log/btmp", "/var/log/lastlog", "/var/log/faillog", "/var/run/utmp")
# DHCP client state. Server leases (dhcpd*.leases) are a server's data; networkd keeps its
# leases under /run only, never on disk.
DHCP_DIRS = ("/var/lib/dhcp", "/var/lib/dhclient", "/var/lib/dhcpcd", "/var/lib/dhcpcd5")
NM_DIR = "/var/lib/NetworkManager"
NM_STATE = ("timestamps", "seen-bssids")
WICKED_DIR = "/var/lib/wicked"
# 75-persistent-net-generator.rules in /etc is the empty override that turns the generator
# off: removing it would bring the MAC pinning back, so only the generated rules go.
UDEV_NET = ("/etc/udev/rules.d/70-persistent-net.rules",)
PASSWD_BACKUPS = ("/etc/passwd-", "/etc/shadow-", "/etc/group-", "/etc/gshadow-", "/etc/subuid-", "/etc/subgid-")
TMP_DIRS = ("/tmp", "/var/tmp")
TMP_LIVE_SKIP = (".X11-unix", ".ICE-unix", ".font-unix", ".XIM-unix", ".Test-unix")
PACKAGE_CACHES = (("/var/cache/apt", ("archives/lock",), "apt-get clean"),
                  ("/var/lib/apt/lists", ("lock",), "rm -rf /var/lib/apt/lists/*"),
                  ("/var/cache/dnf", (), "dnf clean all"),
                  ("/var/cache/yum", (), "yum clean all"),
                  ("/var/cache/zypp", (), "zypper clean --all"))
MAIL_DIRS = ("/var/mail", "/var/spool/mail")
CRON_DIRS = ("/var/spool/cron", "/var/spool/at")
RANDOM_SEEDS = ("/var/lib/systemd/random-seed", "/var/lib/urandom/random-seed", "/var/lib/random-seed")
SUBSCRIPTION_DIRS = (("/etc/pki/consumer", Message("RHSM consumer identity")),
                     ("/etc/pki/entitlement", Message("RHSM entitlement certificates")),
                     ("/var/lib/ubuntu-advantage/private", Message("Ubuntu Pro machine token")),
                     ("/var/lib/landscape/client", Message("Landscape client identity")))
SUBSCRIPTION_FILES = (("/etc/zypp/credentials.d/SCCcredentials", Message("SUSEConnect credentials")),
                      ("/etc/SUSEConnect", Message("SUSEConnect configuration")),
                      ("/etc/sysconfig/rhn/systemid", Message("RHN system id")))
LANDSCAPE_CONF = "/etc/landscape/client.conf"
# What makes new SSH host keys at boot when they are missing.
SSH_UNITS = ("ssh.service", "sshd.service")
KEYGEN_UNITS = ("sshd-keygen@.service", "sshd-keygen.service")
KEYGEN_TEMPLATES = ("sshd-keygen@rsa.service", "sshd-keygen@ecdsa.service", "sshd-keygen@ed25519.service")
KEYGEN_EXEC = LazyPattern(r"^\s*ExecStart(Pre)?\s*=.*(ssh-keygen\s+-A|sshd-gen-keys-start|sshd-keygen)", re.M)
CLOUD_INIT_MAIN = ("cloud-init.service", "cloud-init-network.service")   # runs cc_ssh (renamed in 24.3)
ECS_DATASOURCES = ("AliYun",)
# cloud-init's systemd generator runs ds-identify, which enables cloud-init for a datasource_list
# of one datasource (with or without None after it) without looking, and otherwise only when
# one of them is found: on ECS, a list of several without AliYun leaves cloud-init off even
# with None at its end. Without ds-identify cloud-init runs and falls back to None.
DS_IDENTIFY = ("/usr/lib/cloud-init/ds-identify", "/usr/libexec/cloud-init/ds-identify")
INIT_SCRIPTS = ("/etc/init.d/sshd", "/etc/rc.d/init.d/sshd", "/etc/init.d/ssh")
LOGIN_SHELL_NOT = ("nologin", "false", "sync", "shutdown", "halt")


def walk_files(root, top, skip=(), limit=None):
    """Guest paths of the regular files and symlinks below `top` (symlinked directories are
    not followed), at most `limit` (MAX_FILES) of them; and whether the walk stopped there."""
    found, more = _walk(root, top, skip, MAX_FILES if limit is None else limit)
    return [path for path, _kind, _size in found], more


def _walk(root, top, skip, limit):
    """walk_files' [(path, 'file' or 'link', size)], more. Sizes are asked of the files kept
    only: a hostile image's directory of a million files costs its listing, not a million stats."""
    found, stack, more = [], [top], False
    while stack and not more:
        directory = stack.pop()
        prefix = directory.rstrip("/") + "/"
        kept = []
        for name, kind in root.entries(directory):
            if directory == top and name in skip:
                continue
            if kind in ("link", "file"):
                kept.append((name, kind))
                if len(found) + len(kept) >= limit:
                    more = True
                    break
            elif kind == "dir":
                stack.append(prefix + name)
        sizes = root.entry_sizes(directory, [name for name, _kind in kept]) if kept else {}
        found.extend((prefix + name, kind, sizes[name]) for name, kind in kept)
    return found, more


def _size(root, path):
    try:
        return root.lstat(path).st_size
    except (OSError, RootError):
        return 0


def _mib(size):
    return "{:.1f} MiB".format(size / 1048576.0)


def _files_below(root, top, skip=()):
    """Files below a real (not symlinked) directory; [] when there is none."""
    if root.islink(top) or not root.isdir(top):
        return [], False
    return walk_files(root, top, skip=skip)


def _names(paths, most=5):
    return ", ".join(paths[:most]) + (", ..." if len(paths) > most else "")


def _plain_files(root, paths):
    return [p for p in paths if root.isfile(p) and not root.islink(p)]


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


# -- what makes new host keys at the next boot ---------------------------------------

def boot_cmdline(ctx):
    """Words of the kernel command lines the next boot uses, as far as the image says (every
    boot loader file, agent.facts.boot.kernel_cmdlines), and the running one."""
    return [word for source in boot.kernel_cmdlines(ctx)[0] for word in source.args]


def cloud_init_keygen(ctx):
    """Why cloud-init will not make host keys at the next boot: [] when it will."""
    root = ctx.root
    try:
        installed = installed_version(ctx)[0]
    except RootError:
        installed = False
    if not installed:
        return [Message("cloud-init is not installed")]
    why = []
    if root.exists(DISABLED_MARKER):
        why.append(Message("cloud-init is disabled by {path}", path=DISABLED_MARKER))
    masked = masked_units(root)
    if masked:
        why.append(Message("cloud-init units are masked ({units})",
                           units=", ".join(m.rsplit("/", 1)[1] for m in masked)))
    elif not any(services.unit_enabled(root, u) for u in CLOUD_INIT_MAIN):
        why.append(Message("cloud-init.service is not enabled"))
    if "cloud-init=disabled" in boot_cmdline(ctx):
        why.append(Message("cloud-init=disabled is on the kernel command line"))
    config = cloud_config(ctx)
    if config.problems:
        why.append(Message("cloud-init's configuration cannot be read ({problems})", problems=config.problem_text()))
        return why
    modules = config.get("cloud_init_modules")
    if modules is not None and "ssh" not in module_names(modules):
        why.append(Message("cloud_init_modules in {path} has no ssh module",
                           path=config.origin.get("cloud_init_modules", CLOUD_CFG)))
    if config.get("ssh_genkeytypes", None) == []:
        why.append(Message("ssh_genkeytypes is empty in {path}", path=config.origin.get("ssh_genkeytypes", CLOUD_CFG)))
    sources = config.get("datasource_list")
    if sources is not None:
        names = datasource_names(sources)
        others = [n for n in names if n != "None"]
        falls_back = "None" in names and (len(others) <= 1 or not any(root.exists(p) for p in DS_IDENTIFY))
        if not falls_back and not any(n in ECS_DATASOURCES for n in names):
            why.append(Message("datasource_list [{names}] has no AliYun datasource, so cloud-init stays off on ECS",
                               names=", ".join(names)))
    return why


def key_regenerator(ctx):
    """(what makes new host keys at the next boot, or '' and why nothing does)."""
    root = ctx.root
    why = []
    for unit in SSH_UNITS:
        path = services.unit_file(root, unit)
        try:
            text = root.read_text_or_none(path) if path else None
        except RootError:
            text = None
        if text and KEYGEN_EXEC.search(text):
            return Message("{unit} itself (ExecStartPre)", unit=unit), ""
    for unit in KEYGEN_UNITS:
        templates = KEYGEN_TEMPLATES if unit.endswith("@.service") else ()
        if services.masked(root, unit) or any(services.masked(root, t) for t in templates):
            why.append(Message("{unit} is masked", unit=unit))
        elif services.unit_file(root, unit):
            return unit, ""
    has_systemd = any(root.exists(p) for p in ("/usr/lib/systemd/systemd", "/lib/systemd/systemd"))
    if not has_systemd:
        for script in INIT_SCRIPTS:
            try:
                text = root.read_text_or_none(script) or ""
            except RootError:
                text = ""
            if "ssh-keygen" in text:
                return script, ""
    cloud = cloud_init_keygen(ctx)
    if not cloud:
        return Message("cloud-init (its ssh module, at the first boot of a new instance)"), ""
    if not why:
        why.append(Message("no sshd-keygen unit and sshd's unit makes none"))
    return "", joined(why + cloud, "; ")


# -- operations --------------------------------------------------------------------------

class Env(object):
    """What several operations read: the accounts, once."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.root = ctx.root
        self.accounts = passwd_entries(ctx.root.read_text_or_none(PASSWD) or "")


def found(text, status=Status.WARN, remove=(), empty=(), hint="", commands=(), **data):
    """One operation's finding: status, text, the files the fix removes or empties, and
    what else the fix or the report needs."""
    data.update({"status": status, "text": text, "remove": list(remove), "empty": list(empty),
                 "hint": hint, "commands": list(commands)})
    return data


def _can_log_in(entry):
    return bool(entry.shell) and entry.shell.rsplit("/", 1)[-1] not in LOGIN_SHELL_NOT


def find_accounts(env):
    root = env.root
    try:
        shadow_text = root.read_text_or_none(SHADOW)
    except RootError as e:
        return found(Message("{path} cannot be read ({reason}): passwords not checked", path=SHADOW, reason=e.reason))
    if shadow_text is None:
        return None
    states = read_shadow(shadow_text)
    logins = set(e.name for e in env.accounts if _can_log_in(e))
    known = set(e.name for e in env.accounts if e.uid is not None)
    empty = sorted(n for n, s in states.items() if s == "empty" and (n in logins or n not in known))
    weak = sorted(n for n, s in states.items() if s in WEAK)
    texts = []
    if empty:
        texts.append(Message("accounts without a password: {names}", names=", ".join(empty)))
    if weak:
        texts.append(Message("accounts with weak password hashes: {names}", names=", ".join(weak)))
    if not texts:
        return None
    return found(joined(texts, "; "), Status.FAIL if empty else Status.WARN, lock=empty,
                 hint=Message("Lock or set a password for the passwordless accounts.") if empty else
                 Message("Set new passwords for the accounts with weak hashes (passwd NAME)."))


def find_authorized_keys(env):
    keys = [p for p in AUTHORIZED_KEYS if env.root.isfile(p) and _size(env.root, p) > 0]
    if not keys:
        return None
    return found(Message("root's authorized keys: {paths}", paths=", ".join(keys)), remove=keys,
                 hint=Message("Without root's authorized keys only the key pair or password ECS sets at instance "
                              "creation lets you in."))


def find_history(env):
    history = history_files(env.root, env.accounts)
    if not history:
        return None
    hint = ""
    if env.ctx.live is not None:
        # bash writes the session's history at logout, after the fix removed the file.
        hint = Message("Your shell writes its history again when you log out: run `unset HISTFILE` "
                       "in the session that seals, or `history -c` before logging out.")
    return found(Message("{count} shell history file(s): {names}", count=len(history), names=_names(history)),
                 remove=history, hint=hint)


def find_host_keys(env):
    keys = host_keys(env.root)
    if not keys:
        return None
    regen, why_not = key_regenerator(env.ctx)
    if regen:
        return found(Message("{count} SSH host key file(s) in {path} (every instance would share them; new ones are "
                             "made at boot by {regenerator})", count=len(keys), path=SSH_DIR, regenerator=regen),
                     remove=keys, regenerator=regen, kept=[])
    return found(Message("{count} SSH host key file(s) in {path} kept: nothing makes new ones at the next boot "
                         "({why})", count=len(keys), path=SSH_DIR, why=why_not), regenerator="", kept=keys,
                 hint=Message("Nothing in the image makes new SSH host keys at boot ({why}): make cloud-init run at "
                              "boot, or remove the keys yourself just before capture and run `ssh-keygen -A` from "
                              "a unit of your own, or sshd will not start on any instance.", why=why_not))


def find_machine_id(env):
    root = env.root
    machine_id = root.isfile(MACHINE_ID) and not root.islink(MACHINE_ID) and _size(root, MACHINE_ID) > 0
    dbus_id = root.isfile(DBUS_MACHINE_ID) and not root.islink(DBUS_MACHINE_ID)
    if not machine_id and not dbus_id:
        return None
    if machine_id and dbus_id:
        text = Message("{path} is set and {other} is set (clones would share it)", path=MACHINE_ID,
                       other=DBUS_MACHINE_ID)
    else:
        text = Message("{path} is set (clones would share it)", path=MACHINE_ID if machine_id else DBUS_MACHINE_ID)
    return found(text, empty=[MACHINE_ID] if machine_id else [],
                 remove=[DBUS_MACHINE_ID] if dbus_id else [])


def find_cloud_state(env):
    files, more = _files_below(env.root, CLOUD_DIR, skip=CLOUD_KEEP)
    if not files:
        return None
    return found(Message("cloud-init state of this machine in {path} ({count} file(s){more})", path=CLOUD_DIR,
                         count=len(files), more=MORE if more else ""), remove=files)


def _numbered(name):
    """syslog.1, messages-20240101, auth.log.2: a rotated log."""
    base, _dot, last = name.rpartition(".")
    if base and last.isdigit():
        return True
    stem, _dash, date = name.rpartition("-")
    return bool(stem) and len(date) == 8 and date.isdigit()


def log_files(root):
    """(rotated logs to remove, current logs to empty, logs too large to handle, truncated walk,
    their total size)."""
    if not root.isdir(LOG_DIR):
        return [], [], [], False, 0
    files, more = _walk(root, LOG_DIR, LOG_SKIP, MAX_FILES)
    rotated, current, large, total = [], [], [], 0
    for path, kind, size in files:
        if kind == "link" or path in UTMP_FILES:
            continue
        name = path.rsplit("/", 1)[1]
        if name.endswith(ROTATED) or _numbered(name):
            rotated.append(path)
        elif size > MAX_LOG_BYTES:
            large.append(path)
        elif size > 0:
            current.append(path)
        else:
            continue
        total += size
    return rotated, current, large, more, total


def _truncate_commands(env, paths):
    return ["truncate -s 0 " + shlex.quote(env.root.display(p)) for p in paths]


def find_logs(env):
    root = env.root
    rotated, current, large, more, total = log_files(root)
    journal = root.isdir(LOG_DIR + "/journal") and bool(root.listdir(LOG_DIR + "/journal"))
    commands = []
    if journal:  # journald's files: its own tool on the running system, rm on an image
        if root.is_host:
            commands.append("journalctl --rotate && journalctl --vacuum-time=1s")
        else:
            commands.append("rm -rf {}/*".format(shlex.quote(root.display(LOG_DIR + "/journal"))))
    commands.extend(_truncate_commands(env, large))
    if not (rotated or current or large):
        return None
    return found(Message("{count} log file(s) in {path} ({size}){more}", count=len(rotated + current + large),
                         path=LOG_DIR, size=_mib(total), more=MORE if more else ""),
                 remove=rotated, empty=current, commands=commands, large=large)


def find_utmp(env):
    root = env.root
    files = [p for p in _plain_files(root, UTMP_FILES) if _size(root, p) > 0]
    if not files:
        return None
    large = [p for p in files if _size(root, p) > MAX_LOG_BYTES]   # lastlog is sparse and can be huge
    small = [p for p in files if p not in large]
    return found(Message("login records: {paths} ({size})", paths=", ".join(files),
                         size=_mib(sum(_size(root, p) for p in small))),
                 empty=small, commands=_truncate_commands(env, large))


def _bounded(env, paths, label, commands=(), more=False):
    """Files to remove up to MAX_OP_BYTES of backups; the rest is left to `commands`, and so
    is what a walk stopped at MAX_FILES did not list (`more`)."""
    root = env.root
    taken, left, size, left_size = [], [], 0, 0
    for path in paths:
        one = _size(root, path)
        if one > MAX_LOG_BYTES or size + one > MAX_OP_BYTES:
            left.append(path)
            left_size += one
        else:
            taken.append(path)
            size += one
    beyond = Message(" ({count} file(s), {size}, beyond what guestprep backs up: the commands remove them)",
                     count=len(left), size=_mib(left_size)) if left else ""
    text = Message("{label}: {count} file(s), {size}{more}{beyond}", label=label, count=len(paths),
                   size=_mib(size + left_size), beyond=beyond, more=MORE if more else "")
    sizes = dict((p, _size(root, p)) for p in taken)
    return found(text, remove=taken, commands=list(commands) if left or more else [], sizes=sizes)


def find_dhcp(env):
    root = env.root
    files = []
    for top in DHCP_DIRS:
        below, _more = _files_below(root, top)
        files.extend(p for p in below if not p.rsplit("/", 1)[1].startswith("dhcpd"))
    if root.isdir(NM_DIR) and not root.islink(NM_DIR):
        files.extend(p for p in _plain_files(root, [NM_DIR + "/" + n for n in sorted(root.listdir(NM_DIR))])
                     if p.endswith(".lease") or p.rsplit("/", 1)[1] in NM_STATE)
    if root.isdir(WICKED_DIR) and not root.islink(WICKED_DIR):
        files.extend(p for p in _plain_files(root, [WICKED_DIR + "/" + n for n in sorted(root.listdir(WICKED_DIR))])
                     if p.rsplit("/", 1)[1].startswith("lease-"))
    if not files:
        return None
    return found(Message("{count} DHCP lease or NetworkManager per-device state file(s): {names}", count=len(files),
                         names=_names(files)), remove=files)


def find_udev_net(env):
    files = _plain_files(env.root, UDEV_NET)
    if not files:
        return None
    return found(Message("udev rules that pin interface names to the build VM's MAC addresses: {paths}",
                         paths=", ".join(files)), remove=files)


def find_passwd_backups(env):
    files = _plain_files(env.root, PASSWD_BACKUPS)
    if not files:
        return None
    return found(Message("account database backups (old password hashes): {paths}", paths=", ".join(files)),
                 remove=files)


def find_tmp(env):
    root = env.root
    files, more = [], False
    for top in TMP_DIRS:
        skip = ()
        if env.ctx.live is not None:   # running programs' sockets and private directories
            skip = TMP_LIVE_SKIP + tuple(n for n in (root.listdir(top) if root.isdir(top) else [])
                                         if n.startswith("systemd-private-"))
        below, truncated = _files_below(root, top, skip=skip)
        files.extend(below)
        more = more or truncated
    if not files:
        return None
    return _bounded(env, files, Message("files in /tmp and /var/tmp"),
                    ["rm -rf {}/* {}/*".format(shlex.quote(root.display(TMP_DIRS[0])),
                                               shlex.quote(root.display(TMP_DIRS[1])))], more=more)


def find_package_cache(env):
    root = env.root
    files, commands, more = [], [], False
    for top, keep, command in PACKAGE_CACHES:
        below, truncated = _files_below(root, top)
        below = [p for p in below if p[len(top) + 1:] not in keep]
        if below:
            files.extend(below)
            more = more or truncated
            commands.append(env.ctx.in_guest(command) if not command.startswith("rm") else
                            "rm -rf {}/*".format(shlex.quote(root.display(top))))
    if not files:
        return None
    result = _bounded(env, files, Message("package manager caches"), commands, more=more)
    result["hint"] = Message("A package install on an instance then starts with a refresh (apt-get update, "
                             "dnf makecache).")
    return result


def _spool(env, tops):
    files = []
    for top in tops:
        below, _more = _files_below(env.root, top)
        files.extend(p for p in below if not env.root.islink(p) and p not in files)
    return files


def find_mail(env):
    files = [p for p in _spool(env, MAIL_DIRS) if _size(env.root, p) > 0]
    if not files:
        return None
    return found(Message("{count} mailbox(es): {names}", count=len(files), names=_names(files)), remove=files)


def find_cron(env):
    files = _spool(env, CRON_DIRS)
    if not files:
        return None
    return found(Message("{count} user cron or at job file(s): {names} (user data: keep them with "
                         "seal:defaults,-cron-spool)", count=len(files), names=_names(files)), remove=files)


def find_random_seed(env):
    files = _plain_files(env.root, RANDOM_SEEDS)
    if not files:
        return None
    return found(Message("random seed shared by every clone: {paths}", paths=", ".join(files)), remove=files)


def find_subscription(env):
    root = env.root
    files, kinds = [], []
    for top, kind in SUBSCRIPTION_DIRS:
        below, _more = _files_below(root, top)
        if below:
            files.extend(below)
            kinds.append(Message("{kind} ({count} file(s))", kind=kind, count=len(below)))
    for path, kind in SUBSCRIPTION_FILES:
        if root.isfile(path) and not root.islink(path):
            files.append(path)
            kinds.append(kind)
    hint = ""
    try:
        landscape = root.read_text_or_none(LANDSCAPE_CONF) or ""
    except RootError:
        landscape = ""
    if re.search(r"^\s*(account_name|registration_key)\s*=", landscape, re.M):
        hint = Message("{path} names a Landscape account: every instance registers to it at boot; remove those "
                       "lines if that is not wanted.", path=LANDSCAPE_CONF)
    if not files:
        return None
    return found(Message("registration identities of this machine: {kinds}", kinds=joined(kinds, ", ")),
                 remove=files, hint=hint)


class Operation(object):
    def __init__(self, name, description, find):
        self.name = name
        self.description = description
        self.find = find


# virt-sysprep's names where it has the operation. All are defaults, as in virt-sysprep.
OPERATIONS = (
    Operation("passwordless-accounts", "lock accounts that have no password (usermod -L)", find_accounts),
    Operation("authorized-keys", "remove root's authorized_keys", find_authorized_keys),
    Operation("history", "remove shell and tool history files in every home", find_history),
    Operation("ssh-hostkeys", "remove SSH host keys, only when something makes new ones at boot", find_host_keys),
    Operation("machine-id", "empty /etc/machine-id, remove D-Bus's copy", find_machine_id),
    Operation("cloud-init-state", "remove cloud-init's state in /var/lib/cloud (seed/, scripts/ kept)",
              find_cloud_state),
    Operation("logfiles", "remove rotated logs, empty current ones in /var/log", find_logs),
    Operation("utmp", "empty wtmp, btmp, lastlog, faillog and utmp", find_utmp),
    Operation("dhcp-client-state", "remove DHCP leases and NetworkManager's per-device state", find_dhcp),
    Operation("udev-persistent-net", "remove 70-persistent-net.rules (interface names pinned to MACs)",
              find_udev_net),
    Operation("passwd-backups", "remove /etc/passwd- shadow- group- gshadow- (old hashes)", find_passwd_backups),
    Operation("tmp-files", "remove the contents of /tmp and /var/tmp", find_tmp),
    Operation("package-manager-cache", "remove apt lists and archives, dnf/yum/zypper caches", find_package_cache),
    Operation("mail-spool", "remove local mailboxes in /var/mail and /var/spool/mail", find_mail),
    Operation("cron-spool", "remove users' crontabs and at jobs in /var/spool/cron and /var/spool/at", find_cron),
    Operation("random-seed", "remove the saved random seed (made again at shutdown)", find_random_seed),
    Operation("subscription", "remove RHSM, SUSEConnect, Ubuntu Pro and Landscape registration identities",
              find_subscription),
)
OPERATION_NAMES = tuple(o.name for o in OPERATIONS)


def parse_operations(words):
    """Operation names from the words after `seal:`, as virt-sysprep's --operations reads
    them: names, 'defaults' (all of them), '-name' (what is chosen so far, or the defaults,
    but that one). ValueError names an unknown one."""
    if not words:
        raise ValueError("seal: names no operation; valid: defaults, " + ", ".join(OPERATION_NAMES))
    chosen = []
    for word in words:
        drop = word.startswith("-")
        name = word[1:] if drop else word
        if name != "defaults" and name not in OPERATION_NAMES:
            raise ValueError("unknown seal operation: {}; valid: defaults, {}".format(
                name, ", ".join(OPERATION_NAMES)))
        names = list(OPERATION_NAMES) if name == "defaults" else [name]
        if drop:
            chosen = [n for n in (chosen or OPERATION_NAMES) if n not in names]
        else:
            chosen.extend(n for n in names if n not in chosen)
    return [n for n in OPERATION_NAMES if n in chosen]


def selected_operations(ctx):
    chosen = getattr(ctx.options, "selections", None) or {}
    names = chosen.get("seal")
    return [o for o in OPERATIONS if names is None or o.name in names]


class Seal(Check):
    id = "seal"
    title = "nothing personal or shared in the image (keys, history, machine-id, leases, caches, logs)"
    item = "seal"
    repair_item = "seal"
    operations = OPERATIONS
    operation_names = OPERATION_NAMES
    parse_operations = staticmethod(parse_operations)

    refs = ("004",)

    def run(self, ctx):
        env = Env(ctx)
        chosen = selected_operations(ctx)
        results = {}
        for op in chosen:
            one = op.find(env)
            if one is not None:
                results[op.name] = one
        runs = ctx.root.listdir(STATE_DIR + "/runs") if ctx.root.isdir(STATE_DIR + "/runs") else []
        findings = self._judge(results, runs)
        data = {"ops": results}
        if not findings:
            return self.passed(Message("nothing of this machine found by: {operations}",
                                       operations=", ".join(o.name for o in chosen)), data=data, code="clean")
        hint, commands, paths = self._advice(results, runs)
        result = self.results(findings, hint, commands=commands, paths=paths, data=data)
        if not results:
            # Right after seal's own fix: say first that the image is sealed, then what is left.
            result = result._replace(summary=Message(
                "nothing of this machine found by {count} operation(s); {findings}", count=len(chosen),
                findings=joined([f.text for f in findings], "; ")))
        return result

    def _judge(self, results, runs):
        """One finding per operation that found something (its name is the code), in the
        operations' order, then guestprep's own backups."""
        findings = [self.finding(results[n]["status"], n, Message("{operation}: {text}", operation=n,
                                                                  text=results[n]["text"]))
                    for n in OPERATION_NAMES if n in results]
        if runs:
            # INFO, not WARN: right after a fix they are expected (rollback needs them), and
            # seal's own fix leaves some; the command below removes them before capture.
            findings.append(self.finding(Status.INFO, "guestprep-backups", Message(
                "guestprep's own backups of {count} run(s) in {path} (copies of the files it changed): remove "
                "them before capture", count=len(runs), path=STATE_DIR), STATE_DIR))
        return findings

    @staticmethod
    def _advice(results, runs):
        """(hint, commands, paths) of the operations that found something."""
        commands, paths = [], []
        if not results:
            hint = [Message("guestprep's backups are in the image: `guestprep clean --yes` removes them (rollback "
                            "is then gone); run it before capture.")]
        else:
            hint = [Message("Before an image is shared or published (seed 004), and for any image cloned into many "
                            "instances, remove what belongs to this machine.")]
        for name in OPERATION_NAMES:
            r = results.get(name)
            if r is None:
                continue
            if r["hint"]:
                hint.append(r["hint"])
            commands.extend(c for c in r["commands"] if c not in commands)
            paths.extend(r["remove"][:20] + r["empty"][:20] + r.get("kept", []))
        if any(r["remove"] or r["empty"] or r.get("lock") for r in results.values()):
            hint.append(Message("`guestprep fix --items seal` does this (only when named; never with --items all; "
                                "seal:NAME,... for some operations, listed by `guestprep list`); rollback restores "
                                "it until `guestprep clean --yes`, which you then must run before capture so the "
                                "backups do not ship."))
        if runs:
            # The report writes it with this run's --root and program (report.typable).
            commands.insert(0, "guestprep clean --yes")
        return joined(hint, " "), commands, paths
