"""Fix for GUESTOS.Selinux: SELINUX=disabled in /etc/selinux/config, every other line kept."""
from agent.checks.selinux import CONFIG
from agent.core.model import Message, Mode, Remediation, WriteFile
from agent.parsers import keyvalue


class SelinuxFix(Remediation):
    id = "selinux"
    mode = Mode.AUTO
    needs_reboot = True
    note = Message("SELinux is disabled from the next boot on.")

    def plan(self, ctx, result):
        if not result.data or result.data.get("mode") in (None, "disabled"):
            return []   # only kernel arguments are left: the hint says how
        text = ctx.root.read_config(CONFIG)
        new = keyvalue.set_value(text, "SELINUX", "disabled")
        if new == text:
            return []
        return [WriteFile(CONFIG, new.encode("utf-8", "surrogateescape"), why=Message("disable SELinux"))]
