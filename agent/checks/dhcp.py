"""GUESTOS.Dhcp: the primary NIC must get its address by DHCP, bound neither to a MAC nor to its old name.

Seed 000 ("ネットワーク"): ECS supports one network interface and the image must enable
DHCP; 003 (GUESTOS.Dhcp): a static IP address in the image's network configuration
breaks the network of the instance started from it. The instance's address, gateway and
MAC address are all new, so a NIC left with the old address, or a configuration bound to
the old MAC (HWADDR, `match: macaddress`, `[Match] MACAddress=`, 70-persistent-net.rules),
leaves the imported instance unreachable, and there is no console login to repair it.
So does DHCP bound to the name the old hypervisor gave the NIC (ens192 on VMware, enp0s3
on VirtualBox, eth0 on Xen/Hyper-V under predictable names): the virtio NIC is eth0 on ECS
and ens3 under qemu, and nothing asks for a lease on it.

The configuration is read in every format an image may carry (agent.netformats, one
module per format); the primary NIC is the one of the default route on the running
system, else the one an earlier fix recorded in the network manifest, else (offline) the
one with the configured gateway.
"""
import shlex

from agent import netformats
from agent.core.model import Check, Message, Status, both, joined
from agent.facts import boot
from agent.parsers import netplan

FIX_NOTE = ("`guestprep fix --items dhcp` converts {who} to DHCP in every file that configures it, "
            "in that file's own format, keeping every other line, and makes it match whatever name the "
            "ECS NIC gets (eth0 on ECS, ens3 under qemu); it records the old settings in "
            "{manifest}, changes files only and never restarts networking, so an SSH "
            "session survives: DHCP takes effect at the next boot.")


def _who(primary):
    return primary or Message("the primary NIC")


def _describe(config):
    """Who a configuration is for, when it is not the primary NIC."""
    if config.name:
        return config.name
    if config.pattern:
        return Message("interfaces matching {pattern!r}", pattern=config.pattern)
    if config.macs:
        return Message("the NIC with MAC {mac}", mac=config.macs[0])
    return Message("any NIC")


def _where(config):
    return Message("{path} ({format})", path=config.path, format=netformats.label(config))


def _problem(config, who):
    """(code, text): 'eth0 has a static address and is pinned to MAC ... in FILE (format)'."""
    if config.method != "static" and not config.pinned and config.name:
        return "renamed", Message(
            "{who} gets its address only on the name {name} in {where}: the NIC of an ECS instance has another "
            "name (eth0 in Alibaba's images, or a predictable name such as ens5)",
            who=who, name=config.name, where=_where(config))
    parts, code = [], ""
    if config.fmt == "suse-routes":
        parts.append(Message("has a static default gateway {gateway}", gateway=config.gateway))
    elif config.method == "static":
        parts.append(Message("has a static address") if config.addresses else
                     Message("has a static gateway {gateway}", gateway=config.gateway))
    if parts:
        code = "static"
    if config.macs:
        parts.append(Message("is pinned to MAC {macs}", macs=", ".join(config.macs)))
    if config.set_mac:
        parts.append(Message("gets its MAC set to {mac}", mac=config.set_mac))
    if not parts:
        return "no-ipv4", Message("{who} gets no IPv4 address from {where}", who=who, where=_where(config))
    return code or "mac-pinned", Message("{who} {problems} in {where}", who=who, problems=both(parts),
                                         where=_where(config))


def _commands(ctx, primary, targets, udev):
    """What a person would type, one file at a time, in each file's format (netformats.<fmt>.commands)."""
    by_path = {}
    for config in targets + udev:
        by_path.setdefault(config.path, []).append(config)
    commands = []
    for path, configs in by_path.items():
        module = netformats.MODULES[configs[0].fmt]
        commands.extend(module.commands(ctx.root.display(path), configs, primary, not ctx.offline))
    return commands


class Dhcp(Check):
    id = "dhcp"
    title = "Primary NIC uses DHCP, not pinned to a MAC"
    item = "GUESTOS.Dhcp"
    repair_item = "dhcp"
    refs = ("000", "003")

    def run(self, ctx):
        # Gathering: every format's configurations, the primary NIC and what concerns it.
        found = netformats.gather(ctx.root)
        record = netformats.recorded(ctx.root)
        primary, how = netformats.choose_primary(found, ctx.live, record)
        seen = netformats.assess(found, primary, record, boot.net_ifnames_off(ctx))
        rescued = netformats.nm.makes_default_profiles(ctx.root)

        who = _who(primary)
        secondary = [c for c in seen.others if c.method == "static" or c.pinned]
        broken = sorted(set(p.path for p in found.problems if p.lineno)) if seen.targets or seen.udev else []
        dhcp = [c for c in seen.primary if c.method == "dhcp" and c not in seen.targets]
        fails, warns = self._judge(found, seen, who, secondary, broken, rescued)
        tail = self._tail(found, seen, primary, who, dhcp, fails)
        if fails:
            status = Status.FAIL
        elif warns:
            status = Status.WARN
        elif dhcp:
            status = Status.PASS
        else:
            status = Status.INFO

        keep = netformats.manifest(seen, primary, seen.udev)
        hint = self._hint(found, seen, primary, how, who, keep, secondary)
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
        return self.results(
            fails + warns + tail, hint, commands=commands, paths=paths, status=status,
            data={"primary": primary, "how": how, "targets": [c.path for c in seen.targets],
                  "udev": bool(seen.udev), "manifest": keep, "unparsable": broken})

    def _judge(self, found, seen, who, secondary, broken, rescued):
        """(failing findings, warnings) about the configurations found."""
        fails, warns = [], []
        for config in seen.targets:
            code, text = _problem(config, who)
            if config in seen.renamed and config.fmt == netformats.nm.FMT and rescued:
                # NetworkManager's automatic DHCP profile covers the NIC the old profile misses.
                warns.append(self.finding(Status.WARN, code, Message(
                    "{problem}; NetworkManager's automatic DHCP profile still configures the new NIC",
                    problem=text), config.path))
                continue
            if config.method == "static" or config.pinned or config in seen.renamed:
                fails.append(self.finding(Status.FAIL, code, text, config.path))
            else:
                warns.append(self.finding(Status.WARN, code, text, config.path))
        for config in secondary:
            warns.append(self.finding(Status.WARN, "secondary-nic", Message(
                "{problem}; ECS supports one NIC", problem=_problem(config, _describe(config))[1]), config.path))
        for config in seen.targets:
            if config.members:
                warns.append(self.finding(Status.WARN, "members-by-name", Message(
                    "{name} enslaves {members} by name; an ECS instance has one NIC, with another name: "
                    "after the import {name} has no member", name=config.name or config.ref,
                    members=", ".join(config.members)), config.path))
        if broken:
            fails.append(self.finding(Status.FAIL, "unparsable", Message(
                "the fix converts nothing while {paths} cannot be parsed (no half-converted network)",
                paths=", ".join(broken))))
        if seen.udev:
            warns.append(self.finding(Status.WARN, "udev-pinned", Message(
                "{path} pins {pins} (udev)", path=netformats.UDEV_RULES, pins=joined([
                    Message("{name} to MAC {mac}", name=c.name, mac=c.macs[0]) for c in seen.udev], ", ")),
                netformats.UDEV_RULES))
        for problem in found.problems:
            template = "{path} {problem}" if problem.message.startswith("cannot") else "{path}: {problem}"
            warns.append(self.finding(Status.WARN, "unreadable", Message(
                template, path=problem.path, problem=problem.message), problem.path, problem.lineno))
        return fails, warns

    def _tail(self, found, seen, primary, who, dhcp, fails):
        """What is fine, said after the problems."""
        if dhcp and not fails:
            return [self.finding(Status.PASS, "dhcp", Message("{who} uses DHCP ({configs})", who=who, configs=", ".join(
                "{} {}".format(netformats.label(c), c.path) for c in dhcp)), dhcp[0].path)]
        if not found.configs and not found.problems:
            return [self.finding(Status.INFO, "no-configuration", Message(
                "no interface configuration found (looked at {formats}); cloud-init or the "
                "distribution's default DHCP will configure the NIC",
                formats=", ".join(m.LABEL for m in netformats.FORMATS)))]
        if not seen.primary and primary:
            return [self.finding(Status.INFO, "primary-unconfigured", Message(
                "{who} has no configuration in the files looked at; cloud-init or the "
                "distribution's default DHCP will configure it", who=who))]
        return []

    @staticmethod
    def _hint(found, seen, primary, how, who, keep, secondary):
        hint = []
        if seen.targets or seen.udev:
            hint.append(Message(FIX_NOTE, who=who, manifest=netformats.MANIFEST_PATH))
        if primary or found.configs:
            hint.append(Message("Primary NIC: {who} ({how}).", who=who, how=how))
        if keep["keep_on_ecs"]:
            hint.append(Message("The old static settings are recorded (JSON report, and {manifest} once fixed): "
                                "{advice}.", manifest=netformats.MANIFEST_PATH,
                                advice=netformats.ecs_advice(keep["keep_on_ecs"])))
        if seen.udev:
            hint.append(Message("The fix comments out the rules of {path}: every MAC changes on ECS, and udev "
                                "writes new rules at the next boot.", path=netformats.UDEV_RULES))
        if secondary:
            hint.append(Message("ECS supports one NIC: remove the configuration of {names} or convert it to DHCP "
                                "by hand; the fix changes the primary NIC only.",
                                names=", ".join(sorted(set(_describe(c) for c in secondary)))))
        unread = [p for p in found.problems if p.message == netplan.MISSING_YAML]
        if len(unread) < len(found.problems):
            hint.append(Message("Repair or remove the files that cannot be read or parsed: the network "
                                "service may reject them, and guestprep cannot check them."))
        if unread:
            # The files are fine; the Python running guestprep lacks the YAML module.
            hint.append(Message("The netplan files were not checked because the Python running guestprep "
                                "has no YAML module: install python3-yaml (python3-pyyaml on RHEL/SUSE) "
                                "and run the check again."))
        if not found.configs:
            hint.append(Message("Looked at: {places}.", places=joined(netformats.LOOKED_AT)))
        if not (seen.targets or seen.udev):
            hint.append(Message("The fix has nothing to change on {who}; when it has, it converts {who} to DHCP in "
                                "the files' own formats, changes files only and never restarts networking, so "
                                "an SSH session survives: DHCP takes effect at the next boot.", who=who))
        return joined(hint, " ")
