"""The checks' catalogues (agent/locale/<lang>/checks.<id>.po, issue 15): for every check that
has one, every Message template of its module (and of the code that phrases its results:
nvme's drivers are judged by virtio's) has a translation that keeps each {field}. A template
changed in the code without its catalogue fails here."""
import ast
import os
import re
import string

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
AGENT = os.path.join(os.path.dirname(HERE), "agent")
LOCALE = os.path.join(AGENT, "locale")
LANGS = ("ja", "zh_CN")
PHRASED_BY = {"nvme": ("virtio",)}


def templates(check_id):
    """The literal first arguments of Message(...) in the check's module(s)."""
    found = []
    for module in (check_id,) + PHRASED_BY.get(check_id, ()):
        with open(os.path.join(AGENT, "checks", module + ".py"), encoding="utf-8") as handle:
            tree = ast.parse(handle.read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Message" and node.args:
                arg = node.args[0]
                value = arg.value if isinstance(arg, getattr(ast, "Constant", ())) else getattr(arg, "s", None)
                if isinstance(value, str) and value not in found:
                    found.append(value)
    return found


def _unquote(text):
    return re.sub(r'\\(.)', lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), text[1:-1])


def catalogue(path):
    """{msgid: msgstr} of a PO file (single and continued lines; no plurals or contexts)."""
    entries, key, current = {}, None, None
    with open(path, encoding="utf-8") as handle:
        for line in handle.read().splitlines() + [""]:
            if line.startswith("msgid "):
                key, current = "msgid", {"msgid": _unquote(line[6:])}
            elif line.startswith("msgstr "):
                key = "msgstr"
                current["msgstr"] = _unquote(line[7:])
            elif line.startswith('"') and current is not None:
                current[key] += _unquote(line)
            elif not line.strip() and current is not None and "msgstr" in current:
                entries[current["msgid"]] = current["msgstr"]
                current = None
    return entries


def fields(template):
    return sorted(name for _lit, name, _spec, _conv in string.Formatter().parse(template) if name is not None)


CATALOGUED = sorted(set(name[len("checks."):-len(".po")] for lang in LANGS
                        for name in (os.listdir(os.path.join(LOCALE, lang)) if os.path.isdir(
                            os.path.join(LOCALE, lang)) else ()) if re.match(r"checks\.\w+\.po\Z", name)))


@pytest.mark.parametrize("check_id", CATALOGUED)
@pytest.mark.parametrize("lang", LANGS)
def test_every_message_of_a_catalogued_check_is_translated_keeping_its_fields(check_id, lang):
    path = os.path.join(LOCALE, lang, "checks.{}.po".format(check_id))
    assert os.path.isfile(path), "{} has a catalogue in one language only".format(check_id)
    entries = catalogue(path)
    assert "Content-Type: text/plain; charset=UTF-8" in entries.get("", ""), path
    for template in templates(check_id):
        assert entries.get(template), "{}: no translation of {!r}".format(path, template)
        assert fields(entries[template]) == fields(template), "{}: fields of {!r}".format(path, template)
    # English left in a translation: a sentence the catalogue forgot (commands, paths and
    # product names stay as they are, so only long runs of English words count).
    english = re.compile(r"\b[a-z]+ [a-z]+ [a-z]+ [a-z]+ [a-z]+ [a-z]+\b")
    for template, text in entries.items():
        if template:
            assert not english.search(re.sub(r"`[^`]*`|\{\w+\}|\"[^\"]*\"", "", text)), (path, text)


def test_the_catalogues_cover_checks_that_exist():
    assert CATALOGUED, "no check catalogue found"
    for check_id in CATALOGUED:
        assert os.path.isfile(os.path.join(AGENT, "checks", check_id + ".py")), check_id
