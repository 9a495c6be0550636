"""A kind of change step is one class: a toy kind defined only here goes through plan text,
plan JSON, the plan script, a plan file, apply, the journal on disk and rollback from a
fresh process's view of the journal, with no change to the engine, journal or report."""
import hashlib
import io
import json
import os
import re
import subprocess
from typing import NamedTuple

import pytest

from agent.core import planfile, steps
from agent.core.context import Context
from agent.core.engine import FIXED, Engine
from agent.core.journal import Journal, StateDir
from agent.core.model import Check, Remediation, Step
from agent.core.rootfs import Root
from agent.output import report

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class _AppendLine(NamedTuple):
    path: str
    line: str
    why: str = ""


class AppendLine(_AppendLine, Step):
    """Append one line to a file (a kind of step guestprep itself does not have)."""

    __slots__ = ()
    op = "test-append-line"

    def _new(self, root):
        return root.read_bytes(self.path) + self.line.encode("utf-8") + b"\n"

    def plan_dict(self, ctx, diff):
        return {"kind": self.op, "path": self.path, "why": self.why, "line": self.line}

    def plan_lines(self, ctx, info, fix_reversible):
        return ["   $ echo {} >> {}".format(info["line"], ctx.root.display(self.path))]

    def script_lines(self, ctx, script):
        script.expect(self.path)
        return ["backup {}".format(script.host(self.path)),
                "echo {} >>{}".format(script.quote(self.line), script.host(self.path))]

    def plan_file_dict(self, ctx, file_state):
        return {"kind": self.op, "path": self.path, "line": self.line, "before": file_state(ctx.root, self.path)}

    def journal_apply(self, journal, ctx, record):
        content = self._new(ctx.root)
        record.update(op=self.op, path=self.path, before=journal.snapshot(ctx.root, self.path, record["seq"]),
                      after_sha256=hashlib.sha256(content).hexdigest())
        journal.begin(record, self.path)
        journal.write_file(ctx.root, self.path, content, None)
        journal.finish(record, self.path)

    @classmethod
    def undo(cls, journal, ctx, record, completed):
        return journal.undo_file(ctx, record, record["after_sha256"])


class ToyCheck(Check):
    id = "toy"
    item = "TOY.Item"
    repair_item = "toy"
    title = "toy"

    def run(self, ctx):
        if "appended" in ctx.root.read_text("/etc/toy").splitlines():
            return self.passed("has the line")
        return self.failed("no line", "append it", paths=["/etc/toy"])


class ToyFix(Remediation):
    id = "toy"

    def plan(self, ctx, result):
        return [AppendLine("/etc/toy", "appended", why="the toy wants its line")]


@pytest.fixture
def ctx(tmp_path):
    base = tmp_path / "root"
    (base / "etc").mkdir(parents=True)
    (base / "usr").mkdir()
    (base / "etc/toy").write_bytes(b"first\n")
    os.chmod(str(base / "etc/toy"), 0o640)
    return Context(Root(str(base)))


def plans_of(ctx):
    engine = Engine([ToyCheck], [ToyFix])
    results = engine.run_checks(ctx)
    return engine, engine.plan(ctx, engine.checks, results)


def test_a_toy_step_kind_is_planned_applied_journaled_and_rolled_back(ctx, tmp_path):
    engine, plans = plans_of(ctx)
    assert [type(s) for p in plans for s in p.steps] == [AppendLine]

    text = io.StringIO()
    report.plan_text(ctx, plans, text)
    assert "   # the toy wants its line\n   $ echo appended >> {}\n".format(
        ctx.root.display("/etc/toy")) in text.getvalue()
    assert "reversible" in text.getvalue()
    assert report.plans_json(ctx, plans)[0]["steps"] == [
        {"kind": "test-append-line", "path": "/etc/toy", "why": "the toy wants its line", "line": "appended"}]

    doc = planfile.document(ctx, plans, ["toy"])
    assert doc["plans"][0]["steps"][0]["before"]["sha256"] == hashlib.sha256(b"first\n").hexdigest()
    (tmp_path / "root/etc/toy").write_bytes(b"edited\n")
    assert planfile.drift(doc, planfile.document(ctx, plans_of(ctx)[1], ["toy"])) == [
        "toy: /etc/toy changed since the plan (content)"]
    (tmp_path / "root/etc/toy").write_bytes(b"first\n")

    state = StateDir(ctx.root, str(tmp_path / "state"))
    state.lock()
    try:
        journal, outcomes = engine.apply(ctx, plans, state)
    finally:
        state.unlock()
    assert [o.outcome for o in outcomes] == [FIXED]
    assert (tmp_path / "root/etc/toy").read_bytes() == b"first\nappended\n"
    assert oct(os.stat(str(tmp_path / "root/etc/toy")).st_mode & 0o777) == "0o640"

    # On disk: the toy's own op, write-ahead, with the original backed up.
    with open(os.path.join(journal.dir, "journal.jsonl")) as handle:
        records = [json.loads(line) for line in handle]
    assert [r["type"] for r in records] == ["run", "begin", "done", "end"]
    assert records[1]["op"] == "test-append-line" and records[1]["before"]["kind"] == "file"

    # Rolled back from the journal as a later process loads it: validated, then undone by the kind.
    loaded = Journal.load(state, journal.run_id)
    assert loaded.problem is None
    undone = loaded.rollback(ctx)
    assert [(o, m) for _r, o, m in undone] == [("restored", "original bytes, mode and owner restored")]
    assert (tmp_path / "root/etc/toy").read_bytes() == b"first\n"


def test_a_toy_step_is_in_the_plan_script(ctx, tmp_path):
    _engine, plans = plans_of(ctx)
    script = report.plan_script(ctx, plans)
    assert "# the toy wants its line\nbackup \"$ROOT\"'/etc/toy'\necho 'appended' >>\"$ROOT\"'/etc/toy'\n" in script
    assert "expect \"$ROOT\"'/etc/toy' '{}'".format(hashlib.sha256(b"first\n").hexdigest()) in script
    path = tmp_path / "fix.sh"
    path.write_text(script)
    subprocess.check_call(["sh", str(path)], env=dict(os.environ, GUESTPREP_ROOT=str(tmp_path / "root")),
                          stderr=subprocess.DEVNULL)
    assert (tmp_path / "root/etc/toy").read_bytes() == b"first\nappended\n"


def test_a_journal_record_of_an_unknown_op_is_refused(ctx, tmp_path):
    record = {"type": "begin", "seq": 1, "item": "toy", "op": "test-no-such-op", "path": "/etc/toy"}
    assert steps.check_begin(record) == "unknown operation 'test-no-such-op'"
    assert steps.check_begin(dict(record, op=["write"])) == "unknown operation ['write']"
    assert steps.check_begin(dict(record, op="test-append-line", path="etc/toy")) == \
        "path 'etc/toy' is not an absolute path inside the root"


STEP_CLASSES = ("WriteFile", "RemoveFile", "SetFlags", "RunCommand")


def test_no_isinstance_dispatch_on_step_kinds_outside_the_step_classes():
    """Each kind owns its behaviour: nothing else asks which kind a step is."""
    pattern = re.compile(r"isinstance\([^)]*\b(?:model\.|steps\.)?({})\b".format("|".join(STEP_CLASSES)))
    offenders = []
    for package in ("agent", "remediations"):
        for directory, _dirs, files in os.walk(os.path.join(HERE, package)):
            for name in files:
                path = os.path.join(directory, name)
                if not name.endswith(".py") or path.endswith(os.path.join("agent", "core", "steps.py")):
                    continue
                with open(path) as handle:
                    for number, line in enumerate(handle, 1):
                        if pattern.search(line):
                            offenders.append("{}:{}".format(os.path.relpath(path, HERE), number))
    assert offenders == []


def test_the_step_classes_write_only_through_the_journal():
    """agent/core/steps.py is loaded by every check (through the model): it imports nothing
    that writes and calls no writing method of the root itself."""
    with open(os.path.join(HERE, "agent", "core", "steps.py")) as handle:
        source = handle.read()
    imports = re.findall(r"^(?:from|import) (\S+)", source, re.M)
    assert set(imports) <= {"hashlib", "re", "shlex", "agent.tuples", "agent.core.runner"}
    assert re.findall(r"root\.(atomic_write|remove|set_flags|symlink)\(", source) == []
