"""The direct rpm database readers against real rpm on real databases (issue 11).

Debian's `rpm` package (4.18) builds packages (rpmbuild) and writes sqlite databases; its
bdb_ro backend reads Berkeley DB. So: tiny packages are built with rpmbuild (a %config
file, a symlink, an epoch, MD5 and SHA-256 file digests, files in several directories),
installed with `rpm -i --justdb` into a sqlite database, and what `rpm -qa --qf` says of
them -- name, epoch, version, release, arch and every file with its digest, mode and
%config flag -- must equal what agent/facts/rpmdb.py reads. The same header blobs are then put
into a Berkeley DB hash with Berkeley DB's own db_load (package db5.3-util), which real
rpm reads again (bdb_ro), and into an ndb Packages.db. Debian's rpm has no ndb backend,
so ndb is checked against the sqlite answer, with the layout of rpm's rpmpkg.c.
"""
import os
import shutil
import sqlite3
import subprocess

import pytest

import rpmdbs
from agent.facts import rpmdb
from agent.core.rootfs import Root

RPM = shutil.which("rpm")
RPMBUILD = shutil.which("rpmbuild")
pytestmark = pytest.mark.skipif(not (RPM and RPMBUILD), reason="needs rpm and rpmbuild (apt-get install rpm)")

QF = "%{NAME}\t%{EPOCHNUM}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\n[=%{FILENAMES}\t%{FILEDIGESTS}\t%{FILEMODES}\t%{FILEFLAGS}\n]"

SPECS = {
    "tiny-release": ("2", "1.2", "3.el9", "noarch", 8, """
mkdir -p %{buildroot}/etc %{buildroot}/usr/lib
printf 'NAME="Tiny"\\nID=tiny\\n' > %{buildroot}/usr/lib/os-release
ln -s ../usr/lib/os-release %{buildroot}/etc/os-release
echo 'Tiny \\\\r' > %{buildroot}/etc/issue
""", "%config(noreplace) /etc/issue\n/etc/os-release\n/usr/lib/os-release\n"),
    "tiny-tools": (None, "0.9", "1.el7", "x86_64", 1, """
mkdir -p %{buildroot}/usr/bin %{buildroot}/usr/share/doc/tiny %{buildroot}/etc/tiny
printf '#!/bin/sh\\necho hi\\n' > %{buildroot}/usr/bin/tiny
chmod 755 %{buildroot}/usr/bin/tiny
echo doc > %{buildroot}/usr/share/doc/tiny/README
echo 'x=1' > %{buildroot}/etc/tiny/tiny.conf
""", "/usr/bin/tiny\n%doc /usr/share/doc/tiny/README\n%config /etc/tiny/tiny.conf\n%dir /etc/tiny\n"),
}


def _spec(name, epoch, version, release, arch, install, files):
    return ("Name: {}\n{}Version: {}\nRelease: {}\nSummary: test\nLicense: MIT\nBuildArch: {}\n"
            "%description\ntest\n%install\n{}\n%files\n{}").format(
                name, "Epoch: {}\n".format(epoch) if epoch else "", version, release, arch, install, files)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(sqlite database directory, header blobs as rpm stored them)."""
    base = tmp_path_factory.mktemp("rpm")
    top = base / "top"
    rpms = []
    for name, (epoch, version, release, arch, algo, install, files) in SPECS.items():
        spec = base / (name + ".spec")
        spec.write_text(_spec(name, epoch, version, release, arch, install, files))
        subprocess.run([RPMBUILD, "--define", "_topdir " + str(top), "--define", "_build_id_links none",
                        "--define", "_binary_filedigest_algorithm {}".format(algo), "--target", arch,
                        "-bb", str(spec)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for directory, _dirs, names in os.walk(str(top / "RPMS")):
        rpms += [os.path.join(directory, n) for n in names if n.endswith(".rpm")]
    assert len(rpms) == len(SPECS)
    dbpath = str(base / "sqlite")
    os.mkdir(dbpath)
    subprocess.run([RPM, "--dbpath", dbpath, "--initdb"], check=True)
    subprocess.run([RPM, "--dbpath", dbpath, "-i", "--justdb", "--nodeps", "--noscripts", "--ignorearch",
                    "--ignoreos"] + rpms, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = sqlite3.connect("file:{}/rpmdb.sqlite?mode=ro".format(dbpath), uri=True)
    blobs = [bytes(row[0]) for row in db.execute("SELECT blob FROM Packages ORDER BY hnum")]
    db.close()
    return dbpath, blobs


def rpm_says(dbpath, backend="sqlite"):
    out = subprocess.run([RPM, "--dbpath", dbpath, "--define", "_db_backend " + backend, "-qa", "--qf", QF],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, universal_newlines=True, check=True).stdout
    return sorted(out.replace("\n=", "\n").strip().splitlines())


def reader_says(root_path):
    db = rpmdb.read(Root(root_path))
    assert db.known, db.error
    lines = []
    for h in db.packages():
        lines.append("\t".join([h.name, str(h.epoch or 0), h.string(rpmdb.VERSION),
                                h.string(rpmdb.RELEASE), h.arch]))
        flags = h.ints(rpmdb.FILEFLAGS)
        for i, f in enumerate(h.files()):
            # rpm prints FILEMODES as a signed 16-bit number.
            mode = f["mode"]
            lines.append("\t".join([f["path"], f["digest"], str(mode), str(flags[i])]))
    return sorted(lines), db


def _root_with(tmp_path, kind, blobs, dbdir="/var/lib/rpm"):
    root = tmp_path / ("root-" + kind)
    target = str(root) + dbdir
    os.makedirs(target)
    if kind == "sqlite":
        rpmdbs.sqlite_file(target + "/rpmdb.sqlite", blobs)
    elif kind == "bdb":
        rpmdbs.bdb_file(target + "/Packages", blobs)
    else:
        with open(target + "/Packages.db", "wb") as handle:
            handle.write(rpmdbs.ndb_bytes(blobs))
    return str(root), target


def test_sqlite_reader_equals_rpm(built, tmp_path):
    dbpath, _blobs = built
    expected = rpm_says(dbpath)
    assert any(line.startswith("/etc/issue\t") and line.endswith("\t17") for line in expected)  # %config(noreplace)
    root = tmp_path / "root"
    os.makedirs(str(root / "var/lib"))
    shutil.copytree(dbpath, str(root / "var/lib/rpm"))
    before = sorted(os.listdir(str(root / "var/lib/rpm")))
    lines, db = reader_says(str(root))
    assert db.kind == "sqlite"
    assert lines == expected
    # Opened immutable and read-only: no -journal, -wal or -shm file appears, none changes.
    assert sorted(os.listdir(str(root / "var/lib/rpm"))) == before
    tiny = [h for h in db.packages() if h.name == "tiny-release"][0]
    assert tiny.epoch == 2 and tiny.evr == "1.2-3.el9"
    files = dict((f["path"], f) for f in tiny.files())
    assert files["/etc/issue"]["config"] and files["/etc/issue"]["algo"] == "sha256"
    assert files["/etc/os-release"]["link"] == "../usr/lib/os-release"
    tools = [h for h in db.packages() if h.name == "tiny-tools"][0]
    assert [f["algo"] for f in tools.files()][0] == "md5"


@pytest.mark.skipif(not rpmdbs.db_load(), reason="needs db_load (apt-get install db5.3-util)")
def test_berkeley_db_reader_equals_rpm(built, tmp_path):
    dbpath, blobs = built
    expected = rpm_says(dbpath)
    root, target = _root_with(tmp_path, "bdb", blobs)
    # Real rpm reads the Berkeley DB that db_load wrote: the file is what EL7/EL8 rpm keeps.
    assert rpm_says(target, "bdb_ro") == expected
    lines, db = reader_says(root)
    assert db.kind == "bdb" and lines == expected


@pytest.mark.skipif(not rpmdbs.db_load(), reason="needs db_load (apt-get install db5.3-util)")
def test_berkeley_db_with_many_packages_and_small_pages(built, tmp_path):
    # Many headers on 512-byte pages: overflow chains over many pages, several hash buckets.
    dbpath, blobs = built
    many = [b for _ in range(40) for b in blobs]
    root, target = _root_with(tmp_path, "bdb", [])
    rpmdbs.bdb_file(target + "/Packages", many, pagesize=512)
    db = rpmdb.read(Root(root))
    assert db.known, db.error
    assert sorted(h.name for h in db.packages()) == sorted(rpmdb.Header(b).name for b in many)
    assert len(rpm_says(target, "bdb_ro")) == len(rpm_says(dbpath)) * 40


def test_ndb_reader_equals_rpm(built, tmp_path):
    dbpath, blobs = built
    root, _target = _root_with(tmp_path, "ndb", blobs, "/usr/lib/sysimage/rpm")
    os.makedirs(root + "/var/lib")
    os.symlink("../../usr/lib/sysimage/rpm", root + "/var/lib/rpm")   # as SUSE has it
    lines, db = reader_says(root)
    assert db.kind == "ndb" and lines == rpm_says(dbpath)


def test_synthesized_headers_are_what_rpm_reads(tmp_path):
    """The fixture roots' headers (rpmdbs.header_blob) are headers real rpm accepts."""
    if not rpmdbs.db_load():
        pytest.skip("needs db_load (apt-get install db5.3-util)")
    blob = rpmdbs.header_blob("centos-release", "7", "9.2009.1.el7.centos", arch="noarch",
                              files=[("/etc/issue", b"\\S\n", 0o100644, 17, None)], algo=1)
    other = rpmdbs.header_blob("kernel", "3.10.0", "1160.el7")
    # Two records: Debian's rpm 4.18 bdb_ro reports "error reading Packages database" for a
    # database of one record (no real system has one).
    root, target = _root_with(tmp_path, "bdb", [blob, other])
    expected = sorted([
        "centos-release\t0\t7\t9.2009.1.el7.centos\tnoarch",
        "/etc/issue\t{}\t33188\t17".format(__import__("hashlib").md5(b"\\S\n").hexdigest()),
        "kernel\t0\t3.10.0\t1160.el7\tx86_64"])
    assert rpm_says(target, "bdb_ro") == expected
    assert reader_says(root)[0] == expected


FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "roots")


@pytest.mark.parametrize("name,backend", [("centos7", "bdb_ro"), ("rocky8", "bdb_ro"), ("alinux3", "bdb_ro"),
                                          ("alma9", "sqlite")])
def test_fixture_root_databases_are_what_rpm_reads(name, backend, tmp_path):
    """tests/fixtures/make_rpmdbs.py wrote databases real rpm reads as the root's rpm-qa.txt
    (ndb: Debian's rpm cannot read it; agent/facts/rpmdb.py's reading of it is pinned by
    test_fixture_roots against the same rpm-qa.txt)."""
    copy = str(tmp_path / "db")
    shutil.copytree(os.path.join(FIXTURES, name, "var", "lib", "rpm"), copy)   # rpm may write: a copy
    out = subprocess.run([RPM, "--dbpath", copy, "--define", "_db_backend " + backend, "-qa", "--qf",
                          "%{NAME}\t%{VERSION}-%{RELEASE}\n"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         universal_newlines=True, check=True).stdout
    with open(os.path.join(FIXTURES, name, "rpm-qa.txt")) as handle:
        assert sorted(out.splitlines()) == sorted(handle.read().splitlines())
