"""GUESTOS.CloudInit: placeholder until its check is written (reports ERROR, never PASS)."""
from agent.model import Check, Status


class CloudInit(Check):
    id = "cloudinit"
    title = "GUESTOS.CloudInit"
    item = "GUESTOS.CloudInit"
    repair_item = "cloudinit"

    def run(self, ctx):
        return self.result(Status.ERROR, "not implemented yet")
