"""Fix for firewall: stop the host firewall from starting at boot (proposed; seed 000).

`systemctl disable` removes the unit's *.wants links and its aliases (firewalld's
dbus-org.fedoraproject.FirewallD1.service). guestprep removes exactly those links itself
(RemoveFile) instead of running systemctl: the journal backs each link up, so rollback
puts them back byte for byte, and it works the same on a mounted image without a chroot.
For ufw the switch is ENABLED=no in /etc/ufw/ufw.conf (what `ufw disable` persists).
The running firewall is left alone: the change takes effect at the next boot.
"""
from agent.checks.firewall import UFW_CONF
from agent.core.model import Message, Mode, Remediation, RemoveFile, WriteFile
from agent.facts.services import enabled_links
from agent.parsers import keyvalue


class FirewallFix(Remediation):
    id = "firewall"
    mode = Mode.PROPOSE
    reversible = True
    offline_safe = True
    needs_reboot = True
    note = Message("The firewall stops starting at boot; a running one keeps running until the next boot.")

    def plan(self, ctx, result):
        steps = []
        for firewall in (result.data or {}).get("active", []):
            if firewall["name"] == "ufw":
                text = ctx.root.read_config_or_none(UFW_CONF)
                if text is None:
                    continue
                new = keyvalue.set_value(text, "ENABLED", "no")
                if new != text:
                    steps.append(WriteFile(UFW_CONF, new.encode("utf-8", "surrogateescape"),
                                           why=Message("ufw: ENABLED=no (what `ufw disable` writes)")))
                continue
            # Re-read the links: the plan must match the target as it is now.
            links = []
            for unit in firewall["units"]:
                for link in enabled_links(ctx.root, unit, ()):
                    if link not in links:
                        links.append(link)
            links.extend(l for l in firewall["links"] if l.startswith("/etc/rc") and ctx.root.lexists(l)
                         and l not in links)
            for link in links:
                steps.append(RemoveFile(link, why=Message("{name}: do not start at boot (as `systemctl disable`)",
                                                            name=firewall["name"])))
        return steps
