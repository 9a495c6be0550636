"""PO catalogues read and compiled with the standard library only (no GNU gettext tools on a
build host or in a guest): tools/msgfmt.py writes agent/locale/<lang>/guestprep.mo with it for
the packages, and a checkout, which has no .mo, compiles its .po files in memory at run time.
The layout is agent/locale/README.md's.
"""
import ast
import struct

HEADER = ""   # the msgid of the header entry


class POError(ValueError):
    pass


def parse_po(text, name="<po>"):
    """[(msgctxt or None, msgid, msgstr, fuzzy)] of a PO file's text, header included."""
    entries = []
    state = {"ctx": None, "id": None, "str": None, "fuzzy": False, "field": None}

    def flush():
        if state["id"] is not None:
            if state["str"] is None:
                raise POError("{}: msgid {!r} has no msgstr".format(name, state["id"]))
            entries.append((state["ctx"], state["id"], state["str"], state["fuzzy"]))
        state.update(ctx=None, id=None, str=None, fuzzy=False, field=None)

    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            if line.startswith("#,") and "fuzzy" in line:
                if state["id"] is not None and state["str"] is not None:
                    flush()
                state["fuzzy"] = True
            continue
        keyword, _space, rest = line.partition(" ")
        if keyword in ("msgctxt", "msgid", "msgstr"):
            if keyword in ("msgctxt", "msgid") and state["str"] is not None:
                fuzzy = state["fuzzy"] if state["id"] is None else False
                flush()
                state["fuzzy"] = fuzzy
            if keyword == "msgid" and state["id"] is not None:
                raise POError("{}:{}: msgid without msgstr".format(name, number))
            state["field"] = {"msgctxt": "ctx", "msgid": "id", "msgstr": "str"}[keyword]
            state[state["field"]] = _unquote(rest, name, number)
        elif keyword.startswith("msgid_plural") or keyword.startswith("msgstr["):
            raise POError("{}:{}: plural forms are not used in guestprep's catalogues".format(name, number))
        elif line.startswith('"'):
            if state["field"] is None:
                raise POError("{}:{}: a string outside an entry".format(name, number))
            state[state["field"]] += _unquote(line, name, number)
        else:
            raise POError("{}:{}: cannot read {!r}".format(name, number, line[:40]))
    flush()
    return entries


def _unquote(text, name, number):
    text = text.strip()
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        raise POError("{}:{}: expected a quoted string".format(name, number))
    try:
        value = ast.literal_eval(text)
    except (SyntaxError, ValueError):
        raise POError("{}:{}: bad string {}".format(name, number, text[:40]))
    if not isinstance(value, str):
        raise POError("{}:{}: bad string {}".format(name, number, text[:40]))
    return value


def messages(po_texts):
    """{msgid (with "ctx\\x04" prefix when it has a context): msgstr} of several PO files'
    texts [(name, text)], translated entries only; the header of the first file is kept."""
    catalogue = {}
    for name, text in po_texts:
        for ctx, msgid, msgstr, fuzzy in parse_po(text, name):
            if fuzzy or not msgstr:
                continue
            key = msgid if ctx is None else ctx + "\x04" + msgid
            if key == HEADER and HEADER in catalogue:
                continue
            catalogue[key] = msgstr
    return catalogue


def compile_mo(catalogue):
    """The bytes of a GNU .mo file holding catalogue {msgid: msgstr} (as msgfmt writes it:
    sorted ids, no hash table), which gettext.GNUTranslations reads."""
    keys = sorted(catalogue)
    ids = b""
    strs = b""
    offsets = []
    for key in keys:
        k, v = key.encode("utf-8"), catalogue[key].encode("utf-8")
        offsets.append((len(ids), len(k), len(strs), len(v)))
        ids += k + b"\0"
        strs += v + b"\0"
    count = len(keys)
    key_start = 7 * 4 + 16 * count
    value_start = key_start + len(ids)
    table = []
    for o1, l1, o2, l2 in offsets:
        table.append((l1, o1 + key_start, l2, o2 + value_start))
    out = struct.pack("Iiiiiii", 0x950412de, 0, count, 7 * 4, 7 * 4 + count * 8, 0, 0)
    out += b"".join(struct.pack("ii", l, o) for l, o, _l2, _o2 in table)
    out += b"".join(struct.pack("ii", l2, o2) for _l, _o, l2, o2 in table)
    return out + ids + strs
