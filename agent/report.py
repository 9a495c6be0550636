"""Renderers (text, json) and the one function from results to exit code.

JSON goes alone to stdout; colour only when stdout is a terminal.
"""
import difflib
import json
import os
import shutil
import textwrap

import agent
from agent import model
from agent.model import Status

FORMAT_VERSION = 1

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_BLOCKING = 3
EXIT_FIX_ROLLED_BACK = 4
EXIT_ROLLBACK_FAILED = 5

_COLOURS = {"PASS": "32", "INFO": "36", "SKIP": "90", "WARN": "33", "FAIL": "31", "ERROR": "31;1",
            "FIXED": "32", "STILL FAILING": "31", "ROLLED BACK": "31;1", "SKIPPED": "90"}


def exit_code(results, strict=False):
    """0 when nothing blocks; 3 when a FAIL or ERROR remains (or a WARN with --strict)."""
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
        lines.extend(textwrap.wrap(paragraph, width) or [""])
    return "\n".join(indent + line for line in lines)


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
    data.update(extra)
    return data


def to_json(data):
    return json.dumps(data, indent=2, sort_keys=False)


# -- check -------------------------------------------------------------------

def check_text(ctx, results, stream, code):
    style = Style(stream)
    out = []
    where = "the running system" if not ctx.offline else ctx.root.path + " (mounted image; live checks skipped)"
    out.append("guestprep {} — checking {}: {}".format(agent.__version__, where, ctx.os.name or "unknown OS"))
    out.append("")
    item_width = max([len(r.item) for r in results] + [4])
    for r in results:
        out.append("{}  {}  {}".format(style.status(r.status, 5), r.item.ljust(item_width), r.summary))
        if r.status not in (Status.PASS, Status.SKIP):
            indent = " " * (9 + item_width)
            if r.hint:
                out.append(_wrap(r.hint, indent))
            for command in r.commands:
                out.append(indent + "$ " + command)
    out.append("")
    counts = ", ".join("{} {}".format(sum(1 for r in results if r.status == s), s)
                       for s in reversed(Status.ORDER) if any(r.status == s for r in results))
    out.append("{} check{}: {}.".format(len(results), "" if len(results) == 1 else "s", counts))
    if code == EXIT_BLOCKING:
        out.append("Blocking findings remain. `guestprep plan` shows the fixes; `guestprep fix` applies the safe ones.")
    else:
        out.append("Nothing blocks the import.")
    stream.write("\n".join(out) + "\n")


# -- plan ---------------------------------------------------------------------

def step_dict(ctx, step):
    if isinstance(step, model.WriteFile):
        return {"kind": "write", "path": step.path, "why": step.why, "diff": file_diff(ctx, step)}
    if isinstance(step, model.RemoveFile):
        return {"kind": "remove", "path": step.path, "why": step.why}
    if isinstance(step, model.SetFlags):
        return {"kind": "flags", "path": step.path, "why": step.why,
                "command": chattr_command(ctx, step)}
    if isinstance(step, model.RunCommand):
        return {"kind": "command", "why": step.why, "argv": list(ctx.runner.command_line(step.argv)),
                "undo": step.undo_hint}
    return {"kind": type(step).__name__}


def chattr_command(ctx, step):
    letters = {0x10: "i", 0x20: "a"}
    ops = ["-" + letters.get(bit, hex(bit)) for bit in sorted(letters) if step.clear & bit]
    ops += ["+" + letters.get(bit, hex(bit)) for bit in sorted(letters) if step.set & bit]
    return "chattr {} {}".format(" ".join(ops), ctx.root.display(step.path))


def file_diff(ctx, step):
    try:
        old = ctx.root.read_bytes(step.path) if ctx.root.exists(step.path) else b""
    except Exception:
        old = b""
    old_lines = old.decode("utf-8", "surrogateescape").splitlines(True)
    new_lines = step.content.decode("utf-8", "surrogateescape").splitlines(True)
    shown = ctx.root.display(step.path)
    diff = difflib.unified_diff(old_lines, new_lines, fromfile=shown, tofile=shown + " (guestprep)")
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in diff)


def plan_flags(plan):
    fix = plan.remediation
    flags = ["reversible" if fix.reversible else "IRREVERSIBLE (rollback cannot undo it)"]
    if fix.needs_reboot:
        flags.append("needs a reboot")
    if fix.disrupts_network:
        flags.append("files only, takes effect at the next boot")
    return flags


def plan_text(ctx, plans, stream, left_out=()):
    style = Style(stream)
    out = []
    if not plans:
        out.append("Nothing to fix among the selected items.")
    for plan in plans:
        r = plan.result
        out.append("== {} ({}) — {}".format(plan.repair_item or plan.check_id, r.item, r.summary))
        if plan.skipped:
            out.append("   not applied: " + plan.skipped)
            if r.hint:
                out.append(_wrap(r.hint, "   "))
            for command in r.commands:
                out.append("   $ " + command)
            out.append("")
            continue
        out.append("   " + "; ".join(plan_flags(plan)))
        if plan.remediation.note:
            out.append(_wrap(plan.remediation.note, "   "))
        for step in plan.steps:
            info = step_dict(ctx, step)
            if info.get("why"):
                out.append("   # " + info["why"])
            if info["kind"] == "write":
                out.append(info["diff"].rstrip("\n") or "   (no change to {})".format(step.path))
            elif info["kind"] == "remove":
                out.append("   $ rm " + ctx.root.display(step.path))
            elif info["kind"] == "flags":
                out.append("   $ " + info["command"])
            elif info["kind"] == "command":
                out.append("   $ " + " ".join(info["argv"]))
                if info["undo"]:
                    out.append("     (to undo by hand: {})".format(info["undo"]))
        out.append("")
    if left_out:
        names = ",".join(sorted(set(r.repair_item or r.check_id for r in left_out)))
        out.append("Also failing, with fixes applied only when named (package installs or removals, which "
                   "rollback cannot undo): {}".format(names))
        out.append("   $ guestprep plan --items {}".format(names))
    stream.write("\n".join(out) + "\n")


def plans_json(ctx, plans):
    return [{"id": p.check_id, "repair_item": p.repair_item, "item": p.result.item,
             "reversible": p.remediation.reversible, "mode": p.remediation.mode,
             "skipped": p.skipped, "steps": [step_dict(ctx, s) for s in p.steps]} for p in plans]


# -- fix and rollback ------------------------------------------------------------

def outcomes_text(outcomes, journal, stream):
    style = Style(stream)
    out = []
    for o in outcomes:
        out.append("{}  {}  {}".format(style.status(o.outcome, 13), (o.repair_item or o.check_id).ljust(10), o.message))
    if journal is not None:
        out.append("")
        out.append("Run {} recorded in {}; undo it with: guestprep rollback --run {}".format(
            journal.run_id, journal.dir, journal.run_id))
    stream.write("\n".join(out) + "\n")


def outcomes_json(outcomes):
    return [{"id": o.check_id, "repair_item": o.repair_item, "outcome": o.outcome, "message": o.message,
             "status": o.result.status if o.result is not None else None} for o in outcomes]
