"""Parse /etc/udev/rules.d/70-persistent-net.rules.

Older udev (RHEL/CentOS 6, SLES 11, Debian before 9) wrote one rule per NIC
into this file, pinning the interface name to the MAC address it saw first.
An ECS instance has a new MAC, so the rule no longer matches, the NIC comes
up as ``eth1`` and the ``eth0`` DHCP configuration never runs (000: DHCP on
the single NIC; 003: GUESTOS.Dhcp). The check needs each pinned MAC and
name, and where the rule sits, to comment it out.

Syntax as udev reads it: comma-separated ``KEY{attr}<op>"value"`` pairs,
``#`` comments, a trailing backslash continuing a rule on the next line.
"""

from agent.parsers import LazyPattern, ParseProblem, split_ending, split_lines
from agent.tuples import namedtuple


class PersistentNetRule(namedtuple("PersistentNetRule", (
    "lineno",                 # int
    "mac",                    # str
    "name",                   # str
    "raw",                    # str
    "end_lineno",             # int
))):
    """A rule pinning ``name`` to ``mac`` (lower case).

    ``raw`` is the rule's text without its final line ending; a rule
    continued over several lines spans ``lineno`` to ``end_lineno``, and all
    of them must be commented out together.
    """

    __slots__ = ()


_PAIR = LazyPattern(
    r'[\s,]*([A-Za-z_]+(?:\{[^}]*\})?)\s*(==|!=|\+=|-=|:=|=)\s*"((?:[^"\\]|\\.)*)"')
_TRAILER = LazyPattern(r"[\s,]*\Z")


def _pairs(rule):
    """The ``(key, op, value)`` pairs of a rule, or None if it does not parse."""
    pairs, pos = [], 0
    while not _TRAILER.match(rule, pos):
        match = _PAIR.match(rule, pos)
        if not match:
            return None
        pairs.append(match.groups())
        pos = match.end()
    return pairs


def _logical_lines(text):
    """Yield ``(first_lineno, last_lineno, joined_rule)`` like udev reads them."""
    parts, first = [], None
    for lineno, line in enumerate(split_lines(text), 1):
        body = split_ending(line)[0].lstrip()
        if body.startswith("#") or (not body and first is None):
            # udev skips comment lines even in the middle of a continued rule.
            continue
        if first is None:
            first = lineno
        if body.endswith("\\"):
            parts.append(body[:-1])
            continue
        parts.append(body)
        yield first, lineno, "".join(parts)
        parts, first = [], None
    if first is not None:
        yield first, lineno, "".join(parts)


def parse(text):
    """Return ``(rules, problems)``: rules that pin a NIC name to a MAC."""
    rules, problems = [], []
    lines = split_lines(text)
    for first, last, rule in _logical_lines(text):
        pairs = _pairs(rule)
        if pairs is None:
            problems.append(ParseProblem(first, "not a list of KEY<op>\"value\" pairs"))
            continue
        mac = name = None
        for key, op, value in pairs:
            if key == "ATTR{address}" and op == "==":
                mac = value.lower()
            elif key == "NAME" and op in ("=", ":="):
                name = value
        if mac is not None and name is not None:
            raw = split_ending("".join(lines[first - 1:last]))[0]
            rules.append(PersistentNetRule(first, mac, name, raw, last))
    return rules, problems
