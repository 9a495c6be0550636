import os
import stat

import pytest

from agent.checks.firewall import Firewall, iptables_port, nft_port, port_in
from agent.core.engine import Engine
from agent.core.model import RemoveFile, Status, WriteFile
from remediations.firewall import FirewallFix

WANTS = "/etc/systemd/system/multi-user.target.wants/firewalld.service"
ALIAS = "/etc/systemd/system/dbus-org.fedoraproject.FirewallD1.service"
UNIT = "/usr/lib/systemd/system/firewalld.service"
PUBLIC = """<?xml version="1.0" encoding="utf-8"?>
<zone>
  <short>Public</short>
  <service name="ssh"/>
  <service name="dhcpv6-client"/>
</zone>
"""
UFW_CONF = "# /etc/ufw/ufw.conf\n#\n\n# Set to yes to start on boot.\nENABLED=yes\n\nLOGLEVEL=low\n"
RHEL_IPTABLES = """# sample configuration for iptables service
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT
-A INPUT -p icmp -j ACCEPT
-A INPUT -i lo -j ACCEPT
-A INPUT -p tcp -m state --state NEW -m tcp --dport 22 -j ACCEPT
-A INPUT -j REJECT --reject-with icmp-host-prohibited
-A FORWARD -j REJECT --reject-with icmp-host-prohibited
COMMIT
"""


def firewalld(guest, zone=PUBLIC):
    guest.write(UNIT, "[Unit]\nDescription=firewalld\n[Install]\nWantedBy=multi-user.target\n")
    guest.symlink(WANTS, UNIT)
    guest.symlink(ALIAS, UNIT)
    guest.write("/usr/lib/firewalld/zones/public.xml", zone)


def run(guest, **kw):
    return Firewall().run(guest.ctx(**kw))


def test_nothing_enabled_passes(guest):
    guest.write(UNIT, "[Unit]\n")
    result = run(guest)
    assert result.status == Status.PASS
    assert "firewalld installed but not enabled" in result.summary


def test_firewalld_with_ssh_warns_and_names_the_links(guest):
    firewalld(guest)
    result = run(guest)
    assert result.status == Status.WARN
    assert "firewalld starts at boot" in result.summary and "allows the ssh service" in result.summary
    assert set(result.paths) == {WANTS, ALIAS}
    assert result.hint and result.commands


def test_firewalld_zone_without_ssh_fails(guest):
    firewalld(guest, PUBLIC.replace('  <service name="ssh"/>\n', ""))
    result = run(guest)
    assert result.status == Status.FAIL
    assert "blocks SSH" in result.summary


def test_firewalld_admin_zone_and_port(guest):
    firewalld(guest, PUBLIC.replace('  <service name="ssh"/>\n', ""))
    guest.write("/etc/firewalld/firewalld.conf", "DefaultZone=work\n")
    guest.write("/etc/firewalld/zones/work.xml", '<zone><port protocol="tcp" port="20-30"/></zone>')
    assert run(guest).status == Status.WARN


def test_garbled_zone_is_a_warning_not_a_traceback(guest):
    firewalld(guest, "<zone><service name=")
    result = run(guest)
    assert result.status == Status.WARN
    assert "not valid XML" in result.summary


def test_zone_with_entities_is_not_parsed(guest):
    firewalld(guest, '<!DOCTYPE z [<!ENTITY a "aaaa">]><zone>&a;</zone>')
    result = run(guest)
    assert result.status == Status.WARN and "DTD" in result.summary


def test_masked_or_dangling_links_start_nothing(guest):
    guest.symlink(WANTS, UNIT)   # unit not installed: a leftover link
    assert run(guest).status == Status.PASS


def test_ufw_enabled_with_rule_warns_without_rule_fails(guest):
    guest.write("/etc/ufw/ufw.conf", UFW_CONF)
    assert run(guest).status == Status.FAIL
    guest.write("/etc/ufw/user.rules", "*filter\n### RULES ###\n\n"
                "### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 OpenSSH - in\n"
                "-A ufw-user-input -p tcp --dport 22 -j ACCEPT -m comment --comment 'dapp_OpenSSH'\n")
    result = run(guest)
    assert result.status == Status.WARN
    assert result.paths == ("/etc/ufw/ufw.conf",)


def test_ufw_disabled_passes(guest):
    guest.write("/etc/ufw/ufw.conf", UFW_CONF.replace("ENABLED=yes", "ENABLED=no"))
    assert run(guest).status == Status.PASS


def test_iptables_service(guest):
    guest.write("/usr/lib/systemd/system/iptables.service", "[Unit]\n")
    guest.symlink("/etc/systemd/system/basic.target.wants/iptables.service", "/usr/lib/systemd/system/iptables.service")
    guest.write("/etc/sysconfig/iptables", RHEL_IPTABLES)
    assert run(guest).status == Status.WARN
    guest.write("/etc/sysconfig/iptables", RHEL_IPTABLES.replace("--dport 22", "--dport 2222"))
    assert run(guest).status == Status.FAIL


def test_sysv_iptables_on_old_systems(guest):
    guest.write("/etc/init.d/iptables", "#!/bin/sh\n")
    guest.symlink("/etc/rc3.d/S08iptables", "../init.d/iptables")
    guest.write("/etc/sysconfig/iptables", RHEL_IPTABLES)
    result = run(guest)
    assert result.status == Status.WARN
    assert "/etc/rc3.d/S08iptables" in result.paths


def test_nftables_debian_default_is_open(guest):
    guest.write("/lib/systemd/system/nftables.service", "[Unit]\n")
    guest.symlink("/etc/systemd/system/sysinit.target.wants/nftables.service", "/lib/systemd/system/nftables.service")
    guest.write("/etc/nftables.conf", "#!/usr/sbin/nft -f\n\nflush ruleset\n\ntable inet filter {\n"
                "\tchain input {\n\t\ttype filter hook input priority filter;\n\t}\n}\n")
    result = run(guest)
    assert result.status == Status.WARN and "no rule blocks port 22" in result.summary


def test_nftables_include_with_drop_policy(guest):
    guest.write("/usr/lib/systemd/system/nftables.service", "[Unit]\n")
    guest.symlink("/etc/systemd/system/multi-user.target.wants/nftables.service",
                  "/usr/lib/systemd/system/nftables.service")
    guest.write("/etc/sysconfig/nftables.conf", '# comment\ninclude "/etc/nftables/*.nft"\n')
    guest.write("/etc/nftables/main.nft", "table inet filter {\n chain input {\n  type filter hook input priority 0; "
                "policy drop;\n  tcp dport { 80, 443 } accept\n }\n}\n")
    assert run(guest).status == Status.FAIL
    guest.write("/etc/nftables/ssh.nft", "add rule inet filter input tcp dport ssh accept\n")
    assert run(guest).status == Status.WARN


@pytest.mark.parametrize("spec,expected", [("22", True), ("ssh", True), ("80,22", True), ("20:30", True),
                                           ("20-30", True), ("{ 22, 80 }", True), ("2222", False),
                                           ("", False), ("23:30", False), ("garbage", False)])
def test_port_in(spec, expected):
    assert port_in(spec) is expected


def test_iptables_parser():
    assert iptables_port(RHEL_IPTABLES, "x")[0] == "open"
    assert iptables_port("*filter\n:INPUT DROP [0:0]\nCOMMIT\n", "x")[0] == "blocked"
    assert iptables_port("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -s 10.0.0.0/8 -j DROP\nCOMMIT\n", "x")[0] == "open"
    assert iptables_port("\x01garbage\n-A\n", "x")[0] == "open"
    assert nft_port("garbage {{{", "x")[0] == "open"


def test_fix_removes_links_and_rollback_restores_them(guest):
    firewalld(guest)
    engine = Engine([Firewall], [FirewallFix])
    ctx = guest.ctx()
    plans = engine.plan(ctx, engine.checks, engine.run_checks(ctx))
    assert [type(s) for s in plans[0].steps] == [RemoveFile, RemoveFile]
    assert sorted(s.path for s in plans[0].steps) == sorted([WANTS, ALIAS])
    journal, outcomes = engine.apply(ctx, plans, guest.state())
    assert [o.outcome for o in outcomes] == ["FIXED"]
    assert not guest.exists(WANTS) and not guest.exists(ALIAS)
    assert engine.plan(ctx, engine.checks, engine.run_checks(ctx)) == []
    journal.rollback(ctx)
    assert os.readlink(guest.host(WANTS)) == UNIT and os.readlink(guest.host(ALIAS)) == UNIT


def test_fix_disables_ufw_in_its_conf_only(guest):
    guest.write("/etc/ufw/ufw.conf", UFW_CONF, mode=0o644)
    engine = Engine([Firewall], [FirewallFix])
    ctx = guest.ctx()
    plans = engine.plan(ctx, engine.checks, engine.run_checks(ctx))
    assert len(plans[0].steps) == 1 and isinstance(plans[0].steps[0], WriteFile)
    assert plans[0].steps[0].content.decode() == UFW_CONF.replace("ENABLED=yes", "ENABLED=no")
    journal, outcomes = engine.apply(ctx, plans, guest.state())
    assert [o.outcome for o in outcomes] == ["FIXED"]
    assert engine.plan(ctx, engine.checks, engine.run_checks(ctx)) == []
    journal.rollback(ctx)
    assert guest.read("/etc/ufw/ufw.conf") == UFW_CONF
    assert stat.S_IMODE(os.stat(guest.host("/etc/ufw/ufw.conf")).st_mode) == 0o644


def test_ufw_rule_on_one_interface_opens_port_22(guest):
    # `ufw allow in on eth0 to any port 22 proto tcp` ends its tuple with in_eth0, not in.
    guest.write("/etc/ufw/ufw.conf", UFW_CONF)
    guest.write("/etc/ufw/user.rules", "*filter\n### RULES ###\n\n"
                "### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in_eth0\n"
                "-A ufw-user-input -i eth0 -p tcp --dport 22 -j ACCEPT\n")
    result = run(guest)
    assert result.status == Status.WARN
    assert "allows port 22 on eth0" in result.summary
    guest.write("/etc/ufw/user.rules", "### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 out_eth0\n")
    assert run(guest).status == Status.FAIL
