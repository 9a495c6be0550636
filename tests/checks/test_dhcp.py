"""GUESTOS.Dhcp: the check over all six formats and udev, and its fix (plan, apply, re-check, rollback)."""
import json
import os
import stat

import pytest

from agent import netformats
from agent.checks.dhcp import Dhcp
from agent.core.engine import Engine
from agent.core.model import Mode, Status, WriteFile
from agent.parsers import DISABLED_PREFIX as D
from remediations.dhcp import DhcpFix
from tests.conftest import FakeLive

# -- realistic samples ------------------------------------------------------------

# CentOS 7 / RHEL 8 as written by anaconda for a static address.
RHEL_IFCFG = """\
TYPE=Ethernet
PROXY_METHOD=none
BROWSER_ONLY=no
BOOTPROTO=none
DEFROUTE=yes
IPV4_FAILURE_FATAL=no
IPV6INIT=yes
IPV6_AUTOCONF=yes
NAME=eth0
UUID=5fb06bd0-0bb0-7ffb-45f1-d6edd65f3e03
DEVICE=eth0
ONBOOT=yes
IPADDR=192.168.122.20
PREFIX=24
GATEWAY=192.168.122.1
DNS1=192.168.122.1
HWADDR=52:54:00:6B:3C:58
"""

RHEL_IFCFG_FIXED = """\
TYPE=Ethernet
PROXY_METHOD=none
BROWSER_ONLY=no
BOOTPROTO=dhcp
DEFROUTE=yes
IPV4_FAILURE_FATAL=no
IPV6INIT=yes
IPV6_AUTOCONF=yes
NAME=eth0
UUID=5fb06bd0-0bb0-7ffb-45f1-d6edd65f3e03
DEVICE=eth0
ONBOOT=yes
{D}IPADDR=192.168.122.20
{D}PREFIX=24
{D}GATEWAY=192.168.122.1
DNS1=192.168.122.1
{D}HWADDR=52:54:00:6B:3C:58
""".format(D=D)

RHEL_DHCP = """\
DEVICE=eth0
BOOTPROTO=dhcp
ONBOOT=yes
TYPE=Ethernet
USERCTL=no
"""

# SLES 15 as written by YaST.
SUSE_IFCFG = """\
BOOTPROTO='static'
BROADCAST=''
ETHTOOL_OPTIONS=''
IPADDR='192.168.100.10/24'
MTU=''
NAME='Virtio network device'
NETWORK=''
REMOTE_IPADDR=''
STARTMODE='auto'
ZONE=''
"""

SUSE_IFCFG_FIXED = """\
BOOTPROTO='dhcp'
{D}BROADCAST=''
ETHTOOL_OPTIONS=''
{D}IPADDR='192.168.100.10/24'
MTU=''
NAME='Virtio network device'
{D}NETWORK=''
REMOTE_IPADDR=''
STARTMODE='auto'
ZONE=''
""".format(D=D)

SUSE_ROUTES = "default 192.168.100.1 - -\n"

# Debian installer, static address.
ENI = """\
# This file describes the network interfaces available on your system
# and how to activate them. For more information, see interfaces(5).

source /etc/network/interfaces.d/*

# The loopback network interface
auto lo
iface lo inet loopback

# The primary network interface
allow-hotplug eth0
iface eth0 inet static
\taddress 192.168.122.10/24
\tgateway 192.168.122.1
\t# dns-* options are implemented by the resolvconf package, if installed
\tdns-nameservers 192.168.122.1
\tdns-search example.com
"""

ENI_FIXED = """\
# This file describes the network interfaces available on your system
# and how to activate them. For more information, see interfaces(5).

source /etc/network/interfaces.d/*

# The loopback network interface
auto lo
iface lo inet loopback

# The primary network interface
{D}allow-hotplug eth0
auto /e*/1=eth0
{D}iface eth0 inet static
iface eth0 inet dhcp
{D}\taddress 192.168.122.10/24
{D}\tgateway 192.168.122.1
\t# dns-* options are implemented by the resolvconf package, if installed
{D}\tdns-nameservers 192.168.122.1
{D}\tdns-search example.com
""".format(D=D)

ENI_DHCP = "auto lo\niface lo inet loopback\n\nallow-hotplug eth0\niface eth0 inet dhcp\n"

# Ubuntu 22.04 server installer (subiquity), static address.
NETPLAN_STATIC = """\
# This is the network config written by 'subiquity'
network:
  ethernets:
    ens3:
      addresses:
      - 192.168.1.50/24
      routes:
      - to: default
        via: 192.168.1.1
      nameservers:
        addresses:
        - 8.8.8.8
        search: []
  version: 2
"""

NETPLAN_STATIC_FIXED = """\
# This is the network config written by 'subiquity'
network:
  ethernets:
    ens3:
      match:
        name: "e*"
      dhcp4: true
  version: 2
"""

# cloud-init on Ubuntu 18.04-22.04: DHCP, but bound to the old NIC's MAC.
CLOUD_INIT_HEADER = """\
# This file is generated from information provided by the datasource.  Changes
# to it will not persist across an instance reboot.  To disable cloud-init's
# network configuration capabilities, write a file
# /etc/cloud/cloud.cfg.d/99-disable-network-config.cfg with the following:
# network: {config: disabled}
"""
NETPLAN_CLOUD_INIT = CLOUD_INIT_HEADER + """\
network:
    ethernets:
        eth0:
            dhcp4: true
            match:
                macaddress: fa:16:3e:2b:8c:11
            set-name: eth0
    version: 2
"""
NETPLAN_CLOUD_INIT_FIXED = CLOUD_INIT_HEADER + """\
network:
    ethernets:
        eth0:
            match:
              name: "e*"
            dhcp4: true
    version: 2
"""
NETPLAN_DHCP = CLOUD_INIT_HEADER + """\
network:
    ethernets:
        eth0:
            dhcp4: true
    version: 2
"""

# What `nmcli --offline connection add type ethernet ifname eth0 con-name eth0 ipv4.method manual
# ipv4.addresses 192.168.10.5/24 ipv4.gateway 192.168.10.1` prints (NetworkManager 1.42),
# with a MAC binding as `nmcli connection modify eth0 ethernet.mac-address ...` adds.
NM_KEYFILE = """\
[connection]
id=eth0
uuid=0a79193a-9b8c-45dd-ba36-029476338014
type=ethernet
interface-name=eth0

[ethernet]
mac-address=52:54:00:12:34:56

[ipv4]
address1=192.168.10.5/24,192.168.10.1
dns=192.168.10.1;
method=manual

[ipv6]
addr-gen-mode=default
method=auto

[proxy]
"""

NM_KEYFILE_FIXED = """\
[connection]
id=eth0
uuid=0a79193a-9b8c-45dd-ba36-029476338014
type=ethernet
{D}interface-name=eth0

[ethernet]
{D}mac-address=52:54:00:12:34:56

[ipv4]
{D}address1=192.168.10.5/24,192.168.10.1
dns=192.168.10.1;
method=auto

[ipv6]
addr-gen-mode=default
method=auto

[proxy]
""".format(D=D)

NM_PATH = "/etc/NetworkManager/system-connections/eth0.nmconnection"

NETWORKD = """\
[Match]
Name=enp1s0

[Network]
Address=10.1.10.9/24
Gateway=10.1.10.1
DNS=10.1.10.1

[Address]
Address=10.1.10.10/24
Label=enp1s0:1

[Route]
Gateway=10.1.10.254
Metric=100

[Route]
Destination=10.2.0.0/16
Gateway=10.1.10.253
"""

NETWORKD_FIXED = """\
[Match]
{D}Name=enp1s0
Name=en* eth*

[Network]
{D}Address=10.1.10.9/24
{D}Gateway=10.1.10.1
DNS=10.1.10.1
DHCP=yes

[Address]
{D}Address=10.1.10.10/24
{D}Label=enp1s0:1

[Route]
{D}Gateway=10.1.10.254
{D}Metric=100

[Route]
Destination=10.2.0.0/16
Gateway=10.1.10.253
""".format(D=D)

NETWORKD_MAC = """\
# written by the installer
[Match]
MACAddress=52:54:00:12:34:56

[Network]
DHCP=ipv4
"""

UDEV_RULES = """\
# This file was automatically generated by the /lib/udev/write_net_rules
# program, run by the persistent-net-generator.rules rules file.
#
# You can modify it, as long as you keep each rule on a single
# line, and change only the value of the NAME= key.

# PCI device 0x1af4:0x1000 (virtio-pci)
SUBSYSTEM=="net", ACTION=="add", DRIVERS=="?*", ATTR{address}=="52:54:00:6b:3c:58", ATTR{type}=="1", \\
    KERNEL=="eth*", NAME="eth0"

# PCI device 0x1af4:0x1000 (virtio-pci)
SUBSYSTEM=="net", ACTION=="add", DRIVERS=="?*", ATTR{address}=="52:54:00:6b:3c:59", ATTR{type}=="1", \
KERNEL=="eth*", NAME="eth1"
"""

UDEV_RULES_FIXED = UDEV_RULES.replace("SUBSYSTEM", D + "SUBSYSTEM").replace("    KERNEL==", D + "    KERNEL==")

IFCFG = "/etc/sysconfig/network-scripts/ifcfg-eth0"
ENI_PATH = "/etc/network/interfaces"
NETWORKD_PATH = "/etc/systemd/network/10-enp1s0.network"
UDEV_PATH = "/etc/udev/rules.d/70-persistent-net.rules"


def stable_eth0(guest):
    """The image boots with net.ifnames=0 (as Alibaba's own images do): its first NIC is eth0 on ECS too."""
    guest.write("/etc/default/grub", 'GRUB_CMDLINE_LINUX="net.ifnames=0 biosdevname=0"\n')


def run(guest, **kw):
    return Engine([Dhcp]).run_check(guest.ctx(**kw), Dhcp())


def mode_of(guest, path):
    return stat.S_IMODE(os.stat(guest.host(path)).st_mode)


def fix_cycle(guest, originals, expected, live=None):
    """Plan, apply, re-check FIXED, plan nothing more, roll back to the original bytes and modes."""
    modes = dict((path, mode_of(guest, path)) for path in originals)
    engine = Engine([Dhcp], [DhcpFix])
    ctx = guest.ctx(live=live)
    plans = engine.plan(ctx, engine.checks, engine.run_checks(ctx))
    assert [p.check_id for p in plans] == ["dhcp"]
    assert all(isinstance(s, WriteFile) for s in plans[0].steps)
    planned = [s.path for s in plans[0].steps]
    recorded = netformats.MANIFEST_PATH in planned
    assert sorted(p for p in planned if p != netformats.MANIFEST_PATH) == sorted(expected)
    journal, outcomes = engine.apply(ctx, plans, guest.state())
    assert [o.outcome for o in outcomes] == ["FIXED"], outcomes
    assert outcomes[0].message.endswith(" — " + DhcpFix.note)
    for path, text in expected.items():
        assert guest.read(path) == text
        assert mode_of(guest, path) == modes[path]
    if recorded:
        record = json.loads(guest.read(netformats.MANIFEST_PATH))
        assert sorted(record["paths"]) == sorted(expected)
        assert mode_of(guest, netformats.MANIFEST_PATH) == 0o600
    result = engine.run_check(ctx, Dhcp())
    assert result.status == Status.PASS, result.summary
    assert engine.plan(ctx, engine.checks, engine.run_checks(ctx)) == []
    undone = journal.rollback(ctx)
    assert sorted(m for r, m, _x in undone if r.get("path") != netformats.MANIFEST_PATH) == ["restored"] * len(expected)
    assert not os.path.lexists(guest.host(netformats.MANIFEST_PATH))
    for path, text in originals.items():
        assert guest.read(path) == text
        assert mode_of(guest, path) == modes[path]
    return result


# -- the fix's declared behaviour --------------------------------------------------

def test_fix_is_deferred_files_only_and_reversible():
    fix = DhcpFix()
    assert fix.id == Dhcp.id == "dhcp" and Dhcp.item == "GUESTOS.Dhcp" and Dhcp.repair_item == "dhcp"
    assert fix.mode == Mode.DEFER
    assert fix.reversible and fix.offline_safe and fix.needs_reboot and fix.disrupts_network
    assert fix.note == ("Files only: networking is not restarted, so your SSH session stays up; "
                        "DHCP takes effect at the next boot.")


# -- nothing configured ------------------------------------------------------------

def test_no_configuration_at_all_is_info_and_says_where_it_looked(guest):
    result = run(guest)
    assert result.status == Status.INFO
    assert result.summary == (
        "no interface configuration found (looked at ifcfg, SUSE ifcfg, ifupdown, netplan, "
        "NetworkManager, systemd-networkd, udev); cloud-init or the distribution's default DHCP "
        "will configure the NIC")
    assert "never restarts networking" in result.hint and "next boot" in result.hint
    assert result.commands == ()


def test_loopback_only_counts_as_nothing(guest):
    guest.write(ENI_PATH, "auto lo\niface lo inet loopback\n")
    guest.write("/etc/sysconfig/network-scripts/ifcfg-lo", "DEVICE=lo\nIPADDR=127.0.0.1\nNETMASK=255.0.0.0\n")
    guest.write("/etc/systemd/network/lo.network", "[Match]\nName=lo\n\n[Network]\nAddress=127.0.0.2/8\n")
    assert run(guest).status == Status.INFO


# -- each format: check ----------------------------------------------------------------

def test_rhel_ifcfg_static_with_hwaddr_fails(guest):
    guest.write(IFCFG, RHEL_IFCFG)
    result = run(guest)
    assert result.status == Status.FAIL
    assert result.summary == (
        "eth0 has a static address and is pinned to MAC 52:54:00:6b:3c:58 in {} (ifcfg)".format(IFCFG))
    assert result.paths == (IFCFG,)
    assert result.data["primary"] == "eth0"
    assert result.data["how"] == ("chosen offline: the interface with the configured default gateway, "
                                  "in " + IFCFG)
    assert "Primary NIC: eth0 (chosen offline" in result.hint
    assert "never restarts networking" in result.hint
    assert result.commands == (
        "sed -i -e 's/^BOOTPROTO=.*/BOOTPROTO=dhcp/' -e 's/^DEVICE=.*/DEVICE=eth0/' -e 's/^\\(IPADDR\\|NETMASK"
        "\\|PREFIX\\|GATEWAY\\|BROADCAST\\|NETWORK\\|IPV6ADDR\\|IPV6_DEFAULTGW\\|HWADDR\\|MACADDR\\)/# &/' "
        + guest.host(IFCFG),)
    # what to set on ECS to keep the address, in the report and its data
    assert ("to keep 192.168.122.20 on ECS, create the instance in a vSwitch whose CIDR is 192.168.122.0/24"
            in result.hint)
    assert result.data["manifest"]["interfaces"] == [{
        "interface": "eth0", "file": IFCFG, "format": "ifcfg", "kind": "ethernet",
        "mac": ["52:54:00:6b:3c:58"], "ipv4": ["192.168.122.20/24"], "ipv6": [], "gateway": "192.168.122.1",
        "dns": ["192.168.122.1"], "routes": [], "mtu": "", "members": [], "vlan": ""}]


def test_rhel_ifcfg_dhcp_passes_and_backup_files_are_ignored(guest):
    guest.write(IFCFG, RHEL_DHCP)
    guest.write(IFCFG + ".bak", RHEL_IFCFG)
    guest.write(IFCFG + "~", RHEL_IFCFG)
    result = run(guest)
    assert result.status == Status.PASS
    assert result.summary == "eth0 uses DHCP (ifcfg {})".format(IFCFG)
    assert "never restarts networking" in result.hint


def test_suse_static_with_default_route_fails_twice(guest):
    guest.write("/etc/sysconfig/network/ifcfg-eth0", SUSE_IFCFG)
    guest.write("/etc/sysconfig/network/routes", SUSE_ROUTES)
    guest.write("/etc/sysconfig/network/ifcfg-lo", "IPADDR=127.0.0.1/8\nSTARTMODE=nfsroot\nBOOTPROTO=static\n")
    guest.write("/etc/sysconfig/network/ifcfg.template", "BOOTPROTO='static'\nIPADDR='10.0.0.1/8'\n")
    result = run(guest)
    assert result.status == Status.FAIL
    assert result.summary == (
        "eth0 has a static address in /etc/sysconfig/network/ifcfg-eth0 (SUSE ifcfg); "
        "eth0 has a static default gateway 192.168.100.1 in /etc/sysconfig/network/routes (SUSE routes)")


def test_suse_dhcp_passes(guest):
    guest.write("/etc/sysconfig/network/ifcfg-eth0", "BOOTPROTO='dhcp'\nSTARTMODE='auto'\n")
    guest.write("/etc/sysconfig/network/routes", "# no routes\n10.9.0.0/16 10.0.0.254 - eth0\n")
    result = run(guest)
    assert result.status == Status.PASS
    assert result.summary == "eth0 uses DHCP (SUSE ifcfg /etc/sysconfig/network/ifcfg-eth0)"


def test_eni_static_fails(guest):
    guest.write(ENI_PATH, ENI)
    result = run(guest)
    assert result.status == Status.FAIL
    assert result.summary == "eth0 has a static address in /etc/network/interfaces (ifupdown)"
    assert result.commands[0].startswith("sed -i '/^\\s*iface eth0 inet /,")


def test_eni_hwaddress_on_dhcp_fails(guest):
    guest.write(ENI_PATH, "auto eth0\niface eth0 inet dhcp\n    hwaddress ether 52:54:00:AA:BB:CC\n")
    result = run(guest)
    assert result.status == Status.FAIL
    assert result.summary == ("eth0 gets its MAC set to 52:54:00:aa:bb:cc in /etc/network/interfaces "
                              "(ifupdown)")


def test_eni_source_glob_is_followed(guest):
    guest.write(ENI_PATH, ENI_DHCP.replace("eth0", "eth9") + "source /etc/network/interfaces.d/*\n")
    guest.write("/etc/network/interfaces.d/eth0", "auto eth0\niface eth0 inet static\n  address 10.0.0.5/24\n"
                "  gateway 10.0.0.1\n")
    result = run(guest)
    assert result.status == Status.FAIL
    assert result.summary.startswith(
        "eth0 has a static address in /etc/network/interfaces.d/eth0 (ifupdown)")


def test_eni_source_directory_relative_takes_run_parts_names_only(guest):
    guest.write(ENI_PATH, "auto lo\niface lo inet loopback\nsource-directory interfaces.d\n")
    guest.write("/etc/network/interfaces.d/eth0", "auto /e*/1=eth0\niface eth0 inet dhcp\n")
    # not a run-parts name: ifupdown skips it, so must we
    guest.write("/etc/network/interfaces.d/eth1.cfg", "iface eth1 inet static\n  address 10.0.0.6/24\n")
    result = run(guest)
    assert result.status == Status.PASS
    assert result.summary == "the primary NIC uses DHCP (ifupdown /etc/network/interfaces.d/eth0)"


def test_eni_source_loop_does_not_hang(guest):
    guest.write(ENI_PATH, "source interfaces\nauto /e*/1=eth0\niface eth0 inet dhcp\n")
    assert run(guest).status == Status.PASS


def test_dhcp_bound_to_the_old_name_fails_unless_eth0_is_stable(guest):
    """The bug of issue 10: DHCP on `ens192` (or eth0 under predictable names) gets no lease on ECS."""
    guest.write(ENI_PATH, "auto lo\niface lo inet loopback\n\nallow-hotplug ens192\niface ens192 inet dhcp\n")
    result = run(guest)
    assert result.status == Status.FAIL
    assert result.summary == ("ens192 gets its address only on the name ens192 in /etc/network/interfaces "
                              "(ifupdown): the NIC of an ECS instance has another name (eth0 in Alibaba's "
                              "images, or a predictable name such as ens5)")
    guest.write(ENI_PATH, ENI_DHCP)
    assert run(guest).status == Status.FAIL
    stable_eth0(guest)
    assert run(guest).status == Status.PASS


def test_net_ifnames_0_from_a_bls_entry_counts(guest):
    # RHEL 8/9 keep the kernel arguments in BLS entries ($kernelopts from grubenv), not in grub.cfg.
    guest.write(ENI_PATH, ENI_DHCP)
    guest.write("/boot/loader/entries/a-4.18.conf", "linux /vmlinuz-4.18\noptions $kernelopts\n")
    guest.write("/boot/grub2/grubenv", "kernelopts=root=UUID=1 ro net.ifnames=0\n" + "#" * 900)
    assert run(guest).status == Status.PASS


def test_a_commented_out_net_ifnames_0_does_not_count(guest):
    guest.write(ENI_PATH, ENI_DHCP)
    guest.write("/etc/default/grub", '#GRUB_CMDLINE_LINUX="net.ifnames=0"\nGRUB_CMDLINE_LINUX=""\n')
    assert run(guest).status == Status.FAIL


def test_netplan_static_fails_and_dhcp_passes(guest):
    guest.write("/etc/netplan/00-installer-config.yaml", NETPLAN_STATIC, mode=0o600)
    result = run(guest)
    assert result.status == Status.FAIL
    assert result.summary == "ens3 has a static address in /etc/netplan/00-installer-config.yaml (netplan)"
    guest.write("/etc/netplan/00-installer-config.yaml", NETPLAN_DHCP, mode=0o600)
    assert run(guest).status == Status.FAIL   # eth0 is not the NIC's name under predictable names
    stable_eth0(guest)
    result = run(guest)
    assert result.status == Status.PASS
    assert result.summary == "eth0 uses DHCP (netplan /etc/netplan/00-installer-config.yaml)"


def test_netplan_without_pyyaml_asks_for_the_module_not_a_repair(guest, monkeypatch):
    from agent.parsers import netplan
    monkeypatch.setattr(netplan, "yaml", None)
    guest.write("/etc/netplan/00-installer-config.yaml", NETPLAN_STATIC, mode=0o600)
    result = run(guest)
    assert result.status == Status.WARN
    assert "PyYAML is not installed" in result.summary
    assert "install python3-yaml" in result.hint
    assert "Repair or remove" not in result.hint


def test_netplan_mac_match_fails(guest):
    guest.write("/etc/netplan/50-cloud-init.yaml", NETPLAN_CLOUD_INIT, mode=0o600)
    result = run(guest)
    assert result.status == Status.FAIL
    assert result.summary == ("eth0 is pinned to MAC fa:16:3e:2b:8c:11 in /etc/netplan/50-cloud-init.yaml "
                              "(netplan)")


def test_networkmanager_keyfile_static_fails(guest):
    guest.write(NM_PATH, NM_KEYFILE, mode=0o600)
    result = run(guest)
    assert result.status == Status.FAIL
    assert result.summary == ("eth0 has a static address and is pinned to MAC 52:54:00:12:34:56 in "
                              "{} (NetworkManager)".format(NM_PATH))


def test_networkmanager_wifi_and_vpn_profiles_are_not_nics(guest):
    guest.write("/etc/NetworkManager/system-connections/home.nmconnection",
                "[connection]\nid=home\ntype=wifi\n\n[wifi]\nssid=home\n\n[ipv4]\nmethod=manual\n"
                "address1=192.168.0.9/24\n", mode=0o600)
    assert run(guest).status == Status.INFO


def test_networkd_static_fails(guest):
    guest.write(NETWORKD_PATH, NETWORKD)
    result = run(guest)
    assert result.status == Status.FAIL
    assert result.summary == "enp1s0 has a static address in {} (systemd-networkd)".format(NETWORKD_PATH)
    assert result.data["how"].endswith("gateway, in " + NETWORKD_PATH)


def test_networkd_mac_only_match_is_pinned_to_the_primary(guest):
    guest.write("/etc/systemd/network/20-wired.network", NETWORKD_MAC)
    result = run(guest)
    assert result.status == Status.FAIL
    assert result.data["primary"] is None
    assert result.summary == ("the primary NIC is pinned to MAC 52:54:00:12:34:56 in "
                              "/etc/systemd/network/20-wired.network (systemd-networkd)")


def test_networkd_masked_file_is_ignored(guest):
    guest.symlink("/etc/systemd/network/80-static.network", "/dev/null")
    assert run(guest).status == Status.INFO


def test_udev_rules_alone_warn(guest):
    guest.write(IFCFG, RHEL_DHCP)
    guest.write(UDEV_PATH, UDEV_RULES)
    result = run(guest)
    assert result.status == Status.WARN
    assert result.summary == (
        "/etc/udev/rules.d/70-persistent-net.rules pins eth0 to MAC 52:54:00:6b:3c:58, "
        "eth1 to MAC 52:54:00:6b:3c:59 (udev); eth0 uses DHCP (ifcfg {})".format(IFCFG))
    assert result.commands == ("sed -i 's/^[^#[:space:]]/# &/' " + guest.host(UDEV_PATH),)


# -- primary interface and secondary NICs ------------------------------------------

def test_static_secondary_nic_warns_and_the_fix_leaves_it(guest):
    stable_eth0(guest)
    eni = ENI_DHCP + "\nauto eth1\niface eth1 inet static\n  address 10.0.0.6/24\n"
    guest.write(ENI_PATH, eni)
    result = run(guest)
    assert result.status == Status.WARN
    assert result.summary == ("eth1 has a static address in /etc/network/interfaces (ifupdown); ECS supports "
                              "one NIC; eth0 uses DHCP (ifupdown /etc/network/interfaces)")
    assert "remove the configuration of eth1" in result.hint
    engine = Engine([Dhcp], [DhcpFix])
    ctx = guest.ctx()
    plans = engine.plan(ctx, engine.checks, engine.run_checks(ctx))
    assert [p.steps for p in plans] == [[]]
    assert guest.read(ENI_PATH) == eni


def test_live_primary_comes_from_the_default_route_offline_from_the_gateway(guest):
    stable_eth0(guest)
    guest.write(ENI_PATH, ENI_DHCP + "\niface eth1 inet static\n  address 10.0.0.6/24\n  gateway 10.0.0.1\n")
    offline = run(guest)
    assert offline.status == Status.FAIL
    assert offline.data["primary"] == "eth1"
    assert offline.summary == "eth1 has a static address in /etc/network/interfaces (ifupdown)"
    live = run(guest, live=FakeLive(default_iface="eth0"))
    assert live.status == Status.WARN
    assert live.data["primary"] == "eth0"
    assert live.data["how"] == "the interface of the running system's default route"
    assert live.summary.startswith("eth1 has a static address")
    # no default route on the running system: the offline rule decides
    nodefault = run(guest, live=FakeLive(default_iface=None))
    assert nodefault.data["primary"] == "eth1"
    assert nodefault.data["how"].startswith("no default route on the running system, so chosen:")


def test_offline_without_gateway_takes_eth0_then_ens_then_enp(guest):
    guest.write("/etc/systemd/network/a.network", "[Match]\nName=enp2s0\n\n[Network]\nDHCP=yes\n")
    guest.write("/etc/systemd/network/b.network", "[Match]\nName=ens10\n\n[Network]\nDHCP=yes\n")
    guest.write("/etc/systemd/network/c.network", "[Match]\nName=ens9\n\n[Network]\nDHCP=yes\n")
    result = run(guest)
    assert result.data["primary"] == "ens9"
    assert result.data["how"] == ("chosen offline: no default gateway is configured, so the first configured "
                                  "interface in the order eth0, eth*, ens*, enp*")
    guest.write("/etc/systemd/network/d.network", "[Match]\nName=eth0\n\n[Network]\nDHCP=yes\n")
    assert run(guest).data["primary"] == "eth0"


def test_order_key():
    names = ["enp0s3", "lan0", "ens10", "eth1", "ens9", "eth0", "eth10", "eno1"]
    assert sorted(names, key=netformats.order_key) == [
        "eth0", "eth1", "eth10", "ens9", "ens10", "enp0s3", "eno1", "lan0"]


def test_netplan_and_networkmanager_together(guest):
    guest.write("/etc/netplan/01-network-manager-all.yaml",
                "# Let NetworkManager manage all devices on this system\nnetwork:\n  version: 2\n"
                "  renderer: NetworkManager\n  ethernets:\n    eth0:\n      dhcp4: true\n", mode=0o600)
    guest.write(NM_PATH, NM_KEYFILE, mode=0o600)
    result = run(guest)
    assert result.status == Status.FAIL
    assert result.summary.startswith("eth0 has a static address and is pinned to MAC 52:54:00:12:34:56 in " + NM_PATH)
    netplan_path = "/etc/netplan/01-network-manager-all.yaml"
    netplan_text = guest.read(netplan_path)
    fixed = fix_cycle(guest, {NM_PATH: NM_KEYFILE, netplan_path: netplan_text}, {
        NM_PATH: NM_KEYFILE_FIXED,
        netplan_path: netplan_text.replace("    eth0:\n", '    eth0:\n      match:\n        name: "e*"\n')})
    assert fixed.summary == ("eth0 uses DHCP (netplan /etc/netplan/01-network-manager-all.yaml, "
                             "NetworkManager {})".format(NM_PATH))


# -- bad input ---------------------------------------------------------------------

def test_garbage_yaml_warns_and_other_files_are_still_checked(guest):
    guest.write("/etc/netplan/01-bad.yaml", "network:\n  ethernets: [eth0:\n    dhcp4: {\n", mode=0o600)
    guest.write(ENI_PATH, ENI)
    result = run(guest)
    assert result.status == Status.FAIL
    assert result.summary.startswith("eth0 has a static address in /etc/network/interfaces (ifupdown); "
                                     "the fix converts nothing while /etc/netplan/01-bad.yaml cannot be parsed")
    assert "/etc/netplan/01-bad.yaml: line 3: invalid YAML" in result.summary
    assert "/etc/netplan/01-bad.yaml" in result.paths
    # never half-converted: the fix refuses, naming the file and the line, and writes nothing
    engine = Engine([Dhcp], [DhcpFix])
    ctx = guest.ctx()
    plans = engine.plan(ctx, engine.checks, engine.run_checks(ctx))
    assert plans[0].steps == []
    assert plans[0].skipped.startswith("not converting a half-understood network: /etc/netplan/01-bad.yaml line 3:")
    assert guest.read(ENI_PATH) == ENI


def test_garbage_yaml_alone_warns(guest):
    guest.write("/etc/netplan/01-bad.yaml", "- just\n- a list\n")
    result = run(guest)
    assert result.status == Status.WARN
    assert result.summary == ("/etc/netplan/01-bad.yaml: line 1: the top level must be a mapping, not a list "
                              "(netplan YAML)")
    assert "cannot be read or parsed" in result.hint


def test_directory_where_a_file_should_be(guest):
    guest.mkdir("/etc/netplan/50-cloud-init.yaml")
    guest.write(IFCFG, RHEL_DHCP)
    result = run(guest)
    assert result.status == Status.WARN
    assert result.summary == ("/etc/netplan/50-cloud-init.yaml cannot be read: not a regular file "
                              "(a directory); eth0 uses DHCP (ifcfg {})".format(IFCFG))


def test_binary_file_warns(guest):
    guest.write("/etc/sysconfig/network-scripts/ifcfg-eth1", b"\x7fELF\x02\x01\x01\x00\x00\x00")
    guest.write(IFCFG, RHEL_IFCFG)
    result = run(guest)
    assert result.status == Status.FAIL
    assert result.summary.endswith("/etc/sysconfig/network-scripts/ifcfg-eth1 cannot be read: binary data "
                                   "where a text file was expected")


def test_garbage_in_every_text_format_never_raises(guest):
    junk = "\x01\x02 ][ = : {{ - !!python/object:os.system\n\t\\\n'unterminated\n"
    for path in (IFCFG, "/etc/sysconfig/network/ifcfg-eth0", "/etc/sysconfig/network/routes", ENI_PATH,
                 "/etc/netplan/x.yaml", NM_PATH, NETWORKD_PATH, UDEV_PATH):
        guest.write(path, junk)
    result = run(guest)
    assert result.status in (Status.WARN, Status.FAIL)
    assert result.summary
    plans = Engine([Dhcp], [DhcpFix]).plan(guest.ctx(), [Dhcp()], [result])
    assert len(plans) == 1


def test_unreadable_source_include_is_a_warning(guest):
    guest.write(ENI_PATH, "source /etc/network/eth0.conf\n")
    guest.mkdir("/etc/network/eth0.conf")
    result = run(guest)
    assert result.status == Status.WARN
    assert result.summary == "/etc/network/eth0.conf cannot be read: not a regular file (a directory)"


# -- the fix, format by format -------------------------------------------------------

def test_fix_rhel_ifcfg(guest):
    guest.write(IFCFG, RHEL_IFCFG, mode=0o644)
    fix_cycle(guest, {IFCFG: RHEL_IFCFG}, {IFCFG: RHEL_IFCFG_FIXED})


def test_fix_rhel_alias_file_loses_its_address_only(guest):
    alias = "/etc/sysconfig/network-scripts/ifcfg-eth0:1"
    guest.write(IFCFG, RHEL_DHCP)
    guest.write(alias, "DEVICE=eth0:1\nBOOTPROTO=static\nIPADDR=192.168.122.21\nNETMASK=255.255.255.0\n")
    fix_cycle(guest, {alias: guest.read(alias)}, {
        alias: "DEVICE=eth0:1\nBOOTPROTO=static\n{D}IPADDR=192.168.122.21\n{D}NETMASK=255.255.255.0\n".format(D=D)})


def test_fix_suse_ifcfg_and_routes(guest):
    ifcfg = "/etc/sysconfig/network/ifcfg-eth0"
    routes = "/etc/sysconfig/network/routes"
    guest.write(ifcfg, SUSE_IFCFG, mode=0o600)
    guest.write(routes, "10.9.0.0/16 192.168.100.254 - eth0\n" + SUSE_ROUTES)
    fix_cycle(guest, {ifcfg: SUSE_IFCFG, routes: guest.read(routes)}, {
        ifcfg: SUSE_IFCFG_FIXED,
        routes: "10.9.0.0/16 192.168.100.254 - eth0\n" + D + SUSE_ROUTES})


def test_fix_suse_without_bootproto_quotes_it(guest):
    ifcfg = "/etc/sysconfig/network/ifcfg-eth0"
    guest.write(ifcfg, "STARTMODE='auto'\nIPADDR='10.0.0.5/24'")
    fix_cycle(guest, {ifcfg: guest.read(ifcfg)}, {
        ifcfg: "STARTMODE='auto'\n{D}IPADDR='10.0.0.5/24'\nBOOTPROTO='dhcp'\n".format(D=D)})


def test_fix_eni(guest):
    guest.write(ENI_PATH, ENI)
    fix_cycle(guest, {ENI_PATH: ENI}, {ENI_PATH: ENI_FIXED})


def test_fix_eni_in_a_sourced_file(guest):
    included = "/etc/network/interfaces.d/eth0"
    guest.write(ENI_PATH, "auto lo\niface lo inet loopback\nsource-directory /etc/network/interfaces.d\n")
    guest.write(included, "auto eth0\niface eth0 inet static\n  address 10.0.0.5/24\n  gateway 10.0.0.1\n")
    fix_cycle(guest, {included: guest.read(included)}, {
        included: "{D}auto eth0\nauto /e*/1=eth0\n{D}iface eth0 inet static\niface eth0 inet dhcp\n{D}  address 10.0.0.5/24\n"
                  "{D}  gateway 10.0.0.1\n".format(D=D)})


def test_fix_netplan_keeps_mode_0600(guest):
    path = "/etc/netplan/00-installer-config.yaml"
    guest.write(path, NETPLAN_STATIC, mode=0o600)
    fix_cycle(guest, {path: NETPLAN_STATIC}, {path: NETPLAN_STATIC_FIXED})


def test_fix_netplan_cloud_init_mac_match(guest):
    path = "/etc/netplan/50-cloud-init.yaml"
    guest.write(path, NETPLAN_CLOUD_INIT, mode=0o600)
    fix_cycle(guest, {path: NETPLAN_CLOUD_INIT}, {path: NETPLAN_CLOUD_INIT_FIXED})


def test_fix_netplan_mac_only_device_gets_the_primary_name(guest):
    path = "/etc/netplan/60-mac.yaml"
    text = "network:\n  version: 2\n  ethernets:\n    nic0:\n      match:\n        macaddress: 52:54:00:12:34:56\n" \
           "      dhcp4: true\n"
    guest.write(path, text, mode=0o600)
    # PyYAML reads this MAC as a base-60 integer; the report shows it as written
    assert run(guest, live=FakeLive(default_iface="eth0")).summary == (
        "eth0 is pinned to MAC 52:54:00:12:34:56 in /etc/netplan/60-mac.yaml (netplan)")
    fix_cycle(guest, {path: text}, {path: 'network:\n  version: 2\n  ethernets:\n    nic0:\n      match:\n'
                                          '        name: "e*"\n      dhcp4: true\n'},
              live=FakeLive(default_iface="eth0"))


def test_fix_networkmanager_keyfile(guest):
    guest.write(NM_PATH, NM_KEYFILE, mode=0o600)
    fix_cycle(guest, {NM_PATH: NM_KEYFILE}, {NM_PATH: NM_KEYFILE_FIXED})


def test_fix_networkmanager_cloned_mac_and_default_route(guest):
    text = ("[connection]\nid=Wired\ntype=ethernet\n\n[ethernet]\ncloned-mac-address=stable\n\n[ipv4]\n"
            "gateway=10.0.0.1\nmethod=auto\nroute1=0.0.0.0/0,10.0.0.254\nroute2=10.8.0.0/16,10.0.0.253\n")
    guest.write(NM_PATH, text, mode=0o600)
    result = run(guest)
    # with DHCP NetworkManager ignores ipv4.gateway; the MAC is what breaks it
    assert result.summary == ("the primary NIC gets its MAC set to stable in {} (NetworkManager)".format(NM_PATH))
    fix_cycle(guest, {NM_PATH: text}, {NM_PATH: (
        "[connection]\nid=Wired\ntype=ethernet\n\n[ethernet]\n{D}cloned-mac-address=stable\n\n[ipv4]\n"
        "{D}gateway=10.0.0.1\nmethod=auto\n{D}route1=0.0.0.0/0,10.0.0.254\nroute2=10.8.0.0/16,10.0.0.253\n"
    ).format(D=D)})


def test_cloned_mac_preserve_is_harmless(guest):
    guest.write(NM_PATH, "[connection]\nid=eth0\ntype=ethernet\n\n[ethernet]\n"
                "cloned-mac-address=preserve\n\n[ipv4]\nmethod=auto\n", mode=0o600)
    assert run(guest).status == Status.PASS


def test_fix_networkd(guest):
    guest.write(NETWORKD_PATH, NETWORKD)
    fix_cycle(guest, {NETWORKD_PATH: NETWORKD}, {NETWORKD_PATH: NETWORKD_FIXED})


def test_fix_networkd_mac_match_becomes_a_name_match(guest):
    path = "/etc/systemd/network/20-wired.network"
    guest.write(path, NETWORKD_MAC)
    fix_cycle(guest, {path: NETWORKD_MAC}, {path: (
        "# written by the installer\n[Match]\n{D}MACAddress=52:54:00:12:34:56\nName=en* eth*\n\n"
        "[Network]\nDHCP=ipv4\n").format(D=D)}, live=FakeLive(default_iface="eth0"))


def test_fix_networkd_mac_match_offline_without_a_name_matches_ethernet(guest):
    path = "/etc/systemd/network/20-wired.network"
    guest.write(path, NETWORKD_MAC)
    fix_cycle(guest, {path: NETWORKD_MAC}, {path: (
        "# written by the installer\n[Match]\n{D}MACAddress=52:54:00:12:34:56\nName=en* eth*\n\n"
        "[Network]\nDHCP=ipv4\n").format(D=D)})


def test_fix_networkd_mac_next_to_a_name_is_commented_out(guest):
    text = "[Match]\nName=eth0\nMACAddress=52:54:00:12:34:56\n\n[Link]\nMACAddress=52:54:00:00:00:01\n\n" \
           "[Network]\nDHCP=ipv6\n"
    guest.write(NETWORKD_PATH, text)
    fix_cycle(guest, {NETWORKD_PATH: text}, {NETWORKD_PATH: (
        "[Match]\n{D}Name=eth0\nName=en* eth*\n{D}MACAddress=52:54:00:12:34:56\n\n[Link]\n{D}MACAddress=52:54:00:00:00:01\n\n"
        "[Network]\nDHCP=yes\n").format(D=D)})


def test_fix_udev_rules(guest):
    guest.write(IFCFG, RHEL_DHCP)
    guest.write(UDEV_PATH, UDEV_RULES)
    fix_cycle(guest, {UDEV_PATH: UDEV_RULES}, {UDEV_PATH: UDEV_RULES_FIXED})


def test_fix_every_file_of_the_primary_at_once(guest):
    guest.write(IFCFG, RHEL_IFCFG)
    guest.write(NM_PATH, NM_KEYFILE, mode=0o600)
    guest.write(UDEV_PATH, UDEV_RULES)
    fix_cycle(guest, {IFCFG: RHEL_IFCFG, NM_PATH: NM_KEYFILE, UDEV_PATH: UDEV_RULES},
              {IFCFG: RHEL_IFCFG_FIXED, NM_PATH: NM_KEYFILE_FIXED, UDEV_PATH: UDEV_RULES_FIXED})


def test_fix_never_runs_a_command(guest):
    guest.write(ENI_PATH, ENI)
    guest.write(NM_PATH, NM_KEYFILE, mode=0o600)
    ctx = guest.ctx(live=FakeLive(default_iface="eth0"))
    steps = DhcpFix().plan(ctx, Dhcp().run(ctx))
    assert [type(s) for s in steps] == [WriteFile, WriteFile, WriteFile]
    assert steps[0].path == netformats.MANIFEST_PATH
    assert ctx.runner.calls == []


@pytest.mark.parametrize("crlf", [False, True])
def test_fix_keeps_crlf_and_missing_final_newline(guest, crlf):
    text = "DEVICE=eth0\nBOOTPROTO=static\nIPADDR=10.0.0.5\nNETMASK=255.255.255.0"
    if crlf:
        text = text.replace("\n", "\r\n")
    guest.write(IFCFG, text)
    nl = "\r\n" if crlf else "\n"
    fix_cycle(guest, {IFCFG: text}, {IFCFG: nl.join(
        ["DEVICE=eth0", "BOOTPROTO=dhcp", D + "IPADDR=10.0.0.5", D + "NETMASK=255.255.255.0"])})


def test_eni_source_with_a_wildcard_directory(guest):
    guest.write(ENI_PATH, "source ifaces-*/eth0\n")
    guest.write("/etc/network/ifaces-a/eth0", "iface eth0 inet static\n  address 10.0.0.5/24\n")
    guest.write("/etc/network/.ifaces-hidden/eth0", "iface eth0 inet static\n  address 10.0.0.6/24\n")
    result = run(guest)
    assert result.summary == "eth0 has a static address in /etc/network/ifaces-a/eth0 (ifupdown)"


def test_networkd_glob_match_is_the_live_primary(guest):
    path = "/etc/systemd/network/50-wired.network"
    text = "[Match]\nName=en*\n\n[Network]\nAddress=10.0.0.5/24\nGateway=10.0.0.1\n"
    guest.write(path, text)
    live = FakeLive(default_iface="ens5")
    assert run(guest, live=live).summary == "ens5 has a static address in {} (systemd-networkd)".format(path)
    fix_cycle(guest, {path: text}, {path: (
        "[Match]\n{D}Name=en*\nName=en* eth*\n\n[Network]\n{D}Address=10.0.0.5/24\n{D}Gateway=10.0.0.1\nDHCP=yes\n").format(D=D)},
        live=live)
    # the same file does not apply to an interface its Name= excludes
    assert run(guest, live=FakeLive(default_iface="eth0")).status == Status.WARN
