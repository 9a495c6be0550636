"""Placeholder until the cloudinit fix is written: plans nothing."""
from agent.model import Remediation


class CloudInitFix(Remediation):
    id = "cloudinit"

    def plan(self, ctx, result):
        return []
