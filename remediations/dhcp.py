"""Fix for GUESTOS.Dhcp: the primary NIC to DHCP, on whatever name the ECS NIC gets.

Each file is converted by its format's module (agent.netformats.<fmt>), in
that format's own idiom for "any ethernet NIC" (ifupdown `auto /e*/1=NAME`,
netplan `match: {name: "e*"}`, networkd `Name=en* eth*`, a NetworkManager
profile without interface-name or MAC; ifcfg, which cannot say it, names
eth0), so every line the fix does not need to change stays byte for byte,
and lines it removes are commented out with the guestprep marker. Before any
static setting goes, the old network is recorded in
/var/lib/guestprep/network-manifest.json (a journaled write: rollback removes
it with the rest). Nothing is restarted and no command runs: the new
configuration takes effect at the next boot, so the SSH session of the person
running the fix survives.

net.ifnames=0 is not part of this fix. It is how Alibaba's own images boot
(the first NIC is eth0), but it renames every NIC of the image, and firewall
rules, services and scripts that name ens192/enp0s3 break with it; the
converted configurations above already match eth0 as well as ens3/ens5. It
would help only an ifcfg image (RHEL 7 network-scripts, SUSE wicked), whose
format can name one interface only: there guestprep names eth0, and
NetworkManager's automatic DHCP profile (no-auto-default removed) covers a
NIC with another name on RHEL 8/9.
"""
import json

from agent import netformats
from agent.core.model import Message, Mode, Refused, Remediation, WriteFile
from agent.facts import boot
from agent.netformats import nm, udev


class DhcpFix(Remediation):
    id = "dhcp"
    mode = Mode.DEFER
    reversible = True
    offline_safe = True
    needs_reboot = True
    disrupts_network = True
    note = Message("Files only: networking is not restarted, so your SSH session stays up; "
                   "DHCP takes effect at the next boot.")

    def plan(self, ctx, result):
        if not result.data or not (result.data.get("targets") or result.data.get("udev")):
            return []
        primary = result.data.get("primary")
        found = netformats.gather(ctx.root)
        broken = [p for p in found.problems if p.lineno]
        if broken:
            raise Refused(Message("not converting a half-understood network: {problems} (repair or remove it, "
                                  "then run the fix again)",
                                  problems="; ".join("{} {}".format(p.path, p.message) for p in broken)))
        record = netformats.recorded(ctx.root)
        seen = netformats.assess(found, primary, record, boot.net_ifnames_off(ctx))
        by_path = {}
        for config in seen.targets:
            by_path.setdefault(config.path, []).append(config)
        steps = []
        for path in sorted(by_path):
            configs = by_path[path]
            try:
                steps.extend(netformats.MODULES[configs[0].fmt].steps(
                    ctx.root, path, ctx.root.read_config(path), configs, primary))
            except ValueError as e:
                raise Refused(Message("{path} cannot be converted safely: {error}; nothing was changed",
                                      path=path, error=str(e)))
        if seen.udev:
            steps.extend(udev.steps(ctx.root, udev.PATH, ctx.root.read_config(udev.PATH), seen.udev, primary))
        if seen.targets:
            steps.extend(nm.auto_default_steps(ctx.root, []))
        converted = [s.path for s in steps]
        if converted and seen.targets:
            keep = netformats.manifest(seen, primary, seen.udev)
            if record:
                keep["interfaces"] = record.get("interfaces", []) + keep["interfaces"]
                keep["keep_on_ecs"] = netformats.ecs_settings(keep["interfaces"])
                keep["primary"] = record["primary"]
            keep["paths"] = sorted(set((record.get("paths") or []) + converted))
            steps.insert(0, WriteFile(netformats.MANIFEST_PATH,
                                      (json.dumps(keep, indent=2, sort_keys=True) + "\n").encode("utf-8"),
                                      mode=0o600,
                                      why=Message("record the old network settings before DHCP replaces them")))
        return steps
