"""A command killed halfway (an initramfs rebuild) leaves nothing that rollback does not know.

update-initramfs writes `initrd.img-X.new` and keeps `initrd.img-X.dpkg-bak`; dracut writes
`initramfs-X.img.<pid>`; grub-mkconfig `grub.cfg.new`. A command declares the files it
modifies; the journal records the names in their directories before it runs, and rollback
removes the new entries named after those files -- never one that was there before, nor one
someone made after a command that finished.

A real process runs a toy fix whose command is a shell script in the temporary root: it
writes such leftovers and then kills guestprep (only the parent, or the whole process
group). `guestprep rollback` must then give /boot back exactly: same names, same bytes.
"""
import os
import signal
import subprocess
import sys

import pytest

import safetylib
from safetylib import guestprep, tree_state

REBUILD = r"""#!/bin/sh
# A stand-in for update-initramfs / dracut: leftovers first, then the crash.
R="$1"
cp "$R/boot/initrd.img-6.1" "$R/boot/initrd.img-6.1.dpkg-bak"
head -c 3000 /dev/urandom > "$R/boot/initrd.img-6.1.new"        # a partial image
head -c 2000 /dev/urandom > "$R/boot/initramfs-6.1.img.$$"       # dracut's temp name
echo rebuilt > "$R/boot/initramfs-6.1.img"
case "$2" in
  parent) kill -KILL "$PPID"; exit 0 ;;
  # guestprep's whole process group: the command runs in a session of its own (the runner
  # puts it there), so kill guestprep's group (the driver leads it), then its own.
  group) kill -9 "-$GUESTPREP_TEST_DRIVER"; kill -KILL 0 ;;
  *) rm -f "$R/boot/initrd.img-6.1.new"; mv "$R/boot/initramfs-6.1.img.$$" "$R/boot/initramfs-6.1.img" ;;
esac
"""

DRIVER = r"""
import os
import sys
sys.path.insert(0, sys.argv[1])
from agent.core.context import Context
from agent.core.engine import Engine
from agent.core.journal import StateDir
from agent.core.model import Check, Remediation, RunCommand, WriteFile
from agent.core.rootfs import Root
from agent.core.runner import Runner

root, script, mode = sys.argv[2:5]


class ToyCheck(Check):
    id = "toy"
    item = "TOY.toy"
    repair_item = "toy"
    title = "toy"

    def run(self, ctx):
        if b"virtio" in ctx.root.read_bytes("/etc/modules"):
            return self.passed("ok")
        return self.failed("no virtio", "add it")


class ToyFix(Remediation):
    id = "toy"

    def plan(self, ctx, result):
        return [WriteFile("/etc/modules", b"virtio\n"),
                RunCommand(("sh", script, root, mode), why="rebuild", run_last=True,
                           env={"GUESTPREP_TEST_DRIVER": str(os.getpid())},
                           modifies=("/boot/initrd.img-6.1", "/boot/initramfs-6.1.img"))]


engine = Engine([ToyCheck], [ToyFix])
ctx = Context(Root(root), runner=Runner("/"))     # the script runs on the host, on the temp root only
plans = engine.plan(ctx, engine.checks, engine.run_checks(ctx))
state = StateDir(ctx.root)
state.lock()
journal, outcomes = engine.apply(ctx, plans, state)
print(" ".join(o.outcome for o in outcomes))
"""


KILLS = []


def make_root(tmp_path):
    root = safetylib.mini_root(str(tmp_path / "root"))
    safetylib.write(root, "/etc/modules", "# modules\n")
    safetylib.write(root, "/boot/initrd.img-6.1", os.urandom(50000), 0o600)
    safetylib.write(root, "/boot/initramfs-6.1.img", os.urandom(40000), 0o600)
    safetylib.write(root, "/boot/config-6.1", "CONFIG_VIRTIO=y\n")
    # Named like a leftover but there before: rollback must not touch it.
    safetylib.write(root, "/boot/initrd.img-6.1.old-dkms", "the admin's copy\n")
    script = safetylib.write(root, "/usr/local/sbin/fake-rebuild", REBUILD, 0o755)
    driver = str(tmp_path / "driver.py")
    with open(driver, "w") as handle:
        handle.write(DRIVER)
    return root, script, driver


def run_driver(driver, root, script, mode):
    # A session of its own: `kill -KILL 0` in the script ends guestprep and the script, not pytest.
    return subprocess.run([sys.executable, driver, safetylib.REPO, root, script, mode],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                          timeout=120, env=safetylib.cli_env())


@pytest.mark.parametrize("mode", ["parent", "group"])
def test_a_rebuild_killed_halfway_is_rolled_back_with_its_leftovers(tmp_path, mode):
    root, script, driver = make_root(tmp_path)
    before = tree_state(root + "/boot")
    done = run_driver(driver, root, script, mode)
    assert done.returncode == -signal.SIGKILL, done
    boot = sorted(os.listdir(root + "/boot"))
    assert "initrd.img-6.1.new" in boot and "initrd.img-6.1.dpkg-bak" in boot, boot
    back = guestprep("rollback", "--root", root)
    safetylib.no_traceback(back)
    assert back.returncode == 0, back
    assert "initrd.img-6.1.new" in back.out, back           # said, not silently removed
    assert tree_state(root + "/boot") == before
    assert guestprep("rollback", "--root", root).returncode == 0    # nothing pending any more
    KILLS.append(mode)
    safetylib.record("command_leftovers", {"kills": len(KILLS)})


def test_after_a_finished_rebuild_only_its_own_leftovers_go(tmp_path):
    root, script, driver = make_root(tmp_path)
    before = tree_state(root + "/boot")
    done = run_driver(driver, root, script, "finish")
    assert done.returncode == 0 and b"FIXED" in done.stdout, done
    assert os.path.exists(root + "/boot/initrd.img-6.1.dpkg-bak")
    # Made after the run by someone else, named like a leftover: not guestprep's to remove.
    later = safetylib.write(root, "/boot/initrd.img-6.1.later", "made after the run\n")
    back = guestprep("rollback", "--root", root)
    assert back.returncode == 0, back
    assert os.path.exists(later)
    os.unlink(later)
    assert tree_state(root + "/boot") == before
