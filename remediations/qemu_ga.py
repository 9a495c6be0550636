"""Fix for qemu-ga: stop the agent (live), disable its unit, remove the package.

Package removal cannot be rolled back, so this fix is declared irreversible: the engine
applies it only when the user names qemu-ga (or all), and the plan says so. Each step
shows how to undo it by hand.
"""
from agent.core.context import shell_command
from agent.core.model import Message, Mode, Remediation, RunCommand


class QemuGaFix(Remediation):
    id = "qemu_ga"
    mode = Mode.AUTO
    reversible = False
    offline_safe = True
    note = Message("The QEMU guest agent package is removed; reinstalling it is the only undo.")

    def plan(self, ctx, result):
        data = result.data or {}
        steps = []
        units = data.get("units") or []
        if data.get("running"):
            for unit in units:
                steps.append(RunCommand(("systemctl", "stop", unit), why=Message("stop the running agent"),
                                        undo_hint=shell_command(ctx, ["systemctl", "start", unit]), live_only=True))
        # systemctl disable works in a chroot (it edits links, and runs update-rc.d for
        # SysV links); package removal would drop the links too, but only on success.
        if data.get("enabled") and any(ctx.root.exists(p) for p in ("/usr/bin/systemctl", "/bin/systemctl")):
            for unit in units:
                steps.append(RunCommand(("systemctl", "disable", unit), why=Message("do not start the agent at boot"),
                                        undo_hint=shell_command(ctx, ["systemctl", "enable", unit])))
        install = ctx.package_manager()
        packages = data.get("packages") or []
        if packages and install:
            steps.append(RunCommand(tuple(install["remove"] + packages),
                                    why=Message("remove the QEMU guest agent (seed 000)"),
                                    undo_hint=shell_command(ctx, install["install"] + packages),
                                    network=True))   # dnf and zypper load repository metadata to remove
        return steps
