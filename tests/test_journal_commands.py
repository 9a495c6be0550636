"""Commands that declare the files they modify, run_last commands shared by plans, appends
of several plans to one file, and plans refused: engine and journal with toy units."""
import os
import stat

import pytest

from agent.core.context import Context
from agent.core.engine import FIXED, ROLLED_BACK, SKIPPED, Engine
from agent.core.journal import Journal, StateDir
from agent.core.model import Check, Refused, Remediation, RunCommand, WriteFile
from agent.core.rootfs import Root
from agent.core.runner import Completed

BIG = os.urandom(1 << 20) * 20     # larger than Root.read_bytes' 16 MiB limit


class FileRunner(object):
    """Plays 'rebuild': rewrites the image (and creates a checksum file); records calls."""

    def __init__(self, base, fail=False):
        self.base = base
        self.calls = []
        self.fail = fail

    def command_line(self, argv):
        return ("chroot", str(self.base)) + tuple(argv)

    def run(self, argv, env=None, timeout=None, stdin_text=None, network=False):
        self.calls.append(tuple(argv))
        (self.base / "boot/initrd.img-6.1").write_bytes(b"rebuilt " + bytes(len(self.calls)))
        (self.base / "var/lib/initramfs-tools/6.1").write_bytes(b"sha1\n")
        if self.fail:
            return Completed(tuple(argv), 1, "", "E: something broke")
        return Completed(tuple(argv), 0, "done", "")


def make_check(name):
    class ToyCheck(Check):
        id = name
        item = "TOY." + name
        repair_item = name
        title = name

        def run(self, ctx):
            text = ctx.root.read_text_or_none("/etc/modules") or ""
            if name + "\n" in text and ctx.root.read_bytes("/boot/initrd.img-6.1", limit=1 << 30) != BIG:
                return self.passed("ok")
            return self.failed("missing " + name, "add it")
    return ToyCheck


REBUILD = RunCommand(("update-initramfs", "-u", "-k", "all"), why="rebuild",
                     modifies=("/boot/initrd.img-6.1", "/var/lib/initramfs-tools/6.1"), run_last=True)


def make_fix(name, extra=()):
    class ToyFix(Remediation):
        id = name

        def plan(self, ctx, result):
            text = ctx.root.read_bytes("/etc/modules")
            return [WriteFile("/etc/modules", text + name.encode() + b"\n"), REBUILD] + list(extra)
    return ToyFix


@pytest.fixture
def base(tmp_path):
    root = tmp_path / "root"
    for d in ("etc", "usr/bin", "boot", "var/lib/initramfs-tools"):
        (root / d).mkdir(parents=True)
    (root / "etc/modules").write_bytes(b"# modules\n")
    (root / "boot/initrd.img-6.1").write_bytes(BIG)
    os.chmod(str(root / "boot/initrd.img-6.1"), 0o600)
    return root


def run(base, fixes, runner):
    checks = [make_check(f.id) for f in fixes]
    engine = Engine(checks, fixes)
    ctx = Context(Root(str(base)), runner=runner)
    plans = engine.plan(ctx, engine.checks, engine.run_checks(ctx))
    journal, outcomes = engine.apply(ctx, plans, StateDir(ctx.root))
    return ctx, journal, outcomes


def test_one_rebuild_serves_two_plans_and_rollback_restores_the_image(base):
    runner = FileRunner(base)
    ctx, journal, outcomes = run(base, [make_fix("virtio"), make_fix("nvme")], runner)
    assert [(o.check_id, o.outcome) for o in outcomes] == [("virtio", FIXED), ("nvme", FIXED)]
    # one command, after both file edits, and both appends kept
    assert runner.calls == [("update-initramfs", "-u", "-k", "all")]
    assert (base / "etc/modules").read_bytes() == b"# modules\nvirtio\nnvme\n"
    command = [r for r in journal.begins() if r["op"] == "command"]
    assert len(command) == 1 and command[0]["items"] == ["virtio", "nvme"]
    assert [f["path"] for f in command[0]["files"]] == ["/boot/initrd.img-6.1", "/var/lib/initramfs-tools/6.1"]
    assert command[0]["seq"] == 3     # after both WriteFile steps
    # rollback from a new process: the 20 MiB image comes back byte for byte, mode kept,
    # the checksum file the command created goes, and /etc/modules is the original
    again = Journal.load(StateDir(Root(str(base))), journal.run_id)
    results = [(r["op"], o) for r, o, _m in again.rollback(Context(Root(str(base)), runner=runner))]
    assert results == [("command", "restored"), ("write", "restored"), ("write", "restored")]
    assert (base / "boot/initrd.img-6.1").read_bytes() == BIG
    assert stat.S_IMODE(os.stat(str(base / "boot/initrd.img-6.1")).st_mode) == 0o600
    assert not (base / "var/lib/initramfs-tools/6.1").exists()
    assert (base / "etc/modules").read_bytes() == b"# modules\n"


def test_a_failing_shared_command_rolls_back_every_plan_that_asked_for_it(base):
    runner = FileRunner(base, fail=True)
    _ctx, journal, outcomes = run(base, [make_fix("virtio"), make_fix("nvme")], runner)
    assert [(o.check_id, o.outcome) for o in outcomes] == [("virtio", ROLLED_BACK), ("nvme", ROLLED_BACK)]
    assert "something broke" in outcomes[0].message
    assert (base / "boot/initrd.img-6.1").read_bytes() == BIG
    assert not (base / "var/lib/initramfs-tools/6.1").exists()
    assert (base / "etc/modules").read_bytes() == b"# modules\n"


def test_rollback_leaves_an_image_changed_since_the_command(base):
    runner = FileRunner(base)
    ctx, journal, _outcomes = run(base, [make_fix("virtio")], runner)
    (base / "boot/initrd.img-6.1").write_bytes(b"rebuilt again by the user")
    outcomes = dict((r["op"], (o, m)) for r, o, m in journal.rollback(ctx))
    assert outcomes["command"][0] == "conflict"
    assert "/boot/initrd.img-6.1" in outcomes["command"][1]
    assert (base / "boot/initrd.img-6.1").read_bytes() == b"rebuilt again by the user"


def test_a_command_interrupted_before_done_is_restored_anyway(base):
    ctx = Context(Root(str(base)), runner=FileRunner(base))
    journal = Journal.create(StateDir(ctx.root), {"items": ["virtio"]})
    journal.apply(ctx, "virtio", REBUILD)
    journal.records = [r for r in journal.records if r["type"] != "done"]   # a crash mid-command
    assert [o for _r, o, _m in journal.rollback(ctx)] == ["restored"]
    assert (base / "boot/initrd.img-6.1").read_bytes() == BIG


def test_commands_without_run_last_are_not_deduplicated(base):
    plain = REBUILD._replace(run_last=False)
    runner = FileRunner(base)
    run(base, [make_fix("virtio", [plain]), make_fix("nvme", [plain])], runner)
    assert len(runner.calls) == 3   # two plain ones in their plans, one shared run_last


def test_a_refused_plan_is_skipped_with_its_reason(base):
    class Refusing(Remediation):
        id = "virtio"

        def plan(self, ctx, result):
            raise Refused("/boot has 3 MiB free; rebuilding needs about 40 MiB")
    _ctx, journal, outcomes = run(base, [Refusing], FileRunner(base))
    assert journal is None
    assert [(o.outcome, o.message) for o in outcomes] == [
        (SKIPPED, "/boot has 3 MiB free; rebuilding needs about 40 MiB")]


class LinkRunner(object):
    """Plays a command that swaps a file and a symlink (as dpkg, sed -i or ln -sf do)."""

    def __init__(self, base, action):
        self.base, self.action = base, action

    def command_line(self, argv):
        return tuple(argv)

    def run(self, argv, env=None, timeout=None, stdin_text=None, network=False):
        self.action(self.base)
        return Completed(tuple(argv), 0, "", "")


def _journal_run(base, runner, modifies):
    ctx = Context(Root(str(base)), runner=runner)
    journal = Journal.create(StateDir(ctx.root), {"root": str(base), "items": ["toy"], "argv": []})
    journal.apply(ctx, "toy", RunCommand(("swap",), why="swap", modifies=modifies))
    journal.end("complete")
    return ctx, journal


def test_rollback_of_a_file_a_command_made_a_link_does_not_write_through_the_link(base):
    (base / "usr/lib").mkdir(parents=True)
    (base / "usr/lib/os-release").write_bytes(b"ID=debian\n")
    (base / "etc/os-release").write_bytes(b"ID=debian\n# edited\n")

    def to_link(root):
        os.remove(str(root / "etc/os-release"))
        os.symlink("../usr/lib/os-release", str(root / "etc/os-release"))
    ctx, journal = _journal_run(base, LinkRunner(base, to_link), ("/etc/os-release",))
    assert os.path.islink(str(base / "etc/os-release"))
    outcomes = journal.rollback(ctx)
    assert [o for _r, o, _m in outcomes] == ["restored"]
    assert not os.path.islink(str(base / "etc/os-release"))
    assert (base / "etc/os-release").read_bytes() == b"ID=debian\n# edited\n"
    assert (base / "usr/lib/os-release").read_bytes() == b"ID=debian\n"   # the link's target untouched


def test_rollback_puts_back_a_link_a_command_replaced_with_a_file(base):
    (base / "usr/lib").mkdir(parents=True)
    (base / "usr/lib/os-release").write_bytes(b"ID=debian\n")
    os.symlink("../usr/lib/os-release", str(base / "etc/os-release"))

    def to_file(root):
        os.remove(str(root / "etc/os-release"))
        (root / "etc/os-release").write_bytes(b"ID=debian\n# a copy\n")
        (root / "usr/lib/os-release").write_bytes(b"ID=debian\nVERSION=x\n")   # and through it
    ctx, journal = _journal_run(base, LinkRunner(base, to_file), ("/etc/os-release",))
    outcomes = journal.rollback(ctx)
    assert [o for _r, o, _m in outcomes] == ["restored"]
    assert os.readlink(str(base / "etc/os-release")) == "../usr/lib/os-release"
    assert (base / "usr/lib/os-release").read_bytes() == b"ID=debian\n"


def test_a_failing_command_without_output_says_so(base):
    class Silent(object):
        def command_line(self, argv):
            return tuple(argv)

        def run(self, argv, env=None, timeout=None, stdin_text=None, network=False):
            return Completed(tuple(argv), 1, "", "")
    ctx = Context(Root(str(base)), runner=Silent())
    journal = Journal.create(StateDir(ctx.root), {"root": str(base), "items": ["toy"], "argv": []})
    with pytest.raises(Exception) as raised:
        journal.apply(ctx, "toy", RunCommand(("false",), why="fail"))
    assert str(raised.value) == "false exited with 1 (no output)"
