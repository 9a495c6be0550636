"""ifupdown's /etc/network/interfaces (Debian, older Ubuntu): read stanzas, convert one to DHCP.

An ECS instance gets its private address, gateway and resolvers from the VPC's
DHCP server, and its NIC has a MAC address the image has never seen. The
Debian installer writes `iface <nic> inet static` with the address, gateway and
resolvers of the network it was installed on, and `hwaddress` sets the old MAC;
either leaves the imported instance without network. Alibaba Cloud "Overview
of the image check feature", item GUESTOS.Dhcp: the primary NIC must use DHCP
and must not be pinned to a MAC address. Format: interfaces(5) of ifupdown.

Pure functions: text in, data or text out. Lines are read the way ifupdown
reads them: a line whose first non-blank character is `#` is a comment, a
trailing backslash joins the next line, and a line is an option of the iface or
mapping stanza above it whatever its indentation. `source` patterns are
returned as written; expanding them against the guest is the caller's job.
"""
from agent.parsers import (
    DISABLED_PREFIX,
    LazyPattern,
    ParseProblem,
    comment_out,
    replace_line,
    split_ending,
    split_lines,
)
from agent.tuples import namedtuple

# The options that only mean something with a fixed address (interfaces(5),
# "The inet address family", method static; resolvconf's dns-*), and
# `hwaddress`, which sets the NIC to the old MAC and clashes with the one ECS
# assigned. Options any method uses (mtu, metric, pre-up, post-up, up, down
# ...) stay: they may carry the user's own setup, which DHCP does not replace.
STATIC_OPTIONS = (
    "address",
    "netmask",
    "gateway",
    "broadcast",
    "network",
    "pointopoint",
    "scope",
    "hwaddress",
    "dns-nameservers",
    "dns-search",
    "dns-domain",
    "dns-sortlist",
    "dns-options",
)

FAMILIES = ("inet", "inet6", "ipx", "can")

# First words that start a stanza; any other first word is an option of the
# iface or mapping stanza above it. `allow-` takes any class after the dash.
_KINDS = {
    "iface": "iface",
    "mapping": "mapping",
    "auto": "auto",
    "source": "source",
    "source-directory": "source-directory",
    # ifupdown 0.8 accepts the short spelling as well.
    "source-dir": "source-directory",
    "no-auto-down": "no-auto-down",
    "no-scripts": "no-scripts",
}


class Option(namedtuple("Option", (
    "lineno",                 # int
    "key",                    # str
    "value",                  # str
    "end_lineno",             # Optional[int]
), end_lineno=None)):
    """An option line of an iface or mapping stanza (1-based lines; end_lineno after continuations)."""

    __slots__ = ()


class Stanza(namedtuple("Stanza", (
    "kind",                   # str
    "lineno",                 # int
    "end_lineno",             # int
    "raw",                    # str
    "ifname",                 # Optional[str]
    "family",                 # Optional[str]
    "method",                 # Optional[str]
    "options",                # Tuple[Option, ...]
    "names",                  # Tuple[str, ...]
    "pattern",                # Optional[str]
    "allow_class",            # Optional[str]
), ifname=None, family=None, method=None, options=(), names=(), pattern=None, allow_class=None)):
    """One stanza. `raw` is its exact text, lines lineno..end_lineno with their endings.

    iface: ifname, family, method, options. mapping: names (the globs it
    maps), options (script, map). auto, allow-<class> (allow_class set),
    no-auto-down, no-scripts: names. source, source-directory: pattern.
    """

    __slots__ = ()


class _Logical(namedtuple("_Logical", (
    "lineno",                 # int
    "end_lineno",             # int
    "text",                   # str
))):
    __slots__ = ()


def is_static_option(key):
    """True for an option that pins the old network (see STATIC_OPTIONS)."""
    return key in STATIC_OPTIONS or key.startswith("dns-")


def parse(text):
    """Parse interfaces(5) text. Returns ([Stanza], [ParseProblem]); never raises."""
    lines = split_lines(text)
    stanzas = []
    problems = []
    current = None  # [kind, Stanza fields ...] of the iface/mapping taking options
    options = []

    def close():
        if current is not None:
            stanzas.append(_finish(current, options, lines))

    for logical in _logical_lines(lines):
        words = logical.text.split()
        first = words[0]
        kind = _KINDS.get(first)
        if kind is None and first.startswith("allow-") and len(first) > len("allow-"):
            kind = "allow"
        if kind is None:
            if current is None:
                problems.append(ParseProblem(
                    logical.lineno, "option outside an iface or mapping stanza: %r" % logical.text))
            else:
                value = logical.text[len(first):].strip()
                if not value:
                    problems.append(ParseProblem(logical.lineno, "option %r has no value" % first))
                options.append(Option(logical.lineno, first, value, logical.end_lineno))
            continue
        close()
        current = None
        options = []
        args = words[1:]
        if kind == "iface":
            if not args:
                problems.append(ParseProblem(logical.lineno, "iface without an interface name"))
            elif len(args) > 3:
                problems.append(ParseProblem(logical.lineno, "too many words on the iface line"))
            elif len(args) == 2:
                problems.append(ParseProblem(logical.lineno, "iface without a method"))
            if len(args) >= 2 and args[1] not in FAMILIES:
                problems.append(ParseProblem(logical.lineno, "unknown address family %r" % args[1]))
            current = dict(kind=kind, lineno=logical.lineno, end_lineno=logical.end_lineno,
                           ifname=args[0] if args else None,
                           family=args[1] if len(args) > 1 else None,
                           method=args[2] if len(args) > 2 else None)
        elif kind == "mapping":
            if not args:
                problems.append(ParseProblem(logical.lineno, "mapping without an interface pattern"))
            current = dict(kind=kind, lineno=logical.lineno, end_lineno=logical.end_lineno, names=tuple(args))
        elif kind in ("source", "source-directory"):
            pattern = logical.text[len(first):].strip()
            if not pattern:
                problems.append(ParseProblem(logical.lineno, "%s without a path" % first))
            stanzas.append(_finish(dict(kind=kind, lineno=logical.lineno, end_lineno=logical.end_lineno,
                                        pattern=pattern or None), [], lines))
        else:
            if not args:
                problems.append(ParseProblem(logical.lineno, "%s without interface names" % first))
            stanzas.append(_finish(dict(kind=kind, lineno=logical.lineno, end_lineno=logical.end_lineno,
                                        names=tuple(args),
                                        allow_class=first[len("allow-"):] if kind == "allow" else None),
                                   [], lines))
    close()
    return stanzas, problems


def find_ifaces(stanzas, ifname, family=None):
    """The iface stanzas of `ifname` (of `family` if given), in file order."""
    return [s for s in stanzas
            if s.kind == "iface" and s.ifname == ifname and (family is None or s.family == family)]


def to_dhcp(text, ifname, family="inet", method="dhcp"):
    """Return `text` with `iface <ifname> <family>` using `method` (DHCP) and no static-only options.

    `method` is `dhcp`, or `auto` for inet6 (router advertisements: ifup
    does not fail when no DHCPv6 server answers).

    The first such stanza's method becomes `method` (the old line kept commented
    above it) and its STATIC_OPTIONS lines are commented out with
    DISABLED_PREFIX. Further `static` stanzas of the same interface and family
    (secondary addresses, which ifupdown adds one by one) are commented out
    whole: they would put the old network's address back. Every other byte
    stays. Unchanged text when nothing is to do, so a second run is a no-op.
    Raises ValueError when there is no such stanza, or it is the loopback.
    """
    stanzas, _problems = parse(text)
    matching = find_ifaces(stanzas, ifname, family)
    if not matching:
        raise ValueError("no 'iface %s %s' stanza" % (ifname, family))
    primary = matching[0]
    if primary.method == "loopback":
        raise ValueError("'iface %s %s' is the loopback" % (ifname, family))
    lines = split_lines(text)
    disable = []
    for option in primary.options:
        if is_static_option(option.key):
            disable.extend(range(option.lineno, option.end_lineno + 1))
    for extra in matching[1:]:
        if extra.method == "static":
            disable.extend(_stanza_code_lines(extra, lines))
    header_end = _header_end(primary, lines)
    new_header = None
    if primary.method != method:
        new_header = _dhcp_header(lines, primary, header_end, method)
        disable.extend(range(primary.lineno + 1, header_end + 1))
    if disable:
        text = comment_out(text, disable)
    if new_header is not None:
        # Last, because keeping the original line inserts one and shifts the rest.
        text = replace_line(text, primary.lineno, new_header, keep_original=True)
    return text


# -- helpers ------------------------------------------------------------------


def _logical_lines(lines):
    """Non-comment, non-blank lines with continuations joined, as ifupdown reads them."""
    index = 0
    while index < len(lines):
        start = index
        body = split_ending(lines[index])[0]
        index += 1
        stripped = body.strip()
        if not stripped or stripped.startswith("#"):
            continue
        # ifupdown joins on a backslash that ends the line as read, before it
        # strips trailing blanks, and appends the next line verbatim.
        while body.endswith("\\") and index < len(lines):
            body = body[:-1] + split_ending(lines[index])[0]
            index += 1
        if body.endswith("\\"):
            body = body[:-1]
        body = body.strip()
        if body:
            yield _Logical(start + 1, index, body)


def _finish(fields, options, lines):
    end = fields["end_lineno"]
    if options:
        end = max(end, options[-1].end_lineno)
    fields = dict(fields, end_lineno=end, options=tuple(options))
    fields["raw"] = "".join(lines[fields["lineno"] - 1:end])
    return Stanza(**fields)


def _header_end(stanza, lines):
    """Last physical line of the stanza's first line, after its continuations."""
    end = stanza.lineno
    while end < len(lines) and split_ending(lines[end - 1])[0].endswith("\\"):
        end += 1
    return end


def _stanza_code_lines(stanza, lines):
    """Physical lines of the stanza's header and options, not its comments or blanks."""
    numbers = list(range(stanza.lineno, _header_end(stanza, lines) + 1))
    for option in stanza.options:
        numbers.extend(range(option.lineno, option.end_lineno + 1))
    return [n for n in numbers if not split_ending(lines[n - 1])[0].startswith(DISABLED_PREFIX)]


_HEADER_RE = LazyPattern(r"^(?P<head>\s*iface\s+\S+\s+\S+\s+)(?P<method>\S+)(?P<tail>.*)$")


def _dhcp_header(lines, stanza, header_end, method="dhcp"):
    body = split_ending(lines[stanza.lineno - 1])[0]
    match = _HEADER_RE.match(body)
    if header_end == stanza.lineno and match:
        # Only the method word changes, so the diff shows only that.
        return match.group("head") + method + match.group("tail")
    indent = body[:len(body) - len(body.lstrip())]
    return "%siface %s %s %s" % (indent, stanza.ifname, stanza.family, method)
