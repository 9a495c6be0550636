"""GUESTOS.Fstab: placeholder until its check is written (reports ERROR, never PASS)."""
from agent.model import Check, Status


class Fstab(Check):
    id = "fstab"
    title = "GUESTOS.Fstab"
    item = "GUESTOS.Fstab"
    repair_item = "fstab"

    def run(self, ctx):
        return self.result(Status.ERROR, "not implemented yet")
