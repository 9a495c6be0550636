"""ifupdown (/etc/network/interfaces and what it sources): read, judge, convert to DHCP.

ifupdown selects interfaces by name, but its `auto` and `allow-` lines take
patterns (interfaces(5), PATTERN MATCHING INTERFACES): `auto /e*/1=ens192`
brings up the first interface whose name starts with `e` (eth0 on ECS, ens3
or enp0s3 under qemu) as the logical interface `ens192`, so the converted
stanza `iface ens192 inet dhcp` keeps its name, options and comments and still
comes up on whatever name the virtio NIC gets. Checked with ifupdown 0.8.41
(Debian 12): `ifup -a --no-act` runs dhclient on eth0 for that file, while
`allow-hotplug /e*/1=ens192` is accepted but ignored by the hotplug path
(`ifquery --allow hotplug -l eth0` answers nothing), so the converted line is
always `auto`. Patterns match the interfaces present when networking.service
runs; the virtio NIC is there by then because initramfs-tools (MODULES=most)
loads virtio_net in the initramfs.
"""
import re
import shlex

from agent.core.model import Message
from agent.core.rootfs import RootError
from agent.netformats import common
from agent.parsers import DISABLED_PREFIX, LazyPattern, eni, split_ending, split_lines

PATH = "/etc/network/interfaces"
FMT = "ifupdown"
LABEL = "ifupdown"
LOOKED_AT = Message("ifupdown ({path} and the files it sources)", path=PATH)
# The first interface whose name starts with e: eth0, ens*, enp*, eno*.
PATTERN = "/e*/1"

# ifupdown's source-directory takes run-parts names only (interfaces(5)).
_RUN_PARTS_NAME = LazyPattern(r"^[A-Za-z0-9_-]+$")
_BOND_KEYS = ("bond-slaves", "bond_slaves", "slaves")
_BRIDGE_KEYS = ("bridge_ports", "bridge-ports")


def selector(ifname):
    return "{}={}".format(PATTERN, ifname)


def _pattern_of(word):
    """(glob, logical name) of an ifupdown pattern word `/GLOB[/N]=LOGICAL`, else None."""
    if not word.startswith("/") or "=" not in word:
        return None
    value, logical = word[1:].split("=", 1)
    return value.split("/", 1)[0], logical


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
            if common.has_magic(part):
                following.extend(p for p in root.glob(prefix + part)
                                 if part.startswith(".") or not p.rsplit("/", 1)[1].startswith("."))
            else:
                following.append(prefix + part)
        paths = following
    return [p for p in paths if root.lexists(p)]


def _kind(ifname, options):
    if any(k in options for k in _BOND_KEYS):
        return "bond", tuple(options[k] for k in _BOND_KEYS if k in options)[0].split()
    if any(k in options for k in _BRIDGE_KEYS):
        return "bridge", tuple(options[k] for k in _BRIDGE_KEYS if k in options)[0].split()
    if "vlan-raw-device" in options or "vlan_raw_device" in options or re.match(r"^\S+\.\d+$", ifname):
        return "vlan", ()
    return "ethernet", ()


def _read(root, path, problems, seen, patterns, depth=0):
    if path in seen or depth > 10:
        if depth > 10:
            problems.append(common.Problem(path, "sources are nested too deeply (a loop?)"))
        return []
    seen.add(path)
    text = common.read(root, path, problems)
    if text is None:
        return []
    stanzas, found = eni.parse(text)
    common.parse_problems(path, found, problems, "interfaces(5)")
    configs = []
    here = path.rsplit("/", 1)[0] or "/"
    for stanza in stanzas:
        if stanza.kind in ("auto", "allow"):
            for word in stanza.names:
                mapped = _pattern_of(word)
                if mapped:
                    patterns[mapped[1]] = mapped[0]
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
                problems.append(common.Problem(path, "line {}: cannot expand {!r}: {}".format(
                    stanza.lineno, stanza.pattern, e.reason), stanza.lineno))
                continue
            for included in matches:
                configs.extend(_read(root, included, problems, seen, patterns, depth + 1))
        elif (stanza.kind == "iface" and stanza.family in ("inet", "inet6") and stanza.ifname
              and stanza.ifname != "lo" and stanza.method != "loopback"):
            configs.append(_config(path, stanza))
    return configs


def _config(path, stanza):
    options = dict((o.key, o.value) for o in stanza.options)
    if stanza.family == "inet6":
        # IPv6 alone never gives the instance its IPv4 address: 'none' unless static.
        method = "static" if stanza.method in ("static", "v4tunnel", "6to4") else "none"
    else:
        method = {"static": "static", "dhcp": "dhcp", "bootp": "dhcp"}.get(stanza.method, "none")
    hwaddress = (options.get("hwaddress") or "").split()
    kind, members = _kind(stanza.ifname, options)
    return common.IfaceConfig(
        path, FMT, stanza.ifname, method,
        addresses=tuple(common.with_prefix(o.value, options.get("netmask", "")) for o in stanza.options
                        if o.key == "address"),
        gateway=options.get("gateway", "") if method == "static" else "",
        set_mac=common.mac(hwaddress[-1]) if hwaddress else "", lineno=stanza.lineno,
        ref="{} {}".format(stanza.family, stanza.ifname), kind=kind, members=tuple(members),
        dns=tuple(w for o in stanza.options if o.key == "dns-nameservers" for w in o.value.split()),
        routes=tuple(o.value for o in stanza.options if o.key in ("up", "post-up") and " route " in
                     " " + o.value + " "),
        mtu=options.get("mtu", ""),
        vlan="{} on {}".format(stanza.ifname.rsplit(".", 1)[-1], options.get(
            "vlan-raw-device", stanza.ifname.rsplit(".", 1)[0])) if kind == "vlan" else "")


def read(root, problems):
    if not root.lexists(PATH):
        return []
    patterns = {}
    configs = _read(root, PATH, problems, set(), patterns)
    # An interface brought up through a pattern (`auto /e*/1=ens192`) is any NIC it matches.
    return [c._replace(name=None, pattern=patterns[c.name]) if c.name in patterns else c for c in configs]


def to_any_nic(text, ifname):
    """`auto`/`allow-*` lines of ``ifname`` replaced by `auto /e*/1=<ifname>` (see the module doc).

    ``ifname`` leaves every such line (the line commented out when it named
    nothing else, rewritten without it otherwise); one `auto` line with the
    pattern goes where the first of them was, or above the iface stanza.
    Unchanged text when the pattern line is there already.
    """
    stanzas = eni.parse(text)[0]
    wanted = selector(ifname)
    if any(wanted in s.names for s in stanzas if s.kind in ("auto", "allow")):
        return text
    lines = split_lines(text)
    naming = [s for s in stanzas if s.kind in ("auto", "allow") and ifname in s.names]
    if any(s.end_lineno != s.lineno for s in naming):
        raise ValueError("an auto/allow line of {} continues over several lines".format(ifname))
    ifaces = eni.find_ifaces(stanzas, ifname)
    first = naming[0].lineno if naming else ifaces[0].lineno
    newline = split_ending(lines[first - 1])[1] or "\n"
    for stanza in naming:
        body, ending = split_ending(lines[stanza.lineno - 1])
        rest = [w for w in body.split() if w != ifname]
        if len(rest) > 1:
            kept = body[:len(body) - len(body.lstrip())] + " ".join(rest)
            lines[stanza.lineno - 1] = DISABLED_PREFIX + body + (ending or newline) + kept + ending
        else:
            lines[stanza.lineno - 1] = DISABLED_PREFIX + body + ending
    new = "auto " + wanted + newline
    line = lines[first - 1]
    if not naming:
        lines[first - 1] = new + line
    elif line.endswith("\n"):
        lines[first - 1] = line + new
    else:
        lines[first - 1] = line + newline + new[:-len(newline)]
    return "".join(lines)


def family_and_name(config):
    """('inet' or 'inet6', the logical interface name) of a stanza's IfaceConfig (its ``ref``)."""
    family, name = config.ref.split(" ", 1)
    return family, name


def convert(text, configs, primary):
    """Every stanza of the primary NIC to DHCP (inet6: auto), brought up on any NIC name."""
    stanzas = [family_and_name(c) + (c,) for c in configs]
    for name in sorted(set(n for _f, n, _c in stanzas)):
        for family in ("inet", "inet6"):
            mine = [c for f, n, c in stanzas if n == name and f == family]
            if any(c.method == "static" or c.pinned for c in mine):
                text = eni.to_dhcp(text, name, family, "dhcp" if family == "inet" else "auto")
        if any(c.kind == "ethernet" for _f, n, c in stanzas if n == name):
            text = to_any_nic(text, name)
    return text


def steps(root, path, text, configs, primary):
    return common.write_if_changed(path, text, convert(text, configs, primary),
                                   Message("{nic} to DHCP on any NIC name (ifupdown)", nic=common.nic(primary)))


def commands(display, configs, primary, live):
    path = shlex.quote(display)
    found = []
    for name in sorted(set(family_and_name(c)[1] for c in configs)):
        found.append(
            "sed -i '/^\\s*iface {0} inet /,/^\\s*\\(iface\\|auto\\|allow-\\|mapping\\|source\\)/"
            "{{s/^\\(\\s*iface {0} inet\\) .*/\\1 dhcp/;s/^\\s*\\(address\\|netmask\\|gateway\\|broadcast"
            "\\|network\\|pointopoint\\|hwaddress\\|dns-\\)/# &/}}' {1}".format(name, path))
        found.append(Message("sed -i 's/^\\(auto\\|allow-hotplug\\) {name}$/auto \\/e*\\/1={name}/' {path}  "
                             "# up on the first NIC whatever its name", name=name, path=path))
    return found
