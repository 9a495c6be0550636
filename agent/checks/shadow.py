"""shadow: placeholder until its check is written (reports ERROR, never PASS)."""
from agent.model import Check, Status


class Shadow(Check):
    id = "shadow"
    title = "shadow"
    item = "shadow"
    repair_item = "shadow"

    def run(self, ctx):
        return self.result(Status.ERROR, "not implemented yet")
