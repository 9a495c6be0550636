"""GUESTOS.RtcTimeMode: the guest must read the hardware clock (RTC) as UTC.

Seed 003 (GUESTOS.RtcTimeMode): ECS recommends keeping the RTC in UTC, and ECS instances
present it in UTC. A guest whose /etc/adjtime says LOCAL treats that UTC time as local
time, so it comes up with its clock off by the UTC offset of its time zone until NTP
corrects it: TLS certificates look not yet valid, Kerberos and cron misbehave, and log
times jump.

/etc/adjtime (adjtime_config(5)): line 1 "drift last-adjust-time status", line 2 the
last calibration time, line 3 `UTC` or `LOCAL`. A missing file or a missing or empty
third line means UTC, which is how hwclock and systemd both read it; systemd (which
decides at boot whether to warp the clock) compares the third line, without its line
ending, to `LOCAL` exactly. The file decides; `timedatectl` only reports it.
"""
from agent.core.model import Check, Message, Status
from agent.core.rootfs import RootError
from agent.parsers import LazyPattern, split_ending, split_lines
from agent.tuples import namedtuple

ADJTIME = "/etc/adjtime"
STANDARD = "0.0 0 0.0\n0\nUTC\n"

_NUM = r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
_LINE1 = LazyPattern(r"[ \t]*{0}[ \t]+{0}[ \t]+{0}[ \t]*\Z".format(_NUM))
_LINE2 = LazyPattern(r"[ \t]*{}[ \t]*\Z".format(_NUM))


class Adjtime(namedtuple("Adjtime", (
    "third",                  # Optional[str]
    "problem",                # str: why lines 1-2 are not adjtime format ('' when they are)
))):
    """What /etc/adjtime says. `third` is the third line without its ending, None if absent."""

    __slots__ = ()

    @property
    def local(self):
        return self.third == "LOCAL"

    @property
    def utc(self):
        return self.third in (None, "", "UTC")


def analyse(text):
    lines = [split_ending(line)[0] for line in split_lines(text)]
    problem = ""
    if lines and not _LINE1.match(lines[0]):
        problem = Message("line 1 is not three numbers (drift, last adjust time, adjust status)")
    elif len(lines) > 1 and not _LINE2.match(lines[1]):
        problem = Message("line 2 is not a number (last calibration time)")
    return Adjtime(lines[2] if len(lines) > 2 else None, problem)


def needs_fix(adjtime):
    """True when replacing the third line by UTC is a safe, meaningful change."""
    if adjtime.utc:
        return False
    # A file that is not adjtime format at all is not ours to edit line by line.
    return adjtime.local or not adjtime.problem


def _shown(value, limit=40):
    value = repr(value)
    return value if len(value) <= limit else value[:limit - 3] + "..."


class Rtc(Check):
    id = "rtc"
    title = "hardware clock (RTC) read as UTC"
    item = "GUESTOS.RtcTimeMode"
    repair_item = "rtc"
    refs = ("003",)

    def run(self, ctx):
        root = ctx.root
        shown = root.display(ADJTIME)
        if ctx.offline:
            commands = ["sed -i '3s/^.*$/UTC/' " + shown]
        else:
            commands = ["timedatectl set-local-rtc 0"]
        try:
            text = root.read_config_or_none(ADJTIME)
        except RootError as e:
            return self.result(
                Status.WARN, Message("cannot read {path}: {reason}", path=ADJTIME, reason=e.reason),
                Message("The clock mode cannot be told from a file that is not text. Replace it with the standard "
                        "UTC content ({standard}) or remove it (no file means UTC).", standard=repr(STANDARD)),
                commands=[("rm -r " if root.isdir(ADJTIME) else "rm ") + shown], paths=[ADJTIME], code="unreadable")
        if text is None:
            return self.passed(Message("{path} does not exist: the hardware clock is read as UTC", path=ADJTIME),
                               code="absent")
        adjtime = analyse(text)
        data = {"third": adjtime.third, "problem": adjtime.problem}
        if adjtime.local:
            if ctx.offline:
                hint = Message("ECS keeps the instance's hardware clock in UTC; with LOCAL the guest starts with its "
                               "clock off by its UTC offset. Set the third line of {path} to UTC (guestprep fix "
                               "--items rtc does this and keeps lines 1-2); on the running VM `timedatectl "
                               "set-local-rtc 0` does the same.", path=ADJTIME)
            else:
                hint = Message("ECS keeps the instance's hardware clock in UTC; with LOCAL the guest starts with its "
                               "clock off by its UTC offset. Set the third line of {path} to UTC (guestprep fix "
                               "--items rtc does this and keeps lines 1-2); on the running VM `timedatectl "
                               "set-local-rtc 0` does the same. Until then `timedatectl` shows \"RTC in local TZ: "
                               "yes\".", path=ADJTIME)
            findings = [self.finding(Status.FAIL, "local", Message(
                "{path} reads the hardware clock as local time (third line LOCAL)", path=ADJTIME), path=ADJTIME)]
            if adjtime.problem:
                # Told after the LOCAL finding, which the fix repairs; the format problem it keeps.
                findings.append(self.finding(Status.WARN, "format", Message("also {problem}",
                                                                            problem=adjtime.problem), path=ADJTIME))
            return self.results(findings, hint, commands=commands, paths=[ADJTIME], data=data)
        if adjtime.problem:
            return self.result(
                Status.WARN, Message("{path} is not in adjtime format: {problem}", path=ADJTIME,
                                     problem=adjtime.problem),
                Message("hwclock and systemd read such a file as UTC but it is probably not what was meant. Replace "
                        "it with the standard content ({standard}) or remove it (no file means UTC).",
                        standard=repr(STANDARD)),
                commands=["printf '0.0 0 0.0\\n0\\nUTC\\n' > " + shown], paths=[ADJTIME], data=data,
                code="format")
        if adjtime.utc:
            if adjtime.third == "UTC":
                text = Message("{path} reads the hardware clock as UTC (UTC)", path=ADJTIME)
            else:
                text = Message("{path} reads the hardware clock as UTC (no third line: UTC by default)", path=ADJTIME)
            return self.passed(text, paths=[ADJTIME], data=data, code="utc")
        return self.result(
            Status.WARN,
            Message("third line of {path} is {value}, neither UTC nor LOCAL", path=ADJTIME,
                    value=_shown(adjtime.third)),
            Message("systemd reads this as UTC but hwclock warns about it and other tools may disagree; set it to "
                    "UTC (guestprep fix --items rtc; on the running VM `timedatectl set-local-rtc 0`)."),
            commands=commands, paths=[ADJTIME], data=data, code="unknown-mode")
