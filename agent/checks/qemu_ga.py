"""qemu-ga: placeholder until its check is written (reports ERROR, never PASS)."""
from agent.model import Check, Status


class QemuGa(Check):
    id = "qemu_ga"
    title = "qemu-ga"
    item = "qemu-ga"
    repair_item = "qemu-ga"

    def run(self, ctx):
        return self.result(Status.ERROR, "not implemented yet")
