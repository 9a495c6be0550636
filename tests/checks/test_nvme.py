import os
import stat

import pytest

from agent.facts import kernels
from agent.checks.nvme import Nvme
from agent.checks.virtio import Virtio
from agent.core.engine import Engine
from agent.core.journal import Journal
from agent.core.model import RunCommand, Status, WriteFile
from remediations import virtio as virtio_fix
from conftest import FakeLive
from remediations.nvme import NvmeFix
from remediations.virtio import VirtioFix
from checks.test_virtio import ALL, MODULES_FILE, VER, Rebuilder, debian, image, kernel, rhel

MAX = "nvme_core.io_timeout=4294967295 nvme_core.admin_timeout=4294967295"
DEBIAN_GRUB = """\
# If you change this file, run 'update-grub' afterwards to update
# /boot/grub/grub.cfg.

GRUB_DEFAULT=0
GRUB_TIMEOUT=5
GRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`
GRUB_CMDLINE_LINUX_DEFAULT="quiet"
GRUB_CMDLINE_LINUX="console=tty0 console=ttyS0,115200n8"
"""
GRUB_CFG = """\
menuentry 'Debian GNU/Linux' --class debian {
\tlinux\t/boot/vmlinuz-%s root=UUID=0f4e ro console=tty0 console=ttyS0,115200n8 quiet
\tinitrd\t/boot/initrd.img-%s
}
""" % (VER, VER)
NVME = ("nvme", "nvme_core")


@pytest.fixture(autouse=True)
def plenty_of_space(monkeypatch):
    monkeypatch.setattr(virtio_fix, "_free_bytes", lambda ctx, path: (10 << 30, 1))


def run(guest, **kw):
    return Nvme().run(guest.ctx(**kw))


def builtin_config(guest, version=VER):
    guest.write("/boot/config-" + version, "CONFIG_NVME_CORE=y\nCONFIG_BLK_DEV_NVME=y\n")


def test_built_in_drivers_and_arguments_pass_and_tell_how_to_import(guest):
    debian(guest)
    kernel(guest)
    builtin_config(guest)
    guest.write("/etc/default/grub", DEBIAN_GRUB.replace('="console', '="{} console'.format(MAX)))
    result = run(guest)
    assert result.status == Status.PASS, result.summary
    assert "Features.NvmeSupport=supported" in result.summary


def test_missing_arguments_fail_per_file(guest):
    debian(guest)
    kernel(guest)
    builtin_config(guest)
    guest.write("/etc/default/grub", DEBIAN_GRUB)
    guest.write("/boot/grub/grub.cfg", GRUB_CFG.replace("quiet", "quiet nvme_core.io_timeout=30"))
    result = run(guest)
    assert result.status == Status.FAIL
    assert "no nvme_core.io_timeout, no nvme_core.admin_timeout in /etc/default/grub" in result.summary
    assert "nvme_core.io_timeout=30, no nvme_core.admin_timeout in /boot/grub/grub.cfg" in result.summary
    assert "Features.NvmeSupport=supported" in result.hint
    assert result.paths == ("/boot/grub/grub.cfg", "/etc/default/grub")


def test_missing_drivers_fail(guest):
    debian(guest)
    kernel(guest, modules=ALL)      # config has neither nvme option built in
    guest.write("/lib/modules/{}/modules.builtin".format(VER), "")
    guest.write("/lib/modules/{}/modules.dep".format(VER),
                "kernel/drivers/nvme/host/nvme.ko: kernel/drivers/nvme/host/nvme-core.ko\n"
                "kernel/drivers/nvme/host/nvme-core.ko:\n")
    guest.write("/etc/default/grub", DEBIAN_GRUB.replace('="console', '="{} console'.format(MAX)))
    result = run(guest)
    assert result.status == Status.FAIL
    assert result.summary == "kernel {v}: nvme, nvme_core neither built in nor in /boot/initrd.img-{v}".format(v=VER)


def test_byte_sized_timeouts_on_rhel7_want_255(guest):
    guest.os_release("centos", "7", like="rhel fedora")
    guest.write("/usr/bin/dracut", "#!/bin/bash\n", mode=0o755)
    kernel(guest, "3.10.0-1160.el7.x86_64", family="rhel", modules=ALL + NVME)
    guest.write("/etc/default/grub", 'GRUB_CMDLINE_LINUX="crashkernel=auto rhgb quiet '
                'nvme_core.io_timeout=4294967295 nvme_core.admin_timeout=4294967295"\n')
    result = run(guest)
    assert result.status == Status.FAIL
    assert "nvme_core.io_timeout=4294967295, nvme_core.admin_timeout=4294967295 in /etc/default/grub" \
        in result.summary
    assert result.data["value"] == "255"
    assert kernels.byte_sized_nvme_timeouts("4.14.336") and not kernels.byte_sized_nvme_timeouts("4.15.0-213")


def test_bls_kernelopts_from_grubenv_are_read(guest):
    rhel(guest)
    kernel(guest, "4.18.0-513.el8.x86_64", family="rhel", modules=ALL + NVME)
    guest.write("/boot/loader/entries/abc-4.18.0-513.el8.x86_64.conf",
                "title Rocky Linux\nversion 4.18.0-513.el8.x86_64\nlinux /vmlinuz-4.18.0-513.el8.x86_64\n"
                "initrd /initramfs-4.18.0-513.el8.x86_64.img $tuned_initrd\noptions $kernelopts $tuned_params\n")
    guest.write("/boot/grub2/grubenv", "# GRUB Environment Block\nkernelopts=root=/dev/mapper/rl-root ro "
                + MAX + "\n" + "#" * 900)
    assert run(guest).status == Status.PASS


def test_grub_cfg_on_an_esp_mounted_at_efi_is_read(guest):
    debian(guest)
    kernel(guest, modules=ALL + NVME)
    guest.write("/boot/grub/grub.cfg", "menuentry 'Debian' {{\n  linux /vmlinuz-{} root=UUID=1 {}\n}}\n".format(VER, MAX))
    guest.write("/efi/EFI/debian/grub.cfg", "menuentry 'Debian' {{\n  linux /vmlinuz-{} root=UUID=1\n}}\n".format(VER))
    result = run(guest)
    assert result.status == Status.FAIL
    assert "/efi/EFI/debian/grub.cfg" in result.data["bad_sources"]


def test_unreadable_grub_cfg_is_named_and_drivers_still_reported(guest):
    debian(guest)
    kernel(guest, modules=ALL)
    guest.write("/boot/config-" + VER, "")
    guest.write("/lib/modules/{}/modules.builtin".format(VER), "")
    guest.write("/boot/grub/grub.cfg", b"\x00\x01\x02garbage")
    result = Engine([Nvme]).run_check(guest.ctx(), Nvme())
    assert result.status == Status.FAIL
    assert "binary data" in result.summary and "nvme, nvme_core neither built in" in result.summary


def test_no_boot_loader_config_warns(guest):
    debian(guest)
    kernel(guest)
    builtin_config(guest)
    result = run(guest)
    assert result.status == Status.WARN
    assert "no boot loader configuration" in result.summary


def test_fix_edits_default_grub_and_regenerates_with_update_grub(guest):
    debian(guest)
    kernel(guest)
    builtin_config(guest)
    guest.write("/etc/default/grub", DEBIAN_GRUB)
    guest.write("/boot/grub/grub.cfg", GRUB_CFG)
    guest.write("/usr/sbin/update-grub", "#!/bin/sh\n", mode=0o755)
    ctx = guest.ctx(live=FakeLive())   # on the running VM update-grub can probe its disks
    steps = NvmeFix().plan(ctx, Nvme().run(ctx))
    assert steps == [
        WriteFile("/etc/default/grub", DEBIAN_GRUB.replace(
            'GRUB_CMDLINE_LINUX="console=tty0 console=ttyS0,115200n8"',
            'GRUB_CMDLINE_LINUX="console=tty0 console=ttyS0,115200n8 {}"'.format(MAX)).encode(),
            why="NVMe timeouts for every kernel grub-mkconfig writes"),
        RunCommand(("update-grub",), why="regenerate grub.cfg from /etc/default/grub",
                   modifies=("/boot/grub/grub.cfg",), run_last=True)]


def test_fix_replaces_a_stale_value_and_keeps_other_lines(guest):
    debian(guest)
    kernel(guest)
    builtin_config(guest)
    guest.write("/etc/default/grub", DEBIAN_GRUB.replace('"quiet"', '"quiet nvme_core.io_timeout=30"'))
    ctx = guest.ctx()
    steps = NvmeFix().plan(ctx, Nvme().run(ctx))
    text = steps[0].content.decode()
    assert 'GRUB_CMDLINE_LINUX_DEFAULT="quiet"\n' in text
    assert 'GRUB_CMDLINE_LINUX="console=tty0 console=ttyS0,115200n8 {}"\n'.format(MAX) in text
    assert len(steps) == 1    # no grub.cfg and no update-grub: nothing to regenerate


def test_fix_uses_grubby_on_bls_systems(guest):
    rhel(guest)
    kernel(guest, "5.14.0-362.el9.x86_64", family="rhel", modules=ALL + NVME)
    entry = "/boot/loader/entries/abc-5.14.0-362.el9.x86_64.conf"
    guest.write(entry, "title Rocky\nlinux /vmlinuz-5.14.0-362.el9.x86_64\noptions root=UUID=1 ro\n")
    guest.write("/usr/sbin/grubby", "#!/bin/sh\n", mode=0o755)
    ctx = guest.ctx()
    steps = NvmeFix().plan(ctx, Nvme().run(ctx))
    assert steps == [RunCommand(("/usr/sbin/grubby", "--update-kernel=ALL", "--args=" + MAX),
                                why="NVMe timeouts on every boot entry", modifies=(entry,), run_last=True)]


def test_fix_regenerates_bios_and_efi_grub_cfg_but_not_an_efi_stub(guest):
    guest.os_release("centos", "7", like="rhel fedora")
    guest.write("/usr/bin/dracut", "#!/bin/bash\n", mode=0o755)
    guest.write("/usr/sbin/grub2-mkconfig", "#!/bin/sh\n", mode=0o755)
    kernel(guest, "4.18.0-1", family="rhel", modules=ALL + NVME)
    guest.write("/etc/default/grub", 'GRUB_CMDLINE_LINUX="rhgb quiet"\n')
    guest.write("/boot/grub2/grub.cfg", "linux16 /vmlinuz-4.18.0-1 root=UUID=1 ro rhgb quiet\n")
    guest.write("/boot/efi/EFI/centos/grub.cfg", "linuxefi /vmlinuz-4.18.0-1 root=UUID=1 ro rhgb quiet\n")
    guest.write("/boot/efi/EFI/rocky/grub.cfg", "search --no-floppy --fs-uuid --set=dev 1\n"
                "set prefix=($dev)/grub2\nconfigfile $prefix/grub.cfg\n")
    ctx = guest.ctx(live=FakeLive())
    steps = NvmeFix().plan(ctx, Nvme().run(ctx))
    assert [s.argv for s in steps[1:]] == [("grub2-mkconfig", "-o", "/boot/grub2/grub.cfg"),
                                           ("grub2-mkconfig", "-o", "/boot/efi/EFI/centos/grub.cfg")]
    # A mounted image: grub-probe cannot see the image's disk from a chroot, so the kernel
    # lines of the generated files are edited instead (the EFI stub is still left alone).
    ctx = guest.ctx()
    steps = NvmeFix().plan(ctx, Nvme().run(ctx))
    assert [(type(s).__name__, s.path) for s in steps[1:]] == [
        ("WriteFile", "/boot/grub2/grub.cfg"), ("WriteFile", "/boot/efi/EFI/centos/grub.cfg")]
    assert steps[1].content.decode() == "linux16 /vmlinuz-4.18.0-1 root=UUID=1 ro rhgb quiet {}\n".format(MAX)
    assert steps[2].content.decode() == "linuxefi /vmlinuz-4.18.0-1 root=UUID=1 ro rhgb quiet {}\n".format(MAX)


def test_offline_grub_cfg_edit_replaces_old_values_and_keeps_every_other_byte():
    from remediations.nvme import cfg_with_args
    text = ("### BEGIN /etc/grub.d/10_linux ###\r\nmenuentry 'Debian' {\n"
            "\tlinux\t/vmlinuz-6.1 root=UUID=1 ro nvme_core.io_timeout=30 quiet\n"
            "\tinitrd\t/initrd.img-6.1\n}\n# linux /not-a-kernel-line\n"
            "\tlinux /vmlinuz-old root=UUID=1 ro")
    assert cfg_with_args(text, MAX) == text.replace(" nvme_core.io_timeout=30", "").replace(
        "ro quiet\n", "ro quiet {}\n".format(MAX)).replace("vmlinuz-old root=UUID=1 ro", "vmlinuz-old root=UUID=1 ro " + MAX)


def test_virtio_and_nvme_together_rebuild_once_and_roll_back(guest):
    debian(guest)
    path = kernel(guest, modules=())
    guest.write("/boot/config-" + VER, "CONFIG_VIRTIO=m\n")
    guest.write("/lib/modules/{}/modules.builtin".format(VER), "")
    dep = "".join("kernel/drivers/{}:\n".format(p) for p in (
        "block/virtio_blk.ko", "net/virtio_net.ko", "virtio/virtio_pci.ko", "scsi/virtio_scsi.ko",
        "char/virtio_console.ko", "nvme/host/nvme.ko", "nvme/host/nvme-core.ko"))
    guest.write("/lib/modules/{}/modules.dep".format(VER), dep)
    guest.write("/etc/default/grub", DEBIAN_GRUB)
    original = image(VER, ())

    class RebuildAll(Rebuilder):
        def run(self, argv, env=None, timeout=None, stdin_text=None, network=False):
            result = Rebuilder.run(self, argv, env, timeout, stdin_text)
            if argv[0] == "update-initramfs":
                self.guest.write(self.path, image(VER, ALL + NVME))
            return result
    runner = RebuildAll(guest, path)
    ctx = guest.ctx(runner=runner)
    engine = Engine([Virtio, Nvme], [VirtioFix, NvmeFix])
    plans = engine.plan(ctx, engine.checks, engine.run_checks(ctx))
    journal, outcomes = engine.apply(ctx, plans, guest.state())
    assert [(o.check_id, o.outcome) for o in outcomes] == [("virtio", "FIXED"), ("nvme", "FIXED")]
    assert runner.calls == [("update-initramfs", "-u", "-k", "all")]
    modules = guest.read("/etc/initramfs-tools/modules")
    assert modules.startswith(MODULES_FILE)
    assert "virtio_blk\n" in modules and modules.endswith("nvme\nnvme_core\n")
    assert MAX in guest.read("/etc/default/grub")
    assert engine.plan(ctx, engine.checks, engine.run_checks(ctx)) == []
    Journal.load(guest.state(), journal.run_id).rollback(ctx)
    assert guest.read("/etc/initramfs-tools/modules") == MODULES_FILE
    assert guest.read("/etc/default/grub") == DEBIAN_GRUB
    with open(guest.host(path), "rb") as handle:
        assert handle.read() == original
    assert stat.S_IMODE(os.stat(guest.host("/etc/default/grub")).st_mode) == 0o644


def test_argument_hint_names_this_distributions_tool(guest):
    # grubby exists only on RHEL-like systems: a Debian hint must not send the user to it.
    debian(guest)
    kernel(guest)
    builtin_config(guest)
    guest.write("/etc/default/grub", DEBIAN_GRUB)
    result = run(guest)
    assert result.status == Status.FAIL
    assert "grubby" not in result.hint
    assert "regenerate grub.cfg (update-grub)" in result.hint


def test_argument_hint_and_command_use_grubby_where_it_exists(guest):
    rhel(guest)
    kernel(guest, "5.14.0-362.el9.x86_64", family="rhel", modules=ALL + NVME)
    guest.write("/boot/loader/entries/abc-5.14.0-362.el9.x86_64.conf",
                "title Rocky\nlinux /vmlinuz-5.14.0-362.el9.x86_64\noptions root=UUID=1 ro\n")
    guest.write("/usr/sbin/grubby", "#!/bin/sh\n", mode=0o755)
    result = run(guest)
    assert result.status == Status.FAIL
    assert "with grubby (command below)" in result.hint and "where grubby exists" not in result.hint
    assert any("grubby --update-kernel=ALL --args='{}'".format(MAX) in c for c in result.commands)


def test_without_default_grub_the_fix_edits_grub_cfg_as_its_hint_says(guest):
    # An image whose grub.cfg was written without /etc/default/grub: the hint promised a fix
    # while the plan said "nothing guestprep can change automatically" (issue 14).
    debian(guest)
    kernel(guest)
    builtin_config(guest)
    guest.write("/boot/grub/grub.cfg", GRUB_CFG)
    for live in (FakeLive(), None):
        ctx = guest.ctx(live=live)
        result = Nvme().run(ctx)
        assert result.status == Status.FAIL
        assert "there is no /etc/default/grub" in result.hint and "fix --items nvme does this" in result.hint
        steps = NvmeFix().plan(ctx, result)
        assert [type(s) for s in steps] == [WriteFile] and steps[0].path == "/boot/grub/grub.cfg"
        assert all(MAX in line for line in steps[0].content.decode().splitlines()
                   if line.strip().startswith("linux"))
