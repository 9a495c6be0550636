"""Shared line helpers of agent.parsers: splitting, commenting out, replacing."""
import pytest

from agent.parsers import (
    DISABLED_PREFIX, ParseProblem, comment_out, join_lines, newline_of,
    replace_line, split_ending, split_lines)

BINARY = b"\x00\xff\xfe\x01ELF\n\x89PNG\r\n\x1a\n\x00".decode("utf-8", "surrogateescape")


@pytest.mark.parametrize("text, lines", [
    ("", []),
    ("\n", ["\n"]),
    ("a", ["a"]),
    ("a\nb", ["a\n", "b"]),
    ("a\r\nb\r\n", ["a\r\n", "b\r\n"]),
    ("a\n\n\nb\n", ["a\n", "\n", "\n", "b\n"]),
    # Only "\n" ends a line: form feed, lone CR and U+2028 stay inside it.
    ("a\x0cb\rc\u2028d\n", ["a\x0cb\rc\u2028d\n"]),
    (BINARY, ["\x00\udcff\udcfe\x01ELF\n", "\udc89PNG\r\n", "\x1a\n", "\x00"]),
])
def test_split_lines_keeps_endings_and_joins_back(text, lines):
    assert split_lines(text) == lines
    assert join_lines(split_lines(text)) == text


@pytest.mark.parametrize("line, parts", [
    ("a\r\n", ("a", "\r\n")),
    ("a\n", ("a", "\n")),
    ("a", ("a", "")),
    ("\r", ("\r", "")),
])
def test_split_ending(line, parts):
    assert split_ending(line) == parts


@pytest.mark.parametrize("text, newline", [
    ("", "\n"), ("a", "\n"), ("a\nb\r\n", "\n"), ("a\r\nb\n", "\r\n"), ("\r\n", "\r\n"),
])
def test_newline_of_follows_first_line(text, newline):
    assert newline_of(text) == newline


@pytest.mark.parametrize("text, linenos, expected", [
    ("a\nb\nc\n", [2], f"a\n{DISABLED_PREFIX}b\nc\n"),
    ("a\r\nb\r\nc", [1, 3], f"{DISABLED_PREFIX}a\r\nb\r\n{DISABLED_PREFIX}c"),
    ("  indented\n", [1], f"{DISABLED_PREFIX}  indented\n"),
    ("a\nb\n", [], "a\nb\n"),
    ("a\nb\n", [2, 2], f"a\n{DISABLED_PREFIX}b\n"),
    (f"{DISABLED_PREFIX}a\n", [1], f"{DISABLED_PREFIX}a\n"),
])
def test_comment_out(text, linenos, expected):
    assert comment_out(text, linenos) == expected
    assert comment_out(expected, linenos) == expected


@pytest.mark.parametrize("lineno", [0, 3, -1])
def test_comment_out_rejects_lines_that_do_not_exist(lineno):
    with pytest.raises(ValueError):
        comment_out("a\nb\n", [lineno])


@pytest.mark.parametrize("text, lineno, new, keep, expected", [
    ("a\nb\nc\n", 2, "B", False, "a\nB\nc\n"),
    ("a\nb\nc\n", 2, "B", True, f"a\n{DISABLED_PREFIX}b\nB\nc\n"),
    ("a\r\nb\r\n", 1, "A\n", True, f"{DISABLED_PREFIX}a\r\nA\r\nb\r\n"),
    # The last line keeps its missing newline; the kept copy above gets one.
    ("a\r\nb", 2, "B", True, f"a\r\n{DISABLED_PREFIX}b\r\nB"),
    ("a\nb", 2, "B", False, "a\nB"),
    ("only", 1, "new", True, f"{DISABLED_PREFIX}only\nnew"),
    (f"{DISABLED_PREFIX}x\n", 1, "y", True, f"{DISABLED_PREFIX}x\ny\n"),
])
def test_replace_line(text, lineno, new, keep, expected):
    assert replace_line(text, lineno, new, keep_original=keep) == expected


@pytest.mark.parametrize("keep", [True, False])
def test_replace_line_with_same_text_changes_nothing(keep):
    assert replace_line("a\nb\r\nc", 2, "b", keep_original=keep) == "a\nb\r\nc"


@pytest.mark.parametrize("lineno, new", [(0, "b"), (2, "b"), (1, "two\nlines")])
def test_replace_line_rejects_bad_arguments(lineno, new):
    with pytest.raises(ValueError):
        replace_line("a\n", lineno, new)


def test_parse_problem_is_a_plain_tuple():
    problem = ParseProblem(3, "bad")
    assert problem == (3, "bad")
    assert (problem.lineno, problem.message) == (3, "bad")
