"""Renderers (text, json) and the one function from results to exit code.

JSON goes alone to stdout; colour only when stdout is a terminal.
"""
import json
import os
import re
import shlex
import shutil
import textwrap

import agent
from agent.core.model import Status
from agent.output import i18n
from agent.output.i18n import N_, t, tr
from agent.parsers import LazyPattern

FORMAT_VERSION = 1

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_BLOCKING = 3
EXIT_FIX_ROLLED_BACK = 4
EXIT_ROLLBACK_FAILED = 5
EXIT_BUSY = 6             # another guestprep run holds the target's (or the backup directory's) lock

_COLOURS = {"PASS": "32", "INFO": "36", "SKIP": "90", "WAIVED": "35", "WARN": "33", "FAIL": "31", "ERROR": "31;1",
            "FIXED": "32", "STILL FAILING": "31", "ROLLED BACK": "31;1", "SKIPPED": "90"}


def exit_code(results, strict=False):
    """0 when nothing blocks; 3 when a FAIL or ERROR remains (or a WARN with --strict, that is
    --fail-on warn). A WAIVED result never blocks."""
    blocking = Status.BLOCKING + ((Status.WARN,) if strict else ())
    return EXIT_BLOCKING if any(r.status in blocking for r in results) else EXIT_OK


class Style(object):
    def __init__(self, stream):
        self.colour = hasattr(stream, "isatty") and stream.isatty() and not os.environ.get("NO_COLOR")

    def status(self, text, width=0):
        padded = text.ljust(width)
        if self.colour and text in _COLOURS:
            return "\033[{}m{}\033[0m".format(_COLOURS[text], padded)
        return padded


def _width():
    return max(60, min(shutil.get_terminal_size((100, 24)).columns, 120))


def _wrap(text, indent):
    width = _width() - len(indent)
    lines = []
    for paragraph in text.splitlines() or [""]:
        if i18n.english():
            lines.extend(textwrap.wrap(paragraph, width) or [""])
        else:
            lines.extend(_wrap_wide(paragraph, width) or [""])
    return "\n".join(indent + line for line in lines)


# Japanese and Chinese have no spaces between words: a line may break after any wide
# character, but not before closing punctuation (kinsoku), and a wide character takes two
# columns of the terminal.
# Compiled at the first wide text (its Unicode classes take 2 ms to compile; JSON never needs it).
_TOKENS = r"[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef]|[^\s\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef]+|\s+"
_NO_BREAK_BEFORE = set("、。，．,.；;：:！!？?）)」』】〕》”’ー")


def cells(text):
    """Terminal columns of text: a wide (CJK) character takes two."""
    import unicodedata
    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in text)


def _wrap_wide(paragraph, width):
    lines, line, used = [], "", 0
    for token in re.findall(_TOKENS, paragraph):
        size = cells(token)
        if token.isspace():
            if line:
                line, used = line + " ", used + 1
            continue
        if line and used + size > width and token[0] not in _NO_BREAK_BEFORE:
            lines.append(line.rstrip())
            line, used = "", 0
        line, used = line + token, used + size
    if line.strip():
        lines.append(line.rstrip())
    return lines


# How this process was started, as a person types it again ("guestprep", or
# ".venv/run/bin/guestprep", "python3 guestprep.pyz" ...): set once by the CLI from argv[0].
PROGRAM = "guestprep"
PROGRAM_ARGV = None   # the same, absolute, for a unit file (program_argv)


def program_name(argv0, which=shutil.which):
    """The command that starts guestprep the way this process was started, typable as printed.

    A console script found on PATH as itself is just `guestprep`; one that is not on PATH
    (a virtual environment's bin/) keeps the path it was started by; the single file is
    `python3 FILE.pyz`; `python -m agent` from a checkout is `python3 -m agent`.
    """
    if not argv0:
        return "guestprep"
    # Started as a zipapp: the package's own files live inside argv[0].
    if argv0.endswith(".pyz") or agent.__file__.startswith(os.path.abspath(argv0) + os.sep):
        return "python3 " + shlex.quote(argv0)
    base = os.path.basename(argv0)
    if base == "__main__.py":
        return "python3 -m agent"
    on_path = which(base)
    if on_path and os.path.realpath(on_path) == os.path.realpath(argv0):
        return base
    return shlex.quote(argv0)


def program_argv(argv0, executable):
    """The absolute argv that starts guestprep again as this process was started, for a unit
    file (no PATH, no working directory), or None when that cannot be said (`python -m agent`
    from a checkout)."""
    if not argv0 or os.path.basename(argv0) == "__main__.py":
        return None
    path = os.path.abspath(argv0)
    if program_name(argv0, which=lambda name: None).startswith("python3 "):
        return [executable, path]
    return [path]


def guestprep_command(root, command, backup_dir=None):
    """A guestprep command line to suggest: with --root (and --backup-dir) of this run, so
    that running it acts on the same target rather than on the machine it is typed on."""
    words = command.split(" ", 1)
    where = ""
    if not root.is_host:
        where += " --root " + shlex.quote(root.path)
    if backup_dir:
        where += " --backup-dir " + shlex.quote(backup_dir)
    return PROGRAM + " " + words[0] + where + ("" if len(words) == 1 else " " + words[1])


_MENTION = re.compile(r"\bguestprep (check|plan|fix|rollback|clean|list)\b")


def typable(text, root, backup_dir=None):
    """A hint with every `guestprep COMMAND` it mentions written as guestprep_command():
    started the way this run was, and with this run's --root, so it can be typed as printed."""
    if not text or "guestprep " not in text:
        return text
    return _MENTION.sub(lambda m: guestprep_command(root, m.group(1), backup_dir), text)


def shown_command(command):
    """A result's command as printed: a Message (a command with a `# comment` that says what
    to edit) has its comment translated; the command itself is never translated."""
    return tr(command) if hasattr(command, "template") else command


# The Alibaba Cloud ECS documents findings follow (Finding.refs, "000".."004"): named once at
# the end of a report, so a reader can look them up.
SEEDS = (
    ("000", N_("Instructions for importing images")),
    ("001", N_("Import a custom image")),
    ("002", N_("Create a custom image from a snapshot")),
    ("003", N_("Image check")),
    ("004", N_("Community images")),
)
# A fix's note and a skipped plan's reason are prose, not findings: the seeds they name are
# read from their wording (a check's citations are its findings' refs, result_refs).
_SEED_CITE = re.compile(r"\b[Ss]eeds? (00[0-4](?:(?:, | and | or )00[0-4])*)|\((00[0-4](?:, 00[0-4])*)\)")


def _cited(texts):
    cited = set()
    for text in texts:
        for match in _SEED_CITE.finditer(text or ""):
            cited.update(re.findall(r"00[0-4]", match.group(0)))
    return cited


def result_refs(result):
    """The seeds a result cites: the refs of its findings, never read from its wording."""
    return set(result.refs())


def seed_legend(refs):
    """The 'Seeds cited above ...' line naming the documents in refs (seed numbers), or ''."""
    cited = set(refs)
    if not cited:
        return ""
    return t("Seeds cited above are Alibaba Cloud ECS documents: {documents}.",
             documents=t("; ").join(t("{number} '{title}'", number=n, title=tr(title))
                                 for n, title in SEEDS if n in cited)) + "\n"


# Optional modules (the single-file build vendors none): module, package, what goes without it.
OPTIONAL_MODULES = (
    ("psutil", "python3-psutil", N_("facts of the running system (processes, mounts, NICs, ports) "
                                    "are read from /proc and /sys instead")),
    ("yaml", "python3-yaml or python3-pyyaml", N_("netplan files are not read and cloud-init's "
                                                  "YAML is read line by line")),
)


def missing_modules(ctx=None):
    """[{"module", "package", "effect"}] for the optional modules this python lacks.

    psutil only matters for the running system, so it is not reported for a mounted image.
    """
    import importlib.util
    missing = []
    for module, package, effect in OPTIONAL_MODULES:
        if module == "psutil" and ctx is not None and ctx.offline:
            continue
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append({"module": module, "package": package, "effect": effect})
    return missing


def envelope(command, ctx, results, code, run_id=None, **extra):
    data = {
        "format_version": FORMAT_VERSION,
        "tool": "guestprep",
        "version": agent.__version__,
        "command": command,
        "run_id": run_id,
        "root": ctx.root.path,
        "live": not ctx.offline,
        "os": ctx.os.as_dict(),
        "worst": Status.worst(r.status for r in results),
        "exit_code": code,
        "counts": dict((s, sum(1 for r in results if r.status == s)) for s in Status.ORDER),
        "results": [r.as_dict() for r in results],
    }
    missing = missing_modules(ctx)
    if missing:
        data["missing_modules"] = missing
    data.update(extra)
    if not i18n.english():
        localize(data, results)
    return data


def localize(data, results):
    """The translations beside the English of a JSON report (a language other than English was
    chosen): `lang`, and `*_localized` next to each text; keys, ids and codes stay English."""
    data["lang"] = i18n.language()
    for result, item in zip(results, data["results"]):
        item["title_localized"] = tr(result.title)
        item["summary_localized"] = i18n.joined(result.findings, result.summary)
        if result.hint:
            item["hint_localized"] = tr(result.hint)
        for finding, shown in zip(result.findings, item.get("findings", ())):
            shown["text_localized"] = tr(finding.text)
    for plan in data.get("plans") or ():
        if plan.get("skipped"):
            plan["skipped_localized"] = tr(plan["skipped"])
        for step in plan.get("steps", ()):
            if step.get("why"):
                step["why_localized"] = tr(step["why"])


def to_json(data):
    return json.dumps(data, indent=2, sort_keys=False)


# -- check -------------------------------------------------------------------

def check_text(ctx, results, stream, code):
    style = Style(stream)
    out = []
    where = t("the running system") if not ctx.offline else \
        t("{root} (mounted image; live checks skipped)", root=ctx.root.path)
    out.append(t("guestprep {version} — checking {target}: {os}", version=agent.__version__, target=where,
                 os=ctx.os.name or t("unknown OS")))
    out.append("")
    item_width = max([len(r.item) for r in results] + [4])
    status_width = max([len(r.status) for r in results] + [5])
    for r in results:
        indent = " " * (status_width + 4 + item_width)
        if i18n.english():
            out.append("{}  {}  {}".format(style.status(r.status, status_width), r.item.ljust(item_width), r.summary))
        else:
            # The item's name as the ECS console shows it in this language, then what was found.
            out.append("{}  {}  {}".format(style.status(r.status, status_width), r.item.ljust(item_width), tr(r.title)))
            out.append(_wrap(i18n.joined(r.findings, r.summary), indent))
        if r.waiver:
            out.append(_wrap(waiver_text(r.waiver), indent))
        if r.status not in (Status.PASS, Status.SKIP, Status.WAIVED):
            if r.hint:
                out.append(_wrap(typable(tr(r.hint), ctx.root), indent))
            for command in r.commands:
                out.append(indent + "$ " + typable(shown_command(command), ctx.root))
    out.append("")
    counts = ", ".join("{} {}".format(sum(1 for r in results if r.status == s), s)
                       for s in reversed(Status.ORDER) if any(r.status == s for r in results))
    if len(results) == 1:
        out.append(t("1 check: {counts}.", counts=counts))
    else:
        out.append(t("{count} checks: {counts}.", count=len(results), counts=counts))
    for m in missing_modules(ctx):
        out.append(t("Without {module} ({package}): {effect}.", module=m["module"], package=m["package"],
                     effect=tr(m["effect"])))
    if code == EXIT_BLOCKING:
        out.extend(blocking_text(ctx.root, results, ctx.options.strict))
    else:
        out.append(t("Nothing blocks the import."))
    stream.write("\n".join(out) + "\n")


def waiver_text(waiver):
    """The waiver of a result; of a finding code, one line per finding it names."""
    lines = []
    for w in waiver.get("findings") or [waiver]:
        if w["expired"]:
            text = t("{status} waived by {by} until {expires}, EXPIRED: {reason} ({file})", **_waiver_fields(w))
        else:
            text = t("{status} waived by {by} until {expires}: {reason} ({file})", **_waiver_fields(w))
        lines.append((w["code"] + ": " if w.get("code") else "") + text)
    return "\n".join(lines)


def _waiver_fields(waiver):
    return dict((k, waiver[k]) for k in ("status", "by", "expires", "reason", "file"))


def blocking_text(root, results, strict=False, backup_dir=None):
    """What still blocks and the exact commands for it: the repair items named, because a
    plain `fix` applies only the reversible fixes and would leave a package fix undone."""
    statuses = Status.BLOCKING + ((Status.WARN,) if strict else ())
    blocking = [r for r in results if r.status in statuses]
    items = sorted(set(r.repair_item for r in blocking if r.repair_item))
    manual = [r.item for r in blocking if not r.repair_item]
    lines = [t("Blocking: {items}.", items=", ".join("{} ({})".format(r.item, r.status) for r in blocking))]
    if items:
        named = ",".join(items)
        lines.append(t("`{plan}` shows the changes; `{fix}` applies them.",
                       plan=guestprep_command(root, "plan --items " + named, backup_dir),
                       fix=guestprep_command(root, "fix --items " + named, backup_dir)))
    if len(manual) == 1:
        lines.append(t("No fix in guestprep for {items}: follow the hint above.", items=manual[0]))
    elif manual:
        lines.append(t("No fix in guestprep for {items}: follow the hints above.", items=", ".join(manual)))
    return lines


def import_image_text(advice, stream):
    """The "What to enter on ImportImage" section after the check report (agent/output/advice.py)."""
    if not advice:
        return
    if advice.get("error"):
        stream.write("\n" + t("What to enter on ImportImage: not available ({error})", error=advice["error"]) + "\n")
        return
    from agent.output import advice as advice_mod
    stream.write("\n" + advice_mod.text(advice))


# -- plan ---------------------------------------------------------------------

def step_dict(ctx, step):
    return step.plan_dict(ctx, file_diff)


def chattr_ops(step):
    """'-i -a' / '+i' for a SetFlags step (the immutable and append-only flags)."""
    return step.chattr_ops()


def chattr_command(ctx, step):
    return step.chattr_command(ctx)


# Keys whose values are secrets in the files fixes rewrite: NetworkManager keyfiles (psk,
# password, wep-key0..3, pin, *-password ...), ifupdown (wpa-psk, wpa-password,
# wireless-key), ifcfg (WPA_PSK, WIRELESS_KEY, WIRELESS_KEY_1..4, IKE_PSK, KEY_AH_IN,
# KEY_ESP_OUT ...), netplan wifi and 802.1x (password:, in block or flow style, a key
# quoted or not). A diff shows the line, not the value.
_SECRET_KEY = (r"(?:[\w.-]*[-_.])?(?:psk|password|passwd|passphrase|secret|pin|key_?\d"
               r"|wireless[-_](?:enc[-_])?key|key_(?:ah|esp)_(?:in|out))")
_SECRET_LINE = LazyPattern(
    r"^(?P<head>[ +-](?P<indent>[ \t]*)(?:-[ \t]+)?[\"']?" + _SECRET_KEY + r"[\"']?"
    r"(?:[ \t]*[=:][ \t]*|[ \t]+))(?P<value>\S.*?)?(?P<nl>\n?)$", re.I)
# key: value inside a YAML flow mapping ({password: x, mode: ap}): the value up to , or }.
_SECRET_FLOW = LazyPattern(
    r"(?P<key>[{,]\s*[\"']?" + _SECRET_KEY + r"[\"']?\s*:\s*)"
    r"(?P<value>\"(?:[^\"\\]|\\.)*\"|'(?:[^']|'')*'|[^,}\n]*[^,}\s])", re.I)
# A YAML block scalar (password: |) or a value on the lines below (password:): those lines are secret.
_BLOCK_START = LazyPattern(r"^(?:[|>][-+0-9]*)?\s*(?:#.*)?$")
MASK = "********"


def mask_secrets(diff_line):
    """A unified-diff line with a secret's value replaced by ********."""
    return next(mask_diff([diff_line]))


def mask_diff(lines):
    """The lines of a unified diff with every secret value replaced by ********, including
    YAML block scalars and values continued on more indented lines below their key."""
    block = None   # indentation of the key whose value continues on the lines below
    for line in lines:
        if line.startswith(("---", "+++", "@@")) or not line:
            block = None
            yield line
            continue
        body = line[1:]
        indent = len(body) - len(body.lstrip(" \t"))
        if block is not None:
            if body.strip() and indent > block:
                yield line[0] + body[:indent] + MASK + ("\n" if line.endswith("\n") else "")
                continue
            if body.strip():
                block = None
        match = _SECRET_LINE.match(line)
        if match:
            value = match.group("value") or ""
            if ":" in match.group("head") and _BLOCK_START.match(value):
                block = len(match.group("indent"))
                yield line
                continue
            if value[:1] in ("'", '"') and (len(value) < 2 or not value.endswith(value[0])):
                block = len(match.group("indent"))   # a quoted value that goes on below
            yield match.group("head") + MASK + match.group("nl")
            continue
        yield _SECRET_FLOW.sub(lambda m: m.group("key") + MASK, line)


def has_secrets(text):
    lines = [" " + line for line in text.splitlines()]
    return any(masked != line for masked, line in zip(mask_diff(lines), lines))


def file_diff(ctx, step):
    try:
        old = ctx.root.read_bytes(step.path) if ctx.root.exists(step.path) else b""
    except Exception:
        old = b""
    if old and not step.content:
        # An emptied file (a log, machine-id): its old content is not worth showing, and a
        # log may hold what the user is removing it to be rid of.
        shown = ctx.root.display(step.path)
        return "--- {0}\n+++ {0} (guestprep)\n(emptied: {1} line(s), {2} byte(s))\n".format(
            shown, old.count(b"\n"), len(old))
    old_lines = old.decode("utf-8", "surrogateescape").splitlines(True)
    new_lines = step.content.decode("utf-8", "surrogateescape").splitlines(True)
    shown = ctx.root.display(step.path)
    diff = mask_diff(unified_diff(old_lines, new_lines, shown, shown + " (guestprep)"))
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in diff)


# difflib's matching is quadratic: a hostile 10,000-line file whose every other line a fix
# changes took half a minute. Past this many lines the changed middle is one hunk.
DIFFLIB_MAX_LINES = 1500


def unified_diff(old_lines, new_lines, fromfile, tofile):
    """difflib.unified_diff (3 lines of context), in linear time for large files: the common
    head and tail are context, everything between one hunk (correct, if not minimal)."""
    if min(len(old_lines), len(new_lines)) <= DIFFLIB_MAX_LINES:
        import difflib  # only plans show diffs
        for line in difflib.unified_diff(old_lines, new_lines, fromfile=fromfile, tofile=tofile):
            yield line
        return
    if old_lines == new_lines:
        return
    head = 0
    limit = min(len(old_lines), len(new_lines))
    while head < limit and old_lines[head] == new_lines[head]:
        head += 1
    tail = 0
    while tail < limit - head and old_lines[-1 - tail] == new_lines[-1 - tail]:
        tail += 1
    start = max(0, head - 3)
    old_stop, new_stop = len(old_lines) - tail, len(new_lines) - tail
    old_end, new_end = min(len(old_lines), old_stop + 3), min(len(new_lines), new_stop + 3)
    yield "--- {}\n".format(fromfile)
    yield "+++ {}\n".format(tofile)
    yield "@@ -{} +{} @@\n".format(_hunk_range(start, old_end), _hunk_range(start, new_end))
    for line in old_lines[start:head]:
        yield " " + line
    for line in old_lines[head:old_stop]:
        yield "-" + line
    for line in new_lines[head:new_stop]:
        yield "+" + line
    for line in old_lines[old_stop:old_end]:
        yield " " + line


def _hunk_range(start, stop):
    """A unified diff's line range, as difflib writes it."""
    beginning, length = start + 1, stop - start
    if length == 1:
        return str(beginning)
    if not length:
        beginning -= 1
    return "{},{}".format(beginning, length)


def step_reversible(step):
    """Whether rollback undoes the step: file changes are restored from the journal, and so
    are the files a command declares it modifies; any other command's effect stays."""
    return step.reversible


def plan_reversible(plan):
    """Whether rollback undoes this plan: the fix says so, or every step is one rollback
    undoes (the grub fix regenerates grub.cfg live, but only edits files offline)."""
    if plan.remediation.reversible:
        return True
    return bool(plan.steps) and all(step_reversible(s) for s in plan.steps)


def plan_flags(plan):
    fix = plan.remediation
    undoable = [step_reversible(s) for s in plan.steps]
    if plan_reversible(plan):
        flags = [t("reversible")]
    elif any(undoable):
        # A package fix that also unmasks units: say which part rollback cannot undo.
        flags = [t("partly reversible: rollback restores the files, not the commands marked IRREVERSIBLE")]
    else:
        flags = [t("IRREVERSIBLE (rollback cannot undo it)")]
    if fix.needs_reboot:
        flags.append(t("needs a reboot"))
    if fix.disrupts_network:
        flags.append(t("files only, takes effect at the next boot"))
    return flags


def plan_text(ctx, plans, stream, left_out=()):
    out = []
    if not plans:
        out.append(t("Nothing to fix among the selected items."))
    for plan in plans:
        r = plan.result
        out.append("== {} ({}) — {}".format(plan.repair_item or plan.check_id, r.item,
                                            i18n.joined(r.findings, r.summary)))
        if plan.skipped:
            out.append("   " + t("not applied: {reason}", reason=tr(plan.skipped)))
            if r.hint:
                out.append(_wrap(typable(tr(r.hint), ctx.root), "   "))
            for command in r.commands:
                out.append("   $ " + typable(shown_command(command), ctx.root))
            out.append("")
            continue
        out.append("   " + t("; ").join(plan_flags(plan)))
        if plan.remediation.note:
            out.append(_wrap(tr(plan.remediation.note), "   "))
        for step in plan.steps:
            info = step_dict(ctx, step)
            if info.get("why"):
                out.append("   # " + tr(info["why"]))
            out.extend(tr(line) for line in step.plan_lines(ctx, info, plan.remediation.reversible))
        out.append("")
    legend = seed_legend(set(ref for p in plans for ref in result_refs(p.result))
                         | _cited([p.skipped for p in plans] + [p.remediation.note for p in plans]))
    if left_out:
        names = ",".join(sorted(set(r.repair_item or r.check_id for r in left_out)))
        out.append(t("Also found, with fixes applied only when named (they install or remove packages, "
                     "change the boot loader or firewall, or remove keys and history): {items}", items=names))
        out.append("   $ " + guestprep_command(ctx.root, "plan --items " + names))
    if legend:
        if out and out[-1] != "":
            out.append("")
        out.append(legend.rstrip("\n"))
    stream.write("\n".join(out) + "\n")


def plans_json(ctx, plans):
    return [{"id": p.check_id, "repair_item": p.repair_item, "item": p.result.item,
             "reversible": plan_reversible(p), "mode": p.remediation.mode,
             "skipped": p.skipped, "steps": [step_dict(ctx, s) for s in p.steps]} for p in plans]


# -- fix and rollback ------------------------------------------------------------

def outcomes_text(outcomes, journal, stream, backup_dir=None):
    style = Style(stream)
    out = []
    for o in outcomes:
        out.append("{}  {}  {}".format(style.status(o.outcome, 13), (o.repair_item or o.check_id).ljust(10),
                                       tr(o.message)))
    # Only FIXED and STILL FAILING items leave changes behind: failed ones were rolled back.
    if journal is not None and not any(o.outcome in ("FIXED", "STILL FAILING") for o in outcomes):
        out.append("")
        out.append(t("Nothing was left changed: what run {run} began was rolled back.", run=journal.run_id))
    elif journal is not None:
        out.append("")
        root = journal.state.root
        backup_dir = journal.state.path if backup_dir else None   # absolute: cwd may change
        out.append(t("Run {run} recorded in {dir}; undo it with: {command}", run=journal.run_id, dir=journal.dir,
                     command=guestprep_command(root, "rollback --run " + journal.run_id, backup_dir)))
        out.append(t("Its backups hold copies of the files it changed: once the image is right, "
                     "`{command}` removes them (and rollback with them) before capture.",
                     command=guestprep_command(root, "clean --yes", backup_dir)))
    stream.write("\n".join(out) + "\n")


def outcomes_json(outcomes):
    return [{"id": o.check_id, "repair_item": o.repair_item, "outcome": o.outcome, "message": o.message,
             "status": o.result.status if o.result is not None else None} for o in outcomes]


# -- junit ------------------------------------------------------------------------
#
# One <testcase> per check, for CI systems that read JUnit XML (GitLab, Jenkins, Azure).
# FAIL is a <failure>, ERROR an <error>, SKIP <skipped>. WARN does not block the import
# (exit 0), so it is a passing testcase whose <system-out> carries the warning, unless
# --strict makes warnings block: then it is a <failure>, as the exit code says.

_XML_BAD = None


def _xml_text(text):
    """Text that XML 1.0 can carry: control characters and lone surrogates from an image's
    file names or contents become U+FFFD rather than an unparsable report."""
    global _XML_BAD
    import re
    if _XML_BAD is None:
        _XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
    return _XML_BAD.sub("\ufffd", str(text))


def _details(result):
    lines = []
    if result.hint:
        lines.append(tr(result.hint))
    for command in result.commands:
        lines.append("$ " + shown_command(command))
    for path in result.paths:
        lines.append(t("path: {path}", path=path))
    return "\n".join(lines)


def finding_line(finding):
    """'  FAIL grub.devname: TEXT (PATH line N)': one finding of a result, for JUnit's output."""
    where = ""
    if finding.path:
        where = " ({})".format(t("{path} line {line}", path=finding.path, line=finding.line) if finding.line
                               else finding.path)
    return "  {} {}: {}{}".format(finding.status, finding.code, tr(finding.text), where)


def junit(command, ctx, results, code, strict=False, outcomes=(), hostname=None):
    """The report as JUnit XML (a str)."""
    import socket
    import time
    import xml.etree.ElementTree as ET
    by_outcome = dict((o.check_id, o) for o in outcomes)
    counts = {"failures": 0, "errors": 0, "skipped": 0}
    cases = []
    for r in results:
        case = ET.Element("testcase", {"classname": _xml_text("guestprep." + r.item),
                                       "name": _xml_text("{} ({})".format(r.check_id, tr(r.title))),
                                       "time": "0"})
        outcome = by_outcome.get(r.check_id)
        summary = i18n.joined(r.findings, r.summary)
        out = ["{}: {}".format(r.status, summary)]
        if len(r.findings) > 1 or any(f.status == Status.WAIVED for f in r.findings):
            # Each finding on its own line, with its code (for a waiver) and where it is.
            out.extend(finding_line(f) for f in r.findings)
        if r.waiver:
            out.append(waiver_text(r.waiver))
        if outcome is not None:
            out.insert(0, t("fix: {outcome}: {message}", outcome=outcome.outcome, message=tr(outcome.message)))
        if outcome is not None and outcome.outcome == "ROLLED BACK":
            kind = "error"
        elif r.status == Status.ERROR:
            kind = "error"
        elif r.status == Status.FAIL or (strict and r.status == Status.WARN):
            kind = "failure"
        elif r.status in (Status.SKIP, Status.WAIVED):
            kind = "skipped"
        else:
            kind = ""
        if kind == "skipped":
            # A waived finding is accepted, not passed: CI systems show skipped cases apart.
            message = waiver_text(r.waiver) if r.status == Status.WAIVED else summary
            ET.SubElement(case, "skipped", {"message": _xml_text(message)})
            counts["skipped"] += 1
        elif kind:
            message = tr(outcome.message) if kind == "error" and outcome is not None and \
                outcome.outcome == "ROLLED BACK" else summary
            element = ET.SubElement(case, kind, {"message": _xml_text(message), "type": r.status})
            element.text = _xml_text(_details(r))
            counts["failures" if kind == "failure" else "errors"] += 1
        if r.status not in (Status.PASS,) and kind not in ("failure", "error") and _details(r):
            out.append(_details(r))
        system_out = ET.SubElement(case, "system-out")
        system_out.text = _xml_text("\n".join(out))
        cases.append(case)
    host = hostname or socket.gethostname()
    attrs = {"tests": str(len(results)), "failures": str(counts["failures"]),
             "errors": str(counts["errors"]), "skipped": str(counts["skipped"]), "time": "0"}
    suites = ET.Element("testsuites", dict(attrs, name="guestprep"))
    suite = ET.SubElement(suites, "testsuite", dict(
        attrs, name=_xml_text("guestprep {} {}".format(command, ctx.root.path)), hostname=_xml_text(host),
        timestamp=time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())))
    props = ET.SubElement(suite, "properties")
    for name, value in (("guestprep.version", agent.__version__), ("root", ctx.root.path),
                        ("os", ctx.os.name), ("live", str(not ctx.offline).lower()),
                        ("exit_code", str(code)), ("strict", str(bool(strict)).lower())):
        ET.SubElement(props, "property", {"name": name, "value": _xml_text(value)})
    suite.extend(cases)
    body = ET.tostring(suites, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"


# -- plan as a shell script ------------------------------------------------------
#
# OpenSCAP's "generate fix" idea: the plan as a POSIX sh script a person reviews and a
# pipeline runs later. Before it changes anything it checks that every file it touches
# still has the content the plan was made from (sha256), so a script run against a
# changed system refuses instead of overwriting someone's edit. It runs as root against
# the root the plan was made for, or GUESTPREP_ROOT (a copy, a mounted image).

_SCRIPT_HEAD = r'''#!/bin/sh
# guestprep {version}: the planned changes for {root_shown} ({os_name}), as a shell script.
# Generated {when} by: {generated_by}
# Review it, then run it as root:  sh THIS-FILE
# It refuses to run (exit 3, nothing changed) when a file it changes is not as planned.
# Files it replaces or removes are copied to $BACKUP first; undo them by hand from there.
# Unlike `guestprep fix`, it keeps no journal: `guestprep rollback` cannot undo it.
set -eu
umask 077
ROOT=${{GUESTPREP_ROOT-{root}}}
ROOT=${{ROOT%/}}
BACKUP="$ROOT/var/lib/guestprep/script-$(date +%Y%m%d-%H%M%S)-$$"

die() {{ echo "guestprep-plan: $*" >&2; exit 3; }}
{in_root}
state() {{
  # the sha256 of a file, "link:TARGET" for a symlink, "absent"
  if [ -L "$1" ]; then printf 'link:%s\n' "$(readlink "$1")"
  elif [ -f "$1" ]; then sha256sum <"$1" | cut -d' ' -f1
  elif [ -e "$1" ]; then echo other
  else echo absent; fi
}}
expect() {{
  got=$(state "$1")
  [ "$got" = "$2" ] || die "$1 changed since the plan was made (now $got, planned from $2); nothing was changed"
}}
backup() {{
  if [ -e "$1" ] || [ -L "$1" ]; then
    mkdir -p "$BACKUP$(dirname "${{1#$ROOT}}")"
    cp -P -p "$1" "$BACKUP${{1#$ROOT}}"
  fi
}}
put() {{
  # put PATH SHA256 MODE UID GID: move PATH.guestprep-new into place after checking it
  [ "$(state "$1.guestprep-new")" = "$2" ] || die "$1: the new content does not match the plan (sha256)"
  chmod "$3" "$1.guestprep-new"
  chown "$4:$5" "$1.guestprep-new"
  backup "$1"
  mv -f "$1.guestprep-new" "$1"
}}
command -v sha256sum >/dev/null || die "sha256sum is needed (coreutils or busybox)"
'''


# In the script when a file it writes holds secrets; the CLI repeats it on stderr.
SCRIPT_SECRETS_WARNING = (
    "# WARNING: this script holds the full new content of files with secrets in them (Wi-Fi\n"
    "# keys, 802.1x and VPN passwords), unmasked. guestprep wrote it to its standard output,\n"
    "# so it is in whatever file that was redirected to: keep it private. Create it mode 0600\n"
    "# (umask 077; guestprep plan --format script > fix.sh), or chmod 600 it now, and delete it\n"
    "# after use.")


def _in_root_function():
    """in_root NET PROGRAM ARGS...: the target's program, as `guestprep fix` runs it: on a
    mounted image in systemd-nspawn, else bubblewrap, never a plain chroot (NET=1: a package
    download, with the network)."""
    from agent.core import runner
    mark_root, mark_args, mark_pid = "\x01ROOT\x01", "\x01ARGS\x01", "\x01PID\x01"

    def line(builder, tool, network):
        words = builder(tool, mark_root, [mark_args], network, runner.GUEST_ENV)
        text = " ".join(_sh_quote(w) for w in words).replace("guestprep-{}".format(os.getpid()),
                                                                      "guestprep-" + mark_pid)
        for mark, value in ((mark_root, '"$ROOT"'), (mark_args, '"$@"'), (mark_pid, '"$$"')):
            text = text.replace(mark, "'" + value + "'")
        return text.replace("''", "")

    def by_network(builder, tool, prefix):
        return ['    if [ "$net" = 1 ]; then', "      " + prefix + line(builder, tool, True),
                "    else", "      " + prefix + line(builder, tool, False), "    fi"]

    out = ["# The image's programs run in a container (systemd-nspawn, else bubblewrap), as guestprep",
           "# fix runs them: a root process in a plain chroot is not contained.",
           "in_root() {",
           "  net=$1; shift",
           "  if [ -z \"$ROOT\" ]; then \"$@\"; return; fi",
           "  if command -v systemd-nspawn >/dev/null 2>&1; then"]
    out.extend(by_network(runner.nspawn_argv, "systemd-nspawn", "SYSTEMD_NSPAWN_LOCK=0 "))
    out.append("  elif command -v bwrap >/dev/null 2>&1; then")
    out.extend(by_network(runner.bwrap_argv, "bwrap", ""))
    out += ["  else",
            "    die \"the image's $1 runs only in a container: install systemd-container or bubblewrap\"",
            "  fi",
            "}"]
    return "\n".join(out)


def _sh_quote(text):
    return "'" + text.replace("'", "'\"'\"'") + "'"


def _state_of(ctx, guest_path):
    import hashlib
    if ctx.root.islink(guest_path):
        return "link:" + ctx.root.readlink(guest_path)
    if ctx.root.isfile(guest_path):
        return hashlib.sha256(ctx.root.read_bytes(guest_path)).hexdigest()
    return "other" if ctx.root.lexists(guest_path) else "absent"


def _heredoc(target, text):
    """Shell lines that write `text` exactly to `target` through a quoted heredoc."""
    marker = "GUESTPREP_EOF"
    n = 0
    while marker in text:
        n += 1
        marker = "GUESTPREP_EOF_{}".format(n)
    if text.endswith("\n"):
        return "cat >{} <<'{}'\n{}{}".format(target, marker, text, marker)
    # A heredoc always ends in a newline; $(...) strips exactly that one when the content
    # itself has none at the end.
    return "printf '%s' \"$(cat <<'{}'\n{}\n{}\n)\" >{}".format(marker, text, marker, target)


def plan_script(ctx, plans, items=None):
    """The plans as a POSIX sh script (a str; surrogate escapes carry non-UTF-8 bytes)."""
    import time
    root = "" if ctx.root.is_host else ctx.root.path
    head = _SCRIPT_HEAD.format(
        version=agent.__version__, root_shown=ctx.root.path, os_name=ctx.os.name or "unknown OS",
        when=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        generated_by=guestprep_command(
            ctx.root, "plan --format script" + (" --items " + ",".join(items) if items else "")),
        root=_sh_quote(root) if root else "", in_root=_in_root_function())
    script = _Script(ctx)
    body = []
    for plan in plans:
        r = plan.result
        body.append("")
        body.append("# == {} ({}): {}".format(plan.repair_item or plan.check_id, r.item, _one_line(r.summary)))
        if plan.skipped or not plan.steps:
            body.append("#    not applied: " + _one_line(plan.skipped or "nothing to change"))
            continue
        body.append("#    " + "; ".join(plan_flags(plan)))
        for step in plan.steps:
            if getattr(step, "why", ""):
                body.append("# " + _one_line(step.why))
            body.extend(step.script_lines(ctx, script))
    checks, expected = script.checks, script.expected
    out = [head]
    if any(has_secrets(step.written_text()) for plan in plans for step in plan.steps):
        out.append(SCRIPT_SECRETS_WARNING)
    if checks:
        out.append("# Refuse to run unless every file is as it was when the plan was made.")
        out.extend(checks)
    body.append("")
    if expected or any(p.steps for p in plans):
        body.append('echo "guestprep-plan: done; replaced and removed files are in $BACKUP" >&2')
    else:
        body.append('echo "guestprep-plan: nothing to change" >&2')
    return "\n".join(out + body) + "\n"


def _one_line(text):
    return " ".join(str(text).split())


class _Script(object):
    """What a step kind writes its lines of the plan script with (Step.script_lines)."""

    quote = staticmethod(_sh_quote)
    heredoc = staticmethod(_heredoc)
    one_line = staticmethod(_one_line)

    def __init__(self, ctx):
        self.ctx = ctx
        self.checks = []        # `expect` lines: each file as the plan saw it
        self.expected = {}      # guest path -> its state then

    @staticmethod
    def host(guest_path):
        """The file on the host, under $ROOT, quoted."""
        return '"$ROOT"' + _sh_quote(guest_path)

    def expect(self, guest_path):
        """Have the script refuse to run unless the file is as it is now."""
        if guest_path not in self.expected:
            self.expected[guest_path] = _state_of(self.ctx, guest_path)
            self.checks.append("expect {} {}".format(self.host(guest_path), _sh_quote(self.expected[guest_path])))
