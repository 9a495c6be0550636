"""Japanese and Chinese messages (issue 15): the ECS documents this tool follows are Japanese
and Chinese first, and so are many of the people who import images.

The language comes from `--lang ja|zh_CN|en`, else LANGUAGE, LC_ALL, LC_MESSAGES, LANG. English
is the source language: choosing it (the default) loads no catalogue and imports nothing, so
the English path costs nothing at startup. Catalogues: agent/locale/README.md.

- `tr(value)`: a Message's translation (its template, then its values), else gettext(str).
- `t(template, **fields)`: an output string (a literal, found by tests/test_i18n.py) translated,
  then formatted with named fields.
- `N_(text)`: marks a literal for the catalogue where it is defined, translated where shown.
"""
import os

LANGUAGES = ("ja", "zh_CN")
ENGLISH = "en"
DOMAIN = "guestprep"

_state = {"lang": ENGLISH, "catalogue": None}


def normalize(name):
    """'ja', 'zh_CN' or 'en' for a --lang value or a locale name; None when it names no
    language guestprep has ('de_DE.UTF-8'), so the next variable is asked."""
    if not name:
        return None
    base = name.split(".", 1)[0].split("@", 1)[0].strip()
    if not base:
        return None
    lower = base.lower().replace("-", "_")
    if lower in ("c", "posix") or lower == "en" or lower.startswith("en_"):
        return ENGLISH
    if lower == "ja" or lower.startswith("ja_"):
        return "ja"
    # Simplified Chinese: mainland China and Singapore; zh_TW and zh_HK write Traditional.
    if lower in ("zh", "zh_cn", "zh_sg", "zh_hans") or lower.startswith("zh_hans_"):
        return "zh_CN"
    return None


def choose(option=None, environ=None):
    """The language of this run: --lang, else the first of LANGUAGE (a colon list, as gettext
    reads it; only when a locale is set), LC_ALL, LC_MESSAGES, LANG that names one; English."""
    if option:
        lang = normalize(option)
        if lang is None:
            raise ValueError("--lang {}: one of ja, zh_CN, en".format(option))
        return lang
    env = os.environ if environ is None else environ
    # The first of LC_ALL, LC_MESSAGES, LANG that is set is the locale, as setlocale() reads it.
    locale = next((env[v] for v in ("LC_ALL", "LC_MESSAGES", "LANG") if env.get(v)), "")
    # LANGUAGE (a list, ja:en) comes first, except under the C locale, as in GNU gettext.
    if locale and locale.split(".", 1)[0] not in ("C", "POSIX"):
        for part in env.get("LANGUAGE", "").split(":"):
            lang = normalize(part)
            if lang is not None:
                return lang
    return normalize(locale) or ENGLISH


def set_language(lang):
    """Make `lang` this process's language; its catalogue is loaded on first use."""
    _state["lang"] = lang if lang in LANGUAGES else ENGLISH
    _state["catalogue"] = None


def language():
    return _state["lang"]


def english():
    return _state["lang"] == ENGLISH


def _catalogue():
    if _state["catalogue"] is None:
        _state["catalogue"] = load(_state["lang"])
    return _state["catalogue"]


def load(lang):
    """gettext.GNUTranslations of `lang`: the packaged guestprep.mo read through the loader
    (a file inside the zipapp cannot be opened by gettext itself), else, in a checkout, the
    .po files of agent/locale/<lang>/ compiled in memory."""
    import gettext
    import io
    import pkgutil
    data = None
    try:
        data = pkgutil.get_data("agent", "locale/{}/{}.mo".format(lang, DOMAIN))
    except (OSError, IOError):
        data = None
    if data is None:
        data = compile_language(lang)
    if not data:
        return gettext.NullTranslations()
    return gettext.GNUTranslations(io.BytesIO(data))


def po_files(lang, base=None):
    """[(name, text)] of the .po files of `lang` in a checkout, sorted by name."""
    import agent
    base = base or os.path.join(os.path.dirname(os.path.abspath(agent.__file__)), "locale")
    directory = os.path.join(base, lang)
    out = []
    if os.path.isdir(directory):
        for name in sorted(os.listdir(directory)):
            if name.endswith(".po"):
                with open(os.path.join(directory, name), encoding="utf-8") as handle:
                    out.append((name, handle.read()))
    return out


def compile_language(lang, base=None):
    """The .mo bytes of every .po file of `lang` (b"" when there are none)."""
    from agent.output import catalog
    files = po_files(lang, base)
    if not files:
        return b""
    return catalog.compile_mo(catalog.messages(files))


def gettext(text):
    if _state["lang"] == ENGLISH or not text:
        return text
    return _catalogue().gettext(text)


def tr(value):
    """The translation of a Message (its template translated, then its values, themselves
    translated when they are Messages) or of a plain str; English returns it unchanged."""
    if _state["lang"] == ENGLISH or not value:
        return value
    template = getattr(value, "template", None)
    if template is None:
        return gettext(value)
    args = dict((k, tr(v) if hasattr(v, "template") else v) for k, v in value.args.items())
    translated = gettext(template)
    if not args:
        return translated
    try:
        return translated.format(**args)
    except (KeyError, IndexError, ValueError):
        return str(value)   # a broken translation must not cost the report (the test finds it)


def t(template, **fields):
    """An output string: `template` (a literal) translated, then formatted with `fields`."""
    text = gettext(template) if _state["lang"] != ENGLISH else template
    if not fields:
        return text
    try:
        return text.format(**fields)
    except (KeyError, IndexError, ValueError):
        return template.format(**fields)


def N_(text):
    """Marks a literal for the catalogue; translated where it is shown (tr)."""
    return text


def joined(findings, summary):
    """A result's summary in this language: each finding's text translated, joined as the
    English is ("; "); `summary` itself when there are no findings or the language is English."""
    if _state["lang"] == ENGLISH:
        return summary
    if not findings or "; ".join(str(f.text) for f in findings) != str(summary):
        return tr(summary)
    return t("; ").join(tr(f.text) for f in findings)
