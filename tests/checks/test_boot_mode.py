import os
import struct
import sys

from agent.facts import boot
from agent.checks.boot_mode import BootMode
from agent.core.engine import Engine
from agent.core.model import Status
from conftest import FakeLive, FakeRunner

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bootsamples import CENTOS6_GRUB_CONF, dpkg_status, rpm_answer  # noqa: E402

UEFI_FSTAB = "UUID=0b6c / ext4 rw,discard,errors=remount-ro 0 1\nUUID=7D2A-1F3B /boot/efi vfat defaults 0 0\n"


def run(guest, live=None, runner=None):
    return Engine([BootMode]).run_check(guest.ctx(live=live, runner=runner), BootMode())


def arm64(guest):
    header = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + struct.pack("<HHI", 3, 183, 1)
    guest.write("/bin/sh", header + b"\x00" * 40, mode=0o755)


def test_debian_hybrid_image_is_uefi_preferred(guest):
    guest.os_release("debian", "12")
    guest.write("/etc/fstab", UEFI_FSTAB)
    guest.write("/var/lib/dpkg/status", dpkg_status({"grub-efi-amd64": "2.06-13", "shim-signed": "1.40"}))
    guest.write("/boot/grub/i386-pc/core.img", b"\x00")
    result = run(guest)
    assert result.status == Status.INFO
    assert result.summary == ("import with BootMode=UEFI-Preferred (an EFI system partition in /etc/fstab "
                              "(UUID=7D2A-1F3B on /boot/efi); EFI boot packages: grub-efi-amd64, shim-signed; "
                              "BIOS GRUB: /boot/grub/i386-pc)")


def test_rhel_uefi_only(guest):
    guest.os_release("rocky", "9.3", "rhel")
    guest.write("/etc/fstab", UEFI_FSTAB)
    guest.mkdir("/var/lib/rpm")
    runner = FakeRunner(guest.ctx().root.path, rpm_answer({"grub2-efi-x64": "2.06-70.el9", "shim-x64": "15.8-2"}))
    result = run(guest, runner=runner)
    assert result.summary.startswith("import with BootMode=UEFI (")


def test_centos6_legacy_is_bios(guest):
    guest.os_release("centos", "6")
    guest.write("/boot/grub/grub.conf", CENTOS6_GRUB_CONF)
    result = run(guest)
    assert result.status == Status.INFO
    assert result.summary == ("import with BootMode=BIOS (GRUB legacy (/boot/grub/grub.conf), which boots with "
                              "BIOS only)")


def test_live_efi_firmware_without_esp_in_fstab(guest):
    guest.os_release("debian", "12")
    guest.mkdir("/sys/firmware/efi")
    guest.write("/var/lib/dpkg/status", dpkg_status({"grub-efi-amd64": "2.06-13"}))
    result = run(guest, live=FakeLive())
    assert result.summary.startswith("import with BootMode=UEFI (booted via UEFI now (/sys/firmware/efi present)")
    guest.write("/etc/fstab", UEFI_FSTAB)
    assert boot.esp_entry(guest.ctx()).mountpoint == "/boot/efi"


def test_arm64_without_uefi_loader_warns(guest):
    arm64(guest)
    guest.write("/var/lib/dpkg/status", dpkg_status({"grub-pc": "2.06-13"}))
    result = run(guest)
    assert result.status == Status.WARN
    assert result.summary.startswith("import with BootMode=UEFI, but arm64 instances boot with UEFI only")


def test_nothing_found_warns(guest):
    result = run(guest)
    assert result.status == Status.WARN
    assert result.summary == "neither a BIOS nor a UEFI boot loader was found"


def test_efi_packages_without_esp_warn(guest):
    guest.os_release("debian", "12")
    guest.write("/var/lib/dpkg/status", dpkg_status({"grub-efi-amd64": "2.06-13", "grub-pc": "2.06-13"}))
    result = run(guest)
    assert result.status == Status.WARN
    assert "EFI packages are installed but /etc/fstab mounts no EFI system partition" in result.summary


def test_nothing_found_names_this_distributions_packages(guest):
    guest.os_release("sles", "15.5", like="suse")
    result = run(guest)
    assert result.status == Status.WARN
    assert "grub2-i386-pc for BIOS; grub2-x86_64-efi and shim" in result.hint
    assert "grub-pc" not in result.hint
    guest.os_release("rocky", "9.3", like="rhel centos fedora")
    assert "grub2-pc for BIOS; grub2-efi-x64 and shim-x64" in run(guest).hint
    guest.os_release("debian", "12")
    assert "grub-pc for BIOS; grub-efi-amd64 and shim-signed" in run(guest).hint
