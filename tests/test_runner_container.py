"""How a mounted image's programs run (issue 11): in systemd-nspawn or bubblewrap, never a
plain chroot unless asked for; refused with the package to install when neither tool exists;
plan says per step how each runs. And the state lock covers the runner's children, which
run in their own process group (issue 12, item 2)."""
import os
import signal
import subprocess
import sys
import time

import pytest

from agent.output import report

from agent.core import runner as runner_mod
from agent.core.context import Context
from agent.core.engine import Engine
from agent.core.journal import Busy, StateDir
from agent.core.model import Check, Remediation, RunCommand, WriteFile
from agent.core.rootfs import Root
from agent.core.runner import BWRAP, CHROOT, NSPAWN, Runner, bwrap_argv, containment, nspawn_argv

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def which_only(*present):
    return lambda name: "/usr/bin/" + name if name in present else None


# -- the container's command line ------------------------------------------------------

@pytest.mark.parametrize("network", [False, True])
def test_nspawn_line_shows_only_the_image_and_drops_admin_capabilities(network):
    line = nspawn_argv("/usr/bin/systemd-nspawn", "/mnt/img", ["apt-get", "install", "x"], network,
                       {"LC_ALL": "C"})
    assert "--directory=/mnt/img" in line
    assert line[line.index("--") + 1:] == ["apt-get", "install", "x"]
    options = line[:line.index("--")]
    # No host directory bound in, no host environment passed: only what is set.
    assert not [o for o in options if o.startswith(("--bind", "--overlay", "--tmpfs=/mnt"))]
    assert [o for o in options if o.startswith("--setenv=")] == ["--setenv=LC_ALL=C"]
    assert ("--private-network" in options) is (not network)
    assert "--timezone=off" in options and "--link-journal=no" in options
    dropped = [o for o in options if o.startswith("--drop-capability=")][0].split("=", 1)[1].split(",")
    for cap in ("CAP_SYS_ADMIN", "CAP_MKNOD", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_NET_ADMIN", "CAP_SYS_PTRACE"):
        assert cap in dropped
    assert not set(dropped) & set(runner_mod.KEEP_CAPS)


@pytest.mark.parametrize("network", [False, True])
def test_bwrap_line_binds_only_the_image_and_keeps_few_capabilities(network):
    line = bwrap_argv("/usr/bin/bwrap", "/mnt/img", ["update-initramfs", "-u"], network, {"LC_ALL": "C"})
    options = line[:line.index("--")]
    binds = [(options[i], options[i + 1], options[i + 2]) for i, o in enumerate(options)
             if o in ("--bind", "--ro-bind", "--ro-bind-try", "--dev-bind")]
    expected = [("--bind", "/mnt/img", "/"), ("--ro-bind", "/sys", "/sys")]
    if network:
        expected.append(("--ro-bind-try", "/etc/resolv.conf", "/etc/resolv.conf"))
    assert binds == expected
    assert ("--unshare-net" in options) is (not network)
    assert "--proc" in options and "--dev" in options and "--clearenv" in options
    assert "--unshare-user" not in options      # root stays root to the image's files
    assert options[options.index("--cap-drop") + 1] == "ALL"
    added = [options[i + 1] for i, o in enumerate(options) if o == "--cap-add"]
    assert added == list(runner_mod.KEEP_CAPS) and "CAP_SYS_ADMIN" not in added


def test_containment_prefers_nspawn_then_bwrap_and_refuses_naming_the_packages():
    assert containment("/", which=which_only()).tool == "live"
    assert containment("/mnt/img", which=which_only(NSPAWN, BWRAP)).tool == NSPAWN
    assert containment("/mnt/img", which=which_only(BWRAP)).tool == BWRAP
    assert containment("/mnt/img", "bwrap", which=which_only(NSPAWN, BWRAP)).tool == BWRAP
    none = containment("/mnt/img", which=which_only("chroot"))
    assert none.tool == "" and "systemd-container" in none.refused and "bubblewrap" in none.refused
    assert "--unsafe-chroot" in none.refused
    asked = containment("/mnt/img", "bwrap", which=which_only(NSPAWN))
    assert asked.refused == "bwrap is not installed on this machine: install bubblewrap"
    # --unsafe-chroot: a container still when one exists, a chroot only when none does
    assert containment("/mnt/img", CHROOT, which=which_only(NSPAWN, "chroot")).tool == NSPAWN
    assert containment("/mnt/img", CHROOT, which=which_only("chroot")).tool == CHROOT


def test_a_refused_command_is_never_started(tmp_path):
    runner = Runner(str(tmp_path), container="auto")
    runner._containment = containment(str(tmp_path), which=which_only())
    done = runner.run(["touch", str(tmp_path / "ran")])
    assert done.returncode == 126 and "systemd-container" in done.stderr
    assert not (tmp_path / "ran").exists()


# -- engine and plan ------------------------------------------------------------------

class Broken(Check):
    id = "toy"
    item = "TOY.Toy"
    repair_item = "toy"
    title = "toy"

    def run(self, ctx):
        return self.failed("broken", "fix it")


class ToyFix(Remediation):
    id = "toy"

    def plan(self, ctx, result):
        return [WriteFile("/etc/toy", b"fixed\n"),
                RunCommand(("apt-get", "install", "-y", "toy"), why="install toy", network=True),
                RunCommand(("update-initramfs", "-u"), why="rebuild")]


def toy_root(tmp_path):
    root = tmp_path / "img"
    for d in ("etc", "usr/bin"):
        (root / d).mkdir(parents=True)
    return str(root)


def plan_with(tmp_path, present):
    path = toy_root(tmp_path)
    runner = Runner(path)
    runner._containment = containment(path, which=which_only(*present))
    ctx = Context(Root(path), runner=runner)
    engine = Engine([Broken], [ToyFix])
    return ctx, engine.plan(ctx, engine.checks, engine.run_checks(ctx))


def test_without_a_container_tool_the_plan_is_refused_and_says_what_to_install(tmp_path):
    ctx, plans = plan_with(tmp_path, ())
    assert plans[0].steps == [] and plans[0].uncontained
    assert plans[0].skipped.startswith("runs the image's apt-get, update-initramfs: ")
    assert "install systemd-container (or bubblewrap)" in plans[0].skipped
    engine = Engine([Broken], [ToyFix])
    state = StateDir(ctx.root)
    journal, outcomes = engine.apply(ctx, plans, state)
    assert journal is None and outcomes[0].outcome == "SKIPPED"
    assert not os.path.exists(os.path.join(ctx.root.path, "etc/toy"))


@pytest.mark.parametrize("present, text", [
    ((NSPAWN, BWRAP), "runs the image's apt-get inside systemd-nspawn, network on"),
    ((BWRAP,), "runs the image's apt-get inside bubblewrap, network on"),
])
def test_plan_says_per_step_how_the_images_program_runs(tmp_path, present, text):
    ctx, plans = plan_with(tmp_path, present)
    out = []

    class Out(object):
        def write(self, s):
            out.append(s)

        def isatty(self):
            return False
    report.plan_text(ctx, plans, Out())
    shown = "".join(out)
    assert "$ apt-get install -y toy\n     ({})".format(text) in shown
    assert "$ update-initramfs -u\n     ({})".format(text.replace("apt-get", "update-initramfs")
                                                     .replace("network on", "network off")) in shown
    steps = report.plans_json(ctx, plans)[0]["steps"]
    runs = [s["runs"] for s in steps if s["kind"] == "command"]
    assert [(r["program"], r["from_image"], r["contained"], r["network"]) for r in runs] == [
        ("apt-get", True, True, True), ("update-initramfs", True, True, False)]


def test_live_plan_says_it_runs_on_this_system():
    ctx = Context(Root("/"), runner=Runner("/"), os_info=object(), live=object())
    info = report.step_dict(ctx, RunCommand(("apt-get", "update"), network=True))
    assert info["runs"]["text"] == "live: runs apt-get on this system"
    assert not info["runs"]["from_image"]


def test_plan_script_runs_commands_in_a_container_not_a_chroot(tmp_path):
    ctx, plans = plan_with(tmp_path, (NSPAWN, BWRAP))
    script = report.plan_script(ctx, plans)
    assert "chroot \"$ROOT\"" not in script
    assert "in_root 1 'apt-get' 'install' '-y' 'toy'" in script
    assert "in_root 0 'update-initramfs' '-u'" in script
    assert "'--directory='\"$ROOT\"" in script and "'--private-network'" in script
    assert "'--bind' \"$ROOT\" '/'" in script and "'--machine=guestprep-'\"$$\"" in script
    assert "install systemd-container or bubblewrap" in script
    done = subprocess.run(["sh", "-n"], input=script.encode(), stderr=subprocess.PIPE)
    assert done.returncode == 0, done.stderr


# -- children: process group, and the state lock (issue 12 item 2) -----------------------

def test_a_timeout_stops_the_commands_whole_process_group(tmp_path, monkeypatch):
    monkeypatch.setattr(runner_mod, "STOP_GRACE", 2)
    pidfile = tmp_path / "grandchild"
    started = time.time()
    done = Runner("/").run(["sh", "-c", "sleep 60 & echo $! > {}; wait".format(pidfile)], timeout=1)
    assert done.returncode == 124 and time.time() - started < 10
    pid = int(pidfile.read_text())
    time.sleep(0.3)
    assert not alive(pid)      # the grandchild went with its group


def alive(pid):
    """True while `pid` runs (a zombie waiting for its new parent to reap it does not)."""
    try:
        with open("/proc/{}/stat".format(pid)) as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


HOLDER = r"""
import os, sys, time
sys.path.insert(0, {repo!r})
from agent.core.journal import StateDir
from agent.core.rootfs import Root
from agent.core.runner import Runner
state = StateDir(Root({root!r}))
state.lock()
runner = Runner("/")
runner.lock_fds = state.lock_fds
print("locked", flush=True)
runner.run(["sh", "-c", "touch {started}; sleep 4"])
"""


def test_the_lock_stays_held_by_a_command_after_guestprep_is_killed(tmp_path):
    root = toy_root(tmp_path)
    started = tmp_path / "started"
    proc = subprocess.Popen([sys.executable, "-c", HOLDER.format(repo=REPO, root=root, started=started)],
                            stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b"locked"
    deadline = time.time() + 10
    while not started.exists() and time.time() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)          # only guestprep, not its child
    proc.wait()
    state = StateDir(Root(root))
    with pytest.raises(Busy):
        state.lock()                           # the child still holds it
    deadline = time.time() + 15
    while time.time() < deadline:
        try:
            state.lock()
            break
        except Busy:
            time.sleep(0.2)
    else:
        pytest.fail("the lock was never released after the command ended")
    state.unlock()
