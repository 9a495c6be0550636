"""boot-test without qemu: a fake qemu and qemu-img on PATH (fake_qemu.py), console samples
from real failed boots for the cause detection, and the pure parts (partition table, argv)."""
import errno
import json
import os
import stat
import struct
import sys

import pytest

from agent.facts import disks
from agent.host import boottest

from agent.output import cli

HERE = os.path.dirname(os.path.abspath(__file__))

INITRAMFS_ALERT = """\
Loading Linux 6.1.0-50-cloud-amd64 ...
Loading initial ramdisk ...
[    0.000000] Linux version 6.1.0-50-cloud-amd64 (debian-kernel@lists.debian.org)
Begin: Loading essential drivers ... done.
Begin: Running /scripts/init-premount ... done.
Begin: Mounting root file system ... Begin: Running /scripts/local-top ... done.
Begin: Running /scripts/local-premount ... done.
Begin: Waiting for root file system ... Begin: Running /scripts/local-block ... done.
done.
Gave up waiting for root file system device.  Common problems:
 - Boot args (cat /proc/cmdline)
   - Check rootdelay= (did the system wait long enough?)
 - Missing modules (cat /proc/modules; ls /dev)
ALERT!  UUID=d7aee412-87d0-4b10-98cd-e4956f9e03fe does not exist.  Dropping to a shell!


BusyBox v1.35.0 (Debian 1:1.35.0-4+b3) built-in shell (ash)
Enter 'help' for a list of built-in commands.

(initramfs) """

EMERGENCY = """\
[    2.101] systemd[1]: Detected virtualization qemu.
[\x1b[0;1;31m TIME \x1b[0m] Timed out waiting for device \x1b[0;1;39mdev-vdb1.device\x1b[0m - /dev/vdb1.\r
[\x1b[0;1;33mDEPEND\x1b[0m] Dependency failed for \x1b[0;1;39mdata.mount\x1b[0m - /data.\r
[\x1b[0;1;33mDEPEND\x1b[0m] Dependency failed for \x1b[0;1;39mlocal-fs.target\x1b[0m - Local File Systems.\r
[  OK  ] Reached target emergency.target - Emergency Mode.
You are in emergency mode. After logging in, type "journalctl -xb" to view
system logs, "systemctl reboot" to reboot, "systemctl default" or "exit"
to boot into default mode.
Cannot open access to console, the root account is locked.
See sulogin(8) man page for more details.

Press Enter to continue.
"""

DRACUT = """\
[  OK  ] Reached target Basic System.
[  190.530112] dracut-initqueue[312]: Warning: dracut-initqueue: timeout, still waiting for following initqueue hooks:
[  190.531005] dracut-initqueue[312]: Warning: /lib/dracut/hooks/initqueue/finished/devexists-\\x2fdev\\x2fmapper\\x2frl-root.sh
[  190.600000] dracut-initqueue[312]: Warning: Could not boot.
         Starting Dracut Emergency Shell...
Warning: /dev/mapper/rl-root does not exist

Generating "/run/initramfs/rdsosreport.txt"
Entering emergency mode. Exit the shell to continue.
"""

NO_DHCP = """\
[  OK  ] Finished ifupdown-pre.service - Helper to synchronize boot up for ifupdown.
         Starting networking.service - Raise network interfaces...
[   65.1] dhclient[410]: No DHCPOFFERS received.
[FAILED] Failed to start networking.service - Raise network interfaces.
[  OK  ] Reached target multi-user.target - Multi-User System.

Debian GNU/Linux 12 guestprep-boot ttyS0

guestprep-boot login: """

STATIC_IP = """\
[  OK  ] Finished networking.service - Raise network interfaces.
[  OK  ] Started ssh.service - OpenBSD Secure Shell server.

Debian GNU/Linux 12 guestprep-boot ttyS0

guestprep-boot login: """

PANIC = "[    1.9] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)\n"
SELINUX = "[    3.2] systemd[1]: Failed to load SELinux policy.\n[    3.2] systemd[1]: Freezing execution.\n"
SLOW = "[  OK  ] Started systemd-udevd.service.\n         A start job is running for /dev/vdb1 (1min 2s / 1min 30s)\n"


def cause_of(sample, login=False, banner=None, **kw):
    return boottest.analyse(boottest.clean_console(sample), login, banner, 300, **kw)


@pytest.mark.parametrize("sample, cause_id, line", [
    (INITRAMFS_ALERT, "root_not_found", "Gave up waiting for root file system device.  Common problems:"),
    (DRACUT, "root_not_found", "[  190.530112] dracut-initqueue[312]: Warning: dracut-initqueue: timeout, still "
                               "waiting for following initqueue hooks:"),
    (EMERGENCY, "emergency_mode", "[  OK  ] Reached target emergency.target - Emergency Mode."),
    (PANIC, "root_not_found", "[    1.9] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)"),
    (SELINUX, "selinux", "[    3.2] systemd[1]: Failed to load SELinux policy."),
])
def test_fatal_causes_from_console_samples(sample, cause_id, line):
    cause = cause_of(sample)
    assert (cause["id"], cause["line"]) == (cause_id, line)
    assert cause["hint"] and cause["summary"]


def test_emergency_mode_names_the_missing_device_from_the_dependency_lines():
    cause = cause_of(EMERGENCY)
    assert cause["details"] == ["[ TIME ] Timed out waiting for device dev-vdb1.device - /dev/vdb1.",
                                "[DEPEND] Dependency failed for data.mount - /data.",
                                "[DEPEND] Dependency failed for local-fs.target - Local File Systems."]
    assert "fstab" in cause["hint"]


def test_a_panic_without_a_root_message_is_a_kernel_panic():
    cause = cause_of("[    1.9] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100\n")
    assert cause["id"] == "kernel_panic"


def test_login_without_ssh_is_no_network_with_the_failing_unit():
    cause = cause_of(NO_DHCP, login=True)
    assert cause["id"] == "no_network"
    assert cause["line"] == "[   65.1] dhclient[410]: No DHCPOFFERS received."
    cause = cause_of(STATIC_IP, login=True)
    assert (cause["id"], cause["line"]) == ("no_network", None)
    assert "DHCP" in cause["hint"]


def test_empty_console_slow_boot_and_qemu_errors():
    assert cause_of("")["id"] == "no_console"
    slow = cause_of(SLOW)
    assert slow["id"] == "timeout" and "300s" in slow["summary"]
    kvm = cause_of("", qemu_exit=1, qemu_output="KVM internal error. Suberror: 1\n")
    assert kvm["id"] == "qemu" and "--accel tcg" in kvm["hint"]
    gone = cause_of("", qemu_exit=1, qemu_output="qemu-system-x86_64: -drive file=x: Could not open 'x'\n")
    assert gone["id"] == "qemu" and gone["line"].endswith("Could not open 'x'")


def test_login_prompt_detection():
    assert boottest.login_prompt(boottest.clean_console(NO_DHCP)) == "guestprep-boot login:"
    assert boottest.login_prompt("Last login: Mon Jan  1 on ttyS0\n") is None
    assert boottest.login_prompt("Debian GNU/Linux 12 host ttyS0\n\nhost login: root\nPassword:") == "host login:"
    assert boottest.login_prompt(INITRAMFS_ALERT) is None


def _mbr(types):
    sector = bytearray(512)
    for i, t in enumerate(types):
        sector[446 + 16 * i + 4] = t
    sector[510:512] = b"\x55\xaa"
    return bytes(sector)


def _gpt(guids):
    head = bytearray(_mbr([0xEE]) + bytes(33 * 512))
    head[512:520] = b"EFI PART"
    head[512 + 72:512 + 88] = struct.pack("<QII", 2, 128, 128)
    for i, guid in enumerate(guids):
        a, b, c, d, e = guid.split("-")
        raw = struct.pack("<IHH", int(a, 16), int(b, 16), int(c, 16)) + bytes.fromhex(d + e)
        head[1024 + 128 * i:1024 + 128 * i + 16] = raw
    return bytes(head)


LINUX_FS = "0fc63daf-8483-4772-8e79-3d69d8477de4"


@pytest.mark.parametrize("head, firmware", [
    (_mbr([0x83]), "bios"),
    (_mbr([0xEF, 0x83]), "uefi"),
    (_gpt([disks.ESP_GUID, LINUX_FS]), "uefi"),
    (_gpt([disks.BIOS_BOOT_GUID, disks.ESP_GUID, LINUX_FS]), "bios"),
    (_gpt([disks.BIOS_BOOT_GUID, LINUX_FS]), "bios"),
    (_mbr([0xEE]), "bios"),                      # protective MBR, no GPT header
    (b"\0" * 34 * 512, "bios"),
    (b"garbage", "bios"),
])
def test_firmware_from_the_partition_table(head, firmware):
    assert boottest.detect_firmware(head)[0] == firmware


def test_qemu_argv_virtio_restricted_network_loopback_only():
    argv = boottest.qemu_argv("qemu", "tcg", "/t/overlay.qcow2", 2222, "/t/console.log")
    line = " ".join(argv)
    assert "-accel tcg -cpu max" in line
    assert "-drive file=/t/overlay.qcow2,format=qcow2,if=virtio,cache=unsafe" in line
    assert "-netdev user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:2222-:22 -device virtio-net-pci,netdev=net0" in line
    assert "-smp 2 -m 1024" in line and "pflash" not in line
    uefi = " ".join(boottest.qemu_argv("qemu", "kvm", "/t/o", 1, "/t/c", "uefi", ("/fw/CODE.fd", "/t/VARS.fd")))
    assert "-accel kvm" in uefi
    assert "if=pflash,format=raw,unit=0,readonly=on,file=/fw/CODE.fd" in uefi
    assert "if=pflash,format=raw,unit=1,file=/t/VARS.fd" in uefi


# ---------------------------------------------------------------------------------------
# The command, with the fake qemu.

class Fake(object):
    def __init__(self, tmp_path, monkeypatch):
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        for name in ("qemu-system-x86_64", "qemu-img"):
            path = self.bin / name
            path.write_text("#!{}\nimport sys\nsys.path.insert(0, {!r})\nimport fake_qemu\nsys.exit(fake_qemu.main({!r}))\n"
                            .format(sys.executable, HERE, name))
            path.chmod(0o755)
        self.log = tmp_path / "calls.jsonl"
        self.scenario_path = tmp_path / "scenario.json"
        self.disk = tmp_path / "disk.qcow2"
        self.disk.write_bytes(b"QFI\xfb the user's exported disk")
        os.chmod(str(self.disk), 0o444)
        self.disk_stat = os.stat(str(self.disk))
        monkeypatch.setenv("PATH", str(self.bin))
        monkeypatch.setenv("FAKE_QEMU_LOG", str(self.log))
        monkeypatch.setenv("FAKE_QEMU_SCENARIO", str(self.scenario_path))
        monkeypatch.setattr(boottest, "QEMU_NAMES", ("qemu-system-x86_64",))
        monkeypatch.setattr(boottest, "POLL", 0.05)
        self.tmp_path = tmp_path

    def scenario(self, **kw):
        self.scenario_path.write_text(json.dumps(kw))

    def calls(self, tool=None):
        if not self.log.exists():
            return []
        calls = [json.loads(line) for line in self.log.read_text().splitlines()]
        return [c for c in calls if tool is None or c["tool"] == tool]

    def assert_qemu_gone_and_disk_untouched(self):
        for call in self.calls("qemu"):
            with pytest.raises(OSError) as info:
                os.kill(call["pid"], 0)
            assert info.value.errno == errno.ESRCH
        st = os.stat(str(self.disk))
        assert (st.st_mtime, st.st_size, stat.S_IMODE(st.st_mode)) == (
            self.disk_stat.st_mtime, self.disk_stat.st_size, 0o444)
        assert self.disk.read_bytes() == b"QFI\xfb the user's exported disk"


@pytest.fixture
def fake(tmp_path, monkeypatch):
    return Fake(tmp_path, monkeypatch)


def run_cli(capsys, *args):
    code = cli.main(["boot-test"] + [str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_pass_json_through_an_overlay_and_qemu_is_stopped(fake, capsys, monkeypatch):
    monkeypatch.setattr(boottest, "kvm_usable", lambda path="/dev/kvm": False)
    fake.scenario(console=[[0, "[    0.0] Linux version 6.1.0\n"], [0.2, STATIC_IP]], ssh=True)
    console = fake.tmp_path / "kept-console.log"
    code, out, err = run_cli(capsys, fake.disk, "--format", "json", "--timeout", "20", "--keep-console", console)
    assert code == 0, err
    result = json.loads(out)
    assert result["format_version"] == 1 and result["command"] == "boot-test"
    assert (result["status"], result["format"], result["firmware"], result["accelerator"]) == ("PASS", "qcow2", "bios", "tcg")
    assert result["login_prompt"] == "guestprep-boot login:"
    assert result["ssh_banner"] == "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"
    assert result["cause"] is None and result["exit_code"] == 0
    assert result["console_file"] == str(console)
    assert console.read_text().endswith("guestprep-boot login: ")
    assert result["elapsed"] < 15
    # qemu ran on a qcow2 overlay whose backing file is the disk, given with its format.
    create = [c["argv"] for c in fake.calls("qemu-img") if c["argv"][0] == "create"][0]
    assert create[create.index("-b") + 1] == str(fake.disk) and create[create.index("-F") + 1] == "qcow2"
    qemu = fake.calls("qemu")[0]["argv"]
    drive = [a for a in qemu if a.startswith("file=") and "if=virtio" in a][0]
    assert drive.startswith("file=" + create[-1] + ",format=qcow2") and str(fake.disk) not in " ".join(qemu)
    assert not os.path.exists(create[-1])          # the temporary directory is gone
    fake.assert_qemu_gone_and_disk_untouched()


def test_root_not_found_stops_early_and_shows_the_console(fake, capsys):
    fake.scenario(console=[[0, INITRAMFS_ALERT]])
    code, out, err = run_cli(capsys, fake.disk, "--accel", "tcg", "--timeout", "60")
    assert code == 3
    assert "FAIL  the root file system was not found" in out
    assert "  seen: Gave up waiting for root file system device.  Common problems:" in out
    assert "    | ALERT!  UUID=d7aee412-87d0-4b10-98cd-e4956f9e03fe does not exist.  Dropping to a shell!" in out
    assert "virtio_blk" in out
    assert "booting under qemu (TCG, BIOS)" in err
    fake.assert_qemu_gone_and_disk_untouched()


def test_json_failure_has_cause_and_console_tail(fake, capsys):
    fake.scenario(console=[[0, EMERGENCY]])
    code, out, _ = run_cli(capsys, fake.disk, "--accel", "tcg", "--format", "json")
    result = json.loads(out)
    assert code == 3 and result["exit_code"] == 3 and result["status"] == "FAIL"
    assert result["cause"]["id"] == "emergency_mode"
    assert result["console_tail"][-1] == "Press Enter to continue."
    assert result["login_prompt"] is None and result["ssh_banner"] is None


def test_login_but_no_ssh_waits_its_grace_then_fails_no_network(fake, capsys, monkeypatch):
    monkeypatch.setattr(boottest, "SSH_GRACE", 1)
    fake.scenario(console=[[0, STATIC_IP]], ssh=False)
    code, out, _ = run_cli(capsys, fake.disk, "--accel", "tcg", "--format", "json", "--timeout", "30")
    result = json.loads(out)
    assert code == 3 and result["cause"]["id"] == "no_network"
    assert result["login_prompt"] and result["elapsed"] < 10
    fake.assert_qemu_gone_and_disk_untouched()


def test_timeout_kills_qemu(fake, capsys):
    fake.scenario(console=[[0, SLOW]])
    code, out, _ = run_cli(capsys, fake.disk, "--accel", "tcg", "--format", "json", "--timeout", "2")
    result = json.loads(out)
    assert code == 3 and result["cause"]["id"] == "timeout"
    fake.assert_qemu_gone_and_disk_untouched()


def test_qemu_that_exits_is_reported(fake, capsys):
    fake.scenario(stderr="qemu-system-x86_64: -drive file=o: Could not open backing file\n", exit=1)
    code, out, _ = run_cli(capsys, fake.disk, "--accel", "tcg", "--format", "json", "--timeout", "10")
    result = json.loads(out)
    assert code == 3 and result["cause"]["id"] == "qemu"
    assert result["qemu_output"] == ["qemu-system-x86_64: -drive file=o: Could not open backing file"]


@pytest.mark.parametrize("kvm, reason", [("internal-error", "KVM internal error"),
                                         ("hang", "no console output within 1s")])
def test_broken_kvm_falls_back_to_tcg_and_says_so(fake, monkeypatch, kvm, reason):
    monkeypatch.setattr(boottest, "kvm_usable", lambda path="/dev/kvm": True)
    fake.scenario(kvm=kvm, console=[[0, STATIC_IP]], ssh=True)
    result = boottest.BootTest(str(fake.disk), timeout=20, kvm_grace=1, poll=0.05).run()
    assert result["status"] == "PASS"
    assert result["accelerator"] == "tcg"
    assert result["accelerator_reason"] == "KVM did not work ({}), fell back to TCG".format(reason)
    accels = [c["argv"][c["argv"].index("-accel") + 1] for c in fake.calls("qemu")]
    assert accels == ["kvm", "tcg"]
    fake.assert_qemu_gone_and_disk_untouched()


def test_interrupt_stops_qemu_and_removes_the_overlay(fake):
    fake.scenario(console=[[0, STATIC_IP]], ssh=True)

    def interrupt(port):
        raise KeyboardInterrupt()
    test = boottest.BootTest(str(fake.disk), timeout=20, accel="tcg", poll=0.05, on_ready=interrupt)
    with pytest.raises(KeyboardInterrupt):
        test.run()
    overlay = [c["argv"][-1] for c in fake.calls("qemu-img") if c["argv"][0] == "create"][0]
    assert not os.path.exists(os.path.dirname(overlay))
    fake.assert_qemu_gone_and_disk_untouched()


def test_uefi_image_gets_ovmf_with_a_copy_of_the_vars(fake, monkeypatch, tmp_path):
    code, variables = tmp_path / "CODE.fd", tmp_path / "VARS.fd"
    code.write_bytes(b"code")
    variables.write_bytes(b"vars")
    monkeypatch.setattr(boottest, "OVMF_PAIRS", ((str(code), str(variables)),))
    fake.scenario(head=_gpt([disks.ESP_GUID, LINUX_FS]).hex(), console=[[0, STATIC_IP]], ssh=True)
    result = boottest.BootTest(str(fake.disk), timeout=20, accel="tcg", poll=0.05).run()
    assert (result["status"], result["firmware"]) == ("PASS", "uefi")
    argv = fake.calls("qemu")[0]["argv"]
    pflash = [a for a in argv if "if=pflash" in a]
    assert pflash[0].endswith("file=" + str(code))
    assert not pflash[1].endswith(str(variables)) and pflash[1].endswith("/OVMF_VARS.fd")
    assert variables.read_bytes() == b"vars"


def test_uefi_image_without_ovmf_is_a_usage_error(fake, capsys, monkeypatch):
    monkeypatch.setattr(boottest, "OVMF_PAIRS", (("/nonexistent/CODE.fd", "/nonexistent/VARS.fd"),))
    fake.scenario(head=_gpt([disks.ESP_GUID]).hex())
    code, _, err = run_cli(capsys, fake.disk, "--accel", "tcg")
    assert code == 2 and "apt-get install ovmf" in err and "edk2-ovmf" in err
    assert fake.calls("qemu") == []


def test_missing_qemu_names_the_packages(fake, capsys):
    os.unlink(str(fake.bin / "qemu-system-x86_64"))
    code, out, err = run_cli(capsys, fake.disk)
    assert code == 2 and out == ""
    assert "boot-test needs qemu-system-x86_64" in err
    assert "apt-get install qemu-system-x86 qemu-utils" in err and "dnf install qemu-kvm qemu-img" in err


@pytest.mark.parametrize("scenario, message", [
    ({"format": "fail"}, "qemu-img cannot read it: qemu-img: Could not open"),
    ({"format": "vdi"}, "format vdi is not one ECS imports"),
])
def test_unreadable_or_unsupported_disk_is_a_usage_error(fake, capsys, scenario, message):
    fake.scenario(**scenario)
    code, _, err = run_cli(capsys, fake.disk)
    assert code == 2 and message in err
    assert fake.calls("qemu") == []


def test_missing_disk_and_bad_timeout(fake, capsys, tmp_path):
    code, _, err = run_cli(capsys, tmp_path / "nope.qcow2")
    assert code == 2 and "no such file" in err
    code, _, err = run_cli(capsys, tmp_path)
    assert code == 2 and "is a directory" in err
    code, _, err = run_cli(capsys, fake.disk, "--timeout", "0")
    assert code == 2 and "--timeout must be positive" in err
