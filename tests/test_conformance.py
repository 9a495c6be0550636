"""Every check and remediation follows the house rules (like sos's plugin conformance test)."""
import ast
import os
import pkgutil
import re
import shutil

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


# Imported only where they are used (issue 14: import only what runs); each costs 1 to 12 ms
# of a check that takes 200 ms.
LAZY_MODULES = ("agent.core.journal", "logging", "yaml", "xml.etree.ElementTree", "difflib", "subprocess",
                "tempfile", "ipaddress", "typing", "hashlib")


def _modules_after_check(root):
    import subprocess
    import sys
    code = ("import sys; from agent.output import cli; cli.main(['check', '--root', sys.argv[1], '--format', "
            "'json']); print('imported:', *sorted(m for m in sys.modules if m in sys.argv[2:]))")
    out = subprocess.check_output([sys.executable, "-c", code, str(root)] + list(LAZY_MODULES), cwd=HERE,
                                  universal_newlines=True)
    last = out.strip().splitlines()[-1].split()
    assert last[0] == "imported:"
    return last[1:]


def test_check_imports_only_what_runs(tmp_path):
    """A root without YAML, firewalld zones, static addresses or a compressed initramfs: check
    imports none of the journal, logging, PyYAML, xml, difflib, subprocess, tempfile, ipaddress,
    typing, and no hashlib (OpenSSL) for the MD5 of a dpkg conffile either. A netplan file brings
    PyYAML in (it is needed then)."""
    import importlib.util
    (tmp_path / "etc").mkdir()
    (tmp_path / "usr").mkdir()
    (tmp_path / "etc/os-release").write_text('ID=debian\nVERSION_ID="12"\nNAME="Debian GNU/Linux"\n')
    (tmp_path / "etc/issue").write_text("Debian GNU/Linux 12 \\n \\l\n")
    (tmp_path / "var/lib/dpkg").mkdir(parents=True)
    (tmp_path / "var/lib/dpkg/status").write_text(
        "Package: base-files\nStatus: install ok installed\nVersion: 12.4\n"
        "Conffiles:\n /etc/issue 0123456789abcdef0123456789abcdef\n\n")
    own_md5 = importlib.util.find_spec("_md5") is not None     # else hashlib is how to get MD5
    expected = [] if own_md5 else ["hashlib"]
    assert _modules_after_check(tmp_path) == expected
    # Debian 12's stock cloud-init files are read without PyYAML (agent.parsers.yamlplain); a
    # file outside that reader's subset brings it in.
    with open(str(tmp_path / "var/lib/dpkg/status"), "a") as status:
        status.write("Package: cloud-init\nStatus: install ok installed\nVersion: 22.4.2-1+deb12u4\n\n")
    (tmp_path / "etc/cloud/cloud.cfg.d").mkdir(parents=True)
    for name, dest in (("debian12-cloud.cfg", "etc/cloud/cloud.cfg"),
                       ("debian12-05_logging.cfg", "etc/cloud/cloud.cfg.d/05_logging.cfg")):
        shutil.copy(os.path.join(HERE, "tests", "fixtures", "yaml", name), str(tmp_path / dest))
    assert _modules_after_check(tmp_path) == expected
    (tmp_path / "etc/cloud/cloud.cfg.d/90-timeout.cfg").write_text("datasource:\n  AliYun:\n    timeout: 2.5\n")
    assert "yaml" in _modules_after_check(tmp_path)
    os.remove(str(tmp_path / "etc/cloud/cloud.cfg.d/90-timeout.cfg"))
    (tmp_path / "etc/netplan").mkdir()
    (tmp_path / "etc/netplan/50-cloud-init.yaml").write_text(
        "network:\n  version: 2\n  ethernets:\n    eth0:\n      dhcp4: true\n")
    assert "yaml" in _modules_after_check(tmp_path)


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


def _imports(path):
    """(lineno, module) of every import in the file; `from agent.checks import x` gives
    agent.checks.x, a relative import is made absolute."""
    rel = os.path.relpath(path, HERE)
    package = os.path.dirname(rel).replace(os.sep, ".")
    with open(path) as handle:
        tree = ast.parse(handle.read(), path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            found.append((node.lineno, base))
            found.extend((node.lineno, base + "." + a.name) for a in node.names)
    return found


def _check_modules():
    return set(modules(agent.checks))


def test_no_check_imports_another_check():
    """A helper two checks need lives in agent/facts (or core), never in a check module."""
    offenders = []
    names = _check_modules()
    for name in sorted(names):
        path = os.path.join(HERE, "agent", "checks", name + ".py")
        for lineno, module in _imports(path):
            parts = module.split(".")
            if parts[:2] == ["agent", "checks"] and len(parts) > 2 and parts[2] in names and parts[2] != name:
                offenders.append("agent/checks/{}.py:{} imports {}".format(name, lineno, module))
    assert offenders == []


def test_a_remediation_imports_no_check_but_its_own():
    offenders = []
    names = _check_modules()
    for name in modules(remediations):
        path = os.path.join(HERE, "remediations", name + ".py")
        for lineno, module in _imports(path):
            parts = module.split(".")
            if parts[:2] == ["agent", "checks"] and len(parts) > 2 and parts[2] in names and parts[2] != name:
                offenders.append("remediations/{}.py:{} imports {}".format(name, lineno, module))
    assert offenders == []


# The layers of the packages (README "Architecture"): what each may import of agent/ and
# remediations/. A package imports its own modules; `agent` itself holds only __version__ and
# agent/tuples.py, which every layer may import.
# Whether a check imports another check, or a fix another check than its own, is tested above.
LAYERS = {
    "parsers": set(),
    "core": set(),                          # but for CORE_READS_FACTS below
    "facts": {"core", "parsers"},
    "netformats": {"core", "parsers"},
    "checks": {"core", "facts", "parsers", "netformats"},
    "remediations": {"core", "facts", "parsers", "netformats", "checks"},
    "output": {"core", "facts", "parsers", "netformats", "checks", "remediations", "host"},
    "host": {"core", "facts", "parsers", "output"},
}
# The few places the core must ask the facts layer, each for a reason: the context holds the
# run's OS and package facts and its lazy live facts; the engine turns a missing optional
# module (facts.live.Unavailable) into a SKIP; the shutdown unit is installed where unit
# files live; applicability is judged on the OS family and the architecture.
CORE_READS_FACTS = {
    "agent/core/context.py": {"agent.facts.osinfo", "agent.facts.packages", "agent.facts.live"},
    "agent/core/engine.py": {"agent.facts.live"},
    "agent/core/shutdown.py": {"agent.facts.services"},
    "agent/core/applicability.py": {"agent.facts.osinfo", "agent.facts.elf"},
}
# What makes a parser impure: it reads text it is given, it never opens, lists or runs.
IO_MODULES = FORBIDDEN_MODULES | {"stat", "fcntl", "socket"}


def _layer(module):
    """The layer of a dotted module name ('agent.facts.boot' -> 'facts'), None outside the
    project, 'agent' for the package itself."""
    parts = module.split(".")
    if parts[0] == "remediations":
        return "remediations"
    if parts[0] != "agent":
        return None
    if len(parts) > 1 and os.path.isfile(os.path.join(HERE, "agent", parts[1] + ".py")):
        return "agent"     # agent/__main__.py, agent/tuples.py
    return parts[1] if len(parts) > 1 else "agent"


def test_every_package_of_agent_has_a_layer():
    packages = sorted(m.name for m in pkgutil.iter_modules(agent.__path__) if m.ispkg)
    assert sorted(set(packages) - {"locale"}) == sorted(set(LAYERS) - {"remediations"})


def test_each_layer_imports_only_the_layers_below_it():
    offenders = []
    for path in _shipped_files():
        rel = os.path.relpath(path, HERE)
        layer = _layer(rel[:-3].replace(os.sep, "."))
        if layer == "agent":         # agent/__init__ and __main__ (the entry: output's cli)
            continue
        for lineno, module in _imports(path):
            target = _layer(module)
            if target in (None, "agent", layer) or target in LAYERS[layer]:
                continue
            named = ".".join(module.split(".")[:3])
            if layer == "core" and target == "facts" and (
                    module == "agent.facts" or named in CORE_READS_FACTS.get(rel, ())):
                continue
            offenders.append("{}:{} ({}) imports {} ({})".format(rel, lineno, layer, module, target))
    assert sorted(set(offenders)) == []


def test_the_cores_imports_of_facts_are_exactly_the_listed_ones():
    """CORE_READS_FACTS stays small and true: an entry the code no longer needs goes."""
    found = {}
    for rel in CORE_READS_FACTS:
        for _lineno, module in _imports(os.path.join(HERE, rel)):
            if _layer(module) == "facts" and module != "agent.facts":
                found.setdefault(rel, set()).add(".".join(module.split(".")[:3]))
    assert found == CORE_READS_FACTS


def test_parsers_are_pure_text_functions():
    """agent/parsers read the text they are given: no file, process or root access, and no
    module of agent but parsers (so facts, netformats, checks and fixes share them freely)."""
    offenders = []
    directory = os.path.join(HERE, "agent", "parsers")
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".py"):
            continue
        path = os.path.join(directory, name)
        rel = os.path.relpath(path, HERE)
        for lineno, module in _imports(path):
            if module.split(".")[0] in IO_MODULES or _layer(module) not in (None, "parsers") and \
                    module not in ("agent.tuples", "agent.tuples.namedtuple"):
                offenders.append("{}:{} imports {}".format(rel, lineno, module))
        with open(path) as handle:
            tree = ast.parse(handle.read(), path)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_CALLS:
                offenders.append("{}:{} calls {}()".format(rel, node.lineno, node.func.id))
    assert offenders == []


# Knowledge the facts layer holds alone: where unit files live, /etc/default/grub, the ELF
# header. A second definition is a copy that drifts (issue 13).
FACT_CONSTANTS = {"UNIT_DIRS", "DEFAULT_GRUB", "GRUBENV", "GRUBENVS", "GRUB_CFGS", "GRUB2_CFGS", "ELF_MACHINES",
                  "ELF_PROBES", "ELF_CANDIDATES", "EM_X86_64", "EM_AARCH64", "_MACHINES"}
ELF_MAGIC = b"\x7fELF"


def _shipped_files():
    for package in ("agent", "remediations"):
        for directory, _dirs, files in os.walk(os.path.join(HERE, package)):
            for name in sorted(files):
                if name.endswith(".py"):
                    yield os.path.join(directory, name)


def _bytes(node):
    """The value of a bytes literal (ast.Bytes on 3.6, ast.Constant later), else b''."""
    kind = type(node).__name__
    value = node.s if kind == "Bytes" else node.value if kind == "Constant" else None
    return value if isinstance(value, bytes) else b""


def test_boot_service_and_elf_knowledge_is_defined_only_in_the_facts_layer():
    offenders = []
    facts_dir = os.path.join(HERE, "agent", "facts") + os.sep
    for path in _shipped_files():
        if path.startswith(facts_dir):
            continue
        rel = os.path.relpath(path, HERE)
        with open(path) as handle:
            tree = ast.parse(handle.read(), path)
        for node in ast.walk(tree):
            targets = node.targets if isinstance(node, ast.Assign) else \
                [node.target] if isinstance(node, ast.AnnAssign) else []
            for target in targets:
                if isinstance(target, ast.Name) and target.id in FACT_CONSTANTS:
                    offenders.append("{}:{} defines {}".format(rel, node.lineno, target.id))
            if _bytes(node).startswith(ELF_MAGIC):
                offenders.append("{}:{} parses an ELF header (agent.facts.elf does)".format(rel, node.lineno))
    assert sorted(set(offenders)) == []


def test_importing_the_facts_package_imports_none_of_its_modules():
    """agent.facts is a namespace: a caller imports the module it needs (startup time)."""
    import subprocess
    import sys
    code = "import sys, agent.facts; print(sorted(m for m in sys.modules if m.startswith('agent.facts.')))"
    out = subprocess.check_output([sys.executable, "-c", code], cwd=HERE, universal_newlines=True)
    assert out.strip() == "[]"


_DOC_CITE = re.compile(r"[Ss]eeds? 00[0-4](?:(?:, | and | or |/)00[0-4])*|\(00[0-4](?:, 00[0-4])*\)")


def test_a_check_whose_docstring_cites_seeds_declares_refs():
    """The seeds a check follows are data (Check.refs, every finding's refs by default), so
    the report's legend names them whatever a finding's wording says (issue 13)."""
    offenders = []
    for cls in CHECKS:
        doc = __import__(cls.__module__, fromlist=["_"]).__doc__ or ""
        cited = set(re.findall(r"00[0-4]", " ".join(m.group(0) for m in _DOC_CITE.finditer(doc))))
        if cited and not (set(cls.refs) & cited):
            offenders.append("{}: docstring cites {}, refs {}".format(cls.id, sorted(cited), cls.refs))
    assert offenders == []


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
