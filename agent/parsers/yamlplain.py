"""An exact reader for the plain YAML that cloud-init's stock configuration is written in.

Importing PyYAML costs a check 10 to 12 ms (its reader compiles a pattern over all of Unicode),
more than any check's own work, for the two small files of a stock image (/etc/cloud/cloud.cfg,
cloud.cfg.d/05_logging.cfg). `load` reads a strict subset of YAML without it and raises
Unsupported for anything else, so the caller loads that text with PyYAML (agent.parsers.yamlsafe)
as before. What `load` returns is what yaml.safe_load returns for the same text, types
included; tests/parsers/test_yamlplain.py and the fuzzing compare the two.

The subset: printable ASCII ending in a newline, without tabs, document markers or directives;
block mappings with plain keys; block sequences, indented or not under their key, whose items
may start a mapping; plain scalars on one line, resolved as PyYAML resolves YAML 1.1 for null,
booleans and decimal integers (any other form that starts like a number, a date or .inf is
Unsupported); single- and double-quoted scalars on one line, without escapes; literal block
scalars (|, |-, |+) without an indentation indicator; one-line flow sequences and mappings of
scalars and aliases; anchors, and aliases to scalars only (an alias to a collection is what an
alias bomb is made of: PyYAML, with yamlsafe's limits, reads those).
"""
from agent.parsers import LazyPattern
from agent.parsers.yamlsafe import MAX_ALIASES, MAX_BYTES  # a text over either goes to PyYAML and its limits


class Unsupported(ValueError):
    """The text uses YAML outside this reader's subset: load it with PyYAML."""


MAX_KEY = 1024            # PyYAML's longest simple key

_OUTSIDE = LazyPattern(r"[^\n -~]|(?:^|\n)(?:---|\.\.\.|%)")
# A plain scalar in block context: no indicator first, no ': ', no '#', no quotes or brackets.
_PLAIN_BLOCK = LazyPattern(r"[A-Za-z0-9_/~$^(+.-](?:[A-Za-z0-9_./~$^()=+@%,; -]|:(?! |$))*\Z")
# ... and in a flow collection: no ':' or ',' either; spaces only between words.
_PLAIN_FLOW = LazyPattern(r"[A-Za-z0-9_/~$^(+.-][A-Za-z0-9_./~$^()=+@%;-]*(?: +[A-Za-z0-9_./~$^()=+@%;-]+)*")
_NAME = LazyPattern(r"[A-Za-z0-9_-]+")
_KEY_END = LazyPattern(r":(?: |$)")
_DECIMAL = LazyPattern(r"[-+]?(?:0|[1-9][0-9]*)\Z")
_LITERAL = LazyPattern(r"\|([-+]?) *\Z")

_NULLS = ("~", "null", "Null", "NULL")
_BOOLS = dict([(word, True) for word in ("yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON")] +
              [(word, False) for word in ("no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF")])
_COLLECTION = object()    # what an anchored list or mapping is remembered as: aliases to it are Unsupported


def load(text):
    """The document in `text`, as yaml.safe_load returns it; Unsupported outside the subset."""
    if not isinstance(text, str) or not text.endswith("\n") or len(text) > MAX_BYTES or _OUTSIDE.search(text):
        raise Unsupported()
    reader = _Reader(text)
    first = reader.peek()
    if first is None:
        return None
    if first[0] != 0:
        raise Unsupported()
    node = reader.block(0)
    if reader.peek() is not None:
        raise Unsupported()
    return node


def _resolve(text):
    """A plain scalar's value: YAML 1.1's null, booleans and decimal integers, else the string.

    PyYAML picks its resolvers by the first character: numbers, dates, .inf and .nan start
    with a digit, a sign or a dot, and only the plain decimal integer is taken here."""
    if text in _NULLS:
        return None
    if text in _BOOLS:
        return _BOOLS[text]
    if text[0] in "0123456789+-.":
        if _DECIMAL.match(text):
            return int(text)
        raise Unsupported()
    return text


def _is_item(text):
    return text == "-" or text.startswith("- ")


class _Reader(object):
    def __init__(self, text):
        self.lines = text.split("\n")[:-1]
        self.i = 0                # raw line of `cur`
        self.cur = None           # (indent, text) of the current line with content, once found
        self.anchors = {}
        self.aliases = 0

    def peek(self):
        """(indent, text without trailing spaces) of the next line with content, or None."""
        if self.cur is None:
            lines = self.lines
            while self.i < len(lines):
                line = lines[self.i]
                text = line.lstrip(" ")
                if text and text[0] != "#":
                    self.cur = (len(line) - len(text), text.rstrip(" "))
                    break
                self.i += 1
        return self.cur

    def take(self):
        self.cur = None
        self.i += 1

    def block(self, indent):
        return self.sequence(indent) if _is_item(self.peek()[1]) else self.mapping(indent)

    def mapping(self, indent):
        result = {}
        while True:
            line = self.peek()
            if line is None or line[0] < indent:
                return result
            if line[0] > indent or _is_item(line[1]):
                raise Unsupported()
            text = line[1]
            end = _KEY_END.search(text)
            key = text[:end.start()].rstrip(" ") if end else ""
            if not key or len(key) > MAX_KEY or not _PLAIN_BLOCK.match(key):
                raise Unsupported()
            result[_resolve(key)] = self.value(text[end.end():].strip(" "), indent, True)

    def sequence(self, indent):
        result = []
        while True:
            line = self.peek()
            if line is None or line[0] < indent or (line[0] == indent and not _is_item(line[1])):
                return result       # the next key of the mapping this sequence is the value of
            if line[0] > indent:
                raise Unsupported()
            rest = line[1][1:].lstrip(" ")
            column = indent + len(line[1]) - len(rest)
            if rest and rest[0] not in "\"'[{&*|#" and _KEY_END.search(rest):
                self.cur = (column, rest)       # an item that starts a mapping: its first key is here
                result.append(self.mapping(column))
            elif _is_item(rest):
                self.cur = (column, rest)
                result.append(self.sequence(column))
            else:
                result.append(self.value(rest, indent, False))

    def value(self, rest, indent, of_key):
        """The node a key or an item holds, `rest` being what follows it on its line; `indent`
        is its mapping's or sequence's. Leaves the reader at the line after the node."""
        anchor = None
        if rest.startswith("&"):
            name = _NAME.match(rest, 1)
            if not name or (name.end() < len(rest) and rest[name.end()] != " ") or name.group() in self.anchors:
                raise Unsupported()
            anchor, rest = name.group(), rest[name.end():].lstrip(" ")
            if rest.startswith("*"):
                raise Unsupported()     # an alias cannot have an anchor
            self.anchors[anchor] = _COLLECTION   # taken from here on: PyYAML refuses it again inside
        self.take()
        if not rest or rest[0] == "#":
            node = self.nested(indent, of_key)
        elif rest[0] == "|":
            chomp = _LITERAL.match(rest)
            if not chomp:
                raise Unsupported()
            node = self.literal(indent, chomp.group(1))
        else:
            node, end = self.inline(rest)
            after = _spaces(rest, end)
            if after < len(rest) and (after == end or rest[after] != "#"):
                raise Unsupported()     # more than a comment after the node
            line = self.peek()
            if line is not None and line[0] > indent:
                raise Unsupported()     # a plain scalar continued on the next line, or worse
        if anchor is not None:
            self.anchors[anchor] = _COLLECTION if isinstance(node, (list, dict)) else node
        return node

    def nested(self, indent, of_key):
        """The block under a key or item that has nothing after it on its line (None if none)."""
        line = self.peek()
        if line is None:
            return None
        if line[0] > indent:
            return self.block(line[0])
        if of_key and line[0] == indent and _is_item(line[1]):
            return self.sequence(indent)
        return None

    def literal(self, indent, chomp):
        """A literal block scalar whose header was the line before `self.i`."""
        lines, i = self.lines, self.i
        widest = leading = 0
        while i < len(lines) and not lines[i].strip(" "):
            widest = max(widest, len(lines[i]))
            leading += 1
            i += 1
        if i == len(lines):
            raise Unsupported()
        column = len(lines[i]) - len(lines[i].lstrip(" "))
        if column <= indent or widest > column:
            raise Unsupported()     # PyYAML would take the indentation from the blank lines
        parts = ["\n"] * leading
        breaks = 0
        first = True
        while i < len(lines):
            line = lines[i]
            if len(line) > column and not line[:column].strip(" "):
                if not first:
                    parts.append("\n" * (1 + breaks))
                parts.append(line[column:])
                first, breaks = False, 0
            elif not line.strip(" "):
                breaks += 1
            else:
                break
            i += 1
        if chomp != "-":
            parts.append("\n")
        if chomp == "+":
            parts.append("\n" * breaks)
        self.i, self.cur = i, None
        return "".join(parts)

    def inline(self, text):
        """(node, end) of the one-line node `text` starts with, in block context."""
        first = text[0]
        if first in "[{":
            return self.flow(text, 0)
        if first in "\"'":
            return _quoted(text, 0)
        if first == "*":
            return self.alias(text, 0)
        end = text.find(" #")
        end = len(text) if end < 0 else end
        plain = text[:end].rstrip(" ")
        if not _PLAIN_BLOCK.match(plain):
            raise Unsupported()
        return _resolve(plain), end

    def alias(self, text, pos):
        name = _NAME.match(text, pos + 1)
        if not name or name.group() not in self.anchors or self.anchors[name.group()] is _COLLECTION:
            raise Unsupported()
        self.aliases += 1
        if self.aliases > MAX_ALIASES:
            raise Unsupported()
        return self.anchors[name.group()], name.end()

    def flow(self, text, pos):
        """(list or dict, end) of a flow collection of scalars and aliases on one line."""
        close = "]" if text[pos] == "[" else "}"
        result = [] if close == "]" else {}
        pos = _spaces(text, pos + 1)
        if text.startswith(close, pos):
            return result, pos + 1
        while True:
            if close == "]":
                item, pos = self.flow_scalar(text, pos)
                result.append(item)
            else:
                key = _PLAIN_FLOW.match(text, pos)
                if not key or not text.startswith(": ", key.end()):
                    raise Unsupported()
                item, pos = self.flow_scalar(text, _spaces(text, key.end() + 1))
                result[_resolve(key.group())] = item
            pos = _spaces(text, pos)
            if text.startswith(close, pos):
                return result, pos + 1
            if not text.startswith(",", pos):
                raise Unsupported()
            pos = _spaces(text, pos + 1)
            if pos >= len(text) or text[pos] in ",]}":
                raise Unsupported()     # an empty entry or a trailing comma

    def flow_scalar(self, text, pos):
        if pos >= len(text):
            raise Unsupported()
        if text[pos] in "\"'":
            return _quoted(text, pos)
        if text[pos] == "*":
            node, end = self.alias(text, pos)
            if end < len(text) and text[end] not in " ,]}":
                raise Unsupported()
            return node, end
        plain = _PLAIN_FLOW.match(text, pos)
        if not plain:
            raise Unsupported()
        return _resolve(plain.group()), plain.end()


def _spaces(text, pos):
    while pos < len(text) and text[pos] == " ":
        pos += 1
    return pos


def _quoted(text, pos):
    """(string, end) of a one-line quoted scalar: '' is a quote in single quotes; double
    quotes without a backslash."""
    quote = text[pos]
    if quote == '"':
        end = text.find('"', pos + 1)
        if end < 0 or "\\" in text[pos + 1:end]:
            raise Unsupported()
        return text[pos + 1:end], end + 1
    parts = []
    start = pos + 1
    while True:
        end = text.find("'", start)
        if end < 0:
            raise Unsupported()
        parts.append(text[start:end])
        if not text.startswith("''", end):
            return "".join(parts), end + 1
        parts.append("'")
        start = end + 2
