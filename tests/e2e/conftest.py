"""End-to-end fixtures: a fresh copy of a real Debian root (debootstrap) for each test.

The base root is built once by build_root.sh and cached as a tarball; each test extracts
its own copy under pytest's temporary directory. Everything these fixtures create or
delete is inside that directory: `remove_tree` refuses any other path.
"""
import os
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def base_tarball():
    if os.geteuid() != 0:
        pytest.skip("end-to-end tests need root (debootstrap, chroot, chattr)")
    if os.environ.get("GUESTPREP_E2E") == "0":
        pytest.skip("GUESTPREP_E2E=0")
    done = subprocess.run(["bash", os.path.join(HERE, "build_root.sh")], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True)
    if done.returncode != 0:
        pytest.fail("could not build the Debian root:\n" + done.stderr[-3000:])
    return done.stdout.strip().splitlines()[-1]


def remove_tree(path, parent):
    """Delete `path` only if it lies inside `parent` (a pytest temporary directory)."""
    path, parent = os.path.realpath(str(path)), os.path.realpath(str(parent))
    if not path.startswith(parent + os.sep) or path == parent:
        raise RuntimeError("refusing to delete {} outside {}".format(path, parent))
    subprocess.call(["chattr", "-R", "-i", "-a", path], stderr=subprocess.DEVNULL)
    shutil.rmtree(path)


@pytest.fixture
def debian(base_tarball, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    subprocess.check_call(["tar", "-C", str(root), "--xattrs", "--numeric-owner", "-xf", base_tarball])
    yield DebianRoot(str(root))
    remove_tree(root, tmp_path)


@pytest.fixture
def mounted_debian(base_tarball, tmp_path):
    """The Debian root on its own ext4 filesystem, loop-mounted as an exported disk is: the
    root path is a mount point, so guestprep can read the filesystem's UUID on the host.
    Yields (DebianRoot, loop device)."""
    disk = tmp_path / "disk.img"
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    with open(str(disk), "wb") as handle:
        handle.truncate(2 << 30)
    subprocess.check_call(["mkfs.ext4", "-q", "-F", "-L", "vmware-root", str(disk)])
    done = subprocess.run(["losetup", "-f", "--show", str(disk)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True)
    if done.returncode != 0:
        pytest.skip("no loop device here: " + done.stderr.strip())
    loop = done.stdout.strip()
    try:
        subprocess.check_call(["mount", loop, str(mnt)])
        try:
            subprocess.check_call(["tar", "-C", str(mnt), "--xattrs", "--numeric-owner", "-xf", base_tarball])
            yield DebianRoot(str(mnt)), loop
        finally:
            subprocess.call(["umount", str(mnt)])
    finally:
        subprocess.call(["losetup", "-d", loop])
        os.remove(str(disk))


class DebianRoot(object):
    def __init__(self, path):
        self.path = path

    def p(self, guest_path):
        return self.path + guest_path

    def write(self, guest_path, text, mode=0o644):
        host = self.p(guest_path)
        os.makedirs(os.path.dirname(host), exist_ok=True)
        with open(host, "w") as handle:
            handle.write(text)
        os.chmod(host, mode)

    def read(self, guest_path):
        with open(self.p(guest_path), "rb") as handle:
            return handle.read()

    def chroot(self, *argv, **kw):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive", LC_ALL="C")
        return subprocess.run(["chroot", self.path] + list(argv), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, universal_newlines=True, env=env, **kw)

    def guestprep(self, *args):
        """Run the CLI as a user would; returns (exit code, stdout, stderr)."""
        cmd = [sys.executable, "-m", "agent"] + list(args[:1]) + ["--root", self.path] + list(args[1:])
        done = subprocess.run(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, env=dict(os.environ, NO_COLOR="1"))
        return done.returncode, done.stdout, done.stderr

    def lsattr(self, guest_path):
        out = subprocess.check_output(["lsattr", "-d", self.p(guest_path)], universal_newlines=True)
        return out.split()[0]
