"""seal: findings, the fix (only by name), rollback, and nothing secret in what is shown."""
import json
import os

import pytest

from agent.checks.seal import Seal, walk_files
from agent.engine import Engine
from agent.model import RemoveFile, RunCommand, Status, WriteFile
from remediations.seal import SealFix
from conftest import FakeRunner

HASH = "$6$gpFAKEsalt$sealTESTfakeHASHnotREAL"
PASSWD = ("root:x:0:0:root:/root:/bin/bash\n"
          "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
          "alice:x:1000:1000:Alice:/home/alice:/bin/bash\n"
          "bob:x:1001:1001:Bob:/home/bob:/bin/bash\n")
SHADOW = ("root:{0}:19000:0:99999:7:::\n"
          "daemon:*:19000:0:99999:7:::\n"
          "alice::19000:0:99999:7:::\n"
          "bob:{0}:19000:0:99999:7:::\n").format(HASH)


def clean_image(guest):
    guest.os_release("debian", "12")
    guest.write("/etc/passwd", PASSWD)
    guest.write("/etc/shadow", SHADOW.replace("alice::", "alice:!:"), mode=0o640)
    guest.mkdir("/root")
    guest.mkdir("/home/alice")


def used_image(guest):
    clean_image(guest)
    guest.write("/etc/shadow", SHADOW, mode=0o640)
    guest.write("/root/.ssh/authorized_keys", "ssh-ed25519 AAAAC3NzaFAKE builder@laptop\n", mode=0o600)
    guest.write("/root/.bash_history", "mysql -p'hunter2'\n", mode=0o600)
    guest.write("/home/alice/.python_history", "import os\n", mode=0o600)
    guest.write("/etc/ssh/ssh_host_ed25519_key", "-----BEGIN OPENSSH PRIVATE KEY-----\nFAKE\n", mode=0o600)
    guest.write("/etc/ssh/ssh_host_ed25519_key.pub", "ssh-ed25519 AAAAFAKE root@build\n")
    guest.write("/usr/lib/systemd/system/sshd-keygen@.service", "[Unit]\n")
    guest.write("/etc/machine-id", "0123456789abcdef0123456789abcdef\n", mode=0o444)
    guest.write("/var/lib/cloud/instance/obj.pkl", b"\x80\x04pickle")
    guest.write("/var/lib/cloud/data/instance-id", "i-build\n")
    guest.write("/var/lib/cloud/scripts/per-boot/mine.sh", "#!/bin/sh\n", mode=0o755)
    guest.write("/var/lib/cloud/seed/nocloud/user-data", "#cloud-config\n")
    guest.write("/var/log/syslog", "Dec  1 sshd[1]: Accepted publickey for root from 203.0.113.9\n", mode=0o640)
    guest.write("/var/log/syslog.1", "older\n", mode=0o640)
    guest.write("/var/log/apt/history.log.2.gz", b"\x1f\x8bgz")
    guest.write("/var/log/empty.log", "")


def test_a_clean_image_passes(guest):
    clean_image(guest)
    result = Seal().run(guest.ctx())
    assert result.status == Status.PASS, result.summary


def test_a_used_image_names_everything_and_no_secret(guest):
    used_image(guest)
    result = Seal().run(guest.ctx())
    assert result.status == Status.FAIL           # alice has no password
    assert "accounts without a password: alice" in result.summary
    assert "root's authorized keys: /root/.ssh/authorized_keys" in result.summary
    assert "2 shell history file(s)" in result.summary
    assert "2 SSH host key file(s)" in result.summary
    assert "/etc/machine-id is set" in result.summary
    assert "cloud-init state of this machine in /var/lib/cloud (2 file(s))" in result.summary  # seed, scripts kept
    assert "3 log file(s) in /var/log" in result.summary                                      # empty.log is clean
    shown = json.dumps([result.summary, result.hint, result.commands, result.paths, result.data])
    for secret in ("gpFAKE", "hunter2", "PRIVATE KEY", "AAAAC3NzaFAKE", "203.0.113.9", "0123456789abcdef"):
        assert secret not in shown


def test_host_keys_stay_when_nothing_makes_new_ones(guest):
    used_image(guest)
    os.remove(guest.host("/usr/lib/systemd/system/sshd-keygen@.service"))
    ctx = guest.ctx()
    result = Seal().run(ctx)
    assert "nothing in the image makes new ones at boot" in result.summary
    assert "sshd will not start" in result.hint
    steps = SealFix().plan(ctx, result)
    assert not [s for s in steps if getattr(s, "path", "").startswith("/etc/ssh/")]


def test_cloud_init_regenerates_keys_unless_disabled(guest):
    used_image(guest)
    os.remove(guest.host("/usr/lib/systemd/system/sshd-keygen@.service"))
    guest.write("/var/lib/dpkg/status", "Package: cloud-init\nStatus: install ok installed\nVersion: 22.4-1\n\n")
    runner = FakeRunner(guest.base)
    assert Seal().run(guest.ctx(runner=runner)).data["key_regenerator"].startswith("cloud-init")
    guest.write("/etc/cloud/cloud-init.disabled", "")
    assert Seal().run(guest.ctx(runner=runner)).data["key_regenerator"] == ""


def test_the_plan(guest):
    used_image(guest)
    ctx = guest.ctx()
    steps = SealFix().plan(ctx, Seal().run(ctx))
    assert RunCommand(("usermod", "-L", "alice"),
                      modifies=("/etc/passwd", "/etc/shadow", "/etc/passwd-", "/etc/shadow-"),
                      why="lock alice, which has no password") in steps
    removed = sorted(s.path for s in steps if isinstance(s, RemoveFile))
    assert removed == sorted([
        "/root/.ssh/authorized_keys", "/root/.bash_history", "/home/alice/.python_history",
        "/etc/ssh/ssh_host_ed25519_key", "/etc/ssh/ssh_host_ed25519_key.pub",
        "/var/lib/cloud/instance/obj.pkl", "/var/lib/cloud/data/instance-id",
        "/var/log/syslog.1", "/var/log/apt/history.log.2.gz"])
    emptied = sorted(s.path for s in steps if isinstance(s, WriteFile))
    assert emptied == ["/etc/machine-id", "/var/log/syslog"]
    assert all(s.content == b"" for s in steps if isinstance(s, WriteFile))


def test_only_by_name_never_by_all():
    engine = Engine([Seal], [SealFix])
    assert engine.select(["all"], default_fixes=True) == []
    assert [c.id for c in engine.select(["all", "seal"], default_fixes=True)] == ["seal"]
    assert [c.id for c in engine.select(["all"])] == ["seal"]     # checking 'all' still checks it
    assert engine.select(None, default_fixes=True) == []


def test_fix_then_rollback_restores_every_byte_and_mode(guest):
    used_image(guest)
    guest.write("/etc/shadow", SHADOW.replace("alice::", "alice:!:"), mode=0o640)  # no usermod here
    before = {}
    for top in ("/root", "/home", "/etc", "/var"):
        for dirpath, _dirs, files in os.walk(guest.host(top)):
            for name in files:
                path = os.path.join(dirpath, name)
                with open(path, "rb") as handle:
                    before[path] = (handle.read(), os.stat(path).st_mode)
    engine = Engine([Seal], [SealFix])
    ctx = guest.ctx()
    plans = engine.plan(ctx, engine.select(["seal"], default_fixes=True), engine.run_checks(ctx))
    journal, outcomes = engine.apply(ctx, plans, guest.state())
    assert [o.outcome for o in outcomes] == ["FIXED"], outcomes
    assert not guest.exists("/root/.bash_history") and not guest.exists("/etc/ssh/ssh_host_ed25519_key")
    assert guest.read("/etc/machine-id") == "" and oct(os.stat(guest.host("/etc/machine-id")).st_mode & 0o777) == "0o444"
    assert guest.read("/var/log/syslog") == ""
    assert guest.exists("/var/lib/cloud/scripts/per-boot/mine.sh") and guest.exists("/var/lib/cloud/seed/nocloud/user-data")
    # Only guestprep's own backups remain, which the check reports as information.
    after = Seal().run(ctx)
    assert after.status == Status.INFO and "guestprep clean --yes" in after.hint, after.summary
    journal.rollback(ctx)
    for path, (content, mode) in before.items():
        with open(path, "rb") as handle:
            assert handle.read() == content, path
        assert os.stat(path).st_mode == mode, path


def test_walk_is_bounded_and_does_not_follow_directory_links(guest):
    for i in range(30):
        guest.write("/var/log/many/{:02d}.log".format(i), "x\n")
    guest.mkdir("/elsewhere")
    guest.write("/elsewhere/outside.log", "x\n")
    guest.symlink("/var/log/link", "/elsewhere")
    root = guest.ctx().root
    files, more = walk_files(root, "/var/log", limit=10)
    assert len(files) == 10 and more
    files, more = walk_files(root, "/var/log")
    assert "/var/log/link" in files and not any(f.startswith("/var/log/link/") for f in files) and not more


def test_seal_cannot_be_armed_at_shutdown(tmp_path, capsys):
    from agent import cli
    root = tmp_path / "image"
    (root / "etc").mkdir(parents=True)
    (root / "usr/bin").mkdir(parents=True)
    (root / "etc/os-release").write_text('ID=debian\nVERSION_ID="12"\n')
    code = cli.main(["fix", "--root", str(root), "--at-shutdown", "dhcp,seal"])
    err = capsys.readouterr().err
    assert code == 2 and "seal cannot be deferred to shutdown" in err
    assert "guestprep clean --root {} --yes".format(root) in err


def test_on_the_running_vm_the_hint_warns_that_the_shell_writes_history_again(guest):
    from conftest import FakeLive
    used_image(guest)
    assert "unset HISTFILE" not in Seal().run(guest.ctx()).hint          # an image: nobody logged in
    assert "unset HISTFILE" in Seal().run(guest.ctx(live=FakeLive())).hint
