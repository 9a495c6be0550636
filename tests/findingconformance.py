"""What every check's findings must be (issue 13): stable public codes, seed refs from the
list, and Message templates with named fields that a
translation can render again.

`assert_conforming` is called on every Result a check returns in the unit tests (conftest.py
wraps each check's run(), so every pyfakefs scenario is covered) and over the fixture roots
(test_conformance.py).
"""
import re
import string

from agent.core.model import Message, Status

SLUG = re.compile(r"[a-z0-9-]+\Z")
SEEDS = ("000", "001", "002", "003", "004")


def fields(template):
    """The field names of a format template (AssertionError on a positional or unnamed one)."""
    names = []
    for _literal, name, _spec, _conversion in string.Formatter().parse(template):
        if name is None:
            continue
        base = re.split(r"[.\[]", name, maxsplit=1)[0]
        assert base and not base.isdigit(), "positional field in template {!r}".format(template)
        names.append(base)
    return names


def assert_message(text, what):
    """`text` is a Message whose template has named fields only and renders to itself; every
    Message among its values likewise."""
    assert isinstance(text, Message), "{} is a plain str, not a Message: {!r}".format(what, text)
    names = fields(text.template)
    assert set(names) == set(text.args), "{}: template {!r} and values {} differ".format(
        what, text.template, sorted(text.args))
    if text.args:
        assert text.template.format(**text.args) == str(text), what
    for name, value in text.args.items():
        if isinstance(value, Message):
            assert_message(value, "{} field {}".format(what, name))


def assert_conforming(check, result, texts=True):
    """AssertionError naming what is wrong with `result` of `check` (texts=False: not its texts,
    for the SKIP and ERROR results the engine makes itself)."""
    what = "{}: {!r}".format(check.id, str(result.summary)[:120])
    assert result.findings, "{} has no findings".format(what)
    seen = set()
    for f in result.findings:
        prefix, _dot, slug = f.code.partition(".")
        assert prefix == check.id and SLUG.match(slug), "{}: finding code {!r} is not {}.<slug>".format(
            what, f.code, check.id)
        assert f.status in Status.ORDER, "{}: status {!r}".format(what, f.status)
        assert isinstance(f.refs, tuple) and set(f.refs) <= set(SEEDS), "{}: refs {!r}".format(what, f.refs)
        assert isinstance(f.path, str) and isinstance(f.line, int) and f.line >= 0, what
        key = (f.code, f.path, f.line, str(f.text))
        assert key not in seen, "{}: the same finding twice: {}".format(what, key)
        seen.add(key)
        if texts:
            assert_message(f.text, "{} finding {}".format(check.id, f.code))
    if texts:
        if result.hint:
            assert_message(result.hint, "{} hint".format(check.id))
        assert isinstance(result.summary, Message) or result.summary == "; ".join(
            str(f.text) for f in result.findings), "{}: the summary is neither a Message nor its findings".format(what)

