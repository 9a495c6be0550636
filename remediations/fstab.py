"""Placeholder until the fstab fix is written: plans nothing."""
from agent.model import Remediation


class FstabFix(Remediation):
    id = "fstab"

    def plan(self, ctx, result):
        return []
