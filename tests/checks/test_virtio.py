import gzip
import io
import os
import shutil

import pytest

from agent.checks.virtio import Virtio
from agent.core.engine import Engine
from agent.core.journal import Journal
from agent.core.model import Refused, RunCommand, Status, WriteFile
from agent.parsers import DISABLED_PREFIX
from conftest import FakeLive, FakeRunner
from remediations import virtio as virtio_fix
from remediations.virtio import VirtioFix
from agent.output import i18n
from test_i18n import ROOTS, english_sentences, run as cli_run
from test_initramfs import BAD_IMAGES, newc

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
    # mtime=0: two images of the same files are the same bytes (gzip.compress stamps the
    # clock, and a second boundary between two calls made the rollback test flaky)
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as handle:
        handle.write(newc(files))
    return out.getvalue()


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
    # One module: "list it", not "list them" (issue 14).
    assert "list it in /etc/initramfs-tools/modules" in result.hint


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


# -- host-only initramfs (MODULES=dep, dracut hostonly) --------------------------------

INITRAMFS_CONF = "# initramfs.conf\nMODULES=dep\nBUSYBOX=auto\nCOMPRESS=zstd\n"
GENERIC_FILE = "/etc/initramfs-tools/conf.d/guestprep-ecs"


class HostOnlyRebuilder(FakeRunner):
    """Plays update-initramfs honouring MODULES: with dep (the helper machine's drivers)
    the image gets only virtio_console; with most, every driver the kernel has."""

    def __init__(self, guest, path, obey=True):
        FakeRunner.__init__(self, guest.ctx().root.path)
        self.guest, self.path, self.obey = guest, path, obey

    def run(self, argv, env=None, timeout=None, stdin_text=None, network=False):
        result = FakeRunner.run(self, argv, env, timeout, stdin_text)
        if argv[0] == "update-initramfs":
            generic = self.obey and self.guest.exists(GENERIC_FILE) and "MODULES=most" in self.guest.read(GENERIC_FILE)
            self.guest.write(self.path, image(VER, ALL if generic else ("virtio_console",)))
        return result


def vmware_debian(guest):
    debian(guest)
    guest.mkdir("/etc/initramfs-tools/conf.d")
    guest.write("/etc/initramfs-tools/initramfs.conf", INITRAMFS_CONF)
    return kernel(guest, modules=("virtio_console",))


def test_modules_dep_is_named_in_the_failure_and_the_rebuild_is_made_generic_first(guest):
    path = vmware_debian(guest)
    original = image(VER, ("virtio_console",))
    runner = HostOnlyRebuilder(guest, path)
    ctx = guest.ctx(runner=runner)
    result = Virtio().run(ctx)
    assert result.status == Status.FAIL
    assert result.summary.endswith("the initramfs is built host-only (MODULES=dep in "
                                   "/etc/initramfs-tools/initramfs.conf line 2): a rebuild on this machine puts "
                                   "in its own drivers only, not ECS's virtio and NVMe")
    assert "MODULES=most in a file of /etc/initramfs-tools/conf.d/" in result.hint
    steps = VirtioFix().plan(ctx, result)
    assert [type(s).__name__ for s in steps] == ["WriteFile", "WriteFile", "RunCommand"]
    assert steps[1].path == GENERIC_FILE and steps[1].content.endswith(b"\nMODULES=most\n")
    assert steps[1].why.startswith("MODULES=dep (/etc/initramfs-tools/initramfs.conf line 2) would build")
    engine = Engine([Virtio], [VirtioFix])
    journal, outcomes = engine.apply(ctx, engine.plan(ctx, engine.checks, [result]), guest.state())
    assert [(o.check_id, o.outcome) for o in outcomes] == [("virtio", "FIXED")], outcomes
    assert engine.run_checks(ctx)[0].status == Status.PASS
    Journal.load(guest.state(), journal.run_id).rollback(ctx)
    assert not guest.exists(GENERIC_FILE)
    assert guest.read("/etc/initramfs-tools/modules") == MODULES_FILE
    with open(guest.host(path), "rb") as handle:
        assert handle.read() == original


def test_a_rebuilt_image_without_the_drivers_fails_the_fix_and_rolls_it_back(guest):
    path = vmware_debian(guest)
    original = image(VER, ("virtio_console",))
    ctx = guest.ctx(runner=HostOnlyRebuilder(guest, path, obey=False))
    engine = Engine([Virtio], [VirtioFix])
    _journal, outcomes = engine.apply(ctx, engine.plan(ctx, engine.checks, engine.run_checks(ctx)), guest.state())
    assert [(o.check_id, o.outcome) for o in outcomes] == [("virtio", "ROLLED BACK")]
    assert ("kernel {}: {} still lacks virtio_blk, virtio_net, virtio_pci, virtio_scsi after the rebuild"
            .format(VER, path)) in outcomes[0].message
    # A Message, each kernel's problem its own, so that a report in ja or zh_CN translates it
    # (the catalogues are checked by tests/test_i18n.py; this root is a fake filesystem).
    problem = outcomes[0].message.args["error"].args["part0"]
    assert problem.template == "kernel {version}: {path} still lacks {modules} after the rebuild"
    assert not guest.exists(GENERIC_FILE)
    assert guest.read("/etc/initramfs-tools/modules") == MODULES_FILE
    with open(guest.host(path), "rb") as handle:
        assert handle.read() == original


def test_drivers_present_but_modules_dep_warns_and_the_fix_only_writes_the_setting(guest):
    debian(guest)
    guest.mkdir("/etc/initramfs-tools/conf.d")
    guest.write("/etc/initramfs-tools/initramfs.conf", "MODULES=most\n")
    guest.write("/etc/initramfs-tools/conf.d/vmware", "MODULES=dep\n")
    kernel(guest)
    ctx = guest.ctx()
    result = Virtio().run(ctx)
    assert result.status == Status.WARN
    assert result.summary == ("the initramfs is built host-only (MODULES=dep in /etc/initramfs-tools/conf.d/vmware "
                              "line 1): a rebuild on this machine puts in its own drivers only, not ECS's virtio "
                              "and NVMe")
    assert "next initramfs rebuild before the import" in result.hint
    steps = VirtioFix().plan(ctx, result)
    assert [(type(s).__name__, s.path) for s in steps][:1] == [("WriteFile", GENERIC_FILE)]
    # A file read after ours would win: its assignment is commented out too.
    guest.write("/etc/initramfs-tools/conf.d/zz-vmware", "# tuned for VMware\nMODULES=dep\n")
    ctx = guest.ctx()
    steps = VirtioFix().plan(ctx, Virtio().run(ctx))
    assert [(type(s).__name__, s.path) for s in steps] == [
        ("WriteFile", GENERIC_FILE), ("WriteFile", "/etc/initramfs-tools/conf.d/vmware"),
        ("WriteFile", "/etc/initramfs-tools/conf.d/zz-vmware")]
    assert steps[2].content == ("# tuned for VMware\n" + DISABLED_PREFIX + "MODULES=dep\n").encode()
    engine = Engine([Virtio], [VirtioFix])
    _journal, outcomes = engine.apply(ctx, engine.plan(ctx, engine.checks, engine.run_checks(ctx)), guest.state())
    assert [o.outcome for o in outcomes] == ["FIXED"]
    assert Virtio().run(guest.ctx()).status == Status.PASS


def test_dracut_hostonly_from_the_distribution_passes_when_drivers_are_there_and_is_turned_off_for_a_rebuild(guest):
    rhel(guest)
    guest.write("/usr/lib/dracut/dracut.conf.d/01-dist.conf", 'hostonly="yes"\nhostonly_cmdline="no"\n')
    version = "5.14.0-362.el9.x86_64"
    kernel(guest, version, family="rhel")
    assert run(guest).status == Status.PASS
    guest.write("/etc/dracut.conf.d/vmware.conf", "hostonly=yes\n")
    result = run(guest)
    assert result.status == Status.WARN and "hostonly=\"yes\" in /etc/dracut.conf.d/vmware.conf line 1" \
        in result.summary
    guest.write("/etc/dracut.conf.d/vmware.conf", "# nothing\n")
    guest.mkdir("/etc/dracut.conf.d") if not guest.exists("/etc/dracut.conf.d") else None
    path = kernel(guest, version, family="rhel", modules=("virtio_console",))
    ctx = guest.ctx()
    result = Virtio().run(ctx)
    assert "hostonly=\"yes\" in /usr/lib/dracut/dracut.conf.d/01-dist.conf line 1" in result.summary
    steps = VirtioFix().plan(ctx, result)
    assert [s.path if isinstance(s, WriteFile) else s.argv[0] for s in steps] == [
        "/etc/dracut.conf.d/guestprep-virtio.conf", "/etc/dracut.conf.d/guestprep-ecs.conf", "dracut"]
    assert steps[1].content.endswith(b'\nhostonly="no"\n')
    assert steps[2].modifies == (path,)


def test_virtio_and_nvme_write_the_generic_setting_once(guest):
    from agent.checks.nvme import Nvme
    from remediations.nvme import NvmeFix
    debian(guest)
    guest.mkdir("/etc/initramfs-tools/conf.d")
    guest.write("/etc/initramfs-tools/initramfs.conf", INITRAMFS_CONF)
    config = CONFIG + "CONFIG_BLK_DEV_NVME=m\nCONFIG_NVME_CORE=m\n"
    dep = "".join("kernel/drivers/{}: \n".format(p) for p in PATHS.values())
    guest.write("/lib/modules/{}/modules.builtin".format(VER), "")
    path = kernel(guest, modules=("virtio_console",), config=config, dep=dep)
    guest.write("/lib/modules/{}/modules.builtin".format(VER), "")
    runner = HostOnlyRebuilder(guest, path)
    ctx = guest.ctx(runner=runner)
    engine = Engine([Virtio, Nvme], [VirtioFix, NvmeFix])
    results = engine.run_checks(ctx)
    plans = engine.plan(ctx, engine.checks, results)
    assert all(any(getattr(s, "path", "") == GENERIC_FILE for s in p.steps) for p in plans)
    engine.apply(ctx, plans, guest.state())
    text = guest.read(GENERIC_FILE)
    assert text.count("MODULES=most") == 1
    assert runner.calls.count(("update-initramfs", "-u", "-k", "all")) == 1


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
@pytest.mark.parametrize("data, english", BAD_IMAGES)
def test_a_damaged_initramfs_is_reported_without_english(data, english, lang, tmp_path, capsys, monkeypatch):
    """Why the image cannot be read is part of the finding: in Japanese and Chinese too (issue 15)."""
    root = str(tmp_path / "debian12")
    shutil.copytree(os.path.join(ROOTS, "debian12"), root, symlinks=True)
    with open(os.path.join(root, "boot/initrd.img-6.1.0-18-amd64"), "wb") as handle:
        handle.write(data)
    try:
        _code, out = cli_run(["--lang", lang, "check", "--root", root, "--items", "virtio"], capsys, {}, monkeypatch)
    finally:
        i18n.set_language(i18n.ENGLISH)
    assert "initrd.img-6.1.0-18-amd64" in out and "FAIL" in out
    # the report wraps lines: look for the reader's English in the text unwrapped too
    assert english not in " ".join(line.strip() for line in out.splitlines())
    left = [english for english, _line in english_sentences(out)]
    assert not left, out
