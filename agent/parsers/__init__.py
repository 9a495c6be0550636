"""Pure text parsers and editors for the guest's configuration files.

The ECS import items (fstab, grub, DHCP, SELinux: 000, 002, 003) are decided
by a handful of text files in the guest. Everything in this package takes and
returns ``str`` and never touches files or processes, so a check can be
tested with strings and a remediation can show its diff before anything is
written. Editors change only the lines they are asked to: every other byte,
CRLF endings and a missing final newline included, stays as it was, so a fix
is a small reviewable diff and rolling it back restores the original exactly.

Garbage never raises: a line a parser cannot understand is returned as a
``ParseProblem`` next to the data it did understand.
"""
import re

from agent.tuples import namedtuple

#: Put in front of a line guestprep comments out, so that a second run and a
#: human reading the file both see who disabled it (STYLE: lines the tool
#: changes carry a marker).
DISABLED_PREFIX = "# guestprep disabled: "


class LazyPattern(object):
    """re.compile(pattern, flags) at the first use, then the compiled pattern's methods.

    For module-level patterns that only some runs need (an editor's, a rare format's): a
    check run imports every module, and compiling costs 0.1 to 2 ms a pattern."""

    def __init__(self, pattern, flags=0):
        self.pattern = pattern
        self._flags = flags
        self._compiled = None

    def __getattr__(self, name):
        if self._compiled is None:
            self._compiled = re.compile(self.pattern, self._flags)
        return getattr(self._compiled, name)


class ParseProblem(namedtuple("ParseProblem", (
    "lineno",                 # int
    "message",                # str
))):
    """A line a parser could not understand (1-based ``lineno``)."""

    __slots__ = ()


def split_lines(text):
    """Split ``text`` into lines that keep their endings.

    Like ``str.splitlines(keepends=True)``, except that only ``"\\n"`` ends
    a line (``"\\r\\n"`` stays together): the shell, libmount, glib and
    systemd split there alone, and a form feed or U+2028 inside a value must
    not shift the line numbers we report and edit.
    """
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def join_lines(lines):
    """Inverse of ``split_lines``."""
    return "".join(lines)


def split_ending(line):
    """Return ``(body, ending)`` where ending is ``"\\r\\n"``, ``"\\n"`` or ``""``."""
    if line.endswith("\r\n"):
        return line[:-2], "\r\n"
    if line.endswith("\n"):
        return line[:-1], "\n"
    return line, ""


def newline_of(text):
    """The line ending a line added to ``text`` should use (its first one)."""
    first = text.find("\n")
    if first > 0 and text[first - 1] == "\r":
        return "\r\n"
    return "\n"


def _check_lineno(lines, lineno):
    if not 1 <= lineno <= len(lines):
        raise ValueError(f"line {lineno} out of range 1..{len(lines)}")


def comment_out(text, linenos):
    """Prefix each 1-based line in ``linenos`` with ``DISABLED_PREFIX``.

    Lines already carrying the prefix are left alone, so running a fix twice
    changes nothing the second time.
    """
    lines = split_lines(text)
    for lineno in set(linenos):
        _check_lineno(lines, lineno)
        line = lines[lineno - 1]
        if not line.startswith(DISABLED_PREFIX):
            lines[lineno - 1] = DISABLED_PREFIX + line
    return join_lines(lines)


def replace_line(text, lineno, new_line, keep_original=True):
    """Replace 1-based line ``lineno`` by ``new_line``, keeping its ending.

    With ``keep_original`` the old line stays, commented out with
    ``DISABLED_PREFIX``, directly above the new one, so a human sees what was
    there before. A line that already reads ``new_line`` is not touched.
    """
    lines = split_lines(text)
    _check_lineno(lines, lineno)
    new_body = split_ending(new_line)[0]
    if "\n" in new_body:
        raise ValueError("new_line must be a single line")
    old_body, ending = split_ending(lines[lineno - 1])
    if old_body == new_body:
        return text
    replacement = [new_body + ending]
    if keep_original:
        # The kept copy sits above the new line, so it needs an ending even
        # when the replaced line was the last one and had none.
        kept = old_body if old_body.startswith(DISABLED_PREFIX) else DISABLED_PREFIX + old_body
        replacement.insert(0, kept + (ending or newline_of(text)))
    lines[lineno - 1:lineno] = replacement
    return join_lines(lines)
