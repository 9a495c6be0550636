import pytest

from agent.checks.root_account import RootAccount
from agent.facts.accounts import algorithm_of, read_shadow
from agent.core.engine import Engine
from agent.core.model import Status

PASSWD = ("root:x:0:0:root:/root:/bin/bash\nbin:x:1:1:bin:/bin:/sbin/nologin\n"
          "alice:x:1000:1000:Alice:/home/alice:/bin/bash\n")
# Obviously fake hashes; the test proves no part of them ever reaches a result.
H6 = "$6$fixtureSALT$notarealhashAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
HY = "$y$j9T$fixtureYES$notarealhashBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"
HMD5 = "$1$fixMD5$notarealhashCCCCCCCCC"
DEFS = "# excerpt\nPASS_MAX_DAYS\t99999\nENCRYPT_METHOD SHA512\n"


def shadow_text(root=H6, alice=H6):
    return "root:{}:19700:0:99999:7:::\nbin:*:19469:0:99999:7:::\nalice:{}:19700:0:99999:7:::\n".format(root, alice)


def prepare(guest, passwd=PASSWD, shadow=None, defs=DEFS, os_id="debian", version="12"):
    guest.os_release(os_id, version)
    guest.write("/etc/passwd", passwd)
    guest.write("/etc/shadow", shadow if shadow is not None else shadow_text(), mode=0o640)
    if defs is not None:
        guest.write("/etc/login.defs", defs)


def run(guest):
    return RootAccount().run(guest.ctx())


def assert_no_secret(result):
    text = repr(result) + repr(result.as_dict()) + repr(result.data)
    for needle in ("fixtureSALT", "fixtureYES", "fixMD5", "notarealhash", "$6$", "$y$", "$1$", ":19700:"):
        assert needle not in text, needle


def test_healthy_passes(guest):
    prepare(guest)
    result = run(guest)
    assert result.status == Status.PASS
    assert_no_secret(result)


def test_renamed_root_fails(guest):
    prepare(guest, PASSWD.replace("root:x:0:0", "admin:x:0:0"), shadow_text().replace("root:", "admin:", 1))
    result = run(guest)
    assert result.status == Status.FAIL
    assert "uid 0 is admin" in result.summary and "usermod -l root" in result.hint
    assert_no_secret(result)


def test_root_with_other_uid_fails(guest):
    prepare(guest, PASSWD.replace("root:x:0:0", "root:x:5:0"))
    assert "uid 5" in run(guest).summary


def test_other_uid0_accounts_warn(guest):
    prepare(guest, PASSWD + "toor:x:0:0::/root:/bin/sh\n")
    result = run(guest)
    assert result.status == Status.WARN and "toor" in result.summary


@pytest.mark.parametrize("field", ["!" + H6, "*", "!!", "!"])
def test_locked_root_warns_without_printing_the_hash(guest, field):
    prepare(guest, shadow=shadow_text(root=field))
    result = run(guest)
    assert result.status == Status.WARN
    assert "root is locked" in result.summary and "passwd root" in " ".join(result.commands)
    assert_no_secret(result)


def test_weak_hash_warns_with_names_and_algorithm_only(guest):
    prepare(guest, shadow=shadow_text(alice=HMD5))
    result = run(guest)
    assert result.status == Status.WARN
    assert "alice (MD5)" in result.summary
    assert_no_secret(result)


def test_yescrypt_is_information_on_debian(guest):
    prepare(guest, shadow=shadow_text(root=HY, alice=HY))
    result = run(guest)
    assert result.status == Status.INFO
    assert "alice, root (yescrypt)" in result.summary
    assert_no_secret(result)


def test_encrypt_method_matters_on_rocky(guest):
    prepare(guest, defs=DEFS.replace("SHA512", "MD5"), os_id="rocky", version="9.3")
    result = run(guest)
    assert result.status == Status.WARN
    assert "ENCRYPT_METHOD is MD5" in result.summary and "seed 000" in result.summary
    prepare(guest, defs=None, os_id="debian")
    assert run(guest).status == Status.INFO


def test_unreadable_or_garbled_shadow(guest):
    prepare(guest, shadow="garbage without colons\n\x7f\n")
    result = run(guest)
    assert result.status == Status.WARN and "no entry" in result.summary
    guest.write("/etc/shadow", b"\x00\x01binary")
    result = Engine([RootAccount]).run_check(guest.ctx(), RootAccount())
    assert result.status == Status.WARN and "cannot be read" in result.summary


def test_missing_passwd_fails(guest):
    guest.os_release("debian", "12")
    assert run(guest).status == Status.FAIL


def test_parsers_drop_the_password_field():
    states = read_shadow(shadow_text(alice=HY))
    assert states == {"root": "SHA-512", "bin": "locked", "alice": "yescrypt"}
    assert algorithm_of("abcdefghijklm") == "DES"
    assert algorithm_of("$2b$10$x") == "bcrypt"
    assert algorithm_of("weird") == "unknown"


def test_yescrypt_hint_does_not_ask_for_what_login_defs_already_says(guest):
    prepare(guest, shadow=shadow_text(root=HY, alice=HY))   # login.defs: ENCRYPT_METHOD SHA512
    result = run(guest)
    assert result.status == Status.INFO
    assert "ENCRYPT_METHOD" not in result.hint and not result.commands
    assert result.hint.startswith("Nothing blocks.")


def test_encrypt_method_command_works_whether_or_not_the_line_exists(guest):
    prepare(guest, defs="# excerpt\nPASS_MAX_DAYS\t99999\n")
    result = run(guest)
    assert result.status == Status.INFO and "no ENCRYPT_METHOD" in result.summary
    path = guest.host("/etc/login.defs")
    # sed on a missing line would change nothing: the line is appended instead.
    assert list(result.commands) == ["echo 'ENCRYPT_METHOD SHA512' >> " + path]
    prepare(guest, defs=DEFS.replace("SHA512", "MD5"), os_id="rocky", version="9.3")
    result = run(guest)
    assert result.status == Status.WARN
    assert "sed -i 's/^ENCRYPT_METHOD.*/ENCRYPT_METHOD SHA512/' " + path in result.commands
