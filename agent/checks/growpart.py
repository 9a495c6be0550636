"""GUESTOS.OnlineResizeFS: placeholder until its check is written (reports ERROR, never PASS)."""
from agent.model import Check, Status


class Growpart(Check):
    id = "growpart"
    title = "GUESTOS.OnlineResizeFS"
    item = "GUESTOS.OnlineResizeFS"
    repair_item = "growpart"

    def run(self, ctx):
        return self.result(Status.ERROR, "not implemented yet")
