"""The target's accounts: /etc/passwd entries and, from /etc/shadow, only the state of each
password (locked, empty, or the algorithm's name). The password field itself is dropped
while reading, so nothing later (a check, a report, a bundle) can print a hash or a salt.
Shared by the root_account and seal checks and the seal fix.
"""
from agent.parsers import LazyPattern
from agent.tuples import namedtuple

PASSWD = "/etc/passwd"
SHADOW = "/etc/shadow"

# Prefix -> algorithm name (crypt(5)).
ALGORITHMS = (
    ("$6$", "SHA-512"), ("$5$", "SHA-256"), ("$y$", "yescrypt"), ("$gy$", "gost-yescrypt"),
    ("$7$", "scrypt"), ("$2a$", "bcrypt"), ("$2b$", "bcrypt"), ("$2y$", "bcrypt"),
    ("$1$", "MD5"), ("$md5", "Sun MD5"), ("$sha1$", "SHA-1"), ("_", "BSDi DES"),
)
WEAK = ("MD5", "Sun MD5", "SHA-1", "BSDi DES", "DES", "unknown")
_DES = LazyPattern(r"^[./0-9A-Za-z]{13}$")


def algorithm_of(field):
    """Name of the algorithm of a shadow password field (no part of it is kept)."""
    for prefix, name in ALGORITHMS:
        if field.startswith(prefix):
            return name
    if _DES.match(field):
        return "DES"
    return "unknown"


class PasswdEntry(namedtuple("PasswdEntry", (
    "name",                   # str
    "uid",                    # Optional[int]: None when the field is not a number
    "home",                   # str
    "shell",                  # str
))):
    __slots__ = ()


def passwd_entries(text):
    """Accounts of /etc/passwd (NIS +/- lines, comments and short lines left out)."""
    entries = []
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) < 7 or not fields[0] or fields[0][0] in "+-#":
            continue
        try:
            uid = int(fields[2])
        except ValueError:
            uid = None
        entries.append(PasswdEntry(fields[0], uid, fields[5], fields[6]))
    return entries


def read_passwd(text):
    """[(name, uid)] of /etc/passwd (malformed uids left out too)."""
    return [(e.name, e.uid) for e in passwd_entries(text) if e.uid is not None]


def read_shadow(text):
    """{name: state} where state is 'locked', 'empty' or an algorithm name. The password
    field itself is dropped here, so nothing later can print it."""
    states = {}
    for line in text.splitlines():
        name, sep, rest = line.partition(":")
        if not sep or not name or name[0] in "+-#":
            continue
        field = rest.split(":", 1)[0]
        if field == "":
            states[name] = "empty"
        elif field[0] in "!*":
            states[name] = "locked"
        else:
            states[name] = algorithm_of(field)
    return states
