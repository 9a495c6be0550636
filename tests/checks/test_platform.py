import pytest

from agent.facts import osinfo
from agent.checks.os_version import OsVersion
from agent.checks.platform import Platform
from agent.core.engine import Engine
from agent.core.model import Status
from agent.facts.osinfo import OSInfo

ROCKY9 = '''NAME="Rocky Linux"
VERSION="9.3 (Blue Onyx)"
ID="rocky"
ID_LIKE="rhel centos fedora"
VERSION_ID="9.3"
PLATFORM_ID="platform:el9"
PRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"
'''
STREAM9 = '''NAME="CentOS Stream"
VERSION="9"
ID="centos"
ID_LIKE="rhel fedora"
VERSION_ID="9"
PRETTY_NAME="CentOS Stream 9"
'''
ALINUX3 = '''NAME="Alibaba Cloud Linux"
VERSION="3 (Soaring Falcon)"
ID="alinux"
ID_LIKE="rhel fedora centos anolis"
VERSION_ID="3"
PRETTY_NAME="Alibaba Cloud Linux 3 (Soaring Falcon)"
'''
ARCH = 'NAME="Arch Linux"\nPRETTY_NAME="Arch Linux"\nID=arch\nBUILD_ID=rolling\n'


def run(guest, check=Platform):
    return Engine([check]).run_check(guest.ctx(), check())


def test_rocky_maps_to_rocky_linux_and_issue_with_escape_is_fine(guest):
    guest.write("/etc/os-release", ROCKY9)
    guest.write("/etc/issue", "\\S\nKernel \\r on an \\m\n\n")
    result = run(guest)
    assert result.status == Status.PASS
    assert result.summary == 'Rocky Linux 9.3 (Blue Onyx) (from /etc/os-release): import with Platform "Rocky Linux"'
    assert run(guest, OsVersion).summary == "rocky 9.3 (seed 000 lists Rocky Linux without a version limit)"


def test_centos_stream_and_alinux(guest):
    guest.write("/etc/os-release", STREAM9)
    guest.write("/etc/issue", "\\S\nKernel \\r on an \\m\n")
    assert run(guest).data["platform"] == "CentOS Stream"
    guest.write("/etc/os-release", ALINUX3)
    assert run(guest).data["platform"] == "Aliyun"


def test_debian_issue_replaced_by_a_banner_warns(guest):
    guest.os_release("debian", "12")
    guest.write("/etc/issue", "Authorized users only. All activity is monitored.\n")
    result = run(guest)
    assert result.status == Status.WARN
    assert result.summary == ('debian 12 (from /etc/os-release): Platform "Debian"; but /etc/issue does not name '
                              'the distribution (was it replaced by a login banner?)')
    assert result.commands == (guest.ctx().in_guest("dpkg -S /etc/issue"),)


def test_missing_issue_warns(guest):
    guest.os_release("ubuntu", "22.04", "debian")
    result = run(guest)
    assert result.status == Status.WARN
    assert result.summary.endswith("but /etc/issue is missing")


def test_debian_issue_passes(guest):
    guest.os_release("debian", "12")
    guest.write("/etc/issue", "Debian GNU/Linux 12 \\n \\l\n\n")
    assert run(guest).status == Status.PASS


def test_unsupported_distribution_says_others_linux_and_consequences(guest):
    guest.write("/etc/os-release", ARCH)
    result = run(guest)
    assert result.status == Status.WARN
    assert result.summary == ('Arch Linux (from /etc/os-release) is not a platform ECS supports: import as '
                              '"Customized Linux" or "Others Linux"')
    assert "set its IP address, route and password by hand" in result.hint
    assert run(guest, OsVersion).status == Status.INFO


def test_fedora_is_accepted_but_not_listed(guest):
    guest.os_release("fedora", "39")
    guest.write("/etc/issue", "\\S\n")
    result = run(guest)
    assert result.status == Status.WARN
    assert 'ImportImage accepts Platform "Fedora"' in result.summary


def test_no_release_file(guest):
    result = run(guest)
    assert result.status == Status.WARN
    assert result.data["platform"] == "Others Linux"


def test_centos6_from_release_file(guest):
    guest.write("/etc/centos-release", "CentOS release 6.10 (Final)\n")
    guest.write("/etc/issue", "CentOS release 6.10 (Final)\nKernel \\r on an \\m\n\n")
    result = run(guest)
    assert result.status == Status.PASS
    assert result.data["platform"] == "CentOS"
    assert run(guest, OsVersion).summary == "centos 6.10 is a version seed 000 lists"


def info(os_id, version, name=""):
    return OSInfo(os_id, version, name or os_id, "", (), "/etc/os-release")


@pytest.mark.parametrize("os_info,status,words", [
    (info("centos", "4.9"), Status.WARN, "older than"),
    (info("centos", "7"), Status.PASS, "lists"),
    (info("debian", "5"), Status.WARN, "older than"),
    (info("debian", "12"), Status.PASS, "newer than"),
    (info("ubuntu", "22.04"), Status.PASS, "newer than"),
    (info("ubuntu", "11.04"), Status.WARN, "not among"),
    (info("sles", "15.5"), Status.PASS, "lists"),
    (info("sles", "9"), Status.WARN, "older than"),
    (info("opensuse-leap", "15.5"), Status.PASS, "lists"),
    (info("opensuse-tumbleweed", "20240101"), Status.WARN, "rolling"),
    (info("coreos", "681.1.0"), Status.WARN, "older than"),
    (info("ubuntu", ""), Status.WARN, "cannot be read"),
])
def test_version_rules(os_info, status, words):
    from agent.checks.os_version import judged
    got_status, _code, text, _refs = judged(os_info)
    assert got_status == status and words in text, text


def test_platform_values():
    assert osinfo.platform_of(info("opensuse-leap", "15.5")) == ("OpenSUSE", "supported")
    assert osinfo.platform_of(info("rhel", "9.2")) == ("RedHat", "supported")
    assert osinfo.platform_of(info("sles", "15.5")) == ("SUSE", "supported")
    assert osinfo.platform_of(info("anolis", "8.8")) == ("Anolis", "supported")
    assert osinfo.platform_of(info("almalinux", "9.3")) == ("AlmaLinux", "supported")
    assert osinfo.platform_of(info("centos", "9", "CentOS Stream 9")) == ("CentOS Stream", "supported")
    assert osinfo.platform_of(info("gentoo", "2.14")) == ("Gentoo", "accepted")
    assert osinfo.platform_of(info("nixos", "23.11")) == ("Others Linux", "unsupported")
