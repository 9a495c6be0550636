"""RHEL ifcfg (/etc/sysconfig/network-scripts/ifcfg-*): read, judge, convert to DHCP, manual commands.

initscripts and NetworkManager's ifcfg-rh plugin select the interface by
DEVICE= (else the file's suffix) or HWADDR=; neither can say "any ethernet
NIC", so the converted file names the interface ECS really gives the first
NIC, eth0 (common.ECS_NAME), and loses HWADDR/MACADDR. On RHEL 8/9 a NIC with
another name is still brought up by NetworkManager's automatic DHCP profile
("Wired connection 1"), which agent.netformats.nm keeps enabled by removing
no-auto-default=* from NetworkManager.conf.
"""
import re
import shlex

from agent.core.model import Message
from agent.netformats import common
from agent.parsers import LazyPattern, keyvalue

DIR = "/etc/sysconfig/network-scripts"
FMT = "ifcfg"
LABEL = "ifcfg"
LOOKED_AT = "ifcfg (" + DIR + "/ifcfg-*)"

# Keys that only mean something with a fixed address (both families), or
# that bind the file to the old NIC (HWADDR) or give the NIC the old MAC
# (MACADDR; SUSE LLADDR). DNS*, ONBOOT, NAME, UUID and the rest stay: they
# carry the user's own setup.
STATIC_KEYS = LazyPattern(r"^(IPADDR|NETMASK|PREFIX|PREFIXLEN|GATEWAY|BROADCAST|NETWORK|IPV6ADDR|"
                         r"IPV6ADDR_SECONDARIES|IPV6_DEFAULTGW)(_?[A-Za-z0-9]+)?$|^(HWADDR|MACADDR|LLADDR)$")
_KINDS = {"ethernet": "ethernet", "bond": "bond", "bridge": "bridge", "vlan": "vlan", "team": "team"}


def addresses(assignments):
    """IPADDR*, IPV6ADDR and IPV6ADDR_SECONDARIES values (both families), in file order."""
    key = re.compile(r"^(IPADDR(_?[A-Za-z0-9]+)?|IPV6ADDR)$")
    found = [common.with_prefix(a.value, (keyvalue.get(assignments, "PREFIX" + a.key[6:])
                                          or keyvalue.get(assignments, "NETMASK" + a.key[6:]) or "").strip())
             if a.key.startswith("IPADDR") else a.value
             for a in assignments if key.match(a.key) and a.value]
    found += [word for a in assignments if a.key == "IPV6ADDR_SECONDARIES" for word in a.value.split()]
    return tuple(found)


def read_file(root, path, suse, problems):
    """[IfaceConfig] of one ifcfg file (RHEL or SUSE spelling)."""
    text = common.read(root, path, problems)
    if text is None:
        return []
    assignments, found = keyvalue.parse(text)
    common.parse_problems(path, found, problems, "shell KEY=value")
    get = lambda key: (keyvalue.get(assignments, key) or "").strip()  # noqa: E731
    suffix = path.rsplit("/", 1)[1][len("ifcfg-"):]
    # SUSE names the interface by the file only; initscripts prefer DEVICE=.
    name = suffix if suse else (get("DEVICE") or suffix)
    alias = ":" in name
    name = name.split(":", 1)[0]
    if not name or name == "lo" or get("TYPE").lower() == "loopback":
        return []
    bootproto = get("BOOTPROTO").lower()
    # SUSE keeps the gateway in routes/ifroute-* (read separately).
    gateways = () if suse else tuple(a.value for a in assignments
                                     if re.match(r"GATEWAY\d*$|IPV6_DEFAULTGW$", a.key) and a.value)
    if suse:
        # 'dhcp' is both families, 'dhcp4' and 'dhcp+autoip' IPv4; 'dhcp6' gives no IPv4.
        dhcp = bootproto in ("dhcp", "dhcp4", "dhcp+autoip")
    else:
        dhcp = bootproto in ("dhcp", "bootp")
    kind = get("TYPE").lower() or ("bond" if get("BONDING_MASTER").lower() == "yes" or get("BONDING_MODULE_OPTS")
                                   else "vlan" if get("VLAN").lower() == "yes" or get("ETHERDEVICE")
                                   else "bridge" if get("BRIDGE").lower() == "yes" else "ethernet")
    vlan = ""
    if kind == "vlan":
        vlan = "{} on {}".format(get("VLAN_ID") or name.rsplit(".", 1)[-1],
                                 get("PHYSDEV") or get("ETHERDEVICE") or name.rsplit(".", 1)[0])
    members = tuple(v.split()[0] for k, v in ((a.key, a.value) for a in assignments)
                    if re.match(r"BONDING_SLAVE_?\d+$|BRIDGE_PORTS$", k) and v.split())
    return [common.IfaceConfig(
        path, "suse-ifcfg" if suse else FMT, name,
        common.static_method(addresses(assignments), gateways, dhcp, alias),
        addresses=addresses(assignments), gateway=gateways[0] if gateways else "",
        macs=() if suse else tuple(m for m in (common.mac(get("HWADDR")),) if m),
        set_mac=common.mac(get("LLADDR") if suse else get("MACADDR")), ref="alias" if alias else "",
        kind=_KINDS.get(kind, "ethernet"),
        dns=tuple(a.value for a in assignments if re.match(r"DNS\d+$", a.key) and a.value),
        mtu=get("MTU"), members=members, vlan=vlan)]


def _gatewaydev(root, problems):
    """GATEWAYDEV= in /etc/sysconfig/network names the interface of the default route."""
    path = "/etc/sysconfig/network"
    text = common.read(root, path, problems) if root.isfile(path) else None
    if text is None:
        return ""
    return (keyvalue.get(keyvalue.parse(text)[0], "GATEWAYDEV") or "").strip()


def read(root, problems):
    configs = []
    for path in common.glob(root, DIR + "/ifcfg-*", problems):
        configs.extend(read_file(root, path, False, problems))
    gatewaydev = _gatewaydev(root, problems) if configs else ""
    if gatewaydev:
        configs = [c._replace(gateway=c.gateway or "GATEWAYDEV")
                   if c.name == gatewaydev and c.method != "none" else c for c in configs]
    # Members of a bond or bridge say so in their own file (MASTER=, BRIDGE=).
    for config in list(configs):
        if config.kind in ("bond", "bridge") and not config.members:
            members = tuple(c.name for c in configs if c.path != config.path and
                            _member_of(root, c.path) == config.name)
            configs[configs.index(config)] = config._replace(members=members)
    return configs


def _member_of(root, path):
    try:
        assignments = keyvalue.parse(root.read_config(path))[0]
    except Exception:  # pylint: disable=broad-except - already reported by read_file
        return ""
    return (keyvalue.get(assignments, "MASTER") or keyvalue.get(assignments, "BRIDGE") or "").strip()


def to_dhcp(text, suse=False, alias=False, device=None):
    """BOOTPROTO=dhcp (SUSE: 'dhcp'), the static and MAC keys commented out, DEVICE=``device``.

    An alias file (ifcfg-eth0:1) can only carry a fixed address, so it keeps
    its BOOTPROTO and only loses the address.
    """
    if not alias:
        assignments = keyvalue.parse(text)[0]
        if suse and keyvalue.get(assignments, "BOOTPROTO") is None:
            newline = "\r\n" if "\r\n" in text else "\n"
            lead = newline if text and not text.endswith("\n") else ""
            text = "{}{}BOOTPROTO='dhcp'{}".format(text, lead, newline)
        else:
            text = keyvalue.set_value(text, "BOOTPROTO", "dhcp")
        if device:
            text = keyvalue.set_value(text, "DEVICE", device)
    return keyvalue.comment_out_keys(text, lambda key: bool(STATIC_KEYS.match(key)))


def ecs_name(config):
    """The name the converted file gives the interface: eth0 for the physical NIC, its own otherwise."""
    return common.ECS_NAME if config.kind == "ethernet" and config.ref != "alias" else config.name


def steps(root, path, text, configs, primary):
    config = configs[0]
    new = to_dhcp(text, alias=config.ref == "alias", device=ecs_name(config) if config.ref != "alias" else None)
    return common.write_if_changed(path, text, new, Message("{nic} to DHCP as {name} (ifcfg)",
                                                                  nic=common.nic(primary), name=ecs_name(config)))


def commands(display, configs, primary, live):
    return ["sed -i -e 's/^BOOTPROTO=.*/BOOTPROTO=dhcp/' -e 's/^DEVICE=.*/DEVICE={}/' -e 's/^\\(IPADDR\\|NETMASK"
            "\\|PREFIX\\|GATEWAY\\|BROADCAST\\|NETWORK\\|IPV6ADDR\\|IPV6_DEFAULTGW\\|HWADDR\\|MACADDR\\)/# &/' {}"
            .format(ecs_name(configs[0]), shlex.quote(display))]
