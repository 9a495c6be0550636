"""The network corpus on a real Debian root: configurations written by the formats' own tools
(nmcli --offline, netplan set/generate, ifupdown's own syntax checked by ifquery), each detected,
converted by `guestprep fix --root`, judged again by the format's own parser, and rolled back
byte for byte. ifupdown's converted stanza is brought up (--no-act) in a network namespace
whose only NIC is ens3 (qemu's name) or eth0 (ECS's name): dhclient runs on that NIC."""
import hashlib
import json
import os
import shutil
import subprocess

import pytest

from tests.e2e.conftest import REPO

ENI = "/etc/network/interfaces"
NM_DIR = "/etc/NetworkManager/system-connections"
MANIFEST = "/var/lib/guestprep/network-manifest.json"
LO = "auto lo\niface lo inet loopback\n\n"

# As the Debian installer writes it on a VMware VM (ens192), plus a static IPv6 address.
ENI_VMWARE = LO + """\
# The primary network interface
allow-hotplug ens192
iface ens192 inet static
\taddress 192.168.10.5/24
\tgateway 192.168.10.1
\t# dns-* options are implemented by the resolvconf package, if installed
\tdns-nameservers 192.168.10.1
\tdns-search example.com

iface ens192 inet6 static
\taddress 2001:db8::5/64
\tgateway 2001:db8::1
"""
# Xen: eth0 with the netmask spelled out.
ENI_XEN = LO + """\
auto eth0
iface eth0 inet static
    address 10.0.0.5
    netmask 255.255.255.0
    gateway 10.0.0.1
    mtu 9000
"""
ENI_DHCP_OLD_NAME = LO + "allow-hotplug enp0s3\niface enp0s3 inet dhcp\n"
ENI_BOND = LO + """\
auto ens192
iface ens192 inet manual
    bond-master bond0

auto bond0
iface bond0 inet static
    address 192.168.20.5/24
    gateway 192.168.20.1
    bond-slaves ens192
    bond-mode active-backup
"""
ENI_VLAN = LO + """\
auto ens192
iface ens192 inet manual

auto ens192.100
iface ens192.100 inet static
    address 192.168.30.5/24
    gateway 192.168.30.1
    vlan-raw-device ens192
"""
ENI_BRIDGE = LO + """\
iface ens192 inet manual

auto br0
iface br0 inet static
    address 192.168.40.5/24
    gateway 192.168.40.1
    bridge_ports ens192
"""


def sha(debian, path):
    return hashlib.sha256(debian.read(path)).hexdigest()


def check(debian):
    code, out, err = debian.guestprep("check", "--format", "json", "--items", "dhcp")
    assert "Traceback" not in err, err
    return [r for r in json.loads(out)["results"] if r["id"] == "dhcp"][0]


def fix(debian):
    code, out, err = debian.guestprep("fix", "--yes", "--format", "json", "--items", "dhcp")
    assert "Traceback" not in err, err
    data = json.loads(out)
    return dict((o["id"], o) for o in data["outcomes"]), data


def rollback_restores(debian, before):
    code, out, err = debian.guestprep("rollback")
    assert code == 0, out + err
    for path, digest in before.items():
        assert sha(debian, path) == digest, path
    assert not os.path.lexists(debian.p(MANIFEST))


def ifup_on(debian, nic):
    """`ifup --no-act -a` in a network namespace whose only NIC is `nic`: what ifupdown would run at boot."""
    script = "ip link add {} type veth peer name peer0 && chroot {} ifup --no-act -a".format(nic, debian.path)
    # --no-act prints the commands on stderr
    done = subprocess.run(["unshare", "--net", "sh", "-c", script], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True)
    return done


def test_ifupdown_comes_up_on_whatever_name_the_virtio_nic_gets(debian):
    """One root for every case: each ends with a rollback that must restore it byte for byte."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("needs unshare and ip (util-linux, iproute2) on the host")
    for text, primary, address in ((ENI_VMWARE, "ens192", "192.168.10.5"), (ENI_XEN, "eth0", "10.0.0.5"),
                                   (ENI_DHCP_OLD_NAME, "enp0s3", None)):
        ifupdown_case(debian, text, primary, address)


def ifupdown_case(debian, text, primary, address):
    debian.write(ENI, text)
    assert debian.chroot("ifquery", "-i", ENI, primary).returncode == 0
    before = {ENI: sha(debian, ENI)}
    # dirty: nothing is brought up on qemu's ens3
    assert "dhclient" not in ifup_on(debian, "ens3").stdout

    result = check(debian)
    assert result["status"] == "FAIL", result
    assert result["data"]["primary"] == primary
    if address:
        keep = result["data"]["manifest"]["keep_on_ecs"]
        assert [k["address"] for k in keep] == [address]
        assert address in result["hint"] and "vSwitch" in result["hint"]
    if text == ENI_VMWARE:
        assert "2001:db8::5/64" in result["data"]["manifest"]["interfaces"][0]["ipv6"] + \
            result["data"]["manifest"]["interfaces"][1]["ipv6"]

    outcomes, _ = fix(debian)
    assert outcomes["dhcp"]["outcome"] == "FIXED", outcomes
    converted = debian.read(ENI).decode()
    assert "auto /e*/1={}\n".format(primary) in converted
    assert "iface {} inet dhcp".format(primary) in converted
    if "inet6 static" in text:   # the static IPv6 address goes too: router advertisements instead
        assert "\niface {} inet6 auto\n".format(primary) in converted
    # ifupdown's own parser accepts it, and brings it up on qemu's and ECS's names alike
    assert debian.chroot("ifquery", "-i", ENI, primary).returncode == 0
    for nic in ("ens3", "eth0"):
        done = ifup_on(debian, nic)
        assert done.returncode == 0, done.stdout
        assert "dhclient -4 -v $CLIENT -pf /run/dhclient.{0}.pid".format(nic) in done.stdout, done.stdout
    if address:
        record = json.loads(debian.read(MANIFEST).decode())
        assert record["primary"] == primary and record["paths"] == [ENI]
        assert record["keep_on_ecs"][0]["address"] == address
    # the re-check keeps the same primary NIC and passes; a second fix changes nothing
    again = check(debian)
    assert again["status"] in ("PASS", "INFO"), again
    assert again["data"]["primary"] == primary
    _, data = fix(debian)
    assert data["run_id"] is None
    rollback_restores(debian, before)


def test_ifupdown_bond_vlan_bridge_keep_their_device_and_lose_the_address(debian):
    for text, primary in ((ENI_BOND, "bond0"), (ENI_VLAN, "ens192.100"), (ENI_BRIDGE, "br0")):
        ifupdown_virtual_case(debian, text, primary)


def ifupdown_virtual_case(debian, text, primary):
    debian.write(ENI, text)
    before = {ENI: sha(debian, ENI)}
    result = check(debian)
    assert result["status"] == "FAIL" and result["data"]["primary"] == primary, result
    outcomes, _ = fix(debian)
    assert outcomes["dhcp"]["outcome"] == "FIXED", outcomes
    converted = debian.read(ENI).decode()
    assert "iface {} inet dhcp".format(primary) in converted
    assert debian.chroot("ifquery", "-i", ENI, primary).returncode == 0
    again = check(debian)
    assert again["data"]["primary"] == primary, again
    assert again["status"] != "FAIL", again
    rollback_restores(debian, before)


def nmcli_add(debian, name, *args):
    done = debian.chroot("nmcli", "--offline", "connection", "add", "con-name", name, *args)
    assert done.returncode == 0, done.stderr
    path = "{}/{}.nmconnection".format(NM_DIR, name)
    debian.write(path, done.stdout, mode=0o600)
    return path


def nm_reads(debian, path):
    """NetworkManager's own keyfile reader (nmcli --offline reads the profile from stdin)."""
    with open(debian.p(path)) as handle:
        done = debian.chroot("nmcli", "--offline", "connection", "modify", "connection.autoconnect", "yes",
                             stdin=handle)
    assert done.returncode == 0, done.stderr
    return done.stdout


NM_CASES = [
    (("type", "ethernet", "ifname", "ens192", "ethernet.mac-address", "00:50:56:aa:bb:cc",
      "ipv4.method", "manual", "ipv4.addresses", "192.168.10.5/24", "ipv4.gateway", "192.168.10.1",
      "ipv4.dns", "192.168.10.1", "ipv6.method", "manual", "ipv6.addresses", "2001:db8::5/64"), "ethernet"),
    (("type", "ethernet", "ifname", "enp0s3", "ipv4.method", "auto"), "ethernet"),
    (("type", "vlan", "ifname", "ens192.100", "vlan.parent", "ens192", "vlan.id", "100",
      "ipv4.method", "manual", "ipv4.addresses", "192.168.30.5/24", "ipv4.gateway", "192.168.30.1"), "vlan"),
    (("type", "bond", "ifname", "bond0", "ipv4.method", "manual", "ipv4.addresses", "192.168.20.5/24",
      "ipv4.gateway", "192.168.20.1"), "bond"),
    (("type", "bridge", "ifname", "br0", "ipv4.method", "manual", "ipv4.addresses", "192.168.40.5/24",
      "ipv4.gateway", "192.168.40.1"), "bridge"),
]


def test_networkmanager_profiles_from_nmcli(debian):
    for args, kind in NM_CASES:
        path = nmcli_add(debian, "primary", *args)
        networkmanager_case(debian, path, kind)
        os.remove(debian.p(path))


def networkmanager_case(debian, path, kind):
    conf = "/etc/NetworkManager/conf.d/90-no-auto.conf"
    debian.write(conf, "[main]\nno-auto-default=*\n")
    before = {path: sha(debian, path), conf: sha(debian, conf)}
    assert check(debian)["status"] == "FAIL"
    outcomes, _ = fix(debian)
    assert outcomes["dhcp"]["outcome"] == "FIXED", outcomes
    profile = nm_reads(debian, path)
    assert "method=auto" in profile and "address1=" not in profile
    if kind == "ethernet":
        # any ethernet NIC: no interface-name, no MAC
        assert "interface-name=" not in profile and "mac-address=" not in profile, profile
    else:
        assert "interface-name=" in profile
    assert "no-auto-default" not in debian.read(conf).decode().replace("# guestprep disabled: no-auto-default", "")
    assert check(debian)["status"] in ("PASS", "INFO", "WARN")
    rollback_restores(debian, before)


NETPLAN_CASES = [
    ("static", ["ethernets.ens192.addresses=[192.168.10.5/24, 2001:db8::5/64]",
                "ethernets.ens192.routes=[{to: default, via: 192.168.10.1}]",
                "ethernets.ens192.nameservers.addresses=[192.168.10.1]"], "ens192"),
    ("mac", ["ethernets.nic0.match.macaddress=00:50:56:aa:bb:cc", "ethernets.nic0.set-name=ens192",
             "ethernets.nic0.dhcp4=true"], "ens192"),
    ("bond", ["ethernets.ens192.dhcp4=false", "bonds.bond0.interfaces=[ens192]",
              "bonds.bond0.addresses=[192.168.20.5/24]", "bonds.bond0.routes=[{to: default, via: 192.168.20.1}]"],
     "bond0"),
    # netplan set checks each step: a VLAN without its link is refused, so it comes in one value
    ("vlan", ["ethernets.ens192.dhcp4=false", "vlans.vlan100={id: 100, link: ens192, addresses: "
              "[192.168.30.5/24], routes: [{to: default, via: 192.168.30.1}]}"], "vlan100"),
    ("bridge", ["ethernets.ens192.dhcp4=false", "bridges.br0.interfaces=[ens192]",
                "bridges.br0.addresses=[192.168.40.5/24]", "bridges.br0.routes=[{to: default, via: 192.168.40.1}]"],
     "br0"),
]


def test_netplan_and_the_networkd_files_it_generates(debian):
    for name, settings, primary in NETPLAN_CASES:
        netplan_case(debian, name, settings, primary)
        os.remove(debian.p("/etc/netplan/60-{}.yaml".format(name)))
        shutil.rmtree(debian.p("/run/systemd/network"), ignore_errors=True)


def netplan_case(debian, name, settings, primary):
    for setting in settings:
        done = debian.chroot("netplan", "set", "--origin-hint", "60-" + name, setting)
        assert done.returncode == 0, done.stderr
    path = "/etc/netplan/60-{}.yaml".format(name)
    before = {path: sha(debian, path)}
    result = check(debian)
    assert result["status"] == "FAIL", result
    assert result["data"]["primary"] == primary
    outcomes, _ = fix(debian)
    assert outcomes["dhcp"]["outcome"] == "FIXED", outcomes
    # netplan's own parser and generator take the result; the networkd file matches any e* NIC
    done = debian.chroot("netplan", "generate")
    assert done.returncode == 0, done.stderr
    generated = {}
    for base in os.listdir(debian.p("/run/systemd/network")):
        with open(debian.p("/run/systemd/network/" + base)) as handle:
            generated[base] = handle.read()
    if name in ("static", "mac"):
        (network,) = [t for b, t in generated.items() if b.endswith(".network")]
        assert "Name=e*" in network and "DHCP=ipv4" in network and "Address=" not in network, generated
        assert "MACAddress" not in "".join(generated.values())
    else:
        network = generated["10-netplan-{}.network".format(primary)]
        assert "DHCP=ipv4" in network and "Address=" not in network, network
    again = check(debian)
    assert again["data"]["primary"] == primary and again["status"] != "FAIL", again
    rollback_restores(debian, before)


def test_networkd_files_written_by_netplan_generate(debian):
    """networkd's corpus: the .network files netplan's generator writes, moved to /etc as an admin would."""
    for setting in ("ethernets.ens192.addresses=[192.168.10.5/24]",
                    "ethernets.ens192.routes=[{to: default, via: 192.168.10.1}]",
                    "ethernets.ens192.match.macaddress=00:50:56:aa:bb:cc", "ethernets.ens192.set-name=ens192"):
        assert debian.chroot("netplan", "set", "--origin-hint", "60-gen", setting).returncode == 0
    assert debian.chroot("netplan", "generate").returncode == 0
    os.makedirs(debian.p("/etc/systemd/network"), exist_ok=True)
    moved = []
    for base in os.listdir(debian.p("/run/systemd/network")):
        shutil.copy(debian.p("/run/systemd/network/" + base), debian.p("/etc/systemd/network/" + base))
        moved.append("/etc/systemd/network/" + base)
    os.remove(debian.p("/etc/netplan/60-gen.yaml"))
    shutil.rmtree(debian.p("/run/systemd/network"))
    network = [p for p in moved if p.endswith(".network")][0]
    before = {network: sha(debian, network)}
    result = check(debian)
    assert result["status"] == "FAIL" and result["data"]["primary"] == "ens192", result
    outcomes, _ = fix(debian)
    assert outcomes["dhcp"]["outcome"] == "FIXED", outcomes
    text = debian.read(network).decode()
    assert "\nName=en* eth*\n" in text and "\nDHCP=yes\n" in text
    assert "\nMACAddress=" not in text and "\nAddress=" not in text
    # systemd's own reader of the configuration directories shows the converted file
    done = debian.chroot("systemd-analyze", "cat-config", "systemd/network/" + network.rsplit("/", 1)[1])
    assert done.returncode == 0 and "Name=en* eth*" in done.stdout, done.stdout + done.stderr
    again = check(debian)
    assert again["status"] != "FAIL" and again["data"]["primary"] == "ens192", again
    rollback_restores(debian, before)


def test_live_mode_in_a_chroot_converts_the_same_way(debian):
    """guestprep run inside the root (live mode, /), as on the VM itself before export."""
    shutil.copytree(os.path.join(REPO, "agent"), debian.p("/opt/guestprep/agent"))
    shutil.copytree(os.path.join(REPO, "remediations"), debian.p("/opt/guestprep/remediations"))
    debian.write(ENI, ENI_VMWARE)
    before = {ENI: sha(debian, ENI)}

    def guestprep(*args):
        return debian.chroot("sh", "-c", "cd /opt/guestprep && python3 -m agent " + " ".join(args))

    done = guestprep("fix", "--yes", "--format", "json", "--items", "dhcp")
    assert "Traceback" not in done.stderr, done.stderr
    outcomes = dict((o["id"], o["outcome"]) for o in json.loads(done.stdout)["outcomes"])
    assert outcomes == {"dhcp": "FIXED"}, done.stdout + done.stderr
    converted = debian.read(ENI).decode()
    assert "auto /e*/1=ens192\n" in converted and "iface ens192 inet dhcp" in converted
    assert json.loads(debian.read(MANIFEST).decode())["primary"] == "ens192"
    done = guestprep("rollback")
    assert done.returncode == 0, done.stdout + done.stderr
    assert sha(debian, ENI) == before[ENI]
    assert not os.path.lexists(debian.p(MANIFEST))
