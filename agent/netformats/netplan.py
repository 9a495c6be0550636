"""netplan (/etc/netplan/*.yaml): read, judge, convert to DHCP, manual commands.

netplan selects a physical device by its key (the interface name) or by
`match:`; the converted device keeps its key as an id and gets
`match: {name: "e*"}` without `set-name`, plus `dhcp4: true`: the first virtio
NIC is eth0 on ECS and ens3/enp0s3 under qemu, and both backends take a
name glob: `netplan generate` (0.106, Debian 12) writes `[Match] Name=e*`
for networkd and `[match] interface-name=e*;` for NetworkManager. A
`driver: virtio_net` match would also hold on ECS and under qemu (both give
a virtio NIC), but it ties the image to one driver, which the name glob does
not.
"""
import shlex

from agent.core.model import Message
from agent.netformats import common
from agent.parsers import netplan

DIR = "/etc/netplan"
FMT = "netplan"
LABEL = "netplan"
LOOKED_AT = "netplan (" + DIR + "/*.yaml)"
ANY_NAME = "e*"


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
    return common.mac(str(value)) if value is not None else ""


def _strings(value):
    return tuple(str(v) if not isinstance(v, dict) else str(next(iter(v), "")) for v in value) \
        if isinstance(value, list) else ()


def _read(root, path, problems):
    doc = common.parsed(root, path, problems, netplan.parse, "netplan YAML")
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
            if not name and isinstance(match_name, str) and match_name and not common.has_magic(match_name):
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
        gateway = str(cfg.get("gateway4") or cfg.get("gateway6") or "")
        routes = cfg.get("routes") if isinstance(cfg.get("routes"), list) else []
        for route in routes:
            if netplan.is_default_route(route) and not gateway:
                gateway = str(route.get("via", ""))
        if netplan.is_static(cfg):
            method = "static"
        else:
            method = "dhcp" if netplan.uses_dhcp4(cfg) else "none"
        nameservers = cfg.get("nameservers") if isinstance(cfg.get("nameservers"), dict) else {}
        configs.append(common.IfaceConfig(
            path, FMT, name, method, pattern=pattern, addresses=_strings(cfg.get("addresses")),
            gateway=gateway, macs=macs,
            set_mac=_yaml_mac(cfg.get("macaddress")) or str(cfg.get("macaddress") or ""), ref=device.name,
            kind=device.kind, dns=_strings(nameservers.get("addresses")),
            routes=tuple("{} via {}".format(r.get("to"), r.get("via")) for r in routes
                         if isinstance(r, dict) and not netplan.is_default_route(r)),
            mtu=str(cfg.get("mtu") or ""), members=_strings(cfg.get("interfaces")),
            vlan="{} on {}".format(cfg.get("id"), cfg.get("link")) if device.kind == "vlan" else ""))
    return configs


def read(root, problems):
    return common.read_each(root, DIR + "/*.yaml", _read, problems)


def convert(text, configs, primary):
    for config in configs:
        if config.kind == "ethernet":
            text = netplan.to_dhcp(text, config.ref, any_name=ANY_NAME)
            continue
        # A bond, bridge or VLAN keeps its own name; its members are reported.
        text = netplan.to_dhcp(text, config.ref)
    return text


def steps(root, path, text, configs, primary):
    return common.write_if_changed(path, text, convert(text, configs, primary),
                                   Message("{nic} to DHCP on any NIC name (netplan)", nic=common.nic(primary)))


def commands(display, configs, primary, live):
    # A Message: the report translates the comment, the command stays as it is.
    return [Message("vi {path}  # {names}: dhcp4: true; match: {{name: \"{pattern}\"}}; remove addresses, gateway4, "
                    "default routes, nameservers, macaddress, set-name; then netplan generate",
                    path=shlex.quote(display), names=", ".join(c.ref for c in configs), pattern=ANY_NAME)]
