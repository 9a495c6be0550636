"""The checks' catalogues (agent/locale/<lang>/checks.<id>.po, issue 15): every check has one
in both languages, and every Message template of its module (literal, conditional, a module
constant or a template table; and of the code that phrases its results: nvme's drivers are
judged by virtio's) has a translation that keeps each {field}. A template changed in the code
without its catalogue fails here."""
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


def _literal(node):
    value = node.value if isinstance(node, getattr(ast, "Constant", ())) else getattr(node, "s", None)
    return value if isinstance(value, str) else None


def templates(check_id):
    """The templates the check's module(s) give Message(...): literal first arguments, both
    branches of a conditional one, module constants passed by name, and the values of the
    template tables (_TEXTS, _KINDS: {key: template} or {key: (status, template)})."""
    found = []
    for module in (check_id,) + PHRASED_BY.get(check_id, ()):
        with open(os.path.join(AGENT, "checks", module + ".py"), encoding="utf-8") as handle:
            tree = ast.parse(handle.read())
        consts = dict((n.targets[0].id, n.value) for n in tree.body
                      if isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name))

        def value(node):
            if isinstance(node, ast.Name) and node.id in consts:
                return value(consts[node.id])
            return _literal(node)

        candidates = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Message" and node.args:
                first = node.args[0]
                candidates.extend((first.body, first.orelse) if isinstance(first, ast.IfExp) else (first,))
        for name in ("_TEXTS", "_KINDS"):
            if isinstance(consts.get(name), ast.Dict):
                candidates.extend(v.elts[1] if isinstance(v, ast.Tuple) else v for v in consts[name].values)
        for candidate in candidates:
            text = value(candidate)
            if text is not None and text not in found:
                found.append(text)
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


def test_the_catalogues_cover_checks_that_exist_and_every_check_has_one():
    from agent.checks import CHECKS
    assert CATALOGUED, "no check catalogue found"
    for check_id in CATALOGUED:
        assert os.path.isfile(os.path.join(AGENT, "checks", check_id + ".py")), check_id
    assert sorted(c.id for c in CHECKS) == CATALOGUED


def test_the_scan_finds_constants_conditionals_and_tables():
    found = templates("fstab")
    assert "line {line}: {name}'s device {spec} does not exist{note}" in found     # _TEXTS
    assert len(found) > 20
