import datetime
import json
import os
import struct
import sys

from agent.output import advice, cli

from agent.facts import disks
from agent.core.model import Result, Status
from agent.facts.osinfo import OSInfo

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "checks"))
from bootsamples import dpkg_status  # noqa: E402

DAY = datetime.date(2023, 1, 1)


def elf(machine):
    header = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + struct.pack("<HHI", 3, machine, 1)
    return header + b"\x00" * (64 - len(header))


def ubuntu(guest):
    guest.os_release("ubuntu", "20.04", "debian")
    guest.write("/bin/sh", elf(62), mode=0o755)
    guest.write("/boot/vmlinuz-4.18.0-1021-aws", b"\x00")
    guest.write("/etc/fstab", "LABEL=cloudimg-rootfs / ext4 defaults 0 1\nLABEL=UEFI /boot/efi vfat umask=0077 0 1\n")
    guest.write("/var/lib/dpkg/status", dpkg_status({"grub-efi-amd64-signed": "1.187", "shim-signed": "1.40"}))
    guest.write("/boot/grub/i386-pc/core.img", b"\x00")


def nvme(status):
    return Result("nvme", "GUESTOS.Nvme", "nvme", "NVMe driver", status, "")


def test_image_name_in_seed_004_form():
    info = OSInfo("ubuntu", "20.04", "Ubuntu 20.04.6 LTS", "debian", (), "/etc/os-release")
    assert advice.image_name(info, "4.18.0-1021-aws", "x86_64", DAY) == "ubuntu20.04_kernel4.18_x86_64_20230101_v1.0"
    stream = OSInfo("centos", "9", "CentOS Stream 9", "rhel", (), "/etc/os-release")
    assert advice.image_name(stream, "5.14.0-391.el9.aarch64", "arm64", DAY) == \
        "centos-stream9_kernel5.14_arm64_20230101_v1.0"
    assert advice.image_name(OSInfo("", "", "", "", (), ""), None, None, DAY) == "linux_x86_64_20230101_v1.0"


def test_disk_size_rounds_up_and_clamps():
    assert advice.disk_size_gib(40 * 1024 ** 3) == 40
    assert advice.disk_size_gib(40 * 1024 ** 3 + 1) == 41
    assert advice.disk_size_gib(3000 * 1024 ** 3) == 2048
    assert advice.disk_size_gib(None) is None


def test_offline_ubuntu_with_nvme_passed(guest):
    ubuntu(guest)
    got = advice.compute(guest.ctx(), [nvme(Status.PASS)], today=DAY)
    assert got["image_name"] == "ubuntu20.04_kernel4.18_x86_64_20230101_v1.0"
    assert got["command"] == (
        "aliyun ecs ImportImage --RegionId <region> --ImageName ubuntu20.04_kernel4.18_x86_64_20230101_v1.0 "
        "--OSType linux --Platform Ubuntu --Architecture x86_64 --BootMode UEFI-Preferred "
        "--DiskDeviceMapping.1.OSSBucket <bucket> --DiskDeviceMapping.1.OSSObject <object> "
        "--DiskDeviceMapping.1.DiskImageSize <GiB> --DiskDeviceMapping.1.Format <fmt> "
        "--DetectionStrategy Standard --Features.NvmeSupport supported")
    values = dict((p["name"], p["value"]) for p in got["parameters"])
    assert values["Features.NvmeSupport"] == "supported"
    assert values["DiskDeviceMapping.1.DiskImageSize"] is None
    assert values["OSType"] == "linux" and values["DetectionStrategy"] == "Standard"


def test_nvme_failing_or_absent_leaves_the_feature_out(guest):
    ubuntu(guest)
    got = advice.compute(guest.ctx(), [nvme(Status.FAIL)], today=DAY)
    assert "--Features.NvmeSupport" not in got["command"]
    assert "Features.NvmeSupport is left out: GUESTOS.Nvme did not pass." in got["notes"]
    got = advice.compute(guest.ctx(), [], today=DAY)
    assert "Features.NvmeSupport: the NVMe check did not run, so it is left out." in got["notes"]


def test_rocky_arm64_live_disk_size_and_quoted_platform(guest, monkeypatch):
    guest.os_release("rocky", "9.3", "rhel")
    guest.write("/bin/sh", elf(183), mode=0o755)
    guest.write("/boot/vmlinuz-5.14.0-362.8.1.el9_3.aarch64", b"\x00")
    ctx = guest.ctx()
    monkeypatch.setattr(disks, "system_disk", lambda c: {"known": True, "disk": "/dev/vda",
                                                        "size_bytes": 20 * 1024 ** 3 + 512})
    got = advice.compute(ctx, [], today=DAY)
    assert got["command"] == (
        "aliyun ecs ImportImage --RegionId <region> --ImageName rocky9.3_kernel5.14_arm64_20230101_v1.0 "
        "--OSType linux --Platform 'Rocky Linux' --Architecture arm64 --BootMode UEFI "
        "--DiskDeviceMapping.1.OSSBucket <bucket> --DiskDeviceMapping.1.OSSObject <object> "
        "--DiskDeviceMapping.1.DiskImageSize 21 --DiskDeviceMapping.1.Format <fmt> --DetectionStrategy Standard")


def test_text_section(guest):
    ubuntu(guest)
    text = advice.text(advice.compute(guest.ctx(), [], today=DAY))
    lines = text.splitlines()
    assert lines[0] == "What to enter on ImportImage"
    assert "  Platform                           Ubuntu  (ubuntu 20.04)" in lines
    assert lines[-1].startswith("  $ aliyun ecs ImportImage --RegionId <region>")


def test_cli_check_prints_the_section_and_json_object(tmp_path, capsys):
    root = tmp_path / "root"
    for d in ("etc", "usr/bin", "boot"):
        (root / d).mkdir(parents=True)
    (root / "etc/os-release").write_text('ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n')
    (root / "usr/bin/env").write_bytes(elf(62))
    assert cli.main(["check", "--root", str(root)]) in (0, 3)
    out = capsys.readouterr().out
    assert "\nWhat to enter on ImportImage\n" in out
    assert "--Platform Debian --Architecture x86_64" in out
    cli.main(["check", "--root", str(root), "--format", "json"])
    data = json.loads(capsys.readouterr().out)
    assert data["import_image"]["image_name"].startswith("debian12_x86_64_")
    assert data["import_image"]["parameters"][2] == {"name": "Platform", "value": "Debian",
                                                     "source": "Debian GNU/Linux 12 (bookworm)"}
