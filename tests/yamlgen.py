"""Random YAML documents near agent.parsers.yamlplain's subset, for comparing it with PyYAML.

Documents are built from the shapes cloud-init's files use (mappings, indented and
indentless sequences, items that start mappings, literal blocks with blank and space-only
lines, flow collections, anchors and aliases, comments) with scalars drawn from YAML 1.1's
traps (yes/on/~, octal, sexagesimal, dates, .inf, ': ' and ' #' inside), then some are
mutated a character at a time. Most land inside the subset, many just outside it.
"""
import random

SCALARS = ["a", "debian", "Debian User", "yes", "No", "on", "OFF", "true", "False", "~", "null", "NULL", "0", "-1",
           "+5", "12", "007", "0x1f", "1_000", "1.5", ".inf", "1:20", "2001-12-14", "1e3", "-", "-a", "a-b",
           "http://x.org/a", "/bin/bash", "%(ec2_region)s", "a,b", "a;b", "(x)", "$HOME", "^x", "a b  c", "=",
           "<<", "@x", "%x", "!x", "?x", ":x", "a:b", "a: b", "a #b", "a#b", "'q'", "'it''s'", "''", '"d"',
           '"a: b #c"', '"a\\tb"', '""', "'unterminated", "[a, b]", "[]", "{}", "{a: b}", "{a: 1, b: [c]}",
           "[ *A, *B ]", "[a, , b]", "[a,]", "*A", "*Z", "&A x", "&B 1", "|", "|-", "|+", ">", "|2", "* A",
           "tee -a /var/log/x.log", "'| tee -a /var/log/cloud-init-output.log'", "ALL=(ALL) NOPASSWD:ALL"]
# What stock files hold, most of the time.
PLAIN = ["a", "debian", "Debian User", "yes", "true", "False", "~", "0", "-1", "12", "http://x.org/a", "/bin/bash",
         "a,b", "'q'", '"d"', "[a, b]", "[]", "{a: b}", "[ *A, *B ]", "*A", "&A x", "|", "|-", "|+"]
KEYS = ["a", "b", "key", "users", "disable_root", "cloud_init_modules", "on", "yes", "1", "~", "a b", "a:b",
        "http://x", "-x", "'q'", "&A k", "? k", "k ", "x#y"]
PLAIN_KEYS = ["a", "b", "key", "users", "disable_root", "cloud_init_modules", "system_info", "_log", "on", "1"]


def key(rng):
    return rng.choice(KEYS if rng.random() < 0.25 else PLAIN_KEYS)
LITERAL_LINES = ["[loggers]", "keys=root,cloudinit", "", " ", "   ", "      ", "  indented", "# not a comment",
                 "a: b", "- c", "trailing  "]
MUTATIONS = " \n:-#&*|'\"[]{},>?!%@`~\t\r0aZ"


def scalar(rng):
    return rng.choice(SCALARS if rng.random() < 0.3 else PLAIN)


def literal(rng, indent):
    header = rng.choice(["|", "|-", "|+", "|", "| "])
    width = indent + rng.choice([1, 2, 3])
    lines = [(" " * width + rng.choice(LITERAL_LINES)) if rng.random() < 0.8 else "" for _ in range(rng.randint(1, 5))]
    if not lines[0].strip():
        lines[0] = " " * width + "x"
    return header, lines


def node(rng, indent, depth, lines, prefix):
    """Append the lines of a node whose first line starts with `prefix` (a key or '- ')."""
    kind = rng.random()
    step = rng.choice([1, 2, 2, 3, 4])
    anchor = rng.choice(["", "", "", "&A ", "&B "])
    if depth > 3 or kind < 0.45:
        text = scalar(rng)
        if text in ("|", "|-", "|+"):
            header, body = literal(rng, indent)
            lines.append(prefix + anchor + header)
            lines.extend(body)
        else:
            lines.append((prefix + anchor + text).rstrip())
    elif kind < 0.7:
        lines.append(prefix + anchor.rstrip())
        mapping(rng, indent + step, depth + 1, lines)
    else:
        lines.append(prefix + anchor.rstrip())
        inner = indent + step if rng.random() < 0.6 else indent
        sequence(rng, inner, depth + 1, lines)
    if rng.random() < 0.1:
        lines.append(" " * rng.randint(0, indent + 2) + "# a comment")
    if rng.random() < 0.05:
        lines.append("")


def mapping(rng, indent, depth, lines):
    for _ in range(rng.randint(1, 4)):
        node(rng, indent, depth, lines, " " * indent + key(rng) + ":" + rng.choice([" ", " ", "  "]))


def sequence(rng, indent, depth, lines):
    for _ in range(rng.randint(1, 4)):
        if rng.random() < 0.25:                  # an item that starts a mapping
            column = indent + 2
            first = key(rng) + ": " + scalar(rng)
            lines.append(" " * indent + "- " + first)
            for _ in range(rng.randint(0, 2)):
                node(rng, column, depth + 1, lines, " " * column + key(rng) + ": ")
        else:
            node(rng, indent, depth, lines, " " * indent + "-" + rng.choice([" ", " ", "   "]))


def document(rng):
    lines = []
    if rng.random() < 0.3:
        lines.append("#cloud-config")
    mapping(rng, 0, 0, lines)
    text = "\n".join(lines) + "\n"
    for _ in range(rng.choice([0, 0, 0, 1, 2])):
        pos = rng.randint(0, len(text) - 1)
        what = rng.random()
        if what < 0.4:
            text = text[:pos] + rng.choice(MUTATIONS) + text[pos:]
        elif what < 0.7:
            text = text[:pos] + text[pos + 1:]
        else:
            text = text[:pos] + rng.choice(MUTATIONS) + text[pos + 1:]
    return text


def same(a, b):
    """Equal with the same types all the way down (True == 1 and 1 == 1.0 are not enough)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def documents(seed, count):
    rng = random.Random(seed)
    return [document(rng) for _ in range(count)]
