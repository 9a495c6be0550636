"""Placeholder until the shadow fix is written: plans nothing."""
from agent.model import Remediation


class ShadowFix(Remediation):
    id = "shadow"

    def plan(self, ctx, result):
        return []
