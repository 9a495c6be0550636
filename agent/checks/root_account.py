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

from agent.core.model import Check, Message, Status, joined
from agent.core.rootfs import RootError
from agent.facts.accounts import PASSWD, SHADOW, WEAK, read_passwd, read_shadow
from agent.facts.cloudinit import needs_minimum

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


class Accounts(object):
    """What root_account reads, once: the uid-0 accounts, root's uid, the hash states of
    /etc/shadow (never a hash) and login.defs' ENCRYPT_METHOD."""

    def __init__(self, ctx, passwd_text):
        root = ctx.root
        accounts = read_passwd(passwd_text)
        self.uid0 = [name for name, uid in accounts if uid == 0]
        self.root_uid = [uid for name, uid in accounts if name == "root"]
        self.others = [name for name in self.uid0 if name != "root"]
        self.shadow_problem = ""
        try:
            shadow_text = root.read_text_or_none(SHADOW)
        except RootError as e:
            shadow_text, self.shadow_problem = None, e.reason
        self.shadow_read = shadow_text is not None
        self.states = read_shadow(shadow_text) if shadow_text is not None else {}
        self.strict = strict_reason(ctx)
        defs = root.read_text_or_none(LOGIN_DEFS)
        self.method = login_defs_method(defs) if defs is not None else None

    def by_algorithm(self):
        grouped = {}
        for name, state in sorted(self.states.items()):
            if state not in ("locked", "empty"):
                grouped.setdefault(state, []).append(name)
        return grouped


def _hash_groups(grouped):
    return joined([Message("{names} ({algorithm})", names=", ".join(names), algorithm=algorithm)
                                for algorithm, names in sorted(grouped.items())], "; ")


class RootAccount(Check):
    id = "root_account"
    title = "root account usable by ECS (uid 0, not locked, SHA-512)"
    item = "root-account"
    repair_item = ""
    refs = ("000",)

    def run(self, ctx):
        text = ctx.root.read_text_or_none(PASSWD)
        if text is None:
            return self.failed(Message("{path} does not exist", path=PASSWD),
                               Message("The image has no user database; ECS cannot create an instance from it."),
                               paths=[PASSWD], code="no-passwd")
        seen = Accounts(ctx, text)
        findings = self._judge_names(seen) + self._judge_shadow(seen) + self._judge_method(seen)
        data = {"uid0": seen.uid0, "root_state": seen.states.get("root", ""), "encrypt_method": seen.method or "",
                "algorithms": sorted(set(s for s in seen.states.values() if s not in ("locked", "empty")))}
        if not findings:
            return self.passed(Message("root has uid 0, is not locked and uses SHA-512; ENCRYPT_METHOD SHA512"),
                               paths=[PASSWD, SHADOW, LOGIN_DEFS], data=data, code="usable")
        codes = set(f.code.split(".", 1)[1] for f in findings)
        if Status.worst(f.status for f in findings) == Status.INFO:
            hint, commands = self._advice_info(ctx, seen, codes)
            return self.results(findings, hint, commands=commands, paths=[SHADOW, LOGIN_DEFS], data=data)
        hint, commands = self._advice(ctx, seen, codes)
        return self.results(findings, hint, commands=commands, paths=[PASSWD, SHADOW, LOGIN_DEFS], data=data)

    # -- judging ------------------------------------------------------------------------------

    def _judge_names(self, seen):
        findings = []
        if not seen.root_uid:
            if seen.uid0:
                findings.append(self.finding(Status.FAIL, "no-root", Message(
                    "there is no account named root; uid 0 is {names} (seed 002: do not rename root)",
                    names=", ".join(seen.uid0)), PASSWD, refs=("002",)))
            else:
                findings.append(self.finding(Status.FAIL, "no-root", Message(
                    "there is no account named root in {path}", path=PASSWD), PASSWD, refs=("002",)))
        elif seen.root_uid[0] != 0:
            findings.append(self.finding(Status.FAIL, "root-uid", Message(
                "the account root has uid {uid}, not 0", uid=seen.root_uid[0]), PASSWD, refs=("002",)))
        if seen.others and seen.root_uid:
            findings.append(self.finding(Status.WARN, "other-uid0", Message(
                "other accounts with uid 0: {names}", names=", ".join(seen.others)), PASSWD, refs=("002",)))
        return findings

    def _judge_shadow(self, seen):
        findings = []
        if seen.shadow_problem:
            findings.append(self.finding(Status.WARN, "shadow-unreadable", Message(
                "{path} cannot be read ({reason}); locks and hash algorithms not checked", path=SHADOW,
                reason=seen.shadow_problem), SHADOW))
        if not seen.shadow_read:
            return findings
        root_state = seen.states.get("root")
        if root_state == "locked":
            findings.append(self.finding(Status.WARN, "root-locked", Message(
                "root is locked ('!' or '*' in its password field of {path})", path=SHADOW), SHADOW))
        elif root_state == "empty":
            findings.append(self.finding(Status.WARN, "root-empty", Message(
                "root has an empty password field in {path}", path=SHADOW), SHADOW))
        elif root_state is None and seen.root_uid:
            findings.append(self.finding(Status.WARN, "root-not-in-shadow", Message(
                "root has no entry in {path}", path=SHADOW), SHADOW))
        grouped = seen.by_algorithm()
        weak = dict((a, n) for a, n in grouped.items() if a in WEAK)
        if weak:
            findings.append(self.finding(Status.WARN, "weak-hashes", Message(
                "weak password hashes: {groups}", groups=_hash_groups(weak)), SHADOW))
        other = dict((a, n) for a, n in grouped.items() if a not in WEAK and a != "SHA-512")
        if other:
            findings.append(self.finding(Status.INFO, "not-sha512", Message(
                "hashes not SHA-512: {groups}", groups=_hash_groups(other)), SHADOW))
        return findings

    def _judge_method(self, seen):
        if seen.method == "SHA512":
            return []
        note = Message(" (seed 000 requires SHA-512 for {what})", what=seen.strict) if seen.strict else ""
        if seen.method:
            text = Message("ENCRYPT_METHOD is {method} in {path}{note}", method=seen.method, path=LOGIN_DEFS,
                           note=note)
        else:
            text = Message("no ENCRYPT_METHOD in {path}{note}", path=LOGIN_DEFS, note=note)
        return [self.finding(Status.WARN if seen.strict else Status.INFO, "encrypt-method", text, LOGIN_DEFS)]

    # -- phrasing the advice ---------------------------------------------------------------------

    @staticmethod
    def _advice_info(ctx, seen, codes):
        hints, commands = [Message("Nothing blocks.")], []
        if "not-sha512" in codes:
            hints.append(Message("Those passwords keep working; the password ECS sets for root is hashed with "
                                 "SHA-512, which this system supports."))
        if seen.method != "SHA512":
            # Only when it is not set already: telling to set what is there confuses.
            hints.append(Message("Set `ENCRYPT_METHOD SHA512` in {path} so new passwords use it too.",
                                 path=LOGIN_DEFS))
            commands.append(_encrypt_method_command(ctx.root, seen.method))
        return joined(hints, " "), commands

    @staticmethod
    def _advice(ctx, seen, codes):
        hints, commands = [], []
        if not seen.root_uid or seen.root_uid[0] != 0:
            hints.append(Message("ECS logs users in as root (seed 002): keep an account named root with uid 0 "
                                 "(rename the account back with `usermod -l root <name>`)."))
        if seen.states.get("root") in ("locked", "empty"):
            hints.append(Message("A locked root (password field starting with '!' or '*') refuses password logins; "
                                 "ECS replaces the field only when the instance is created with a password. Unlock "
                                 "it with `passwd root` (sets a password) if you log in with one."))
            commands.append(ctx.in_guest("passwd root"))
        if seen.others:
            hints.append(Message("Extra uid-0 accounts are full root logins that ECS does not manage: remove them "
                                 "or give them their own uid."))
        if "weak-hashes" in codes:
            hints.append(Message("Re-set those passwords so they are hashed with SHA-512 (`passwd <user>` after "
                                 "setting ENCRYPT_METHOD SHA512)."))
        if seen.method != "SHA512":
            hints.append(Message("Set `ENCRYPT_METHOD SHA512` in {path}.", path=LOGIN_DEFS))
            commands.append(_encrypt_method_command(ctx.root, seen.method))
        if not seen.shadow_read and ctx.root.lexists(SHADOW):
            hints.append(Message("Run guestprep as root to read {path}.", path=SHADOW))
        return joined(hints, " "), commands
