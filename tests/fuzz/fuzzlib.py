"""Strategies and counters of the fuzz tests.

Inputs are generated, never typed: text over each format's own characters, lines drawn
from real samples (the string constants of the parser and check tests) recombined, and
real samples mutated (bytes inserted, deleted, replaced, lines duplicated or cut).
Every test counts the inputs it ran; conftest writes the totals to the results directory.
"""
import ast
import collections
import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)

COUNTS = collections.Counter()        # target -> inputs run
EXPECTED = collections.Counter()      # target -> documented ValueErrors seen
FINDINGS = collections.defaultdict(list)

# Per-target example count: small in the unit run, the real figure in tools/fuzz.sh.
EXAMPLES = int(os.environ.get("GUESTPREP_FUZZ_EXAMPLES", "40"))


def fuzz_settings(weight=1.0):
    return settings(max_examples=max(10, int(EXAMPLES * weight)), deadline=None, derandomize=True,
                    database=None, print_blob=True,
                    suppress_health_check=list(HealthCheck))


def samples(*names):
    """Multi-line string constants of tests/<name>.py files: real-format samples."""
    found = []
    for name in names:
        path = os.path.join(TESTS, name)
        with open(path, encoding="utf-8") as handle:
            tree = ast.parse(handle.read())
        for node in ast.walk(tree):
            value = getattr(node, "value", None) if type(node).__name__ == "Constant" else getattr(node, "s", None)
            if isinstance(value, str) and "\n" in value and len(value) < 5000:
                found.append(value)
    return sorted(set(found)) or ["\n"]


COMMON = " \t\n\r#=\"'\\:;,.-_/[]{}()$*&!|<>?@%`~^+0123456789abcdefxyzABCDEFXYZ\x00\x7f\u00e9\udcff"


def _mutate(data):
    text, ops = data
    for kind, pos, piece in ops:
        pos = pos % (len(text) + 1)
        if kind == 0:
            text = text[:pos] + piece + text[pos:]
        elif kind == 1:
            text = text[:pos] + text[pos + len(piece) + 1:]
        elif kind == 2:
            text = text[:pos] + piece + text[pos + len(piece):]
        elif kind == 3:
            lines = text.splitlines(True)
            if lines:
                i = pos % len(lines)
                lines.insert(i, lines[i])
            text = "".join(lines)
        else:
            text = text[:pos]
    return text


def format_text(sample_texts, alphabet=""):
    """Text that looks more or less like the format: generated, recombined, mutated."""
    chars = st.sampled_from(sorted(set(COMMON + alphabet)))
    piece = st.text(alphabet=chars, max_size=12)
    lines = sorted(set(l for s in sample_texts for l in s.splitlines(True)))
    op = st.tuples(st.integers(0, 4), st.integers(0, 10 ** 6), piece)
    return st.one_of(
        st.text(alphabet=chars, max_size=400),
        st.lists(st.one_of(st.sampled_from(lines), piece.map(lambda p: p + "\n")), max_size=30).map("".join),
        st.tuples(st.sampled_from(sample_texts), st.lists(op, min_size=1, max_size=6)).map(_mutate),
        st.text(max_size=200),
    )


def count(target):
    COUNTS[target] += 1
