"""A sealed image boots (e2e under real qemu; GUESTPREP_BOOT=1, about 3 min with KVM).

The boot harness's Debian image (tools/build_boot_image.sh) with cloud-init masked, as in
issue 16: Debian's ssh.service makes no host keys, so seal must keep them, and the image
must still answer SSH with the same host key. seal runs on the mounted image with every
operation but authorized-keys (`seal:defaults,-authorized-keys`: the harness's own key is
its way in); then, booted: machine-id is new (systemd wrote one into the emptied file),
eth0 got a new DHCP lease (the build VM's lease file was removed), sshd is active with the
host key it had.
"""
import os
import subprocess
import sys

from agent import boottest
from boot.test_boot_real import REPO, base_image, mounted, read, results, say, sh, write  # noqa: F401 (fixtures)

LEASE = "/var/lib/dhcp/dhclient.eth0.leases"
BUILD_VM_LEASE = "lease {\n  interface \"eth0\";\n  fixed-address 192.0.2.77;\n}\n"


def fingerprint(root, path):
    return sh("ssh-keygen", "-l", "-f", root + path).split()[1]


def test_sealed_image_with_cloud_init_masked_boots_keeps_its_host_keys_and_gets_new_ids(base_image, results, tmp_path):
    raw = str(tmp_path / "disk.raw")
    mnt = str(tmp_path / "mnt")
    key = str(tmp_path / "id_ed25519")
    sh("qemu-img", "convert", "-O", "raw", base_image, raw)
    sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "guestprep-boot-harness", "-f", key)
    with open(key + ".pub") as handle:
        public_key = handle.read()
    with mounted(raw, mnt, proc=True) as root:
        sh("chroot", root, "systemctl", "mask", "cloud-init.service", "cloud-init-local.service",
           "cloud-config.service", "cloud-final.service")
        write(root, "/root/.ssh/authorized_keys", public_key, mode=0o600)
        write(root, LEASE, BUILD_VM_LEASE)
        if not read(root, "/etc/machine-id").strip():
            write(root, "/etc/machine-id", "0123456789abcdef0123456789abcdef\n", mode=0o444)
        old_id = read(root, "/etc/machine-id").strip()
        host_key = fingerprint(root, "/etc/ssh/ssh_host_ed25519_key.pub")
        done = subprocess.run([sys.executable, "-m", "agent", "fix", "--root", root, "--items",
                               "seal:defaults,-authorized-keys", "--yes"], cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, universal_newlines=True, env=dict(os.environ, NO_COLOR="1"))
        say("seal: exit {}".format(done.returncode))
        assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-2000:])
        assert "kept: nothing makes new ones at the next boot" in done.stdout
        assert read(root, "/etc/machine-id") == "" and not os.path.exists(root + LEASE)
        assert fingerprint(root, "/etc/ssh/ssh_host_ed25519_key.pub") == host_key
        sh(sys.executable, "-m", "agent", "clean", "--root", root, "--yes", cwd=REPO)

    inside = {}

    def look_inside(port):
        done = subprocess.run(
            ["ssh", "-i", key, "-p", str(port), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
             "-o", "UserKnownHostsFile=" + str(tmp_path / "known_hosts"), "-o", "ConnectTimeout=20",
             "root@127.0.0.1", "cat /etc/machine-id; ssh-keygen -l -f /etc/ssh/ssh_host_ed25519_key.pub; "
             "ls /var/lib/dhcp; systemctl is-active ssh.service"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=120)
        inside.update(code=done.returncode, out=done.stdout, err=done.stderr)

    console_path = os.path.join(results, "seal-boot.console.log")
    result = boottest.BootTest(raw, timeout=400, keep_console=console_path, on_ready=look_inside,
                               progress=say).run()
    say("sealed image: {} after {}s; console log {}".format(result["status"], result["elapsed"], console_path))
    assert result["status"] == "PASS", (result["cause"], result["console_tail"])
    assert inside.get("code") == 0, inside
    lines = inside["out"].split("\n")
    new_id = lines[0].strip()
    assert len(new_id) == 32 and new_id != old_id, inside["out"]
    assert lines[1].split()[1] == host_key, inside["out"]        # the same host key: kept, sshd started
    assert "dhclient.eth0.leases" in inside["out"] or "dhclient.leases" in inside["out"], inside["out"]
    assert lines[-2].strip() == "active", inside["out"]
