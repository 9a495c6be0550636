"""Engine and journal with toy units on a real temporary root (no guestprep check involved)."""
import json
import os
import stat

import pytest

from agent.core.context import Context
from agent.core.engine import FIXED, ROLLED_BACK, STILL_FAILING, Engine, UsageError
from agent.core.journal import Busy, Journal, StateDir
from agent.core.model import Check, Mode, Remediation, RemoveFile, Status, WriteFile
from agent.core.rootfs import Root


class ToyCheck(Check):
    id = "toy"
    item = "TOY.Item"
    repair_item = "toy"
    title = "toy"

    def run(self, ctx):
        text = ctx.root.read_text_or_none("/etc/toy")
        if text == "good\n":
            return self.passed("good")
        return self.failed("bad toy", "make it good", paths=["/etc/toy"])


class ToyFix(Remediation):
    id = "toy"

    def plan(self, ctx, result):
        return [WriteFile("/etc/toy", b"good\n", why="make it good"),
                WriteFile("/etc/toy.d/new", b"created\n", mode=0o600),
                RemoveFile("/etc/toy.old")]


class BrokenFix(ToyFix):
    """Writes one file, then fails on the second step: the first must be rolled back."""

    def plan(self, ctx, result):
        return [WriteFile("/etc/toy", b"good\n"), WriteFile("/nonexistent-dir/x", b"x")]


class CrashingCheck(Check):
    id = "crash"
    item = "TOY.Crash"
    repair_item = "crash"

    def run(self, ctx):
        raise ZeroDivisionError("boom")


class SilentCheck(Check):
    id = "silent"
    item = "TOY.Silent"

    def run(self, ctx):
        return None


class IrreversibleFix(Remediation):
    id = "crash"
    reversible = False
    mode = Mode.AUTO


@pytest.fixture
def root(tmp_path):
    base = tmp_path / "root"
    (base / "etc/toy.d").mkdir(parents=True)
    (base / "usr/bin").mkdir(parents=True)
    (base / "etc/toy").write_bytes(b"bad\n")
    os.chmod(str(base / "etc/toy"), 0o640)
    os.symlink("toy", str(base / "etc/toy.old"))
    return base


def ctx_for(base):
    return Context(Root(str(base)))


def apply(base, fix=ToyFix):
    engine = Engine([ToyCheck], [fix])
    ctx = ctx_for(base)
    plans = engine.plan(ctx, engine.checks, engine.run_checks(ctx))
    return engine, ctx, engine.apply(ctx, plans, StateDir(ctx.root))


def test_fix_then_rollback_restores_everything(root):
    engine, ctx, (journal, outcomes) = apply(root)
    assert [(o.check_id, o.outcome) for o in outcomes] == [("toy", FIXED)]
    assert (root / "etc/toy").read_bytes() == b"good\n"
    assert stat.S_IMODE(os.stat(str(root / "etc/toy")).st_mode) == 0o640
    assert stat.S_IMODE(os.stat(str(root / "etc/toy.d/new")).st_mode) == 0o600
    assert not os.path.lexists(str(root / "etc/toy.old"))
    # idempotent: a second plan is empty
    assert engine.plan(ctx, engine.checks, engine.run_checks(ctx)) == []
    # rollback from a new process: load the journal from disk
    again = Journal.load(StateDir(Root(str(root))), journal.run_id)
    outcomes = [o for _r, o, _m in again.rollback(ctx_for(root))]
    assert outcomes == ["restored", "restored", "restored"]
    assert (root / "etc/toy").read_bytes() == b"bad\n"
    assert stat.S_IMODE(os.stat(str(root / "etc/toy")).st_mode) == 0o640
    assert not os.path.exists(str(root / "etc/toy.d/new"))
    assert os.readlink(str(root / "etc/toy.old")) == "toy"
    # a rolled-back run is not picked again, and naming it is refused clearly
    state = StateDir(Root(str(root)))
    assert Engine.journals_to_roll_back(state) == []
    with pytest.raises(UsageError, match="already rolled back"):
        Engine.journals_to_roll_back(state, run_id=journal.run_id)


def test_state_dir_and_backups_are_private(root):
    _engine, _ctx, (journal, _o) = apply(root)
    state = root / "var/lib/guestprep"
    assert stat.S_IMODE(os.stat(str(state)).st_mode) == 0o700
    backups = os.listdir(os.path.join(journal.dir, "backups"))
    assert backups
    for name in backups:
        assert stat.S_IMODE(os.stat(os.path.join(journal.dir, "backups", name)).st_mode) == 0o600


def test_failed_step_rolls_back_the_item(root):
    _engine, _ctx, (journal, outcomes) = apply(root, BrokenFix)
    assert [o.outcome for o in outcomes] == [ROLLED_BACK]
    assert "rolled back" in outcomes[0].message
    assert (root / "etc/toy").read_bytes() == b"bad\n"
    assert journal.records[-1]["status"] == "failed"


def test_rollback_leaves_a_file_the_user_changed_since(root):
    _engine, ctx, (journal, _o) = apply(root)
    (root / "etc/toy").write_bytes(b"edited by the user\n")
    results = dict((r["path"], o) for r, o, _m in journal.rollback(ctx))
    assert results["/etc/toy"] == "conflict"
    assert (root / "etc/toy").read_bytes() == b"edited by the user\n"


def test_crash_after_begin_before_write_rolls_back_cleanly(root):
    """A begin record with no done record: the write may or may not have happened."""
    ctx = ctx_for(root)
    state = StateDir(ctx.root)
    journal = Journal.create(state, {"items": ["toy"]})
    journal.apply(ctx, "toy", WriteFile("/etc/toy", b"good\n"))
    journal.records = [r for r in journal.records if r["type"] != "done"]
    # a temp file a crash left behind
    (root / "etc/.toy.abc123.guestprep-tmp").write_bytes(b"goo")
    outcomes = [o for _r, o, _m in journal.rollback(ctx)]
    assert outcomes == ["restored"]
    assert (root / "etc/toy").read_bytes() == b"bad\n"
    assert not os.path.exists(str(root / "etc/.toy.abc123.guestprep-tmp"))


def test_torn_last_journal_line_is_ignored(root):
    _engine, _ctx, (journal, _o) = apply(root)
    with open(os.path.join(journal.dir, "journal.jsonl"), "ab") as handle:
        handle.write(b'{"type": "begin", "seq": 9')
    loaded = Journal.load(StateDir(Root(str(root))), journal.run_id)
    assert len(loaded.records) == len(journal.records)


def test_second_locker_is_told_who_holds_the_lock(root):
    first = StateDir(Root(str(root)))
    first.lock()
    try:
        with pytest.raises(Busy, match="pid {}".format(os.getpid())):
            StateDir(Root(str(root))).lock()
    finally:
        first.unlock()


def test_crashing_and_silent_checks_are_errors_and_others_still_run(root):
    engine = Engine([CrashingCheck, SilentCheck, ToyCheck])
    results = engine.run_checks(ctx_for(root))
    assert [r.status for r in results] == [Status.ERROR, Status.ERROR, Status.FAIL]
    assert "ZeroDivisionError: boom" in results[0].summary
    assert results[1].summary == "check returned no result"


def test_default_selection_leaves_out_irreversible_fixes(root):
    engine = Engine([CrashingCheck, ToyCheck], [IrreversibleFix, ToyFix])
    assert [c.id for c in engine.select(None, default_fixes=True)] == ["toy"]
    assert [c.id for c in engine.select(["crash"])] == ["crash"]
    assert [c.id for c in engine.select(["all"])] == ["crash", "toy"]
    with pytest.raises(UsageError, match="unknown item"):
        engine.select(["nosuch"])


def test_journal_is_json_lines_with_no_file_contents(root):
    _engine, _ctx, (journal, _o) = apply(root)
    with open(os.path.join(journal.dir, "journal.jsonl")) as handle:
        records = [json.loads(line) for line in handle]
    assert records[0]["type"] == "run" and records[-1]["type"] == "end"
    assert "bad" not in json.dumps(records).replace("backups", "")


class LineCheck(Check):
    """Fails until /etc/shared has its own line: two of them share one file."""
    word = ""

    def run(self, ctx):
        text = ctx.root.read_text_or_none("/etc/shared") or ""
        if ("root=" + self.word) in text if self.word == "UUID" else (self.word in text.split()):
            return self.passed("ok")
        return self.failed("missing " + self.word, "add it", paths=["/etc/shared"])


class RootCheck(LineCheck):
    id, item, repair_item, word = "rootline", "TOY.Root", "rootline", "UUID"


class ArgCheck(LineCheck):
    id, item, repair_item, word = "argline", "TOY.Arg", "argline", "timeout=1"


class RootFix(Remediation):
    id = "rootline"

    def plan(self, ctx, result):
        text = ctx.root.read_text("/etc/shared")
        return [WriteFile("/etc/shared", text.replace("root=/dev/sda1", "root=UUID").encode())]


class ArgFix(Remediation):
    id = "argline"

    def plan(self, ctx, result):
        text = ctx.root.read_text("/etc/shared")
        return [WriteFile("/etc/shared", text.replace("ro\n", "ro timeout=1\n").encode())]


def test_two_fixes_rewriting_one_file_in_one_run_keep_both_changes(root):
    # grub (root=UUID=) and nvme (timeouts) both rewrite grub.cfg, each planned from the
    # original text: the second whole-file write used to undo the first (boot matrix bug).
    (root / "etc/shared").write_bytes(b"linux /vmlinuz root=/dev/sda1 ro\n")
    engine = Engine([RootCheck, ArgCheck], [RootFix, ArgFix])
    ctx = Context.for_root(str(root))
    plans = engine.plan(ctx, engine.checks, engine.run_checks(ctx))
    journal, outcomes = engine.apply(ctx, plans, StateDir(ctx.root))
    assert (root / "etc/shared").read_bytes() == b"linux /vmlinuz root=UUID ro timeout=1\n"
    assert sorted(o.outcome for o in outcomes) == [FIXED, FIXED]
    journal.rollback(ctx)
    assert (root / "etc/shared").read_bytes() == b"linux /vmlinuz root=/dev/sda1 ro\n"
