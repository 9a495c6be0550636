"""fix --root on a hostile image (issue 11): the image's programs run only in a container.

The real Debian root gets hostile programs: apt-get, dpkg, update-initramfs, usermod,
systemctl, sh, dracut, rpm, grub-mkconfig, dnf, zypper are scripts that try to read a file
planted on the host for the test and to write markers outside the image. In systemd-nspawn
and in bubblewrap they run (their log inside the image says so) but read nothing of the host
and write nothing outside the image, by path, by /proc/1/root, by an inherited descriptor or
by the classic chroot escape. In a plain chroot the same script escapes, reads the host's
file and writes outside the image, which is what shows this test can fail. And the state lock outlives a killed guestprep while its
child runs (issue 12 item 2).
"""
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from agent.core import runner as runner_mod
from agent.core.runner import Runner

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

PROGRAMS = ("apt-get", "dpkg", "update-initramfs", "usermod", "systemctl", "sh", "dracut", "rpm",
            "grub-mkconfig", "dnf", "zypper")
SECRET = "host-secret-3c1f9a"
TOOLS = [pytest.param(t, marks=pytest.mark.skipif(not shutil.which(t), reason=t + " is not installed"))
         for t in ("systemd-nspawn", "bwrap")]

HOSTILE = """#!/usr/bin/dash
name=${{0##*/}}
echo "$name ran" >>/var/log/hostile.log
if cat {secret} >>/var/log/hostile.log 2>/dev/null; then echo "$name READ-HOST-FILE" >>/var/log/hostile.log; fi
for target in {host}/marker-$name /proc/1/root{host}/marker-$name /../..{host}/marker-$name; do
  if echo pwned >"$target" 2>/dev/null; then echo "$name WROTE $target" >>/var/log/hostile.log; fi
done
# the classic chroot escape (chroot into a subdirectory, climb out of it with ..), in perl
if /usr/bin/perl -e 'mkdir "/.esc"; chroot "/.esc" or exit 1; chdir ".." for 1..64; chroot "." or exit 1;
    open(F, "<", $ARGV[0]) or exit 1; print <F>; open(G, ">", $ARGV[1]) or exit 1; print G "pwned\n";' \
    {secret} {host}/marker-escaped-$name >>/var/log/hostile.log 2>/dev/null; then
  echo "$name ESCAPED" >>/var/log/hostile.log
fi
for fd in /proc/self/fd/[3-9]*; do      # a descriptor of a host file handed down (the lock's)
  if [ -e "$fd" ] && echo pwned >>"$fd" 2>/dev/null; then echo "$name WROTE $fd" >>/var/log/hostile.log; fi
done
echo "$name" >/marker-$name
{tail}
"""


def make_hostile(debian, host, slow=None, tail="exit 0"):
    """Hostile programs first in the image's PATH (/usr/local/sbin), a secret on the host;
    the program named `slow` ends with `tail`."""
    host.mkdir(exist_ok=True)
    (host / "secret").write_text(SECRET + "\n")
    for name in PROGRAMS:
        debian.write("/usr/local/sbin/" + name, HOSTILE.format(
            secret=host / "secret", host=host, tail=tail if name == slow else "exit 0"), mode=0o755)


def host_markers(host):
    return sorted(n for n in os.listdir(str(host)) if n.startswith("marker"))


@pytest.mark.parametrize("tool", TOOLS)
def test_hostile_programs_run_only_inside_the_container(debian, tmp_path, tool):
    host = tmp_path / "host"
    make_hostile(debian, host)
    runner = Runner(debian.path, container=tool)
    # As in a fix with --backup-dir on the host: the state lock is a host file, and every
    # command holds it (issue 12), but the image's program never gets its descriptor.
    lock = os.open(str(host / "lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)
    runner.lock_fds = (lock,)
    for name in PROGRAMS:
        done = runner.run([name, "--version"], network=name in ("apt-get", "dnf", "zypper"))
        assert done.returncode == 0, (name, done.stderr)
    log = debian.read("/var/log/hostile.log").decode()
    assert sorted(line.split()[0] for line in log.splitlines() if line.endswith(" ran")) == sorted(PROGRAMS)
    assert SECRET not in log and "READ-HOST-FILE" not in log and "WROTE" not in log and "ESCAPED" not in log, log
    assert host_markers(host) == [] and os.path.getsize(str(host / "lock")) == 0
    os.close(lock)
    for name in PROGRAMS:          # what they wrote stayed in the image
        assert os.path.exists(debian.p("/marker-" + name))


def test_the_same_programs_in_a_plain_chroot_do_reach_the_host(debian, tmp_path, monkeypatch):
    """The control: without a container (--unsafe-chroot on a machine with no tool) the
    hostile script escapes the chroot, reads the host's file and writes outside the image."""
    host = tmp_path / "host"
    make_hostile(debian, host)
    real = shutil.which
    monkeypatch.setattr(runner_mod.shutil, "which", lambda n: None if n in ("systemd-nspawn", "bwrap") else real(n))
    done = Runner(debian.path, container="chroot").run(["apt-get", "--version"])
    assert done.returncode == 0, done.stderr
    log = debian.read("/var/log/hostile.log").decode()
    assert SECRET in log and "apt-get ESCAPED" in log, log
    assert host_markers(host) == ["marker-escaped-apt-get"]


@pytest.mark.parametrize("tool", TOOLS)
def test_fix_root_runs_the_images_package_manager_contained(debian, tmp_path, tool):
    host = tmp_path / "host"
    make_hostile(debian, host)
    code, out, err = debian.guestprep("plan", "--items", "qemu-ga", "--container", tool)
    shown = {"systemd-nspawn": "systemd-nspawn", "bwrap": "bubblewrap"}[tool]
    assert "(runs the image's apt-get inside {}, network on)".format(shown) in out, out + err
    assert "(runs the image's systemctl inside {}, network off)".format(shown) in out
    code, out, err = debian.guestprep("fix", "--yes", "--items", "qemu-ga", "--container", tool)
    log = debian.read("/var/log/hostile.log").decode()
    assert "systemctl ran" in log and "apt-get ran" in log, out + err
    assert SECRET not in log and "WROTE" not in log and "READ-HOST-FILE" not in log and "ESCAPED" not in log, log
    assert host_markers(host) == []
    assert os.path.exists(debian.p("/marker-apt-get"))


def test_without_a_container_tool_fix_refuses_and_names_the_package(debian, tmp_path):
    host = tmp_path / "host"
    make_hostile(debian, host)
    bin_dir = tmp_path / "bin"      # python and chroot, but no systemd-nspawn or bwrap
    bin_dir.mkdir()
    for name in ("chroot",):
        os.symlink(shutil.which(name), str(bin_dir / name))
    env = dict(os.environ, PATH=str(bin_dir), NO_COLOR="1")
    done = subprocess.run([sys.executable, "-m", "agent", "fix", "--root", debian.path, "--yes", "--items",
                           "qemu-ga"], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "install systemd-container (or bubblewrap)" in done.stdout
    assert "--unsafe-chroot" in done.stdout
    assert not os.path.exists(debian.p("/var/log/hostile.log"))      # nothing of the image ran
    assert host_markers(host) == []


def test_the_lock_covers_the_command_after_guestprep_is_killed(debian, tmp_path):
    host = tmp_path / "host"
    # apt-get (the package removal) takes 6 s; guestprep is killed while it runs.
    make_hostile(debian, host, slow="apt-get", tail="touch /var/tmp/apt-started; sleep 6; touch /var/tmp/apt-ended")
    proc = subprocess.Popen([sys.executable, "-m", "agent", "fix", "--root", debian.path, "--yes", "--items",
                             "qemu-ga"], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not os.path.exists(debian.p("/var/tmp/apt-started")) and time.time() < deadline:
        assert proc.poll() is None, "fix ended before apt-get started"
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)        # guestprep only, not its process group
    proc.wait()
    code, out, err = debian.guestprep("rollback")
    assert code != 0 and "holds" in err, (code, out, err)
    assert not os.path.exists(debian.p("/var/tmp/apt-ended"))
    deadline = time.time() + 60
    while time.time() < deadline:
        code, out, err = debian.guestprep("rollback")
        if "holds" not in err:
            break
        time.sleep(0.5)
    assert os.path.exists(debian.p("/var/tmp/apt-ended"))    # the lock was free only after it ended
    assert code == 0, out + err


@pytest.mark.parametrize("tool", TOOLS[1:])
def test_the_initramfs_rebuild_works_offline_in_bubblewrap(debian, tool):
    """update-initramfs needs /proc, /sys and /dev: the container gives them (systemd-nspawn,
    the default here, is what test_initramfs_drivers.py runs)."""
    from tests.e2e.test_initramfs_drivers import lsinitramfs, sha, strip_virtio
    image = strip_virtio(debian)
    before = sha(debian, image)
    code, out, err = debian.guestprep("plan", "--items", "virtio", "--container", tool)
    assert "$ update-initramfs -u -k all\n     (runs the image's update-initramfs inside bubblewrap, network off)" in out
    code, out, err = debian.guestprep("fix", "--items", "virtio", "--yes", "--container", tool)
    assert code == 0 and "FIXED" in out, out + err
    assert "virtio_blk.ko" in lsinitramfs(debian, image)
    code, out, err = debian.guestprep("rollback")
    assert code == 0 and sha(debian, image) == before, out + err


def test_plan_script_runs_the_images_programs_in_the_container_too(debian, tmp_path):
    host = tmp_path / "host"
    make_hostile(debian, host)
    code, out, err = debian.guestprep("plan", "--items", "qemu-ga", "--format", "script")
    assert "in_root 1 'apt-get' 'purge'" in out, out + err
    script = tmp_path / "fix.sh"
    script.write_text(out)
    done = subprocess.run(["sh", str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True)
    assert done.returncode == 0, done.stdout + done.stderr
    log = debian.read("/var/log/hostile.log").decode()
    assert "systemctl ran" in log and "apt-get ran" in log
    assert SECRET not in log and "ESCAPED" not in log and "WROTE" not in log, log
    assert host_markers(host) == []


@pytest.mark.parametrize("tool", TOOLS)
def test_a_timed_out_command_is_stopped_with_its_container(debian, tool, monkeypatch):
    monkeypatch.setattr(runner_mod, "STOP_GRACE", 3)
    started = time.time()
    done = Runner(debian.path, container=tool).run(["sh", "-c", "sleep 8; touch /late"], timeout=2)
    assert done.returncode == 124 and time.time() - started < 8
    time.sleep(8)
    assert not os.path.exists(debian.p("/late"))     # nothing in the container outlived it
