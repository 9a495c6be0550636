"""seal on a real Debian root: a user made with useradd and emptied with `passwd -d`, a real
ed25519 key in root's authorized_keys (ssh-keygen), the host keys openssh-server's own
postinst made, history and logs; then plan, fix --items seal, rollback byte for byte,
and fix + clean leaving nothing behind."""
import hashlib
import json
import os
import stat
import subprocess

from agent.core.rootfs import MAX_READ

TREES = ("/etc", "/root", "/home", "/tmp", "/var/tmp", "/var/log", "/var/lib", "/var/cache", "/var/spool", "/var/mail")
# What each new operation finds in the real root once planted (Debian's own paths).
PLANTED = {
    "dhcp-client-state": ["/var/lib/dhcp/dhclient.eth0.leases"],
    "udev-persistent-net": ["/etc/udev/rules.d/70-persistent-net.rules"],
    "mail-spool": ["/var/mail/root"],
    "cron-spool": ["/var/spool/cron/crontabs/root"],
    "random-seed": ["/var/lib/systemd/random-seed"],
    "subscription": ["/var/lib/ubuntu-advantage/private/machine-token.json"],
    "tmp-files": ["/var/tmp/build-cache.bin"],
}


def tree_snapshot(debian):
    found = {}
    for top in TREES:
        for dirpath, _dirs, files in os.walk(debian.p(top)):
            for name in files:
                host = os.path.join(dirpath, name)
                st = os.lstat(host)
                if stat.S_ISLNK(st.st_mode):
                    data = os.readlink(host).encode()
                else:
                    with open(host, "rb") as handle:
                        data = handle.read()
                found[host[len(debian.path):]] = (hashlib.sha256(data).hexdigest(), st.st_mode, st.st_uid, st.st_gid)
    return found


def put_traces(debian):
    done = debian.chroot("useradd", "-m", "-s", "/bin/bash", "builder")
    assert done.returncode == 0, done.stderr
    done = debian.chroot("passwd", "-d", "builder")
    assert done.returncode == 0, done.stderr
    done = debian.chroot("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "builder@laptop", "-f", "/tmp/builder")
    assert done.returncode == 0, done.stderr
    os.makedirs(debian.p("/root/.ssh"), mode=0o700, exist_ok=True)
    with open(debian.p("/tmp/builder.pub")) as handle:
        debian.write("/root/.ssh/authorized_keys", handle.read(), mode=0o600)
    debian.write("/root/.bash_history", "mysql -uroot -p'hunter2'\n", mode=0o600)
    debian.write("/home/builder/.bash_history", "ls\n", mode=0o600)
    debian.write("/var/lib/cloud/data/instance-id", "i-build-vm\n")
    debian.write("/var/log/auth.log", "sshd[1]: Accepted publickey for root from 203.0.113.9\n", mode=0o640)
    debian.write("/var/log/auth.log.1", "older\n", mode=0o640)
    debian.write("/var/lib/dhcp/dhclient.eth0.leases", "lease {\n  fixed-address 192.0.2.77;\n}\n")
    debian.write("/etc/udev/rules.d/70-persistent-net.rules",
                 'SUBSYSTEM=="net", ATTR{address}=="52:54:00:12:34:56", NAME="eth0"\n')
    debian.write("/var/mail/root", "From builder Tue Dec  1 00:00:00 2026\nSubject: cron\n\n", mode=0o600)
    # crontab(1) itself: the spool's file, its mode and group as Debian's cron makes them
    done = debian.chroot("sh", "-c", "echo '0 3 * * * /usr/local/bin/backup' > /tmp/ct && mkdir -p "
                         "/var/spool/cron/crontabs && cat /tmp/ct > /var/spool/cron/crontabs/root && rm /tmp/ct")
    assert done.returncode == 0, done.stderr
    debian.write("/var/lib/systemd/random-seed", "R" * 512, mode=0o600)
    debian.write("/var/lib/ubuntu-advantage/private/machine-token.json", '{"machineToken": "TOKENFAKE"}', mode=0o600)
    debian.write("/var/tmp/build-cache.bin", "x" * 4096)


def test_seal_plan_fix_rollback_and_clean(debian):
    put_traces(debian)
    assert os.path.getsize(debian.p("/etc/machine-id")) > 0
    assert [n for n in os.listdir(debian.p("/etc/ssh")) if n.startswith("ssh_host_")]

    code, out, _err = debian.guestprep("check", "--items", "seal", "--format", "json")
    seal = json.loads(out)["results"][0]
    assert code == 3 and seal["status"] == "FAIL", seal
    assert "accounts without a password: builder" in seal["summary"]
    assert "SSH host key file(s)" in seal["summary"]
    assert "kept: nothing makes new ones" not in seal["summary"]   # the root has cloud-init, enabled
    for name, paths in PLANTED.items():
        assert name + ": " in seal["summary"], name
    assert "package-manager-cache: package manager caches: " in seal["summary"]     # debootstrap's apt lists
    assert "passwd-backups: account database backups (old password hashes): /etc/passwd-" in seal["summary"]
    for secret in ("hunter2", "builder@laptop", "203.0.113.9", "AAAA", "192.0.2.77", "52:54:00", "TOKENFAKE", "local/bin"):
        assert secret not in out

    code, out, _err = debian.guestprep("plan", "--items", "all")
    assert "== seal" not in out and "plan --root {} --items seal".format(debian.path) in out    # never by 'all'
    code, out, _err = debian.guestprep("plan", "--items", "seal")
    assert "usermod -L builder" in out and "rm " + debian.p("/root/.ssh/authorized_keys") in out
    assert "(emptied: 1 line(s)" in out
    for secret in ("hunter2", "builder@laptop", "203.0.113.9"):
        assert secret not in out

    lists = debian.p("/var/lib/apt/lists/")
    big_lists = [n for n in os.listdir(lists) if os.path.isfile(lists + n) and os.path.getsize(lists + n) > MAX_READ]
    before = tree_snapshot(debian)
    code, out, err = debian.guestprep("fix", "--items", "seal", "--yes")
    assert code == 0, (out, err)
    assert "FIXED" in out and "clean --root {} --yes".format(debian.path) in out
    assert debian.chroot("passwd", "-S", "builder").stdout.split()[1] == "L"
    for gone in ("/root/.ssh/authorized_keys", "/root/.bash_history", "/home/builder/.bash_history",
                 "/var/lib/cloud/data/instance-id", "/var/log/auth.log.1"):
        assert not os.path.exists(debian.p(gone)), gone
    assert not [n for n in os.listdir(debian.p("/etc/ssh")) if n.startswith("ssh_host_")]
    assert debian.read("/etc/machine-id") == b"" and debian.read("/var/log/auth.log") == b""
    for paths in PLANTED.values():
        for gone in paths:
            assert not os.path.exists(debian.p(gone)), gone
    for gone in ("/etc/passwd-", "/etc/shadow-", "/etc/group-", "/etc/gshadow-", "/tmp/builder"):
        assert not os.path.exists(debian.p(gone)), gone
    # files over what the journal backs up (16 MiB) stay for the hint's command; the others are gone
    lists = debian.p("/var/lib/apt/lists/")
    left = sorted(n for n in os.listdir(lists) if os.path.isfile(lists + n))
    assert left == sorted(["lock"] + [n for n in big_lists]), left
    assert debian.read("/var/log/wtmp") == b"" or not os.path.getsize(debian.p("/var/log/wtmp"))

    code, out, _err = debian.guestprep("rollback")
    assert code == 0, out
    after = tree_snapshot(debian)
    changed = sorted(p for p in before if after.get(p) != before[p])
    assert changed == [], changed

    code, out, err = debian.guestprep("fix", "--items", "seal", "--yes")
    assert code == 0, (out, err)
    code, out, err = debian.guestprep("clean", "--yes")
    assert code == 0 and "rollback" in err, (out, err)
    code, out, _err = debian.guestprep("check", "--items", "seal", "--format", "json")
    seal = json.loads(out)["results"][0]
    if big_lists:   # what the journal cannot back up is left to the command the hint gives
        assert seal["summary"].startswith("package-manager-cache: package manager caches: "), seal
        wanted = "rm -rf {}/*".format(debian.p("/var/lib/apt/lists"))
        assert wanted in seal["commands"], seal["commands"]
        subprocess.check_call(["sh", "-c", wanted])
        code, out, _err = debian.guestprep("check", "--items", "seal", "--format", "json")
        seal = json.loads(out)["results"][0]
    assert code == 0 and seal["status"] == "PASS", seal
    # clean left none of guestprep's copies: nothing of the planted traces anywhere in the root
    copies = subprocess.run(["grep", "-rlF", "TOKENFAKE", debian.p("/var"), debian.p("/etc")],
                            stdout=subprocess.PIPE, universal_newlines=True).stdout.split()
    assert copies == [], copies
    assert not os.path.exists(debian.p("/var/lib/guestprep/runs")) or not os.listdir(debian.p("/var/lib/guestprep/runs"))


def test_some_operations_only(debian):
    put_traces(debian)
    code, out, err = debian.guestprep("plan", "--items", "seal:history,random-seed")
    assert code == 0, (out, err)
    assert "rm " + debian.p("/root/.bash_history") in out and "rm " + debian.p("/var/lib/systemd/random-seed") in out
    assert "usermod" not in out and "/etc/ssh/ssh_host_" not in out and "/var/mail/root" not in out
    code, out, err = debian.guestprep("plan", "--items", "seal:history,bogus")
    assert code == 2 and "unknown seal operation: bogus; valid: defaults, passwordless-accounts" in err
    code, out, err = debian.guestprep("fix", "--items", "seal:defaults,-cron-spool", "--yes")
    assert code == 0, (out, err)
    assert os.path.exists(debian.p("/var/spool/cron/crontabs/root")) and not os.path.exists(debian.p("/var/mail/root"))


def test_with_cloud_init_masked_the_host_keys_stay(debian):
    """Issue 16: cloud-init masked, Debian's ssh.service makes no keys: seal keeps them."""
    put_traces(debian)
    done = debian.chroot("systemctl", "mask", "cloud-init.service")
    assert done.returncode == 0, done.stderr
    assert os.readlink(debian.p("/etc/systemd/system/cloud-init.service")) == "/dev/null"
    keys = sorted(n for n in os.listdir(debian.p("/etc/ssh")) if n.startswith("ssh_host_"))
    assert keys
    code, out, _err = debian.guestprep("check", "--items", "seal", "--format", "json")
    summary = json.loads(out)["results"][0]["summary"]
    assert "SSH host key file(s) in /etc/ssh kept: nothing makes new ones at the next boot" in summary
    assert "cloud-init units are masked (cloud-init.service)" in summary
    code, out, _err = debian.guestprep("plan", "--items", "seal")
    assert "ssh_host_" not in out
    code, out, err = debian.guestprep("fix", "--items", "seal", "--yes")
    assert code == 0, (out, err)
    assert sorted(n for n in os.listdir(debian.p("/etc/ssh")) if n.startswith("ssh_host_")) == keys
    # unmasked again, the same image has its keys removed: cloud-init makes new ones
    assert debian.chroot("systemctl", "unmask", "cloud-init.service").returncode == 0
    code, out, err = debian.guestprep("fix", "--items", "seal:ssh-hostkeys", "--yes")
    assert code == 0, (out, err)
    assert not [n for n in os.listdir(debian.p("/etc/ssh")) if n.startswith("ssh_host_")]
