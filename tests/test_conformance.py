"""Every check and remediation follows the house rules (like sos's plugin conformance test)."""
import ast
import os
import pkgutil
import re

import agent.checks
import remediations
from agent.checks import CHECKS
from agent.core.model import Check, Remediation
from remediations import REMEDIATIONS

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ITEM = re.compile(r"^(GUESTOS\.[A-Za-z]+|[a-z][a-z0-9-]*)$")


def modules(package):
    return sorted(m.name for m in pkgutil.iter_modules(package.__path__))


def test_every_check_module_is_registered_once_with_its_module_name():
    assert sorted(c.__module__.rsplit(".", 1)[1] for c in CHECKS) == modules(agent.checks)
    for cls in CHECKS:
        assert issubclass(cls, Check)
        assert cls.id == cls.__module__.rsplit(".", 1)[1]
        assert ITEM.match(cls.item), cls.item
        assert cls.title and cls.item
    assert len(set(c.id for c in CHECKS)) == len(CHECKS)


def test_every_remediation_is_registered_and_paired_with_its_check():
    assert sorted(r.__module__.rsplit(".", 1)[1] for r in REMEDIATIONS) == modules(remediations)
    check_ids = set(c.id for c in CHECKS)
    for cls in REMEDIATIONS:
        assert issubclass(cls, Remediation)
        assert cls.id == cls.__module__.rsplit(".", 1)[1]
        assert cls.id in check_ids
        assert cls.mode in ("auto", "defer", "propose", "report")


def test_every_check_has_a_docstring_citing_why():
    for cls in CHECKS:
        module = __import__(cls.__module__, fromlist=["_"])
        assert module.__doc__ and len(module.__doc__) > 80, cls.__module__


FORBIDDEN_CALLS = {"open", "exec", "eval"}
FORBIDDEN_MODULES = {"os", "subprocess", "shutil", "glob", "io", "tempfile", "pathlib", "psutil"}


def source_files():
    for package in ("agent/checks", "remediations"):
        directory = os.path.join(HERE, package)
        for name in sorted(os.listdir(directory)):
            if name.endswith(".py"):
                yield os.path.join(package, name)


def test_checks_and_remediations_touch_files_and_processes_only_through_the_context():
    problems = []
    for rel in source_files():
        with open(os.path.join(HERE, rel)) as handle:
            tree = ast.parse(handle.read(), rel)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [(node.module or "").split(".")[0]]
            else:
                names = []
            for name in names:
                if name in FORBIDDEN_MODULES:
                    problems.append("{}:{} imports {}".format(rel, node.lineno, name))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_CALLS:
                problems.append("{}:{} calls {}()".format(rel, node.lineno, node.func.id))
    assert problems == []


def test_agent_never_imports_remediations_except_the_cli_for_plan_and_fix():
    """Checking loads no code that writes: only cli.registries(with_fixes=True) imports them."""
    offenders = []
    for directory, _dirs, files in os.walk(os.path.join(HERE, "agent")):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(directory, name)
            with open(path) as handle:
                tree = ast.parse(handle.read(), path)
            for node in ast.walk(tree):
                mods = ([a.name for a in node.names] if isinstance(node, ast.Import)
                        else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                if any(m.split(".")[0] == "remediations" for m in mods):
                    offenders.append(os.path.relpath(path, HERE))
    assert offenders == ["agent/output/cli.py"]


def test_check_command_does_not_load_remediations(tmp_path):
    import subprocess
    import sys
    (tmp_path / "etc").mkdir()
    (tmp_path / "usr").mkdir()
    code = ("import sys; from agent.output import cli; cli.main(['check', '--root', sys.argv[1]]); "
            "print(sorted(m for m in sys.modules if m.startswith('remediations')))")
    out = subprocess.check_output([sys.executable, "-c", code, str(tmp_path)], cwd=HERE,
                                  universal_newlines=True)
    assert out.strip().splitlines()[-1] == "[]"


def test_checks_and_remediations_never_reach_for_the_executor():
    """Only the journal runs a fix's commands (ctx.executor); checks and plans have the
    runner, which on a mounted image cannot start the image's programs."""
    offenders = []
    for rel in source_files():
        with open(os.path.join(HERE, rel)) as handle:
            tree = ast.parse(handle.read(), rel)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ("executor", "_executor"):
                offenders.append("{}:{}".format(rel, node.lineno))
    assert offenders == []


def test_check_and_plan_contexts_cannot_run_the_images_programs(tmp_path):
    import argparse
    from agent.output import cli
    from agent.core.runner import ReadOnlyRunner, Runner
    (tmp_path / "etc").mkdir()
    (tmp_path / "usr").mkdir()
    args = argparse.Namespace(root=str(tmp_path), verbose=False, strict=False)
    ctx = cli._context(args)
    assert isinstance(ctx.runner, ReadOnlyRunner) and isinstance(ctx.executor, ReadOnlyRunner)
    done = ctx.executor.run(("rpm", "-qa"))
    assert done.returncode == 126 and "not run on an image" in done.stderr
    fix = cli._context(args, execute=True)
    assert isinstance(fix.runner, ReadOnlyRunner) and type(fix.executor) is Runner
    live = cli._context(argparse.Namespace(root="/", verbose=False, strict=False))
    assert type(live.runner) is Runner    # the running system's own tools are trusted


def test_every_checks_findings_on_the_fixture_roots_have_stable_codes_and_seed_refs(tmp_path):
    """Issue 13: findings are data a waiver, a translation and the seed legend rely on. Every
    check over every fixture root: codes "<check id>.<slug>" ([a-z0-9-]+), no finding twice,
    refs within the seeds 000..004, Message templates with named fields (checks converted to
    findings; tests/findingconformance.py). The pyfakefs scenarios are checked as they run
    (conftest.py's conforming_findings)."""
    import shutil
    from agent.checks import CHECKS
    from agent.core.context import Context
    from agent.core.engine import Engine
    from agent.core.rootfs import Root
    from agent.core.runner import ReadOnlyRunner
    from findingconformance import assert_conforming
    roots = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "roots")
    seen = {}
    for name in sorted(os.listdir(roots)):
        copy = tmp_path / name
        shutil.copytree(os.path.join(roots, name), str(copy), symlinks=True)
        root = Root(str(copy))
        ctx = Context(root, runner=ReadOnlyRunner(root.path))
        engine = Engine(CHECKS)
        for check, result in zip(engine.checks, engine.run_checks(ctx, engine.checks)):
            assert result.check_id == check.id
            # The engine's own SKIP (not applicable) and ERROR results are its wording, not the check's.
            made_by_check = not engine.not_applicable(ctx, check) and result.status != "ERROR"
            assert_conforming(check, result, texts=made_by_check)
            seen.setdefault(check.id, set()).update(f.code for f in result.findings)
    assert set(seen) == set(c.id for c in CHECKS)
    # Codes are public (waivers name them): a few that must not change.
    assert "selinux.enforcing" in seen["selinux"]
    assert "os_version.listed" in seen["os_version"]
