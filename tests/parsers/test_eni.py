"""ifupdown /etc/network/interfaces: parsing what installers write, and the DHCP conversion."""
import pytest

from agent.parsers import DISABLED_PREFIX, ParseProblem
from agent.parsers import eni

# As written by the Debian 10-12 installer (netcfg) for a static address.
DEBIAN_INSTALLER = """\
# This file describes the network interfaces available on your system
# and how to activate them. For more information, see interfaces(5).

source /etc/network/interfaces.d/*

# The loopback network interface
auto lo
iface lo inet loopback

# The primary network interface
allow-hotplug ens3
iface ens3 inet static
\taddress 192.168.122.10
\tnetmask 255.255.255.0
\tgateway 192.168.122.1
\t# dns-* options are implemented by the resolvconf package, if installed
\tdns-nameservers 192.168.122.1
\tdns-search example.com
"""

DEBIAN_INSTALLER_DHCP = """\
# This file describes the network interfaces available on your system
# and how to activate them. For more information, see interfaces(5).

source /etc/network/interfaces.d/*

# The loopback network interface
auto lo
iface lo inet loopback

# The primary network interface
allow-hotplug ens3
# guestprep disabled: iface ens3 inet static
iface ens3 inet dhcp
# guestprep disabled: \taddress 192.168.122.10
# guestprep disabled: \tnetmask 255.255.255.0
# guestprep disabled: \tgateway 192.168.122.1
\t# dns-* options are implemented by the resolvconf package, if installed
# guestprep disabled: \tdns-nameservers 192.168.122.1
# guestprep disabled: \tdns-search example.com
"""

# CIDR address, MAC pinning and the generic hooks a user adds by hand.
CIDR = """\
auto lo eth0
iface lo inet loopback

iface eth0 inet static
    address 10.0.0.5/24
    gateway 10.0.0.1
    hwaddress ether 52:54:00:12:34:56
    mtu 1450
    pre-up /sbin/ethtool -K eth0 tso off
    post-up ip route add 172.16.0.0/12 via 10.0.0.254
    up echo up

iface eth0 inet6 static
    address 2001:db8::5/64
    gateway 2001:db8::1
"""

CIDR_DHCP = """\
auto lo eth0
iface lo inet loopback

# guestprep disabled: iface eth0 inet static
iface eth0 inet dhcp
# guestprep disabled:     address 10.0.0.5/24
# guestprep disabled:     gateway 10.0.0.1
# guestprep disabled:     hwaddress ether 52:54:00:12:34:56
    mtu 1450
    pre-up /sbin/ethtool -K eth0 tso off
    post-up ip route add 172.16.0.0/12 via 10.0.0.254
    up echo up

iface eth0 inet6 static
    address 2001:db8::5/64
    gateway 2001:db8::1
"""

CONTINUED = """\
auto eth0
iface eth0 inet \\
  static
address 192.168.1.10/24
  dns-nameservers 192.168.1.1 \\
     8.8.8.8
  up ip route add 10.0.0.0/8 \\
     via 192.168.1.254
"""

CONTINUED_DHCP = """\
auto eth0
# guestprep disabled: iface eth0 inet \\
iface eth0 inet dhcp
# guestprep disabled:   static
# guestprep disabled: address 192.168.1.10/24
# guestprep disabled:   dns-nameservers 192.168.1.1 \\
# guestprep disabled:      8.8.8.8
  up ip route add 10.0.0.0/8 \\
     via 192.168.1.254
"""

MISC = """\
mapping eth0 eth1
    script /usr/local/sbin/map-scheme
    map HOME eth0-home
    map WORK eth0-work

allow-hotplug eth2 eth3
allow-ovs br0
no-auto-down eth0
no-scripts eth1
source-directory /etc/network/interfaces.d
source-dir interfaces.more
source /etc/network/extra/*.cfg
"""


def _untouched(text):
    """Lines guestprep neither added nor commented out."""
    return [line for line in text.splitlines(True) if not line.startswith(DISABLED_PREFIX)]


def test_parse_debian_installer():
    stanzas, problems = eni.parse(DEBIAN_INSTALLER)
    assert problems == []
    assert [s.kind for s in stanzas] == ["source", "auto", "iface", "allow", "iface"]
    source, auto, lo, hotplug, ens3 = stanzas
    assert source.pattern == "/etc/network/interfaces.d/*"
    assert (auto.names, lo.ifname, lo.family, lo.method) == (("lo",), "lo", "inet", "loopback")
    assert (hotplug.names, hotplug.allow_class, hotplug.lineno) == (("ens3",), "hotplug", 11)
    assert (ens3.ifname, ens3.family, ens3.method) == ("ens3", "inet", "static")
    assert (ens3.lineno, ens3.end_lineno) == (12, 18)
    assert ens3.raw == DEBIAN_INSTALLER.split("allow-hotplug ens3\n")[1]
    assert [(o.lineno, o.key, o.value) for o in ens3.options] == [
        (13, "address", "192.168.122.10"),
        (14, "netmask", "255.255.255.0"),
        (15, "gateway", "192.168.122.1"),
        (17, "dns-nameservers", "192.168.122.1"),
        (18, "dns-search", "example.com"),
    ]


def test_to_dhcp_debian_installer():
    out = eni.to_dhcp(DEBIAN_INSTALLER, "ens3")
    assert out == DEBIAN_INSTALLER_DHCP
    # Every line but the stanza's header and static options is byte-identical.
    original = DEBIAN_INSTALLER.splitlines(True)
    assert _untouched(out) == original[:11] + ["iface ens3 inet dhcp\n", original[15]]
    stanzas, problems = eni.parse(out)
    assert problems == []
    ens3 = eni.find_ifaces(stanzas, "ens3")[0]
    assert ens3.method == "dhcp" and ens3.options == ()


def test_to_dhcp_is_idempotent():
    for text, ifname in ((DEBIAN_INSTALLER, "ens3"), (CIDR, "eth0"), (CONTINUED, "eth0")):
        once = eni.to_dhcp(text, ifname)
        assert once != text
        assert eni.to_dhcp(once, ifname) == once


def test_to_dhcp_keeps_generic_options_and_other_family():
    out = eni.to_dhcp(CIDR, "eth0")
    assert out == CIDR_DHCP
    original = CIDR.splitlines(True)
    assert _untouched(out) == original[:3] + ["iface eth0 inet dhcp\n"] + original[7:]
    options = eni.find_ifaces(eni.parse(out)[0], "eth0", "inet")[0].options
    assert [o.key for o in options] == ["mtu", "pre-up", "post-up", "up"]


def test_to_dhcp_inet6_only_touches_inet6():
    out = eni.to_dhcp(CIDR, "eth0", family="inet6")
    assert out == CIDR.replace(
        "iface eth0 inet6 static\n    address 2001:db8::5/64\n    gateway 2001:db8::1\n",
        "# guestprep disabled: iface eth0 inet6 static\niface eth0 inet6 dhcp\n"
        "# guestprep disabled:     address 2001:db8::5/64\n# guestprep disabled:     gateway 2001:db8::1\n")


def test_parse_continuation_lines():
    stanzas, problems = eni.parse(CONTINUED)
    assert problems == []
    eth0 = stanzas[1]
    assert (eth0.kind, eth0.ifname, eth0.family, eth0.method) == ("iface", "eth0", "inet", "static")
    assert (eth0.lineno, eth0.end_lineno) == (2, 8)
    assert [(o.lineno, o.end_lineno, o.key, o.value.split()) for o in eth0.options] == [
        (4, 4, "address", ["192.168.1.10/24"]),
        (5, 6, "dns-nameservers", ["192.168.1.1", "8.8.8.8"]),
        (7, 8, "up", ["ip", "route", "add", "10.0.0.0/8", "via", "192.168.1.254"]),
    ]


def test_to_dhcp_continuation_lines():
    assert eni.to_dhcp(CONTINUED, "eth0") == CONTINUED_DHCP


def test_parse_misc_stanzas():
    stanzas, problems = eni.parse(MISC)
    assert problems == []
    assert [(s.kind, s.lineno) for s in stanzas] == [
        ("mapping", 1), ("allow", 6), ("allow", 7), ("no-auto-down", 8), ("no-scripts", 9),
        ("source-directory", 10), ("source-directory", 11), ("source", 12)]
    mapping = stanzas[0]
    assert mapping.names == ("eth0", "eth1") and mapping.end_lineno == 4
    assert [(o.key, o.value) for o in mapping.options] == [
        ("script", "/usr/local/sbin/map-scheme"), ("map", "HOME eth0-home"), ("map", "WORK eth0-work")]
    assert (stanzas[1].names, stanzas[1].allow_class) == (("eth2", "eth3"), "hotplug")
    assert (stanzas[2].names, stanzas[2].allow_class) == (("br0",), "ovs")
    assert stanzas[3].names == ("eth0",) and stanzas[4].names == ("eth1",)
    assert [s.pattern for s in stanzas[5:]] == [
        "/etc/network/interfaces.d", "interfaces.more", "/etc/network/extra/*.cfg"]


def test_option_lines_ignore_indentation_and_comments_do_not_end_a_stanza():
    text = "iface eth0 inet static\naddress 10.1.1.1\n\n# a comment\n      netmask 255.0.0.0\n# trailing\n"
    stanzas, problems = eni.parse(text)
    assert problems == []
    assert [(o.lineno, o.key) for o in stanzas[0].options] == [(2, "address"), (5, "netmask")]
    assert stanzas[0].end_lineno == 5


def test_hash_inside_a_line_is_not_a_comment():
    stanzas, _ = eni.parse("iface eth0 inet static\n address 10.1.1.1 # old\n")
    assert stanzas[0].options[0].value == "10.1.1.1 # old"


def test_already_dhcp_is_unchanged():
    text = "auto eth0\niface eth0 inet dhcp\n  mtu 1500\n"
    assert eni.to_dhcp(text, "eth0") == text


def test_dhcp_with_pinned_mac_loses_the_pin():
    text = "iface eth0 inet dhcp\n  hwaddress ether 00:16:3e:00:00:01\n  hostname vm1\n"
    out = eni.to_dhcp(text, "eth0")
    assert out == ("iface eth0 inet dhcp\n# guestprep disabled:   hwaddress ether 00:16:3e:00:00:01\n"
                   "  hostname vm1\n")
    assert eni.to_dhcp(out, "eth0") == out


def test_secondary_static_stanzas_of_the_interface_are_disabled_whole():
    text = ("iface eth0 inet static\n  address 10.0.0.5/24\n  gateway 10.0.0.1\n\n"
            "# second address\niface eth0 inet static\n  address 10.0.0.6/24\n\n"
            "iface eth1 inet static\n  address 10.9.0.5/24\n")
    out = eni.to_dhcp(text, "eth0")
    assert out == (
        "# guestprep disabled: iface eth0 inet static\niface eth0 inet dhcp\n"
        "# guestprep disabled:   address 10.0.0.5/24\n# guestprep disabled:   gateway 10.0.0.1\n\n"
        "# second address\n# guestprep disabled: iface eth0 inet static\n"
        "# guestprep disabled:   address 10.0.0.6/24\n\n"
        "iface eth1 inet static\n  address 10.9.0.5/24\n")
    assert eni.to_dhcp(out, "eth0") == out


def test_manual_method_becomes_dhcp():
    assert eni.to_dhcp("iface ens5 inet manual\n", "ens5") == (
        "# guestprep disabled: iface ens5 inet manual\niface ens5 inet dhcp\n")


def test_crlf_and_missing_final_newline_survive():
    text = "auto eth0\r\niface eth0 inet static\r\n  address 10.0.0.5/24\r\n  mtu 9000"
    assert eni.to_dhcp(text, "eth0") == (
        "auto eth0\r\n# guestprep disabled: iface eth0 inet static\r\niface eth0 inet dhcp\r\n"
        "# guestprep disabled:   address 10.0.0.5/24\r\n  mtu 9000")


def test_header_spacing_is_kept():
    assert eni.to_dhcp("  iface  eth0\tinet   static  \n", "eth0") == (
        "# guestprep disabled:   iface  eth0\tinet   static  \n  iface  eth0\tinet   dhcp  \n")


@pytest.mark.parametrize("ifname, family", [("eth9", "inet"), ("eth0", "inet6"), ("eth0:1", "inet")])
def test_to_dhcp_missing_stanza_raises(ifname, family):
    with pytest.raises(ValueError):
        eni.to_dhcp("auto eth0\niface eth0 inet static\n address 10.0.0.5/24\n", ifname, family)


def test_to_dhcp_refuses_the_loopback():
    with pytest.raises(ValueError):
        eni.to_dhcp(DEBIAN_INSTALLER, "lo")


def test_static_options_are_deliberate():
    for key in ("address", "netmask", "gateway", "hwaddress", "dns-nameservers", "dns-search", "dns-domain"):
        assert eni.is_static_option(key)
    for key in ("mtu", "metric", "pre-up", "post-up", "up", "down", "hostname", "bond-slaves"):
        assert not eni.is_static_option(key)


@pytest.mark.parametrize("text, stanza_count, problem_lines", [
    ("", 0, []),
    ("\n\n   \n# only comments\n", 0, []),
    ("\x00\x00\x00", 0, [1]),
    ("iface eth0 inet static\n address\x00 10.0.0.1\n\x00garbage\n", 1, [3]),
    ("address 10.0.0.1\n", 0, [1]),
    ("auto eth0\n  address 10.0.0.1\n", 1, [2]),
    ("source /etc/network/interfaces.d/*\nnetmask 255.0.0.0\n", 1, [2]),
    ("iface\n address 10.0.0.1\n", 1, [1]),
    ("iface eth0 inet\n", 1, [1]),
    ("iface eth0 ipv4 static\n", 1, [1]),
    ("iface eth0 inet static extra words\n", 1, [1]),
    ("auto\nsource\n", 2, [1, 2]),
    ("iface eth0 inet static\n  mtu\n", 1, [2]),
    ("iface eth0 inet static\n  address 10.0.0.1 \\", 1, []),
    ("\\\n\\\n", 0, []),
    ("\r\n\r\n", 0, []),
    ("\u2028iface eth0 inet dhcp\x0c\n", 1, []),
])
def test_garbage_never_raises(text, stanza_count, problem_lines):
    stanzas, problems = eni.parse(text)
    assert len(stanzas) == stanza_count
    assert [p.lineno for p in problems] == problem_lines
    assert all(isinstance(p, ParseProblem) and p.message for p in problems)


def test_option_outside_stanza_does_not_attach_to_previous_iface():
    stanzas, problems = eni.parse("iface eth0 inet dhcp\nauto eth0\n address 10.0.0.1\n")
    assert stanzas[0].options == () and stanzas[0].end_lineno == 1
    assert problems == [ParseProblem(3, "option outside an iface or mapping stanza: 'address 10.0.0.1'")]
