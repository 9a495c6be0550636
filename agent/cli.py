"""Command line: check | plan | fix | rollback | list. main(argv) returns the exit code."""
import argparse
import logging
import os
import sys

import agent
from agent import journal as journal_mod
from agent import osinfo, report
from agent.context import Context, Options
from agent.engine import ROLLED_BACK, STILL_FAILING, Engine, UsageError

log = logging.getLogger("guestprep")


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        sys.stderr.write("guestprep: error: {}\n".format(message))
        raise SystemExit(report.EXIT_USAGE)


def build_parser():
    parser = _Parser(prog="guestprep", description=(
        "Find and fix what stops a Linux VM image from booting or working on Alibaba Cloud ECS."),
        epilog="Exit codes: 0 nothing blocks, 1 internal error, 2 usage error, 3 blocking findings "
               "remain, 4 a fix failed and was rolled back, 5 rollback failed.")
    parser.add_argument("--version", action="version", version="guestprep " + agent.__version__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def common(p, items=True, fmt=True):
        p.add_argument("--root", default="/", metavar="DIR",
                       help="the guest's root directory: / (default) or a mounted image")
        if fmt:
            p.add_argument("--format", choices=("text", "json"), default="text")
        if items:
            p.add_argument("--items", action="append", metavar="LIST",
                           help="comma-separated repair items (dhcp,selinux,...) or 'all'")
        p.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")

    p = sub.add_parser("check", help="read-only check of the target")
    common(p)
    p.add_argument("--strict", action="store_true", help="warnings block too (exit 3)")
    p = sub.add_parser("plan", help="show every change fix would make; writes nothing")
    common(p)
    p = sub.add_parser("fix", help="apply fixes through the journal, then re-check")
    common(p)
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p.add_argument("--strict", action="store_true", help="warnings block too (exit 3)")
    p.add_argument("--backup-dir", metavar="DIR", help="keep backups and the journal here "
                   "(default: /var/lib/guestprep inside the target)")
    p = sub.add_parser("rollback", help="undo the most recent fix run (or --run ID, or --all)")
    common(p, items=False)
    group = p.add_mutually_exclusive_group()
    group.add_argument("--run", metavar="ID", help="the run to undo")
    group.add_argument("--all", action="store_true", help="undo every run, newest first")
    p.add_argument("--backup-dir", metavar="DIR", help="where fix kept its backups and journal")
    p = sub.add_parser("list", help="every check with its item ID and repair item")
    p.add_argument("--format", choices=("text", "json"), default="text")
    return parser


def registries(with_fixes):
    from agent.checks import CHECKS
    if not with_fixes:
        return CHECKS, ()
    from remediations import REMEDIATIONS  # only plan, fix and rollback load fix code
    return CHECKS, REMEDIATIONS


def _items(args):
    if not getattr(args, "items", None):
        return None
    return [i for chunk in args.items for i in chunk.split(",") if i.strip()]


def _context(args):
    root = os.path.abspath(args.root)
    if not os.path.isdir(root):
        raise UsageError("--root {}: not a directory".format(args.root))
    ctx = Context.for_root(root, options=Options(strict=getattr(args, "strict", False), verbose=args.verbose))
    if not osinfo.looks_like_linux_root(ctx.root):
        raise UsageError("--root {}: does not look like a Linux root (no /etc with /usr or /bin)".format(args.root))
    return ctx


def _emit_json(data):
    sys.stdout.write(report.to_json(data) + "\n")


def cmd_list(args):
    checks, fixes = registries(True)
    fixes = dict((f.id, f) for f in fixes)
    rows = []
    for check in checks:
        fix = fixes.get(check.id)
        rows.append({"id": check.id, "item": check.item, "repair_item": check.repair_item, "title": check.title,
                     "fix": None if fix is None else {"mode": fix.mode, "reversible": fix.reversible}})
    if args.format == "json":
        _emit_json({"format_version": report.FORMAT_VERSION, "checks": rows})
        return report.EXIT_OK
    width = max(len(r["item"]) for r in rows)
    for r in rows:
        fix = r["fix"]
        how = "-" if fix is None else fix["mode"] + ("" if fix["reversible"] else ", irreversible")
        sys.stdout.write("{}  {}  {}  {}\n".format(r["item"].ljust(width), (r["repair_item"] or "-").ljust(10),
                                                   how.ljust(20), r["title"]))
    return report.EXIT_OK


def cmd_check(args):
    engine = Engine(*registries(False))
    ctx = _context(args)
    checks = engine.select(_items(args))
    results = engine.run_checks(ctx, checks)
    code = report.exit_code(results, args.strict)
    if args.format == "json":
        _emit_json(report.envelope("check", ctx, results, code))
    else:
        report.check_text(ctx, results, sys.stdout, code)
    return code


def _plans(args, engine, ctx):
    """(items, selected checks, results of every check run, plans, failing items left out).

    Without --items every check runs, so the report still names what blocks, but only
    fixes safe to apply unasked are planned; the others are listed to be named.
    """
    items = _items(args)
    checks = engine.select(items, default_fixes=True)
    results = engine.run_checks(ctx, engine.select(items))
    plans = engine.plan(ctx, checks, results)
    selected = set(c.id for c in checks)
    left_out = [r for r in results if r.check_id not in selected and r.check_id in engine.remediations
                and r.status in ("FAIL", "WARN")]
    return items, checks, results, plans, left_out


def cmd_plan(args):
    engine = Engine(*registries(True))
    ctx = _context(args)
    items, _checks, results, plans, left_out = _plans(args, engine, ctx)
    code = report.exit_code(results)
    if args.format == "json":
        _emit_json(report.envelope("plan", ctx, results, code, plans=report.plans_json(ctx, plans),
                                   not_selected=[r.check_id for r in left_out]))
    else:
        report.plan_text(ctx, plans, sys.stdout, left_out)
    return code


def _confirm(plans):
    count = sum(len(p.steps) for p in plans)
    if not count or not sys.stdin.isatty() or not sys.stdout.isatty():
        return True
    sys.stdout.write("Apply {} change(s) for {}? [y/N] ".format(count, ", ".join(p.repair_item or p.check_id for p in plans if p.steps)))
    sys.stdout.flush()
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")


def _log_to(state):
    try:
        state.ensure()
        handler = logging.FileHandler(os.path.join(state.path, "guestprep.log"))
    except OSError:
        return
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)


def cmd_fix(args):
    engine = Engine(*registries(True))
    ctx = _context(args)
    items, checks, results, plans, left_out = _plans(args, engine, ctx)
    if args.format == "text":
        report.plan_text(ctx, plans, sys.stdout, left_out)
    if not args.yes and not _confirm(plans):
        sys.stdout.write("Nothing changed.\n")
        return report.EXIT_OK
    state = journal_mod.StateDir(ctx.root, args.backup_dir)
    state.lock()
    try:
        _log_to(state)
        log.info("fix %s: items %s", ctx.root.path, ",".join(c.id for c in checks))
        journal, outcomes = engine.apply(ctx, plans, state, argv=sys.argv[1:])
    finally:
        state.unlock()
    for o in outcomes:
        log.info("%s: %s %s", o.check_id, o.outcome, o.message)
    # What still blocks among the selected checks: fresh results where a fix ran.
    final = dict((r.check_id, r) for r in results)
    for o in outcomes:
        if o.result is not None and o.outcome in ("FIXED", STILL_FAILING):
            final[o.check_id] = o.result
    code = report.exit_code(list(final.values()), args.strict)
    if any(o.outcome == ROLLED_BACK for o in outcomes):
        code = report.EXIT_FIX_ROLLED_BACK
    if args.format == "json":
        _emit_json(report.envelope("fix", ctx, list(final.values()), code,
                                   run_id=journal.run_id if journal else None,
                                   outcomes=report.outcomes_json(outcomes)))
    else:
        if not outcomes:
            sys.stdout.write("Nothing to fix.\n")
        report.outcomes_text(outcomes, journal, sys.stdout)
    return code


def cmd_rollback(args):
    ctx = _context(args)
    state = journal_mod.StateDir(ctx.root, args.backup_dir)
    if not os.path.isdir(state.runs_path):
        sys.stderr.write("guestprep: nothing to roll back (no journal in {})\n".format(state.path))
        return report.EXIT_OK
    state.lock()
    try:
        _log_to(state)
        journals = Engine.journals_to_roll_back(state, args.run, args.all)
        rows, failed = [], False
        for journal in journals:
            for record, outcome, message in journal.rollback(ctx):
                failed = failed or outcome in ("conflict", "failed")
                target = record.get("path") or " ".join(record.get("argv", []))
                rows.append({"run_id": journal.run_id, "item": record["item"], "target": target,
                             "outcome": outcome, "message": message})
                log.info("rollback %s %s %s: %s", journal.run_id, target, outcome, message)
    finally:
        state.unlock()
    code = report.EXIT_ROLLBACK_FAILED if failed else report.EXIT_OK
    if args.format == "json":
        _emit_json({"format_version": report.FORMAT_VERSION, "command": "rollback", "root": ctx.root.path,
                    "runs": [j.run_id for j in journals], "exit_code": code, "changes": rows})
        return code
    if not journals:
        sys.stdout.write("Nothing to roll back: no run with changes that is not already rolled back.\n")
    for row in rows:
        sys.stdout.write("{}  {}  {}  {}\n".format(row["outcome"].ljust(12), row["item"].ljust(10),
                                                   row["target"], row["message"]))
    for journal in journals:
        sys.stdout.write("Rolled back run {}.\n".format(journal.run_id))
    if failed:
        sys.stdout.write("Some changes could not be restored; see above. Backups stay in {}.\n".format(state.path))
    return code


COMMANDS = {"check": cmd_check, "plan": cmd_plan, "fix": cmd_fix, "rollback": cmd_rollback, "list": cmd_list}


def main(argv=None):
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else report.EXIT_USAGE
    if not args.command:
        parser.print_help(sys.stderr)
        return report.EXIT_USAGE
    # stderr gets warnings (or progress with -v); the log file of fix/rollback gets everything.
    for handler in list(log.handlers):
        log.removeHandler(handler)
        handler.close()
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.INFO if getattr(args, "verbose", False) else logging.WARNING)
    handler.setFormatter(logging.Formatter("guestprep: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    try:
        return COMMANDS[args.command](args)
    except UsageError as e:
        sys.stderr.write("guestprep: error: {}\n".format(e))
        return report.EXIT_USAGE
    except journal_mod.Busy as e:
        sys.stderr.write("guestprep: {}\n".format(e))
        return report.EXIT_INTERNAL
    except KeyboardInterrupt:
        sys.stderr.write("guestprep: interrupted\n")
        return report.EXIT_INTERNAL
    except Exception as e:
        if os.environ.get("GUESTPREP_DEBUG"):
            raise
        sys.stderr.write("guestprep: internal error: {}: {} (set GUESTPREP_DEBUG=1 for a traceback)\n"
                         .format(type(e).__name__, e))
        return report.EXIT_INTERNAL


def main_exit():
    """Console-script entry point."""
    sys.exit(main())
