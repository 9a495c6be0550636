from agent.checks.ssh import Ssh, split_listen
from agent.core.engine import Engine
from agent.core.model import Status
from conftest import FakeLive

DEB12 = """# This is the sshd server system-wide configuration file.
Include /etc/ssh/sshd_config.d/*.conf

#Port 22
#ListenAddress 0.0.0.0
KbdInteractiveAuthentication no
UsePAM yes
X11Forwarding yes
PrintMotd no
AcceptEnv LANG LC_*
Subsystem	sftp	/usr/lib/openssh/sftp-server
"""
UNIT = "/lib/systemd/system/ssh.service"
WANTS = "/etc/systemd/system/multi-user.target.wants/ssh.service"


def debian(guest, config=DEB12, enabled=True):
    guest.write("/var/lib/dpkg/status", "Package: openssh-server\nStatus: install ok installed\nVersion: 1:9.2p1-2\n\n")
    guest.write("/usr/sbin/sshd", "")
    guest.write(UNIT, "[Unit]\n[Install]\nWantedBy=multi-user.target\nAlias=sshd.service\n")
    if enabled:
        guest.symlink(WANTS, UNIT)
    guest.write("/etc/ssh/sshd_config", config)


def run(guest, **kw):
    return Ssh().run(guest.ctx(**kw))


def test_debian_default_passes(guest):
    debian(guest)
    result = run(guest)
    assert result.status == Status.PASS
    assert "openssh-server" in result.summary


def test_not_installed_warns_with_install_command(guest):
    guest.os_release("debian", "12")
    guest.write("/var/lib/dpkg/status", "Package: bash\nStatus: install ok installed\nVersion: 5\n\n")
    result = run(guest)
    assert result.status == Status.WARN
    assert "not installed" in result.summary
    assert any("apt-get install -y openssh-server" in c for c in result.commands)


def test_not_enabled_warns(guest):
    debian(guest, enabled=False)
    result = run(guest)
    assert result.status == Status.WARN
    assert "not enabled at boot" in result.summary
    assert any("enable ssh.service" in c for c in result.commands)


def test_masked_fails(guest):
    debian(guest)
    guest.symlink("/etc/systemd/system/ssh.service", "/dev/null")
    assert run(guest).status == Status.FAIL


def test_port_in_an_included_file(guest):
    debian(guest)
    guest.write("/etc/ssh/sshd_config.d/10-port.conf", "Port 2222\n")
    result = run(guest)
    assert result.status == Status.WARN
    assert "port 2222, not 22" in result.summary
    assert "/etc/ssh/sshd_config.d/10-port.conf" in result.summary


def test_two_ports_including_22_pass(guest):
    debian(guest, DEB12 + "Port 22\nPort 2222\n")
    assert run(guest).status == Status.PASS


def test_pinned_listen_address_fails(guest):
    debian(guest, DEB12 + "ListenAddress 192.168.10.5\n")
    result = run(guest)
    assert result.status == Status.FAIL
    assert "192.168.10.5" in result.summary


def test_loopback_only_fails_and_wildcard_passes(guest):
    debian(guest, DEB12 + "ListenAddress 127.0.0.1\n")
    assert "loopback only" in run(guest).summary
    guest.write("/etc/ssh/sshd_config", DEB12 + "ListenAddress 127.0.0.1\nListenAddress 0.0.0.0\n")
    assert run(guest).status == Status.PASS


def test_match_block_is_skipped(guest):
    debian(guest, DEB12 + "Match User anoncvs\n\tX11Forwarding no\n\tPort 2222\n")
    assert run(guest).status == Status.PASS


def test_live_not_listening_warns(guest):
    debian(guest)
    assert run(guest, live=FakeLive(listening=(22, 80))).status == Status.PASS
    result = run(guest, live=FakeLive(listening=(80,)))
    assert result.status == Status.WARN and "nothing listens on TCP port 22" in result.summary


def test_garbage_lines_and_binary_include(guest):
    debian(guest, DEB12 + "=== garbage\n")
    guest.write("/etc/ssh/sshd_config.d/bad.conf", b"\x00\x01\x02")
    result = run(guest)
    assert result.status == Status.WARN
    assert "cannot be parsed" in result.summary and "binary" in result.summary


def test_binary_main_config_is_an_error_not_a_traceback(guest):
    debian(guest, "")
    guest.write("/etc/ssh/sshd_config", b"\x00\x01")
    result = Engine([Ssh]).run_check(guest.ctx(), Ssh())
    assert result.status in (Status.WARN, Status.ERROR)
    assert "binary" in result.summary


def test_split_listen():
    assert split_listen("10.0.0.1:2222") == ("10.0.0.1", "2222")
    assert split_listen("[::1]:22") == ("::1", "22")
    assert split_listen("::") == ("::", None)
    assert split_listen("0.0.0.0") == ("0.0.0.0", None)
