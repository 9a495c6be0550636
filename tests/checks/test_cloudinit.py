import os
import stat
import struct

import pytest

from agent.facts import cloudinit as cloudinit_facts
from agent.checks.cloudinit import CloudInit
from agent.facts.cloudinit import needs_minimum, parse_cloud_config_fallback
from agent.facts.versions import compare_versions
from agent.core.engine import Engine
from agent.core.model import RemoveFile, RunCommand, Status, WriteFile
from conftest import FakeLive, FakeRunner
from remediations.cloudinit import CloudInitFix


def dpkg_paragraph(name, version, status="install ok installed"):
    return ("Package: {}\nStatus: {}\nPriority: optional\nSection: admin\nInstalled-Size: 2180\n"
            "Maintainer: Debian Cloud Team <debian-cloud@lists.debian.org>\nArchitecture: all\n"
            "Version: {}\nDescription: {}\n initial setup\n").format(name, status, version, name)


def elf(machine, little=True):
    """The first bytes of an ELF64 executable for `machine` (e_machine)."""
    order = "<" if little else ">"
    return (b"\x7fELF\x02" + (b"\x01" if little else b"\x02") + b"\x01\x00" + b"\x00" * 8
            + struct.pack(order + "HH", 3, machine) + b"\x00" * 44)


# /etc/cloud/cloud.cfg of Debian 12's cloud-init 22.4.2, abridged.
DEBIAN_CLOUD_CFG = """\
# The top level settings are used as module
# and base configuration.
# A set of users which may be applied and/or used by various modules
# when a 'default' entry is found it will reference the 'default_user'
# from the distro configuration specified below
users:
   - default

# If this is set, 'root' will not be able to ssh in and they
# will get a message to login instead as the default $user
disable_root: true

# This will cause the set+update hostname module to not operate (if true)
preserve_hostname: false

# If you use datasource_list array, keep array items in a single line.
# If you use multi line array, ds-identify script won't read array items.
# Example datasource config
# datasource:
#   Ec2:
#     metadata_urls: [ 'blah.com' ]
#     timeout: 5 # (defaults to 50 seconds)
#     max_wait: 10 # (defaults to 120 seconds)

# The modules that run in the 'init' stage
cloud_init_modules:
 - migrator
 - seed_random
 - bootcmd
 - write-files
 - growpart
 - resizefs
 - disk_setup
 - mounts
 - set_hostname
 - update_hostname
 - update_etc_hosts
 - ca-certs
 - rsyslog
 - users-groups
 - ssh

# System and/or distro specific settings
# (not accessible to handlers/transforms)
system_info:
   # This will affect which distro class gets used
   distro: debian
   default_user:
     name: debian
     lock_passwd: True
     gecos: Debian
     groups: [adm, audio, cdrom, dialout, dip, floppy, netdev, plugdev, sudo, video]
     sudo: ["ALL=(ALL) NOPASSWD:ALL"]
     shell: /bin/bash
"""

# What dpkg-reconfigure cloud-init writes (Debian's debconf selection).
DPKG_CFG = ("# to update this file, run dpkg-reconfigure cloud-init\n"
            "datasource_list: [ NoCloud, ConfigDrive, OpenStack, Ec2, None ]\n")


def sh(ctx, *argv):
    return " ".join(ctx.runner.command_line(argv))


def debian(guest, version="22.4.2-1+deb12u4", arch=0x3E, installed=True):
    guest.os_release("debian", "12")
    status = dpkg_paragraph("base-files", "12.4+deb12u5")
    if installed:
        status += "\n" + dpkg_paragraph("cloud-init", version)
        guest.write("/etc/cloud/cloud.cfg", DEBIAN_CLOUD_CFG)
        guest.write("/usr/bin/cloud-init", "#!/usr/bin/python3\n", mode=0o755)
    guest.write("/var/lib/dpkg/status", status)
    guest.write("/usr/bin/env", elf(arch), mode=0o755)
    guest.symlink("/bin", "usr/bin")


def rpm_guest(guest, os_id, version, rpm_lines, name=None, arch=0x3E, like="rhel centos fedora"):
    guest.os_release(os_id, version, like)
    if name:
        text = guest.read("/etc/os-release").replace('PRETTY_NAME="{} {}"'.format(os_id, version),
                                                      'PRETTY_NAME="{}"'.format(name))
        guest.write("/etc/os-release", text)
    if not guest.exists("/var/lib/rpm"):
        guest.mkdir("/var/lib/rpm")
        guest.symlink("/bin", "usr/bin")
    guest.write("/usr/bin/sh", elf(arch), mode=0o755)
    if any(line.startswith("cloud-init\t") for line in rpm_lines):
        guest.write("/etc/cloud/cloud.cfg", DEBIAN_CLOUD_CFG.replace("distro: debian", "distro: rhel"))
    return FakeRunner(guest.ctx().root.path,
                      {("rpm", "-qa"): (0, "".join(line + "\n" for line in rpm_lines), "")})


def run(guest, **kw):
    ctx = guest.ctx(**kw)
    return ctx, CloudInit().run(ctx)


# -- versions and architecture ---------------------------------------------------

@pytest.mark.parametrize("a, b, expected", [
    ("22.4.2-1+deb12u1", "19.1.18", 1),
    ("19.1.18-1.el8", "19.1.18", 0),
    ("19.1.17", "19.1.18", -1),
    ("19.1.9", "19.1.18", -1),         # numeric, not string, comparison
    ("19.1", "19.1.18", -1),
    ("1:18.5-1", "19.1.18", -1),        # epoch ignored
    ("0.7.6a15", "0.7.6a15", 0),
    ("0.7.6a9", "0.7.6a15", -1),
    ("0.7.6a16-1.al7", "0.7.6a15", 1),
    ("23.1.2-0ubuntu0~22.04.1", "19.1.18", 1),
    ("23.4-7.el9_4.alma.1", "19.1.18", 1),
    ("", "19.1.18", -1),
])
def test_compare_versions(a, b, expected):
    assert compare_versions(a, b) == expected


def test_arm64_elf_header_makes_seed_000s_minimum_apply(guest):
    # The one ELF reader names it arm64; needs_minimum does not ask callers to say aarch64.
    guest.write("/bin/sh", elf(0xB7), mode=0o755)
    assert needs_minimum(guest.ctx()) == "an ARM64 image"


def test_x86_64_debian_has_no_minimum(guest):
    guest.write("/usr/bin/env", elf(0x3E, little=False)[:18] + struct.pack(">H", 0x3E) + b"\x00" * 10, mode=0o755)
    guest.os_release("debian", "12")
    assert needs_minimum(guest.ctx()) == ""


# -- the check ------------------------------------------------------------------

def test_debian_cloud_init_passes(guest):
    debian(guest)
    _ctx, result = run(guest)
    assert result.status == Status.PASS
    assert result.summary == ("cloud-init 22.4.2-1+deb12u4 (package cloud-init); datasource_list not set "
                              "(cloud-init's default list includes AliYun)")


def test_missing_fails_with_install_commands(guest):
    debian(guest, installed=False)
    ctx, result = run(guest)
    assert result.status == Status.FAIL
    assert result.summary == "cloud-init is not installed"
    assert result.commands == (sh(ctx, "apt-get", "update"), sh(ctx, "apt-get", "install", "-y", "cloud-init"))


def test_missing_plan_per_family(guest):
    debian(guest, installed=False)
    ctx, result = run(guest)
    steps = CloudInitFix().plan(ctx, result)
    assert steps == [RunCommand(("apt-get", "update"), why="refresh the package lists", network=True),
                     RunCommand(("apt-get", "install", "-y", "cloud-init"),
                                why="install cloud-init (GUESTOS.CloudInit)",
                                undo_hint=sh(ctx, "apt-get", "purge", "-y", "cloud-init"), network=True)]


@pytest.mark.parametrize("os_id, version, tools, argv, undo", [
    ("centos", "7", ("/usr/bin/yum",), ("yum", "install", "-y", "cloud-init"), ("yum", "remove", "-y", "cloud-init")),
    ("rhel", "8.9", ("/usr/bin/dnf", "/usr/bin/yum"), ("dnf", "install", "-y", "cloud-init"),
     ("dnf", "remove", "-y", "cloud-init")),
    ("opensuse-leap", "15.5", (), ("zypper", "--non-interactive", "install", "cloud-init"),
     ("zypper", "--non-interactive", "remove", "cloud-init")),
])
def test_missing_plan_rpm_families(guest, os_id, version, tools, argv, undo):
    runner = rpm_guest(guest, os_id, version, ["bash\t4.4.20-4"],
                       like="suse opensuse" if os_id.startswith("opensuse") else "rhel fedora")
    for tool in tools:
        guest.write(tool, "", mode=0o755)
    ctx, result = run(guest, runner=runner)
    assert result.status == Status.FAIL
    steps = CloudInitFix().plan(ctx, result)
    assert [s.argv for s in steps] == [argv]   # no refresh step: yum, dnf and zypper refresh themselves
    assert steps[0].undo_hint == sh(ctx, *undo)
    assert [c for c in runner.calls if c[:1] == ("rpm",)] == []   # the database is read, rpm never run


def test_rocky_needs_19_1_18(guest):
    runner = rpm_guest(guest, "rocky", "8.9", ["cloud-init\t19.1.17-1.el8"])
    guest.write("/usr/bin/dnf", "", mode=0o755)
    ctx, result = run(guest, runner=runner)
    assert result.status == Status.FAIL
    assert result.summary == "cloud-init 19.1.17-1.el8 is older than 19.1.18, which rocky 8.9 needs"
    assert result.commands == (sh(ctx, "dnf", "upgrade", "-y", "cloud-init"),)
    steps = CloudInitFix().plan(ctx, result)
    # dnf install leaves an installed package alone: the fix upgrades it.
    assert [s.argv for s in steps] == [("dnf", "upgrade", "-y", "cloud-init")]


def test_rocky_with_19_1_18_passes(guest):
    runner = rpm_guest(guest, "rocky", "8.9", ["cloud-init\t19.1.18-1.el8"])
    result = run(guest, runner=runner)[1]
    assert result.status == Status.PASS
    assert "at least 19.1.18 as rocky 8.9 needs" in result.summary


def test_centos_stream_is_strict_but_centos_7_is_not(guest):
    runner = rpm_guest(guest, "centos", "9", ["cloud-init\t18.5-1.el9"], name="CentOS Stream 9")
    assert run(guest, runner=runner)[1].status == Status.FAIL
    runner = rpm_guest(guest, "centos", "7", ["cloud-init\t18.5-1.el7"])
    assert run(guest, runner=runner)[1].status == Status.PASS


def test_arm64_debian_with_old_version_fails_and_apt_upgrades(guest):
    debian(guest, version="18.3-6", arch=0xB7)
    ctx, result = run(guest)
    assert result.status == Status.FAIL
    assert result.summary == "cloud-init 18.3-6 is older than 19.1.18, which an ARM64 image needs"
    steps = CloudInitFix().plan(ctx, result)
    assert [s.argv for s in steps] == [("apt-get", "update"), ("apt-get", "install", "-y", "cloud-init")]


def test_arm64_debian_current_version_passes(guest):
    debian(guest, version="22.4.2-1+deb12u1", arch=0xB7)
    assert run(guest)[1].status == Status.PASS


@pytest.mark.parametrize("version, status", [("0.7.6a15-1.al7", Status.PASS), ("0.7.6a14", Status.FAIL)])
def test_arm64_076_series(guest, version, status):
    debian(guest, version=version, arch=0xB7)
    result = run(guest)[1]
    assert result.status == status
    if status == Status.FAIL:
        assert "older than 0.7.6a15" in result.summary


def test_source_install_version_is_read(guest):
    # Alibaba's documentation installs cloud-init from source: no package, a version.py.
    runner = rpm_guest(guest, "anolis", "8.8", ["bash\t4.4.20-4"])
    guest.write("/etc/cloud/cloud.cfg", DEBIAN_CLOUD_CFG)
    guest.write("/usr/lib/python3.6/site-packages/cloudinit/version.py",
                '__VERSION__ = "19.1.21"\n_PACKAGED_VERSION = "@@PACKAGED_VERSION@@"\n')
    result = run(guest, runner=runner)[1]
    assert result.status == Status.PASS
    assert result.summary.startswith("cloud-init 19.1.21 (/usr/lib/python3.6/site-packages/cloudinit/version.py)")


def test_unknown_database_and_version_on_strict_system_warns(guest):
    guest.os_release("almalinux", "9.3", "rhel centos fedora")
    guest.write("/usr/bin/cloud-init", "", mode=0o755)
    guest.write("/etc/cloud/cloud.cfg", DEBIAN_CLOUD_CFG)
    result = run(guest)[1]
    assert result.status == Status.WARN
    assert "unknown version" in result.summary


def test_datasource_list_without_aliyun_warns_with_snippet(guest):
    debian(guest)
    guest.write("/etc/cloud/cloud.cfg.d/90_dpkg.cfg", DPKG_CFG)
    result = run(guest)[1]
    assert result.status == Status.WARN
    assert result.summary == ("datasource_list in /etc/cloud/cloud.cfg.d/90_dpkg.cfg does not include AliYun: "
                              "[NoCloud, ConfigDrive, OpenStack, Ec2, None]")
    assert ("/etc/cloud/cloud.cfg.d/99-guestprep-aliyun.cfg:\n"
            "  datasource_list: [ AliYun, NoCloud, ConfigDrive, OpenStack, Ec2, None ]") in result.hint


def test_later_file_overrides_earlier(guest):
    debian(guest)
    guest.write("/etc/cloud/cloud.cfg", DEBIAN_CLOUD_CFG + "datasource_list: [ AliYun, None ]\n")
    guest.write("/etc/cloud/cloud.cfg.d/50-local.cfg", "datasource_list: [ NoCloud ]\n")
    assert "50-local.cfg does not include AliYun" in run(guest)[1].summary
    guest.write("/etc/cloud/cloud.cfg.d/60-aliyun.cfg", "datasource_list: ['AliYun', 'NoCloud']\n")
    assert run(guest)[1].status == Status.PASS


def test_datasource_fix_apply_recheck_rollback(guest):
    debian(guest)
    guest.write("/etc/cloud/cloud.cfg.d/90_dpkg.cfg", DPKG_CFG)
    engine = Engine([CloudInit], [CloudInitFix])
    ctx = guest.ctx()
    plans = engine.plan(ctx, engine.select(["cloudinit"]), engine.run_checks(ctx))
    assert plans[0].steps == [WriteFile(
        "/etc/cloud/cloud.cfg.d/99-guestprep-aliyun.cfg",
        b"# Added by guestprep: ECS metadata is read through the AliYun datasource.\n"
        b"datasource_list: [ AliYun, NoCloud, ConfigDrive, OpenStack, Ec2, None ]\n",
        mode=0o644, why="allow cloud-init's AliYun datasource")]
    journal, outcomes = engine.apply(ctx, plans, guest.state())
    assert [o.outcome for o in outcomes] == ["FIXED"]
    assert stat.S_IMODE(os.stat(guest.host("/etc/cloud/cloud.cfg.d/99-guestprep-aliyun.cfg")).st_mode) == 0o644
    assert engine.plan(ctx, engine.checks, engine.run_checks(ctx)) == []
    assert [o for _r, o, _m in journal.rollback(ctx)] == ["restored"]
    assert not guest.exists("/etc/cloud/cloud.cfg.d/99-guestprep-aliyun.cfg")
    assert guest.read("/etc/cloud/cloud.cfg.d/90_dpkg.cfg") == DPKG_CFG


def test_datasource_set_after_our_file_is_hint_only(guest):
    debian(guest)
    guest.write("/etc/cloud/cloud.cfg.d/99_zz-local.cfg", "datasource_list: [ NoCloud, None ]\n")
    ctx, result = run(guest)
    assert result.status == Status.WARN
    assert CloudInitFix().plan(ctx, result) == []


def test_disabled_marker_fails_and_fix_removes_it_reversibly(guest):
    debian(guest)
    guest.write("/etc/cloud/cloud-init.disabled", "", mode=0o600)
    engine = Engine([CloudInit], [CloudInitFix])
    ctx = guest.ctx()
    result = CloudInit().run(ctx)
    assert result.status == Status.FAIL
    assert result.summary == "cloud-init is disabled by /etc/cloud/cloud-init.disabled"
    assert result.commands == ("rm " + ctx.root.display("/etc/cloud/cloud-init.disabled"),)
    plans = engine.plan(ctx, engine.checks, [result])
    assert plans[0].steps == [RemoveFile("/etc/cloud/cloud-init.disabled", why="let cloud-init run on the instance")]
    journal, outcomes = engine.apply(ctx, plans, guest.state())
    assert [o.outcome for o in outcomes] == ["FIXED"]
    assert [o for _r, o, _m in journal.rollback(ctx)] == ["restored"]
    assert stat.S_IMODE(os.stat(guest.host("/etc/cloud/cloud-init.disabled")).st_mode) == 0o600


def test_masked_unit_fails_and_plan_unmasks(guest):
    debian(guest)
    guest.symlink("/etc/systemd/system/cloud-init.service", "/dev/null")
    ctx, result = run(guest)
    assert result.status == Status.FAIL
    assert result.commands == (sh(ctx, "systemctl", "unmask", "cloud-init.service"),)
    assert CloudInitFix().plan(ctx, result) == [
        RemoveFile("/etc/systemd/system/cloud-init.service", why="unmask cloud-init.service")]
    # Unmasking alone is a file change rollback restores: the plan must not say IRREVERSIBLE.
    import io
    from agent.output import report
    from agent.core.engine import Engine as _Engine
    engine = _Engine([CloudInit], [CloudInitFix])
    plans = engine.plan(ctx, engine.checks, [result])
    out = io.StringIO()
    report.plan_text(ctx, plans, out)
    assert "IRREVERSIBLE" not in out.getvalue() and "reversible" in out.getvalue()


def test_a_plan_with_an_install_and_an_unmask_says_which_part_rollback_cannot_undo(guest):
    import io
    from agent.output import report
    from agent.core.engine import Engine as _Engine
    debian(guest)
    guest.symlink("/etc/systemd/system/cloud-init.service", "/dev/null")
    ctx, result = run(guest)
    engine = _Engine([CloudInit], [CloudInitFix])
    plan = engine.plan(ctx, engine.checks, [result])[0]
    install = RunCommand(("apt-get", "install", "-y", "cloud-init"), why="install cloud-init")
    plan = plan._replace(steps=list(plan.steps) + [install])
    out = io.StringIO()
    report.plan_text(ctx, [plan], out)
    text = out.getvalue()
    assert "partly reversible" in text
    install_line = [l for l in text.splitlines() if "apt-get install" in l][0]
    assert install_line.endswith("(IRREVERSIBLE)")
    assert not any(l.endswith("(IRREVERSIBLE)") for l in text.splitlines() if "rm " in l)


def test_kernel_argument_disables_it_live(guest):
    debian(guest)
    result = run(guest, live=FakeLive(cmdline=["root=UUID=1", "ro", "cloud-init=disabled"]))[1]
    assert result.status == Status.FAIL
    assert "cloud-init=disabled" in result.summary


def test_bad_yaml_in_one_file_warns_and_other_findings_remain(guest):
    debian(guest)
    guest.write("/etc/cloud/cloud.cfg.d/10-broken.cfg", "datasource_list: [ AliYun\nnetwork: {config: disabled\n")
    guest.write("/etc/cloud/cloud.cfg.d/20-binary.cfg", b"\x00\x01\x02")
    guest.write("/etc/cloud/cloud.cfg.d/90_dpkg.cfg", DPKG_CFG)
    guest.write("/etc/cloud/cloud-init.disabled", "")
    result = Engine([CloudInit]).run_check(guest.ctx(), CloudInit())
    assert result.status == Status.FAIL
    assert "disabled by /etc/cloud/cloud-init.disabled" in result.summary
    assert "/etc/cloud/cloud.cfg.d/10-broken.cfg: not valid YAML" in result.summary
    assert "/etc/cloud/cloud.cfg.d/20-binary.cfg: binary data" in result.summary
    assert "90_dpkg.cfg does not include AliYun" in result.summary


def test_directory_instead_of_cfg_file_is_named(guest):
    debian(guest)
    guest.mkdir("/etc/cloud/cloud.cfg.d/oops.cfg")
    result = run(guest)[1]
    assert result.status == Status.WARN
    assert "/etc/cloud/cloud.cfg.d/oops.cfg: not a regular file (a directory)" in result.summary


def test_without_pyyaml_the_fallback_reads_the_same(guest, monkeypatch):
    monkeypatch.setattr(cloudinit_facts, "yaml", None)
    debian(guest)
    guest.write("/etc/cloud/cloud.cfg.d/90_dpkg.cfg", DPKG_CFG)
    result = run(guest)[1]
    assert result.summary.startswith("datasource_list in /etc/cloud/cloud.cfg.d/90_dpkg.cfg does not include AliYun")
    guest.write("/etc/cloud/cloud.cfg.d/95-ecs.cfg", "datasource_list:\n  - AliYun\n  - None\n")
    assert run(guest)[1].status == Status.PASS


@pytest.mark.parametrize("name", ["debian12-cloud.cfg", "debian12-05_logging.cfg"])
def test_without_pyyaml_stock_files_are_still_read_exactly(monkeypatch, name):
    yaml = pytest.importorskip("yaml")
    with open(os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures", "yaml", name)) as handle:
        text = handle.read()
    monkeypatch.setattr(cloudinit_facts, "yaml", None)
    assert cloudinit_facts._parse_cloud_config(text) == (yaml.safe_load(text), "")
    if name.endswith("logging.cfg"):    # the line-by-line reader gets its literal blocks wrong
        assert parse_cloud_config_fallback(text) != yaml.safe_load(text)


def test_fallback_parser_shapes():
    data = parse_cloud_config_fallback(
        "# comment\ndatasource_list: [ 'AliYun', \"NoCloud\" ]  # ECS\n"
        "cloud_init_modules:\n - migrator\n - [ growpart, always ]\n - resizefs\n"
        "growpart:\n  mode: off\n  devices: ['/']\nresize_rootfs: false\n\x00garbage: [\n")
    assert data["datasource_list"] == ["AliYun", "NoCloud"]
    assert data["cloud_init_modules"] == ["migrator", ["growpart", "always"], "resizefs"]
    assert data["growpart"] == {"mode": False, "devices": ["/"]}
    assert data["resize_rootfs"] is False


def test_missing_mentions_alibabas_cloud_init_only_where_seed_000_asks_for_it(guest):
    debian(guest, installed=False)
    _ctx, result = run(guest)
    assert result.status == Status.FAIL and "Alibaba's cloud-init" not in result.hint


def test_missing_on_arm64_asks_for_alibabas_cloud_init(guest):
    debian(guest, installed=False, arch=0xB7)
    _ctx, result = run(guest)
    assert "an ARM64 image needs cloud-init 19.1.18 or later" in result.hint
    assert "Alibaba's cloud-init" in result.hint


def test_missing_on_rocky_asks_for_alibabas_cloud_init(guest):
    runner = rpm_guest(guest, "rocky", "8.9", ["bash\t5.1.8-6.el8"], name="Rocky Linux 8.9 (Green Obsidian)")
    _ctx, result = run(guest, runner=runner)
    assert result.summary == "cloud-init is not installed"
    assert "Rocky Linux 8.9 (Green Obsidian) needs cloud-init 19.1.18 or later" in result.hint
