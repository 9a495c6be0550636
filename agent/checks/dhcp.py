"""GUESTOS.Dhcp: placeholder until its check is written (reports ERROR, never PASS)."""
from agent.model import Check, Status


class Dhcp(Check):
    id = "dhcp"
    title = "GUESTOS.Dhcp"
    item = "GUESTOS.Dhcp"
    repair_item = "dhcp"

    def run(self, ctx):
        return self.result(Status.ERROR, "not implemented yet")
