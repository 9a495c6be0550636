"""nic: an imported image should know one network interface.

Seed 000 (ネットワーク): 1つのネットワークインターフェイスのみがサポートされていることに
注意してください — ECS supports one NIC in an imported image; an instance gets its primary
ENI as eth0 by DHCP. Configuration for a second interface (a bond, a backend network, a
static eth1) comes along as dead configuration, and network services that wait for every
configured interface (NetworkManager-wait-online, ifupdown's auto lines, wicked) can
delay or fail the boot. Offline, the interfaces named in the guest's network
configuration are counted (agent/netformats.py reads all six formats); on the running
system, the physical NICs present are counted too (loopback, bridges, docker, veth and
other virtual devices left out).

Report only: guestprep's dhcp fix converts the primary interface; what to do with the
others is the user's decision.
"""
from agent import netformats
from agent.core.model import Check, Message, Status

# Interfaces that are not NICs (software devices of containers, VPNs and hypervisors).
VIRTUAL_PREFIXES = ("lo", "docker", "veth", "virbr", "br-", "cni", "flannel", "cali", "vxlan", "tun",
                    "tap", "wg", "tailscale", "kube", "podman", "lxc", "vnet", "zt", "dummy", "bond",
                    "team", "ip6tnl", "sit", "gre", "ipip")


def is_virtual_name(name):
    return name == "lo" or name.startswith(VIRTUAL_PREFIXES) or "." in name or ":" in name


def physical_nics(ctx):
    """NICs present on the running system: those backed by a device in /sys/class/net."""
    names = [n for n in ctx.live.nics() if n != "lo"]
    if ctx.root.isdir("/sys/class/net"):
        backed = [n for n in names if ctx.root.exists("/sys/class/net/{}/device".format(n))]
        return [n for n in backed if not is_virtual_name(n)] if backed else \
            [n for n in names if not is_virtual_name(n)]
    return [n for n in names if not is_virtual_name(n)]


class Nic(Check):
    id = "nic"
    title = "One network interface"
    item = "nic"
    repair_item = ""
    refs = ("000",)

    def run(self, ctx):
        found = netformats.gather(ctx.root)
        configured = {}
        for config in found.configs:
            if config.fmt in ("udev", "suse-routes") or not config.name or config.ref == "alias":
                continue
            if is_virtual_name(config.name):
                continue
            configured.setdefault(config.name, []).append(config.path)
        names = sorted(configured, key=netformats.order_key)
        present = sorted(physical_nics(ctx), key=netformats.order_key) if ctx.live is not None else None
        data = {"configured": names, "present": present}
        findings = []
        if len(names) > 1:
            findings.append(self.finding(Status.WARN, "configured", Message(
                "configuration for {count} interfaces: {interfaces}", count=len(names), interfaces="; ".join(
                    "{} ({})".format(n, ", ".join(sorted(set(configured[n])))) for n in names)), refs=("000",)))
        if present is not None and len(present) > 1:
            findings.append(self.finding(Status.WARN, "present", Message(
                "{count} NICs present: {nics}", count=len(present), nics=", ".join(present)), refs=("000",)))
        if findings:
            paths = sorted(set(p for n in names for p in configured[n]))
            return self.results(findings, Message(
                "ECS supports one NIC in an imported image (seed 000); the instance's primary NIC comes up by "
                "DHCP. Remove the configuration of the other interfaces (or keep it only if you will attach "
                "secondary ENIs and configure them after import), and detach extra NICs before capture."),
                paths=paths, data=data)
        if names and present:
            where = Message("configured: {name}; present: {nics}", name=names[0], nics=", ".join(present))
        elif names:
            where = Message("configured: {name}", name=names[0])
        elif present:
            where = Message("present: {nics}", nics=", ".join(present))
        else:
            where = Message("none named in the configuration")
        if found.problems:
            return self.passed(Message("one network interface ({where}) ({count} configuration file(s) could not "
                                       "be read; see the dhcp check)", where=where, count=len(found.problems)),
                               data=data, code="one")
        return self.passed(Message("one network interface ({where})", where=where), data=data, code="one")
