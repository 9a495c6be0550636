import os
import sys

from agent.facts import boot
from agent.checks.kernel_version import KernelVersion
from agent.core.engine import Engine
from agent.core.model import Status
from conftest import FakeLive

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bootsamples import (CENTOS6_GRUB_CONF, CENTOS6_KERNEL, DEBIAN12_GRUB_CFG, DEBIAN_KERNEL,  # noqa: E402
                         ROCKY9_BLS, ROCKY_KERNEL, ROCKY_MACHINE_ID)


def run(guest, live=None):
    return Engine([KernelVersion]).run_check(guest.ctx(live=live), KernelVersion())


def kernels(guest, *versions, initrd="/boot/initrd.img-{}"):
    for version in versions:
        guest.write("/boot/vmlinuz-" + version, b"\x00k")
        guest.write(initrd.format(version), b"\x00i")


def test_debian_default_is_the_first_entry_and_differs_from_running(guest):
    guest.os_release("debian", "12")
    guest.write("/boot/grub/grub.cfg", DEBIAN12_GRUB_CFG)
    kernels(guest, DEBIAN_KERNEL, "6.1.0-17-amd64")
    guest.write("/proc/sys/kernel/osrelease", "6.1.0-17-amd64\n")
    result = run(guest, live=FakeLive())
    assert result.status == Status.WARN
    assert result.summary == ("running kernel 6.1.0-17-amd64, but the image boots {} by default (menu entry "
                              "'Debian GNU/Linux' of /boot/grub/grub.cfg (GRUB_DEFAULT=0))".format(DEBIAN_KERNEL))
    assert "Seed 002" in result.hint
    guest.write("/proc/sys/kernel/osrelease", DEBIAN_KERNEL + "\n")
    assert run(guest, live=FakeLive()).status == Status.PASS


def test_saved_entry_in_a_submenu(guest):
    guest.os_release("debian", "12")
    guest.write("/boot/grub/grub.cfg", DEBIAN12_GRUB_CFG)
    guest.write("/etc/default/grub", "GRUB_DEFAULT=saved\nGRUB_SAVEDEFAULT=true\n")
    guest.write("/boot/grub/grubenv", "# GRUB Environment Block\nsaved_entry=Advanced options for Debian "
                "GNU/Linux>Debian GNU/Linux, with Linux 6.1.0-17-amd64\n" + "#" * 900)
    kernels(guest, DEBIAN_KERNEL, "6.1.0-17-amd64")
    result = run(guest)
    assert result.status == Status.INFO
    assert result.summary.startswith("default boot kernel 6.1.0-17-amd64, from menu entry 'Debian GNU/Linux, "
                                     "with Linux 6.1.0-17-amd64'")
    assert result.summary.endswith("(also installed: {}); the running kernel is not known for a mounted image"
                                   .format(DEBIAN_KERNEL))


def test_rocky_bls_newest_entry_unless_saved(guest):
    guest.os_release("rocky", "9.3", "rhel")
    older = "5.14.0-284.11.1.el9_2.x86_64"
    guest.write("/boot/loader/entries/{}-{}.conf".format(ROCKY_MACHINE_ID, ROCKY_KERNEL), ROCKY9_BLS)
    guest.write("/boot/loader/entries/{}-{}.conf".format(ROCKY_MACHINE_ID, older),
                ROCKY9_BLS.replace(ROCKY_KERNEL, older))
    guest.write("/boot/loader/entries/{}-0-rescue.conf".format(ROCKY_MACHINE_ID),
                ROCKY9_BLS.replace(ROCKY_KERNEL, "0-rescue-" + ROCKY_MACHINE_ID))
    kernels(guest, ROCKY_KERNEL, older, initrd="/boot/initramfs-{}.img")
    assert boot.default_kernel(guest.ctx())["version"] == ROCKY_KERNEL
    guest.write("/etc/default/grub", 'GRUB_DEFAULT=saved\n')
    guest.write("/boot/grub2/grubenv", "saved_entry={}-{}\n".format(ROCKY_MACHINE_ID, older))
    assert boot.default_kernel(guest.ctx())["version"] == older


def test_centos6_legacy_default(guest):
    guest.os_release("centos", "6")
    guest.write("/boot/grub/grub.conf", CENTOS6_GRUB_CONF)
    kernels(guest, CENTOS6_KERNEL, "2.6.32-754.el6.x86_64", initrd="/boot/initramfs-{}.img")
    got = boot.default_kernel(guest.ctx())
    assert got == {"version": CENTOS6_KERNEL, "how": "entry 'CentOS 6 ({})' of /boot/grub/grub.conf "
                   "(default=0)".format(CENTOS6_KERNEL)}


def test_newest_kernel_without_boot_menu(guest):
    kernels(guest, "4.18.0-80.el8.x86_64", "4.18.0-513.5.1.el8_9.x86_64", "4.18.0-240.el8.x86_64")
    got = boot.default_kernel(guest.ctx())
    assert got["version"] == "4.18.0-513.5.1.el8_9.x86_64"


def test_no_kernel_warns(guest):
    result = run(guest)
    assert result.status == Status.WARN
    assert result.summary == "no kernel found in /boot, so no boot kernel can be named"
