"""The shipped artefacts as users meet them: the single file on Python 3.6 and the newest
without site-packages, the rpm's contents and dependencies, the deb installed with apt
into a real Debian root and run with that root's own python3, the systemd units, the
Packer provisioner, and the Ansible role over several real Debian roots.

The single-file tests need only pyenv's Pythons; the rest are marked e2e (they need root,
the cached Debian root of tests/e2e, and the packages tools/package.sh builds).
"""
import contextlib
import glob
import json
import os
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DIST = os.path.join(REPO, "dist")
VERSION = None
with open(os.path.join(REPO, "agent", "__init__.py")) as _handle:
    for _line in _handle:
        if _line.startswith("__version__"):
            VERSION = _line.split('"')[1]

e2e = pytest.mark.e2e


def sh(argv, **kw):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, **kw)


def pyenv_python(prefix):
    """The newest pyenv Python whose version starts with prefix ('3.6', '3.'), or None."""
    try:
        versions = sh(["pyenv", "versions", "--bare"]).stdout.split()
    except OSError:
        return None
    found = sorted((v for v in versions if v.startswith(prefix) and v.count(".") == 2 and
                    all(p.isdigit() for p in v.split("."))), key=lambda v: tuple(int(p) for p in v.split(".")))
    if not found:
        return None
    done = sh(["pyenv", "which", "python"], env=dict(os.environ, PYENV_VERSION=found[-1]))
    return done.stdout.strip() if done.returncode == 0 else None


@pytest.fixture(scope="module")
def pyz(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("pyz") / "guestprep.pyz")
    done = sh(["bash", os.path.join(REPO, "packaging", "zipapp", "build.sh"), out])
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(autouse=True)
def pyz_cache(tmp_path_factory, monkeypatch):
    """The pyz's code cache (agent/core/pyzcache.py) in a directory of the test, not /run."""
    directory = str(tmp_path_factory.getbasetemp() / "pyz-cache")
    monkeypatch.setenv("GUESTPREP_PYZ_CACHE", directory)
    return directory


@pytest.fixture
def image(tmp_path):
    root = tmp_path / "image"
    for d in ("etc/selinux", "etc/netplan", "usr/bin", "var/lib/dpkg"):
        (root / d).mkdir(parents=True)
    (root / "etc/os-release").write_text('ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12"\n')
    (root / "etc/selinux/config").write_text("SELINUX=enforcing\n")
    (root / "etc/netplan/01.yaml").write_text("network:\n  ethernets:\n    eth0:\n      addresses: [10.0.0.5/24]\n")
    (root / "var/lib/dpkg/status").write_text("Package: cloud-init\nStatus: install ok installed\nVersion: 22.4-1\n")
    return str(root)


# -- single file -------------------------------------------------------------------------

def test_pyz_holds_the_code_only(pyz):
    import zipfile
    names = zipfile.ZipFile(pyz).namelist()
    assert "__main__.py" in names and "agent/output/cli.py" in names and "remediations/__init__.py" in names
    assert not [n for n in names if not (n == "__main__.py" or n.startswith(("agent/", "remediations/")))]
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    with open(pyz, "rb") as handle:
        assert handle.readline() == b"#!/usr/bin/env python3\n"


@pytest.mark.parametrize("which", ["3.6", "newest"])
def test_pyz_runs_without_site_packages(pyz, image, which):
    python = pyenv_python("3.6") if which == "3.6" else pyenv_python("3.")
    if python is None:
        pytest.skip("pyenv has no Python " + which)
    # -I -S: no site-packages at all, so no psutil, distro or yaml, as on a bare VM.
    done = sh([python, "-I", "-S", pyz, "check", "--root", image, "--format", "json"])
    assert done.returncode == 3, done.stderr
    data = json.loads(done.stdout)
    by_id = dict((r["id"], r) for r in data["results"])
    assert by_id["selinux"]["status"] == "FAIL"
    assert by_id["dhcp"]["status"] == "WARN" and "PyYAML is not installed (python3-yaml)" in by_id["dhcp"]["summary"]
    assert [m["module"] for m in data["missing_modules"]] == ["yaml"]   # psutil: not needed offline
    assert not [r for r in data["results"] if r["status"] == "ERROR" and "No module named" in r["summary"]]
    text = sh([python, "-I", "-S", pyz, "check", "--root", image])
    assert "Without yaml (python3-yaml or python3-pyyaml): netplan files are not read" in text.stdout


@pytest.mark.parametrize("which", ["3.6", "newest"])
def test_pyz_speaks_japanese_and_chinese_from_its_compiled_catalogues(pyz, image, which):
    """One guestprep.mo per language inside the zip (no .po), read through the zip's loader."""
    import zipfile
    names = zipfile.ZipFile(pyz).namelist()
    assert "agent/locale/ja/guestprep.mo" in names and "agent/locale/zh_CN/guestprep.mo" in names
    assert not [n for n in names if n.endswith(".po")]
    python = pyenv_python("3.6") if which == "3.6" else pyenv_python("3.")
    if python is None:
        pytest.skip("pyenv has no Python " + which)
    env = dict(os.environ, LANG="ja_JP.UTF-8")
    env.pop("LC_ALL", None), env.pop("LC_MESSAGES", None), env.pop("LANGUAGE", None)
    done = sh([python, "-I", "-S", pyz, "check", "--root", image], env=env)
    assert done.returncode == 3, done.stderr
    assert "セキュリティ強化Linux (SELinux) がイメージに対して無効になっているかどうか" in done.stdout
    assert "インポートを妨げる項目: " in done.stdout
    done = sh([python, "-I", "-S", pyz, "list", "--lang", "zh_CN"], env=dict(env, LANG="C"))
    assert done.returncode == 0 and "镜像是否关闭了SELinux" in done.stdout, done.stderr


@pytest.mark.parametrize("which", ["3.6", "newest"])
def test_pyz_on_the_running_system_without_psutil_skips_and_says_why(pyz, which):
    python = pyenv_python("3.6") if which == "3.6" else pyenv_python("3.")
    if python is None:
        pytest.skip("pyenv has no Python " + which)
    done = sh([python, "-I", "-S", pyz, "check", "--format", "json"])   # read-only
    assert done.returncode in (0, 3), done.stderr
    data = json.loads(done.stdout)
    assert "psutil" in [m["module"] for m in data["missing_modules"]]
    for r in data["results"]:
        assert "psutil" not in r["summary"] or r["status"] == "SKIP", r
        assert "No module named" not in r["summary"], r


@pytest.mark.parametrize("which", ["3.6", "newest"])
def test_pyz_compiles_once_per_python_and_runs_the_same_from_its_cache(pyz, image, which, tmp_path):
    python = pyenv_python("3.6") if which == "3.6" else pyenv_python("3.")
    if python is None:
        pytest.skip("pyenv has no Python " + which)
    cache = str(tmp_path / "cache")
    argv = [python, "-I", "-S", pyz, "check", "--root", image, "--format", "json"]
    plain = sh(argv, env=dict(os.environ, GUESTPREP_PYZ_CACHE="off"))
    first = sh(argv, env=dict(os.environ, GUESTPREP_PYZ_CACHE=cache))
    [name] = os.listdir(cache)
    before = os.stat(os.path.join(cache, name))
    second = sh(argv, env=dict(os.environ, GUESTPREP_PYZ_CACHE=cache))
    after = os.stat(os.path.join(cache, name))
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)   # read, not rebuilt
    assert before.st_mode & 0o777 == 0o600 and os.stat(cache).st_mode & 0o777 == 0o700
    def strip(out):   # what the checks found (free space moves between runs on this machine)
        return [(r["id"], r["status"], r["summary"] if r["id"] != "free_space" else "")
                for r in json.loads(out)["results"]]
    assert plain.returncode == first.returncode == second.returncode == 3
    assert strip(first.stdout) == strip(plain.stdout) == strip(second.stdout)
    os.chmod(cache, 0o755)    # others may enter: not used, and the run is unchanged
    third = sh(argv, env=dict(os.environ, GUESTPREP_PYZ_CACHE=cache))
    assert third.returncode == 3 and strip(third.stdout) == strip(plain.stdout)


def test_pyz_with_the_system_modules_uses_them(pyz, image):
    done = sh([sys.executable, pyz, "check", "--root", image, "--format", "json"])
    data = json.loads(done.stdout)
    assert "missing_modules" not in data
    dhcp = [r for r in data["results"] if r["id"] == "dhcp"][0]
    assert dhcp["status"] == "FAIL" and "static" in dhcp["summary"]


# -- rpm -------------------------------------------------------------------------------------

def built(kind):
    pattern = {"rpm": "guestprep-{}-1*.noarch.rpm", "deb": "guestprep_{}_all.deb"}[kind].format(VERSION)
    found = sorted(glob.glob(os.path.join(DIST, pattern)))
    if not found:
        if os.environ.get("CI"):
            pytest.fail("dist/{} missing: tools/package.sh {} did not run".format(pattern, kind))
        pytest.skip("dist/{} missing: run tools/package.sh {}".format(pattern, kind))
    return found[-1]


@e2e
def test_rpm_contents_and_requirements():
    rpm = built("rpm")
    files = sh(["rpm", "-qlp", rpm]).stdout.split()
    assert "/usr/bin/guestprep" in files
    assert "/usr/share/guestprep/agent/output/cli.py" in files and "/usr/share/guestprep/remediations/__init__.py" in files
    assert "/usr/lib/systemd/system/guestprep-check.service" in files
    assert "/usr/lib/systemd/system/guestprep-fix-at-shutdown.service" in files
    assert [f for f in files if f.startswith("/usr/share/man/man1/guestprep.1")]
    for lang in ("ja", "zh_CN"):   # the message catalogues, compiled
        assert "/usr/share/guestprep/agent/locale/{}/guestprep.mo".format(lang) in files
    assert not [f for f in files if "site-packages" in f or "__pycache__" in f]
    requires = sh(["rpm", "-qp", "--requires", rpm]).stdout.splitlines()
    for name in ("python3 >= 3.6", "python3-psutil", "python3-distro", "python3-pyyaml"):
        assert name in requires
    assert sh(["rpm", "-qp", "--qf", "%{ARCH}", rpm]).stdout == "noarch"


# -- Debian roots -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def base_tarball():
    if os.geteuid() != 0:
        pytest.skip("needs root (chroot)")
    if os.environ.get("GUESTPREP_E2E") == "0":
        pytest.skip("GUESTPREP_E2E=0")
    done = sh(["bash", os.path.join(REPO, "tests", "e2e", "build_root.sh")])
    if done.returncode != 0:
        pytest.fail("could not build the Debian root:\n" + done.stderr[-3000:])
    return done.stdout.strip().splitlines()[-1]


def extract(tarball, path):
    os.makedirs(path)
    subprocess.check_call(["tar", "-C", path, "--xattrs", "--numeric-owner", "-xf", tarball])
    return path


def remove_root(path, parent):
    path, parent = os.path.realpath(path), os.path.realpath(str(parent))
    if not path.startswith(parent + os.sep):
        raise RuntimeError("refusing to delete {} outside {}".format(path, parent))
    if os.path.ismount(os.path.join(path, "proc")):
        raise RuntimeError("{}/proc is still mounted".format(path))
    subprocess.call(["chattr", "-R", "-i", "-a", path], stderr=subprocess.DEVNULL)
    shutil.rmtree(path)


@contextlib.contextmanager
def proc_mounted(root):
    """/proc in the chroot, as a running VM has it (psutil reads it)."""
    target = os.path.join(root, "proc")
    subprocess.check_call(["mount", "-t", "proc", "proc", target])
    try:
        yield
    finally:
        subprocess.check_call(["umount", target])


def chroot(root, *argv):
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive", LC_ALL="C", NO_COLOR="1")
    return sh(["chroot", root] + list(argv), env=env)


@pytest.fixture
def debian(base_tarball, tmp_path):
    root = extract(base_tarball, str(tmp_path / "root"))
    yield root
    remove_root(root, tmp_path)


@e2e
def test_deb_installs_with_apt_and_runs_with_the_roots_own_python(debian):
    deb = built("deb")
    shutil.copy(deb, os.path.join(debian, "tmp"))
    done = chroot(debian, "apt-get", "install", "-y", "/tmp/" + os.path.basename(deb))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert os.path.isfile(os.path.join(debian, "usr/share/guestprep/agent/output/cli.py"))
    assert not glob.glob(os.path.join(debian, "usr/lib/python3*/dist-packages/agent"))
    with proc_mounted(debian):
        done = chroot(debian, "guestprep", "check", "--format", "json")
    assert done.returncode == 3, done.stderr
    data = json.loads(done.stdout)
    assert data["live"] is True and data["os"]["id"] == "debian"
    qemu = [r for r in data["results"] if r["id"] == "qemu_ga"][0]
    assert qemu["status"] == "FAIL" and "qemu-guest-agent" in qemu["summary"]
    assert "missing_modules" not in data   # the root's python3-psutil and python3-yaml were used
    assert chroot(debian, "guestprep", "--version").stdout.strip() == "guestprep " + VERSION
    for lang in ("ja", "zh_CN"):
        assert os.path.isfile(os.path.join(debian, "usr/share/guestprep/agent/locale", lang, "guestprep.mo"))
    listed = chroot(debian, "guestprep", "list", "--lang", "ja")
    assert "virtioドライバがイメージにインストールされているかどうか" in listed.stdout, listed.stderr
    assert os.path.exists(os.path.join(debian, "usr/share/man/man1/guestprep.1.gz"))
    # The units, verified by the root's own systemd (man-db is not in a minimal root).
    units = ["/lib/systemd/system/guestprep-check.service", "/lib/systemd/system/guestprep-fix-at-shutdown.service"]
    done = chroot(debian, "systemd-analyze", "verify", "--man=no", *units)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    # Installing enables nothing; arming (in a chroot systemctl cannot start it) enables it.
    wants = os.path.join(debian, "etc/systemd/system/multi-user.target.wants")
    assert not [n for n in os.listdir(wants) if n.startswith("guestprep")]
    done = chroot(debian, "guestprep", "fix", "--at-shutdown", "dhcp")
    assert done.returncode == 0 and "Armed: dhcp" in done.stdout, done.stderr
    assert os.path.islink(os.path.join(wants, "guestprep-fix-at-shutdown.service"))
    assert chroot(debian, "guestprep", "at-shutdown", "disarm").stdout == "Disarmed.\n"
    assert not os.path.lexists(os.path.join(wants, "guestprep-fix-at-shutdown.service"))
    done = chroot(debian, "apt-get", "purge", "-y", "guestprep")
    assert done.returncode == 0 and not os.path.exists(os.path.join(debian, "usr/share/guestprep"))


# -- Packer -----------------------------------------------------------------------------------

@e2e
def test_packer_provisioner_fails_the_build_on_blocking_findings(debian, pyz):
    shutil.copy(pyz, os.path.join(debian, "tmp/guestprep.pyz"))
    shutil.copy(os.path.join(REPO, "packaging/packer/guestprep-provision.sh"), os.path.join(debian, "tmp"))
    with proc_mounted(debian):
        done = chroot(debian, "sh", "/tmp/guestprep-provision.sh")
    assert done.returncode == 3, done.stdout[-3000:] + done.stderr[-3000:]
    assert "== guestprep check" in done.stdout and "failing the build" in done.stderr
    assert not os.path.exists(os.path.join(debian, "var/lib/guestprep"))   # no backups in the image
    if shutil.which("packer"):
        done = sh(["packer", "validate", "-var", "guestprep_pyz=" + pyz, "guestprep.pkr.hcl"],
                  cwd=os.path.join(REPO, "packaging/packer"))
        assert done.returncode == 0, done.stdout + done.stderr


@e2e
def test_packer_provisioner_named_items_come_on_top_of_the_safe_fixes(debian, pyz):
    # SELinux enforcing (a safe fix) and qemu-guest-agent (removed only when named): with
    # GUESTPREP_ITEMS=qemu-ga both are fixed, and the final check of everything passes.
    shutil.copy(pyz, os.path.join(debian, "tmp/guestprep.pyz"))
    shutil.copy(os.path.join(REPO, "packaging/packer/guestprep-provision.sh"), os.path.join(debian, "tmp"))
    os.makedirs(os.path.join(debian, "etc/selinux"), exist_ok=True)
    with open(os.path.join(debian, "etc/selinux/config"), "w") as handle:
        handle.write("SELINUX=enforcing\nSELINUXTYPE=default\n")
    with proc_mounted(debian):
        done = chroot(debian, "env", "GUESTPREP_ITEMS=qemu-ga", "sh", "/tmp/guestprep-provision.sh")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "== guestprep fix --items qemu-ga" in done.stdout and "nothing blocks the import" in done.stdout
    with open(os.path.join(debian, "etc/selinux/config")) as handle:
        assert "SELINUX=disabled" in handle.read()
    assert not os.path.exists(os.path.join(debian, "usr/sbin/qemu-ga"))
    assert not os.path.exists(os.path.join(debian, "var/lib/guestprep"))


# -- Ansible ----------------------------------------------------------------------------------

def ansible_playbook():
    for candidate in (os.environ.get("GUESTPREP_ANSIBLE_PLAYBOOK"),
                      os.path.join(REPO, ".venv", "ansible", "bin", "ansible-playbook"),
                      shutil.which("ansible-playbook")):
        if candidate and os.path.exists(candidate):
            return candidate
    return None


@e2e
def test_ansible_role_over_several_debian_roots(base_tarball, pyz, tmp_path):
    playbook = ansible_playbook()
    if playbook is None:
        if os.environ.get("CI"):
            pytest.fail("ansible-playbook not found (tools/test.sh installs it in .venv/ansible)")
        pytest.skip("ansible-playbook not found")
    roots = dict((name, extract(base_tarball, str(tmp_path / name))) for name in ("web1", "web2", "db1"))
    try:
        # Different states: web2 already prepared, db1 with a data disk in fstab.
        for name in ("web2",):
            assert chroot(roots[name], "apt-get", "purge", "-y", "qemu-guest-agent").returncode == 0
        with open(os.path.join(roots["db1"], "etc/fstab"), "a") as handle:
            handle.write("/dev/vdb1 /srv/db ext4 defaults 0 2\n")
        # A safe fix that is not named: guestprep_items adds to the safe fixes, not instead.
        os.makedirs(os.path.join(roots["web1"], "etc/selinux"), exist_ok=True)
        with open(os.path.join(roots["web1"], "etc/selinux/config"), "w") as handle:
            handle.write("SELINUX=enforcing\n")
        inventory = tmp_path / "inventory.ini"
        inventory.write_text("[roots]\n" + "".join("{} ansible_host={}\n".format(n, p) for n, p in sorted(roots.items()))
                             + "[roots:vars]\nansible_connection=community.general.chroot\nansible_become=false\n"
                             "ansible_python_interpreter=/usr/bin/python3\n")
        reports = tmp_path / "reports"
        env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_HOST_KEY_CHECKING="False",
                   ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"), ANSIBLE_FORCE_COLOR="0")
        with contextlib.ExitStack() as stack:
            for root in roots.values():
                stack.enter_context(proc_mounted(root))
            done = sh([playbook, "-i", str(inventory), os.path.join(REPO, "packaging/ansible/site.yml"),
                       "-e", "guestprep_pyz=" + pyz, "-e", "guestprep_report_dir=" + str(reports),
                       "-e", "guestprep_fix=true", "-e", "guestprep_items=firewall",
                       "-e", "guestprep_remove_journal=true"], env=env)
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
        for name in roots:
            data = json.loads((reports / (name + ".json")).read_text())
            assert data["command"] == "check" and data["live"] is True   # the state after the fixes
            assert not os.path.exists(os.path.join(roots[name], "var/lib/guestprep"))
        web1 = json.loads((reports / "web1.json").read_text())
        assert [r["status"] for r in web1["results"] if r["id"] == "selinux"] == ["PASS"]
        db1 = json.loads((reports / "db1.json").read_text())
        assert [r["status"] for r in db1["results"] if r["id"] == "fstab"] != ["FAIL"]
        with open(os.path.join(roots["db1"], "etc/fstab")) as handle:
            assert "# guestprep disabled: /dev/vdb1 /srv/db ext4 defaults 0 2" in handle.read()
        md = (reports / "fleet.md").read_text()
        rows = [line.split("|")[1].strip() for line in md.splitlines()
                if line.startswith("| ") and not line.startswith("| host")]
        assert sorted(rows) == ["db1", "web1", "web2"], md
        # web2 has no qemu-ga, so it is not worse than the others: it sorts last.
        assert rows[-1] == "web2", md
        qemu_col = [c.strip() for c in md.splitlines()[4].split("|")].index("qemu-ga")
        cells = dict((line.split("|")[1].strip(), line.split("|")[qemu_col].strip())
                     for line in md.splitlines() if line.startswith("| ") and not line.startswith("| host"))
        assert cells == {"web1": "FAIL", "db1": "FAIL", "web2": "PASS"}
        page = (reports / "fleet.html").read_text()
        assert page.startswith("<!DOCTYPE html>") and "http" not in page and "<script" not in page
    finally:
        for root in roots.values():
            remove_root(root, tmp_path)
