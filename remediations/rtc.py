"""Placeholder until the rtc fix is written: plans nothing."""
from agent.model import Remediation


class RtcFix(Remediation):
    id = "rtc"

    def plan(self, ctx, result):
        return []
