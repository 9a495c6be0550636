"""Waivers: findings a person accepted on purpose, with a reason, who, and an end date.

A pipeline that bakes images must be able to say "this FAIL is known and accepted until
the end of March" without turning the check off (OpenSCAP's tailoring, Leapp's inhibitor
overrides). A waived result is reported as WAIVED with its waiver and does not block the
exit code; once the waiver has expired, the result counts again, and says so.

The file is INI (one section per waiver) or JSON, both readable by Python 3.6's standard
library:

    [GUESTOS.Dhcp]                       # a check id, item ID or repair item, as `list` shows
    reason = the static address is kept on purpose and set on ECS at creation
    by = ops@example.com
    expires = 2027-03-31

    [system_image.partitions]            # or one finding's code, as JSON's findings show
    reason = /boot stays a partition; tested on ECS
    by = ops@example.com
    expires = 2027-03-31

    {"waivers": [{"item": "GUESTOS.Dhcp", "reason": "...", "by": "...", "expires": "2027-03-31"}]}

Waivers are read from --waivers FILE, else from /etc/guestprep/waivers.ini or .json of the
machine guestprep runs on. Never from a mounted image: an image must not waive its own
findings.

A waiver of a check waives every WARN, FAIL and ERROR finding of its result; a waiver of a
finding code ("<check id>.<slug>") waives those findings only, and the result's status is
the worst of what is left (WAIVED when nothing else is wrong). An expired waiver waives
nothing: the findings count, and the result's summary says the waiver expired.
"""
import datetime
import json
import os
import re

from agent.core.model import Status

DEFAULT_PATHS = ("/etc/guestprep/waivers.ini", "/etc/guestprep/waivers.json")
FIELDS = ("reason", "by", "expires")
MAX_SIZE = 1 << 20
_CODE = re.compile(r"([a-z0-9_]+)\.([a-z0-9-]+)\Z")
_WAIVABLE = (Status.WARN, Status.FAIL, Status.ERROR)


class WaiverError(Exception):
    """The waivers file cannot be used; the message names the file and what is wrong."""


class Waiver(object):
    def __init__(self, match, reason, by, expires, source, code=False):
        self.match = match
        self.code = code            # True: match is a finding code, not a check
        self.reason = reason
        self.by = by
        self.expires = expires      # datetime.date: the last day the waiver holds
        self.source = source

    def expired(self, today):
        return today > self.expires

    def as_dict(self, today):
        return {"match": self.match, "reason": self.reason, "by": self.by,
                "expires": self.expires.isoformat(), "expired": self.expired(today), "file": self.source}


def _entries(path, text):
    """[(match, {field: value})] of a waivers file's text."""
    if path.endswith(".json"):
        try:
            data = json.loads(text)
        except ValueError as e:
            raise WaiverError("{}: not valid JSON ({})".format(path, e))
        rows = data.get("waivers") if isinstance(data, dict) else None
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise WaiverError('{}: expected {{"waivers": [{{"item": ..., "reason": ..., "by": ..., '
                              '"expires": "YYYY-MM-DD"}}]}}'.format(path))
        return [(str(r.get("item", "")), dict((k, str(r.get(k, ""))) for k in FIELDS)) for r in rows]
    import configparser  # only when a waivers file is given or present
    parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=("#", ";"))
    parser.optionxform = str
    try:
        parser.read_string(text, source=path)
    except configparser.Error as e:
        raise WaiverError("{}: not a valid INI file ({})".format(path, " ".join(str(e).split())))
    return [(section, dict((k, parser.get(section, k, fallback="")) for k in FIELDS))
            for section in parser.sections()]


def parse(path, text, names):
    """[Waiver] of one file; `names` (a callable) says whether a match names a check."""
    waivers = []
    for match, fields in _entries(path, text):
        where = "{}: waiver [{}]".format(path, match)
        missing = [k for k in FIELDS if not fields.get(k, "").strip()]
        if not match.strip() or missing:
            raise WaiverError("{}: {} missing (each waiver needs item, reason, by and expires)".format(
                where, ", ".join((["item"] if not match.strip() else []) + missing)))
        code = False
        if not names(match.strip()):
            form = _CODE.match(match.strip())
            if not form or form.group(1) not in names(form.group(1)):
                raise WaiverError("{}: no check is named {} (use the names `guestprep list` shows, or a "
                                  "finding's code as <check id>.<slug>)".format(where, match.strip()))
            code = True
        try:
            expires = datetime.datetime.strptime(fields["expires"].strip(), "%Y-%m-%d").date()
        except ValueError:
            raise WaiverError("{}: expires must be a date as YYYY-MM-DD, not {!r}".format(where, fields["expires"]))
        waivers.append(Waiver(match.strip(), fields["reason"].strip(), fields["by"].strip(), expires, path, code))
    return waivers


def load(path, names):
    """The waivers of `path` (given by --waivers), or of the default files when path is None."""
    paths = [path] if path else [p for p in DEFAULT_PATHS if os.path.isfile(p)]
    waivers = []
    for p in paths:
        try:
            with open(p, "rb") as handle:
                data = handle.read(MAX_SIZE + 1)
        except OSError as e:
            raise WaiverError("{}: cannot be read: {}".format(p, e.strerror))
        if len(data) > MAX_SIZE:
            raise WaiverError("{}: larger than {} bytes".format(p, MAX_SIZE))
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise WaiverError("{}: not UTF-8 text".format(p))
        waivers.extend(parse(p, text, names))
    return waivers


def apply(results, waivers, selects, today=None):
    """Results with the waived ones as WAIVED (their own status kept in the waiver).

    `selects(match, result)` says whether a waiver's name selects a result. A waiver of a
    check waives the result and its WARN/FAIL/ERROR findings; a waiver of a finding code
    waives those findings and the result's status is recomputed from the rest. An expired
    waiver leaves the statuses as they are and says so in the summary."""
    today = today or datetime.date.today()
    out = []
    for r in results:
        waiver = next((w for w in waivers if not w.code and selects(w.match, r)), None)
        if waiver is not None and r.status in _WAIVABLE:
            info = dict(waiver.as_dict(today), status=r.status)
            if waiver.expired(today):
                out.append(r._replace(summary="{} (waiver by {} expired on {})".format(
                    r.summary, waiver.by, waiver.expires.isoformat()), waiver=info))
            else:
                out.append(r._replace(status=Status.WAIVED, waiver=info, findings=tuple(
                    f._replace(status=Status.WAIVED) if f.status in _WAIVABLE else f for f in r.findings)))
            continue
        out.append(_apply_codes(r, [w for w in waivers if w.code], today))
    return out


def _apply_codes(result, waivers, today):
    """`result` with the findings that finding-code waivers name waived."""
    findings, used, expired = [], [], []
    for f in result.findings:
        waiver = next((w for w in waivers if w.match == f.code), None)
        if waiver is None or f.status not in _WAIVABLE:
            findings.append(f)
            continue
        used.append(dict(waiver.as_dict(today), status=f.status, code=f.code))
        if waiver.expired(today):
            findings.append(f)
            expired.append(waiver)
        else:
            findings.append(f._replace(status=Status.WAIVED))
    if not used:
        return result
    # The first waiver is the result's, as a waiver of the check is; "findings" lists each.
    info = dict(used[0], findings=used)
    summary = result.summary
    for waiver in expired:
        summary = "{} (waiver of {} by {} expired on {})".format(summary, waiver.match, waiver.by,
                                                                waiver.expires.isoformat())
    # The worst of what is still wrong; WAIVED when every WARN, FAIL and ERROR was waived.
    left = [f.status for f in findings if f.status in _WAIVABLE]
    status = Status.worst(left) if left else Status.WAIVED
    info["status"] = result.status
    return result._replace(status=status, summary=summary, waiver=info, findings=tuple(findings))
