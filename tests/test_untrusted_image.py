"""`check --root` and `plan --root` run nothing from the image and write nothing there (issue 11).

Each fixture root is made hostile: every program a check could reach for (rpm, dpkg, zstd,
lz4, update-initramfs, dracut, grub-mkconfig, systemctl, usermod, apt-get, dnf, zypper, sh
...) is a script that leaves a marker -- in a host directory when it runs on the host, in
the image when it runs chrooted. The scripts work either way: the image gets a real shell
(a copy of this machine's dash and the libraries it needs), so a chrooted `rpm -qa` as the
old code ran it does leave its marker. Every check and every plan then runs through the
CLI; afterwards no marker exists and every byte, link and mode of the tree is as before.
The initramfs is zstd-compressed, so the driver checks must decompress it with this
machine's zstd, not the image's.
"""
import hashlib
import os
import shutil
import stat
import subprocess

import pytest

from agent.output import cli

HERE = os.path.dirname(os.path.abspath(__file__))
ROOTS = os.path.join(HERE, "fixtures", "roots")
PROGRAMS = ("rpm", "rpmdb", "rpmkeys", "dpkg", "dpkg-query", "zstd", "lz4", "xz", "gzip", "cpio", "lsinitrd",
            "lsinitramfs", "update-initramfs", "mkinitramfs", "dracut", "grub-mkconfig", "grub2-mkconfig",
            "update-grub", "grubby", "systemctl", "usermod", "passwd", "pwconv", "apt-get", "apt", "dnf", "yum",
            "zypper", "sh", "bash", "python3", "chattr", "lsattr", "getenforce", "blkid", "modinfo", "depmod")
DIRS = ("/usr/bin", "/usr/sbin")


def tree_digest(path):
    """Every entry's kind, mode, and bytes or link target, under path."""
    h = hashlib.sha256()
    for directory, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(dirs + files):
            full = os.path.join(directory, name)
            st = os.lstat(full)
            h.update("{}\0{:o}\0".format(os.path.relpath(full, path), st.st_mode).encode("utf-8", "surrogateescape"))
            if stat.S_ISLNK(st.st_mode):
                h.update(os.readlink(full).encode("utf-8", "surrogateescape"))
            elif stat.S_ISREG(st.st_mode):
                with open(full, "rb") as handle:
                    h.update(hashlib.sha256(handle.read()).digest())
    return h.hexdigest()


def _host_file(root, guest_path):
    """Host path of guest_path inside root, creating directories (through the root's links)."""
    parts = guest_path.strip("/").split("/")
    current = root
    for part in parts[:-1]:
        current = os.path.join(current, part)
        if os.path.islink(current):
            current = os.path.join(os.path.dirname(current), os.readlink(current))
        os.makedirs(current, exist_ok=True)
    return os.path.join(current, parts[-1])


def make_hostile(root, markers):
    """Plant a real shell and a marker script for every program in PROGRAMS."""
    dash = shutil.which("dash")
    libs = subprocess.check_output(["ldd", dash], universal_newlines=True)
    for line in libs.splitlines():
        words = line.split()
        lib = next((w for w in words if w.startswith("/")), None)
        if lib:
            target = _host_file(root, lib)
            if not os.path.exists(target):
                shutil.copy2(lib, target)
    shell = _host_file(root, "/usr/bin/dash")
    shutil.copy2(dash, shell)
    script = ("#!/usr/bin/dash\n"
              "if [ -d {m} ]; then echo \"$0 $*\" >> {m}/ran; else echo \"$0 $*\" >> /guestprep-marker; fi\n"
              "exit 0\n").format(m=markers)
    for directory in DIRS:
        for name in PROGRAMS:
            path = _host_file(root, directory + "/" + name)
            if os.path.lexists(path):
                os.remove(path)
            with open(path, "w") as handle:
                handle.write(script)
            os.chmod(path, 0o755)


def _newc(names):
    out = b""
    for ino, name in enumerate(list(names) + ["TRAILER!!!"], 1):
        raw = name.encode() + b"\x00"
        out += b"070701" + b"".join(b"%08X" % v for v in (ino, 0o100644, 0, 0, 1, 0, 0, 0, 0, 0, 0, len(raw), 0))
        out += raw + b"\x00" * (-(110 + len(raw)) % 4)
    return out + b"\x00" * (-len(out) % 512)


def zstd_initramfs(root):
    """A zstd-compressed initramfs next to each kernel (as Debian 12 makes them), under the
    name each family's tools give it, so the driver checks must decompress it."""
    zstd = shutil.which("zstd")
    boot = os.path.join(root, "boot")
    for name in os.listdir(boot):
        if not name.startswith("vmlinuz-"):
            continue
        version = name[len("vmlinuz-"):]
        cpio = _newc(["usr/lib/modules/{}/kernel/drivers/block/virtio_blk.ko".format(version)])
        data = subprocess.run([zstd, "-q", "-c"], input=cpio, stdout=subprocess.PIPE, check=True).stdout
        for image in ("initrd.img-" + version, "initramfs-{}.img".format(version), "initrd-" + version):
            with open(os.path.join(boot, image), "wb") as handle:
                handle.write(data)


def _prepare(name, tmp_path):
    markers = str(tmp_path / "markers")
    os.mkdir(markers)
    target = str(tmp_path / "root")
    shutil.copytree(os.path.join(ROOTS, name), target, symlinks=True)
    make_hostile(target, markers)
    if shutil.which("zstd"):
        zstd_initramfs(target)
    return target, markers


def test_the_hostile_programs_do_leave_markers(tmp_path):
    """The harness itself: run chrooted (as the old check did) and on the host, they mark."""
    target, markers = _prepare("debian12", tmp_path)
    if os.geteuid() != 0:
        pytest.skip("chroot needs root")
    subprocess.call(["chroot", target, "rpm", "-qa"])
    assert os.path.exists(os.path.join(target, "guestprep-marker"))
    subprocess.call([os.path.join(target, "usr", "bin", "dpkg"), "--audit"])
    assert os.path.exists(os.path.join(markers, "ran"))


@pytest.mark.skipif(not shutil.which("dash"), reason="needs dash to give the hostile image a shell")
@pytest.mark.parametrize("name", sorted(n for n in os.listdir(ROOTS) if os.path.isdir(os.path.join(ROOTS, n))))
def test_check_and_plan_on_a_hostile_image_run_nothing_and_write_nothing(name, tmp_path, capsys):
    target, markers = _prepare(name, tmp_path)
    before = tree_digest(target)
    for argv in (["check", "--root", target, "--format", "json"],
                 ["plan", "--root", target, "--items", "all", "--format", "json"],
                 ["plan", "--root", target, "--items", "all"],
                 ["check", "--root", target]):
        code = cli.main(argv)
        out = capsys.readouterr()
        assert code in (0, 3), (argv, out.err)
        assert "internal error" not in out.err
    assert os.listdir(markers) == [], open(os.path.join(markers, "ran")).read()
    assert not os.path.lexists(os.path.join(target, "guestprep-marker"))
    assert tree_digest(target) == before
