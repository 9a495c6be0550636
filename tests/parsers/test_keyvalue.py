"""agent.parsers.keyvalue against ifcfg, selinux, default/grub, os-release and garbage."""
import pytest

from agent.parsers import DISABLED_PREFIX, keyvalue
from agent.parsers.keyvalue import Assignment

RHEL_IFCFG = """TYPE=Ethernet
PROXY_METHOD=none
BROWSER_ONLY=no
BOOTPROTO=none
DEFROUTE=yes
IPV4_FAILURE_FATAL=no
IPV6INIT=yes
IPV6_AUTOCONF=yes
IPV6_DEFROUTE=yes
IPV6_FAILURE_FATAL=no
IPV6_ADDR_GEN_MODE=stable-privacy
NAME=eth0
UUID=5fb06bd0-0bb0-7ffb-45f1-d6edd65f3e03
DEVICE=eth0
ONBOOT=yes
HWADDR=52:54:00:6b:3c:58
IPADDR=192.168.122.10
PREFIX=24
GATEWAY=192.168.122.1
DNS1=192.168.122.1
"""

RHEL6_IFCFG = """DEVICE="eth0"
BOOTPROTO="static"
HWADDR="52:54:00:6B:3C:58"
IPADDR="192.168.122.10"
NETMASK="255.255.255.0"
NM_CONTROLLED="yes"
ONBOOT="yes"
TYPE="Ethernet"
UUID="2d2e3d7a-1f4b-4a2d-8f3e-0c9a7b6d5e4f"
"""

SUSE_IFCFG = """BOOTPROTO='static'
BROADCAST=''
ETHTOOL_OPTIONS=''
IPADDR='192.168.1.10/24'
MTU=''
NAME='82540EM Gigabit Ethernet Controller'
NETWORK=''
REMOTE_IPADDR=''
STARTMODE='auto'
LLADDR='52:54:00:12:34:56'
"""

SELINUX_CONFIG = """
# This file controls the state of SELinux on the system.
# SELINUX= can take one of these three values:
#     enforcing - SELinux security policy is enforced.
#     permissive - SELinux prints warnings instead of enforcing.
#     disabled - No SELinux policy is loaded.
SELINUX=enforcing
# SELINUXTYPE= can take one of three values:
#     targeted - Targeted processes are protected,
#     minimum - Modification of targeted policy. Only selected processes are protected. 
#     mls - Multi Level Security protection.
SELINUXTYPE=targeted 


"""

DEBIAN_GRUB = """# If you change this file, run 'update-grub' afterwards to update
# /boot/grub/grub.cfg.
# For full documentation of the options in this file, see:
#   info -f grub -n 'Simple configuration'

GRUB_DEFAULT=0
GRUB_TIMEOUT=5
GRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`
GRUB_CMDLINE_LINUX_DEFAULT="quiet"
GRUB_CMDLINE_LINUX=""

# Uncomment to enable BadRAM filtering, modify to suit your needs
#GRUB_BADRAM="0x01234567,0xfefefefe,0x89abcdef,0xefefefef"

# Uncomment to disable graphical terminal (grub-pc only)
#GRUB_TERMINAL=console

# Uncomment if you don't want GRUB to pass "root=UUID=xxx" parameter to Linux
#GRUB_DISABLE_LINUX_UUID=true

# Uncomment to get a beep at grub start
#GRUB_INIT_TUNE="480 440 1"
"""

RHEL_GRUB = """GRUB_TIMEOUT=5
GRUB_DISTRIBUTOR="$(sed 's, release .*$,,g' /etc/system-release)"
GRUB_DEFAULT=saved
GRUB_DISABLE_SUBMENU=true
GRUB_TERMINAL_OUTPUT="console"
GRUB_CMDLINE_LINUX="crashkernel=auto spectre_v2=retpoline rd.lvm.lv=centos/root rd.lvm.lv=centos/swap rhgb quiet"
GRUB_DISABLE_RECOVERY="true"
"""

OS_RELEASE = """NAME="Ubuntu"
VERSION="20.04.6 LTS (Focal Fossa)"
ID=ubuntu
ID_LIKE=debian
PRETTY_NAME="Ubuntu 20.04.6 LTS"
VERSION_ID="20.04"
HOME_URL="https://www.ubuntu.com/"
VERSION_CODENAME=focal
UBUNTU_CODENAME=focal
"""



SAMPLE_NAMES = {RHEL_IFCFG: "rhel_ifcfg", RHEL6_IFCFG: "rhel6_ifcfg", SUSE_IFCFG: "suse_ifcfg", SELINUX_CONFIG: "selinux_config", DEBIAN_GRUB: "debian_grub", RHEL_GRUB: "rhel_grub", OS_RELEASE: "os_release"}


def text_id(value):
    """Short test ids: a sample's name, or a placeholder for other long texts."""
    if isinstance(value, str) and len(value) > 40:
        return SAMPLE_NAMES.get(value, "long-text")
    return None

def as_dict(text):
    assignments, problems = keyvalue.parse(text)
    assert problems == []
    return {a.key: a.value for a in assignments}


@pytest.mark.parametrize("text, expected", ids=text_id, argvalues=[
    (RHEL_IFCFG, {"BOOTPROTO": "none", "HWADDR": "52:54:00:6b:3c:58",
                  "IPADDR": "192.168.122.10", "PREFIX": "24", "GATEWAY": "192.168.122.1",
                  "DEVICE": "eth0", "ONBOOT": "yes"}),
    (RHEL6_IFCFG, {"BOOTPROTO": "static", "HWADDR": "52:54:00:6B:3C:58",
                   "NETMASK": "255.255.255.0", "NM_CONTROLLED": "yes"}),
    (SUSE_IFCFG, {"BOOTPROTO": "static", "IPADDR": "192.168.1.10/24", "MTU": "",
                  "NAME": "82540EM Gigabit Ethernet Controller",
                  "LLADDR": "52:54:00:12:34:56", "STARTMODE": "auto"}),
    (SELINUX_CONFIG, {"SELINUX": "enforcing", "SELINUXTYPE": "targeted"}),
    (DEBIAN_GRUB, {"GRUB_DEFAULT": "0",
                   "GRUB_DISTRIBUTOR": "`lsb_release -i -s 2> /dev/null || echo Debian`",
                   "GRUB_CMDLINE_LINUX_DEFAULT": "quiet", "GRUB_CMDLINE_LINUX": ""}),
    (RHEL_GRUB, {"GRUB_DISTRIBUTOR": "$(sed 's, release .*$,,g' /etc/system-release)",
                 "GRUB_CMDLINE_LINUX": "crashkernel=auto spectre_v2=retpoline "
                 "rd.lvm.lv=centos/root rd.lvm.lv=centos/swap rhgb quiet"}),
    (OS_RELEASE, {"ID": "ubuntu", "VERSION_ID": "20.04", "ID_LIKE": "debian",
                  "VERSION": "20.04.6 LTS (Focal Fossa)"}),
])
def test_parse_real_files(text, expected):
    values = as_dict(text)
    assert {key: values.get(key) for key in expected} == expected


def test_parse_records_line_quote_and_raw():
    assignments, _ = keyvalue.parse(SUSE_IFCFG.replace("\n", "\r\n"))
    assert assignments[3] == Assignment(4, "IPADDR", "192.168.1.10/24", "'", "IPADDR='192.168.1.10/24'")
    assignments, _ = keyvalue.parse(SELINUX_CONFIG)
    assert [(a.lineno, a.quote, a.raw) for a in assignments] == [
        (7, "", "SELINUX=enforcing"), (12, "", "SELINUXTYPE=targeted ")]


@pytest.mark.parametrize("line, key, value, quote", [
    ("A=b", "A", "b", ""),
    ("A=", "A", "", ""),
    ('A=""', "A", "", '"'),
    ("A=''", "A", "", "'"),
    ("export A=b", "A", "b", ""),
    ("  export\tA='b c'", "A", "b c", "'"),
    ("\tA=b", "A", "b", ""),
    ("A=b # trailing comment", "A", "b", ""),
    ('A="b c"   # trailing comment', "A", "b c", '"'),
    ("A=b#not-a-comment", "A", "b#not-a-comment", ""),
    (r'A="say \"hi\" \\ \$HOME \`x\` \n"', "A", r'say "hi" \ $HOME `x` \n', '"'),
    (r"A='no \escapes'", "A", r"no \escapes", "'"),
    (r"A=unquoted\ space", "A", "unquoted space", ""),
    ("A=$HOME/x", "A", "$HOME/x", ""),
    ("A=${HOME:-/root}", "A", "${HOME:-/root}", ""),
    ("A=$(uname -r)", "A", "$(uname -r)", ""),
    ("A=\"it's\"'\"'mixed", "A", "it's\"mixed", '"'),
    ("_x1=1", "_x1", "1", ""),
    ("A=caf\u00e9", "A", "caf\u00e9", ""),
])
def test_parse_shell_quoting(line, key, value, quote):
    (assignment,), problems = keyvalue.parse(line + "\n")
    assert problems == []
    assert (assignment.key, assignment.value, assignment.quote, assignment.raw) == (
        key, value, quote, line)


BINARY = b"\x00\xff\xfe\x01garbage\n\x89PNG\r\n\x1a\n".decode("utf-8", "surrogateescape")


@pytest.mark.parametrize("text, problem_lines", ids=text_id, argvalues=[
    ("", []),
    ("\n\n  \n", []),
    ("# SELINUX=enforcing\n   # indented comment\n", []),
    ("export PATH\nexport\n", []),
    ("=\n", [1]),
    ("==\n", [1]),
    ("=value\n", [1]),
    ("A = b\n", [1]),
    ("1A=b\n", [1]),
    ("A-B=c\n", [1]),
    ('A="unterminated\n', [1]),
    ("A='unterminated\n", [1]),
    ("A=`unterminated\n", [1]),
    ("A=$(unterminated\n", [1]),
    ("A=continued\\\n", [1]),
    ("A=b c\n", [1]),
    ("A=b; B=c\n", [1]),
    ("A=b|c\n", [1]),
    ("if [ -f x ]; then\n", [1]),
    (BINARY, [1, 2, 3]),
    pytest.param("A=" + "x" * 200000 + "\n", [], id="huge-line-1"),
    pytest.param('A="' + "x" * 200000 + "\n", [1], id="huge-line-2"),
    ("A=1\ngarbage\nB=2\n", [2]),
])
def test_garbage_is_reported_never_raised(text, problem_lines):
    assignments, problems = keyvalue.parse(text)
    assert [p.lineno for p in problems] == problem_lines
    assert all(p.message for p in problems)


def test_get_returns_the_last_assignment():
    assignments, _ = keyvalue.parse("SELINUX=enforcing\nSELINUX=permissive\nX=1\n")
    assert keyvalue.get(assignments, "SELINUX") == "permissive"
    assert keyvalue.get(assignments, "X") == "1"
    assert keyvalue.get(assignments, "MISSING") is None
    assert keyvalue.get(assignments, "MISSING", "dflt") == "dflt"
    assert keyvalue.get([], "X", "") == ""


@pytest.mark.parametrize("text, key, value, expected", ids=text_id, argvalues=[
    # selinux: one line changes, the comment block stays.
    (SELINUX_CONFIG, "SELINUX", "disabled",
     SELINUX_CONFIG.replace("SELINUX=enforcing\n", "SELINUX=disabled\n")),
    # RHEL ifcfg: unquoted stays unquoted.
    (RHEL_IFCFG, "BOOTPROTO", "dhcp", RHEL_IFCFG.replace("BOOTPROTO=none", "BOOTPROTO=dhcp")),
    # RHEL 6 and SUSE: the quote character is kept.
    (RHEL6_IFCFG, "BOOTPROTO", "dhcp",
     RHEL6_IFCFG.replace('BOOTPROTO="static"', 'BOOTPROTO="dhcp"')),
    (SUSE_IFCFG, "BOOTPROTO", "dhcp4",
     SUSE_IFCFG.replace("BOOTPROTO='static'", "BOOTPROTO='dhcp4'")),
    (SUSE_IFCFG, "IPADDR", "", SUSE_IFCFG.replace("IPADDR='192.168.1.10/24'", "IPADDR=''")),
    # A value that needs quoting gets double quotes when the old had none.
    ("A=b\n", "A", "b c", 'A="b c"\n'),
    ("A=b\n", "A", 'say "$x"', 'A="say \\"\\$x\\""\n'),
    # Single quotes cannot hold a single quote: fall back to double quotes.
    ("A='b'\n", "A", "it's", 'A="it\'s"\n'),
    (RHEL_GRUB, "GRUB_CMDLINE_LINUX", "crashkernel=auto rhgb quiet nvme_core.io_timeout=4294967295",
     RHEL_GRUB.replace("spectre_v2=retpoline rd.lvm.lv=centos/root rd.lvm.lv=centos/swap ", "")
     .replace("quiet\"", "quiet nvme_core.io_timeout=4294967295\"")),
    # export, leading blanks and a trailing comment survive.
    ("  export A=1   # keep me\n", "A", "2", "  export A=2   # keep me\n"),
    # Only the last of duplicate assignments changes.
    ("A=1\nB=x\nA=2\n", "A", "3", "A=1\nB=x\nA=3\n"),
    # Absent: appended, with a newline added where the text lacks one.
    ("A=1\n", "B", "2", "A=1\nB=2\n"),
    ("A=1", "B", "2", "A=1\nB=2\n"),
    ("A=1\r\n", "B", "x y", 'A=1\r\nB="x y"\r\n'),
    ("A=1\r\nC=3", "B", "2", "A=1\r\nC=3\r\nB=2\r\n"),
    ("", "SELINUX", "disabled", "SELINUX=disabled\n"),
    ("# SELINUX=enforcing\n", "SELINUX", "disabled", "# SELINUX=enforcing\nSELINUX=disabled\n"),
    # CRLF and a missing final newline on the edited line are kept.
    ("A=1\r\nSELINUX=enforcing", "SELINUX", "disabled", "A=1\r\nSELINUX=disabled"),
    ("SELINUX=enforcing\r\nX=1\r\n", "SELINUX", "disabled", "SELINUX=disabled\r\nX=1\r\n"),
])
def test_set_value(text, key, value, expected):
    edited = keyvalue.set_value(text, key, value)
    assert edited == expected
    assert keyvalue.get(keyvalue.parse(edited)[0], key) == value
    assert keyvalue.set_value(edited, key, value) == edited


def test_set_value_same_value_keeps_the_spelling():
    text = "A=unquoted\\ space\nB='x'\n"
    assert keyvalue.set_value(text, "A", "unquoted space") == text
    assert keyvalue.set_value(text, "B", "x") == text


def test_set_value_ignores_lines_it_cannot_parse():
    text = 'SELINUX="broken\nSELINUX=enforcing\n'
    assert keyvalue.set_value(text, "SELINUX", "disabled") == 'SELINUX="broken\nSELINUX=disabled\n'


@pytest.mark.parametrize("key, value", [
    ("1A", "x"), ("A B", "x"), ("", "x"), ("A=", "x"), ("A", "two\nlines"), ("A", "cr\r"),
])
def test_set_value_rejects_what_cannot_be_one_assignment(key, value):
    with pytest.raises(ValueError):
        keyvalue.set_value("A=1\n", key, value)


@pytest.mark.parametrize("value", ["plain", "a b", "it's", 'q"uote', "$HOME", "`x`",
                                   "back\\slash", "", "caf\u00e9", "#hash", "a;b"])
@pytest.mark.parametrize("quote", ["", '"', "'"])
def test_quote_value_round_trips_through_parse(value, quote):
    (assignment,), problems = keyvalue.parse("A=" + keyvalue.quote_value(value, quote))
    assert problems == []
    assert assignment.value == value


def test_comment_out_keys():
    text = RHEL_IFCFG.replace("\n", "\r\n")
    pinned = {"HWADDR", "IPADDR", "PREFIX", "GATEWAY"}
    edited = keyvalue.comment_out_keys(text, lambda key: key in pinned)
    for before, after in zip(text.split("\r\n"), edited.split("\r\n")):
        key = before.split("=", 1)[0]
        assert after == (DISABLED_PREFIX + before if key in pinned else before)
    assert len(edited) == len(text) + 4 * len(DISABLED_PREFIX)
    assert keyvalue.comment_out_keys(edited, lambda key: key in pinned) == edited
    assert not pinned & {a.key for a in keyvalue.parse(edited)[0]}


def test_comment_out_keys_covers_duplicates_and_exports():
    text = "export A=1\nB=2\nA=3"
    expected = f"{DISABLED_PREFIX}export A=1\nB=2\n{DISABLED_PREFIX}A=3"
    assert keyvalue.comment_out_keys(text, lambda key: key == "A") == expected
    assert keyvalue.comment_out_keys(text, lambda key: False) == text
