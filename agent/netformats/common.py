"""What every network format module shares: the record of one interface configuration, reading.

ECS gives an instance its address by DHCP and supports one NIC (seed 000,
"ネットワーク": 動的ホスト構成プロトコル (DHCP) を有効にします; 003:
GUESTOS.Dhcp). A NIC left with the address of the network the image came
from, bound to the MAC address of the old NIC, or bound to the name the old
hypervisor gave it (ens192 on VMware, enp0s3 on VirtualBox, eth0 on Xen or
Hyper-V), leaves the imported instance unreachable, and there is no console
login to repair it. Each format module (agent.netformats.<fmt>) reads its
files through ``Root`` (never the host's files) into ``IfaceConfig`` records.

Only the directories an image carries are read. /run/* (netplan,
NetworkManager, systemd-networkd) is a tmpfs filled at boot, empty in an
image; /lib and /usr/lib hold the distribution's own defaults (networkd's
80-container-*.network, NetworkManager's vendor profiles), which are DHCP or
for containers, and which a package upgrade would overwrite anyway. What the
installer, cloud-init or an administrator wrote is under /etc.
"""
import fnmatch
import re

from agent.core.model import Message, WriteFile
from agent.core.rootfs import RootError
from agent.parsers import LazyPattern, netplan
from agent.tuples import namedtuple

# initscripts (is_ignored_file) and wicked skip editor and package-manager
# leftovers, so a static ifcfg-eth0.bak configures nothing.
_IGNORED_SUFFIXES = ("~", ".bak", ".old", ".orig", ".rpmnew", ".rpmorig", ".rpmsave", ".swp",
                     ".tmp", ".rej", ".save", ".dpkg-old", ".dpkg-new", ".dpkg-dist", ".dpkg-tmp")
_MAC = LazyPattern(r"^[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5}$")
DHCP_WORDS = ("yes", "true", "on", "1", "ipv4", "both", "v4")
DEFAULT_DESTINATIONS = ("default", "0.0.0.0", "0.0.0.0/0", "::/0", "::")

# The name an ECS instance's primary NIC gets in a format that can only name
# one interface (ifcfg): eth0 is what Alibaba's own images boot with
# (net.ifnames=0) and what the kernel calls the first NIC when udev does not
# rename it. See README "DHCP that survives the rename".
ECS_NAME = "eth0"


class IfaceConfig(namedtuple("IfaceConfig", (
    "path",                   # str
    "fmt",                    # str
    "name",                   # Optional[str]
    "method",                 # str
    "pattern",                # str
    "addresses",              # Tuple[str, ...]
    "gateway",                # str
    "macs",                   # Tuple[str, ...]
    "set_mac",                # str
    "ref",                    # str
    "lineno",                 # int
    "kind",                   # str
    "dns",                    # Tuple[str, ...]
    "routes",                 # Tuple[str, ...]
    "mtu",                    # str
    "members",                # Tuple[str, ...]
    "vlan",                   # str
), pattern="", addresses=(), gateway="", macs=(), set_mac="", ref="", lineno=0, kind="ethernet", dns=(), routes=(),
    mtu="", members=(), vlan="")):
    """What one file says about one interface.

    ``name`` is the interface it configures, or None when it is selected some
    other way: by ``pattern`` (globs, space-separated, a leading ``!``
    negating them) or, with no pattern, any device of its kind (a
    NetworkManager profile without interface-name, a networkd file matching
    by MAC). ``method`` is 'dhcp', 'static' (a fixed IPv4 or IPv6 address,
    or a default gateway without DHCP) or 'none' (no IPv4 address at all).
    ``macs`` are the MAC addresses it is bound to, ``set_mac`` the one it
    gives the NIC; ``ref`` is what the format's editor needs (the netplan
    device key, the NetworkManager profile id, 'alias' for ifcfg-eth0:1).
    ``kind`` is ethernet, bond, bridge, vlan or team; ``members`` the
    interfaces a bond or bridge enslaves, ``vlan`` 'ID on LINK'. ``dns``,
    ``routes`` and ``mtu`` are recorded in the network manifest.
    ``floating`` is True when the format cannot bind the configuration to
    "any NIC" (ifcfg, SUSE ifcfg): its name must be the one ECS gives.
    """

    __slots__ = ()

    @property
    def pinned(self):
        return bool(self.macs or self.set_mac)

    @property
    def name_bound(self):
        """Bound to one interface name (not a pattern, not "any NIC")."""
        return self.name is not None

    def applies_to(self, ifname):
        """Whether this configuration may be applied to interface ``ifname``.

        With ``ifname`` None (the primary NIC is known only by MAC), only
        configurations that name no interface apply.
        """
        if self.name is not None:
            return self.name == ifname
        if ifname is None or not self.pattern:
            return True
        words = self.pattern.split()
        negate = words[0].startswith("!")
        if negate:
            words[0] = words[0][1:]
        hit = any(fnmatch.fnmatchcase(ifname, word) for word in words if word)
        return hit != negate


class Problem(namedtuple("Problem", (
    "path",                   # str
    "message",                # str
    "lineno",                 # int
), lineno=0)):
    __slots__ = ()


class Found(namedtuple("Found", (
    "configs",                # list: [IfaceConfig], udev pins included (fmt 'udev')
    "problems",               # list: [Problem]
))):
    __slots__ = ()


def ignored(name):
    return name.startswith(".") or name.endswith(_IGNORED_SUFFIXES)


def masked(root, path):
    """A file symlinked to /dev/null is how a vendor file is disabled: it configures nothing."""
    try:
        return root.islink(path) and root.readlink(path) == "/dev/null"
    except (OSError, RootError):
        return False


def read(root, path, problems):
    """Text of a configuration file, or None after recording why it cannot be read."""
    if masked(root, path):
        return None
    try:
        return root.read_config(path)
    except RootError as e:
        problems.append(Problem(path, "cannot be read: " + e.reason))
    except (OSError, UnicodeError) as e:
        problems.append(Problem(path, "cannot be read: {}".format(e)))
    return None


def glob(root, pattern, problems):
    try:
        return [p for p in root.glob(pattern) if not ignored(p.rsplit("/", 1)[1])]
    except RootError as e:
        problems.append(Problem(pattern.rsplit("/", 1)[0], "cannot be listed: " + e.reason))
        return []


def parse_problems(path, found, problems, what):
    """Record a parser's ParseProblems as Problems naming the file and line."""
    for problem in found:
        if problem.message == netplan.MISSING_YAML:  # not the file's fault: no line to name
            problems.append(Problem(path, problem.message))
            continue
        # PyYAML repeats the position (already in lineno) against a "<unicode string>".
        message = re.sub(r'\s*in "<unicode string>", line \d+, column \d+:?.*$', "", problem.message)
        problems.append(Problem(path, "line {}: {} ({})".format(problem.lineno, message, what),
                                problem.lineno))


def mac(value):
    value = (value or "").strip()
    return value.lower().replace("-", ":") if _MAC.match(value) else ""


def has_magic(part):
    return any(c in part for c in "*?[")


def static_method(addresses, gateway, dhcp, alias=False):
    """'static', 'dhcp' or 'none' from what a file sets: one rule for every format."""
    if addresses or (gateway and not dhcp):
        return "static"
    return "dhcp" if dhcp and not alias else "none"


def order_key(name):
    """Stable order of interface names: eth0, eth*, ens*, enp*, other en*, the rest; numbers numerically."""
    for rank, prefix in enumerate(("eth0", "eth", "ens", "enp", "en")):
        if name == "eth0" if prefix == "eth0" else name.startswith(prefix):
            break
    else:
        rank = 5
    return (rank, [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)])


def with_prefix(address, netmask):
    """'192.168.1.10/24' from an address and a netmask or prefix length; the address alone if either is odd."""
    if not address or "/" in address or not netmask:
        return address
    import ipaddress  # only static addresses need it (1 ms to import)
    base = u"::/" if ":" in address and "." not in netmask else u"0.0.0.0/"
    try:
        network = ipaddress.ip_network(base + netmask)
        return "{}/{}".format(address, network.prefixlen)
    except ValueError:
        return address


def read_each(root, pattern, read_file, problems):
    """[IfaceConfig] of every file matching ``pattern``, read by ``read_file(root, path, problems)``."""
    configs = []
    for path in glob(root, pattern, problems):
        configs.extend(read_file(root, path, problems))
    return configs


def nic(primary):
    """The primary NIC's name for a step's why, or a Message saying "the primary NIC"."""
    return primary or Message("the primary NIC")


def write_if_changed(path, old, new, why):
    """[WriteFile] of ``new`` when the conversion changed ``old``, else [] (a second run plans nothing)."""
    return [WriteFile(path, new.encode("utf-8", "surrogateescape"), why=why)] if new != old else []


def parsed(root, path, problems, parse, what):
    """``parse(text)``'s data for the file at ``path``, its problems recorded; None when it cannot be read."""
    text = read(root, path, problems)
    if text is None:
        return None
    data, found = parse(text)
    parse_problems(path, found, problems, what)
    return data


def last_value(sections, section, key, default=""):
    """The value an INI-style reader keeps: the last ``key`` of every ``[section]``."""
    found = [entry.value for sec in sections if sec.name == section for entry in sec.entries if entry.key == key]
    return found[-1] if found else default
