"""Fix for GUESTOS.OnlineResizeFS: install growpart and the root filesystem's resize tool.

Package installs cannot be rolled back: declared irreversible and proposed only (applied
when the user names growpart). Changes to cloud-init's module list are left to the
person (the hint shows the lines), since cloud.cfg is the distribution's file.
"""
from agent.core.model import Message, Mode, Remediation
from remediations.cloudinit import package_steps


class GrowpartFix(Remediation):
    id = "growpart"
    mode = Mode.PROPOSE
    reversible = False
    offline_safe = True
    note = Message("Package installs cannot be rolled back.")

    def plan(self, ctx, result):
        missing = (result.data or {}).get("missing") or []
        return package_steps(ctx, missing, Message("install {packages} (GUESTOS.OnlineResizeFS)",
                                                    packages=", ".join(missing)))
