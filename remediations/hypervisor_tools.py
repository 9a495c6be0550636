"""Fix for hypervisor-tools: remove the source hypervisor's guest tools.

Packages go with the target's package manager (one command for all of them); a tarball
install (VMware Tools, VirtualBox Guest Additions, Parallels Tools) is removed by the
vendor's own uninstaller, which knows what the installer replaced. Both run inside the
target (chrooted, or in the container, with --root). Neither can be rolled back, so the
fix is declared irreversible: the engine applies it only when hypervisor-tools (or all)
is named, and each step says how to undo it by hand.
"""
from agent.core.context import shell_command
from agent.core.model import Message, Mode, Remediation, RunCommand


class HypervisorToolsFix(Remediation):
    id = "hypervisor_tools"
    mode = Mode.AUTO
    reversible = False
    offline_safe = True
    note = Message("Removed; reinstalling the tools is the only undo.")

    def plan(self, ctx, result):
        found = (result.data or {}).get("found") or []
        steps = []
        manager = ctx.package_manager()
        packages = [p for item in found for p in item["packages"]]
        if packages and manager:
            steps.append(RunCommand(tuple(manager["remove"] + packages),
                                    why=Message("remove the guest tools of the source hypervisor"),
                                    undo_hint=shell_command(ctx, manager["install"] + packages)))
        for item in found:
            if item["uninstaller"] and not item["packages"]:
                steps.append(RunCommand(tuple(item["uninstaller"]),
                                        why=Message("the vendor's uninstaller removes {vendor}", vendor=item["vendor"]),
                                        undo_hint=Message("install {vendor} again from the vendor's package",
                                                          vendor=item["vendor"])))
        return steps
