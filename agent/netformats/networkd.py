"""systemd-networkd (/etc/systemd/network/*.network): read, judge, convert to DHCP.

A .network file applies to the links its [Match] selects. The converted file
of the primary NIC matches `Name=en* eth*` (networkd's own idiom for "the
ethernet NICs", as in the 99-default and cloud images' files) instead of the
old name or MAC: eth0 on ECS and ens3/enp0s3 under qemu both match, and
docker's veth*, bridges and the loopback do not (`Type=ether` would also
take veth pairs). A bond, bridge or VLAN keeps its own [Match].
"""
import shlex

from agent.core.model import Message
from agent.netformats import common
from agent.parsers import comment_out, ini, replace_line

DIR = "/etc/systemd/network"
FMT = "networkd"
LABEL = "systemd-networkd"
LOOKED_AT = "systemd-networkd (" + DIR + "/*.network)"
ANY_NAMES = "en* eth*"


def default_route_sections(sections):
    """The [Route] sections that make a default route (no Destination, or 0.0.0.0/0)."""
    found = []
    for section in sections:
        if section.name != "Route":
            continue
        keys = dict((e.key, e.value) for e in section.entries)
        if keys.get("Gateway") and keys.get("Destination", "").strip() in ("",) + common.DEFAULT_DESTINATIONS:
            found.append(section)
    return found


def dhcp_v4(value):
    return value.strip().lower() in common.DHCP_WORDS


def _read(root, path, problems):
    sections = common.parsed(root, path, problems, ini.parse, "systemd-networkd")
    if sections is None:
        return []
    names = " ".join(ini.values(sections, "Match", "Name")).split()
    types = [t.strip().lower() for t in ini.values(sections, "Match", "Type")]
    if names == ["lo"] or "loopback" in types:
        return []
    name, pattern = None, " ".join(names)
    if len(names) == 1 and not common.has_magic(names[0]) and not names[0].startswith("!"):
        name, pattern = names[0], ""
    macs = tuple(m for v in ini.values(sections, "Match", "MACAddress")
                 + ini.values(sections, "Match", "PermanentMACAddress")
                 for m in (common.mac(word) for word in v.split()) if m)
    addresses = ini.values(sections, "Network", "Address") + ini.values(sections, "Address", "Address")
    gateways = ini.values(sections, "Network", "Gateway") + [
        dict((e.key, e.value) for e in s.entries)["Gateway"] for s in default_route_sections(sections)]
    dhcp = dhcp_v4(common.last_value(sections, "Network", "DHCP", "no"))
    defaults = default_route_sections(sections)
    routes = tuple("{} via {}".format(d.get("Destination", ""), d.get("Gateway", ""))
                   for d in (dict((e.key, e.value) for e in s.entries)
                             for s in sections if s.name == "Route" and s not in defaults))
    kind = "ethernet"
    if any(t in ("bond", "bridge", "vlan") for t in types):
        kind = [t for t in types if t in ("bond", "bridge", "vlan")][0]
    elif name and root.isfile(path[:-len(".network")] + ".netdev"):
        netdev = common.read(root, path[:-len(".network")] + ".netdev", problems) or ""
        kind = (common.last_value(ini.parse(netdev)[0], "NetDev", "Kind") or "ethernet").lower()
    return [common.IfaceConfig(
        path, FMT, name, common.static_method(addresses, gateways, dhcp), pattern=pattern,
        addresses=tuple(addresses), gateway=gateways[0] if gateways else "", macs=macs,
        set_mac=common.mac(common.last_value(sections, "Link", "MACAddress")), kind=kind,
        dns=tuple(w for v in ini.values(sections, "Network", "DNS") for w in v.split()), routes=routes,
        mtu=common.last_value(sections, "Link", "MTUBytes"),
        members=tuple(ini.values(sections, "Network", "Bond") + ini.values(sections, "Network", "Bridge")),
        vlan=" ".join(ini.values(sections, "Network", "VLAN")))]


def read(root, problems):
    return common.read_each(root, DIR + "/*.network", _read, problems)


def to_dhcp(text, match=None):
    """A .network file with DHCP for IPv4 and no fixed address, gateway or MAC.

    DHCP=ipv4 (or yes) stays as it is; anything else becomes DHCP=yes, the
    value a networkd cloud image uses. Whole [Address] and default [Route]
    sections are commented out, not only their Address=/Gateway= (a [Route]
    left with Metric= alone would still make an on-link default route).
    With ``match`` (an ethernet NIC), [Match] Name= and MACAddress= make way
    for one `Name=<match>` line, so the file applies to any NIC so named;
    without it, MACAddress= goes when a Name= still selects the interface,
    else it becomes Type=ether, because a file whose [Match] is empty is
    ignored by networkd.
    """
    sections = ini.parse(text)[0]
    if not dhcp_v4(([""] + ini.values(sections, "Network", "DHCP"))[-1]):
        text = ini.set_key(text, "Network", "DHCP", "yes")
        sections = ini.parse(text)[0]
    routes = default_route_sections(sections)
    has_name = bool(ini.values(sections, "Match", "Name"))
    disable, select = [], []
    for section in sections:
        for entry in section.entries:
            if section.name == "Network" and entry.key in ("Address", "Gateway"):
                disable.append(entry.lineno)
            elif section.name == "Address" or section in routes:
                disable.append(entry.lineno)
            elif section.name == "Match" and entry.key in ("MACAddress", "PermanentMACAddress"):
                select.append(entry.lineno)
            elif section.name == "Match" and match and entry.key == "Name":
                select.append(entry.lineno)
            elif section.name == "Link" and entry.key == "MACAddress":
                disable.append(entry.lineno)
    if ini.values(sections, "Match", "Name") == [match]:
        return comment_out(text, disable) if disable else text
    select.sort()
    keep_one = bool(select) and (match or not has_name)
    disable.extend(select[1:] if keep_one else select)
    if disable:
        text = comment_out(text, disable)
    if keep_one:
        # Last: keeping the old line above the new one shifts the lines below.
        text = replace_line(text, select[0], "Name=" + match if match else "Type=ether")
    elif match:
        text = ini.set_key(text, "Match", "Name", match)
    return text


def convert(text, configs, primary):
    return to_dhcp(text, ANY_NAMES if all(c.kind == "ethernet" for c in configs) else None)


def steps(root, path, text, configs, primary):
    return common.write_if_changed(path, text, convert(text, configs, primary),
                                   Message("{nic} to DHCP on any NIC name (systemd-networkd)", nic=common.nic(primary)))


def commands(display, configs, primary, live):
    return [Message("vi {path}  # [Network] DHCP=yes; remove Address=, Gateway=, [Address] and default [Route]; "
                    "[Match] Name={names} instead of the old Name= or MACAddress=", path=shlex.quote(display),
                    names=ANY_NAMES)]
