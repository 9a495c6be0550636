"""Every Message template a check writes has a Japanese and a Chinese translation that keeps
its fields (agent/locale/<lang>/checks.<id>.po; issue 15). Templates are read from the source
itself: Message("...") calls, module constants passed to Message, and the template tables."""
import ast
import os
import string

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
LANGS = ("ja", "zh_CN")
# The checks whose messages are converted to templates so far; the others follow (issue 13).
TRANSLATED = ("fstab", "seal", "shadow", "root_account", "critical_files", "dhcp", "ssh", "firewall",
              "cloudinit")


def _literal(node):
    if type(node).__name__ in ("Constant", "Str"):
        value = node.value if hasattr(node, "value") else node.s
        return value if isinstance(value, str) else None
    return None


def templates(check_id):
    tree = ast.parse(open(os.path.join(REPO, "agent", "checks", check_id + ".py"), encoding="utf-8").read())
    consts = dict((n.targets[0].id, n.value) for n in tree.body
                  if isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name))

    def value(node):
        if isinstance(node, ast.Name) and node.id in consts:
            return value(consts[node.id])
        return _literal(node)

    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Message" and node.args:
            first = node.args[0]
            for candidate in ((first.body, first.orelse) if isinstance(first, ast.IfExp) else (first,)):
                if value(candidate) is not None:
                    found.append(value(candidate))
    for name in ("_TEXTS", "_KINDS"):
        table = consts.get(name)
        if isinstance(table, ast.Dict):
            found.extend(value(v.elts[1] if isinstance(v, ast.Tuple) else v) for v in table.values)
    return set(t for t in found if t is not None)


def _unquote(text):
    return ast.literal_eval(text)


def catalogue(lang, check_id):
    """{msgid: msgstr} of a PO file (plain entries, strings possibly continued on later lines)."""
    path = os.path.join(REPO, "agent", "locale", lang, "checks.{}.po".format(check_id))
    entries, key, current = {}, None, {}
    for line in open(path, encoding="utf-8").read().splitlines() + [""]:
        line = line.strip()
        if line.startswith("msgid "):
            current, key = {"msgid": _unquote(line[6:])}, "msgid"
        elif line.startswith("msgstr "):
            current["msgstr"], key = _unquote(line[7:]), "msgstr"
        elif line.startswith('"') and key:
            current[key] += _unquote(line)
        elif not line and "msgstr" in current:
            entries[current["msgid"]] = current["msgstr"]
            current, key = {}, None
    return entries


def fields(template):
    return sorted((name, conversion) for _text, name, _spec, conversion in string.Formatter().parse(template)
                  if name is not None)


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("check_id", TRANSLATED)
def test_every_template_of_the_check_is_translated_with_its_fields(check_id, lang):
    wanted = templates(check_id)
    assert len(wanted) > 5
    entries = catalogue(lang, check_id)
    missing = sorted(t for t in wanted if not entries.get(t))
    assert not missing, "no {} translation for: {}".format(lang, missing)
    for msgid, msgstr in entries.items():
        if msgid:
            assert fields(msgstr) == fields(msgid), (msgid, msgstr)


@pytest.mark.parametrize("lang", LANGS)
def test_catalogue_header_says_utf8(lang):
    for check_id in TRANSLATED:
        assert "charset=UTF-8" in catalogue(lang, check_id)[""]
