"""GUESTOS.RtcTimeMode: placeholder until its check is written (reports ERROR, never PASS)."""
from agent.model import Check, Status


class Rtc(Check):
    id = "rtc"
    title = "GUESTOS.RtcTimeMode"
    item = "GUESTOS.RtcTimeMode"
    repair_item = "rtc"

    def run(self, ctx):
        return self.result(Status.ERROR, "not implemented yet")
