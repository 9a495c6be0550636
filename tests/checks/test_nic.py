from agent.checks.nic import Nic
from agent.core.model import Status
from conftest import FakeLive

IFCFG = "TYPE=Ethernet\nBOOTPROTO=dhcp\nNAME={0}\nDEVICE={0}\nONBOOT=yes\n"


def run(guest, **kw):
    return Nic().run(guest.ctx(**kw))


def test_one_configured_interface_passes(guest):
    guest.write("/etc/sysconfig/network-scripts/ifcfg-eth0", IFCFG.format("eth0"))
    result = run(guest)
    assert result.status == Status.PASS and "eth0" in result.summary


def test_two_configured_interfaces_warn(guest):
    guest.write("/etc/sysconfig/network-scripts/ifcfg-eth0", IFCFG.format("eth0"))
    guest.write("/etc/netplan/01-netcfg.yaml", "network:\n  version: 2\n  ethernets:\n    ens4:\n"
                "      addresses: [10.0.0.5/24]\n")
    result = run(guest)
    assert result.status == Status.WARN
    assert "eth0" in result.summary and "ens4" in result.summary
    assert "/etc/netplan/01-netcfg.yaml" in result.paths


def test_virtual_and_loopback_are_not_nics(guest):
    guest.write("/etc/network/interfaces", "auto lo\niface lo inet loopback\nauto eth0\niface eth0 inet dhcp\n"
                "auto docker0\niface docker0 inet static\n  address 172.17.0.1/16\n")
    assert run(guest).status == Status.PASS


def test_live_second_nic_present_warns(guest):
    guest.write("/etc/sysconfig/network-scripts/ifcfg-eth0", IFCFG.format("eth0"))
    for name in ("eth0", "eth1"):
        guest.write("/sys/class/net/{}/device/vendor".format(name), "0x1af4\n")
    guest.mkdir("/sys/class/net/docker0")
    result = run(guest, live=FakeLive(nics=("eth0", "eth1", "docker0", "veth12ab")))
    assert result.status == Status.WARN and "2 NICs present: eth0, eth1" in result.summary
    assert run(guest, live=FakeLive(nics=("eth0", "docker0"))).status == Status.PASS


def test_unreadable_config_does_not_raise(guest):
    guest.write("/etc/sysconfig/network-scripts/ifcfg-eth0", b"\x00\x01")
    result = run(guest)
    assert result.status == Status.PASS and "could not be read" in result.summary
