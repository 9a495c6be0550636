"""Placeholder until the qemu_ga fix is written: plans nothing."""
from agent.model import Remediation


class QemuGaFix(Remediation):
    id = "qemu_ga"

    def plan(self, ctx, result):
        return []
