"""agent.netformats: each format's conversion matches any NIC name, and the fix keeps its primary.

The real tools' corpus (nmcli, netplan, ifupdown on a Debian root) is in
tests/e2e/test_network_formats.py; here are the formats no Debian tool writes (RHEL and
SUSE ifcfg, in the layout NetworkManager's ifcfg-rh writer and YaST leave them) and the
editors' edge cases.
"""
import json
import os

import pytest

from agent import netformats
from agent.checks.dhcp import Dhcp
from agent.core.engine import Engine
from agent.core.model import RemoveFile, Status, WriteFile
from agent.netformats import eni, networkd, nm
from agent.parsers import DISABLED_PREFIX as D
from agent.parsers import netplan as netplan_parser
from remediations.dhcp import DhcpFix

# CentOS 7 on VMware, as NetworkManager's ifcfg-rh writer leaves a static profile.
RHEL_VMWARE = """\
TYPE=Ethernet
PROXY_METHOD=none
BROWSER_ONLY=no
BOOTPROTO=none
DEFROUTE=yes
IPV4_FAILURE_FATAL=no
IPV6INIT=yes
IPV6_AUTOCONF=no
IPV6_DEFROUTE=yes
IPV6_FAILURE_FATAL=no
IPV6_ADDR_GEN_MODE=stable-privacy
NAME=ens192
UUID=0bf55130-2380-4275-a785-09ba4871d951
DEVICE=ens192
ONBOOT=yes
IPADDR=10.0.1.63
PREFIX=24
GATEWAY=10.0.1.2
DNS1=1.2.4.8
IPV6ADDR=2001:db8::63/64
IPV6_DEFAULTGW=2001:db8::1
HWADDR=00:50:56:22:5C:3F
"""
RHEL_PATH = "/etc/sysconfig/network-scripts/ifcfg-ens192"

RHEL_BOND = {
    "/etc/sysconfig/network-scripts/ifcfg-bond0": (
        "DEVICE=bond0\nTYPE=Bond\nBONDING_MASTER=yes\nBOOTPROTO=none\nIPADDR=192.168.20.5\nPREFIX=24\n"
        "GATEWAY=192.168.20.1\nONBOOT=yes\nBONDING_OPTS=\"mode=active-backup miimon=100\"\n"),
    "/etc/sysconfig/network-scripts/ifcfg-ens192": (
        "TYPE=Ethernet\nNAME=ens192\nDEVICE=ens192\nONBOOT=yes\nMASTER=bond0\nSLAVE=yes\n"),
}

# SLES 15 on VMware, as YaST writes a static NIC.
SUSE_VMWARE = """\
BOOTPROTO='static'
BROADCAST=''
ETHTOOL_OPTIONS=''
IPADDR='192.168.100.10/24'
MTU=''
NAME='VMXNET3 Ethernet Controller'
NETWORK=''
REMOTE_IPADDR=''
STARTMODE='auto'
"""
SUSE_PATH = "/etc/sysconfig/network/ifcfg-ens192"


def engine():
    return Engine([Dhcp], [DhcpFix])


def fix(guest):
    eng = engine()
    ctx = guest.ctx()
    plans = eng.plan(ctx, eng.checks, eng.run_checks(ctx))
    journal, outcomes = eng.apply(ctx, plans, guest.state())
    assert [o.outcome for o in outcomes] == ["FIXED"], outcomes
    return eng, ctx, plans[0], journal


def test_registry_has_one_module_per_format():
    assert [m.__name__.rsplit(".", 1)[1] for m in netformats.FORMATS] == [
        "ifcfg", "suse", "eni", "netplan", "nm", "networkd", "udev"]
    for module in netformats.FORMATS:
        assert callable(module.read) and callable(module.steps) and callable(module.commands)
        assert module.LOOKED_AT


def test_rhel_ifcfg_names_eth0_drops_the_mac_and_both_families_and_keeps_its_primary(guest):
    guest.write(RHEL_PATH, RHEL_VMWARE)
    result = engine().run_check(guest.ctx(), Dhcp())
    assert result.status == Status.FAIL and result.data["primary"] == "ens192"
    (entry,) = result.data["manifest"]["interfaces"]
    assert entry["ipv4"] == ["10.0.1.63/24"] and entry["ipv6"] == ["2001:db8::63/64"]
    assert entry["mac"] == ["00:50:56:22:5c:3f"] and entry["dns"] == ["1.2.4.8"]
    assert result.data["manifest"]["keep_on_ecs"] == [
        {"interface": "ens192", "address": "10.0.1.63", "vswitch_cidr": "10.0.1.0/24"}]
    eng, ctx, plan, journal = fix(guest)
    text = guest.read(RHEL_PATH)
    assert "\nBOOTPROTO=dhcp\n" in text and "\nDEVICE=eth0\n" in text
    for key in ("IPADDR", "PREFIX", "GATEWAY", "IPV6ADDR", "IPV6_DEFAULTGW", "HWADDR"):
        assert "\n" + D + key + "=" in text, key
    # the re-check keeps ens192 (recorded in the manifest) as the primary NIC, whose file now says eth0
    again = eng.run_check(ctx, Dhcp())
    assert again.status == Status.PASS, again.summary
    assert again.data["primary"] == "ens192"
    assert "recorded in " + netformats.MANIFEST_PATH in again.data["how"]
    journal.rollback(ctx)
    assert guest.read(RHEL_PATH) == RHEL_VMWARE
    assert not os.path.lexists(guest.host(netformats.MANIFEST_PATH))


def test_rhel_bond_keeps_its_name_and_stays_primary_after_the_fix(guest):
    for path, text in RHEL_BOND.items():
        guest.write(path, text)
    result = engine().run_check(guest.ctx(), Dhcp())
    assert result.status == Status.FAIL and result.data["primary"] == "bond0"
    assert "bond0 enslaves ens192 by name" in result.summary
    eng, ctx, plan, journal = fix(guest)
    assert [s.path for s in plan.steps] == [netformats.MANIFEST_PATH, "/etc/sysconfig/network-scripts/ifcfg-bond0"]
    assert guest.read("/etc/sysconfig/network-scripts/ifcfg-bond0").startswith("DEVICE=bond0\n")
    again = eng.run_check(ctx, Dhcp())
    assert again.data["primary"] == "bond0" and again.status != Status.FAIL, again.summary


def test_suse_ifcfg_moves_to_ifcfg_eth0_and_rollback_moves_it_back(guest):
    guest.write(SUSE_PATH, SUSE_VMWARE)
    eng, ctx, plan, journal = fix(guest)
    assert [type(s) for s in plan.steps] == [WriteFile, WriteFile, RemoveFile]
    assert not os.path.lexists(guest.host(SUSE_PATH))
    moved = guest.read("/etc/sysconfig/network/ifcfg-eth0")
    assert moved.startswith("BOOTPROTO='dhcp'\n") and D + "IPADDR='192.168.100.10/24'" in moved
    again = eng.run_check(ctx, Dhcp())
    assert again.status == Status.PASS and again.data["primary"] == "ens192", again.summary
    journal.rollback(ctx)
    assert guest.read(SUSE_PATH) == SUSE_VMWARE
    assert not os.path.lexists(guest.host("/etc/sysconfig/network/ifcfg-eth0"))


@pytest.mark.parametrize("text,done", [
    ("auto lo ens192\niface ens192 inet dhcp\n",
     "{D}auto lo ens192\nauto lo\nauto /e*/1=ens192\niface ens192 inet dhcp\n"),
    ("iface ens192 inet dhcp\n", "auto /e*/1=ens192\niface ens192 inet dhcp\n"),
    ("allow-hotplug ens192\r\niface ens192 inet dhcp", "{D}allow-hotplug ens192\r\nauto /e*/1=ens192\r\n"
                                                      "iface ens192 inet dhcp"),
    ("allow-hotplug ens192", "{D}allow-hotplug ens192\nauto /e*/1=ens192"),
])
def test_eni_stanza_comes_up_on_any_name(text, done):
    converted = eni.to_any_nic(text, "ens192")
    assert converted == done.format(D=D)
    assert eni.to_any_nic(converted, "ens192") == converted


def test_eni_inet6_static_is_detected_and_becomes_auto():
    text = "allow-hotplug ens192\niface ens192 inet dhcp\niface ens192 inet6 static\n  address 2001:db8::5/64\n"
    configs = [netformats.IfaceConfig("/x", "ifupdown", "ens192", "dhcp", ref="inet ens192"),
               netformats.IfaceConfig("/x", "ifupdown", "ens192", "static", ref="inet6 ens192",
                                      addresses=("2001:db8::5/64",))]
    converted = eni.convert(text, configs, "ens192")
    assert "iface ens192 inet6 auto\n" in converted and D + "  address 2001:db8::5/64" in converted
    assert "iface ens192 inet dhcp\n" in converted and "auto /e*/1=ens192\n" in converted


def test_netplan_any_name_keeps_comments_and_loads_to_the_expected_document():
    text = "# installer\nnetwork:\n  version: 2\n  ethernets:\n    ens192:  # the NIC\n      addresses: [10.0.0.5/24]\n" \
           "      set-name: ens192\n      match:\n        macaddress: \"00:50:56:aa:bb:cc\"\n"
    converted = netplan_parser.to_dhcp(text, "ens192", any_name="e*")
    assert converted.startswith("# installer\n") and "# the NIC" in converted
    doc, problems = netplan_parser.parse(converted)
    assert problems == []
    assert doc["network"]["ethernets"]["ens192"] == {"match": {"name": "e*"}, "dhcp4": True}
    assert netplan_parser.to_dhcp(converted, "ens192", any_name="e*") == converted


def test_networkd_name_and_mac_become_one_name_glob():
    text = "[Match]\nName=ens192\nMACAddress=00:50:56:aa:bb:cc\n\n[Network]\nAddress=10.0.0.5/24\n"
    converted = networkd.to_dhcp(text, networkd.ANY_NAMES)
    assert converted == ("[Match]\n{D}Name=ens192\nName=en* eth*\n{D}MACAddress=00:50:56:aa:bb:cc\n\n"
                         "[Network]\n{D}Address=10.0.0.5/24\nDHCP=yes\n").format(D=D)
    assert networkd.to_dhcp(converted, networkd.ANY_NAMES) == converted


def test_networkmanager_vlan_keeps_its_interface_name_and_ethernet_loses_it():
    vlan = "[connection]\nid=v\ntype=vlan\ninterface-name=ens192.100\n\n[vlan]\nid=100\nparent=ens192\n\n" \
           "[ipv4]\naddress1=192.168.30.5/24\nmethod=manual\n"
    assert "\ninterface-name=ens192.100\n" in nm.to_dhcp(vlan, any_nic=False)
    ether = "[connection]\nid=e\ntype=ethernet\ninterface-name=ens192\n\n[ipv4]\nmethod=auto\n"
    assert nm.to_dhcp(ether) == "[connection]\nid=e\ntype=ethernet\n{D}interface-name=ens192\n\n" \
                                "[ipv4]\nmethod=auto\n".format(D=D)


def test_no_auto_default_is_commented_out_in_networkmanager_conf(guest):
    guest.write("/etc/NetworkManager/NetworkManager.conf", "[main]\nplugins=ifupdown,keyfile\nno-auto-default=*\n")
    guest.write("/etc/NetworkManager/conf.d/10-keep.conf", "[main]\nno-auto-default=00:11:22:33:44:55\n")
    steps = nm.auto_default_steps(guest.ctx().root, [])
    assert [s.path for s in steps] == ["/etc/NetworkManager/NetworkManager.conf"]
    assert steps[0].content.decode() == "[main]\nplugins=ifupdown,keyfile\n{}no-auto-default=*\n".format(D)


def test_an_unparsable_file_stops_the_whole_fix_with_its_path_and_line(guest):
    guest.write(RHEL_PATH, RHEL_VMWARE)
    guest.write("/etc/network/interfaces", "iface ens224 inet static\n  address 10.9.9.9/24\naddress 1\n"
                "    mtu\n")
    eng = engine()
    ctx = guest.ctx()
    result = eng.run_check(ctx, Dhcp())
    assert result.status == Status.FAIL
    assert "the fix converts nothing while /etc/network/interfaces cannot be parsed" in result.summary
    assert "/etc/network/interfaces: line 4: option 'mtu' has no value" in result.summary
    (plan,) = eng.plan(ctx, eng.checks, [result])
    assert plan.steps == [] and "/etc/network/interfaces line 4:" in plan.skipped
    assert guest.read(RHEL_PATH) == RHEL_VMWARE


def test_manifest_survives_a_second_fix_and_names_every_converted_file(guest):
    guest.write(RHEL_PATH, RHEL_VMWARE)
    eng, ctx, plan, journal = fix(guest)
    record = json.loads(guest.read(netformats.MANIFEST_PATH))
    assert record["primary"] == "ens192" and record["paths"] == [RHEL_PATH]
    assert record["keep_on_ecs"][0]["vswitch_cidr"] == "10.0.1.0/24"
    # a new static file for the same NIC later: the record grows, it is not replaced
    guest.write("/etc/NetworkManager/system-connections/ens192.nmconnection",
                "[connection]\nid=ens192\ntype=ethernet\ninterface-name=ens192\n\n[ipv4]\n"
                "address1=10.0.1.64/24\nmethod=manual\n", mode=0o600)
    fix(guest)
    record = json.loads(guest.read(netformats.MANIFEST_PATH))
    assert record["primary"] == "ens192"
    assert record["paths"] == ["/etc/NetworkManager/system-connections/ens192.nmconnection", RHEL_PATH]
    assert [k["address"] for k in record["keep_on_ecs"]] == ["10.0.1.63", "10.0.1.64"]


def test_eni_inet6_static_alone_fails_like_any_static_address(guest):
    guest.write("/etc/network/interfaces", "auto lo\niface lo inet loopback\n\nauto /e*/1=ens192\n"
                "iface ens192 inet dhcp\n\niface ens192 inet6 static\n  address 2001:db8::5/64\n")
    result = engine().run_check(guest.ctx(), Dhcp())
    assert result.status == Status.FAIL
    assert "has a static address in /etc/network/interfaces (ifupdown)" in result.summary
    assert result.data["manifest"]["interfaces"][0]["ipv6"] == ["2001:db8::5/64"]
    eng, ctx, plan, journal = fix(guest)
    assert "iface ens192 inet6 auto\n" in guest.read("/etc/network/interfaces")
    assert eng.run_check(ctx, Dhcp()).status == Status.PASS
