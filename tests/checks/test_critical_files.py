import hashlib
import os
import stat

import pytest

from agent.checks.critical_files import CriticalFiles
from agent.core.engine import Engine
from agent.core.model import RemoveFile, RunCommand, Status
from conftest import FakeRunner
from remediations.critical_files import CriticalFilesFix

OS_RELEASE = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n'
ISSUE = "Debian GNU/Linux 12 \\n \\l\n\n"
ISSUE_NET = "Debian GNU/Linux 12\n"


def md5(text):
    return hashlib.md5(text.encode()).hexdigest()


def debian(guest):
    guest.write("/usr/lib/os-release", OS_RELEASE)
    guest.symlink("/etc/os-release", "../usr/lib/os-release")
    guest.write("/etc/issue", ISSUE)
    guest.write("/etc/issue.net", ISSUE_NET)
    guest.write("/etc/debian_version", "12.5\n")
    guest.write("/var/lib/dpkg/status", "Package: base-files\nStatus: install ok installed\nVersion: 12.4+deb12u5\n"
                "Conffiles:\n /etc/debian_version {}\n /etc/issue {}\n /etc/issue.net {}\n"
                " /etc/old-thing 0123456789abcdef0123456789abcdef obsolete\nDescription: x\n\n"
                "Package: openssh-server\nStatus: install ok installed\nVersion: 1:9.2p1-2\n\n".format(
                    md5("12.5\n"), md5(ISSUE), md5(ISSUE_NET)))
    guest.write("/var/lib/dpkg/info/base-files.md5sums", "{}  usr/lib/os-release\n".format(md5(OS_RELEASE)))
    for name in ("sbin", "lib"):
        if not os.path.isdir(guest.host("/usr/" + name)):
            guest.mkdir("/usr/" + name)
    for name in ("bin", "sbin", "lib"):
        guest.symlink("/" + name, "usr/" + name)


def run(guest, runner=None):
    return CriticalFiles().run(guest.ctx(runner=runner))


def test_unmodified_debian_passes(guest):
    debian(guest)
    result = run(guest)
    assert result.status == Status.PASS
    assert "verified against dpkg (4 file(s))" in result.summary


def fips_hashlib(monkeypatch, builtin_md5):
    """hashlib as on a host in FIPS mode: MD5 only when it is not for security; and Python
    with or without its own MD5 (RHEL 9 builds it without)."""
    import sys
    real_new = hashlib.new

    def new(name, data=b"", **kwargs):
        if name == "md5" and kwargs.get("usedforsecurity", True):
            raise ValueError("[digital envelope routines] unsupported")
        return real_new(name, data)
    monkeypatch.setattr(hashlib, "new", new)
    monkeypatch.setattr(hashlib, "md5", lambda *a, **k: new("md5", *a, **k))
    if not builtin_md5:
        monkeypatch.setitem(sys.modules, "_md5", None)     # import _md5 raises ImportError


@pytest.mark.parametrize("builtin_md5", [True, False])
def test_dpkg_files_are_verified_where_openssl_refuses_md5(guest, monkeypatch, builtin_md5):
    debian(guest)
    fips_hashlib(monkeypatch, builtin_md5)
    with pytest.raises(ValueError):
        hashlib.md5(b"x")
    result = run(guest)
    assert result.status == Status.PASS and "verified against dpkg (4 file(s))" in result.summary
    guest.write("/etc/issue", ISSUE + "Authorized users only\n")
    assert run(guest).summary == "/etc/issue differs from package base-files"


def test_changed_issue_fails_with_restore_commands(guest):
    debian(guest)
    guest.write("/etc/issue", ISSUE + "Authorized users only\n")
    result = run(guest)
    assert result.status == Status.FAIL
    assert result.summary == "/etc/issue differs from package base-files"
    assert any("--force-confmiss base-files" in c for c in result.commands)
    assert any(c.startswith("mv ") and c.endswith("issue.modified") for c in result.commands)


def test_changed_os_release_through_its_symlink(guest):
    debian(guest)
    guest.write("/usr/lib/os-release", OS_RELEASE.replace("12", "13"))
    result = run(guest)
    assert result.status == Status.FAIL and "/usr/lib/os-release differs" in result.summary


def test_deleted_conffile_fails(guest):
    debian(guest)
    os.remove(guest.host("/etc/issue.net"))
    result = run(guest)
    assert result.status == Status.FAIL and "/etc/issue.net differs from package base-files (missing)" in result.summary


def test_absolute_merged_usr_link_fails(guest):
    debian(guest)
    os.remove(guest.host("/lib"))
    guest.symlink("/lib", "/usr/lib")
    result = run(guest)
    assert result.status == Status.FAIL
    assert "/lib -> /usr/lib is an absolute symlink" in result.summary
    assert any("usr/lib" in c for c in result.commands)


def test_missing_os_release_fails_unless_an_old_release_file_exists(guest):
    guest.write("/etc/issue", "CentOS release 6.10 (Final)\n")
    result = run(guest)
    assert result.status == Status.FAIL and "/etc/os-release is missing" in result.summary
    guest.write("/etc/redhat-release", "CentOS release 6.10 (Final)\n")
    assert run(guest).status == Status.PASS


def test_dangling_os_release_fails(guest):
    guest.symlink("/etc/os-release", "../usr/lib/os-release")
    assert "dangling" in run(guest).summary


ISSUE_EL7 = "\\S\nKernel \\r on an \\m\n\n"
ISSUE_NET_EL7 = "\\S\nKernel \\r on an \\m\n"
CENTOS_RELEASE = "CentOS Linux release 7.9.2009 (Core)\n"


def rhel(guest, issue=ISSUE_EL7 + "hello\n", algo=1):
    """CentOS 7 with centos-release's header (MD5 digests, as EL7 has them) in its rpm database;
    /etc/issue edited, /etc/centos-release chmod 600."""
    import rpmdbs
    guest.os_release("centos", "7", "rhel fedora")
    guest.write("/etc/centos-release", CENTOS_RELEASE, mode=0o600)
    guest.write("/etc/issue", issue)
    guest.write("/etc/issue.net", ISSUE_NET_EL7)
    guest.write("/usr/bin/yum", "")
    files = [("/etc/centos-release", CENTOS_RELEASE.encode(), 0o100644, 0, None),
             ("/etc/issue", ISSUE_EL7.encode(), 0o100644, 17, None),
             ("/etc/issue.net", ISSUE_NET_EL7.encode(), 0o100644, 17, None),
             ("/etc/os-release", None, 0o120777, 0, "../usr/lib/os-release"),
             ("/usr/lib/os-release", guest.read("/etc/os-release").encode(), 0o100644, 0, None)]
    guest.rpm_db(blobs=[rpmdbs.header_blob("centos-release", "7", "9.2009.1.el7.centos", files=files, algo=algo)])
    # os_release() wrote a regular /etc/os-release: make it the package's link.
    guest.write("/usr/lib/os-release", guest.read("/etc/os-release"))
    os.remove(guest.host("/etc/os-release"))
    guest.symlink("/etc/os-release", "../usr/lib/os-release")
    return FakeRunner(guest.base)


def test_rpm_files_are_verified_from_the_header_digests_without_rpm(guest):
    runner = rhel(guest)
    result = run(guest, runner)
    assert result.status == Status.FAIL
    assert "/etc/issue differs from package centos-release" in result.summary
    assert "/etc/issue.net" not in result.summary and "/etc/os-release" not in result.summary
    assert "/etc/centos-release has changed permissions" in result.summary
    modified = dict((m["path"], m) for m in result.data["modified"])
    assert sorted(modified) == ["/etc/centos-release", "/etc/issue"]
    assert modified["/etc/issue"]["config"] is True and modified["/etc/centos-release"]["mode_only"] is True
    assert runner.calls == []
    assert any("rpm --setperms centos-release" in c for c in result.commands)
    assert any("yum reinstall -y centos-release" in c for c in result.commands)


@pytest.mark.parametrize("algo", [1, 8])
def test_rpm_clean_passes_with_md5_and_sha256_digests(guest, algo):
    runner = rhel(guest, issue=ISSUE_EL7, algo=algo)
    os.chmod(guest.host("/etc/centos-release"), 0o644)
    result = run(guest, runner)
    assert result.status == Status.PASS and "verified against rpm" in result.summary, result.summary


def test_a_changed_link_target_and_a_missing_file_are_changes(guest):
    runner = rhel(guest, issue=ISSUE_EL7)
    os.chmod(guest.host("/etc/centos-release"), 0o644)
    os.remove(guest.host("/etc/os-release"))
    guest.symlink("/etc/os-release", "/usr/lib/os-release.acme")
    guest.write("/usr/lib/os-release.acme", "ID=acme\n")
    result = run(guest, runner)
    assert "/etc/os-release differs from package centos-release" in result.summary


def test_damaged_rpm_database_is_unknown_not_a_guess(guest):
    rhel(guest)
    guest.rpm_db(damaged=True)
    result = run(guest, FakeRunner(guest.base, {("rpm", "-qa"): (1, "", "error: rpmdb open failed")}))
    assert result.status == Status.INFO and "package verification: unknown" in result.summary
    assert "verify them by hand" in result.hint
    assert any("rpm -Vf " in c and "/etc/issue" in c for c in result.commands)


class ReinstallingRunner(FakeRunner):
    """apt-get install --reinstall puts base-files' /etc/issue back, as dpkg --force-confmiss does."""

    def __init__(self, guest):
        FakeRunner.__init__(self, guest.base)
        self.guest = guest

    def run(self, argv, env=None, timeout=None, stdin_text=None, network=False):
        if tuple(argv[:3]) == ("apt-get", "install", "--reinstall") and not self.guest.exists("/etc/issue"):
            self.guest.write("/etc/issue", ISSUE)
        return FakeRunner.run(self, argv, env, timeout, stdin_text)


def test_fix_restores_from_the_package_and_rollback_returns_the_changed_file(guest):
    debian(guest)
    changed = ISSUE + "Authorized users only\n"
    guest.write("/etc/issue", changed, mode=0o640)
    runner = ReinstallingRunner(guest)
    engine = Engine([CriticalFiles], [CriticalFilesFix])
    ctx = guest.ctx(runner=runner)
    plans = engine.plan(ctx, engine.checks, engine.run_checks(ctx))
    steps = plans[0].steps
    assert isinstance(steps[0], RemoveFile) and steps[0].path == "/etc/issue"
    reinstall = [s for s in steps if isinstance(s, RunCommand) and s.modifies][0]
    assert reinstall.modifies == ("/etc/issue",) and reinstall.argv[-1] == "base-files=12.4+deb12u5"
    assert steps[-1].argv == ("ls", "-d", "--", "/etc/issue")
    journal, outcomes = engine.apply(ctx, plans, guest.state())
    assert [o.outcome for o in outcomes] == ["FIXED"]
    assert guest.read("/etc/issue") == ISSUE
    assert engine.plan(ctx, engine.checks, engine.run_checks(ctx)) == []
    journal.rollback(ctx)
    assert guest.read("/etc/issue") == changed
    assert stat.S_IMODE(os.stat(guest.host("/etc/issue")).st_mode) == 0o640


def with_list(guest):
    """base-files as dpkg records it: its .list names /etc/os-release, which it ships as a link
    (so no MD5 for it), next to the files it does have sums for."""
    debian(guest)
    guest.write("/var/lib/dpkg/info/base-files.list", "/.\n/etc\n/etc/debian_version\n/etc/issue\n"
                "/etc/issue.net\n/etc/os-release\n/usr\n/usr/lib\n/usr/lib/os-release\n")


def test_conffile_replaced_by_a_symlink_is_reported_under_its_own_name(guest):
    # `ln -sf issue.acme /etc/issue`: the package's file is /etc/issue, not the link's target.
    with_list(guest)
    os.remove(guest.host("/etc/issue"))
    guest.write("/etc/issue.acme", "ACME banner\n")
    guest.symlink("/etc/issue", "issue.acme")
    result = run(guest)
    assert result.status == Status.FAIL
    assert result.summary == "/etc/issue differs from package base-files (a symlink to issue.acme)"
    assert result.data["modified"][0]["path"] == "/etc/issue"


def test_fix_of_a_symlinked_conffile_removes_the_link_not_its_target(guest):
    with_list(guest)
    os.remove(guest.host("/etc/issue"))
    guest.write("/etc/issue.acme", "ACME banner\n")
    guest.symlink("/etc/issue", "issue.acme")
    engine = Engine([CriticalFiles], [CriticalFilesFix])
    ctx = guest.ctx(runner=ReinstallingRunner(guest))
    plans = engine.plan(ctx, engine.checks, engine.run_checks(ctx))
    removes = [s.path for s in plans[0].steps if isinstance(s, RemoveFile)]
    assert removes == ["/etc/issue"]
    journal, outcomes = engine.apply(ctx, plans, guest.state())
    assert [o.outcome for o in outcomes] == ["FIXED"]
    assert not os.path.islink(guest.host("/etc/issue")) and guest.read("/etc/issue") == ISSUE
    assert guest.read("/etc/issue.acme") == "ACME banner\n"
    journal.rollback(ctx)
    assert os.readlink(guest.host("/etc/issue")) == "issue.acme"
    assert guest.read("/etc/issue.acme") == "ACME banner\n"


def test_dangling_conffile_link_is_missing(guest):
    with_list(guest)
    os.remove(guest.host("/etc/issue"))
    guest.symlink("/etc/issue", "issue.gone")
    result = run(guest)
    assert result.status == Status.FAIL
    assert "/etc/issue differs from package base-files (missing)" in result.summary


def test_os_release_link_replaced_by_an_edited_file_fails(guest):
    # `sed -i ... /etc/os-release` replaces base-files' link with a file dpkg has no MD5 for.
    with_list(guest)
    os.remove(guest.host("/etc/os-release"))
    guest.write("/etc/os-release", OS_RELEASE.replace("Debian GNU/Linux 12", "ACME Linux"))
    result = run(guest)
    assert result.status == Status.FAIL
    assert result.summary == ("/etc/os-release differs from package base-files "
                              "(a regular file where the package has a symbolic link)")
    steps = CriticalFilesFix().plan(guest.ctx(), result)
    assert [s.path for s in steps if isinstance(s, RemoveFile)] == ["/etc/os-release"]
    assert steps[-2].modifies == ("/etc/os-release",) and steps[-1].argv == ("ls", "-d", "--", "/etc/os-release")


def test_without_a_list_file_nothing_is_guessed(guest):
    debian(guest)
    os.remove(guest.host("/etc/os-release"))
    guest.write("/etc/os-release", OS_RELEASE)
    assert run(guest).status == Status.PASS


def test_deleted_os_release_is_said_once_and_restored_by_the_package(guest):
    with_list(guest)
    os.remove(guest.host("/etc/os-release"))
    result = run(guest)
    assert result.status == Status.FAIL
    assert result.summary == "/etc/os-release is missing and there is no other release file"
    assert [m["path"] for m in result.data["modified"]] == ["/etc/os-release"]
    steps = CriticalFilesFix().plan(guest.ctx(), result)
    assert steps[-2].argv[-1] == "base-files=12.4+deb12u5" and steps[-2].modifies == ("/etc/os-release",)
    assert steps[-1].argv == ("ls", "-d", "--", "/etc/os-release")
    assert not [s for s in steps if isinstance(s, RemoveFile)]


def test_apt_reinstall_is_pinned_to_the_installed_version(guest):
    # Unpinned, apt-get exits 0 having done nothing when it cannot download the package
    # ("Reinstallation of base-files is not possible"), leaving the moved-aside file gone;
    # and it upgrades instead when the mirror has a newer version.
    debian(guest)
    guest.write("/etc/issue", ISSUE + "Authorized users only\n")
    result = run(guest)
    assert any(c.endswith("--force-confmiss base-files=12.4+deb12u5") for c in result.commands)
    steps = CriticalFilesFix().plan(guest.ctx(), result)
    assert steps[-2].argv == ("apt-get", "install", "--reinstall", "-y", "-o", "Dpkg::Options::=--force-confmiss",
                              "base-files=12.4+deb12u5")


class NoDownloadRunner(FakeRunner):
    """apt-get as it behaves when the package cannot be downloaded: exit 0, nothing done
    ("Reinstallation of base-files is not possible, it cannot be downloaded.")."""

    def __init__(self, guest):
        FakeRunner.__init__(self, guest.base)
        self.guest = guest

    def run(self, argv, env=None, timeout=None, stdin_text=None, network=False):
        if tuple(argv[:3]) == ("ls", "-d", "--"):
            return FakeRunner.run(self, argv, env, timeout, stdin_text)._replace(
                returncode=0 if os.path.exists(self.guest.host(argv[3])) else 2)
        return FakeRunner.run(self, argv, env, timeout, stdin_text)


def test_a_reinstall_that_did_nothing_is_rolled_back_not_left_without_the_file(guest):
    debian(guest)
    changed = ISSUE + "Authorized users only\n"
    guest.write("/etc/issue", changed)
    engine = Engine([CriticalFiles], [CriticalFilesFix])
    ctx = guest.ctx(runner=NoDownloadRunner(guest))
    plans = engine.plan(ctx, engine.checks, engine.run_checks(ctx))
    assert plans[0].steps[-1].argv == ("ls", "-d", "--", "/etc/issue")
    _journal, outcomes = engine.apply(ctx, plans, guest.state())
    assert [o.outcome for o in outcomes] == ["ROLLED BACK"]
    assert guest.read("/etc/issue") == changed
