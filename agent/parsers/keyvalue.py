"""Parse and edit shell-style ``KEY=value`` files.

Several ECS items live in such files: ``SELINUX=`` in /etc/selinux/config
(000, 002: enabling SELinux stops an imported image booting), ``BOOTPROTO``
and ``HWADDR`` in RHEL and SUSE ifcfg files (000: the NIC must use DHCP),
``GRUB_CMDLINE_LINUX`` in /etc/default/grub (NVMe timeouts, ``root=``), and
os-release for the platform. The shell sources most of them, so values follow
shell quoting; ``$VAR`` and command substitutions are kept literally, never
expanded. A value that spans lines is reported as a problem.

Edits rewrite one assignment in place and keep its quoting, ``export`` and
trailing comment, so the diff shown to the user is one line.
"""

from agent.parsers import LazyPattern, ParseProblem, comment_out, newline_of, split_ending, split_lines
from agent.tuples import namedtuple


class Assignment(namedtuple("Assignment", (
    "lineno",                 # int
    "key",                    # str
    "value",                  # str
    "quote",                  # str
    "raw",                    # str
))):
    """``value`` is unquoted; ``quote`` is how it started: '', '"' or "'"."""

    __slots__ = ()


_ASSIGN = LazyPattern(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=")
_EXPORT_ONLY = LazyPattern(r"\s*export(?:\s+[A-Za-z_][A-Za-z0-9_]*)*\s*\Z")
_KEY = LazyPattern(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_SAFE = LazyPattern(r"[A-Za-z0-9_@%+=:,./-]*\Z")
# Inside double quotes a backslash escapes only these (POSIX); elsewhere it stays.
_DQ_ESCAPES = '"\\$`'
_METACHARS = ";&|<>()"


def _closing(body, pos):
    """Index of the bracket closing the one at ``pos``, or -1."""
    opening = body[pos]
    closing = ")" if opening == "(" else "}"
    depth = 0
    for index in range(pos, len(body)):
        if body[index] == opening:
            depth += 1
        elif body[index] == closing:
            depth -= 1
            if depth == 0:
                return index
    return -1


def _scan_value(body, pos):
    """Read the shell word at ``pos``; return ``(value, end)`` or an error string."""
    out = []
    n = len(body)
    while pos < n:
        char = body[pos]
        if char in " \t":
            break
        if char == "'":
            close = body.find("'", pos + 1)
            if close < 0:
                return "unterminated single quote"
            out.append(body[pos + 1:close])
            pos = close + 1
        elif char == '"':
            pos += 1
            while pos < n and body[pos] != '"':
                if body[pos] == "\\" and pos + 1 < n and body[pos + 1] in _DQ_ESCAPES:
                    pos += 1
                out.append(body[pos])
                pos += 1
            if pos >= n:
                return "unterminated double quote"
            pos += 1
        elif char == "`" or body.startswith(("$(", "${"), pos):
            # Substitutions are kept as written (Debian's /etc/default/grub
            # has GRUB_DISTRIBUTOR=`lsb_release ...`): we never run them.
            close = body.find("`", pos + 1) if char == "`" else _closing(body, pos + 1)
            if close < 0:
                return "unterminated substitution"
            out.append(body[pos:close + 1])
            pos = close + 1
        elif char == "\\":
            if pos + 1 >= n:
                return "backslash at end of line (continued value)"
            out.append(body[pos + 1])
            pos += 2
        elif char in _METACHARS:
            return f"shell syntax {char!r} in value"
        else:
            out.append(char)
            pos += 1
    return "".join(out), pos


def _parse_line(lineno, body):
    """Return ``(Assignment, value_start, value_end)``, a ParseProblem or None."""
    stripped = body.strip()
    if not stripped or stripped.startswith("#") or _EXPORT_ONLY.match(body):
        return None
    match = _ASSIGN.match(body)
    if not match:
        return ParseProblem(lineno, "not a KEY=value assignment")
    start = match.end()
    scanned = _scan_value(body, start)
    if isinstance(scanned, str):
        return ParseProblem(lineno, scanned)
    value, end = scanned
    rest = body[end:].lstrip(" \t")
    if rest and not rest.startswith("#"):
        return ParseProblem(lineno, "text after the value")
    quote = body[start] if start < len(body) and body[start] in "'\"" else ""
    return Assignment(lineno, match.group(1), value, quote, body), start, end


def _parse_with_spans(text):
    found, problems = [], []
    for lineno, line in enumerate(split_lines(text), 1):
        result = _parse_line(lineno, split_ending(line)[0])
        if isinstance(result, ParseProblem):
            problems.append(result)
        elif result is not None:
            found.append(result)
    return found, problems


def parse(text):
    """Return ``(assignments, problems)`` in file order."""
    found, problems = _parse_with_spans(text)
    return [item[0] for item in found], problems


def get(assignments, key, default=None):
    """The value of the last assignment of ``key`` (the one the shell keeps)."""
    for assignment in reversed(assignments):
        if assignment.key == key:
            return assignment.value
    return default


def quote_value(value, quote=""):
    """Render ``value`` for the shell, preferring the ``quote`` style given."""
    if quote == "'" and "'" not in value:
        return f"'{value}'"
    if quote or not _SAFE.match(value):
        escaped = "".join("\\" + c if c in _DQ_ESCAPES else c for c in value)
        return f'"{escaped}"'
    return value


def set_value(text, key, value):
    """Set ``key`` to ``value`` on its last assignment line, or append one.

    Leading whitespace, ``export``, the quote style and a trailing comment of
    the rewritten line are kept; earlier assignments of the key are left
    alone because the shell ignores them. Nothing changes if the value is
    already set.
    """
    if not _KEY.match(key):
        raise ValueError(f"not a shell variable name: {key!r}")
    if "\n" in value or "\r" in value:
        raise ValueError("a value spanning lines cannot be written")
    found = [item for item in _parse_with_spans(text)[0] if item[0].key == key]
    if not found:
        newline = newline_of(text)
        lead = newline if text and not text.endswith("\n") else ""
        return f"{text}{lead}{key}={quote_value(value)}{newline}"
    assignment, start, end = found[-1]
    if assignment.value == value:
        return text
    lines = split_lines(text)
    body, ending = split_ending(lines[assignment.lineno - 1])
    lines[assignment.lineno - 1] = (
        body[:start] + quote_value(value, assignment.quote) + body[end:] + ending)
    return "".join(lines)


def comment_out_keys(text, predicate):
    """Comment out (with the guestprep marker) every assignment whose key matches."""
    assignments = parse(text)[0]
    return comment_out(text, [a.lineno for a in assignments if predicate(a.key)])
