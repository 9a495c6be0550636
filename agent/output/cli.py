"""Command line: check | plan | fix | rollback | clean | list. main(argv) returns the exit code."""
import argparse
import codecs
import gc
import io
import os
import stat
import sys

import agent
from agent.core.context import Context, Options
from agent.core.engine import ROLLED_BACK, STILL_FAILING, Engine, UsageError
from agent.core.model import Message, joined
from agent.core.rootfs import RootError
from agent.facts import osinfo
from agent.output import i18n, report
from agent.output.i18n import N_, t


class _Log(object):
    """logging's "guestprep" logger, made at its first use: importing logging costs more than
    most checks, and a check run rarely logs. main() calls setup() with where messages go."""

    def __init__(self):
        self._stderr = None
        self._verbose = False
        self._logger = None

    def setup(self, verbose):
        """From now on stderr gets warnings (or progress when verbose); an earlier run's handlers go.
        Made now when logging is already imported (another module may log through it)."""
        self._stderr, self._verbose, self._logger = sys.stderr, verbose, None
        if "logging" in sys.modules:
            self.logger()

    def logger(self):
        if self._logger is None:
            import logging
            logger = logging.getLogger("guestprep")
            for handler in list(logger.handlers):
                logger.removeHandler(handler)
                handler.close()
            handler = logging.StreamHandler(self._stderr or sys.stderr)
            handler.setLevel(logging.INFO if self._verbose else logging.WARNING)
            handler.setFormatter(logging.Formatter("guestprep: %(message)s"))
            logger.addHandler(handler)
            logger.setLevel(logging.INFO)
            logger.propagate = False
            self._logger = logger
        return self._logger

    def __getattr__(self, name):
        return getattr(self.logger(), name)


log = _Log()


def _journal():
    """agent.core.journal: only the commands that keep backups import it (check never does).
    It logs through logging directly, so the logger is made first."""
    log.logger()
    from agent.core import journal
    return journal


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        _json_state["error"] = message
        sys.stderr.write("guestprep: error: {}\n".format(message))
        raise SystemExit(report.EXIT_USAGE)


def build_parser():
    parser = _Parser(prog="guestprep", description=(
        "Find and fix what stops a Linux VM image from booting or working on Alibaba Cloud ECS."),
        epilog="Exit codes: 0 nothing blocks, 1 internal error, 2 usage error, 3 blocking findings "
               "remain, 4 a fix failed and was rolled back (or could not start: nothing changed), 5 rollback "
               "failed or its journal is not trusted, 6 busy: another guestprep run holds the target's lock.")
    parser.add_argument("--version", action="version", version="guestprep " + agent.__version__)
    language(parser, None)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add_command(name, help, description=None):
        # `guestprep fix --help` said nothing of what fix does: repeat the one-line help there.
        command = sub.add_parser(name, help=help, description=description or help[0].upper() + help[1:] + ".")
        language(command, argparse.SUPPRESS)   # also after the command; not given there: the global one
        return command

    def common(p, items=True, fmt=True, formats=("text", "json")):
        p.add_argument("--root", default="/", metavar="DIR",
                       help="the guest's root directory: / (default) or a mounted image")
        if fmt:
            p.add_argument("--format", choices=formats, default="text",
                           help="one of: " + ", ".join(formats) + " (default: text)")
        if items:
            p.add_argument("--items", action="append", metavar="LIST",
                           help="comma-separated repair items or checks as `guestprep list` names them "
                                "(dhcp,selinux,root-account,...), or 'all'; seal:NAME,... for some of seal's "
                                "operations (seal:defaults,-NAME for all but one)")
        p.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")

    def containers(p):
        p.add_argument("--container", choices=("auto", "systemd-nspawn", "bwrap"), default="auto",
                       help="with --root DIR, the image's own programs (package manager, initramfs and "
                       "boot loader tools, usermod) run only in a container: auto (default) takes "
                       "systemd-nspawn (package systemd-container), else bwrap (package bubblewrap)")
        p.add_argument("--unsafe-chroot", action="store_true",
                       help="with --root DIR and neither systemd-nspawn nor bwrap installed, run the "
                       "image's programs in a plain chroot instead of refusing them. UNSAFE: they run "
                       "as root on this machine, uncontained; a hostile image can read and change "
                       "anything here (mount, write the disks, reach the network). Use only on an "
                       "image you trust")

    def blocking(p):
        p.add_argument("--strict", action="store_true", help="warnings block too (exit 3): --fail-on warn")
        p.add_argument("--fail-on", choices=("warn", "fail"), default=None,
                       help="what blocks (exit 3): fail (default: FAIL and ERROR) or warn (WARN too)")
        waivers(p)

    def waivers(p):
        p.add_argument("--waivers", metavar="FILE", help="accepted findings (INI or JSON: item, reason, by, "
                       "expires); default /etc/guestprep/waivers.ini or .json of this machine, never "
                       "the image's. A waived finding is WAIVED and does not block until it expires")

    p = add_command("check", help="read-only check of the target")
    common(p, formats=("text", "json", "junit"))
    blocking(p)
    selection = ("Without --items only the fixes safe to apply unasked are selected (`guestprep list` shows "
                 "them as auto or defer, not irreversible); the others (package installs and removals, boot "
                 "loader, firewall ...) only when named in --items or with --items all, and seal only by its "
                 "own name.")
    p = add_command("plan", help="show every change fix would make; writes nothing",
                    description="Show every change fix would make, as unified diffs and commands; writes "
                    "nothing. " + selection)
    common(p, formats=("text", "json", "script"))
    containers(p)
    waivers(p)
    p.add_argument("--out", metavar="FILE", help="also write the plan file for `fix --plan FILE`: every "
                   "step with the SHA-256 of what it reads and writes (no contents, no secrets)")
    p = add_command("fix", help="apply fixes through the journal, then re-check",
                    description="Apply fixes through the journal (every changed file backed up; "
                    "`guestprep rollback` undoes them), then re-check. " + selection + " Without --yes, "
                    "on a terminal, fix shows the plan and asks once.")
    common(p, formats=("text", "json", "junit"))
    containers(p)
    p.add_argument("--at-shutdown", metavar="ITEMS", help="do not fix now: arm these items (comma-"
                   "separated) to be applied at the next poweroff by guestprep-fix-at-shutdown.service")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p.add_argument("--plan", metavar="FILE", help="apply exactly the plan `plan --out FILE` wrote; refuse "
                   "(exit 3, nothing changed) when any file or package it assumed has changed since")
    blocking(p)
    p.add_argument("--backup-dir", metavar="DIR", help="keep backups and the journal here "
                   "(default: /var/lib/guestprep inside the target)")
    p = add_command("rollback", help="undo the most recent fix run (or --run ID, or --all)")
    common(p, items=False)
    group = p.add_mutually_exclusive_group()
    group.add_argument("--run", metavar="ID", help="the run to undo")
    group.add_argument("--all", action="store_true", help="undo every run, newest first")
    p.add_argument("--backup-dir", metavar="DIR", help="where fix kept its backups and journal")
    p = add_command("clean", help="remove the backups and journal (before capture); rollback is then gone")
    common(p, items=False)
    p.add_argument("--backup-dir", metavar="DIR", help="where fix kept its backups and journal")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p = add_command("bundle", help="one file for support: the report, the plan, the journals and every "
                    "file the checks read, secrets masked or left out (see MANIFEST.json inside)")
    common(p, items=False, fmt=False)
    p.add_argument("-o", "--output", required=True, metavar="FILE.tar.gz", help="where to write the bundle (mode 0600)")
    p.add_argument("--backup-dir", metavar="DIR", help="where fix kept its journal (default: in the target)")
    p = add_command("list", help="every check with its item ID and repair item, and seal's operations")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p = add_command("at-shutdown", help="the fixes armed with fix --at-shutdown: status, disarm, "
                    "or run (what guestprep-fix-at-shutdown.service does at poweroff)")
    p.add_argument("action", choices=("status", "disarm", "run"))
    common(p, items=False, fmt=False)
    p.add_argument("--force", action="store_true", help="run: apply even when the system is not powering off")
    p.add_argument("--backup-dir", metavar="DIR", help="run: keep backups and the journal here")
    p = add_command("report", help="merge JSON reports of many hosts into one fleet summary")
    rsub = p.add_subparsers(dest="report_command", metavar="ACTION")
    m = rsub.add_parser("merge", help="hosts x items, worst first, as Markdown and/or self-contained HTML")
    m.add_argument("reports", nargs="+", metavar="REPORT.json",
                   help="reports of check or fix --format json; the host is the file name without .json")
    m.add_argument("--markdown", metavar="OUT.md", help="write Markdown here ('-': stdout)")
    m.add_argument("--html", metavar="OUT.html", help="write the HTML page here")
    m.add_argument("-v", "--verbose", action="store_true", help=argparse.SUPPRESS)
    p = add_command("boot-test", help="boot an exported disk under qemu (never modified): "
                    "login prompt and SSH on virtio with DHCP; exit 0 booted, 3 failed")
    p.add_argument("disk", metavar="DISK", help="the disk image: raw, qcow2, vhd (vpc), vmdk or vhdx")
    p.add_argument("--timeout", type=int, default=300, metavar="S",
                   help="seconds to wait for the login prompt and SSH (default: 300)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--keep-console", metavar="FILE", help="keep the serial console log in FILE")
    p.add_argument("--accel", choices=("auto", "kvm", "tcg"), default="auto",
                   help="auto (default): KVM when it works, else TCG")
    p.add_argument("--firmware", choices=("auto", "bios", "uefi"), default="auto",
                   help="auto (default): UEFI (OVMF) when the disk has only an EFI system partition")
    p.add_argument("-v", "--verbose", action="store_true", help="progress on stderr with --format json too")
    return parser


def language(parser, default):
    parser.add_argument("--lang", choices=("ja", "zh_CN", "en"), default=default,
                        help="language of the report: ja (Japanese), zh_CN (Chinese), en; default from "
                        "LANGUAGE, LC_ALL, LC_MESSAGES, LANG. JSON keys, ids and codes stay English")


def registries(with_fixes):
    from agent.checks import CHECKS
    if not with_fixes:
        return CHECKS, ()
    from remediations import REMEDIATIONS  # only plan, fix and rollback load fix code
    return CHECKS, REMEDIATIONS


def _items(args):
    return _parse_items(args)[0]


def _parse_items(args):
    """(items or None, {check id: [operation names]}) from --items.

    `seal:history,ssh-hostkeys` names operations of a check that has them (virt-sysprep's
    --operations): the words after `seal:` are its operations up to the first word that
    is an item of its own; `defaults` and `-name` work as in virt-sysprep.
    """
    if not getattr(args, "items", None):
        return None, {}
    # Item names are resolved by the engine (repair items, item IDs as `list` shows them, check
    # ids); here only which words after `seal:` are its operations and which are items.
    from agent.checks import CHECKS
    by_item = dict((c.item.lower(), c.id) for c in CHECKS)
    known = set(by_item) | set(c.id for c in CHECKS) | set(c.repair_item for c in CHECKS if c.repair_item)
    with_ops = dict((name, c) for c in CHECKS if getattr(c, "operations", None) for name in (c.id, c.repair_item))
    items, words = [], {}
    for chunk in args.items:
        current = None
        for word in (w.strip() for w in chunk.split(",")):
            if not word:
                continue
            if ":" in word:
                name, _colon, first = word.partition(":")
                check = with_ops.get(name.strip())
                if check is None:
                    named = ", ".join(sorted(set(c.id for c in with_ops.values())))
                    raise UsageError(Message("{word}: only {items} take operations after ':'", word=word,
                                             items=named or Message("no item")))
                current = check
                items.append(check.id)
                words.setdefault(check.id, []).append(first.strip())
            elif current is not None and (word.lower() not in known or word.lstrip("-") in current.operation_names):
                words[current.id].append(word)
            else:
                current = None
                items.append(word)
    selections = {}
    for check_id, chosen in words.items():
        check = next(c for c in CHECKS if c.id == check_id)
        try:
            selections[check_id] = check.parse_operations([w for w in chosen if w])
        except ValueError as e:
            raise UsageError(str(e))
    return items, selections


def _context(args, execute=False):
    """The target's context. Only fix passes execute=True: check and plan get one whose
    runner cannot start the image's programs (agent/core/runner.py ReadOnlyRunner)."""
    root = os.path.abspath(args.root)
    if not os.path.isdir(root):
        raise UsageError(Message("--root {root}: not a directory", root=args.root))
    container = "chroot" if getattr(args, "unsafe_chroot", False) else getattr(args, "container", "auto")
    ctx = Context.for_root(root, options=Options(strict=getattr(args, "strict", False), verbose=args.verbose,
                                                 selections=_parse_items(args)[1]), execute=execute,
                           container=container)
    if not osinfo.looks_like_linux_root(ctx.root):
        raise UsageError(Message("--root {root}: does not look like a Linux root (no /etc with /usr or /bin)",
                                 root=args.root))
    return ctx


def _waive(args, engine, results):
    """Results with the waived findings as WAIVED (agent/core/waivers.py); a bad file is a usage error."""
    if not hasattr(args, "waivers"):
        return results
    from agent.core import waivers
    if getattr(args, "_waivers", None) is None:
        try:
            args._waivers = waivers.load(args.waivers, engine._resolve)
        except waivers.WaiverError as e:
            raise UsageError(str(e))
    return waivers.apply(results, args._waivers, engine.selects) if args._waivers else results


# --format json: exactly one JSON document on stdout, whatever the way out (main() renders
# an error envelope when a command ends without one).
_json_state = {"emitted": False, "error": None, "stdout_gone": False}
# Commands that write nothing but stdout, stderr and (plan --out) a file closed before they
# return: main_exit() ends them without the interpreter's teardown, once both are flushed.
NO_TEARDOWN_COMMANDS = ("check", "plan", "list")
_ran = {"command": None}


def _emit_json(data):
    _json_state["emitted"] = True
    sys.stdout.write(report.to_json(data) + "\n")


def _error(message, prefix=""):
    """Say why a command stops on stderr; with --format json the envelope carries it too."""
    _json_state["error"] = str(message)   # JSON keeps the English
    sys.stderr.write("guestprep: {}{}\n".format(t(prefix) if prefix else "", i18n.tr(message)))


def _json_wanted(args, argv=None):
    if args is not None:
        return getattr(args, "format", None) == "json"
    argv = list(sys.argv[1:] if argv is None else argv)
    return any(a == "--format=json" or (a == "--format" and argv[i + 1:i + 2] == ["json"])
               for i, a in enumerate(argv))


def error_envelope(command, root, code, message):
    """The report's envelope for a command that ended without a report: no results, an error."""
    return {"format_version": report.FORMAT_VERSION, "tool": "guestprep", "version": agent.__version__,
            "command": command, "run_id": None, "root": root, "exit_code": code, "results": [],
            "error": {"message": message, "exit_code": code}}


def cmd_boot_test(args):
    """Boot a disk image under qemu; host binaries on a host file, no guest root involved."""
    from agent.host import boottest  # only this command needs it
    code = boottest.main(args)
    _json_state["emitted"] = args.format == "json"   # its result, printed by boottest.main itself
    return code


def cmd_bundle(args):
    from agent.output import bundle
    engine = Engine(*registries(True))
    ctx = _context(args)
    results = engine.run_checks(ctx)
    code = report.exit_code(results)
    plans = engine.plan(ctx, engine.select(["all"], default_fixes=True), results)
    state = _journal().StateDir(ctx.root, args.backup_dir)
    journals = [(rid, os.path.join(state.runs_path, rid, "journal.jsonl")) for rid in state.run_ids()]
    try:
        doc = bundle.write(args.output, ctx, report.envelope("check", ctx, results, code),
                           report.envelope("plan", ctx, results, code, plans=report.plans_json(ctx, plans)),
                           journals)
    except OSError as e:
        raise UsageError("-o {}: {}".format(args.output, e.strerror or e))
    sys.stdout.write(t("Wrote {file}: {count} files ({read} read by the checks), {left_out} left out as secrets or "
                       "unreadable; MANIFEST.json inside lists them.", file=args.output, count=len(doc["files"]) + 1,
                       read=sum(1 for f in doc["files"] if f.get("source")), left_out=len(doc["left_out"])) + "\n")
    return report.EXIT_OK


def cmd_list(args):
    checks, fixes = registries(True)
    fixes = dict((f.id, f) for f in fixes)
    rows = []
    for check in checks:
        fix = fixes.get(check.id)
        rows.append({"id": check.id, "item": check.item, "repair_item": check.repair_item, "title": check.title,
                     "fix": None if fix is None else {"mode": fix.mode, "reversible": fix.reversible},
                     "operations": [{"name": o.name, "description": o.description}
                                    for o in getattr(check, "operations", None) or ()]})
    if args.format == "json":
        _emit_json({"format_version": report.FORMAT_VERSION, "checks": rows})
        return report.EXIT_OK
    table = [(t("ITEM"), t("REPAIR ITEM"), t("FIX"), t("WHAT IS CHECKED"))]
    for r in rows:
        fix = r["fix"]
        how = "-" if fix is None else fix["mode"] + ("" if fix["reversible"] else t(", irreversible"))
        table.append((r["item"], r["repair_item"] or "-", how, i18n.tr(r["title"])))
    widths = [max(report.cells(row[i]) for row in table) for i in range(3)]
    for row in table:
        cells = "  ".join(cell + " " * (w - report.cells(cell)) for cell, w in zip(row, widths))
        sys.stdout.write(cells + "  " + row[3] + "\n")
    for r in rows:
        if r["operations"]:
            # virt-sysprep --list-operations: each one selectable as --items seal:NAME,...
            heading = t("Operations of {item} (--items {item} for all, {item}:NAME,... for some, "
                        "{item}:defaults,-NAME for all but one):", item=r["repair_item"] or r["id"])
            sys.stdout.write("\n" + heading + "\n")
            width = max(len(o["name"]) for o in r["operations"])
            for o in r["operations"]:
                sys.stdout.write("  {}:{}  {}\n".format(r["repair_item"] or r["id"], o["name"].ljust(width),
                                                         i18n.tr(o["description"])))
    return report.EXIT_OK


def cmd_check(args):
    engine = Engine(*registries(False))
    ctx = _context(args)
    checks = engine.select(_items(args))
    results = _waive(args, engine, engine.run_checks(ctx, checks))
    code = report.exit_code(results, args.strict)
    if args.format == "json":
        _emit_json(report.envelope("check", ctx, results, code, import_image=_import_image(ctx, results)))
    elif args.format == "junit":
        sys.stdout.write(report.junit("check", ctx, results, code, strict=args.strict))
    else:
        report.check_text(ctx, results, sys.stdout, code)
        advice = _import_image(ctx, results)
        report.import_image_text(advice, sys.stdout)
        refs = set(ref for r in results for ref in report.result_refs(r))
        if advice and not advice.get("error"):
            from agent.output import advice as advice_mod
            refs.update(advice_mod.refs(advice))
        legend = report.seed_legend(refs)
        if legend:
            sys.stdout.write("\n" + legend)
    return code


def _import_image(ctx, results):
    """What to enter on ImportImage (agent/output/advice.py); a failure there never costs the report."""
    from agent.output import advice
    try:
        return advice.compute(ctx, results)
    except Exception as e:
        log.warning("ImportImage advice failed: %s: %s", type(e).__name__, e)
        return {"error": "{}: {}".format(type(e).__name__, e)}


def _plans(args, engine, ctx, items=None):
    """(items, selected checks, results of every check run, plans, failing items left out).

    Without --items every check runs, so the report still names what blocks, but only
    fixes safe to apply unasked are planned; the others are listed to be named.
    """
    items = _items(args) if items is None else items
    checks = engine.select(items, default_fixes=True)
    results = _waive(args, engine, engine.run_checks(ctx, engine.select(items)))
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
    if any(p.uncontained for p in plans):
        code = max(code, report.EXIT_BLOCKING)   # fix would refuse it here (no container tool)
    if args.out:
        from agent.core import planfile
        try:
            planfile.write(args.out, planfile.document(ctx, plans, items))
        except OSError as e:
            raise UsageError("--out {}: {}".format(args.out, e.strerror))
        log.warning("%s", t("plan file written to {path}: apply it with `{command}`", path=args.out,
                            command=report.guestprep_command(ctx.root, "fix --plan " + args.out)))
    if args.format == "json":
        _emit_json(report.envelope("plan", ctx, results, code, plans=report.plans_json(ctx, plans),
                                   not_selected=[r.check_id for r in left_out]))
    elif args.format == "script":
        text = report.plan_script(ctx, plans, items)
        out = getattr(sys.stdout, "buffer", None)
        if out is None:
            sys.stdout.write(text)
        else:
            sys.stdout.flush()
            out.write(text.encode("utf-8", "surrogateescape"))  # the files' own bytes, not UTF-8 guesses
            out.flush()
        if report.SCRIPT_SECRETS_WARNING in text:
            log.warning("the script holds secrets (Wi-Fi keys, passwords) of the files it rewrites, unmasked; it "
                        "went to standard output%s: keep it private, mode 0600 (umask 077; guestprep plan "
                        "--format script > fix.sh), and delete it after use", _stdout_exposure())
        for r in left_out:
            log.warning("%s also has a finding (%s); its fix is left out of the script unless named with --items",
                        r.check_id, r.status)
    else:
        report.plan_text(ctx, plans, sys.stdout, left_out)
    return code


def _stdout_exposure():
    """' (FILE, mode 0644: others can read it)' when stdout is a file others can read; else ''."""
    try:
        st = os.fstat(sys.stdout.fileno())
        where = os.readlink("/proc/self/fd/{}".format(sys.stdout.fileno()))
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        return ""
    if not stat.S_ISREG(st.st_mode) or not st.st_mode & 0o077:
        return ""
    return " ({}, mode {:04o}: others can read it)".format(where, stat.S_IMODE(st.st_mode))


def _confirm(plans, stream=None):
    count = sum(len(p.steps) for p in plans)
    if not count or not sys.stdin.isatty() or not sys.stdout.isatty():
        return True
    stream = stream or sys.stdout
    stream.write(t("Apply {count} change(s) for {items}? [y/N] ", count=count,
                   items=", ".join(p.repair_item or p.check_id for p in plans if p.steps)))
    stream.flush()
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")


def _log_file_handler(stream):
    """A handler writing the log of fix/rollback to `stream`, marked `guestprep_log_file`."""
    import logging

    class _LogFile(logging.StreamHandler):
        guestprep_log_file = True

        def handleError(self, record):
            # A log file that cannot be written (a full or read-only disk) must not print a
            # traceback or stop a fix; the journal, not the log, is what rollback needs.
            pass

        def close(self):
            try:
                self.stream.close()
            except OSError:
                pass
            logging.StreamHandler.close(self)

    handler = _LogFile(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    return handler


def _log_to(state):
    try:
        state.ensure()
        # O_NOFOLLOW: a guestprep.log symlink planted in an image must not append to a host file.
        fd = os.open(os.path.join(state.path, "guestprep.log"),
                     os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        handler = _log_file_handler(os.fdopen(fd, "a", encoding="utf-8", errors="replace"))
    except (OSError, _journal().JournalError):
        return
    log.addHandler(handler)


def cmd_fix(args):
    engine = Engine(*registries(True))
    ctx = _context(args, execute=True)
    if getattr(args, "at_shutdown", None):
        return _arm(args, engine, ctx)
    planned = None
    if args.plan:
        from agent.core import planfile
        if args.items:
            raise UsageError("--plan applies the items its plan was made for: leave out --items")
        try:
            planned = planfile.load(args.plan, ctx)
        except planfile.PlanFileError as e:
            raise UsageError(e.args[0])
    items, checks, results, plans, left_out = _plans(args, engine, ctx, planned["items"] if planned else None)
    if planned is not None:
        # The plan made now must be the reviewed one, step for step and hash for hash.
        drifted = planfile.drift(planned, planfile.document(ctx, plans, items))
        if drifted:
            _error(Message("{plan} no longer matches the target; nothing was changed:\n  {drift}\n"
                           "Make and review the plan again: {command}", plan=args.plan,
                           drift=joined(drifted, "\n  "),
                           command=report.guestprep_command(ctx.root, "plan --out " + args.plan)))
            return report.EXIT_BLOCKING
        args.yes = True   # the plan file was the review
    # The question goes where the answer is not a document: stdout for text, stderr otherwise.
    if not args.yes and not (_confirm(plans) if args.format == "text" else _confirm(plans, sys.stderr)):
        # Declining changes nothing, and whatever blocked still blocks: say so in the exit code.
        code = report.exit_code(results, args.strict)
        if args.format == "json":
            _emit_json(report.envelope("fix", ctx, results, code, outcomes=[], confirmed=False))
        elif args.format == "text":
            sys.stdout.write(t("Nothing changed.") + "\n")
            if code == report.EXIT_BLOCKING:
                blocking = report.blocking_text(ctx.root, results, args.strict, args.backup_dir)
                sys.stdout.write("\n".join(blocking) + "\n")
        return code
    try:
        state = _journal().StateDir(ctx.root, args.backup_dir)
        state.lock()
    except _journal().Busy:
        raise
    except (OSError, RootError, _journal().JournalError) as e:
        where = args.backup_dir or ctx.root.display(_journal().STATE_DIR)
        reason = str(getattr(e, "strerror", None) or e)
        if "--backup-dir" in reason:
            _error(Message("cannot keep backups and the journal in {dir}: {error}; nothing was changed",
                           dir=where, error=reason))
        else:
            _error(Message("cannot keep backups and the journal in {dir}: {error}; nothing was changed "
                           "(--backup-dir DIR puts them elsewhere)", dir=where, error=reason))
        return report.EXIT_FIX_ROLLED_BACK
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
    final = dict((r.check_id, r) for r in _waive(args, engine, list(final.values())))
    code = report.exit_code(list(final.values()), args.strict)
    if any(p.uncontained for p in plans):
        # A fix asked for was refused: the image's programs cannot run contained here.
        code = max(code, report.EXIT_BLOCKING)
    if any(o.outcome == ROLLED_BACK for o in outcomes):
        code = report.EXIT_FIX_ROLLED_BACK
    if args.format == "json":
        _emit_json(report.envelope("fix", ctx, list(final.values()), code,
                                   run_id=journal.run_id if journal else None,
                                   outcomes=report.outcomes_json(outcomes)))
    elif args.format == "junit":
        sys.stdout.write(report.junit("fix", ctx, list(final.values()), code, strict=args.strict,
                                      outcomes=outcomes))
    else:
        if not outcomes:
            sys.stdout.write(t("Nothing to fix.") + "\n")
        report.outcomes_text(outcomes, journal, sys.stdout, backup_dir=args.backup_dir)
        if code == report.EXIT_BLOCKING:
            sys.stdout.write("\n" + "\n".join(report.blocking_text(
                ctx.root, list(final.values()), args.strict, args.backup_dir)) + "\n")
    return code


def cmd_rollback(args):
    ctx = _context(args)
    state = _journal().StateDir(ctx.root, args.backup_dir)
    if not os.path.isdir(state.runs_path):
        sys.stderr.write("guestprep: nothing to roll back (no journal in {})\n".format(state.path))
        if args.format == "json":
            _emit_json({"format_version": report.FORMAT_VERSION, "command": "rollback", "root": ctx.root.path,
                        "runs": [], "exit_code": report.EXIT_OK, "changes": []})
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
        sys.stdout.write(t("Nothing to roll back: no run with changes that is not already rolled back.") + "\n")
    for row in rows:
        sys.stdout.write("{}  {}  {}  {}\n".format(row["outcome"].ljust(12), row["item"].ljust(10),
                                                   row["target"], i18n.tr(row["message"])))
    for journal in journals:
        sys.stdout.write(t("Rolled back run {run}.", run=journal.run_id) + "\n")
    if failed:
        sys.stdout.write(t("Some changes could not be restored; see above. Backups stay in {dir}.",
                           dir=state.path) + "\n")
    return code


def _arm(args, engine, ctx):
    from agent.core import shutdown
    if args.items:
        raise UsageError(Message("--at-shutdown takes the items itself: --at-shutdown dhcp,fstab"))
    items = [i.strip() for i in args.at_shutdown.split(",") if i.strip()]
    if not items:
        raise UsageError(Message("--at-shutdown needs at least one item"))
    selected = engine.select(items)   # unknown items are a usage error now, not at shutdown
    sealed = [c.repair_item for c in selected if getattr(engine.remediations.get(c.id), "by_name_only", False)]
    if sealed:
        raise UsageError(Message("{items} cannot be deferred to shutdown: the backups of what it removes would stay "
                                 "in the image. Run `{fix}` last, then `{clean}`, then power off.",
                                 items=",".join(sealed),
                                 fix=report.guestprep_command(ctx.root, "fix --items " + ",".join(sealed)),
                                 clean=report.guestprep_command(ctx.root, "clean --yes", args.backup_dir)))
    state = _journal().StateDir(ctx.root, args.backup_dir)
    _log_to(state)
    try:
        lines = shutdown.arm(ctx, items, report.PROGRAM_ARGV)
    except shutdown.NotInstalled as e:
        # Not an internal error: this guestprep cannot arm here as asked (exit 2, like usage).
        _error(Message("cannot arm: {reason}", reason=str(e)))
        return report.EXIT_USAGE
    log.info("armed at shutdown: %s", ",".join(items))
    if args.format == "json":
        _emit_json({"format_version": report.FORMAT_VERSION, "command": "fix --at-shutdown",
                    "root": ctx.root.path, "armed": items, "exit_code": report.EXIT_OK})
    else:
        sys.stdout.write("\n".join(lines) + "\n")
    return report.EXIT_OK


def cmd_at_shutdown(args):
    from agent.core import shutdown
    ctx = _context(args)
    items = shutdown.armed_items(ctx.root)
    if args.action == "status":
        if items:
            sys.stdout.write(t("Armed: {items} (in {file}).", items=",".join(items),
                               file=ctx.root.display(shutdown.ARMED)) + "\n")
        else:
            sys.stdout.write(t("Nothing armed.") + "\n")
        return report.EXIT_OK
    if args.action == "disarm":
        was = shutdown.disarm(ctx.root)
        log.info("at-shutdown disarmed (was armed: %s)", ",".join(items) or "nothing")
        sys.stdout.write((t("Disarmed.") if was else t("Nothing was armed.")) + "\n")
        return report.EXIT_OK
    if not items:
        sys.stdout.write("guestprep at-shutdown: " + t("nothing armed.") + "\n")
        shutdown.disarm(ctx.root)
        return report.EXIT_OK
    if not args.force:
        kind = shutdown.shutdown_kind(ctx.runner)
        if kind != shutdown.POWEROFF:
            if kind == shutdown.REBOOT:
                said = t("rebooting; {items} stay armed for the poweroff before capture.", items=",".join(items))
            else:
                said = t("not powering off; {items} stay armed for the poweroff before capture.", items=",".join(items))
            sys.stdout.write("guestprep at-shutdown: " + said + "\n")
            return report.EXIT_OK
    # Disarmed before applying: a crash or hang here must not repeat at every shutdown.
    shutdown.disarm(ctx.root)
    sys.stdout.write("guestprep at-shutdown: " + t("applying {items}", items=",".join(items)) + "\n")
    fix_args = argparse.Namespace(root=args.root, items=[",".join(items)], format="text", yes=True,
                                  strict=False, backup_dir=args.backup_dir, verbose=args.verbose, at_shutdown=None,
                                  plan=None, waivers=None)
    return cmd_fix(fix_args)


def cmd_report(args):
    from agent.host import fleet
    if args.report_command != "merge":
        raise UsageError("report needs an action: "
                         "guestprep report merge REPORT.json... --markdown OUT.md --html OUT.html")
    merged = fleet.merge(args.reports)
    outputs = [(args.markdown, fleet.markdown), (args.html, fleet.html_page)]
    if not args.markdown and not args.html:
        outputs = [("-", fleet.markdown)]
    for path, render in outputs:
        if not path:
            continue
        text = render(merged)
        if path == "-":
            sys.stdout.write(text)
        else:
            with open(path, "w", encoding="utf-8", errors="replace") as handle:
                handle.write(text)
    for host in merged.hosts:
        if host.problem:
            log.warning("%s: %s", host.source, host.problem)
    return fleet.exit_code(merged)


def cmd_clean(args):
    """Remove the runs (backups, which may hold /etc/shadow, and journals) and the log file."""
    import shutil
    ctx = _context(args)
    state = _journal().StateDir(ctx.root, args.backup_dir)
    runs, pending = [], []
    if not os.path.isdir(state.path):
        if args.format == "json":
            _emit_json({"format_version": report.FORMAT_VERSION, "command": "clean", "root": ctx.root.path,
                        "state_dir": state.path, "removed_runs": [], "not_rolled_back": [],
                        "exit_code": report.EXIT_OK})
        else:
            sys.stdout.write(t("Nothing to clean: no {dir}.", dir=state.path) + "\n")
        return report.EXIT_OK
    state.lock()
    try:
        runs = []
        for rid in state.run_ids():
            try:
                runs.append(_journal().Journal.load(state, rid))
            except _journal().JournalError as e:
                # A damaged or hostile journal: clean is the way to be rid of it.
                log.warning("%s", e)
                runs.append(_journal().Journal(state, rid))
        pending = [j.run_id for j in runs if j.changed_something and not j.rolled_back]
        log.warning("warning: removing the backups and journal in %s: rollback of %s is then gone%s", state.path,
                    "{} run(s)".format(len(runs)) if runs else "any run",
                    " (not rolled back: {})".format(", ".join(pending)) if pending else "")
        if not args.yes:
            if not (sys.stdin.isatty() and sys.stdout.isatty()):
                raise UsageError(Message("clean deletes the backups rollback needs; add --yes to confirm"))
            sys.stdout.write(t("Remove them? [y/N] "))
            sys.stdout.flush()
            if sys.stdin.readline().strip().lower() not in ("y", "yes"):
                sys.stdout.write(t("Nothing removed.") + "\n")
                return report.EXIT_OK
        import logging
        for handler in list(log.handlers):
            if isinstance(handler, logging.FileHandler) or getattr(handler, "guestprep_log_file", False):
                log.removeHandler(handler)
                handler.close()
        if os.path.isdir(state.runs_path):
            shutil.rmtree(state.runs_path)
        for name in ("guestprep.log", "lock"):
            try:
                os.unlink(os.path.join(state.path, name))
            except OSError:
                pass
        try:
            os.rmdir(state.path)  # only when empty: --backup-dir may hold the user's own files
        except OSError:
            pass
    finally:
        state.unlock()
    if args.format == "json":
        _emit_json({"format_version": report.FORMAT_VERSION, "command": "clean", "root": ctx.root.path,
                    "state_dir": state.path, "removed_runs": [j.run_id for j in runs],
                    "not_rolled_back": pending, "exit_code": report.EXIT_OK})
    else:
        sys.stdout.write(t("Removed {count} run(s) of backups and journal from {dir}; rollback is no longer "
                           "possible.", count=len(runs), dir=state.path) + "\n")
    return report.EXIT_OK


COMMANDS = {"check": cmd_check, "plan": cmd_plan, "fix": cmd_fix, "rollback": cmd_rollback, "list": cmd_list,
            "bundle": cmd_bundle, "at-shutdown": cmd_at_shutdown, "report": cmd_report, "clean": cmd_clean,
            "boot-test": cmd_boot_test}


def _tolerant_stdio():
    """Reports quote files whose bytes need not be UTF-8 (kept as surrogates) and use
    characters beyond ASCII. Python 3.6 writes stdout strictly in the locale's encoding,
    ASCII under LC_ALL=C where 3.7+ switch to UTF-8, so such a report ended in
    UnicodeEncodeError (exit 1). Write UTF-8 where the locale says ASCII, and give a
    file's own bytes back rather than fail on them."""
    for name, errors in (("stdout", "surrogateescape"), ("stderr", "backslashreplace")):
        stream = getattr(sys, name)
        try:
            encoding = codecs.lookup(stream.encoding or "ascii").name
        except (AttributeError, LookupError):
            continue
        if encoding != "ascii" and getattr(stream, "errors", "") != "strict":
            continue
        encoding = "utf-8" if encoding == "ascii" else encoding
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(encoding=encoding, errors=errors)
        elif stream is getattr(sys, "__{}__".format(name)) and hasattr(stream, "buffer"):
            stream.flush()
            setattr(sys, name, io.TextIOWrapper(stream.detach(), encoding=encoding, errors=errors,
                                                line_buffering=stream.line_buffering))


class OutputError(OSError):
    """Standard output refused what was written to it (a full disk under `check > file`)."""


class _Output(object):
    """sys.stdout, telling its own write errors from the others: `check > file` on a full disk
    said "internal error: OSError: [Errno 28] ..." as if guestprep had failed."""

    def __init__(self, stream):
        self._stream = stream

    @staticmethod
    def _through(method, *args):
        try:
            return method(*args)
        except BrokenPipeError:     # the reader went away: handled as before
            raise
        except OSError as e:
            raise OutputError(e.errno, e.strerror)

    def write(self, text):
        return self._through(self._stream.write, text)

    def flush(self):
        return self._through(self._stream.flush)

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _output_failed(error):
    """Say that standard output failed and stop writing there."""
    _json_state["stdout_gone"] = True
    _silence_stdout()
    _error(Message("cannot write the output: {reason}", reason=error.strerror or str(error)))


def _missing_stdio():
    """Python has None for a standard stream that was closed when it started (`guestprep check
    >&-`, a service without stdout): write that stream to /dev/null, so the run goes on and its
    exit code still says the result."""
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w"))


def main(argv=None):
    _missing_stdio()
    _tolerant_stdio()
    if not isinstance(sys.stdout, _Output):
        sys.stdout = _Output(sys.stdout)
    i18n.set_language(i18n.ENGLISH)   # until the options are read (main() runs again in tests)
    _json_state.update(emitted=False, error=None, stdout_gone=False)
    _ran["command"] = None
    # Suggested commands start guestprep the way this process was started (argv given: a test).
    if argv is None and sys.argv:
        report.PROGRAM = report.program_name(sys.argv[0])
        report.PROGRAM_ARGV = report.program_argv(sys.argv[0], sys.executable)
    else:
        report.PROGRAM, report.PROGRAM_ARGV = "guestprep", None
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else report.EXIT_USAGE
        if code != report.EXIT_OK and _json_wanted(None, argv):
            words = [a for a in (sys.argv[1:] if argv is None else argv) if a in COMMANDS]
            _emit_json(error_envelope(words[0] if words else None, None, code,
                                      _json_state["error"] or "usage error"))
        return code
    i18n.set_language(i18n.choose(args.lang))
    if not args.command:
        parser.print_help(sys.stderr)
        return report.EXIT_USAGE
    if getattr(args, "fail_on", None):
        args.strict = args.fail_on == "warn"   # --fail-on, when given, decides over --strict
    # stderr gets warnings (or progress with -v); the log file of fix/rollback gets everything.
    log.setup(getattr(args, "verbose", False))
    code = _dispatch(args)
    _ran["command"] = args.command
    if _json_wanted(args) and not _json_state["emitted"] and not _json_state.get("stdout_gone"):
        root = getattr(args, "root", None)
        _emit_json(error_envelope(args.command, os.path.abspath(root) if root else None, code,
                                  _json_state["error"] or "ended without a report (exit {})".format(code)))
    return code


def _dispatch(args):
    """Run the command; every way out is an exit code, and a reason through _error()."""
    try:
        return COMMANDS[args.command](args)
    except UsageError as e:
        _error(e.args[0] if len(e.args) == 1 and isinstance(e.args[0], str) else str(e), N_("error: "))
        return report.EXIT_USAGE
    except _journal().Busy as e:
        _error(str(e))
        return report.EXIT_BUSY
    except (_journal().JournalError, RootError) as e:
        # The state directory cannot be used (a symlink or loop planted in an image ...).
        _error(str(e), N_("error: "))
        return report.EXIT_ROLLBACK_FAILED if args.command == "rollback" else report.EXIT_INTERNAL
    except KeyboardInterrupt:
        _error(Message("interrupted"))
        return report.EXIT_INTERNAL
    except BrokenPipeError:
        # The reader went away (guestprep list | head): nothing to report to anyone. Point
        # stdout at /dev/null so the interpreter's final flush does not fail again.
        _json_state["stdout_gone"] = True
        _silence_stdout()
        return report.EXIT_INTERNAL
    except OutputError as e:
        _output_failed(e)
        return report.EXIT_INTERNAL
    except Exception as e:
        if os.environ.get("GUESTPREP_DEBUG"):
            raise
        _error(Message("internal error: {error} (set GUESTPREP_DEBUG=1 for a traceback)",
                       error="{}: {}".format(type(e).__name__, e)))
        return report.EXIT_INTERNAL


def _silence_stdout():
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def main_exit():
    """Console-script entry point."""
    # A short run: what the imports made lives until exit, so the cyclic collector need
    # not walk it again on every collection (a twentieth of a check's time otherwise).
    freeze = getattr(gc, "freeze", None)     # Python 3.7 and later
    if freeze is not None:
        freeze()
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BrokenPipeError:
            if stream is sys.stdout:
                _silence_stdout()
        except OutputError as e:
            _output_failed(e)
            code = code or report.EXIT_INTERNAL
    if _ran["command"] in NO_TEARDOWN_COMMANDS:
        # Nothing else is left to write, close or remove, and tearing down every module and
        # object costs a check as much as most checks do.
        os._exit(code)
    sys.exit(code)
