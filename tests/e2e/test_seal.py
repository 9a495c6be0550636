"""seal on a real Debian root: a user made with useradd and emptied with `passwd -d`, a real
ed25519 key in root's authorized_keys (ssh-keygen), the host keys openssh-server's own
postinst made, history and logs; then plan, fix --items seal, rollback byte for byte,
and fix + clean leaving nothing behind."""
import hashlib
import json
import os
import stat

TREES = ("/etc", "/root", "/home", "/var/log", "/var/lib/cloud", "/var/lib/dbus")


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


def test_seal_plan_fix_rollback_and_clean(debian):
    put_traces(debian)
    assert os.path.getsize(debian.p("/etc/machine-id")) > 0
    assert [n for n in os.listdir(debian.p("/etc/ssh")) if n.startswith("ssh_host_")]

    code, out, _err = debian.guestprep("check", "--items", "seal", "--format", "json")
    seal = json.loads(out)["results"][0]
    assert code == 3 and seal["status"] == "FAIL", seal
    assert "accounts without a password: builder" in seal["summary"]
    assert "SSH host key file(s)" in seal["summary"]
    assert "nothing in the image makes new ones" not in seal["summary"]   # the root has cloud-init
    for secret in ("hunter2", "builder@laptop", "203.0.113.9", "AAAA"):
        assert secret not in out

    code, out, _err = debian.guestprep("plan", "--items", "all")
    assert "== seal" not in out and "guestprep plan --root {} --items seal".format(debian.path) in out    # never by 'all'
    code, out, _err = debian.guestprep("plan", "--items", "seal")
    assert "usermod -L builder" in out and "rm " + debian.p("/root/.ssh/authorized_keys") in out
    assert "(emptied: 1 line(s)" in out
    for secret in ("hunter2", "builder@laptop", "203.0.113.9"):
        assert secret not in out

    before = tree_snapshot(debian)
    code, out, err = debian.guestprep("fix", "--items", "seal", "--yes")
    assert code == 0, (out, err)
    assert "FIXED" in out and "guestprep clean --yes" in out
    assert debian.chroot("passwd", "-S", "builder").stdout.split()[1] == "L"
    for gone in ("/root/.ssh/authorized_keys", "/root/.bash_history", "/home/builder/.bash_history",
                 "/var/lib/cloud/data/instance-id", "/var/log/auth.log.1"):
        assert not os.path.exists(debian.p(gone)), gone
    assert not [n for n in os.listdir(debian.p("/etc/ssh")) if n.startswith("ssh_host_")]
    assert debian.read("/etc/machine-id") == b"" and debian.read("/var/log/auth.log") == b""

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
    assert code == 0 and seal["status"] == "PASS", seal
