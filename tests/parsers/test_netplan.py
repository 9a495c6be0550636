"""netplan YAML: reading what Ubuntu installers write, and the DHCP conversion."""
import pytest
import yaml

from agent.parsers import ParseProblem
from agent.parsers import netplan

# Ubuntu 18.04 cloud image, /etc/netplan/50-cloud-init.yaml (cloud-init).
CLOUD_INIT_1804 = """\
# This file is generated from information provided by
# the datasource.  Changes to it will not persist across an instance.
# To disable cloud-init's network configuration capabilities, write a file
# /etc/cloud/cloud.cfg.d/99-disable-network-config.cfg with the following:
# network: {config: disabled}
network:
    ethernets:
        eth0:
            dhcp4: true
            match:
                macaddress: fa:16:3e:2b:51:0d
            set-name: eth0
    version: 2
"""

CLOUD_INIT_1804_DONE = """\
# This file is generated from information provided by
# the datasource.  Changes to it will not persist across an instance.
# To disable cloud-init's network configuration capabilities, write a file
# /etc/cloud/cloud.cfg.d/99-disable-network-config.cfg with the following:
# network: {config: disabled}
network:
    ethernets:
        eth0:
            dhcp4: true
    version: 2
"""

# cloud-init with a static address and a device renamed from its MAC match.
CLOUD_INIT_RENAMED = """\
network:
    version: 2
    ethernets:
        ens3:
            addresses:
            - 10.0.0.5/24
            gateway4: 10.0.0.1
            match:
                macaddress: 52:54:00:12:34:56
            mtu: 1450
            nameservers:
                addresses:
                - 10.0.0.1
                search: []
            set-name: eth0
"""

CLOUD_INIT_RENAMED_DONE = """\
network:
    version: 2
    ethernets:
        eth0:
            dhcp4: true
            mtu: 1450
"""

# Ubuntu 20.04+ server installer, /etc/netplan/00-installer-config.yaml.
SUBIQUITY = """\
# This is the network config written by 'subiquity'
network:
  ethernets:
    ens33:
      addresses: [192.168.1.10/24]
      gateway4: 192.168.1.1
      nameservers: {addresses: [8.8.8.8, 8.8.4.4], search: []}
  version: 2
"""

SUBIQUITY_DONE = """\
# This is the network config written by 'subiquity'
network:
  ethernets:
    ens33:
      dhcp4: true
  version: 2
"""

SUBIQUITY_BLOCK = """\
# This is the network config written by 'subiquity'
network:
  ethernets:
    enp0s3:
      addresses:
      - 192.168.1.10/24
      gateway4: 192.168.1.1
      nameservers:
        addresses:
        - 192.168.1.1
        search:
        - lan
  version: 2
"""

# Routes with a default route, a route to keep, and comments everywhere.
ROUTES = """\
# Static setup from the old data centre.
network:
  version: 2   # netplan schema
  renderer: networkd
  ethernets:
    # primary NIC
    enp3s0:
      # old static address
      addresses:
        - 10.10.10.2/24   # the VM
      dhcp4: no  # we had no DHCP there
      routes:
        # the internet
        - to: default
          via: 10.10.10.1
        # office VPN
        - to: 172.16.0.0/12
          via: 10.10.10.254
        - to: 0.0.0.0/0
          via: 10.10.10.1
          metric: 200
      nameservers:
          search: [mydomain, otherdomain]
          addresses: [10.10.10.1, 1.1.1.1]
      mtu: 9000   # jumbo frames
"""

ROUTES_DONE = """\
# Static setup from the old data centre.
network:
  version: 2   # netplan schema
  renderer: networkd
  ethernets:
    # primary NIC
    enp3s0:
      dhcp4: true  # we had no DHCP there
      routes:
        # office VPN
        - to: 172.16.0.0/12
          via: 10.10.10.254
      mtu: 9000   # jumbo frames
"""

TWO_NICS = """\
network:
  version: 2
  ethernets:
    ens3:
      addresses: [10.0.0.5/24]
      routes:
      - to: default
        via: 10.0.0.1
    ens4:
      addresses: [10.1.0.5/24]   # storage network
      routes:
      - to: 10.2.0.0/16
        via: 10.1.0.1
"""

TWO_NICS_DONE = """\
network:
  version: 2
  ethernets:
    ens3:
      dhcp4: true
    ens4:
      addresses: [10.1.0.5/24]   # storage network
      routes:
      - to: 10.2.0.0/16
        via: 10.1.0.1
"""

FLOW = """\
# written by hand
network: {version: 2, ethernets: {eth0: {addresses: [10.0.0.5/24], gateway4: 10.0.0.1, dhcp6: false}}}
"""

FLOW_DONE = """\
# rewritten by guestprep (original kept in its backup)
network:
  ethernets:
    eth0:
      dhcp4: true
      dhcp6: false
  version: 2
"""

BONDS = """\
network:
  version: 2
  ethernets:
    eno1: {}
    eno2:
      dhcp4: false
  bonds:
    bond0:
      interfaces: [eno1, eno2]
      addresses: [10.0.0.9/24]
      gateway4: 10.0.0.1
  bridges:
    br0:
      dhcp4: yes
  vlans:
    vlan10:
      id: 10
      link: bond0
"""


def _expected(text, ifname):
    """The document to_dhcp must produce, computed from the loaded original."""
    return yaml.safe_load(netplan.to_dhcp(text, ifname))


@pytest.mark.parametrize("text, ifname, done", [
    (CLOUD_INIT_1804, "eth0", CLOUD_INIT_1804_DONE),
    (CLOUD_INIT_RENAMED, "ens3", CLOUD_INIT_RENAMED_DONE),
    (SUBIQUITY, "ens33", SUBIQUITY_DONE),
    (ROUTES, "enp3s0", ROUTES_DONE),
    (TWO_NICS, "ens3", TWO_NICS_DONE),
    (FLOW, "eth0", FLOW_DONE),
])
def test_to_dhcp_exact_output(text, ifname, done):
    assert netplan.to_dhcp(text, ifname) == done


@pytest.mark.parametrize("text, ifname", [
    (CLOUD_INIT_1804, "eth0"),
    (CLOUD_INIT_RENAMED, "ens3"),
    (CLOUD_INIT_RENAMED, "eth0"),
    (SUBIQUITY, "ens33"),
    (SUBIQUITY_BLOCK, "enp0s3"),
    (ROUTES, "enp3s0"),
    (TWO_NICS, "ens3"),
    (FLOW, "eth0"),
    (BONDS, "bond0"),
])
def test_to_dhcp_is_idempotent(text, ifname):
    once = netplan.to_dhcp(text, ifname)
    new_name = netplan.ethernets(yaml.safe_load(text)).get(ifname, {}).get("set-name", ifname)
    assert netplan.to_dhcp(once, new_name) == once


def test_renamed_device_is_found_by_set_name():
    assert netplan.to_dhcp(CLOUD_INIT_RENAMED, "eth0") == CLOUD_INIT_RENAMED_DONE


def test_subiquity_block_style():
    out = netplan.to_dhcp(SUBIQUITY_BLOCK, "enp0s3")
    assert out == ("# This is the network config written by 'subiquity'\nnetwork:\n  ethernets:\n"
                   "    enp0s3:\n      dhcp4: true\n  version: 2\n")


def test_untouched_lines_are_byte_identical():
    out = netplan.to_dhcp(TWO_NICS, "ens3")
    assert out.splitlines(True)[5:] == TWO_NICS.splitlines(True)[8:]
    out = netplan.to_dhcp(ROUTES, "enp3s0")
    original = ROUTES.splitlines(True)
    kept = [line for line in out.splitlines(True) if "dhcp4" not in line]
    assert all(line in original for line in kept)


def test_loaded_result_is_the_original_minus_the_static_keys():
    doc = yaml.safe_load(ROUTES)
    cfg = doc["network"]["ethernets"]["enp3s0"]
    cfg["dhcp4"] = True
    for key in ("addresses", "nameservers"):
        del cfg[key]
    cfg["routes"] = [cfg["routes"][1]]
    assert _expected(ROUTES, "enp3s0") == doc


def test_dhcp4_false_becomes_true_and_keeps_its_comments():
    text = ("network:\n  ethernets:\n    eth0:\n"
            "      # no DHCP server here\n      dhcp4: false   # see ticket 42\n"
            "      # the address\n      addresses: [10.0.0.5/24]\n\n      # keep\n      mtu: 1500\n")
    assert netplan.to_dhcp(text, "eth0") == (
        "network:\n  ethernets:\n    eth0:\n"
        "      # no DHCP server here\n      dhcp4: true   # see ticket 42\n"
        "\n      # keep\n      mtu: 1500\n")


def test_dhcp4_true_string_is_left_alone():
    text = "network:\n  ethernets:\n    eth0:\n      dhcp4: 'true'\n      addresses: [10.0.0.5/24]\n"
    assert netplan.to_dhcp(text, "eth0") == "network:\n  ethernets:\n    eth0:\n      dhcp4: 'true'\n"


def test_match_by_name_and_mac_keeps_the_name_match():
    text = ("network:\n  ethernets:\n    lan:\n      match:\n        name: en*\n"
            "        macaddress: 52:54:00:12:34:56\n      set-name: lan0\n      dhcp4: true\n")
    assert netplan.to_dhcp(text, "lan") == (
        "network:\n  ethernets:\n    lan:\n      match:\n        name: en*\n"
        "      set-name: lan0\n      dhcp4: true\n")


def test_mac_only_match_without_set_name_takes_the_given_name_as_key():
    text = ("network:\n  ethernets:\n    id0:\n      match:\n        macaddress: 52:54:00:12:34:56\n"
            "      addresses: [10.0.0.5/24]\n")
    assert netplan.to_dhcp(text, "id0", new_name="eth0") == "network:\n  ethernets:\n    eth0:\n      dhcp4: true\n"
    # a set-name wins over the name given; without either the key stays
    with_set_name = text.replace("      addresses", "      set-name: lan0\n      addresses")
    assert netplan.to_dhcp(with_set_name, "id0", new_name="eth0") == (
        "network:\n  ethernets:\n    lan0:\n      dhcp4: true\n")
    assert netplan.to_dhcp(text, "id0") == "network:\n  ethernets:\n    id0:\n      dhcp4: true\n"


def test_mac_set_on_the_device_is_removed():
    text = "network:\n  ethernets:\n    eth0:\n      dhcp4: true\n      macaddress: 52:54:00:12:34:56\n"
    assert netplan.to_dhcp(text, "eth0") == "network:\n  ethernets:\n    eth0:\n      dhcp4: true\n"


def test_empty_device_gets_dhcp4():
    text = "network:\n   ethernets:\n      eth0:\n      eth1: {}\n"
    assert netplan.to_dhcp(text, "eth0") == (
        "network:\n   ethernets:\n      eth0:\n         dhcp4: true\n      eth1: {}\n")
    out = netplan.to_dhcp(text, "eth1")
    assert out.startswith(netplan.REWRITE_HEADER)
    assert yaml.safe_load(out) == {"network": {"ethernets": {"eth0": None, "eth1": {"dhcp4": True}}}}


def test_crlf_survives():
    text = "network:\r\n  ethernets:\r\n    eth0:\r\n      addresses: [10.0.0.5/24]\r\n      mtu: 1500\r\n"
    assert netplan.to_dhcp(text, "eth0") == (
        "network:\r\n  ethernets:\r\n    eth0:\r\n      dhcp4: true\r\n      mtu: 1500\r\n")


def test_missing_final_newline():
    text = "network:\n  ethernets:\n    eth0:\n      addresses: [10.0.0.5/24]"
    assert netplan.to_dhcp(text, "eth0") == "network:\n  ethernets:\n    eth0:\n      dhcp4: true"
    text = "network:\r\n  ethernets:\r\n    eth0:\r\n      mtu: 1500\r\n      addresses: [10.0.0.5/24]"
    assert netplan.to_dhcp(text, "eth0") == (
        "network:\r\n  ethernets:\r\n    eth0:\r\n      dhcp4: true\r\n      mtu: 1500")


def test_document_marker_and_quoted_keys():
    text = "%YAML 1.1\n---\nnetwork:\n  \"ethernets\":\n    'eth0':\n      gateway4: 10.0.0.1\n"
    assert netplan.to_dhcp(text, "eth0") == (
        "%YAML 1.1\n---\nnetwork:\n  \"ethernets\":\n    'eth0':\n      dhcp4: true\n")


def test_anchors_fall_back_to_a_rewrite():
    text = ("network:\n  ethernets:\n    eth0: &common\n      addresses: [10.0.0.5/24]\n      mtu: 1500\n"
            "    eth1: *common\n")
    out = netplan.to_dhcp(text, "eth0")
    assert out.startswith(netplan.REWRITE_HEADER)
    assert yaml.safe_load(out) == {"network": {"ethernets": {
        "eth0": {"dhcp4": True, "mtu": 1500},
        "eth1": {"addresses": ["10.0.0.5/24"], "mtu": 1500}}}}


def test_bond_is_converted():
    out = netplan.to_dhcp(BONDS, "bond0")
    assert out == BONDS.replace(
        "      addresses: [10.0.0.9/24]\n      gateway4: 10.0.0.1\n", "").replace(
        "    bond0:\n", "    bond0:\n      dhcp4: true\n")


def test_rename_onto_a_taken_name_is_refused():
    text = ("network:\n  ethernets:\n    id0:\n      match: {macaddress: '52:54:00:12:34:56'}\n"
            "      set-name: eth1\n    eth1:\n      dhcp4: true\n")
    with pytest.raises(ValueError):
        netplan.to_dhcp(text, "id0")


@pytest.mark.parametrize("text", [
    CLOUD_INIT_1804, "", "network: null\n", "- a\n", "network: {ethernets: {\n", "\x00",
])
def test_to_dhcp_unknown_device_raises(text):
    with pytest.raises(ValueError):
        netplan.to_dhcp(text, "eth9")


def test_interfaces_and_kinds():
    doc, problems = netplan.parse(BONDS)
    assert problems == []
    assert [(i.name, i.kind) for i in netplan.interfaces(doc)] == [
        ("eno1", "ethernet"), ("eno2", "ethernet"), ("bond0", "bond"), ("br0", "bridge"), ("vlan10", "vlan")]
    assert netplan.ethernets(doc) == {"eno1": {}, "eno2": {"dhcp4": False}}
    configs = {i.name: i.config for i in netplan.interfaces(doc)}
    assert netplan.is_static(configs["bond0"]) and not netplan.is_static(configs["eno2"])
    assert netplan.uses_dhcp4(configs["br0"])


def test_parse_cloud_init():
    doc, problems = netplan.parse(CLOUD_INIT_1804)
    assert problems == []
    eth0 = netplan.ethernets(doc)["eth0"]
    assert netplan.has_mac_match(eth0) and netplan.uses_dhcp4(eth0) and not netplan.is_static(eth0)


@pytest.mark.parametrize("cfg, expected", [
    ({"dhcp4": True}, True), ({"dhcp4": "yes"}, True), ({"dhcp4": "true"}, True), ({"dhcp4": "On"}, True),
    ({"dhcp4": False}, False), ({"dhcp4": "no"}, False), ({}, False), (None, False), ([], False),
    ({"dhcp4": 1}, False),
])
def test_uses_dhcp4(cfg, expected):
    assert netplan.uses_dhcp4(cfg) is expected


@pytest.mark.parametrize("cfg, expected", [
    ({"addresses": ["10.0.0.5/24"], "dhcp4": True}, True),
    ({"gateway4": "10.0.0.1"}, True),
    ({"routes": [{"to": "default", "via": "10.0.0.1"}]}, True),
    ({"routes": [{"to": "default", "via": "10.0.0.1"}], "dhcp4": True}, False),
    ({"dhcp4": True}, False), ({"addresses": []}, False), ({}, False), ("eth0", False),
])
def test_is_static(cfg, expected):
    assert netplan.is_static(cfg) is expected


@pytest.mark.parametrize("cfg, expected", [
    ({"match": {"macaddress": "52:54:00:12:34:56"}}, True),
    ({"match": {"name": "en*"}}, False), ({"macaddress": "52:54:00:12:34:56"}, False),
    ({"match": None}, False), ({}, False),
])
def test_has_mac_match(cfg, expected):
    assert netplan.has_mac_match(cfg) is expected


@pytest.mark.parametrize("text, lines", [
    ("", []),
    ("# nothing here\n", []),
    ("\x00network:\n", [1]),
    ("network:\n  version: 2\n  ethernets:\n    eth0:\n      dhcp4: true\x00\n", [5]),
    ("network:\n  ethernets:\n    eth0:\n  addresses: [\n", [5]),
    ("network:\n\tethernets: {}\n", [2]),
    ("- network\n- eth0\n", [1]),
    ("just a string\n", [1]),
    ("network: null\n", [1]),
    ("version: 2\n", [1]),
    ("network:\n  version: 2\n  ethernets: [eth0]\n", [3]),
    ("network:\n  ethernets:\n    eth0: dhcp\n    eth1:\n", [3]),
    ("date: 2001-02-30\n", [1]),
    ("network: &a [*a]\n", [1]),
])
def test_parse_garbage_never_raises(text, lines):
    doc, problems = netplan.parse(text)
    assert [p.lineno for p in problems] == lines
    assert all(isinstance(p, ParseProblem) and p.message for p in problems)
    assert netplan.ethernets(doc) == {} or doc is not None
    assert isinstance(netplan.interfaces(doc), list)


def test_parse_network_null_has_no_interfaces():
    doc, problems = netplan.parse("network: null\n")
    assert doc == {"network": None}
    assert problems == [ParseProblem(1, "'network' must be a mapping, not null")]
    assert netplan.ethernets(doc) == {} and netplan.interfaces(doc) == []
