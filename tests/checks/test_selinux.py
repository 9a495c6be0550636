import os
import stat

from agent.checks.selinux import Selinux
from agent.core.engine import Engine
from agent.core.model import Status
from remediations.selinux import SelinuxFix

RHEL_CONFIG = """\
# This file controls the state of SELinux on the system.
# SELINUX= can take one of these three values:
#     enforcing - SELinux security policy is enforced.
#     permissive - SELinux prints warnings instead of enforcing.
#     disabled - No SELinux policy is loaded.
SELINUX=enforcing
# SELINUXTYPE= can take one of three values:
#     targeted - Targeted processes are protected,
#     minimum - Modification of targeted policy. Only selected processes are protected.
#     mls - Multi Level Security protection.
SELINUXTYPE=targeted
"""


def run(guest, **kw):
    return Selinux().run(guest.ctx(**kw))


def test_no_config_passes(guest):
    assert run(guest).status == Status.PASS


def test_enforcing_fails_and_names_the_file(guest):
    guest.write("/etc/selinux/config", RHEL_CONFIG)
    result = run(guest)
    assert result.status == Status.FAIL
    assert "enforcing" in result.summary
    assert result.paths == ("/etc/selinux/config",)
    assert result.hint and result.commands


def test_permissive_fails(guest):
    guest.write("/etc/selinux/config", RHEL_CONFIG.replace("SELINUX=enforcing", "SELINUX=permissive"))
    assert run(guest).status == Status.FAIL


def test_disabled_passes(guest):
    guest.write("/etc/selinux/config", RHEL_CONFIG.replace("SELINUX=enforcing", "SELINUX=disabled"))
    assert run(guest).status == Status.PASS


def test_kernel_argument_warns(guest):
    guest.write("/etc/selinux/config", RHEL_CONFIG.replace("SELINUX=enforcing", "SELINUX=disabled"))
    guest.write("/etc/default/grub", 'GRUB_CMDLINE_LINUX="crashkernel=auto rhgb quiet selinux=1"\n')
    result = run(guest)
    assert result.status == Status.WARN
    assert "selinux=1 in /etc/default/grub" in result.summary


def test_bls_enforcing_argument_is_seen(guest):
    guest.write("/etc/selinux/config", RHEL_CONFIG.replace("SELINUX=enforcing", "SELINUX=disabled"))
    guest.write("/boot/loader/entries/abc-5.14.0.conf",
                "title Rocky\nlinux /vmlinuz-5.14.0\ninitrd /initramfs-5.14.0.img\n"
                "options root=UUID=1234 ro enforcing=1\n")
    assert "enforcing=1" in run(guest).summary


def test_bls_kernelopts_from_grubenv_are_read(guest):
    # RHEL 8: the entry says $kernelopts and grubenv holds the words (selinux used to skip them).
    guest.write("/etc/selinux/config", RHEL_CONFIG.replace("SELINUX=enforcing", "SELINUX=disabled"))
    guest.write("/boot/loader/entries/abc-4.18.0.conf",
                "title Rocky\nlinux /vmlinuz-4.18.0\noptions $kernelopts $tuned_params\n")
    guest.write("/boot/grub2/grubenv", "# GRUB Environment Block\nkernelopts=root=UUID=1 ro selinux=1\n"
                + "#" * 900)
    result = run(guest)
    assert result.status == Status.WARN
    assert "selinux=1 in /boot/loader/entries/abc-4.18.0.conf" in result.summary


def test_grub_cfg_on_an_esp_mounted_at_efi_is_read(guest):
    guest.write("/etc/selinux/config", RHEL_CONFIG.replace("SELINUX=enforcing", "SELINUX=disabled"))
    guest.write("/efi/EFI/debian/grub.cfg", "menuentry 'Debian' {\n  linux /vmlinuz-6.1 root=UUID=1 enforcing=1\n}\n")
    assert "enforcing=1 in /efi/EFI/debian/grub.cfg" in run(guest).summary


def test_an_unreadable_boot_entry_is_a_warning_naming_it(guest):
    guest.write("/etc/selinux/config", RHEL_CONFIG.replace("SELINUX=enforcing", "SELINUX=disabled"))
    guest.write("/boot/loader/entries/abc-5.14.0.conf", b"\x00\x01\xffoptions")
    result = Engine([Selinux]).run_check(guest.ctx(), Selinux())
    assert result.status == Status.WARN
    assert result.paths == ("/boot/loader/entries/abc-5.14.0.conf",)


def test_enforcing_is_still_the_finding_when_default_grub_is_unreadable(guest):
    # It used to end in ERROR (the exception hid the FAIL); now the FAIL says what is unread.
    guest.write("/etc/selinux/config", RHEL_CONFIG)
    guest.write("/etc/default/grub", b"\x00\x01\xffGRUB")
    result = Engine([Selinux]).run_check(guest.ctx(), Selinux())
    assert result.status == Status.FAIL
    assert "Cannot read /etc/default/grub" in result.hint


def test_binary_config_is_an_error_not_a_traceback(guest):
    guest.write("/etc/selinux/config", b"\x00\x01\xffSELINUX")
    result = Engine([Selinux]).run_check(guest.ctx(), Selinux())
    assert result.status == Status.ERROR
    assert "binary" in result.summary


def test_fix_changes_only_the_selinux_line(guest):
    guest.write("/etc/selinux/config", RHEL_CONFIG, mode=0o640)
    ctx = guest.ctx()
    steps = SelinuxFix().plan(ctx, Selinux().run(ctx))
    assert len(steps) == 1
    assert steps[0].content.decode() == RHEL_CONFIG.replace("SELINUX=enforcing", "SELINUX=disabled")


def test_fix_apply_recheck_rollback(guest):
    guest.write("/etc/selinux/config", RHEL_CONFIG, mode=0o640)
    engine = Engine([Selinux], [SelinuxFix])
    ctx = guest.ctx()
    results = engine.run_checks(ctx)
    plans = engine.plan(ctx, engine.checks, results)
    journal, outcomes = engine.apply(ctx, plans, guest.state())
    assert [o.outcome for o in outcomes] == ["FIXED"]
    assert "SELINUX=disabled" in guest.read("/etc/selinux/config")
    # idempotent: nothing left to plan
    assert engine.plan(ctx, engine.checks, engine.run_checks(ctx)) == []
    outcomes = journal.rollback(ctx)
    assert [o for _r, o, _m in outcomes] == ["restored"]
    assert guest.read("/etc/selinux/config") == RHEL_CONFIG
    assert stat.S_IMODE(os.stat(guest.host("/etc/selinux/config")).st_mode) == 0o640
