"""NetworkManager keyfiles (/etc/NetworkManager/system-connections/*): read, judge, convert.

A profile binds to a NIC by `interface-name` ([connection]) or `mac-address`
([ethernet]); an ethernet profile with neither applies to any ethernet
device, which is how the converted profile comes up on the virtio NIC
whatever its name. `no-auto-default=*` in NetworkManager.conf (or conf.d)
stops NetworkManager from creating its automatic DHCP profile for a NIC that
no profile matches: the fix comments it out, so even a NIC the profiles miss
(an ifcfg file bound to eth0 on an image whose NIC is ens5) gets DHCP.
"""
import shlex

from agent.core.model import Message
from agent.netformats import common
from agent.parsers import LazyPattern, ini

DIR = "/etc/NetworkManager/system-connections"
CONF = "/etc/NetworkManager/NetworkManager.conf"
CONF_D = "/etc/NetworkManager/conf.d"
FMT = "networkmanager"
LABEL = "NetworkManager"
LOOKED_AT = "NetworkManager (" + DIR + "/*)"

_TYPES = {"ethernet": "ethernet", "802-3-ethernet": "ethernet", "bond": "bond", "bridge": "bridge",
          "vlan": "vlan", "team": "team"}
_ADDRESS = LazyPattern(r"^address(es)?\d*$")
_ROUTE = LazyPattern(r"^routes?\d*$")


def is_default_route(value):
    return value.strip().split(",")[0].split(";")[0].strip() in ("0.0.0.0/0", "::/0")


def sets_mac(value):
    """cloned-mac-address with an address, or 'random'/'stable', gives the NIC a MAC ECS does not know.

    'preserve' and 'permanent' keep the NIC's own MAC and are harmless.
    """
    value = value.strip().lower()
    return bool(common.mac(value)) or value in ("random", "stable")


def _family(sections, family):
    """(method, [addresses], gateway, [routes], [dns]) of [ipv4] or [ipv6]."""
    method = common.last_value(sections, family, "method", "auto").strip().lower()
    addresses, routes, gateway = [], [], common.last_value(sections, family, "gateway")
    for section in sections:
        if section.name != family:
            continue
        for entry in section.entries:
            if _ADDRESS.match(entry.key) and entry.value:
                parts = entry.value.replace(";", ",").split(",")
                addresses.append(parts[0].strip())
                if len(parts) > 1 and parts[1].strip() and not gateway:
                    gateway = parts[1].strip()
            elif _ROUTE.match(entry.key) and entry.value:
                parts = entry.value.split(",")
                if is_default_route(entry.value):
                    gateway = gateway or (parts[1].strip() if len(parts) > 1 else "")
                else:
                    routes.append(entry.value.strip())
    dns = [d.strip() for d in common.last_value(sections, family, "dns").replace(",", ";").split(";") if d.strip()]
    return method, addresses, gateway, routes, dns


def _read(root, path, problems):
    sections = common.parsed(root, path, problems, ini.parse, "NetworkManager keyfile")
    if sections is None:
        return []
    names = set(s.name for s in sections)
    ether = "ethernet" if "ethernet" in names else "802-3-ethernet"
    kind = common.last_value(sections, "connection", "type")
    if kind not in _TYPES and not (not kind and ether in names):
        return []
    if (common.last_value(sections, "connection", "slave-type")
            or common.last_value(sections, "connection", "port-type")):
        kind = "port"   # a bond or bridge member: no address of its own
    name = common.last_value(sections, "connection", "interface-name") or None
    if name == "lo":
        return []
    method4, addresses, gateway, routes, dns = _family(sections, "ipv4")
    method6, addresses6, gateway6, routes6, dns6 = _family(sections, "ipv6")
    if addresses or addresses6 or method4 in ("manual", "shared") or method6 == "manual":
        method = "static"
    else:
        method = "dhcp" if method4 == "auto" else "none"
    mac = common.mac(common.last_value(sections, ether, "mac-address"))
    cloned = common.last_value(sections, ether, "cloned-mac-address")
    vlan = ""
    if kind == "vlan":
        vlan = "{} on {}".format(common.last_value(sections, "vlan", "id"),
                                 common.last_value(sections, "vlan", "parent"))
    return [common.IfaceConfig(
        path, FMT, name, method, addresses=tuple(addresses + addresses6), gateway=gateway or gateway6,
        macs=(mac,) if mac else (),
        set_mac=(common.mac(cloned) or cloned.strip().lower()) if sets_mac(cloned) else "",
        ref=common.last_value(sections, "connection", "id"), kind=_TYPES.get(kind, "ethernet"),
        dns=tuple(dns + dns6), routes=tuple(routes + routes6),
        mtu=common.last_value(sections, ether, "mtu"), vlan=vlan)]


def read(root, problems):
    return common.read_each(root, DIR + "/*", _read, problems)


def to_dhcp(text, any_nic=True):
    """A keyfile with ipv4.method=auto (ipv6: auto when manual), no address, gateway or MAC.

    With ``any_nic`` (an ethernet profile), interface-name goes too, so the
    profile applies to any ethernet NIC. cloned-mac-address goes when it
    sets an address, 'random' or 'stable': the VPC forwards only the MAC ECS
    gave the NIC. 'preserve' and 'permanent' keep the NIC's own MAC and stay.
    """
    sections = ini.parse(text)[0]
    for family, wanted in (("ipv4", ("auto",)), ("ipv6", ("auto", "dhcp", "ignore", "disabled", "link-local"))):
        if any(s.name == family for s in sections):
            method = [e for s in sections if s.name == family for e in s.entries if e.key == "method"]
            if (not method and family == "ipv4") or (method and method[-1].value not in wanted):
                text = ini.set_key(text, family, "method", "auto")

    def disabled(section, key, value):
        if section in ("ipv4", "ipv6"):
            return bool(_ADDRESS.match(key)) or key == "gateway" or (
                bool(_ROUTE.match(key)) and is_default_route(value))
        if section in ("ethernet", "802-3-ethernet"):
            return key == "mac-address" or (key == "cloned-mac-address" and sets_mac(value))
        return any_nic and section == "connection" and key == "interface-name"

    return ini.comment_out_entries(text, disabled)


def convert(text, configs, primary):
    return to_dhcp(text, any_nic=all(c.kind == "ethernet" for c in configs))


def steps(root, path, text, configs, primary):
    return common.write_if_changed(path, text, convert(text, configs, primary),
                                   Message("{nic} to DHCP on any NIC (NetworkManager)", nic=common.nic(primary)))


def _no_auto_default(section, key, value):
    return section == "main" and key == "no-auto-default" and "*" in value.split(",")


def _confs(root, problems):
    paths = [CONF] if root.isfile(CONF) else []
    return paths + (sorted(common.glob(root, CONF_D + "/*.conf", problems)) if root.isdir(CONF_D) else [])


def makes_default_profiles(root):
    """NetworkManager is installed and gives a NIC no profile matches its own DHCP profile.

    Then a profile bound to the old name costs nothing worse than a second
    profile: "Wired connection 1" still asks for a lease on the new NIC.
    """
    if not root.isdir("/etc/NetworkManager"):
        return False
    for path in _confs(root, []):
        sections = common.parsed(root, path, [], ini.parse, "NetworkManager.conf") or []
        if any(_no_auto_default(s.name, e.key, e.value) for s in sections for e in s.entries):
            return False
    return True


def auto_default_steps(root, problems):
    """no-auto-default=* commented out in NetworkManager.conf and conf.d/*.conf (see the module doc)."""
    found = []
    for path in _confs(root, problems):
        text = common.read(root, path, problems)
        if text is None:
            continue
        new = ini.comment_out_entries(text, _no_auto_default)
        found.extend(common.write_if_changed(path, text, new,
                                             Message("let NetworkManager give any new NIC DHCP (no-auto-default=*)")))
    return found


def commands(display, configs, primary, live):
    config = configs[0]
    if live and config.ref:
        return ["nmcli connection modify {} ipv4.method auto ipv4.addresses '' ipv4.gateway '' "
                "connection.interface-name '' ethernet.mac-address '' ethernet.cloned-mac-address ''".format(
                    shlex.quote(config.ref))]
    return [Message("vi {path}  # [ipv4] method=auto; remove address1=, gateway=; [connection] remove "
                    "interface-name=; [ethernet] remove mac-address=, cloned-mac-address=", path=shlex.quote(display))]
