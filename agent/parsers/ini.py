"""Parse and edit NetworkManager keyfiles and systemd-networkd files.

The ECS DHCP item (000: the NIC must get its address by DHCP; 003:
GUESTOS.Dhcp) has to read and change ``method=manual``, ``address1=`` and
``mac-address=`` in ``*.nmconnection`` keyfiles and ``DHCP=``, ``Address=``
and ``[Match] MACAddress=`` in networkd ``*.network``/``*.link`` files: a
static address or a MAC pinned to the old NIC leaves the instance without
network, and ECS has no console login to repair it.

Both formats are INI-like, with the quirks handled here: sections repeat
(networkd's several ``[Address]`` and ``[Route]``), keys repeat (networkd's
``Address=`` twice), comments start with ``#`` or ``;``, blanks may surround
``=``. Keys are case-sensitive in both.
"""

from agent.parsers import ParseProblem, comment_out, newline_of, split_ending, split_lines
from agent.tuples import namedtuple


class Entry(namedtuple("Entry", (
    "lineno",                 # int
    "key",                    # str
    "value",                  # str
    "raw",                    # str
))):
    """A ``key=value`` line; ``raw`` is the line without its ending."""

    __slots__ = ()


class Section(namedtuple("Section", (
    "name",                   # str
    "lineno",                 # int
    "entries",                # tuple
    "end_lineno",             # int
))):
    """A ``[name]`` block from its header (``lineno``; 0 for keys before any
    header, which form the section ``''``) to ``end_lineno``, the line before
    the next header or the last line of the text."""

    __slots__ = ()


def _value_span(body):
    """Start and end of the value in an entry line, blanks around it excluded."""
    start = body.index("=") + 1
    while start < len(body) and body[start] in " \t":
        start += 1
    return start, max(start, len(body.rstrip(" \t")))


def parse(text):
    """Return ``(sections, problems)`` in file order."""
    sections, problems = [], []
    name, header, entries = "", 0, []
    lines = split_lines(text)

    def close(end_lineno):
        if header or entries:
            sections.append(Section(name, header, tuple(entries), end_lineno))

    for lineno, line in enumerate(lines, 1):
        body = split_ending(line)[0]
        stripped = body.strip()
        if not stripped or stripped[0] in "#;":
            continue
        if stripped.startswith("["):
            if not stripped.endswith("]") or len(stripped) < 3:
                problems.append(ParseProblem(lineno, "malformed section header"))
                continue
            close(lineno - 1)
            name, header, entries = stripped[1:-1], lineno, []
        else:
            key, equals, value = body.partition("=")
            key = key.strip(" \t")
            if equals and key:
                entries.append(Entry(lineno, key, value.strip(" \t"), body))
            else:
                problems.append(ParseProblem(lineno, "neither a [section] nor key=value"))
    close(len(lines))
    return sections, problems


def values(sections, section, key):
    """All values of ``key`` in every section named ``section``, in file order."""
    return [entry.value for sec in sections if sec.name == section
            for entry in sec.entries if entry.key == key]


def _insert_after(text, lineno, new_body):
    """Insert a line after 1-based ``lineno`` (0: at the top)."""
    lines = split_lines(text)
    if lineno == 0:
        return new_body + newline_of(text) + text
    body, ending = split_ending(lines[lineno - 1])
    if not ending:
        # Keep the missing final newline missing: it moves to the new line.
        lines[lineno - 1] = body + newline_of(text)
    lines.insert(lineno, new_body + ending)
    return "".join(lines)


def set_key(text, section_name, key, value, section_index=0):
    """Set ``key=value`` in occurrence ``section_index`` of ``[section_name]``.

    The last ``key`` line there gets the new value, keeping its spelling and
    blanks around ``=``; a missing key goes after the section's last entry;
    a missing section (``section_index`` equal to the number of such
    sections) is appended. Nothing changes if the value is already set.
    """
    # Blanks around key or value would be stripped when read back.
    if ("\n" in value or "\r" in value or value != value.strip(" \t") or not key
            or key != key.strip(" \t") or set(key) & set("=\r\n[#;")):
        raise ValueError(f"cannot write {key!r}={value!r} as one line")
    matching = [sec for sec in parse(text)[0] if sec.name == section_name]
    if section_index > len(matching):
        raise ValueError(f"no section [{section_name}] number {section_index}")
    if section_index == len(matching):
        if section_name == "":
            return _insert_after(text, 0, f"{key}={value}")
        newline = newline_of(text)
        if text and not text.endswith("\n"):
            text += newline
        gap = newline if text and not text.endswith(newline * 2) else ""
        return f"{text}{gap}[{section_name}]{newline}{key}={value}{newline}"
    section = matching[section_index]
    same_key = [entry for entry in section.entries if entry.key == key]
    if not same_key:
        last = section.entries[-1].lineno if section.entries else section.lineno
        return _insert_after(text, last, f"{key}={value}")
    entry = same_key[-1]
    if entry.value == value:
        return text
    lines = split_lines(text)
    body, ending = split_ending(lines[entry.lineno - 1])
    start, end = _value_span(body)
    lines[entry.lineno - 1] = body[:start] + value + body[end:] + ending
    return "".join(lines)


def comment_out_entries(text, predicate):
    """Comment out every entry for which ``predicate(section, key, value)`` holds."""
    linenos = [entry.lineno for sec in parse(text)[0] for entry in sec.entries
               if predicate(sec.name, entry.key, entry.value)]
    return comment_out(text, linenos)
