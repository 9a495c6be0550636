"""Placeholder until the dhcp fix is written: plans nothing."""
from agent.model import Remediation


class DhcpFix(Remediation):
    id = "dhcp"

    def plan(self, ctx, result):
        return []
