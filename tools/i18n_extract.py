#!/usr/bin/env python3
"""Every message guestprep translates, found in the source (agent/locale/README.md):

- the literal template of every Message(...) call in agent/ and remediations/;
- every output string marked t("...") or N_("...") (agent/output/i18n.py);
- every check's title and operation descriptions (from the registry).

    tools/i18n_extract.py                   list the msgids and where they are
    tools/i18n_extract.py --missing ja      print PO entries for what ja lacks (empty msgstr)

tests/test_i18n.py uses extract() to fail on a message without a translation.
"""
import ast
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MARKERS = ("Message", "t", "N_")


def _literal(node):
    if sys.version_info >= (3, 8):
        return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None
    return node.s if isinstance(node, ast.Str) else None   # Python 3.6, 3.7


def _name(func):
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def source_files(repo=REPO):
    for top in ("agent", "remediations"):
        for base, dirs, files in os.walk(os.path.join(repo, top)):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(files):
                if name.endswith(".py"):
                    yield os.path.join(base, name)


def extract_file(path, repo=REPO):
    """[(msgid, 'file:line')] of the marked literals in one file."""
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read(), path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _name(node.func) in MARKERS and node.args:
            text = _literal(node.args[0])
            if text:
                found.append((text, "{}:{}".format(os.path.relpath(path, repo), node.lineno)))
    return found


def registry_messages():
    """[(msgid, where)] of check titles and operation descriptions."""
    if REPO not in sys.path:
        sys.path.insert(0, REPO)
    from agent.checks import CHECKS
    out = []
    for check in CHECKS:
        out.append((check.title, "title of " + check.id))
        for operation in getattr(check, "operations", None) or ():
            out.append((operation.description, "operation {}:{}".format(check.id, operation.name)))
    return out


def extract(repo=REPO):
    """{msgid: [where, ...]} of every message to translate."""
    messages = {}
    for path in source_files(repo):
        for text, where in extract_file(path, repo):
            messages.setdefault(text, []).append(where)
    for text, where in registry_messages():
        messages.setdefault(text, []).append(where)
    return messages


def po_quote(text):
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return '"' + escaped + '"'


def main(argv):
    messages = extract()
    if argv[:1] == ["--missing"]:
        if REPO not in sys.path:
            sys.path.insert(0, REPO)
        from agent.output import catalog, i18n
        have = catalog.messages(i18n.po_files(argv[1]))
        for text in sorted(messages):
            if text not in have:
                print("#: " + " ".join(messages[text][:3]))
                print("msgid " + po_quote(text))
                print('msgstr ""\n')
        return 0
    for text in sorted(messages):
        print("{}\t{}".format(po_quote(text), " ".join(messages[text])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
