"""Placeholder until the growpart fix is written: plans nothing."""
from agent.model import Remediation


class GrowpartFix(Remediation):
    id = "growpart"

    def plan(self, ctx, result):
        return []
