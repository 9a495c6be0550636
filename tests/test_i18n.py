"""Japanese and Chinese messages (issue 15; agent/locale/README.md): every message has a
translation in both languages that keeps its fields, the language is chosen as gettext
chooses it, English loads nothing, and the check report of every fixture root has no
English sentence left in its items in either language."""
import gettext
import importlib.util
import io
import json
import os
import re
import shutil
import string
import sys

import pytest

from agent.checks import CHECKS
from agent.core.model import Message
from agent.output import catalog, cli, i18n

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
ROOTS = os.path.join(HERE, "fixtures", "roots")
SEED_003 = "/work/shared/seeds"

_spec = importlib.util.spec_from_file_location("i18n_extract", os.path.join(REPO, "tools", "i18n_extract.py"))
extract_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(extract_mod)

@pytest.fixture(autouse=True)
def english_after():
    yield
    i18n.set_language(i18n.ENGLISH)


def fields(text):
    """The names of the {fields} of a format string (a ValueError on a malformed one)."""
    return sorted(set(name.split(".")[0].split("[")[0] for _lit, name, _spec, _conv in string.Formatter().parse(text)
                      if name is not None))


def catalogue_entries(lang):
    return [(name, entry) for name, text in i18n.po_files(lang) for entry in catalog.parse_po(text, name)]


# -- every message translated, fields kept -------------------------------------------------

@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_every_message_has_a_translation(lang):
    messages = extract_mod.extract()
    assert len(messages) > 100   # the scan finds the report's strings, titles, Messages
    have = catalog.messages(i18n.po_files(lang))
    missing = sorted("{}  ({})".format(m, messages[m][0]) for m in messages if m not in have)
    assert not missing, "{} messages lack a {} translation (tools/i18n_extract.py --missing {}):\n{}".format(
        len(missing), lang, lang, "\n".join(missing))


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_translations_keep_every_field(lang):
    wrong = []
    for name, (ctx, msgid, msgstr, fuzzy) in catalogue_entries(lang):
        if not msgid or not msgstr:
            continue
        try:
            got = fields(msgstr)
        except ValueError as e:
            wrong.append("{}: {!r}: malformed: {}".format(name, msgstr, e))
            continue
        if got != fields(msgid):
            wrong.append("{}: {!r} has {}, its msgid {}".format(name, msgid, got, fields(msgid)))
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_one_translation_per_message(lang):
    seen, clashes = {}, []
    for name, (ctx, msgid, msgstr, fuzzy) in catalogue_entries(lang):
        if msgid and msgstr and seen.setdefault((ctx, msgid), (name, msgstr))[1] != msgstr:
            clashes.append("{!r}: {} and {}".format(msgid, seen[(ctx, msgid)][0], name))
    assert not clashes, "\n".join(clashes)


def test_each_catalogue_file_declares_utf8_and_its_language():
    for lang in i18n.LANGUAGES:
        files = i18n.po_files(lang)
        assert files
        for name, text in files:
            header = dict(catalog.messages([(name, text)]))[""]
            assert "charset=UTF-8" in header and "Language: {}\n".format(lang) in header, name


def test_the_field_check_catches_a_dropped_or_renamed_field():
    assert fields("{path} は {mode}") == fields("SELinux is {mode} in {path}")
    assert fields("{path} です") != fields("SELinux is {mode} in {path}")
    assert fields("{pth} は {mode}") != fields("SELinux is {mode} in {path}")


def test_the_scan_finds_message_templates_marked_strings_and_titles():
    messages = extract_mod.extract()
    assert "could not read the target: {error}" in messages       # Message(...) in agent/core
    assert "Nothing blocks the import." in messages               # t(...) in agent/output
    assert "Image check" in messages                              # N_(...)
    assert all(c.title in messages for c in CHECKS)


# -- GUESTOS items by the ECS console's names ----------------------------------------------

def seed_003_names():
    """{item: its name in seed 003's table (the first sentence of the description)}."""
    path = [os.path.join(SEED_003, n) for n in os.listdir(SEED_003) if n.startswith("003_")][0]
    names = {}
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    linux = text.split("チェックアイテムのLinuxイメージ")[1].split("Windowsイメージのチェックアイテム")[0]
    for line in linux.splitlines():
        if line.startswith("GUESTOS.") and "|" in line:
            item, description = [p.strip() for p in line.split("|")[:2]]
            item = {"GUESTOS. アーキテクチャ": "GUESTOS.Architecture"}.get(item, item)
            names[item] = description.split("。")[0]
    return names


@pytest.mark.skipif(not os.path.isdir(SEED_003), reason="the seed documents are not on this machine")
def test_japanese_titles_of_guestos_items_use_the_console_names():
    names = seed_003_names()
    assert len(names) == 18
    i18n.set_language("ja")
    items = [c for c in CHECKS if c.item.startswith("GUESTOS.")]
    assert set(c.item for c in items) <= set(names)
    for check in items:
        assert names[check.item] in i18n.tr(check.title), check.item


# -- language choice ------------------------------------------------------------------------

@pytest.mark.parametrize("env,lang", [
    ({"LANG": "ja_JP.UTF-8"}, "ja"),
    ({"LANG": "ja_JP.eucJP"}, "ja"),
    ({"LANG": "zh_CN.UTF-8"}, "zh_CN"),
    ({"LANG": "zh_CN.GB18030"}, "zh_CN"),
    ({"LANG": "zh_SG.UTF-8"}, "zh_CN"),
    ({"LANG": "zh_TW.UTF-8"}, "en"),          # Traditional Chinese: not ours
    ({"LANG": "C.UTF-8"}, "en"),
    ({"LANG": "POSIX"}, "en"),
    ({"LANG": "en_US.UTF-8"}, "en"),
    ({"LANG": "de_DE.UTF-8"}, "en"),
    ({}, "en"),
    ({"LANG": "ja_JP.UTF-8", "LC_MESSAGES": "zh_CN.UTF-8"}, "zh_CN"),
    ({"LANG": "ja_JP.UTF-8", "LC_ALL": "C"}, "en"),       # LC_ALL overrides everything
    ({"LC_ALL": "zh_CN.UTF-8", "LANG": "en_US.UTF-8"}, "zh_CN"),
    ({"LANGUAGE": "ja:en", "LANG": "en_US.UTF-8"}, "ja"),
    ({"LANGUAGE": "de:zh_CN", "LANG": "en_US.UTF-8"}, "zh_CN"),
    ({"LANGUAGE": "ja", "LANG": "C"}, "en"),              # gettext ignores LANGUAGE under C
    ({"LANGUAGE": "ja"}, "en"),
])
def test_language_from_the_environment(env, lang):
    assert i18n.choose(None, env) == lang


def test_lang_option_wins_over_the_environment():
    assert i18n.choose("en", {"LANG": "ja_JP.UTF-8"}) == "en"
    assert i18n.choose("zh_CN", {"LANG": "ja_JP.UTF-8"}) == "zh_CN"
    with pytest.raises(ValueError):
        i18n.choose("klingon", {})


# -- rendering ----------------------------------------------------------------------------

def test_a_message_is_translated_from_its_template_then_its_values():
    i18n.set_language("ja")
    message = Message("could not read the target: {error}", error="/etc/fstab: Permission denied")
    assert i18n.tr(message) == "対象を読み取れませんでした: /etc/fstab: Permission denied"
    nested = Message("not applied: {reason}", reason=Message("needs the running system; not checked on a mounted image"))
    assert i18n.tr(nested).startswith("適用しません: 稼働中のシステムが必要です")
    assert i18n.tr("Image check") == "イメージチェック"
    assert i18n.tr(Message("a message nobody translated {x}", x=1)) == "a message nobody translated 1"
    i18n.set_language("en")
    assert i18n.tr(message) is message


def test_a_broken_translation_falls_back_to_the_english(monkeypatch):
    i18n.set_language("ja")
    monkeypatch.setitem(i18n._state, "catalogue", _catalogue({"cannot plan: {error}": "計画できません: {eror}"}))
    assert i18n.tr(Message("cannot plan: {error}", error="x")) == "cannot plan: x"


def _catalogue(entries):
    entries = dict(entries, **{"": "Content-Type: text/plain; charset=UTF-8\n"})
    return gettext.GNUTranslations(io.BytesIO(catalog.compile_mo(entries)))


def test_po_reader_and_mo_writer_round_trip():
    text = ('msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
            '# a comment\nmsgid "two "\n"lines {x}"\nmsgstr "二行 {x}"\n\n'
            'msgid "quote \\" and \\\\ and \\n"\nmsgstr "引用 \\" \\\\ \\n"\n\n'
            '#, fuzzy\nmsgid "fuzzy one"\nmsgstr "あいまい"\n\n'
            'msgid "untranslated"\nmsgstr ""\n\n'
            'msgctxt "menu"\nmsgid "Open"\nmsgstr "開く"\n')
    got = catalog.messages([("x.po", text)])
    assert got["two lines {x}"] == "二行 {x}"
    assert got['quote " and \\ and \n'] == '引用 " \\ \n'
    assert "fuzzy one" not in got and "untranslated" not in got
    translations = gettext.GNUTranslations(io.BytesIO(catalog.compile_mo(got)))
    assert translations.gettext("two lines {x}") == "二行 {x}"
    assert translations.gettext('quote " and \\ and \n') == '引用 " \\ \n'
    assert translations.pgettext("menu", "Open") == "開く" if hasattr(translations, "pgettext") else True
    assert translations.gettext("fuzzy one") == "fuzzy one"


@pytest.mark.parametrize("bad", ['msgid "x"\n', 'msgid "x"\nmsgstr y\n', '"dangling"\n',
                                 'msgid "x"\nmsgid_plural "xs"\nmsgstr[0] ""\n'])
def test_po_reader_refuses_what_it_cannot_read(bad):
    with pytest.raises(catalog.POError):
        catalog.parse_po(bad, "bad.po")


# -- the CLI --------------------------------------------------------------------------------

def run(argv, capsys, env=None, monkeypatch=None):
    for variable in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(variable, raising=False)
    for key, value in (env or {}).items():
        monkeypatch.setenv(key, value)
    code = cli.main(argv)
    return code, capsys.readouterr().out


def test_english_loads_no_catalogue(capsys, monkeypatch):
    sys.modules.pop("agent.output.catalog", None)
    code, out = run(["check", "--root", os.path.join(ROOTS, "debian12")], capsys, {"LANG": "C.UTF-8"}, monkeypatch)
    assert "Nothing blocks the import." in out or "Blocking:" in out
    assert i18n._state["catalogue"] is None and "agent.output.catalog" not in sys.modules


@pytest.mark.parametrize("argv", [["--lang", "ja", "check"], ["check", "--lang", "ja"]])
def test_lang_before_or_after_the_command(argv, capsys, monkeypatch):
    code, out = run(argv + ["--root", os.path.join(ROOTS, "debian12")], capsys, {"LANG": "C"}, monkeypatch)
    assert "— " in out and "をチェック中" in out


def test_json_keeps_english_and_adds_the_translation_beside_it(capsys, monkeypatch):
    root = os.path.join(ROOTS, "centos7")
    code, out = run(["check", "--root", root, "--format", "json"], capsys, {"LANG": "ja_JP.UTF-8"}, monkeypatch)
    doc = json.loads(out)
    assert doc["lang"] == "ja"
    english = json.loads(run(["check", "--root", root, "--format", "json", "--lang", "en"], capsys, {},
                             monkeypatch)[1])
    assert "lang" not in english and all("summary_localized" not in r for r in english["results"])
    i18n.set_language("ja")
    for ours, theirs in zip(doc["results"], english["results"]):
        # (free_space's numbers move between two runs: the codes, not the texts, must agree)
        assert ours["id"] == theirs["id"] and ours["status"] == theirs["status"]
        assert [f["code"] for f in ours["findings"]] == [f["code"] for f in theirs["findings"]]
        assert ours["summary"] == theirs["summary"] or ours["id"] == "free_space"
        assert ours["title"] == theirs["title"]
        assert ours["title_localized"] == i18n.tr(theirs["title"]) != theirs["title"]
        assert all("text_localized" in f for f in ours["findings"])


def test_junit_titles_and_summaries_translated(capsys, monkeypatch):
    code, out = run(["check", "--root", os.path.join(ROOTS, "centos7"), "--format", "junit", "--lang", "zh_CN"],
                    capsys, {}, monkeypatch)
    assert "镜像是否安装了Virtio驱动" in out and 'classname="guestprep.GUESTOS.Virtio"' in out


def test_plan_text_translated(capsys, monkeypatch):
    code, out = run(["plan", "--root", os.path.join(ROOTS, "centos7"), "--items", "selinux", "--lang", "ja"],
                    capsys, {}, monkeypatch)
    assert "元に戻せます" in out


# -- the proof: no English sentence left in what a person reads ----------------------
#
# `LANG=ja_JP.UTF-8 guestprep check` and `--lang zh_CN`, with `--format junit`, `plan` (the
# default fixes and every fix), `fix` (on a copy) and its `rollback`, over every fixture root.
#
# An English sentence: three or more English words in a row (the first may be capitalized;
# spaces or an opening parenthesis between them) in the prose of the output. Not prose, so
# taken out first: commands (`...`, and $ lines except a `# comment` after the command),
# paths and URLs (a word with a /), names, ids, codes and options (a word with . _ = : @ or -
# inside, or a leading -), quoted values ("..." and '...'), the unified diff of a file's
# content in plan text (its hunks are counted, so file content never passes for prose), and
# the outcome code and item of a rollback row (codes, as in JSON). Statuses are capitals
# (PASS, FIXED) and OS names carry digits or capitals: neither is three lowercase words.

SENTENCE = re.compile(r"\b[A-Za-z][a-z']*(?:[ (]+[a-z][a-z']*){2,}\b")
NOT_PROSE = re.compile(r"`[^`]*`|\S*/\S*|\S*[A-Za-z0-9][._=:@-][A-Za-z0-9]\S*|(?<!\S)-\S*"
                       r"|\"[^\"]*\"|(?<![A-Za-z])'[^']*'(?![A-Za-z])")
HUNK = re.compile(r"@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@")
ROLLBACK_ROW = re.compile(r"(restored|unchanged|conflict|irreversible|failed) +\S+ ")


def prose(text):
    """The lines of a text report that are prose: file diffs skipped hunk by hunk, a $ line
    reduced to its comment."""
    lines, i = text.splitlines(), 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
            i += 2
            while i < len(lines) and HUNK.match(lines[i]):
                old, new = int(HUNK.match(lines[i]).group(1) or 1), int(HUNK.match(lines[i]).group(2) or 1)
                i += 1
                while i < len(lines) and (old > 0 or new > 0 or lines[i].startswith("\\")):
                    kind = lines[i][:1]
                    old -= kind in (" ", "-", "")
                    new -= kind in (" ", "+", "")
                    i += 1
            continue
        stripped = ROLLBACK_ROW.sub("", line.strip(), count=1)
        if stripped.startswith("$ "):
            stripped = stripped.partition(" # ")[2]
        yield stripped
        i += 1


def junit_prose(xml):
    """The text a person reads in a JUnit report: names, messages and element text (not the
    properties: root path, OS name, version)."""
    import xml.etree.ElementTree as ET
    out = []
    for element in ET.fromstring(xml).iter():
        if element.tag != "property":
            out.extend(element.get(key) for key in ("name", "message") if element.get(key))
            out.append(element.text or "")
    return "\n".join(out)


def english_sentences(text):
    """[(the English, the line it is in)]."""
    return [(match.group(0), line) for line in prose(text)
            for match in SENTENCE.finditer(NOT_PROSE.sub(" | ", line))]


def test_the_english_detector_finds_english_and_only_english():
    text = ("PASS   GUESTOS.Fstab   /etc/fstab mounts only the system disk: /\n"
            "                       デバイス (the image is not running)\n"
            "FAIL   GUESTOS.Dhcp    静的IPアドレス: `guestprep fix --items dhcp` で変更します\n"
            "                       $ systemctl enable the network service now\n"
            "                       $ vi /etc/netplan/a.yaml  # then run netplan generate\n"
            "--- /etc/selinux/config\n+++ /etc/selinux/config (guestprep)\n@@ -1,3 +1,3 @@\n"
            " # This file controls the state\n-SELINUX=enforcing\n+SELINUX=disabled\n"
            " and this is context too\n"
            "   # SELinux を無効にする\n"
            "restored      dhcp        /etc/sysconfig/a  original bytes, mode and owner restored\n"
            "irreversible  growpart    元に戻せません; cloud-init's YAML is read line by line\n"
            "ROLLED BACK   grub        失敗: grub2-mkconfig exited with 1: no such file\n")
    assert [english for english, _line in english_sentences(text)] == [
        "mounts only the system disk", "the image is not running", "then run netplan generate",
        "mode and owner restored", "is read line by line", "no such file"]


def outputs(name, lang, tmp_path, capsys, monkeypatch):
    """[(command, what it printed)] of every command a person reads over the fixture root
    `name` in `lang`: Japanese chosen by LANG, Chinese by --lang (as the issue says)."""
    root = os.path.join(ROOTS, name)
    copy = str(tmp_path / name)
    shutil.copytree(root, copy, symlinks=True)   # fix and rollback change a copy only
    env = {"LANG": "ja_JP.UTF-8"} if lang == "ja" else {"LANG": "C.UTF-8"}
    option = [] if lang == "ja" else ["--lang", lang]
    printed = []
    for argv in (["check", "--root", root], ["check", "--root", root, "--format", "junit"],
                 ["plan", "--root", root], ["plan", "--root", root, "--items", "all"],
                 ["fix", "--root", copy, "--yes"], ["rollback", "--root", copy]):
        _code, out = run(option + argv, capsys, env, monkeypatch)
        printed.append((" ".join(argv[:1] + argv[3:]), junit_prose(out) if "junit" in argv else out))
    return printed


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
@pytest.mark.parametrize("name", sorted(os.listdir(ROOTS)))
def test_no_english_sentence_left_in_any_report_of_a_fixture_root(name, lang, tmp_path, capsys, monkeypatch):
    printed = outputs(name, lang, tmp_path, capsys, monkeypatch)
    assert ("チェック" if lang == "ja" else "检查") in printed[0][1]
    left = ["{}: {!r} in: {}".format(command, english, line.strip())
            for command, out in printed for english, line in english_sentences(out)]
    assert not left, "English left in the {} output for {}:\n{}".format(lang, name, "\n".join(left))


def test_japanese_lines_wrap_by_columns_and_never_start_with_closing_punctuation():
    from agent.output import report
    text = "イメージのブートモードを確認してください。" * 6 + " see /etc/default/grub"
    lines = report._wrap_wide(text, 30)
    assert len(lines) > 3 and "".join(lines).replace(" ", "") == text.replace(" ", "")
    assert all(report.cells(line) <= 32 for line in lines)   # 30, or one closing mark more
    assert not [line for line in lines[1:] if line[0] in "。、）"]
    assert report.cells("日本a") == 5


@pytest.mark.parametrize("lang,changed", [("ja", "計画の作成後に変更されています"), ("zh_CN", "在生成计划后已被修改")])
def test_a_plan_file_refusal_is_translated(lang, changed, tmp_path, capsys, monkeypatch):
    root = str(tmp_path / "centos7")
    shutil.copytree(os.path.join(ROOTS, "centos7"), root, symlinks=True)
    plan = str(tmp_path / "plan.json")
    cli.main(["--lang", lang, "plan", "--root", root, "--items", "selinux", "--out", plan])
    written = capsys.readouterr().err
    assert plan in written and not english_sentences(written), written
    with open(os.path.join(root, "etc/selinux/config"), "a") as handle:
        handle.write("# edited after the review\n")
    code = cli.main(["--lang", lang, "fix", "--root", root, "--plan", plan])
    err = capsys.readouterr().err
    assert code == 3 and changed in err and "/etc/selinux/config" in err
    other = str(tmp_path / "other")
    shutil.copytree(root, other, symlinks=True)
    code = cli.main(["--lang", lang, "fix", "--root", other, "--plan", plan])
    err += capsys.readouterr().err
    assert code == 2 and os.path.realpath(root) in err
    assert not english_sentences(err), err
