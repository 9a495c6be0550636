"""Every interface configuration in the guest, whatever tool wrote it: one module per format.

Images carry network configuration in six formats, often two at once (an
Ubuntu server with netplan and a NetworkManager profile), so the DHCP check
and its fix need one view of all of them. Each module of this package owns
one format: it reads it (``read(root, problems)`` -> [IfaceConfig]), judges
it (the records' method, pins and names), converts it (``steps(root, path,
text, configs, primary)`` -> change steps as data) and knows the commands a
person would type (``commands``). ``FORMATS`` is the registry; ``gather``,
``choose_primary``, ``assess`` and ``manifest`` work on all of them. Nothing
here writes: steps are data the engine applies through the journal.
"""
import json

from agent.core.model import Message
from agent.netformats import common, eni, ifcfg, netplan, networkd, nm, suse, udev
from agent.netformats.common import Found, IfaceConfig, Problem, order_key  # noqa: F401 (the API)
from agent.tuples import namedtuple

FORMATS = (ifcfg, suse, eni, netplan, nm, networkd, udev)

# fmt -> the module that reads and converts it.
MODULES = {ifcfg.FMT: ifcfg, suse.FMT: suse, suse.ROUTES_FMT: suse, eni.FMT: eni, netplan.FMT: netplan,
           nm.FMT: nm, networkd.FMT: networkd, udev.FMT: udev}
# fmt -> how a person calls the format, in summaries ("... (ifupdown)").
LABELS = {ifcfg.FMT: ifcfg.LABEL, suse.FMT: suse.LABEL, suse.ROUTES_FMT: suse.ROUTES_LABEL, eni.FMT: eni.LABEL,
          netplan.FMT: netplan.LABEL, nm.FMT: nm.LABEL, networkd.FMT: networkd.LABEL, udev.FMT: udev.LABEL}
# What was looked at, for the report when nothing is found.
LOOKED_AT = tuple(module.LOOKED_AT for module in FORMATS)
UDEV_RULES = udev.PATH

# The record of what the fix turned off, inside the image (guestprep's state directory).
MANIFEST_PATH = "/var/lib/guestprep/network-manifest.json"
# Formats that can say "any ethernet NIC" (a pattern, or no name at all).
_CAN_MATCH_ANY = (eni.FMT, netplan.FMT, nm.FMT, networkd.FMT)


def label(config):
    return LABELS[config.fmt]


def gather(root):
    """Every interface configuration under ``root``, and every file that could not be read."""
    configs, problems = [], []
    for module in FORMATS:
        configs.extend(module.read(root, problems))
    return Found(configs, problems)


def recorded(root):
    """The manifest an earlier fix left in the image ({} when there is none or it is unreadable)."""
    try:
        if not root.isfile(MANIFEST_PATH):
            return {}
        data = json.loads(root.read_text(MANIFEST_PATH))
    except Exception:  # pylint: disable=broad-except - a damaged record is no record
        return {}
    return data if isinstance(data, dict) and isinstance(data.get("primary"), str) else {}


def choose_primary(found, live=None, record=None):
    """(interface name or None, how it was chosen)."""
    if live is not None:
        name = live.default_route_interface()
        if name:
            return name, Message("the interface of the running system's default route")
    if record:
        return record["primary"], Message("the interface guestprep's fix converted, recorded in {path}",
                                          path=MANIFEST_PATH)
    named = [c for c in found.configs if c.name and c.fmt != "udev"]

    def first(configs):
        return sorted(configs, key=lambda c: order_key(c.name))[0]

    prefix = Message("no default route on the running system, so chosen") if live is not None \
        else Message("chosen offline")
    with_gateway = [c for c in named if c.gateway]
    if with_gateway:
        chosen = first(with_gateway)
        return chosen.name, Message("{how}: the interface with the configured default gateway, in {path}",
                                    how=prefix, path=chosen.path)
    addressed = [c for c in named if c.method != "none"]
    if addressed or named:
        chosen = first(addressed or named)
        return chosen.name, Message("{how}: no default gateway is configured, so the first configured interface "
                                    "in the order eth0, eth*, ens*, enp*", how=prefix)
    pinned = [c for c in found.configs if c.fmt == "udev"]
    if pinned:
        chosen = first(pinned)
        return chosen.name, Message("{how}: the first interface named in {path}", how=prefix, path=UDEV_RULES)
    return None, Message("{how}: no configuration names an interface", how=prefix)


def bound_to_old_name(config, eth0_stable=False):
    """The configuration gives the address only to a NIC of one name, which ECS will not use.

    ``eth0_stable``: the image boots with net.ifnames=0, so eth0 is the ECS
    NIC's name. A format that cannot match any NIC (ifcfg) is fine once it
    names eth0 (agent.netformats.common.ECS_NAME).
    """
    if config.name is None or config.kind != "ethernet" or config.method == "none" or config.ref == "alias":
        return False
    if config.name == common.ECS_NAME and (eth0_stable or config.fmt not in _CAN_MATCH_ANY):
        return False
    return config.fmt in _CAN_MATCH_ANY or config.fmt in (ifcfg.FMT, suse.FMT)


class Assessment(namedtuple("Assessment", (
    "primary",                # list: configurations that apply to the primary NIC
    "targets",                # list: those the fix converts
    "others",                 # list: configurations of other interfaces
    "udev",                   # list: 70-persistent-net.rules pins
    "renamed",                # list: targets whose only fault is the old interface name
))):
    __slots__ = ()


def assess(found, primary, record=None, eth0_stable=False):
    """Split the configurations by the primary NIC and pick what must change.

    Files an earlier fix converted (``record``, the manifest) stay the
    primary NIC's, even when the format had to rename it (ifcfg: eth0).
    """
    paths = set(record.get("paths") or ()) if record else set()
    configs = [c for c in found.configs if c.fmt != "udev"]
    mine = [c for c in configs if c.applies_to(primary) or c.path in paths]
    others = [c for c in configs if c not in mine]
    targets = [c for c in mine if c.method == "static" or c.pinned]
    renamed = [c for c in mine if c not in targets and bound_to_old_name(c, eth0_stable)]
    targets += renamed
    if not targets and not any(c.method == "dhcp" for c in mine):
        # Nothing on the primary NIC asks for an address: on ECS it stays without one.
        targets = [c for c in mine if c.method == "none" and c.fmt != "suse-routes" and c.ref != "alias"
                   and not c.ref.startswith("inet6 ")]
    return Assessment(mine, targets, others, [c for c in found.configs if c.fmt == "udev"], renamed)


def _split(addresses):
    v4, v6 = [], []
    for address in addresses:
        import ipaddress  # only static addresses need it (1 ms to import)
        try:
            version = ipaddress.ip_interface(u"" + address).version
        except ValueError:
            version = 6 if ":" in address else 4
        (v6 if version == 6 else v4).append(address)
    return v4, v6


def manifest(seen, primary, udev_pins=()):
    """What the fix turns off, as data: the JSON report's and the image's record of the old network."""
    interfaces = []
    for config in seen.targets:
        if config.fmt == "udev":
            continue
        v4, v6 = _split(config.addresses)
        macs = list(config.macs) + [c.macs[0] for c in udev_pins if c.name == config.name and c.macs]
        interfaces.append({
            "interface": config.name or config.pattern or primary, "file": config.path,
            "format": label(config), "kind": config.kind,
            "mac": sorted(set(macs + ([config.set_mac] if config.set_mac else []))),
            "ipv4": v4, "ipv6": v6, "gateway": config.gateway, "dns": list(config.dns),
            "routes": list(config.routes), "mtu": config.mtu, "members": list(config.members),
            "vlan": config.vlan})
    return {"primary": primary, "interfaces": interfaces,
            "keep_on_ecs": ecs_settings(interfaces)}


def ecs_settings(interfaces):
    """[{address, vswitch_cidr}] an instance needs to keep each old static IPv4 address."""
    found = []
    for entry in interfaces:
        for address in entry["ipv4"]:
            import ipaddress
            try:
                iface = ipaddress.ip_interface(u"" + address)
            except ValueError:
                continue
            cidr = str(iface.network) if "/" in address and iface.network.prefixlen < 32 else ""
            item = {"interface": entry["interface"], "address": str(iface.ip), "vswitch_cidr": cidr}
            if item not in found:
                found.append(item)
    return found


def ecs_advice(settings):
    """The text report's sentence: what to set on ECS to keep each address."""
    parts = []
    for item in settings:
        cidr = item["vswitch_cidr"] or "a CIDR block that contains it"
        parts.append("to keep {address} on ECS, create the instance in a vSwitch whose CIDR is {cidr} (or a "
                     "larger block holding it, /16 to /29) and give {address} as its private IP at instance "
                     "creation; ECS then hands it out by DHCP".format(address=item["address"], cidr=cidr))
    return "; ".join(parts)
