"""Fixtures of the safety tests: real temporary roots, the cached Debian root, root-only skips.

Tests marked e2e (the crash harness on the real Debian root, about two minutes) run only
when asked for with `-m e2e` (tools/test.sh does); in the unit run they are skipped with
that reason, so `pytest tests` stays quick. The other tests run everywhere; those that
need root (mount, mknod, chattr, chown) skip without it.
"""
import os
import shutil
import subprocess
import sys

import pytest

sys.path.append(os.path.dirname(os.path.abspath(__file__)))  # not first: tests/conftest.py is `conftest`

import safetylib  # noqa: E402


def pytest_collection_modifyitems(config, items):
    expr = config.getoption("-m") or ""
    asked = "e2e" in expr and "not e2e" not in expr
    for item in items:
        if item.get_closest_marker("e2e") and not asked:
            item.add_marker(pytest.mark.skip(
                reason="end-to-end safety harness: run with -m e2e (tools/test.sh does)"))


@pytest.fixture
def as_root():
    if os.geteuid() != 0:
        pytest.skip("needs root (mount, mknod, chattr, chown, security.* xattrs)")


@pytest.fixture
def mini(tmp_path):
    """A small Debian-like root with four reversible defects, in a real temporary directory."""
    return safetylib.mini_root(str(tmp_path / "root"))


@pytest.fixture(scope="module")
def debian_root(tmp_path_factory):
    """One copy of the real Debian root for a whole module (the harness resets it itself)."""
    e2e = safetylib.e2e_conftest()
    if os.geteuid() != 0:
        pytest.skip("end-to-end tests need root (debootstrap, chroot, chattr)")
    if os.environ.get("GUESTPREP_E2E") == "0":
        pytest.skip("GUESTPREP_E2E=0")
    done = subprocess.run(["bash", os.path.join(safetylib.TESTS, "e2e", "build_root.sh")],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    if done.returncode != 0:
        pytest.fail("could not build the Debian root:\n" + done.stderr[-3000:])
    tarball = done.stdout.strip().splitlines()[-1]
    parent = tmp_path_factory.mktemp("debian")
    root = parent / "root"
    root.mkdir()
    subprocess.check_call(["tar", "-C", str(root), "--xattrs", "--numeric-owner", "-xf", tarball])
    yield e2e.DebianRoot(str(root))
    e2e.remove_tree(root, parent)


def mounted(path):
    """True when `path` is a mount point (bind mounts too, which os.path.ismount misses)."""
    with open("/proc/self/mounts") as handle:
        points = [line.split()[1].replace("\\040", " ") for line in handle]
    return path in points


def unmount(path):
    """Unmount every mount stacked on `path` (lazily if busy); never raises."""
    for _attempt in range(8):
        if not mounted(path):
            return
        if subprocess.call(["umount", path], stderr=subprocess.DEVNULL) != 0:
            subprocess.call(["umount", "-l", path], stderr=subprocess.DEVNULL)


@pytest.fixture
def mounts(tmp_path):
    """mounts.add(path) registers a mount point inside tmp_path to unmount at teardown."""
    class Mounts(list):
        def add(self, path):
            path = os.path.realpath(str(path))
            if not path.startswith(os.path.realpath(str(tmp_path)) + os.sep):
                raise RuntimeError("refusing a mount outside the test's directory: " + path)
            self.append(path)
            return path
    registry = Mounts()
    yield registry
    for path in reversed(registry):
        unmount(path)


@pytest.fixture
def clean_tree(tmp_path):
    """remove(path) deletes a tree inside tmp_path after clearing chattr flags."""
    def remove(path):
        path = os.path.realpath(str(path))
        if not path.startswith(os.path.realpath(str(tmp_path)) + os.sep):
            raise RuntimeError("refusing to delete " + path)
        subprocess.call(["chattr", "-R", "-i", "-a", path], stderr=subprocess.DEVNULL)
        shutil.rmtree(path, ignore_errors=True)
    return remove
