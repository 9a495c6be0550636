"""Every interface configuration in the guest, whatever tool wrote it.

ECS gives an instance its address by DHCP and supports one NIC (seed 000,
"ネットワーク": 動的ホスト構成プロトコル (DHCP) を有効にします; 003:
GUESTOS.Dhcp). A NIC left with the address of the network the image came
from, or bound to the MAC address of the old NIC, leaves the imported
instance unreachable, and there is no console login to repair it. Images
carry such configuration in six formats, often two at once (an Ubuntu server
with netplan and a NetworkManager profile), so the DHCP check and its fix
need one view of all of them: this module reads them through ``Root`` (never
the host's files) and returns plain data; it never writes.

Only the directories an image carries are read. /run/* (netplan,
NetworkManager, systemd-networkd) is a tmpfs filled at boot, empty in an
image; /lib and /usr/lib hold the distribution's own defaults (networkd's
80-container-*.network, NetworkManager's vendor profiles), which are DHCP or
for containers, and which a package upgrade would overwrite anyway. What the
installer, cloud-init or an administrator wrote is under /etc.
"""
import fnmatch
import re
from typing import NamedTuple, Optional, Tuple

from agent.parsers import eni, ini, keyvalue, netplan, udev_rules
from agent.rootfs import RootError

RHEL_IFCFG_DIR = "/etc/sysconfig/network-scripts"
SUSE_DIR = "/etc/sysconfig/network"
ENI = "/etc/network/interfaces"
NETPLAN_DIR = "/etc/netplan"
NM_DIR = "/etc/NetworkManager/system-connections"
NETWORKD_DIR = "/etc/systemd/network"
UDEV_RULES = "/etc/udev/rules.d/70-persistent-net.rules"

# fmt -> how a person calls the format, in summaries ("... (ifupdown)").
LABELS = {
    "ifcfg": "ifcfg",
    "suse-ifcfg": "SUSE ifcfg",
    "suse-routes": "SUSE routes",
    "ifupdown": "ifupdown",
    "netplan": "netplan",
    "networkmanager": "NetworkManager",
    "networkd": "systemd-networkd",
    "udev": "udev",
}

# What was looked at, for the report when nothing is found.
LOOKED_AT = (
    "ifcfg (" + RHEL_IFCFG_DIR + "/ifcfg-*)",
    "SUSE ifcfg (" + SUSE_DIR + "/ifcfg-*, routes, ifroute-*)",
    "ifupdown (" + ENI + " and the files it sources)",
    "netplan (" + NETPLAN_DIR + "/*.yaml)",
    "NetworkManager (" + NM_DIR + "/*)",
    "systemd-networkd (" + NETWORKD_DIR + "/*.network)",
    "udev (" + UDEV_RULES + ")",
)

# initscripts (is_ignored_file) and wicked skip editor and package-manager
# leftovers, so a static ifcfg-eth0.bak configures nothing.
_IGNORED_SUFFIXES = ("~", ".bak", ".old", ".orig", ".rpmnew", ".rpmorig", ".rpmsave", ".swp",
                     ".tmp", ".rej", ".save", ".dpkg-old", ".dpkg-new", ".dpkg-dist", ".dpkg-tmp")
# ifupdown's source-directory takes run-parts names only (interfaces(5)).
_RUN_PARTS_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
_MAC = re.compile(r"^[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5}$")
_NM_TYPES = ("ethernet", "802-3-ethernet", "bond", "bridge", "vlan", "team")
_DHCP_WORDS = ("yes", "true", "on", "1", "ipv4", "both", "v4")
_DEFAULT_DESTINATIONS = ("default", "0.0.0.0", "0.0.0.0/0", "::/0", "::")


class IfaceConfig(NamedTuple):
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
    """

    path: str
    fmt: str
    name: Optional[str]
    method: str
    pattern: str = ""
    addresses: Tuple[str, ...] = ()
    gateway: str = ""
    macs: Tuple[str, ...] = ()
    set_mac: str = ""
    ref: str = ""
    lineno: int = 0

    @property
    def label(self):
        return LABELS[self.fmt]

    @property
    def pinned(self):
        return bool(self.macs or self.set_mac)

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


class Problem(NamedTuple):
    path: str
    message: str


class Found(NamedTuple):
    configs: list   # [IfaceConfig], udev pins included (fmt 'udev')
    problems: list  # [Problem]


def _ignored(name):
    return name.startswith(".") or name.endswith(_IGNORED_SUFFIXES)


def _masked(root, path):
    """A file symlinked to /dev/null is how a vendor file is disabled: it configures nothing."""
    try:
        return root.islink(path) and root.readlink(path) == "/dev/null"
    except (OSError, RootError):
        return False


def _read(root, path, problems):
    """Text of a configuration file, or None after recording why it cannot be read."""
    if _masked(root, path):
        return None
    try:
        return root.read_config(path)
    except RootError as e:
        problems.append(Problem(path, "cannot be read: " + e.reason))
    except (OSError, UnicodeError) as e:
        problems.append(Problem(path, "cannot be read: {}".format(e)))
    return None


def _glob(root, pattern, problems):
    try:
        return [p for p in root.glob(pattern) if not _ignored(p.rsplit("/", 1)[1])]
    except RootError as e:
        problems.append(Problem(pattern.rsplit("/", 1)[0], "cannot be listed: " + e.reason))
        return []


def _parse_problems(path, parse_problems, problems, what):
    for problem in parse_problems:
        if problem.message == netplan.MISSING_YAML:  # not the file's fault: no line to name
            problems.append(Problem(path, problem.message))
            continue
        # PyYAML repeats the position (already in lineno) against a "<unicode string>".
        message = re.sub(r'\s*in "<unicode string>", line \d+, column \d+:?.*$', "", problem.message)
        problems.append(Problem(path, "line {}: {} ({})".format(problem.lineno, message, what)))


def _mac(value):
    value = (value or "").strip()
    return value.lower().replace("-", ":") if _MAC.match(value) else ""


# -- RHEL and SUSE ifcfg -------------------------------------------------------

def _addresses(assignments, prefix):
    key = re.compile(prefix + r"(_?[A-Za-z0-9]+)?$")
    return tuple(a.value for a in assignments if key.match(a.key) and a.value)


def _ifcfg(root, path, suse, problems):
    text = _read(root, path, problems)
    if text is None:
        return []
    assignments, parse_problems = keyvalue.parse(text)
    _parse_problems(path, parse_problems, problems, "shell KEY=value")
    get = lambda key: (keyvalue.get(assignments, key) or "").strip()  # noqa: E731
    suffix = path.rsplit("/", 1)[1][len("ifcfg-"):]
    # SUSE names the interface by the file only; initscripts prefer DEVICE=.
    name = suffix if suse else (get("DEVICE") or suffix)
    alias = ":" in name
    name = name.split(":", 1)[0]
    if not name or name == "lo" or get("TYPE").lower() == "loopback":
        return []
    bootproto = get("BOOTPROTO").lower()
    addresses = _addresses(assignments, "IPADDR")
    # SUSE keeps the gateway in routes/ifroute-* (read separately).
    gateways = () if suse else tuple(a.value for a in assignments
                                     if re.match(r"GATEWAY\d*$", a.key) and a.value)
    gateway = gateways[0] if gateways else ""
    if suse:
        # 'dhcp' is both families, 'dhcp4' and 'dhcp+autoip' IPv4; 'dhcp6' gives no IPv4.
        dhcp = bootproto in ("dhcp", "dhcp4", "dhcp+autoip")
    else:
        dhcp = bootproto in ("dhcp", "bootp")
    if addresses or (gateway and not dhcp):
        method = "static"
    else:
        method = "dhcp" if dhcp and not alias else "none"
    macs = () if suse else tuple(m for m in (_mac(get("HWADDR")),) if m)
    set_mac = _mac(get("LLADDR") if suse else get("MACADDR"))
    return [IfaceConfig(path, "suse-ifcfg" if suse else "ifcfg", name, method, addresses=addresses,
                        gateway=gateway, macs=macs, set_mac=set_mac, ref="alias" if alias else "")]


def _rhel_gatewaydev(root, problems):
    """GATEWAYDEV= in /etc/sysconfig/network names the interface of the default route."""
    text = _read(root, "/etc/sysconfig/network", problems) if root.isfile("/etc/sysconfig/network") else None
    if text is None:
        return ""
    return (keyvalue.get(keyvalue.parse(text)[0], "GATEWAYDEV") or "").strip()


def suse_default_routes(text):
    """[(lineno, gateway, interface or None)] of the default routes in a SUSE routes file.

    routes(5): DESTINATION GATEWAY NETMASK INTERFACE [TYPE] [OPTIONS]; '-'
    stands for an empty column, and a route without an interface goes to
    the interface whose network holds the gateway.
    """
    found = []
    for lineno, line in enumerate(text.split("\n"), 1):
        words = line.split("#", 1)[0].split()
        if len(words) < 2 or words[0] not in _DEFAULT_DESTINATIONS:
            continue
        if words[0] in ("0.0.0.0", "::") and len(words) > 2 and words[2] not in ("-", "0.0.0.0", "0"):
            continue
        iface = words[3] if len(words) > 3 and words[3] != "-" else None
        found.append((lineno, words[1], iface))
    return found


def _suse_routes(root, path, problems):
    text = _read(root, path, problems)
    if text is None:
        return []
    base = path.rsplit("/", 1)[1]
    owner = base[len("ifroute-"):] if base.startswith("ifroute-") else None
    return [IfaceConfig(path, "suse-routes", iface or owner, "static", gateway=gw, lineno=lineno)
            for lineno, gw, iface in suse_default_routes(text) if (iface or owner) != "lo"]


# -- ifupdown ------------------------------------------------------------------

def _has_magic(part):
    return any(c in part for c in "*?[")


def expand(root, pattern):
    """Guest paths matching a shell glob whose wildcards may be in any component.

    ``root.glob`` takes wildcards in the last component only, so the pattern
    is expanded one component at a time; dot files match only a pattern
    that starts with a dot, as in the shell.
    """
    paths = ["/"]
    for part in [p for p in pattern.split("/") if p]:
        following = []
        for base in paths:
            prefix = base.rstrip("/") + "/"
            if _has_magic(part):
                following.extend(p for p in root.glob(prefix + part)
                                 if part.startswith(".") or not p.rsplit("/", 1)[1].startswith("."))
            else:
                following.append(prefix + part)
        paths = following
    return [p for p in paths if root.lexists(p)]


def _eni(root, path, problems, seen, depth=0):
    if path in seen or depth > 10:
        if depth > 10:
            problems.append(Problem(path, "sources are nested too deeply (a loop?)"))
        return []
    seen.add(path)
    text = _read(root, path, problems)
    if text is None:
        return []
    stanzas, parse_problems = eni.parse(text)
    _parse_problems(path, parse_problems, problems, "interfaces(5)")
    configs = []
    here = path.rsplit("/", 1)[0] or "/"
    for stanza in stanzas:
        if stanza.kind in ("source", "source-directory") and stanza.pattern:
            # interfaces(5): a relative path is relative to the directory of
            # the file holding the keyword (/etc/network for the main file).
            pattern = stanza.pattern if stanza.pattern.startswith("/") else here + "/" + stanza.pattern
            try:
                matches = expand(root, pattern)
                if stanza.kind == "source-directory":
                    matches = [d + "/" + n for d in matches if root.isdir(d)
                               for n in root.listdir(d) if _RUN_PARTS_NAME.match(n)]
            except RootError as e:
                problems.append(Problem(path, "line {}: cannot expand {!r}: {}".format(
                    stanza.lineno, stanza.pattern, e.reason)))
                continue
            for included in matches:
                configs.extend(_eni(root, included, problems, seen, depth + 1))
        elif (stanza.kind == "iface" and stanza.family == "inet" and stanza.ifname
              and stanza.ifname != "lo" and stanza.method != "loopback"):
            options = dict((o.key, o.value) for o in stanza.options)
            method = {"static": "static", "dhcp": "dhcp", "bootp": "dhcp"}.get(stanza.method, "none")
            hwaddress = (options.get("hwaddress") or "").split()
            configs.append(IfaceConfig(
                path, "ifupdown", stanza.ifname, method,
                addresses=tuple(o.value for o in stanza.options if o.key == "address"),
                gateway=options.get("gateway", "") if method == "static" else "",
                set_mac=_mac(hwaddress[-1]) if hwaddress else "", lineno=stanza.lineno))
    return configs


# -- netplan -------------------------------------------------------------------

def _yaml_mac(value):
    """A MAC address from a netplan document.

    YAML 1.1 reads an unquoted 52:54:00:12:34:56 as a base-60 integer (each
    group below 60), which PyYAML does and netplan does not: turn it back.
    """
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        groups = []
        while value:
            value, group = divmod(value, 60)
            groups.insert(0, "%02d" % group)
        value = ":".join(["00"] * (6 - len(groups)) + groups)
    return _mac(str(value)) if value is not None else ""


def _netplan(root, path, problems):
    text = _read(root, path, problems)
    if text is None:
        return []
    doc, parse_problems = netplan.parse(text)
    _parse_problems(path, parse_problems, problems, "netplan YAML")
    if doc is None:
        return []
    configs = []
    for device in netplan.interfaces(doc):
        cfg = device.config
        match = cfg.get("match") if isinstance(cfg.get("match"), dict) else None
        pattern = ""
        macs = ()
        if match is not None:
            name = cfg.get("set-name")
            match_name = match.get("name")
            if not name and isinstance(match_name, str) and match_name and not _has_magic(match_name):
                name = match_name
            elif not name and isinstance(match_name, str):
                pattern = match_name
            mac = _yaml_mac(match.get("macaddress"))
            macs = (mac or str(match.get("macaddress")),) if netplan.has_mac_match(cfg) else ()
        else:
            name = device.name
        name = str(name) if name else None
        if name == "lo":
            continue
        gateway = str(cfg.get("gateway4") or "")
        routes = cfg.get("routes") if isinstance(cfg.get("routes"), list) else []
        for route in routes:
            if netplan.is_default_route(route) and not gateway:
                gateway = str(route.get("via", ""))
        addresses = cfg.get("addresses") if isinstance(cfg.get("addresses"), list) else []
        if netplan.is_static(cfg):
            method = "static"
        else:
            method = "dhcp" if netplan.uses_dhcp4(cfg) else "none"
        configs.append(IfaceConfig(
            path, "netplan", name, method, pattern=pattern,
            addresses=tuple(str(a) if not isinstance(a, dict) else str(next(iter(a), "")) for a in addresses),
            gateway=gateway, macs=macs,
            set_mac=_yaml_mac(cfg.get("macaddress")) or str(cfg.get("macaddress") or ""), ref=device.name))
    return configs


# -- NetworkManager ------------------------------------------------------------

_NM_ADDRESS = re.compile(r"^address(es)?\d*$")
_NM_ROUTE = re.compile(r"^routes?\d*$")


def nm_is_default_route(value):
    return value.strip().split(",")[0].split(";")[0].strip() in ("0.0.0.0/0", "::/0")


def nm_sets_mac(value):
    """cloned-mac-address with an address, or 'random'/'stable', gives the NIC a MAC ECS does not know.

    'preserve' and 'permanent' keep the NIC's own MAC and are harmless.
    """
    value = value.strip().lower()
    return bool(_mac(value)) or value in ("random", "stable")


def _last(sections, section, key, default=""):
    found = ini.values(sections, section, key)
    return found[-1] if found else default


def _networkmanager(root, path, problems):
    text = _read(root, path, problems)
    if text is None:
        return []
    sections, parse_problems = ini.parse(text)
    _parse_problems(path, parse_problems, problems, "NetworkManager keyfile")
    names = set(s.name for s in sections)
    ether = "ethernet" if "ethernet" in names else "802-3-ethernet"
    kind = _last(sections, "connection", "type")
    if kind not in _NM_TYPES and not (not kind and ether in names):
        return []
    name = _last(sections, "connection", "interface-name") or None
    if name == "lo":
        return []
    method = _last(sections, "ipv4", "method", "auto").strip().lower()
    addresses, gateway = [], _last(sections, "ipv4", "gateway")
    for section in sections:
        if section.name != "ipv4":
            continue
        for entry in section.entries:
            if _NM_ADDRESS.match(entry.key) and entry.value:
                parts = entry.value.replace(";", ",").split(",")
                addresses.append(parts[0].strip())
                if len(parts) > 1 and parts[1].strip() and not gateway:
                    gateway = parts[1].strip()
            elif _NM_ROUTE.match(entry.key) and nm_is_default_route(entry.value) and not gateway:
                parts = entry.value.split(",")
                gateway = parts[1].strip() if len(parts) > 1 else ""
    if addresses or method in ("manual", "shared"):
        method = "static"
    else:
        method = "dhcp" if method == "auto" else "none"
    mac = _mac(_last(sections, ether, "mac-address"))
    cloned = _last(sections, ether, "cloned-mac-address")
    return [IfaceConfig(path, "networkmanager", name, method, addresses=tuple(addresses),
                        gateway=gateway, macs=(mac,) if mac else (),
                        set_mac=(_mac(cloned) or cloned.strip().lower()) if nm_sets_mac(cloned) else "",
                        ref=_last(sections, "connection", "id"))]


# -- systemd-networkd ----------------------------------------------------------

def networkd_default_route_sections(sections):
    """The [Route] sections that make a default route (no Destination, or 0.0.0.0/0)."""
    found = []
    for section in sections:
        if section.name != "Route":
            continue
        keys = dict((e.key, e.value) for e in section.entries)
        if keys.get("Gateway") and keys.get("Destination", "").strip() in ("",) + _DEFAULT_DESTINATIONS:
            found.append(section)
    return found


def networkd_dhcp_v4(value):
    return value.strip().lower() in _DHCP_WORDS


def _networkd(root, path, problems):
    text = _read(root, path, problems)
    if text is None:
        return []
    sections, parse_problems = ini.parse(text)
    _parse_problems(path, parse_problems, problems, "systemd-networkd")
    names = " ".join(ini.values(sections, "Match", "Name")).split()
    types = [t.strip().lower() for t in ini.values(sections, "Match", "Type")]
    if names == ["lo"] or "loopback" in types:
        return []
    name, pattern = None, " ".join(names)
    if len(names) == 1 and not _has_magic(names[0]) and not names[0].startswith("!"):
        name, pattern = names[0], ""
    macs = tuple(m for v in ini.values(sections, "Match", "MACAddress")
                 + ini.values(sections, "Match", "PermanentMACAddress")
                 for m in (_mac(word) for word in v.split()) if m)
    addresses = ini.values(sections, "Network", "Address") + ini.values(sections, "Address", "Address")
    gateways = ini.values(sections, "Network", "Gateway") + [
        dict((e.key, e.value) for e in s.entries)["Gateway"] for s in networkd_default_route_sections(sections)]
    dhcp = networkd_dhcp_v4(_last(sections, "Network", "DHCP", "no"))
    if addresses or (gateways and not dhcp):
        method = "static"
    else:
        method = "dhcp" if dhcp else "none"
    return [IfaceConfig(path, "networkd", name, method, pattern=pattern, addresses=tuple(addresses),
                        gateway=gateways[0] if gateways else "", macs=macs,
                        set_mac=_mac(_last(sections, "Link", "MACAddress")))]


# -- udev ----------------------------------------------------------------------

def _udev(root, problems):
    if not root.lexists(UDEV_RULES):
        return []
    text = _read(root, UDEV_RULES, problems)
    if text is None:
        return []
    rules, parse_problems = udev_rules.parse(text)
    _parse_problems(UDEV_RULES, parse_problems, problems, "udev rules")
    return [IfaceConfig(UDEV_RULES, "udev", rule.name, "none", macs=(rule.mac,), lineno=rule.lineno)
            for rule in rules]


# -- all together ----------------------------------------------------------------

def gather(root):
    """Every interface configuration under ``root``, and every file that could not be read."""
    configs, problems = [], []
    for path in _glob(root, RHEL_IFCFG_DIR + "/ifcfg-*", problems):
        configs.extend(_ifcfg(root, path, False, problems))
    if root.isdir(SUSE_DIR):
        for path in _glob(root, SUSE_DIR + "/ifcfg-*", problems):
            configs.extend(_ifcfg(root, path, True, problems))
        routes = [SUSE_DIR + "/routes"] if root.lexists(SUSE_DIR + "/routes") else []
        for path in routes + _glob(root, SUSE_DIR + "/ifroute-*", problems):
            configs.extend(_suse_routes(root, path, problems))
    if root.lexists(ENI):
        configs.extend(_eni(root, ENI, problems, set()))
    for path in _glob(root, NETPLAN_DIR + "/*.yaml", problems):
        configs.extend(_netplan(root, path, problems))
    for path in _glob(root, NM_DIR + "/*", problems):
        configs.extend(_networkmanager(root, path, problems))
    for path in _glob(root, NETWORKD_DIR + "/*.network", problems):
        configs.extend(_networkd(root, path, problems))
    configs.extend(_udev(root, problems))
    gatewaydev = _rhel_gatewaydev(root, problems) if root.isdir(RHEL_IFCFG_DIR) else ""
    if gatewaydev:
        configs = [c._replace(gateway=c.gateway or "GATEWAYDEV")
                   if c.fmt == "ifcfg" and c.name == gatewaydev and c.method != "none" else c
                   for c in configs]
    return Found(configs, problems)


def order_key(name):
    """Stable order of interface names: eth0, eth*, ens*, enp*, other en*, the rest; numbers numerically."""
    for rank, prefix in enumerate(("eth0", "eth", "ens", "enp", "en")):
        if name == "eth0" if prefix == "eth0" else name.startswith(prefix):
            break
    else:
        rank = 5
    return (rank, [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)])


def choose_primary(found, live=None):
    """(interface name or None, how it was chosen)."""
    if live is not None:
        name = live.default_route_interface()
        if name:
            return name, "the interface of the running system's default route"
    named = [c for c in found.configs if c.name and c.fmt != "udev"]

    def first(configs):
        return sorted(configs, key=lambda c: order_key(c.name))[0]

    prefix = "no default route on the running system, so chosen" if live is not None else "chosen offline"
    with_gateway = [c for c in named if c.gateway]
    if with_gateway:
        chosen = first(with_gateway)
        return chosen.name, "{}: the interface with the configured default gateway, in {}".format(
            prefix, chosen.path)
    addressed = [c for c in named if c.method != "none"]
    if addressed or named:
        chosen = first(addressed or named)
        return chosen.name, prefix + ": no default gateway is configured, so the first configured interface " \
                                     "in the order eth0, eth*, ens*, enp*"
    pinned = [c for c in found.configs if c.fmt == "udev"]
    if pinned:
        chosen = first(pinned)
        return chosen.name, prefix + ": the first interface named in " + UDEV_RULES
    return None, prefix + ": no configuration names an interface"


class Assessment(NamedTuple):
    primary: list   # configurations that apply to the primary NIC
    targets: list   # those the fix converts to DHCP
    others: list    # configurations of other interfaces
    udev: list      # 70-persistent-net.rules pins


def assess(found, primary):
    """Split the configurations by the primary NIC and pick what must change."""
    configs = [c for c in found.configs if c.fmt != "udev"]
    mine = [c for c in configs if c.applies_to(primary)]
    others = [c for c in configs if not c.applies_to(primary)]
    targets = [c for c in mine if c.method == "static" or c.pinned]
    if not targets and not any(c.method == "dhcp" for c in mine):
        # Nothing on the primary NIC asks for an address: on ECS it stays without one.
        targets = [c for c in mine if c.method == "none" and c.fmt != "suse-routes" and c.ref != "alias"]
    return Assessment(mine, targets, others, [c for c in found.configs if c.fmt == "udev"])
