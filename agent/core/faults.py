"""Crash points: a test hook that kills guestprep at a named point of its write path.

Nothing here is used in normal runs. The write path (journal, atomic write, engine,
rollback) calls `point("name")` at the moments a crash would leave a different state on
disk: a backup half written, a begin record appended, a temp file half written or
fsynced, a rename done, a done record appended, a step finished, a rollback step done.
With neither variable below set, `point` is a function that returns at once.

    GUESTPREP_CRASH_AT=<point>:<n>   SIGKILL this process at the n-th passage (1-based)
                                     of <point>; <point>:<n>:stop sends SIGSTOP instead
                                     (a run frozen while it holds the lock)
    GUESTPREP_CRASH_TRACE=<file>     append "<point>\\t<detail>" for every passage

tests/safety/test_crash.py uses the trace of a whole run to choose where to kill the
next ones, then checks that every file is its original or its complete new content and
that rollback (or fix run again) brings the root back.
"""
import os
import signal

POINTS = (
    "lock-taken",         # fix or rollback holds the state lock
    "journal-created",    # the run's directory and its first record exist
    "journal-partial",    # half a journal record written (a torn line)
    "backup-partial",     # half a backup copy written
    "backup-written",     # backup copy fsynced
    "begin-appended",     # begin record of a step fsynced, nothing changed yet
    "temp-partial",       # half the new content in the temp file
    "temp-fsynced",       # temp file complete (mode, owner, xattrs set), not renamed
    "renamed",            # temp file renamed over the target, directory not fsynced
    "removed",            # a file removed
    "flags-set",          # inode flags changed
    "done-appended",      # done record of a step fsynced
    "between-steps",      # a step finished, the next not begun
    "before-end",         # every step applied, end record not written
    "rollback-step",      # one change undone, the next not begun
)

_ENV_AT = "GUESTPREP_CRASH_AT"
_ENV_TRACE = "GUESTPREP_CRASH_TRACE"


def _noop(name, detail=""):
    return None


def _parse(spec):
    """(point, n, signal) of a GUESTPREP_CRASH_AT value; ValueError when malformed."""
    fields = spec.split(":")
    if len(fields) not in (2, 3) or fields[0] not in POINTS:
        raise ValueError("{}={!r}: expected <point>:<n>[:stop], point one of {}".format(
            _ENV_AT, spec, ", ".join(POINTS)))
    n = int(fields[1])
    if n < 1:
        raise ValueError("{}={!r}: n counts from 1".format(_ENV_AT, spec))
    if len(fields) == 3 and fields[2] != "stop":
        raise ValueError("{}={!r}: the third field can only be 'stop'".format(_ENV_AT, spec))
    return fields[0], n, signal.SIGSTOP if len(fields) == 3 else signal.SIGKILL


def _armed(at, trace):
    target = _parse(at) if at else None
    counts = {}

    def point(name, detail=""):
        counts[name] = counts.get(name, 0) + 1
        if trace:
            with open(trace, "a") as handle:
                handle.write("{}\t{}\n".format(name, detail))
        if target is not None and target[0] == name and target[1] == counts[name]:
            os.kill(os.getpid(), target[2])

    return point


def arm(at=None, trace=None):
    """Set the hook from values (tests) or, with no arguments, from the environment."""
    global point, ARMED
    if at is None and trace is None:
        at, trace = os.environ.get(_ENV_AT), os.environ.get(_ENV_TRACE)
    ARMED = bool(at or trace)
    point = _armed(at, trace) if ARMED else _noop


ARMED = False
point = _noop
arm()
