#!/usr/bin/env python3
"""Compile agent/locale/<lang>/*.po into one guestprep.mo per language (stdlib only; the
same reader the agent uses in a checkout, agent/output/catalog.py).

    tools/msgfmt.py DEST        writes DEST/<lang>/guestprep.mo for ja and zh_CN

The packages call it on their staging tree (tools/package.sh, packaging/zipapp/build.sh):
the .mo files are never committed (agent/locale/README.md).
"""
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from agent.output import catalog, i18n  # noqa: E402


def main(argv):
    if len(argv) != 1:
        sys.stderr.write("usage: tools/msgfmt.py DEST (the locale directory of a staged agent/)\n")
        return 2
    dest = argv[0]
    source = os.path.join(REPO, "agent", "locale")
    for lang in i18n.LANGUAGES:
        files = i18n.po_files(lang, source)
        if not files:
            sys.stderr.write("msgfmt: no .po files for {}\n".format(lang))
            return 1
        try:
            data = catalog.compile_mo(catalog.messages(files))
        except catalog.POError as e:
            sys.stderr.write("msgfmt: {}\n".format(e))
            return 1
        os.makedirs(os.path.join(dest, lang), exist_ok=True)
        out = os.path.join(dest, lang, i18n.DOMAIN + ".mo")
        with open(out + ".tmp", "wb") as handle:
            handle.write(data)
        os.replace(out + ".tmp", out)
        print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
