from agent.checks.fw_cfg import FwCfg
from agent.core.engine import Engine
from agent.core.model import Status

OLD = "3.10.0-693.el7.x86_64"
NEW = "5.14.0-362.8.1.el9_3.x86_64"


def kernel(guest, version, line):
    guest.write("/boot/vmlinuz-" + version, "")
    guest.write("/boot/config-" + version, "# excerpt\nCONFIG_VIRTIO_PCI=y\n" + line + "\n")


def run(guest):
    return Engine([FwCfg]).run_check(guest.ctx(), FwCfg())


def test_debian_x86_is_skipped_with_the_reason(guest):
    guest.os_release("debian", "12")
    result = run(guest)
    assert result.status == Status.SKIP
    assert "ARM64, CentOS Stream, Anolis, AlmaLinux and Rocky" in result.summary


def test_alma_with_it_built_in_or_module_passes(guest):
    guest.os_release("almalinux", "9.3", "rhel centos fedora")
    kernel(guest, NEW, "CONFIG_FW_CFG_SYSFS=y")
    assert run(guest).status == Status.PASS
    kernel(guest, NEW, "CONFIG_FW_CFG_SYSFS=m")
    assert run(guest).status == Status.PASS


def test_rocky_without_it_fails(guest):
    guest.os_release("rocky", "8.9", "rhel centos fedora")
    kernel(guest, NEW, "# CONFIG_FW_CFG_SYSFS is not set")
    result = run(guest)
    assert result.status == Status.FAIL
    assert NEW in result.summary and result.hint and result.commands


def test_old_non_default_kernel_only_warns(guest):
    guest.write("/etc/os-release", 'NAME="CentOS Stream"\nID="centos"\nVERSION_ID="9"\nPRETTY_NAME="CentOS Stream 9"\n')
    kernel(guest, OLD, "# CONFIG_FW_CFG_SYSFS is not set")
    kernel(guest, NEW, "CONFIG_FW_CFG_SYSFS=y")
    result = run(guest)
    assert result.status == Status.WARN
    assert OLD in result.summary


def test_no_config_falls_back_to_modules_list(guest):
    guest.os_release("anolis", "8.8", "rhel fedora centos")
    guest.write("/boot/vmlinuz-" + NEW, "")
    guest.write("/lib/modules/{}/modules.builtin".format(NEW), "kernel/drivers/firmware/qemu_fw_cfg.ko\n")
    assert run(guest).status == Status.PASS


def test_unknown_kernel_warns_and_no_kernel_warns(guest):
    guest.os_release("rocky", "9.3", "rhel")
    assert run(guest).status == Status.WARN
    guest.write("/boot/vmlinuz-" + NEW, "")
    result = run(guest)
    assert result.status == Status.WARN and "no /boot/config" in result.summary


def test_binary_config_does_not_raise(guest):
    guest.os_release("rocky", "9.3", "rhel")
    guest.write("/boot/vmlinuz-" + NEW, "")
    guest.write("/boot/config-" + NEW, b"\x00\x01")
    assert run(guest).status in (Status.WARN, Status.ERROR)
