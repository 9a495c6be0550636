"""root-account: ECS logs users in as `root` and sets its password with SHA-512.

Seed 002 (Linux restrictions): デフォルトのログインユーザー名 root を変更しないでください —
ECS puts the password and key pair of a new instance on the account named root, so a
uid-0 account with another name (root renamed) breaks logging in. Seed 000 (additional
requirements for ARM64, CentOS Stream, Anolis, AlmaLinux and Rocky Linux images): the OS
must support the SHA-512 algorithm, which ECS uses for the password it sets; tools such
as chpasswd hash with login.defs' ENCRYPT_METHOD. A root whose password field starts with
`!` or `*` is locked: password logins to it are refused (and with `UsePAM no` sshd also
refuses key logins to a `!`-locked account) until ECS sets a password, which happens only
when the instance is created with one.

yescrypt (`$y$`, the default of Debian 11+, Ubuntu 22.04+, Fedora 35+) is reported as
information only: the requirement is that SHA-512 is supported, which glibc and
libxcrypt on those systems are, and the password ECS sets replaces root's hash anyway.
Hashes that are weak (MD5, DES) are a warning.

Only user names and algorithm names ever leave this module: never a hash, a salt or a
line of /etc/shadow.
"""
import shlex

from agent.facts.cloudinit import needs_minimum
from agent.core.model import Check, Status
from agent.core.rootfs import RootError
from agent.facts.accounts import PASSWD, SHADOW, WEAK, read_passwd, read_shadow

LOGIN_DEFS = "/etc/login.defs"


def login_defs_method(text):
    """ENCRYPT_METHOD of login.defs (the last one wins), or None."""
    method = None
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "ENCRYPT_METHOD":
            method = words[1].upper()
    return method


def strict_reason(ctx):
    """Why seed 000's SHA-512 requirement applies to the target ('' when it does not)."""
    return needs_minimum(ctx)


def _encrypt_method_command(root, method):
    path = shlex.quote(root.display(LOGIN_DEFS))
    if method is None:
        # sed would change nothing in a file without the line: add it.
        return "echo 'ENCRYPT_METHOD SHA512' >> " + path
    return "sed -i 's/^ENCRYPT_METHOD.*/ENCRYPT_METHOD SHA512/' " + path


class RootAccount(Check):
    id = "root_account"
    title = "root account usable by ECS (uid 0, not locked, SHA-512)"
    item = "root-account"
    repair_item = ""

    def run(self, ctx):
        root = ctx.root
        text = root.read_text_or_none(PASSWD)
        if text is None:
            return self.failed("{} does not exist".format(PASSWD),
                               "The image has no user database; ECS cannot create an instance from it.",
                               paths=[PASSWD])
        accounts = read_passwd(text)
        findings = []   # (status, text)
        uid0 = [name for name, uid in accounts if uid == 0]
        root_uid = [uid for name, uid in accounts if name == "root"]
        if not root_uid:
            if uid0:
                findings.append((Status.FAIL, "there is no account named root; uid 0 is {} (seed 002: do "
                                 "not rename root)".format(", ".join(uid0))))
            else:
                findings.append((Status.FAIL, "there is no account named root in " + PASSWD))
        elif root_uid[0] != 0:
            findings.append((Status.FAIL, "the account root has uid {}, not 0".format(root_uid[0])))
        others = [name for name in uid0 if name != "root"]
        if others and root_uid:
            findings.append((Status.WARN, "other accounts with uid 0: {}".format(", ".join(others))))

        try:
            shadow_text = root.read_text_or_none(SHADOW)
        except RootError as e:
            shadow_text = None
            findings.append((Status.WARN, "{} cannot be read ({}); locks and hash algorithms not "
                             "checked".format(SHADOW, e.reason)))
        states = read_shadow(shadow_text) if shadow_text is not None else {}
        strict = strict_reason(ctx)
        if shadow_text is not None:
            root_state = states.get("root")
            if root_state == "locked":
                findings.append((Status.WARN, "root is locked ('!' or '*' in its password field of {})".format(
                    SHADOW)))
            elif root_state == "empty":
                findings.append((Status.WARN, "root has an empty password field in " + SHADOW))
            elif root_state is None and root_uid:
                findings.append((Status.WARN, "root has no entry in " + SHADOW))
            by_algorithm = {}
            for name, state in sorted(states.items()):
                if state not in ("locked", "empty"):
                    by_algorithm.setdefault(state, []).append(name)
            weak = dict((a, n) for a, n in by_algorithm.items() if a in WEAK)
            if weak:
                findings.append((Status.WARN, "weak password hashes: " + "; ".join(
                    "{} ({})".format(", ".join(n), a) for a, n in sorted(weak.items()))))
            other = dict((a, n) for a, n in by_algorithm.items() if a not in WEAK and a != "SHA-512")
            if other:
                findings.append((Status.INFO, "hashes not SHA-512: " + "; ".join(
                    "{} ({})".format(", ".join(n), a) for a, n in sorted(other.items()))))

        defs = root.read_text_or_none(LOGIN_DEFS)
        method = login_defs_method(defs) if defs is not None else None
        if method != "SHA512":
            what = "ENCRYPT_METHOD is {} in {}".format(method, LOGIN_DEFS) if method else \
                "no ENCRYPT_METHOD in {}".format(LOGIN_DEFS)
            findings.append((Status.WARN if strict else Status.INFO,
                             what + (" (seed 000 requires SHA-512 for {})".format(strict) if strict else "")))

        data = {"uid0": uid0, "root_state": states.get("root", ""), "encrypt_method": method or "",
                "algorithms": sorted(set(s for s in states.values() if s not in ("locked", "empty")))}
        if not findings:
            return self.passed("root has uid 0, is not locked and uses SHA-512; ENCRYPT_METHOD SHA512",
                               paths=[PASSWD, SHADOW, LOGIN_DEFS], data=data)
        status = Status.worst(s for s, _t in findings)
        summary = "; ".join(t for _s, t in findings)
        if status == Status.INFO:
            hint = "Nothing blocks."
            if any(t.startswith("hashes not SHA-512") for _s, t in findings):
                hint += (" Those passwords keep working; the password ECS sets for root is hashed with "
                         "SHA-512, which this system supports.")
            commands = []
            if method != "SHA512":
                # Only when it is not set already: telling to set what is there confuses.
                hint += " Set `ENCRYPT_METHOD SHA512` in {} so new passwords use it too.".format(LOGIN_DEFS)
                commands.append(_encrypt_method_command(root, method))
            return self.result(Status.INFO, summary, hint, commands=commands,
                               paths=[SHADOW, LOGIN_DEFS], data=data)
        hints, commands = [], []
        if not root_uid or root_uid[0] != 0:
            hints.append("ECS logs users in as root (seed 002): keep an account named root with uid 0 "
                         "(rename the account back with `usermod -l root <name>`).")
        if states.get("root") in ("locked", "empty"):
            hints.append("A locked root (password field starting with '!' or '*') refuses password logins; "
                         "ECS replaces the field only when the instance is created with a password. Unlock "
                         "it with `passwd root` (sets a password) if you log in with one.")
            commands.append(ctx.in_guest("passwd root"))
        if others:
            hints.append("Extra uid-0 accounts are full root logins that ECS does not manage: remove them "
                         "or give them their own uid.")
        if any(s == Status.WARN and "weak" in t for s, t in findings):
            hints.append("Re-set those passwords so they are hashed with SHA-512 (`passwd <user>` after "
                         "setting ENCRYPT_METHOD SHA512).")
        if method != "SHA512":
            hints.append("Set `ENCRYPT_METHOD SHA512` in {}.".format(LOGIN_DEFS))
            commands.append(_encrypt_method_command(root, method))
        if shadow_text is None and root.lexists(SHADOW):
            hints.append("Run guestprep as root to read " + SHADOW + ".")
        return self.result(status, summary, " ".join(hints), commands=commands,
                           paths=[PASSWD, SHADOW, LOGIN_DEFS], data=data)
