"""Order and run checks, plan fixes, apply them through the journal, re-check, roll back.

The engine knows checks and remediations only through the registries the CLI hands it,
so it never imports remediations itself (checking never loads code that writes) and can
be tested with toy units.
"""
from agent.core import applicability, faults
from agent.core.model import Message, Mode, Refused, Status, is_package_step, joined
from agent.core.rootfs import RootError
from agent.core.runner import describe_command
from agent.facts.live import Unavailable
from agent.tuples import namedtuple


def _journal():
    """agent.core.journal, imported when a fix or rollback needs it (check never does)."""
    from agent.core import journal
    return journal


class UsageError(Exception):
    pass


class Plan(namedtuple("Plan", (
    "check_id",               # str
    "repair_item",            # str
    "result",                 # object: the Result that asked for the fix
    "remediation",            # object
    "steps",                  # List[object]
    "skipped",                # str: why nothing will be applied, when so
    # Refused because the image's programs cannot run contained here (no systemd-nspawn or
    # bwrap): fix then exits 3 even when the finding is only a warning.
    "uncontained",            # bool
), skipped="", uncontained=False)):
    __slots__ = ()


class Outcome(namedtuple("Outcome", (
    "check_id",               # str
    "repair_item",            # str
    "outcome",                # str: FIXED, STILL FAILING, ROLLED BACK, SKIPPED, NOTHING TO DO
    "message",                # str
    "result",                 # Optional[object]
), result=None)):
    __slots__ = ()


FIXED = "FIXED"
STILL_FAILING = "STILL FAILING"
ROLLED_BACK = "ROLLED BACK"
SKIPPED = "SKIPPED"


class Engine(object):
    def __init__(self, checks, remediations=()):
        self.checks = [c() if isinstance(c, type) else c for c in checks]
        self.remediations = dict((r.id, r() if isinstance(r, type) else r) for r in remediations)

    # -- selection ----------------------------------------------------------------

    def names(self):
        """The names `guestprep list` shows, one per check: its repair item, or its item ID
        when it has none (root-account, GUESTOS.SystemImage)."""
        return [c.repair_item or c.item for c in self.checks]

    def selects(self, name, result):
        """Whether a name as --items takes it (repair item, item ID, check id) selects a result."""
        return result.check_id in self._resolve(name)

    def _resolve(self, name):
        """The check ids a name selects: a repair item, an item ID as `list` shows it (any
        case), or a check id; an empty list when it names nothing."""
        lowered = name.lower()
        return [c.id for c in self.checks
                if name in (c.id, c.repair_item) or lowered == c.item.lower()]

    def select(self, items, default_fixes=False):
        """Checks selected by a list of repair items / check ids; 'all' or None selects all.

        With default_fixes and no list, only checks whose fix is safe to apply unasked
        (reversible, auto or defer) are selected.
        """
        if items is None:
            if not default_fixes:
                return list(self.checks)
            return [c for c in self.checks if self._default_fix(c.id)]
        wanted = set(i.strip() for i in items if i.strip())
        if "all" in wanted:
            if not default_fixes:
                return list(self.checks)
            # 'all' fixes everything but what must be asked for by its own name (seal).
            named = set(i for name in wanted for i in self._resolve(name))
            return [c for c in self.checks if not self._by_name_only(c.id) or c.id in named]
        unknown = sorted(name for name in wanted if not self._resolve(name))
        if unknown:
            raise UsageError(Message("unknown item(s): {unknown}; known (as `guestprep list` shows them): {known}, "
                                     "or all", unknown=", ".join(unknown), known=", ".join(self.names())))
        ids = set(i for name in wanted for i in self._resolve(name))
        return [c for c in self.checks if c.id in ids]

    def _by_name_only(self, check_id):
        fix = self.remediations.get(check_id)
        return fix is not None and getattr(fix, "by_name_only", False)

    def _default_fix(self, check_id):
        fix = self.remediations.get(check_id)
        return fix is not None and fix.reversible and fix.mode in (Mode.AUTO, Mode.DEFER)

    # -- checking -------------------------------------------------------------

    def run_check(self, ctx, check):
        reason = self.not_applicable(ctx, check)
        if reason:
            return check.result(Status.SKIP, reason)
        try:
            result = check.run(ctx)
        except RootError as e:
            return check.result(Status.ERROR, Message("could not read the target: {error}", error=str(e)),
                                Message("Check that the file is a readable regular file inside the root."))
        except Unavailable as e:  # an optional module is absent (the single-file build)
            return check.result(Status.SKIP, Message("skipped: {module}, which this check needs", module=str(e)),
                                Message("Install it to run this check; the other checks are unaffected."))
        except Exception as e:  # one broken check never stops the others
            return check.result(Status.ERROR, Message("check failed unexpectedly: {error}",
                                                      error="{}: {}".format(type(e).__name__, e)),
                                Message("This is a bug in guestprep; please report it with this message."))
        if result is None:
            return check.result(Status.ERROR, "check returned no result",
                                "This is a bug in guestprep; please report it.")
        return result

    @staticmethod
    def not_applicable(ctx, check):
        """Why `check` does not apply to the target, from what it declares ('' when it does)."""
        return applicability.not_applicable(ctx, check)

    def run_checks(self, ctx, checks=None):
        return [self.run_check(ctx, check) for check in (checks or self.checks)]

    # -- planning -------------------------------------------------------------

    def package_refusal(self, ctx, results):
        """Why package steps must not run now ('' when they may): the finding of the checks
        that guard the package manager (guards_packages), run here when not among `results`.
        One guard for every fix, so no remediation needs its own."""
        by_id = dict((r.check_id, r) for r in results)
        reasons = []
        for check in self.checks:
            if not getattr(check, "guards_packages", False):
                continue
            result = by_id.get(check.id) or self.run_check(ctx, check)
            if result.status in (Status.FAIL, Status.WARN, Status.ERROR):
                reasons.append((result.data or {}).get("refuse_packages") or result.summary)
        return "; ".join(r for r in reasons if r)

    def plan(self, ctx, checks, results):
        """Plans for the failing results among `checks` that have a remediation."""
        plans = []
        refusal = None      # computed once, when a plan first has a package step
        by_id = dict((r.check_id, r) for r in results)
        for check in checks:
            result = by_id.get(check.id)
            fix = self.remediations.get(check.id)
            if result is None or fix is None or result.status not in (Status.FAIL, Status.WARN):
                continue
            if ctx.offline and not fix.offline_safe:
                plans.append(Plan(check.id, check.repair_item, result, fix, [],
                                  Message("cannot be applied to a mounted image; run guestprep on the VM itself")))
                continue
            try:
                steps = list(fix.plan(ctx, result))
            except RootError as e:
                plans.append(Plan(check.id, check.repair_item, result, fix, [],
                                  Message("cannot plan: {error}", error=str(e))))
                continue
            except Refused as e:
                # The reason as raised: a Message keeps its template for the translation.
                reason = e.args[0] if len(e.args) == 1 and isinstance(e.args[0], str) else str(e)
                plans.append(Plan(check.id, check.repair_item, result, fix, [], reason))
                continue
            if ctx.offline:
                steps = [s for s in steps if not s.live_only]
                refused = _refused_commands(ctx, steps)
                if refused:
                    plans.append(Plan(check.id, check.repair_item, result, fix, [], refused, uncontained=True))
                    continue
            if any(is_package_step(s) for s in steps):
                if refusal is None:
                    refusal = self.package_refusal(ctx, results)
                if refusal:
                    plans.append(Plan(check.id, check.repair_item, result, fix, [],
                                      Message("refused: it installs or removes packages, and the package manager "
                                              "is not usable: {reason}", reason=refusal)))
                    continue
            plans.append(Plan(check.id, check.repair_item, result, fix, steps,
                              "" if steps else Message("nothing guestprep can change automatically; see the hint")))
        return plans

    # -- applying -------------------------------------------------------------

    def apply(self, ctx, plans, state, argv=()):
        """Apply plans through a new journal. Returns (journal or None, [Outcome])."""
        todo = [p for p in plans if p.steps]
        outcomes = [Outcome(p.check_id, p.repair_item, SKIPPED, p.skipped, p.result)
                    for p in plans if not p.steps]
        if not todo:
            return None, outcomes
        # Every command inherits the state lock: it stays held until the last one exits.
        executor = ctx.executor
        executor.lock_fds = tuple(getattr(state, "lock_fds", ()))
        try:
            return self._apply(ctx, todo, outcomes, state, argv)
        finally:
            executor.lock_fds = ()

    def _apply(self, ctx, todo, outcomes, state, argv):
        order = [c.id for c in self.checks]
        try:
            # Before the first change: a disk that fills up halfway leaves work for rollback.
            short = _journal().space_shortfall(ctx.root, state, [s for p in todo for s in p.steps])
            journal = None if short else _journal().Journal.create(state, {
                "root": ctx.root.path, "items": [p.check_id for p in todo], "argv": list(argv)})
            message = Message("not started: {reason}; nothing was changed", reason=short)
        except (OSError, _journal().JournalError) as e:
            # No journal, no change: every fix fails before it begins (a full or read-only disk).
            journal, message = None, Message("failed: cannot write the journal in {dir}: {error}; nothing was changed",
                                             dir=state.path, error=str(getattr(e, "strerror", None) or e))
        if journal is None:
            outcomes.extend(Outcome(p.check_id, p.repair_item, ROLLED_BACK, message, p.result) for p in todo)
            outcomes.sort(key=lambda o: order.index(o.check_id))
            return None, outcomes
        failed = []
        last = []       # [step, [items]]: run_last commands, once each, after every plan's edits
        written = {}    # path -> (bytes before this run, bytes now): appends of several plans combine
        for index, plan in enumerate(todo):
            try:
                steps = _replan_if_rewritten(ctx, written, plan)
                if steps is not plan.steps:
                    plan = todo[index] = plan._replace(steps=steps)
                for step in plan.steps:
                    if step.run_last:
                        _defer(last, step, plan.check_id)
                        continue
                    step = _combine_appends(ctx, written, step)
                    journal.apply(ctx, plan.check_id, step)
                    faults.point("between-steps", plan.check_id)
            except (OSError, RootError, _journal().JournalError) as e:
                failed.append(plan.check_id)
                outcomes.append(_rolled_back(ctx, journal, plan, e))
        for step, items in last:
            items = [i for i in items if i not in failed]
            if not items:
                continue
            try:
                journal.apply(ctx, items[0], step, also=items[1:])
            except (OSError, RootError, _journal().JournalError) as e:
                # Newest item first: a later plan's edit sits on top of an earlier one's.
                for item in reversed(items):
                    plan = next(p for p in todo if p.check_id == item)
                    failed.append(item)
                    outcomes.append(_rolled_back(ctx, journal, plan, e))
        # A fix may check its own work once every step ran (the rebuilt initramfs images hold
        # the drivers): what it finds wrong fails the fix like a failed step.
        for plan in todo:
            if plan.check_id in failed:
                continue
            try:
                problems = plan.remediation.verify(ctx, plan.result, plan.steps)
            except (OSError, RootError) as e:
                problems = [str(e)]
            if problems:
                failed.append(plan.check_id)
                outcomes.append(_rolled_back(ctx, journal, plan, joined(problems, "; ")))
        faults.point("before-end")
        try:
            journal.end("failed" if failed else "complete")
        except OSError as e:
            # Without its end record the run would look interrupted: undo it and say why.
            reason = Message("cannot finish the journal in {dir}: {error}", dir=journal.dir, error=str(e.strerror or e))
            for plan in reversed(todo):
                if plan.check_id not in failed:
                    failed.append(plan.check_id)
                    outcomes.append(_rolled_back(ctx, journal, plan, reason))
        # Re-check with fresh facts: a fix may have installed or removed packages.
        ctx.refresh()
        checks = dict((c.id, c) for c in self.checks)
        for plan in todo:
            if plan.check_id in failed:
                continue
            result = self.run_check(ctx, checks[plan.check_id])
            if result.status in Status.BLOCKING:
                outcomes.append(Outcome(plan.check_id, plan.repair_item, STILL_FAILING, result.summary, result))
            else:
                note = plan.remediation.note
                message = Message.join([result.summary, note], " — ") if note else result.summary
                outcomes.append(Outcome(plan.check_id, plan.repair_item, FIXED, message, result))
        outcomes.sort(key=lambda o: order.index(o.check_id))
        return journal, outcomes

    # -- rollback -------------------------------------------------------------

    @staticmethod
    def journals_to_roll_back(state, run_id=None, every=False):
        runs = [_journal().Journal.load(state, rid) for rid in state.run_ids()]
        # Oldest first by the time each run started: ids of runs within the same second
        # differ only in a random suffix, so their names do not tell which came last.
        runs.sort(key=lambda j: (_started(j), j.run_id))
        if run_id:
            match = [j for j in runs if j.run_id == run_id]
            if not match:
                raise UsageError(Message("no run {run} in {dir}; runs: {runs}", run=run_id, dir=state.runs_path,
                                         runs=", ".join(j.run_id for j in runs) or Message("none")))
            if match[0].rolled_back:
                raise UsageError(Message("run {run} was already rolled back", run=run_id))
            chosen = match
        else:
            pending = [j for j in reversed(runs) if j.changed_something and not j.rolled_back]
            chosen = pending if every else pending[:1]
        for journal in chosen:
            journal.verify()    # every run, before any is rolled back: a hostile one changes nothing
        return chosen


def _refused_commands(ctx, steps):
    """Why the image's programs of `steps` cannot run here (no container tool), or ''."""
    programs = []
    for step in steps:
        for argv, network in step.commands():
            how = describe_command(ctx.runner, argv, network)
            if how["refused"] and how["program"] not in programs:
                programs.append(how["program"])
                reason = how["refused"]
    if not programs:
        return ""
    return Message("runs the image's {programs}: {reason}", programs=", ".join(programs), reason=reason)


def _rolled_back(ctx, journal, plan, error):
    """Roll one item's changes back; its ROLLED BACK outcome saying why and how it went."""
    error = getattr(error, "message", None) or error   # StepFailed and RootError say it as a Message
    try:
        undone = journal.rollback(ctx, item=plan.check_id)
    except _journal().JournalError as e:      # its own journal refused (damaged since)
        undone = [(None, "failed", str(e))]
    problems = [m for _r, o, m in undone if o in ("conflict", "failed")]
    if problems:
        message = Message("failed: {error}; its changes were rolled back (rollback problems: {problems})",
                          error=error, problems=joined(problems))
    else:
        message = Message("failed: {error}; its changes were rolled back", error=error)
    return Outcome(plan.check_id, plan.repair_item, ROLLED_BACK, message, plan.result)


def _started(journal):
    for record in journal.records:
        if record.get("type") == "run" and isinstance(record.get("time"), (int, float)):
            return record["time"]
    return 0


def _defer(last, step, item):
    """Queue a run_last command; the same argv from another plan is one command with the
    union of the files both declare (one initramfs rebuild serves virtio and nvme)."""
    for entry in last:
        queued = entry[0]
        if tuple(queued.argv) == tuple(step.argv) and queued.env == step.env:
            extra = tuple(p for p in step.modifies if p not in queued.modifies)
            entry[0] = queued._replace(modifies=tuple(queued.modifies) + extra)
            if item not in entry[1]:
                entry[1].append(item)
            return
    last.append([step, [item]])


def _replan_if_rewritten(ctx, written, plan):
    """The plan's steps, planned again from the files as they are now when an earlier fix of
    this run rewrote a file this one rewrites too: both planned from the original text, the
    second whole-file write would undo the first (grub's root=UUID= and nvme's timeouts, both
    in grub.cfg and /etc/default/grub). Raises what plan() raises (the fix then fails)."""
    rewritten = [s.writes for s in plan.steps if s.writes and s.writes in written
                 and written[s.writes][0] != written[s.writes][1]]
    if not rewritten:
        return plan.steps
    ctx.refresh()
    try:
        steps = list(plan.remediation.plan(ctx, plan.result))
    except Refused as e:
        raise _journal().JournalError("cannot plan again over {}: {}".format(", ".join(rewritten), e))
    for path in rewritten:
        # The new plan starts from the file as it is now: nothing left to combine.
        written[path] = (written[path][1], written[path][1])
    if ctx.offline:
        steps = [s for s in steps if not s.live_only]
    return steps


def _combine_appends(ctx, written, step):
    """A WriteFile that appends to a file another plan of this run already appended to gets
    both additions: each plan computed its content from the file as it was before the run,
    and the second write must not drop the first one's lines (/etc/initramfs-tools/modules
    from virtio and nvme). Any other rewrite is applied as planned."""
    if not step.writes:
        return step
    if step.path not in written:
        try:
            original = ctx.root.read_bytes(step.path) if ctx.root.isfile(step.path) else b""
        except RootError:
            return step
        written[step.path] = (original, step.content)
        return step
    original, now = written[step.path]
    if (now != original and step.content != now and now.startswith(original)
            and step.content.startswith(original) and len(step.content) > len(original)):
        step = step._replace(content=now + step.content[len(original):])
    written[step.path] = (original, step.content)
    return step
