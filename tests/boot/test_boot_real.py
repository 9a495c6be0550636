"""The whole story on a real disk image, under real qemu (e2e; needs root, qemu, about 5 min).

A bootable Debian bookworm image (tools/build_boot_image.sh: GRUB in the MBR, ext4 root on
one MBR partition, linux-image-cloud-amd64, ifupdown, sshd; cached) gets the mission's
defects: a static IP on eth0, SELinux enforcing in its config, an fstab line for a data
disk that is not attached, an initramfs without virtio_blk, qemu-guest-agent, an immutable
/etc/shadow. Then:
  1. `guestprep boot-test` fails the way a user sees it fail: the root is not found.
  2. `guestprep fix --root MOUNT --items all --yes` on the image, mounted at its partition's
     offset (partition device nodes do not appear for loop devices here).
  3. boot-test again: login prompt (multi-user.target), eth0 has a DHCP address (checked over
     SSH: `ip -4 addr`), sshd answers on the forwarded port.
The console logs are kept under build/boot-results/ (or $GUESTPREP_BOOT_RESULTS).

Runs only with GUESTPREP_BOOT=1 (tools/test.sh sets it), so that the unit run skips it.
"""
import json
import os
import subprocess
import sys
import time

import pytest

from agent.host import boottest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bootlib import REPO, build_image, mounted, read, require_boot_harness, say, sh, ssh_key, ssh_run, write  # noqa: E402

pytestmark = pytest.mark.e2e

BUILD = os.path.join(REPO, "tools", "build_boot_image.sh")

ENI_STATIC = """\
# interfaces(5) file used by ifup(8) and ifdown(8)
source /etc/network/interfaces.d/*

auto lo
iface lo inet loopback

auto eth0
iface eth0 inet static
    address 192.168.10.5/24
    gateway 192.168.10.1
"""
DATA_DISK = "/dev/vdb1       /data           ext4    defaults        0       2\n"


@pytest.fixture(scope="module")
def base_image():
    require_boot_harness()
    return build_image([BUILD], "base image")


@pytest.fixture(scope="module")
def results():
    path = os.environ.get("GUESTPREP_BOOT_RESULTS") or os.path.join(
        REPO, "build", "boot-results", time.strftime("%Y%m%d-%H%M%S"))
    os.makedirs(path, exist_ok=True)
    return path


def initramfs_has(root, module):
    images = sorted(f for f in os.listdir(root + "/boot") if f.startswith("initrd.img-"))
    assert images
    listing = sh("chroot", root, "lsinitramfs", "/boot/" + images[-1])
    return "/{}.ko".format(module) in listing


def put_defects(root, public_key):
    write(root, "/etc/network/interfaces", ENI_STATIC)
    write(root, "/etc/selinux/config", "# set by the boot harness\nSELINUX=enforcing\nSELINUXTYPE=default\n")
    write(root, "/etc/fstab", read(root, "/etc/fstab") + DATA_DISK)
    os.makedirs(root + "/data", exist_ok=True)
    # virtio_blk out of the initramfs: only the listed modules, and none of them virtio.
    conf = read(root, "/etc/initramfs-tools/initramfs.conf")
    assert "\nMODULES=most\n" in conf
    write(root, "/etc/initramfs-tools/initramfs.conf", conf.replace("\nMODULES=most\n", "\nMODULES=list\n"))
    write(root, "/etc/initramfs-tools/modules", "# List of modules that you want to include in your initramfs.\n")
    sh("chroot", root, "update-initramfs", "-u", "-k", "all")
    assert not initramfs_has(root, "virtio_blk")
    assert os.path.exists(root + "/usr/sbin/qemu-ga")
    # Not a defect: the harness's way in, to look at eth0's address from inside.
    write(root, "/root/.ssh/authorized_keys", public_key, mode=0o600)
    sh("chattr", "+i", root + "/etc/shadow")


def boot_test_cli(disk, console, *extra):
    argv = [sys.executable, "-m", "agent", "boot-test", disk, "--format", "json", "--keep-console", console] + list(extra)
    done = subprocess.run(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    say("boot-test exit {}; console log {}".format(done.returncode, console))
    return done.returncode, json.loads(done.stdout), done.stderr


def test_defective_image_fails_to_boot_fix_makes_it_boot_with_dhcp_and_ssh(base_image, results, tmp_path):
    raw = str(tmp_path / "disk.raw")
    mnt = str(tmp_path / "mnt")
    sh("qemu-img", "convert", "-O", "raw", base_image, raw)
    key, public_key = ssh_key(tmp_path)
    with mounted(raw, mnt, proc=True) as root:
        put_defects(root, public_key)

    # 1. The defective image, as a user would test it (KVM if it works, TCG otherwise).
    code, result, err = boot_test_cli(raw, os.path.join(results, "boot1-defective.console.log"), "--timeout", "300")
    with open(os.path.join(results, "boot1-defective.json"), "w") as handle:
        json.dump(result, handle, indent=1)
    assert code == 3, err
    assert result["status"] == "FAIL" and result["format"] == "raw" and result["firmware"] == "bios"
    assert result["cause"]["id"] == "root_not_found", result["cause"]
    console = "\n".join(result["console_tail"])
    assert "Gave up waiting for root file system device" in console or "ALERT!" in console, console
    say("1. defective image: {} ({}; {})".format(result["cause"]["summary"], result["cause"]["line"],
                                                 result["accelerator_reason"]))

    # 2. guestprep fix on the mounted image.
    with mounted(raw, mnt, proc=True) as root:
        done = subprocess.run([sys.executable, "-m", "agent", "fix", "--root", root, "--items", "all", "--yes",
                               "--format", "json"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, env=dict(os.environ, NO_COLOR="1"))
        with open(os.path.join(results, "fix.json"), "w") as handle:
            handle.write(done.stdout)
        fix = json.loads(done.stdout)
        outcomes = dict((o["id"] if "id" in o else o.get("check_id"), o["outcome"]) for o in fix["outcomes"])
        say("2. fix --items all: exit {}; {}".format(done.returncode, outcomes))
        assert done.returncode in (0, 3), (done.returncode, outcomes, done.stderr[-2000:])  # nothing rolled back
        for item in ("selinux", "dhcp", "fstab", "shadow", "qemu_ga", "virtio", "nvme"):
            assert outcomes.get(item) == "FIXED", (item, outcomes, done.stderr[-2000:])
        assert "iface eth0 inet dhcp" in read(root, "/etc/network/interfaces")
        assert not os.path.exists(root + "/usr/sbin/qemu-ga")
        # nvme: grub-mkconfig cannot run on the mounted image, so the kernel lines were edited
        assert "nvme_core.io_timeout=4294967295" in read(root, "/boot/grub/grub.cfg")
        # guestprep's own virtio fix (initramfs-tools modules + update-initramfs) puts
        # virtio_blk back; step 3 proves that it is enough to find the root disk.
        assert outcomes.get("virtio") == "FIXED", (outcomes, done.stderr[-2000:])
        assert initramfs_has(root, "virtio_blk")

    # 3. Boot the fixed image: login prompt, DHCP on eth0, sshd.
    inside = {}

    def look_inside(port):
        inside.update(ssh_run(key, port, tmp_path / "known_hosts", "ip -4 -o addr show dev eth0; cat /proc/cmdline; "
                              "systemctl is-active multi-user.target ssh.service"))

    console_path = os.path.join(results, "boot2-fixed.console.log")
    result = boottest.BootTest(raw, timeout=400, accel="tcg", keep_console=console_path, on_ready=look_inside,
                               progress=say).run()
    with open(os.path.join(results, "boot2-fixed.json"), "w") as handle:
        json.dump(dict(result, ssh_inside=inside), handle, indent=1)
    say("3. fixed image: {} after {}s; console log {}".format(result["status"], result["elapsed"], console_path))
    assert result["status"] == "PASS", (result["cause"], result["console_tail"])
    assert result["login_prompt"] and result["ssh_banner"].startswith("SSH-2.0-OpenSSH")
    assert inside.get("code") == 0, inside
    # 10.0.2.15 is what qemu's DHCP server hands out; "dynamic" is a lease, not a static address.
    assert "inet 10.0.2.15/24" in inside["out"] and "dynamic" in inside["out"], inside["out"]
    # the kernel booted from the grub.cfg guestprep edited offline
    assert "nvme_core.io_timeout=4294967295" in inside["out"], inside["out"]
    assert inside["out"].split()[-2:] == ["active", "active"], inside["out"]
    say("   eth0: " + inside["out"].splitlines()[0].strip())
    say("results in " + results)
