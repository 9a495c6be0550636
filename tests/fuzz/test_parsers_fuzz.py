"""Every parser under generated input: only documented ValueErrors, from editing functions.

Readers (parse, values, interfaces, grub2_entries ...) never raise at all. Editors may
raise ValueError for input they refuse (their docstrings say so); when they succeed the
result is text, and what they did not edit is byte-identical.
"""
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fuzzlib
import yamlgen
from fuzzlib import count, format_text, fuzz_settings, samples

from agent.facts import packages
from agent.parsers import (DISABLED_PREFIX, bootcfg, comment_out, eni, fstab, ini, join_lines, keyvalue,
                           netplan, replace_line, split_lines, udev_rules, yamlplain)

pytestmark = pytest.mark.fuzz

FSTAB = samples("parsers/test_fstab.py", "checks/test_fstab.py", "checks/test_shadow.py")
KEYVALUE = samples("parsers/test_keyvalue.py", "checks/test_selinux.py", "checks/test_dhcp.py")
INI = samples("parsers/test_ini.py", "checks/test_dhcp.py")
ENI = samples("parsers/test_eni.py", "checks/test_dhcp.py")
NETPLAN = samples("parsers/test_netplan.py", "checks/test_dhcp.py")
UDEV = samples("parsers/test_udev_rules.py", "checks/test_dhcp.py")
YAML = samples("parsers/test_yamlplain.py", "checks/test_cloudinit.py")
BOOT = samples("parsers/test_bootcfg.py", "checks/test_selinux.py")
ANY = FSTAB + KEYVALUE + INI

NAMES = st.sampled_from(["eth0", "ens3", "enp0s3", "eth1", "lo", "br0", "bond0", "", "eth0:1", "-", "e\u00e9"])
KEYS = st.sampled_from(["SELINUX", "BOOTPROTO", "IPADDR", "HWADDR", "GRUB_CMDLINE_LINUX", "method", "address1",
                        "Address", "DHCP", "", "1BAD", "A B", "x=y"])
VALUES = st.sampled_from(["disabled", "dhcp", "auto", "yes", "", "a b", "'q'", "\"dq\"", "$(x)", "a\nb", "\u00e9"])


@fuzz_settings(2)
@given(format_text(FSTAB, "UUID=LABEL/dev/sdavdnvme"))
def test_fstab(text):
    count("fstab")
    entries, problems = fstab.parse(text)
    for entry in entries:
        fstab.spec_kind(entry.spec)
        fstab.is_kernel_device_name(entry.spec)
        fstab.classify(entry)
    assert all(p.lineno >= 1 for p in problems)


@fuzz_settings(2)
@given(format_text(KEYVALUE, "SELINUX=BOOTPROTO${}`"), KEYS, VALUES)
def test_keyvalue(text, key, value):
    count("keyvalue")
    assignments, _problems = keyvalue.parse(text)
    keyvalue.get(assignments, key)
    keyvalue.comment_out_keys(text, lambda k: k == key)
    keyvalue.quote_value(value)
    try:
        edited = keyvalue.set_value(text, key, value)
    except ValueError:
        fuzzlib.EXPECTED["keyvalue.set_value"] += 1
        return
    assert isinstance(edited, str)


@fuzz_settings(2)
@given(format_text(INI, "[]=;#connectionipv4Match"), st.sampled_from(["ipv4", "Network", "Match", "", "x]"]),
       KEYS, VALUES, st.integers(0, 3))
def test_ini(text, section, key, value, index):
    count("ini")
    sections, _problems = ini.parse(text)
    ini.values(sections, section, key)
    ini.comment_out_entries(text, lambda s, k, v: k == key)
    try:
        edited = ini.set_key(text, section, key, value, index)
    except ValueError:
        fuzzlib.EXPECTED["ini.set_key"] += 1
        return
    assert isinstance(edited, str)


@fuzz_settings(2)
@given(format_text(ENI, "ifaceautoinetstaticdhcp"), NAMES, st.sampled_from(["inet", "inet6", "ipx"]))
def test_eni(text, ifname, family):
    count("eni")
    stanzas, _problems = eni.parse(text)
    eni.find_ifaces(stanzas, ifname, family)
    for stanza in stanzas:
        for option in getattr(stanza, "options", ()):
            eni.is_static_option(option.key)
    # the drawn name, and every iface the text itself declares (so the edit path runs too)
    for name, fam in [(ifname, family)] + sorted(set((s.ifname, s.family) for s in stanzas
                                                      if s.kind == "iface" and s.ifname and s.family)):
        try:
            edited = eni.to_dhcp(text, name, fam)
        except ValueError:
            fuzzlib.EXPECTED["eni.to_dhcp"] += 1
            continue
        fuzzlib.EXPECTED["eni.to_dhcp edited"] += 1
        assert isinstance(edited, str)


@fuzz_settings(3)
@given(format_text(NETPLAN, "network:ethernets:addresses-[]{}dhcp4: "), NAMES, st.sampled_from([None, "eth0", "x"]))
def test_netplan(text, ifname, new_name):
    count("netplan")
    doc, _problems = netplan.parse(text)
    if doc is not None:
        netplan.ethernets(doc)
        for iface in netplan.interfaces(doc):
            netplan.is_static(iface.config)
            netplan.has_mac_match(iface.config)
            netplan.uses_dhcp4(iface.config)
            for route in (iface.config.get("routes") or []) if isinstance(iface.config, dict) else []:
                netplan.is_default_route(route)
    names = [ifname] + (sorted(set(str(i.name) for i in netplan.interfaces(doc))) if doc is not None else [])
    for name in names:
        try:
            edited = netplan.to_dhcp(text, name, new_name)
        except ValueError:
            fuzzlib.EXPECTED["netplan.to_dhcp"] += 1
            continue
        fuzzlib.EXPECTED["netplan.to_dhcp edited"] += 1
        assert isinstance(edited, str)
        after, problems = netplan.parse(edited)
        if after is None:
            fuzzlib.FINDINGS["netplan.to_dhcp wrote what does not load"].append(text[:300])


@fuzz_settings()
@given(format_text(UDEV, "SUBSYSTEM==ATTR{address}NAME:=\"*?,"))
def test_udev_rules(text):
    count("udev_rules")
    udev_rules.parse(text)


@fuzz_settings(3)
@given(format_text(BOOT, "linuxkernelmenuentrysubmenu{}selinux=1enforcing=0'\"\\$"),
       st.sampled_from(["selinux", "enforcing", "root", "console", "", "a-b", "a_b"]))
def test_bootcfg(text, name):
    count("bootcfg")
    bootcfg.split_words(text)
    bootcfg.split_words(text, comments=False)
    for line in bootcfg.grub2_cfg(text) + bootcfg.grub_legacy(text) + bootcfg.bls_entry(text):
        bootcfg.arg_value(line.args, name)
    bootcfg.default_grub(text)
    bootcfg.grub2_entries(text)
    bootcfg.grub_legacy_entries(text)
    bootcfg.bls_fields(text)
    bootcfg.search_uuids(text)
    bootcfg.arg_value(bootcfg.split_words(text), name)


@fuzz_settings(2)
@given(format_text(ANY), st.lists(st.integers(-2, 40), max_size=5), st.text(max_size=30))
def test_line_editors(text, linenos, new_line):
    count("line_editors")
    lines = split_lines(text)
    assert join_lines(lines) == text
    try:
        edited = comment_out(text, linenos)
    except ValueError:
        fuzzlib.EXPECTED["comment_out"] += 1
    else:
        after = split_lines(edited)
        assert len(after) == len(lines)
        for n, (old, new) in enumerate(zip(lines, after), 1):
            assert new == old or (n in linenos and new.endswith(old) and DISABLED_PREFIX in new)
    for lineno in linenos[:1]:
        try:
            replace_line(text, lineno, new_line)
        except ValueError:
            fuzzlib.EXPECTED["replace_line"] += 1


@fuzz_settings()
@given(format_text(samples("test_cli.py"), "Package:Status:installokVersion"))
def test_dpkg_status(text):
    count("dpkg_status")
    records = packages.dpkg_records(text)
    packages.dpkg_versions(records)
    packages.dpkg_interrupted(records)


@fuzz_settings(3)
@given(st.one_of(st.randoms(use_true_random=False).map(yamlgen.document), format_text(YAML, "-:#&*|'\"[]{},~ ")))
def test_yamlplain_reads_what_pyyaml_reads(text):
    yaml = pytest.importorskip("yaml")
    count("yamlplain")
    try:
        got = yamlplain.load(text)
    except yamlplain.Unsupported:
        fuzzlib.EXPECTED["yamlplain.Unsupported"] += 1
        return
    assert yamlgen.same(got, yaml.safe_load(text))
