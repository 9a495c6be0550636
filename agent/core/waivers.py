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

    {"waivers": [{"item": "GUESTOS.Dhcp", "reason": "...", "by": "...", "expires": "2027-03-31"}]}

Waivers are read from --waivers FILE, else from /etc/guestprep/waivers.ini or .json of the
machine guestprep runs on. Never from a mounted image: an image must not waive its own
findings.
"""
import configparser
import datetime
import json
import os

from agent.core.model import Status

DEFAULT_PATHS = ("/etc/guestprep/waivers.ini", "/etc/guestprep/waivers.json")
FIELDS = ("reason", "by", "expires")
MAX_SIZE = 1 << 20


class WaiverError(Exception):
    """The waivers file cannot be used; the message names the file and what is wrong."""


class Waiver(object):
    def __init__(self, match, reason, by, expires, source):
        self.match = match
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
        if not names(match.strip()):
            raise WaiverError("{}: no check is named {} (use the names `guestprep list` shows)".format(
                where, match.strip()))
        try:
            expires = datetime.datetime.strptime(fields["expires"].strip(), "%Y-%m-%d").date()
        except ValueError:
            raise WaiverError("{}: expires must be a date as YYYY-MM-DD, not {!r}".format(where, fields["expires"]))
        waivers.append(Waiver(match.strip(), fields["reason"].strip(), fields["by"].strip(), expires, path))
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

    `selects(match, result)` says whether a waiver's name selects a result. An expired
    waiver leaves the result's status as it is and says so in its summary."""
    today = today or datetime.date.today()
    out = []
    for r in results:
        waiver = next((w for w in waivers if selects(w.match, r)), None)
        if waiver is None or r.status not in (Status.WARN, Status.FAIL, Status.ERROR):
            out.append(r)
            continue
        info = dict(waiver.as_dict(today), status=r.status)
        if waiver.expired(today):
            out.append(r._replace(summary="{} (waiver by {} expired on {})".format(
                r.summary, waiver.by, waiver.expires.isoformat()), waiver=info))
        else:
            out.append(r._replace(status=Status.WAIVED, waiver=info))
    return out
