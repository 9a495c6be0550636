"""GUESTOS.SupportMocInstanceTypes: the image can run on current (SHENLONG) instance families.

Seed 003: most current instance types (ecs.g6, ecs.g7 ...) are built on the SHENLONG
(X-Dragon) architecture, and an image whose OS or kernel version does not meet their
requirements misbehaves on them. Those instances attach the system disk and NIC as
virtio devices, and some families (g7se and later) attach disks over NVMe only. So
guestprep asks: is the OS at least the release the catalogue names (CentOS/RHEL 5.11;
seed 000's floors for the others), is the default kernel new enough for virtio (2.6.24,
where virtio_blk/virtio_net/virtio_pci were merged), and does it ship those drivers and
nvme? Driver availability is computed here from /boot/config-<ver> or modules.builtin and
modules.dep; whether each initramfs holds them is the GUESTOS.Virtio and GUESTOS.Nvme
checks' job.
"""
from agent.core.model import Check, Message, Status
from agent.facts import boot, kernels, osinfo, versions

OS_FLOORS = {"centos": (5, 11), "rhel": (5, 11)}
KERNEL_FLOOR = (2, 6, 24)
VIRTIO = (("virtio_blk", "CONFIG_VIRTIO_BLK"), ("virtio_net", "CONFIG_VIRTIO_NET"),
          ("virtio_pci", "CONFIG_VIRTIO_PCI"))
NVME = ("nvme", "CONFIG_BLK_DEV_NVME")


class MocInstanceTypes(Check):
    id = "moc_instance_types"
    title = "ready for SHENLONG instance families"
    item = "GUESTOS.SupportMocInstanceTypes"
    repair_item = ""
    refs = ("000", "003")

    def run(self, ctx):
        problems, warnings, notes = [], [], []   # problems and warnings: (code, text, refs)
        info = ctx.os
        floor = OS_FLOORS.get(info.id)
        if floor and not osinfo.is_centos_stream(info) and info.version and not versions.at_least(info.version, floor):
            problems.append(("os-too-old", Message("{id} {version} is older than {floor}", id=info.id,
                                                   version=info.version, floor="{}.{}".format(*floor)), ()))
        elif osinfo.version_listing(info)[0] in osinfo.UNLISTED:
            warnings.append(("os-unlisted", Message("the OS version is not one seed 000 lists"), ("000",)))
        kernel = boot.default_kernel(ctx)["version"]
        data = {"kernel": kernel}
        if kernel is None:
            warnings.append(("no-kernel", Message("no kernel in /boot to judge"), ()))
        else:
            if versions.numeric_version(kernel) and not versions.at_least(kernel, KERNEL_FLOOR):
                problems.append(("kernel-too-old", Message("kernel {kernel} is older than 2.6.24 (no virtio drivers)",
                                                           kernel=kernel), ()))
            missing, unknown = [], []
            for module, key in VIRTIO:
                have = kernels.has_kernel_feature(ctx, kernel, module, key)
                (missing if have is False else unknown if have is None else []).append(module)
            nvme = kernels.has_kernel_feature(ctx, kernel, *NVME)
            data.update(virtio_missing=missing, nvme=nvme)
            if missing:
                problems.append(("no-virtio", Message("kernel {kernel} has no {modules}", kernel=kernel,
                                                      modules=", ".join(missing)), ()))
            if unknown:
                warnings.append(("virtio-unknown", Message(
                    "kernel {kernel}: no config or module list to tell whether it has {modules}", kernel=kernel,
                    modules=", ".join(unknown)), ()))
            if nvme is False:
                warnings.append(("no-nvme", Message("kernel {kernel} has no nvme driver: NVMe-only families (g7se and "
                                                    "later) will not boot it", kernel=kernel), ()))
            elif nvme:
                notes.append("nvme available")
        if problems:
            # The hint cites seed 000 for every finding.
            findings = [self.finding(Status.FAIL, code, text, refs=("000",)) for code, text, _refs in problems]
            findings += [self.finding(Status.WARN, code, text, refs=("000",)) for code, text, _refs in warnings]
            return self.results(findings, Message(
                "Current instance families need virtio drivers (seed 000: install them, \"Install the virtio "
                "driver\") and a supported OS release; upgrade the OS or build the drivers before capturing."),
                data=data)
        if warnings:
            return self.results([self.finding(Status.WARN, code, text, refs=refs) for code, text, refs in warnings],
                                Message("Check the kernel configuration (grep -E 'VIRTIO_(BLK|NET|PCI)|BLK_DEV_NVME' "
                                        "/boot/config-$(uname -r)) and the GUESTOS.Virtio and GUESTOS.Nvme results."),
                                data=data)
        if notes:
            text = Message("{id} {version}, kernel {kernel}: virtio_blk, virtio_net, virtio_pci, nvme available "
                           "(initramfs contents: see GUESTOS.Virtio/GUESTOS.Nvme)", id=info.id,
                           version=info.version, kernel=kernel)
        else:
            text = Message("{id} {version}, kernel {kernel}: virtio_blk, virtio_net, virtio_pci available "
                           "(initramfs contents: see GUESTOS.Virtio/GUESTOS.Nvme)", id=info.id,
                           version=info.version, kernel=kernel)
        return self.passed(text, data=data, code="ready")
