"""agent.parsers.ini against NetworkManager keyfiles, networkd files and garbage."""
import pytest

from agent.parsers import DISABLED_PREFIX, ini
from agent.parsers.ini import Entry, Section

NM_KEYFILE = """[connection]
id=Wired connection 1
uuid=0e1d4a5c-7f3b-4c3a-9a0f-2b6c8d9e1f20
type=ethernet
autoconnect-priority=-999
interface-name=eth0
timestamp=1700000000

[ethernet]
mac-address=52:54:00:12:34:56

[ipv4]
address1=192.168.1.10/24,192.168.1.1
dns=192.168.1.1;
method=manual

[ipv6]
addr-gen-mode=stable-privacy
method=auto

[proxy]
"""

NETWORKD = """# Written by the installer
[Match]
MACAddress=52:54:00:12:34:56

[Network]
DHCP=no
Gateway=192.168.1.1
DNS=192.168.1.1
DNS=1.1.1.1

[Address]
Address=192.168.1.10/24

[Address]
Address=192.168.1.11/24
Label=eth0:1
"""

LINK = """[Match]
MACAddress=52:54:00:12:34:56
; keep the old name
[Link]
Name = lan0
"""



SAMPLE_NAMES = {NM_KEYFILE: "nm_keyfile", NETWORKD: "networkd", LINK: "link"}


def text_id(value):
    """Short test ids: a sample's name, or a placeholder for other long texts."""
    if isinstance(value, str) and len(value) > 40:
        return SAMPLE_NAMES.get(value, "long-text")
    return None

def test_parse_nm_keyfile():
    sections, problems = ini.parse(NM_KEYFILE)
    assert problems == []
    assert [(s.name, s.lineno, s.end_lineno) for s in sections] == [
        ("connection", 1, 8), ("ethernet", 9, 11), ("ipv4", 12, 16), ("ipv6", 17, 20),
        ("proxy", 21, 21)]
    assert sections[2] == Section("ipv4", 12, (
        Entry(13, "address1", "192.168.1.10/24,192.168.1.1", "address1=192.168.1.10/24,192.168.1.1"),
        Entry(14, "dns", "192.168.1.1;", "dns=192.168.1.1;"),
        Entry(15, "method", "manual", "method=manual"),
    ), 16)
    assert sections[4].entries == ()
    assert ini.values(sections, "connection", "id") == ["Wired connection 1"]
    assert ini.values(sections, "ethernet", "mac-address") == ["52:54:00:12:34:56"]
    assert ini.values(sections, "ipv4", "method") == ["manual"]
    assert ini.values(sections, "ipv6", "method") == ["auto"]


def test_parse_networkd_repeated_sections_and_keys():
    sections, problems = ini.parse(NETWORKD)
    assert problems == []
    assert [(s.name, s.lineno, s.end_lineno) for s in sections] == [
        ("Match", 2, 4), ("Network", 5, 10), ("Address", 11, 13), ("Address", 14, 16)]
    assert ini.values(sections, "Address", "Address") == ["192.168.1.10/24", "192.168.1.11/24"]
    assert ini.values(sections, "Network", "DNS") == ["192.168.1.1", "1.1.1.1"]
    assert ini.values(sections, "Match", "MACAddress") == ["52:54:00:12:34:56"]
    assert ini.values(sections, "Route", "Gateway") == []
    assert ini.values(sections, "match", "MACAddress") == []


def test_parse_blanks_around_equals_and_semicolon_comments():
    sections, problems = ini.parse(LINK)
    assert problems == []
    assert sections[1].entries == (Entry(5, "Name", "lan0", "Name = lan0"),)


@pytest.mark.parametrize("text, expected", ids=text_id, argvalues=[
    ("a=1\nb = 2\n[S]\nc=3\n", [("", 0, [("a", "1"), ("b", "2")], 2), ("S", 3, [("c", "3")], 4)]),
    ("# only comments\n[S]\n", [("S", 2, [], 2)]),
    ("[S]\nk=\nk2= \t\n=v\n", [("S", 1, [("k", ""), ("k2", "")], 4)]),
    ("[S]\nk=a=b\n", [("S", 1, [("k", "a=b")], 2)]),
    ("[S]\r\nk=v\r\n", [("S", 1, [("k", "v")], 2)]),
    ("  [ S ]  \n\tk\t=\tv w \n", [(" S ", 1, [("k", "v w")], 2)]),
])
def test_parse_shapes(text, expected):
    sections, _ = ini.parse(text)
    assert [(s.name, s.lineno, [(e.key, e.value) for e in s.entries], s.end_lineno)
            for s in sections] == expected


BINARY = b"\x00\xff\xfe\x01garbage\n\x89PNG\r\n\x1a\n".decode("utf-8", "surrogateescape")


@pytest.mark.parametrize("text, problem_lines", ids=text_id, argvalues=[
    ("", []),
    ("\n \n\t\n", []),
    ("# c\n; c\n", []),
    ("=\n", [1]),
    ("= value\n", [1]),
    ("[S]\njust words\n", [2]),
    ("[unterminated\nk=v\n", [1]),
    ("[]\n", [1]),
    (BINARY, [1, 2, 3]),
    pytest.param("[S]\nk=" + "v" * 200000 + "\n", [], id="huge-line-1"),
    pytest.param("[" + "S" * 200000 + "\n", [1], id="huge-line-2"),
])
def test_garbage_is_reported_never_raised(text, problem_lines):
    sections, problems = ini.parse(text)
    assert [p.lineno for p in problems] == problem_lines
    assert all(p.message for p in problems)


@pytest.mark.parametrize("text, section, key, value, index, expected", ids=text_id, argvalues=[
    # Replace: only the value changes, spelling and blanks stay.
    (NM_KEYFILE, "ipv4", "method", "auto", 0, NM_KEYFILE.replace("method=manual", "method=auto")),
    (NETWORKD, "Network", "DHCP", "yes", 0, NETWORKD.replace("DHCP=no", "DHCP=yes")),
    (LINK, "Link", "Name", "eth0", 0, LINK.replace("Name = lan0", "Name = eth0")),
    ("[S]\nk = v   \n", "S", "k", "w", 0, "[S]\nk = w   \n"),
    ("[S]\nk=\n", "S", "k", "v", 0, "[S]\nk=v\n"),
    # The last of repeated keys changes.
    (NETWORKD, "Network", "DNS", "8.8.8.8", 0, NETWORKD.replace("DNS=1.1.1.1", "DNS=8.8.8.8")),
    # Section occurrence chosen by index.
    (NETWORKD, "Address", "Address", "10.0.0.2/8", 1,
     NETWORKD.replace("Address=192.168.1.11/24", "Address=10.0.0.2/8")),
    # Absent key: after the section's last entry, before its blank line.
    (NM_KEYFILE, "ethernet", "mtu", "1500", 0,
     NM_KEYFILE.replace("56\n\n[ipv4]", "56\nmtu=1500\n\n[ipv4]")),
    (NM_KEYFILE, "proxy", "method", "none", 0, NM_KEYFILE + "method=none\n"),
    (NETWORKD, "Address", "Label", "x", 0,
     NETWORKD.replace("10/24\n", "10/24\nLabel=x\n")),
    ("[A]\n# comment\n\n[B]\n", "A", "k", "v", 0, "[A]\nk=v\n# comment\n\n[B]\n"),
    ("k0=v\n[A]\n", "", "k", "v", 0, "k0=v\nk=v\n[A]\n"),
    # Absent section: appended.
    (NETWORKD, "Route", "Gateway", "10.0.0.1", 0, NETWORKD + "\n[Route]\nGateway=10.0.0.1\n"),
    (NETWORKD, "Address", "Address", "10.0.0.3/8", 2, NETWORKD + "\n[Address]\nAddress=10.0.0.3/8\n"),
    ("[A]\nk=v\n\n", "B", "k", "v", 0, "[A]\nk=v\n\n[B]\nk=v\n"),
    ("", "Network", "DHCP", "yes", 0, "[Network]\nDHCP=yes\n"),
    ("[A]\n", "", "k", "v", 0, "k=v\n[A]\n"),
    # CRLF and a missing final newline survive.
    ("[A]\r\nk=1\r\n[B]\r\nx=2", "A", "k", "3", 0, "[A]\r\nk=3\r\n[B]\r\nx=2"),
    ("[A]\r\nk=1\r\n[B]\r\nx=2", "B", "y", "3", 0, "[A]\r\nk=1\r\n[B]\r\nx=2\r\ny=3"),
    ("[A]\r\nk=1", "B", "y", "3", 0, "[A]\r\nk=1\r\n\r\n[B]\r\ny=3\r\n"),
    ("[A]", "A", "k", "v", 0, "[A]\nk=v"),
])
def test_set_key(text, section, key, value, index, expected):
    edited = ini.set_key(text, section, key, value, section_index=index)
    assert edited == expected
    sections, problems = ini.parse(edited)
    assert problems == []
    chosen = [s for s in sections if s.name == section][index]
    assert [e.value for e in chosen.entries if e.key == key][-1] == value
    assert ini.set_key(edited, section, key, value, section_index=index) == edited


@pytest.mark.parametrize("key, value, index", [
    ("k", "two\nlines", 0), ("", "v", 0), ("a=b", "v", 0), ("[x", "v", 0), ("k", "v", 5),
    (" k", "v", 0), ("k", "v ", 0), ("k", "\tv", 0),
])
def test_set_key_rejects_what_cannot_be_written(key, value, index):
    with pytest.raises(ValueError):
        ini.set_key("[A]\nk=v\n", "A", key, value, section_index=index)


def test_comment_out_entries_drops_static_addressing():
    text = NM_KEYFILE.replace("\n", "\r\n")

    def static(section, key, value):
        return (section, key) == ("ethernet", "mac-address") or (
            section == "ipv4" and key.startswith("address"))

    edited = ini.comment_out_entries(text, static)
    expected = (text.replace("mac-address=", DISABLED_PREFIX + "mac-address=")
                .replace("address1=", DISABLED_PREFIX + "address1="))
    assert edited == expected
    assert ini.comment_out_entries(edited, static) == edited
    sections, problems = ini.parse(edited)
    assert problems == []
    assert ini.values(sections, "ethernet", "mac-address") == []
    assert ini.values(sections, "ipv4", "method") == ["manual"]


def test_comment_out_entries_uses_values_and_repeated_sections():
    edited = ini.comment_out_entries(
        NETWORKD, lambda section, key, value: value.startswith("192.168.1.1"))
    lines = edited.split("\n")
    commented = [n for n, line in enumerate(lines, 1) if line.startswith(DISABLED_PREFIX)]
    assert commented == [7, 8, 12, 15]
    assert ini.comment_out_entries(NETWORKD, lambda *args: False) == NETWORKD
