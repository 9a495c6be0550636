"""seal: findings, the fix (only by name), rollback, and nothing secret in what is shown."""
import json
import os

import pytest

from agent.checks.seal import OPERATION_NAMES, OPERATIONS, Seal, parse_operations, walk_files
from agent.core.engine import Engine
from agent.core.model import RemoveFile, RunCommand, Status, WriteFile
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


def hostkeys(result):
    return result.data["ops"]["ssh-hostkeys"]


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
    assert "2 SSH host key file(s) in /etc/ssh kept: nothing makes new ones at the next boot" in result.summary
    assert "cloud-init is not installed" in result.summary
    assert "sshd will not start" in result.hint
    steps = SealFix().plan(ctx, result)
    assert not [s for s in steps if getattr(s, "path", "").startswith("/etc/ssh/")]


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
    # The fix's result line says the image is sealed before it names the backups left.
    from agent.checks.seal import OPERATION_NAMES
    assert after.summary.startswith("nothing of this machine found by {} operation(s); guestprep's own backups"
                                    .format(len(OPERATION_NAMES)))
    assert outcomes[0].message.startswith("nothing of this machine found by")
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


def test_a_flooded_log_directory_is_counted_up_to_the_limit_in_name_order(guest):
    # A hostile or neglected image: one directory of thousands of logs. The walk keeps the first
    # MAX_FILES by name with their sizes and says more were left uncounted.
    from agent.checks import seal
    for i in range(3000):
        guest.write("/var/log/flood/{:04d}.log.1".format(i), "x" * (i % 7))
    guest.write("/var/log/syslog", "boot\n")
    assert seal.MAX_FILES > 3001
    rotated, current, large, more, total = seal.log_files(guest.ctx().root)
    assert more is False and len(rotated) == 3000 and current == ["/var/log/syslog"] and large == []
    assert total == sum(i % 7 for i in range(3000)) + 5
    files, more = walk_files(guest.ctx().root, "/var/log", limit=100)
    assert more and files == ["/var/log/syslog"] + ["/var/log/flood/{:04d}.log.1".format(i) for i in range(99)]


def test_a_walk_stopped_at_the_limit_says_so_and_leaves_the_rest_to_the_commands(guest, monkeypatch):
    # A build VM's /tmp of 200,000 files: the count is of the files walked, so it must not read
    # as the total, and the fix (which removes the listed files) leaves the rest to rm -rf.
    from agent.checks import seal
    clean_image(guest)
    for i in range(12):
        guest.write("/tmp/build/{:02d}.o".format(i), "x")
        guest.write("/var/cache/apt/archives/p{:02d}.deb".format(i), "x")
        guest.write("/var/lib/cloud/instances/i-1/f{:02d}".format(i), "x")
    monkeypatch.setattr(seal, "MAX_FILES", 5)
    ctx = guest.ctx()
    result = Seal().run(ctx)
    ops = result.data["ops"]
    assert ops["tmp-files"]["text"] == "files in /tmp and /var/tmp: 5 file(s), 0.0 MiB, more not counted"
    assert ops["tmp-files"]["commands"] and ops["tmp-files"]["commands"][0].startswith("rm -rf ")
    assert ", more not counted" in ops["package-manager-cache"]["text"]
    assert ops["package-manager-cache"]["commands"]
    assert ops["cloud-init-state"]["text"].endswith("(5 file(s), more not counted)")
    monkeypatch.setattr(seal, "MAX_FILES", 5000)
    whole = Seal().run(ctx).data["ops"]
    assert whole["tmp-files"]["text"] == "files in /tmp and /var/tmp: 12 file(s), 0.0 MiB"
    assert whole["tmp-files"]["commands"] == [] and "more" not in whole["cloud-init-state"]["text"]


def test_seal_cannot_be_armed_at_shutdown(tmp_path, capsys):
    from agent.output import cli
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


# -- what makes new host keys, as the next boot sees it (issue 16) -----------------------

def cloud_init_image(guest):
    """used_image without sshd-keygen, with an enabled cloud-init (Debian's layout)."""
    used_image(guest)
    os.remove(guest.host("/usr/lib/systemd/system/sshd-keygen@.service"))
    guest.write("/var/lib/dpkg/status", "Package: cloud-init\nStatus: install ok installed\nVersion: 22.4-1\n\n")
    guest.write("/usr/lib/systemd/system/cloud-init.service", "[Unit]\n")
    guest.symlink("/etc/systemd/system/cloud-init.target.wants/cloud-init.service",
                  "/usr/lib/systemd/system/cloud-init.service")
    guest.write("/etc/cloud/cloud.cfg", "cloud_init_modules:\n - seed_random\n - ssh\n")


@pytest.mark.parametrize("plant, why", [
    (lambda g: g.write("/etc/cloud/cloud-init.disabled", ""), "cloud-init is disabled by /etc/cloud/cloud-init.disabled"),
    (lambda g: g.symlink("/etc/systemd/system/cloud-init.service", "/dev/null"),
     "cloud-init units are masked (cloud-init.service)"),
    (lambda g: os.remove(g.host("/etc/systemd/system/cloud-init.target.wants/cloud-init.service")),
     "cloud-init.service is not enabled"),
    (lambda g: g.write("/etc/default/grub", 'GRUB_CMDLINE_LINUX="quiet cloud-init=disabled"\n'),
     "cloud-init=disabled is on the kernel command line"),
    # The next boot reads grub.cfg and BLS entries, not /etc/default/grub (seal used to read only that).
    (lambda g: g.write("/boot/grub/grub.cfg", "menuentry 'Debian' {\n  linux /vmlinuz-6.1 ro cloud-init=disabled\n}\n"),
     "cloud-init=disabled is on the kernel command line"),
    (lambda g: (g.write("/boot/loader/entries/a-4.18.conf", "linux /vmlinuz-4.18\noptions $kernelopts\n"),
                g.write("/boot/grub2/grubenv", "kernelopts=root=UUID=1 cloud-init=disabled\n" + "#" * 900)),
     "cloud-init=disabled is on the kernel command line"),
    (lambda g: g.write("/etc/cloud/cloud.cfg.d/90-mine.cfg", "datasource_list: [ NoCloud ]\n"),
     "datasource_list [NoCloud] has no AliYun datasource"),
    # ds-identify finds neither on ECS and leaves cloud-init off: None at the end does not help
    (lambda g: (g.write("/usr/lib/cloud-init/ds-identify", "#!/bin/sh\n"), g.write(
        "/etc/cloud/cloud.cfg.d/90-mine.cfg", "datasource_list: [ NoCloud, OpenStack, None ]\n")),
     "datasource_list [NoCloud, OpenStack, None] has no AliYun datasource"),
    (lambda g: g.write("/etc/cloud/cloud.cfg.d/90-mine.cfg", "ssh_genkeytypes: []\n"),
     "ssh_genkeytypes is empty in /etc/cloud/cloud.cfg.d/90-mine.cfg"),
    (lambda g: g.write("/etc/cloud/cloud.cfg", "cloud_init_modules:\n - seed_random\n"),
     "cloud_init_modules in /etc/cloud/cloud.cfg has no ssh module"),
])
def test_keys_stay_when_cloud_init_will_not_run_at_the_next_boot(guest, plant, why):
    cloud_init_image(guest)
    ctx = guest.ctx(runner=FakeRunner(guest.base))
    assert hostkeys(Seal().run(ctx))["regenerator"].startswith("cloud-init"), hostkeys(Seal().run(ctx))["text"]
    plant(guest)
    ctx = guest.ctx(runner=FakeRunner(guest.base))
    result = Seal().run(ctx)
    assert hostkeys(result)["regenerator"] == "" and why in result.summary, result.summary
    assert not [s for s in SealFix().plan(ctx, result) if getattr(s, "path", "").startswith("/etc/ssh/")]


def test_sshd_keygen_masked_or_an_sshd_unit_that_makes_keys(guest):
    used_image(guest)
    guest.symlink("/etc/systemd/system/sshd-keygen@.service", "/dev/null")
    found = hostkeys(Seal().run(guest.ctx()))
    assert found["regenerator"] == "" and "sshd-keygen@.service is masked" in found["text"]
    # SUSE's sshd.service runs sshd-gen-keys-start itself
    guest.write("/usr/lib/systemd/system/sshd.service",
                "[Service]\nExecStartPre=/usr/sbin/sshd-gen-keys-start\nExecStart=/usr/sbin/sshd -D\n")
    assert hostkeys(Seal().run(guest.ctx()))["regenerator"] == "sshd.service itself (ExecStartPre)"


# -- the operations virt-sysprep's defaults also cover ----------------------------------

NEW_TRACES = {
    "dhcp-client-state": ["/var/lib/dhcp/dhclient.eth0.leases", "/var/lib/NetworkManager/internal-1234-eth0.lease",
                          "/var/lib/NetworkManager/timestamps", "/var/lib/NetworkManager/seen-bssids"],
    "udev-persistent-net": ["/etc/udev/rules.d/70-persistent-net.rules"],
    "passwd-backups": ["/etc/passwd-", "/etc/gshadow-"],
    "tmp-files": ["/tmp/build.log", "/var/tmp/cache/x.bin"],
    "package-manager-cache": ["/var/cache/apt/archives/vim_9.0_amd64.deb", "/var/lib/apt/lists/deb_InRelease",
                              "/var/cache/dnf/base.solv"],
    "mail-spool": ["/var/mail/root"],
    "cron-spool": ["/var/spool/cron/crontabs/root", "/var/spool/cron/alice"],
    "random-seed": ["/var/lib/systemd/random-seed"],
    "subscription": ["/etc/pki/consumer/cert.pem", "/etc/pki/entitlement/123.pem",
                     "/etc/zypp/credentials.d/SCCcredentials", "/var/lib/ubuntu-advantage/private/machine-token.json"],
}
KEPT = ["/var/lib/dhcp/dhcpd.leases", "/var/lib/NetworkManager/NetworkManager.state",
        "/etc/udev/rules.d/75-persistent-net-generator.rules", "/var/lib/apt/lists/lock", "/var/cache/apt/archives/lock"]


def plant_new_traces(guest):
    for paths in NEW_TRACES.values():
        for path in paths:
            guest.write(path, "SECRETTRACE of " + path + "\n", mode=0o600)
    for path in KEPT:
        guest.write(path, "")
    guest.write("/var/log/wtmp", b"\x07\x00\x00\x00wtmpFAKE" * 10, mode=0o664)


def test_each_operation_finds_its_files_and_the_fix_removes_only_them(guest):
    clean_image(guest)
    plant_new_traces(guest)
    ctx = guest.ctx()
    result = Seal().run(ctx)
    assert result.status == Status.WARN
    ops = result.data["ops"]
    for name, paths in NEW_TRACES.items():
        assert sorted(ops[name]["remove"]) == sorted(paths), name
        assert name + ": " in result.summary
    assert ops["utmp"]["empty"] == ["/var/log/wtmp"] and "/var/log/wtmp" not in ops.get("logfiles", {}).get("empty", [])
    assert "package manager caches: 3 file(s)" in result.summary
    assert "registration identities of this machine: RHSM consumer identity (1 file(s))" in result.summary
    assert "SECRETTRACE" not in json.dumps([result.summary, result.hint, result.commands, result.data])
    steps = SealFix().plan(ctx, result)
    removed = set(s.path for s in steps if isinstance(s, RemoveFile))
    assert removed == set(p for paths in NEW_TRACES.values() for p in paths)
    assert not removed & set(KEPT)
    whys = [s.why for s in steps if isinstance(s, RemoveFile) and s.path.startswith("/etc/pki/")]
    assert all("cannot come back" in w and "rollback restores" in w for w in whys)


def test_backups_of_large_caches_are_bounded(guest, monkeypatch):
    import agent.checks.seal as seal_mod
    clean_image(guest)
    for i in range(4):
        guest.write("/var/cache/apt/archives/p{}.deb".format(i), b"x" * 1000)
    monkeypatch.setattr(seal_mod, "MAX_OP_BYTES", 2500)
    result = Seal().run(guest.ctx())
    found = result.data["ops"]["package-manager-cache"]
    assert len(found["remove"]) == 2
    assert "4 file(s), 0.0 MiB (2 file(s), 0.0 MiB, beyond what guestprep backs up" in found["text"]
    assert any("apt-get clean" in c for c in result.commands)


def test_fix_then_rollback_restores_every_new_operation(guest):
    clean_image(guest)
    plant_new_traces(guest)
    before = snapshot(guest)
    engine = Engine([Seal], [SealFix])
    ctx = guest.ctx()
    plans = engine.plan(ctx, engine.select(["seal"], default_fixes=True), engine.run_checks(ctx))
    journal, outcomes = engine.apply(ctx, plans, guest.state())
    assert [o.outcome for o in outcomes] == ["FIXED"], outcomes
    for paths in NEW_TRACES.values():
        assert not any(guest.exists(p) for p in paths)
    assert guest.read("/var/log/wtmp") == "" and all(guest.exists(p) for p in KEPT)
    journal.rollback(ctx)
    assert snapshot(guest) == before


def snapshot(guest):
    found = {}
    for top in ("/etc", "/var", "/tmp", "/root", "/home"):
        for dirpath, _dirs, files in os.walk(guest.host(top)):
            if "/var/lib/guestprep" in dirpath:
                continue
            for name in files:
                path = os.path.join(dirpath, name)
                with open(path, "rb") as handle:
                    found[path] = (handle.read(), os.stat(path).st_mode)
    return found


# -- selecting operations: --items seal:history,... ---------------------------------------

def test_only_the_selected_operations_are_checked_and_planned(guest):
    used_image(guest)
    plant_new_traces(guest)
    ctx = guest.ctx()
    ctx.options.selections = {"seal": ["history", "random-seed"]}
    result = Seal().run(ctx)
    assert sorted(result.data["ops"]) == ["history", "random-seed"]
    assert result.status == Status.WARN             # alice's empty password is not looked at
    paths = sorted(s.path for s in SealFix().plan(ctx, result))
    assert paths == ["/home/alice/.python_history", "/root/.bash_history", "/var/lib/systemd/random-seed"]


@pytest.mark.parametrize("words, chosen", [
    (["history", "ssh-hostkeys"], ["history", "ssh-hostkeys"]),
    (["defaults", "-cron-spool"], [n for n in OPERATION_NAMES if n != "cron-spool"]),
    (["-subscription"], [n for n in OPERATION_NAMES if n != "subscription"]),
])
def test_parse_operations(words, chosen):
    assert parse_operations(words) == chosen


def test_cli_items_with_operations(tmp_path):
    import argparse
    from agent.output import cli
    from agent.core.engine import UsageError

    def parse(*chunks):
        return cli._parse_items(argparse.Namespace(items=list(chunks)))
    assert parse("seal:history,ssh-hostkeys") == (["seal"], {"seal": ["history", "ssh-hostkeys"]})
    assert parse("dhcp,seal:history,fstab") == (["dhcp", "seal", "fstab"], {"seal": ["history"]})
    assert parse("seal") == (["seal"], {})
    with pytest.raises(UsageError) as e:
        parse("seal:history,bogus")
    assert "unknown seal operation: bogus; valid: defaults, passwordless-accounts" in str(e.value)
    with pytest.raises(UsageError) as e:
        parse("dhcp:leases")
    assert "only seal take operations" in str(e.value)


def test_cli_usage_error_and_list(tmp_path, capsys):
    from agent.output import cli
    root = tmp_path / "image"
    (root / "etc").mkdir(parents=True)
    (root / "usr/bin").mkdir(parents=True)
    (root / "etc/os-release").write_text('ID=debian\nVERSION_ID="12"\n')
    assert cli.main(["plan", "--root", str(root), "--items", "seal:histroy"]) == 2
    assert "unknown seal operation: histroy" in capsys.readouterr().err
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for op in OPERATIONS:
        assert "seal:{}".format(op.name) in out and op.description in out
    assert cli.main(["list", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)["checks"]
    seal = next(r for r in rows if r["id"] == "seal")
    assert [o["name"] for o in seal["operations"]] == list(OPERATION_NAMES)


@pytest.mark.parametrize("sources, ds_identify", [
    ("[ NoCloud, None ]", True),              # one datasource: ds-identify enables cloud-init, None follows
    ("[ None ]", True),
    ("[ NoCloud, OpenStack, None ]", False),  # no ds-identify: cloud-init runs and falls back to None
    ("[ AliYun, NoCloud ]", True),
])
def test_keys_go_when_the_datasource_list_lets_cloud_init_run_on_ecs(guest, sources, ds_identify):
    cloud_init_image(guest)
    if ds_identify:
        guest.write("/usr/lib/cloud-init/ds-identify", "#!/bin/sh\n")
    guest.write("/etc/cloud/cloud.cfg.d/90-mine.cfg", "datasource_list: {}\n".format(sources))
    found = hostkeys(Seal().run(guest.ctx(runner=FakeRunner(guest.base))))
    assert found["regenerator"].startswith("cloud-init"), found["text"]
