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
from agent.facts import boot
from agent.parsers import netplan
from agent.core.model import Check, Status

FIX_NOTE = ("`guestprep fix --items dhcp` converts {who} to DHCP in every file that configures it, "
            "in that file's own format, keeping every other line, and makes it match whatever name the "
            "ECS NIC gets (eth0 on ECS, ens3 under qemu); it records the old settings in "
            + netformats.MANIFEST_PATH + ", changes files only and never restarts networking, so an SSH "
            "session survives: DHCP takes effect at the next boot.")


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
    return "{} ({})".format(config.path, netformats.label(config))


def _problems_text(config, who):
    """'eth0 has a static address and is pinned to MAC ... in FILE (format)'."""
    parts = []
    if config.method != "static" and not config.pinned and config.name:
        return ("{} gets its address only on the name {} in {}: the NIC of an ECS instance has another "
                "name (eth0 in Alibaba's images, or a predictable name such as ens5)".format(
                    who, config.name, _where(config)))
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

    def run(self, ctx):
        found = netformats.gather(ctx.root)
        record = netformats.recorded(ctx.root)
        primary, how = netformats.choose_primary(found, ctx.live, record)
        seen = netformats.assess(found, primary, record, boot.net_ifnames_off(ctx))
        who = _who(primary)
        fails, warns, tail = [], [], []
        rescued = netformats.nm.makes_default_profiles(ctx.root)
        for config in seen.targets:
            text = _problems_text(config, who)
            if config in seen.renamed and config.fmt == netformats.nm.FMT and rescued:
                # NetworkManager's automatic DHCP profile covers the NIC the old profile misses.
                warns.append(text + "; NetworkManager's automatic DHCP profile still configures the new NIC")
                continue
            (fails if config.method == "static" or config.pinned or config in seen.renamed
             else warns).append(text)
        secondary = [c for c in seen.others if c.method == "static" or c.pinned]
        for config in secondary:
            warns.append(_problems_text(config, _describe(config)) + "; ECS supports one NIC")
        for config in seen.targets:
            if config.members:
                warns.append("{} enslaves {} by name; an ECS instance has one NIC, with another name: "
                             "after the import {} has no member".format(
                                 config.name or config.ref, ", ".join(config.members), config.name or config.ref))
        broken = sorted(set(p.path for p in found.problems if p.lineno)) if seen.targets or seen.udev else []
        if broken:
            fails.append("the fix converts nothing while {} cannot be parsed (no half-converted "
                         "network)".format(", ".join(broken)))
        if seen.udev:
            warns.append("{} pins {} (udev)".format(netformats.UDEV_RULES, ", ".join(
                "{} to MAC {}".format(c.name, c.macs[0]) for c in seen.udev)))
        for problem in found.problems:
            sep = " " if problem.message.startswith("cannot") else ": "
            warns.append(problem.path + sep + problem.message)
        dhcp = [c for c in seen.primary if c.method == "dhcp" and c not in seen.targets]
        if dhcp and not fails:
            tail.append("{} uses DHCP ({})".format(who, ", ".join(
                "{} {}".format(netformats.label(c), c.path) for c in dhcp)))
        elif not found.configs and not found.problems:
            tail.append("no interface configuration found (looked at {}); cloud-init or the "
                        "distribution's default DHCP will configure the NIC".format(
                            ", ".join(m.LABEL for m in netformats.FORMATS)))
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
        keep = netformats.manifest(seen, primary, seen.udev)
        if keep["keep_on_ecs"]:
            hint.append("The old static settings are recorded (JSON report, and {} once fixed): {}.".format(
                netformats.MANIFEST_PATH, netformats.ecs_advice(keep["keep_on_ecs"])))
        if seen.udev:
            hint.append("The fix comments out the rules of {}: every MAC changes on ECS, and udev "
                        "writes new rules at the next boot.".format(netformats.UDEV_RULES))
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
            hint.append("Looked at: {}.".format("; ".join(netformats.LOOKED_AT)))
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
                  "udev": bool(seen.udev), "manifest": keep, "unparsable": broken})
