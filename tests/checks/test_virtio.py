import gzip

import pytest

from agent.checks.virtio import Virtio
from agent.engine import Engine
from agent.journal import Journal
from agent.model import Refused, RunCommand, Status, WriteFile
from conftest import FakeLive, FakeRunner
from remediations import virtio as virtio_fix
from remediations.virtio import VirtioFix
from test_initramfs import newc

VER = "6.1.0-50-cloud-amd64"
OLD = "5.10.0-28-cloud-amd64"
ALL = ("virtio_blk", "virtio_pci", "virtio_net", "virtio_scsi", "virtio_console")
CONFIG = "CONFIG_VIRTIO=m\nCONFIG_VIRTIO_PCI=m\nCONFIG_VIRTIO_BLK=m\nCONFIG_VIRTIO_NET=m\n" \
         "CONFIG_SCSI_VIRTIO=m\nCONFIG_VIRTIO_CONSOLE=m\n# CONFIG_VIRTIO_MEM is not set\n"
PATHS = {"virtio_blk": "block/virtio_blk.ko", "virtio_net": "net/virtio_net.ko",
         "virtio_pci": "virtio/virtio_pci.ko", "virtio_scsi": "scsi/virtio_scsi.ko",
         "virtio_console": "char/virtio_console.ko", "nvme": "nvme/host/nvme.ko",
         "nvme_core": "nvme/host/nvme-core.ko"}
MODULES_FILE = "# List of modules that you want to include in your initramfs.\n#\n# raid1\n# sd_mod\n"


def image(version, modules):
    files = [(".", b""), ("init", b"#!/bin/sh\n")]
    files += [("usr/lib/modules/{}/kernel/drivers/{}".format(version, PATHS[m]), b"\x7fELF" + m.encode())
              for m in modules]
    return gzip.compress(newc(files))


def kernel(guest, version=VER, modules=ALL, family="debian", config=CONFIG, initramfs=True, dep=None):
    guest.write("/boot/vmlinuz-" + version, b"\x4d\x5a kernel")
    guest.write("/boot/config-" + version, config)
    guest.write("/lib/modules/{}/modules.builtin".format(version), "kernel/drivers/nvme/host/nvme.ko\n")
    dep = dep if dep is not None else "".join("kernel/drivers/{}: \n".format(PATHS[m]) for m in ALL)
    guest.write("/lib/modules/{}/modules.dep".format(version), dep)
    path = {"debian": "/boot/initrd.img-", "rhel": "/boot/initramfs-{}.img", "suse": "/boot/initrd-"}[family]
    path = path.format(version) if "{}" in path else path + version
    if initramfs:
        guest.write(path, image(version, modules))
    return path


def debian(guest):
    guest.os_release("debian", "12")
    guest.write("/usr/sbin/update-initramfs", "#!/bin/sh\n", mode=0o755)
    guest.write("/usr/sbin/mkinitramfs", "#!/bin/sh\n", mode=0o755)
    guest.write("/etc/initramfs-tools/modules", MODULES_FILE)


def rhel(guest):
    guest.os_release("rocky", "9.3", like="rhel centos fedora")
    guest.write("/usr/bin/dracut", "#!/bin/bash\n", mode=0o755)


class Rebuilder(FakeRunner):
    """Plays update-initramfs/dracut: writes an image with every module the config lists."""

    def __init__(self, guest, path, version=VER):
        FakeRunner.__init__(self, guest.ctx().root.path)
        self.guest, self.path, self.version = guest, path, version

    def run(self, argv, env=None, timeout=None, stdin_text=None, network=False):
        result = FakeRunner.run(self, argv, env, timeout, stdin_text)
        if argv[0] in ("update-initramfs", "dracut"):
            self.guest.write(self.path, image(self.version, ALL))
        return result


@pytest.fixture(autouse=True)
def plenty_of_space(monkeypatch):
    monkeypatch.setattr(virtio_fix, "_free_bytes", lambda ctx, path: (10 << 30, 1))


def run(guest, **kw):
    return Virtio().run(guest.ctx(**kw))


def test_every_driver_in_the_initramfs_passes(guest):
    debian(guest)
    kernel(guest)
    result = run(guest)
    assert result.status == Status.PASS, result.summary
    assert VER in result.summary


def test_missing_drivers_fail_naming_kernel_and_modules(guest):
    debian(guest)
    kernel(guest, modules=("virtio_pci", "virtio_console"))
    result = run(guest)
    assert result.status == Status.FAIL
    assert result.summary == ("kernel {v}: virtio_blk, virtio_net, virtio_scsi neither built in nor in "
                              "/boot/initrd.img-{v}".format(v=VER))
    assert result.paths == ("/boot/initrd.img-" + VER,)
    assert result.hint and result.commands[-1].endswith("update-initramfs -u -k all")
    assert result.hint.startswith("Without these drivers the instance may not find its disk or NIC at boot: "
                                  "list them in /etc/initramfs-tools/modules")
    assert "To add the drivers, add them" not in result.hint


def test_built_in_drivers_need_no_initramfs(guest):
    debian(guest)
    config = CONFIG.replace("=m", "=y")
    kernel(guest, config=config, initramfs=False)
    assert run(guest).status == Status.PASS


def test_modules_builtin_counts_as_built_in(guest):
    debian(guest)
    kernel(guest, modules=("virtio_console",))
    guest.write("/lib/modules/{}/modules.builtin".format(VER),
                "kernel/drivers/virtio/virtio.ko\nkernel/drivers/virtio/virtio_pci.ko\n"
                "kernel/drivers/block/virtio_blk.ko\nkernel/drivers/net/virtio_net.ko\n"
                "kernel/drivers/scsi/virtio_scsi.ko\n")
    assert run(guest).status == Status.PASS


def test_every_installed_kernel_is_checked_not_only_the_running_one(guest):
    debian(guest)
    kernel(guest, VER)
    kernel(guest, OLD, modules=("virtio_console",))
    guest.write("/proc/sys/kernel/osrelease", VER + "\n")
    result = run(guest, live=FakeLive())
    assert result.status == Status.FAIL
    assert result.summary.startswith("kernel {}: virtio_blk".format(OLD))
    assert VER not in result.summary
    rows = dict((r["version"], r) for r in result.data["kernels"])
    assert rows[OLD]["add"] == ["virtio_blk", "virtio_net", "virtio_pci", "virtio_scsi"]
    assert rows[VER]["add"] == []


def test_a_leftover_modules_directory_without_a_kernel_is_ignored(guest):
    debian(guest)
    kernel(guest)
    guest.write("/lib/modules/4.19.0-old/extra/dkms.ko", b"x")
    assert run(guest).status == Status.PASS


def test_kernel_without_initramfs_fails_clearly(guest):
    debian(guest)
    kernel(guest, initramfs=False)
    result = run(guest)
    assert result.status == Status.FAIL
    assert "no initramfs (expected /boot/initrd.img-{})".format(VER) in result.summary


def test_garbage_initramfs_fails_clearly_and_other_kernels_still_count(guest):
    debian(guest)
    kernel(guest, VER)
    kernel(guest, OLD, modules=("virtio_console",))
    guest.write("/boot/initrd.img-" + VER, b"\x00\x01 not an image at all \xff" * 50)
    result = run(guest)
    assert result.status == Status.FAIL
    assert "cannot read /boot/initrd.img-{}: not an initramfs".format(VER) in result.summary
    assert "kernel {}: virtio_blk".format(OLD) in result.summary


def test_a_directory_where_the_image_should_be(guest):
    debian(guest)
    kernel(guest, initramfs=False)
    guest.mkdir("/boot/initrd.img-" + VER)
    result = Engine([Virtio]).run_check(guest.ctx(), Virtio())
    assert result.status == Status.FAIL
    assert "not a regular file" in result.summary


def test_only_virtio_console_missing_warns(guest):
    debian(guest)
    kernel(guest, modules=ALL[:4])
    result = run(guest)
    assert result.status == Status.WARN
    assert "virtio_console" in result.summary and result.hint


def test_a_kernel_without_the_module_at_all_says_so(guest):
    debian(guest)
    kernel(guest, modules=("virtio_pci", "virtio_net", "virtio_scsi", "virtio_console"),
           dep="kernel/drivers/virtio/virtio_pci.ko:\n")
    result = run(guest)
    assert result.status == Status.FAIL
    assert "the kernel has no virtio_blk module at all" in result.summary
    assert result.data["kernels"][0]["add"] == []
    assert VirtioFix().plan(guest.ctx(), result) == []


def test_no_kernel_warns(guest):
    debian(guest)
    result = run(guest)
    assert result.status == Status.WARN
    assert "no installed kernel" in result.summary


def test_fix_on_debian_appends_modules_rebuilds_and_rolls_back(guest):
    debian(guest)
    path = kernel(guest, modules=("virtio_console",))
    original = image(VER, ("virtio_console",))
    runner = Rebuilder(guest, path)
    ctx = guest.ctx(runner=runner)
    result = Virtio().run(ctx)
    steps = VirtioFix().plan(ctx, result)
    assert steps[0] == WriteFile(
        "/etc/initramfs-tools/modules",
        (MODULES_FILE + "# Added by guestprep: virtio drivers (GUESTOS.Virtio) for Alibaba Cloud ECS\n"
         "virtio_blk\nvirtio_net\nvirtio_pci\nvirtio_scsi\n").encode(), mode=0o644,
        why="load virtio_blk, virtio_net, virtio_pci, virtio_scsi from the initramfs")
    assert steps[1] == RunCommand(("update-initramfs", "-u", "-k", "all"), why="rebuild every initramfs",
                                  modifies=(path, "/var/lib/initramfs-tools/" + VER), run_last=True)
    assert len(steps) == 2
    engine = Engine([Virtio], [VirtioFix])
    plans = engine.plan(ctx, engine.checks, [result])
    journal, outcomes = engine.apply(ctx, plans, guest.state())
    assert [(o.check_id, o.outcome) for o in outcomes] == [("virtio", "FIXED")]
    assert runner.calls == [("update-initramfs", "-u", "-k", "all")]
    assert engine.plan(ctx, engine.checks, engine.run_checks(ctx)) == []
    Journal.load(guest.state(), journal.run_id).rollback(ctx)
    assert guest.read("/etc/initramfs-tools/modules") == MODULES_FILE
    with open(guest.host(path), "rb") as handle:
        assert handle.read() == original


def test_fix_on_rhel_writes_a_dracut_conf_and_rebuilds_each_kernel(guest):
    rhel(guest)
    path = kernel(guest, "5.14.0-362.el9.x86_64", family="rhel", modules=("virtio_console",))
    ctx = guest.ctx()
    steps = VirtioFix().plan(ctx, Virtio().run(ctx))
    assert steps == [
        WriteFile("/etc/dracut.conf.d/guestprep-virtio.conf",
                  b'# Added by guestprep: virtio drivers (GUESTOS.Virtio) for Alibaba Cloud ECS\n'
                  b'add_drivers+=" virtio_blk virtio_net virtio_pci virtio_scsi "\n', mode=0o644,
                  why="put virtio_blk, virtio_net, virtio_pci, virtio_scsi into every initramfs dracut builds"),
        RunCommand(("dracut", "-f", path, "5.14.0-362.el9.x86_64"),
                   why="rebuild the initramfs of 5.14.0-362.el9.x86_64", modifies=(path,), run_last=True)]


def test_fix_refuses_without_space_in_boot(guest, monkeypatch):
    debian(guest)
    kernel(guest, modules=())
    monkeypatch.setattr(virtio_fix, "_free_bytes", lambda ctx, path: (100, 1))
    ctx = guest.ctx()
    with pytest.raises(Refused, match="/boot has 0 MiB free"):
        VirtioFix().plan(ctx, Virtio().run(ctx))
    engine = Engine([Virtio], [VirtioFix])
    plans = engine.plan(ctx, engine.checks, engine.run_checks(ctx))
    assert plans[0].steps == [] and "/boot has 0 MiB free" in plans[0].skipped


def test_fix_refuses_without_an_initramfs_tool(guest):
    guest.os_release("debian", "12")
    kernel(guest, modules=())
    ctx = guest.ctx()
    with pytest.raises(Refused, match="neither initramfs-tools nor dracut"):
        VirtioFix().plan(ctx, Virtio().run(ctx))


def test_modules_already_listed_are_not_added_again(guest):
    debian(guest)
    kernel(guest, modules=("virtio_console",))
    guest.write("/etc/initramfs-tools/modules", MODULES_FILE + "virtio-blk\nvirtio_net\n")
    ctx = guest.ctx()
    steps = VirtioFix().plan(ctx, Virtio().run(ctx))
    assert steps[0].content.decode().endswith("ECS\nvirtio_pci\nvirtio_scsi\n")
