"""What the boot harnesses share: commands, an image's root partition mounted through an offset
loop device, the harness's own files in the guest (test_boot_real.py, test_boot_matrix.py)."""
import contextlib
import os
import shutil
import struct
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
TOOLS = ("qemu-system-x86_64", "qemu-img", "ssh", "ssh-keygen", "losetup", "chattr")


def sh(*argv, **kw):
    done = subprocess.run(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          env=dict(os.environ, LC_ALL="C", DEBIAN_FRONTEND="noninteractive"), **kw)
    assert done.returncode == 0, "{} failed ({}):\n{}\n{}".format(" ".join(argv), done.returncode,
                                                                 done.stdout[-2000:], done.stderr[-3000:])
    return done.stdout


def say(message):
    sys.stderr.write("boot harness: {}\n".format(message))
    sys.stderr.flush()


def require_boot_harness():
    """Skip unless GUESTPREP_BOOT=1, root, and the tools are here."""
    if os.environ.get("GUESTPREP_BOOT") != "1":
        pytest.skip("the boot harness runs with GUESTPREP_BOOT=1 (tools/test.sh sets it)")
    if os.geteuid() != 0:
        pytest.skip("the boot harness needs root (debootstrap, losetup, mount)")
    for tool in TOOLS:
        if not shutil.which(tool):
            pytest.skip("the boot harness needs {} (tools/test.sh installs it)".format(tool))


def build_image(argv, what):
    """Run an image builder script (prints the image's path last); fail the test if it fails."""
    started = time.time()
    done = subprocess.run(["bash"] + list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True)
    if done.returncode != 0:
        pytest.fail("could not build {}:\n{}".format(what, done.stderr[-3000:]))
    image = done.stdout.strip().splitlines()[-1]
    say("{}: {} ({:.0f}s)".format(what, image, time.time() - started))
    return image


def partition_offset(raw):
    with open(raw, "rb") as handle:
        mbr = handle.read(512)
    assert mbr[510:512] == b"\x55\xaa"
    return struct.unpack("<I", mbr[446 + 8:446 + 12])[0] * 512


@contextlib.contextmanager
def mounted(raw, mnt, proc=False):
    """The image's root partition mounted at `mnt` through an offset loop device; always undone."""
    os.makedirs(mnt, exist_ok=True)
    loop = sh("losetup", "--show", "-f", "-o", str(partition_offset(raw)), raw).strip()
    try:
        sh("mount", loop, mnt)
        try:
            if proc:
                sh("mount", "-t", "proc", "proc", os.path.join(mnt, "proc"))
            try:
                yield mnt
            finally:
                if proc:
                    subprocess.call(["umount", os.path.join(mnt, "proc")])
        finally:
            for _ in range(5):
                if subprocess.call(["umount", mnt]) == 0:
                    break
                time.sleep(1)
    finally:
        subprocess.call(["losetup", "-d", loop], stderr=subprocess.DEVNULL)


def write(root, path, text, mode=0o644):
    host = root + path
    os.makedirs(os.path.dirname(host), exist_ok=True)
    with open(host, "w") as handle:
        handle.write(text)
    os.chmod(host, mode)


def read(root, path):
    with open(root + path) as handle:
        return handle.read()


def ssh_key(directory):
    """A fresh ed25519 key pair for the harness: (private key path, public key text)."""
    key = os.path.join(str(directory), "id_ed25519")
    sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "guestprep-boot-harness", "-f", key)
    with open(key + ".pub") as handle:
        return key, handle.read()


def ssh_run(key, port, known_hosts, command, timeout=120):
    """Run `command` as root in the guest through the forwarded port: {code, out, err}."""
    done = subprocess.run(
        ["ssh", "-i", key, "-p", str(port), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=" + str(known_hosts), "-o", "ConnectTimeout=20", "root@127.0.0.1", command],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=timeout)
    return {"code": done.returncode, "out": done.stdout, "err": done.stderr}
