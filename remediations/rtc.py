"""Fix for GUESTOS.RtcTimeMode: the third line of /etc/adjtime becomes UTC.

Lines 1-2 (drift and calibration data) and the line ending stay byte-identical. The old
line is not kept as a comment: adjtime has no comment syntax, and only line 3 counts.
"""
from agent.checks.rtc import ADJTIME, analyse, needs_fix
from agent.core.model import Message, Mode, Remediation, WriteFile
from agent.parsers import replace_line


class RtcFix(Remediation):
    id = "rtc"
    mode = Mode.AUTO
    reversible = True
    offline_safe = True
    note = Message("The hardware clock is read as UTC from the next boot on.")

    def plan(self, ctx, result):
        text = ctx.root.read_config_or_none(ADJTIME)
        if text is None or not needs_fix(analyse(text)):
            return []
        new = replace_line(text, 3, "UTC", keep_original=False)
        if new == text:
            return []
        return [WriteFile(ADJTIME, new.encode("utf-8", "surrogateescape"),
                          why=Message("read the hardware clock as UTC, as ECS keeps it"))]
