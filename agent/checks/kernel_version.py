"""GUESTOS.KernelVersion: the kernel the image boots is the one that runs now.

Seed 002 (custom image from a snapshot): do not upgrade the kernel or the OS before
capturing. A kernel installed but not yet booted is untested on this system: its
initramfs may lack the virtio or NVMe drivers ECS needs, and the instance fails on its
first boot, far from the console of the machine that built it. guestprep compares the
running kernel (live) with the default boot entry (GRUB's default, the newest BLS entry,
or the newest kernel in /boot) and reports both; the image check tags the image with the
kernel version it finds (seed 003).
"""
from agent.core.model import Check, Message, Status
from agent.facts import boot, kernels


class KernelVersion(Check):
    id = "kernel_version"
    title = "default boot kernel is the running kernel"
    item = "GUESTOS.KernelVersion"
    repair_item = ""
    refs = ("002", "003")

    def run(self, ctx):
        default = boot.default_kernel(ctx)
        version, how = default["version"], default["how"]
        running = kernels.running_kernel(ctx)
        installed = kernels.installed_kernels(ctx)
        data = {"default": version, "running": running, "installed": installed, "how": how}
        if version is None:
            return self.result(Status.WARN, Message("no kernel found in /boot, so no boot kernel can be named"),
                               Message("Install the distribution's kernel package before capturing; an image "
                                       "without a kernel does not boot."), paths=["/boot"], data=data,
                               code="no-kernel")
        others = [k for k in installed if k != version]
        also = Message(" (also installed: {kernels})", kernels=", ".join(others)) if others else ""
        if running is None:
            return self.result(Status.INFO, Message(
                "default boot kernel {kernel}, from {how}{also}; the running kernel is not known for a mounted "
                "image", kernel=version, how=how, also=also), data=data, code="offline")
        if running != version:
            return self.result(
                Status.WARN, Message("running kernel {running}, but the image boots {kernel} by default ({how})",
                                     running=running, kernel=version, how=how),
                Message("Seed 002: do not upgrade the kernel before capturing. Reboot into {kernel} and check again, "
                        "so the kernel the image boots has been seen to work here (and its initramfs holds the "
                        "virtio and NVMe drivers), or make {running} the default again.", kernel=version,
                        running=running),
                commands=[ctx.in_guest("grubby --set-default /boot/vmlinuz-" + running)
                          if ctx.os.family == "rhel" else "reboot"], data=data, code="not-running", refs=("002",))
        return self.passed(Message("running kernel {running} is the default boot kernel ({how}){also}",
                                   running=running, how=how, also=also), data=data, code="running")
