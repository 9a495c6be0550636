import pytest

from agent.checks.cloud_assistant import CloudAssistant
from agent.checks.security_center_agent import SecurityCenterAgent
from agent.core.model import Refused, RunCommand, Status
from conftest import FakeLive, FakeRunner
from remediations.cloud_assistant import CloudAssistantFix

DOC_URL = "https://aliyun-client-assist.oss-accelerate.aliyuncs.com/linux/"


def debian(guest, packages=""):
    guest.os_release("debian", "12")
    guest.write("/var/lib/dpkg/status", "Package: bash\nStatus: install ok installed\nVersion: 5.2\n\n" + packages)


def test_installed_package_passes(guest):
    debian(guest, "Package: aliyun-assist\nStatus: install ok installed\nVersion: 2.5.3.421\n\n")
    result = CloudAssistant().run(guest.ctx())
    assert result.status == Status.PASS and "aliyun-assist 2.5.3.421" in result.summary


def test_directory_or_unit_is_enough(guest):
    debian(guest)
    guest.write("/usr/local/share/aliyun-assist/2.5.3.421/aliyun-service", "")
    assert CloudAssistant().run(guest.ctx()).status == Status.PASS


def test_missing_on_debian_warns_with_the_documented_deb(guest):
    debian(guest)
    guest.write("/usr/bin/wget", "")
    result = CloudAssistant().run(guest.ctx())
    assert result.status == Status.WARN
    assert any(DOC_URL + "aliyun_assist_latest.deb" in c for c in result.commands)
    assert any("dpkg -i /var/tmp/aliyun_assist_latest.deb" in c for c in result.commands)
    steps = CloudAssistantFix().plan(guest.ctx(), result)
    assert [s.argv for s in steps] == [
        ("wget", "-O", "/var/tmp/aliyun_assist_latest.deb", DOC_URL + "aliyun_assist_latest.deb"),
        ("dpkg", "-i", "/var/tmp/aliyun_assist_latest.deb"),
        ("rm", "-f", "/var/tmp/aliyun_assist_latest.deb")]
    assert all(isinstance(s, RunCommand) for s in steps)
    assert "dpkg -r aliyun-assist" in steps[1].undo_hint
    assert CloudAssistantFix.reversible is False


def test_without_curl_or_wget_the_fix_refuses_and_the_hint_says_why(guest):
    # Debian's minimal images have neither: the fix must not run a download that cannot work.
    debian(guest)
    result = CloudAssistant().run(guest.ctx())
    assert result.status == Status.WARN and "Neither curl nor wget" in result.hint
    with pytest.raises(Refused, match="neither curl nor wget"):
        CloudAssistantFix().plan(guest.ctx(), result)


def test_missing_on_rpm_uses_curl_when_present(guest):
    guest.os_release("rocky", "9.3", "rhel centos fedora")
    guest.mkdir("/var/lib/rpm")
    guest.write("/usr/bin/curl", "")
    ctx = guest.ctx(runner=FakeRunner(guest.base, {("rpm", "-qa"): (0, "bash\t5.1-6.el9\n", "")}))
    result = CloudAssistant().run(ctx)
    assert result.status == Status.WARN
    steps = CloudAssistantFix().plan(ctx, result)
    assert steps[0].argv[0] == "curl" and steps[0].argv[-1] == DOC_URL + "aliyun_assist_latest.rpm"
    assert steps[1].argv == ("rpm", "-ivh", "--force", "/var/tmp/aliyun_assist_latest.rpm")


def test_unknown_distribution_points_to_the_documentation(guest):
    result = CloudAssistant().run(guest.ctx())
    assert result.status == Status.WARN and result.commands == ()
    assert "Install the Cloud Assistant Agent" in result.hint
    assert CloudAssistantFix().plan(guest.ctx(), result) == []


def test_security_center_agent(guest):
    result = SecurityCenterAgent().run(guest.ctx())
    assert result.status == Status.INFO and "Security Center console" in result.hint
    guest.write("/usr/local/aegis/aegis_client/aegis_11_91/AliYunDun", "")
    assert SecurityCenterAgent().run(guest.ctx()).status == Status.PASS
    assert SecurityCenterAgent().run(guest.ctx(live=FakeLive(processes=["AliYunDun", "AliYunDunUpdate"]))).status \
        == Status.PASS
    result = SecurityCenterAgent().run(guest.ctx(live=FakeLive(processes=["sshd"])))
    assert result.status == Status.WARN and "not running" in result.summary
