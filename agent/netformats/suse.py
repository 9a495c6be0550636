"""SUSE ifcfg and routes (/etc/sysconfig/network/ifcfg-*, routes, ifroute-*): read, judge, convert.

wicked names the interface by the file name alone (ifcfg-ens192 configures
ens192) and cannot say "any ethernet NIC", so the converted configuration is
moved to ifcfg-eth0 (common.ECS_NAME, the name Alibaba's images give the
first NIC) as a journaled write of the new file and removal of the old one;
rollback puts the old file back and removes the new one. When ifcfg-eth0
exists already, the file is converted where it is and the report says so.
"""
import shlex
import stat

from agent.core.model import Message, RemoveFile, WriteFile
from agent.netformats import common, ifcfg
from agent.parsers import comment_out

DIR = "/etc/sysconfig/network"
FMT = "suse-ifcfg"
ROUTES_FMT = "suse-routes"
LABEL = "SUSE ifcfg"
ROUTES_LABEL = "SUSE routes"
LOOKED_AT = "SUSE ifcfg (" + DIR + "/ifcfg-*, routes, ifroute-*)"


def default_routes(text):
    """[(lineno, gateway, interface or None)] of the default routes in a SUSE routes file.

    routes(5): DESTINATION GATEWAY NETMASK INTERFACE [TYPE] [OPTIONS]; '-'
    stands for an empty column, and a route without an interface goes to
    the interface whose network holds the gateway.
    """
    found = []
    for lineno, line in enumerate(text.split("\n"), 1):
        words = line.split("#", 1)[0].split()
        if len(words) < 2 or words[0] not in common.DEFAULT_DESTINATIONS:
            continue
        if words[0] in ("0.0.0.0", "::") and len(words) > 2 and words[2] not in ("-", "0.0.0.0", "0"):
            continue
        iface = words[3] if len(words) > 3 and words[3] != "-" else None
        found.append((lineno, words[1], iface))
    return found


def _routes(root, path, problems):
    text = common.read(root, path, problems)
    if text is None:
        return []
    base = path.rsplit("/", 1)[1]
    owner = base[len("ifroute-"):] if base.startswith("ifroute-") else None
    return [common.IfaceConfig(path, ROUTES_FMT, iface or owner, "static", gateway=gw, lineno=lineno)
            for lineno, gw, iface in default_routes(text) if (iface or owner) != "lo"]


def read(root, problems):
    if not root.isdir(DIR):
        return []
    configs = []
    for path in common.glob(root, DIR + "/ifcfg-*", problems):
        configs.extend(ifcfg.read_file(root, path, True, problems))
    routes = [DIR + "/routes"] if root.lexists(DIR + "/routes") else []
    for path in routes + common.glob(root, DIR + "/ifroute-*", problems):
        configs.extend(_routes(root, path, problems))
    return configs


def steps(root, path, text, configs, primary):
    config = configs[0]
    if config.fmt == ROUTES_FMT:
        return common.write_if_changed(path, text, comment_out(text, [c.lineno for c in configs]),
                                       Message("drop the old default gateway (SUSE routes)"))
    new = ifcfg.to_dhcp(text, suse=True, alias=config.ref == "alias")
    target = DIR + "/ifcfg-" + common.ECS_NAME
    if config.kind == "ethernet" and config.ref != "alias" and path != target and not root.lexists(target):
        return [WriteFile(target, new.encode("utf-8", "surrogateescape"), mode=stat.S_IMODE(root.stat(path).st_mode),
                          why=Message("{nic} to DHCP as {name} (SUSE ifcfg names the NIC by the file)",
                                      nic=common.nic(primary), name=common.ECS_NAME)),
                RemoveFile(path, why=Message("moved to {path}", path=target))]
    return common.write_if_changed(path, text, new, Message("{nic} to DHCP (SUSE ifcfg)", nic=common.nic(primary)))


def commands(display, configs, primary, live):
    path = shlex.quote(display)
    if configs[0].fmt == ROUTES_FMT:
        return ["sed -i 's/^\\(default\\|0\\.0\\.0\\.0\\)[[:space:]]/# &/' " + path]
    return ["sed -i -e \"s/^BOOTPROTO=.*/BOOTPROTO='dhcp'/\" -e 's/^\\(IPADDR\\|NETMASK\\|PREFIXLEN"
            "\\|BROADCAST\\|NETWORK\\|LLADDR\\)/# &/' " + path,
            "mv {} {}".format(path, shlex.quote(display.rsplit("/", 1)[0] + "/ifcfg-" + common.ECS_NAME))]
