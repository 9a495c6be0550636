"""Fix for GUESTOS.Dhcp: the primary NIC to DHCP, unbound from its MAC, in every file that configures it.

Each file is edited in its own format with the parsers, so every line the fix does not
need to change stays byte for byte, and lines it removes are commented out with the
guestprep marker rather than deleted. Nothing is restarted and no command runs: the
new configuration takes effect at the next boot, so the SSH session of the person
running the fix survives (a live `ifdown`/`nmcli up` would cut it, and on an image
there is nothing to restart).
"""
import re

from agent import netconfig
from agent.model import Mode, Remediation, WriteFile
from agent.parsers import comment_out, eni, ini, keyvalue, netplan, replace_line, udev_rules

# ifcfg keys that only mean something with a fixed address, or that bind the file to
# the old NIC (HWADDR) or give the NIC the old MAC (MACADDR; SUSE LLADDR). DNS*,
# ONBOOT, NAME, DEVICE, UUID and the rest stay: they carry the user's own setup.
_IFCFG_STATIC = re.compile(r"^(IPADDR|NETMASK|PREFIX|PREFIXLEN|GATEWAY|BROADCAST|NETWORK)(_?[A-Za-z0-9]+)?$"
                           r"|^(HWADDR|MACADDR|LLADDR)$")
_NM_ADDRESS = re.compile(r"^address(es)?\d*$")
_NM_ROUTE = re.compile(r"^routes?\d*$")


def ifcfg_to_dhcp(text, suse=False, alias=False):
    """BOOTPROTO=dhcp (SUSE: 'dhcp') and the static and MAC keys commented out.

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
    return keyvalue.comment_out_keys(text, lambda key: bool(_IFCFG_STATIC.match(key)))


def keyfile_to_dhcp(text):
    """A NetworkManager keyfile with ipv4.method=auto and no address, gateway or MAC.

    cloned-mac-address goes too when it sets an address, 'random' or
    'stable': the VPC forwards only the MAC ECS gave the NIC, so any other
    leaves the instance as unreachable as a static address. 'preserve' and
    'permanent' keep the NIC's own MAC and stay.
    """
    sections = ini.parse(text)[0]
    if any(s.name == "ipv4" for s in sections):
        method = [e for s in sections if s.name == "ipv4" for e in s.entries if e.key == "method"]
        if not method or method[-1].value != "auto":
            text = ini.set_key(text, "ipv4", "method", "auto")

    def disabled(section, key, value):
        if section == "ipv4":
            return bool(_NM_ADDRESS.match(key)) or key == "gateway" or (
                bool(_NM_ROUTE.match(key)) and netconfig.nm_is_default_route(value))
        if section in ("ethernet", "802-3-ethernet"):
            return key == "mac-address" or (key == "cloned-mac-address" and netconfig.nm_sets_mac(value))
        return False

    return ini.comment_out_entries(text, disabled)


def networkd_to_dhcp(text, primary):
    """A .network file with DHCP for IPv4 and no fixed address, gateway or MAC.

    DHCP=ipv4 (or yes) stays as it is; anything else becomes DHCP=yes, the
    value a networkd cloud image uses. Whole [Address] and default [Route]
    sections are commented out, not only their Address=/Gateway= (a [Route]
    left with Metric= alone would still make an on-link default route).
    [Match] MACAddress= goes when a Name= still selects the interface;
    otherwise it is replaced by Name=<primary> (Type=ether when the name is
    unknown), because a file whose [Match] is empty is ignored by networkd.
    """
    sections = ini.parse(text)[0]
    if not netconfig.networkd_dhcp_v4(([""] + ini.values(sections, "Network", "DHCP"))[-1]):
        text = ini.set_key(text, "Network", "DHCP", "yes")
        sections = ini.parse(text)[0]
    routes = netconfig.networkd_default_route_sections(sections)
    has_name = bool(ini.values(sections, "Match", "Name"))
    disable, mac_lines = [], []
    for section in sections:
        for entry in section.entries:
            if section.name == "Network" and entry.key in ("Address", "Gateway"):
                disable.append(entry.lineno)
            elif section.name == "Address" or section in routes:
                disable.append(entry.lineno)
            elif section.name == "Match" and entry.key in ("MACAddress", "PermanentMACAddress"):
                mac_lines.append(entry.lineno)
            elif section.name == "Link" and entry.key == "MACAddress":
                disable.append(entry.lineno)
    if has_name:
        disable.extend(mac_lines)
    elif mac_lines:
        disable.extend(mac_lines[1:])
    if disable:
        text = comment_out(text, disable)
    if mac_lines and not has_name:
        # Last: keeping the old line above the new one shifts the lines below.
        text = replace_line(text, mac_lines[0], "Name=" + primary if primary else "Type=ether")
    return text


def udev_unpinned(text):
    """70-persistent-net.rules with every rule commented out, continuation lines included."""
    rules = udev_rules.parse(text)[0]
    return comment_out(text, [n for rule in rules for n in range(rule.lineno, rule.end_lineno + 1)])


class DhcpFix(Remediation):
    id = "dhcp"
    mode = Mode.DEFER
    reversible = True
    offline_safe = True
    needs_reboot = True
    disrupts_network = True
    note = ("Files only: networking is not restarted, so your SSH session stays up; "
            "DHCP takes effect at the next boot.")

    def plan(self, ctx, result):
        if not result.data or not (result.data.get("targets") or result.data.get("udev")):
            return []
        primary = result.data.get("primary")
        found = netconfig.gather(ctx.root)
        seen = netconfig.assess(found, primary)
        by_path = {}
        for config in seen.targets:
            by_path.setdefault(config.path, []).append(config)
        steps = []
        for path in sorted(by_path):
            configs = by_path[path]
            old = ctx.root.read_config(path)
            new = self._convert(old, configs, primary)
            if new != old:
                steps.append(WriteFile(path, new.encode("utf-8", "surrogateescape"), why="{} to DHCP ({})".format(
                    primary or "the primary NIC", configs[0].label)))
        if seen.udev:
            old = ctx.root.read_config(netconfig.UDEV_RULES)
            new = udev_unpinned(old)
            if new != old:
                steps.append(WriteFile(netconfig.UDEV_RULES, new.encode("utf-8", "surrogateescape"),
                                       why="unpin interface names from the old MAC addresses"))
        return steps

    @staticmethod
    def _convert(text, configs, primary):
        fmt = configs[0].fmt
        try:
            if fmt in ("ifcfg", "suse-ifcfg"):
                return ifcfg_to_dhcp(text, suse=fmt == "suse-ifcfg", alias=configs[0].ref == "alias")
            if fmt == "suse-routes":
                return comment_out(text, [c.lineno for c in configs])
            if fmt == "ifupdown":
                for name in sorted(set(c.name for c in configs)):
                    text = eni.to_dhcp(text, name)
                return text
            if fmt == "netplan":
                for config in configs:
                    # A device matched by MAC alone is keyed by an id; once the match
                    # goes, the key must be the interface's name.
                    rename = primary if config.name is None and not config.pattern else None
                    if rename is None and config.name is None and not config.pattern:
                        continue   # no name to give it: the hint says how by hand
                    text = netplan.to_dhcp(text, config.ref, new_name=rename)
                return text
            if fmt == "networkmanager":
                return keyfile_to_dhcp(text)
            if fmt == "networkd":
                return networkd_to_dhcp(text, primary)
        except ValueError:
            # The parser cannot edit this file safely; the check still reports it.
            return text
        return text

