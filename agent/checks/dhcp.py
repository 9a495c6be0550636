"""GUESTOS.Dhcp: the primary NIC must get its address by DHCP and must not be bound to a MAC.

Seed 000 ("ネットワーク"): ECS supports one network interface and the image must enable
DHCP; 003 (GUESTOS.Dhcp): a static IP address in the image's network configuration
breaks the network of the instance started from it. The instance's address, gateway and
MAC address are all new, so a NIC left with the old address, or a configuration bound to
the old MAC (HWADDR, `match: macaddress`, `[Match] MACAddress=`, 70-persistent-net.rules),
leaves the imported instance unreachable, and there is no console login to repair it.

The configuration is read in every format an image may carry (agent.netconfig); the
primary NIC is the one of the default route on the running system, offline the one with
the configured gateway.
"""
import shlex

from agent import netconfig
from agent.parsers import netplan
from agent.model import Check, Status

FIX_NOTE = ("`guestprep fix --items dhcp` converts {who} to DHCP in every file that configures it, "
            "in that file's own format, keeping every other line; it changes files only and never "
            "restarts networking, so an SSH session survives: DHCP takes effect at the next boot.")


def _who(primary):
    return primary or "the primary NIC"


def _describe(config):
    """Who a configuration is for, when it is not the primary NIC."""
    if config.name:
        return config.name
    if config.pattern:
        return "interfaces matching {!r}".format(config.pattern)
    if config.macs:
        return "the NIC with MAC " + config.macs[0]
    return "any NIC"


def _where(config):
    return "{} ({})".format(config.path, config.label)


def _problems_text(config, who):
    """'eth0 has a static address and is pinned to MAC ... in FILE (format)'."""
    parts = []
    if config.fmt == "suse-routes":
        parts.append("has a static default gateway {}".format(config.gateway))
    elif config.method == "static":
        parts.append("has a static address" if config.addresses else
                     "has a static gateway {}".format(config.gateway))
    if config.macs:
        parts.append("is pinned to MAC " + ", ".join(config.macs))
    if config.set_mac:
        parts.append("gets its MAC set to " + config.set_mac)
    if not parts:
        return "{} gets no IPv4 address from {}".format(who, _where(config))
    return "{} {} in {}".format(who, " and ".join(parts), _where(config))


def _commands(ctx, primary, targets, udev):
    """What a person would type, one file at a time, in each file's format."""
    commands = []
    done = set()
    name = primary or "eth0"
    for config in targets:
        if config.path in done:
            continue
        done.add(config.path)
        path = shlex.quote(ctx.root.display(config.path))
        if config.fmt == "ifcfg":
            commands.append(
                "sed -i -e 's/^BOOTPROTO=.*/BOOTPROTO=dhcp/' -e 's/^\\(IPADDR\\|NETMASK\\|PREFIX\\|GATEWAY"
                "\\|BROADCAST\\|NETWORK\\|HWADDR\\|MACADDR\\)/# &/' " + path)
        elif config.fmt == "suse-ifcfg":
            commands.append(
                "sed -i -e \"s/^BOOTPROTO=.*/BOOTPROTO='dhcp'/\" -e 's/^\\(IPADDR\\|NETMASK\\|PREFIXLEN"
                "\\|BROADCAST\\|NETWORK\\|LLADDR\\)/# &/' " + path)
        elif config.fmt == "suse-routes":
            commands.append("sed -i 's/^\\(default\\|0\\.0\\.0\\.0\\)[[:space:]]/# &/' " + path)
        elif config.fmt == "ifupdown":
            commands.append(
                "sed -i '/^\\s*iface {0} inet /,/^\\s*\\(iface\\|auto\\|allow-\\|mapping\\|source\\)/"
                "{{s/^\\(\\s*iface {0} inet\\) .*/\\1 dhcp/;s/^\\s*\\(address\\|netmask\\|gateway\\|broadcast"
                "\\|network\\|pointopoint\\|hwaddress\\|dns-\\)/# &/}}' {1}".format(config.name, path))
        elif config.fmt == "networkmanager" and not ctx.offline and config.ref:
            commands.append("nmcli connection modify {} ipv4.method auto ipv4.addresses '' ipv4.gateway '' "
                            "ethernet.mac-address '' ethernet.cloned-mac-address ''".format(
                                shlex.quote(config.ref)))
        elif config.fmt == "networkmanager":
            commands.append("vi {}  # [ipv4] method=auto; remove address1=, gateway=; "
                            "[ethernet] remove mac-address=, cloned-mac-address=".format(path))
        elif config.fmt == "netplan":
            commands.append("vi {}  # {}: dhcp4: true; remove addresses, gateway4, default routes, nameservers, "
                            "macaddress, match: macaddress".format(path, config.ref))
        elif config.fmt == "networkd":
            commands.append("vi {}  # [Network] DHCP=yes; remove Address=, Gateway=, [Address] and "
                            "default [Route]; [Match] Name={} instead of MACAddress=".format(path, name))
    if udev:
        commands.append("sed -i 's/^[^#[:space:]]/# &/' " + shlex.quote(ctx.root.display(netconfig.UDEV_RULES)))
    return commands


class Dhcp(Check):
    id = "dhcp"
    title = "Primary NIC uses DHCP, not pinned to a MAC"
    item = "GUESTOS.Dhcp"
    repair_item = "dhcp"

    def run(self, ctx):
        found = netconfig.gather(ctx.root)
        primary, how = netconfig.choose_primary(found, ctx.live)
        seen = netconfig.assess(found, primary)
        who = _who(primary)
        fails, warns, tail = [], [], []
        for config in seen.targets:
            text = _problems_text(config, who)
            (fails if config.method == "static" or config.pinned else warns).append(text)
        secondary = [c for c in seen.others if c.method == "static" or c.pinned]
        for config in secondary:
            warns.append(_problems_text(config, _describe(config)) + "; ECS supports one NIC")
        if seen.udev:
            warns.append("{} pins {} (udev)".format(netconfig.UDEV_RULES, ", ".join(
                "{} to MAC {}".format(c.name, c.macs[0]) for c in seen.udev)))
        for problem in found.problems:
            sep = " " if problem.message.startswith("cannot") else ": "
            warns.append(problem.path + sep + problem.message)
        dhcp = [c for c in seen.primary if c.method == "dhcp" and c not in seen.targets]
        if dhcp and not fails:
            tail.append("{} uses DHCP ({})".format(who, ", ".join(
                "{} {}".format(c.label, c.path) for c in dhcp)))
        elif not found.configs and not found.problems:
            tail.append("no interface configuration found (looked at {}); cloud-init or the "
                        "distribution's default DHCP will configure the NIC".format(
                            ", ".join(netconfig.LABELS[k] for k in (
                                "ifcfg", "suse-ifcfg", "ifupdown", "netplan", "networkmanager",
                                "networkd", "udev"))))
        elif not seen.primary and primary:
            tail.append("{} has no configuration in the files looked at; cloud-init or the "
                        "distribution's default DHCP will configure it".format(who))
        if fails:
            status = Status.FAIL
        elif warns:
            status = Status.WARN
        elif dhcp:
            status = Status.PASS
        else:
            status = Status.INFO
        summary = "; ".join(fails + warns + tail)

        hint = []
        if seen.targets or seen.udev:
            hint.append(FIX_NOTE.format(who=who))
        if primary or found.configs:
            hint.append("Primary NIC: {} ({}).".format(who, how))
        if seen.udev:
            hint.append("The fix comments out the rules of {}: every MAC changes on ECS, and udev "
                        "writes new rules at the next boot.".format(netconfig.UDEV_RULES))
        if secondary:
            hint.append("ECS supports one NIC: remove the configuration of {} or convert it to DHCP "
                        "by hand; the fix changes the primary NIC only.".format(
                            ", ".join(sorted(set(_describe(c) for c in secondary)))))
        unread = [p for p in found.problems if p.message == netplan.MISSING_YAML]
        if len(unread) < len(found.problems):
            hint.append("Repair or remove the files that cannot be read or parsed: the network "
                        "service may reject them, and guestprep cannot check them.")
        if unread:
            # The files are fine; the Python running guestprep lacks the YAML module.
            hint.append("The netplan files were not checked because the Python running guestprep "
                        "has no YAML module: install python3-yaml (python3-pyyaml on RHEL/SUSE) "
                        "and run the check again.")
        if not found.configs:
            hint.append("Looked at: {}.".format("; ".join(netconfig.LOOKED_AT)))
        if not (seen.targets or seen.udev):
            hint.append("The fix has nothing to change on {}; when it has, it converts {} to DHCP in "
                        "the files' own formats, changes files only and never restarts networking, so "
                        "an SSH session survives: DHCP takes effect at the next boot.".format(who, who))
        commands = _commands(ctx, primary, seen.targets, seen.udev)
        commands += ["vi {}  # remove or convert to DHCP the configuration of {}".format(
            shlex.quote(ctx.root.display(c.path)), _describe(c)) for c in secondary]
        commands = [c for i, c in enumerate(commands) if c not in commands[:i]]
        paths = []
        for config in seen.targets + secondary + seen.udev + dhcp:
            if config.path not in paths:
                paths.append(config.path)
        for problem in found.problems:
            if problem.path not in paths:
                paths.append(problem.path)
        return self.result(
            status, summary, " ".join(hint), commands=commands,
            paths=paths,
            data={"primary": primary, "how": how, "targets": [c.path for c in seen.targets],
                  "udev": bool(seen.udev)})
