"""GUESTOS.KernelVersion: the kernel the image boots is the one that runs now.

Seed 002 (custom image from a snapshot): do not upgrade the kernel or the OS before
capturing. A kernel installed but not yet booted is untested on this system: its
initramfs may lack the virtio or NVMe drivers ECS needs, and the instance fails on its
first boot, far from the console of the machine that built it. guestprep compares the
running kernel (live) with the default boot entry (GRUB's default, the newest BLS entry,
or the newest kernel in /boot) and reports both; the image check tags the image with the
kernel version it finds (seed 003).
"""
from agent.facts import boot, kernels
from agent.core.model import Check, Status


class KernelVersion(Check):
    id = "kernel_version"
    title = "default boot kernel is the running kernel"
    item = "GUESTOS.KernelVersion"
    repair_item = ""

    def run(self, ctx):
        default = boot.default_kernel(ctx)
        version, how = default["version"], default["how"]
        running = kernels.running_kernel(ctx)
        installed = kernels.installed_kernels(ctx)
        data = {"default": version, "running": running, "installed": installed, "how": how}
        if version is None:
            return self.result(Status.WARN, "no kernel found in /boot, so no boot kernel can be named",
                               "Install the distribution's kernel package before capturing; an image without "
                               "a kernel does not boot.", paths=["/boot"], data=data)
        others = [k for k in installed if k != version]
        also = " (also installed: {})".format(", ".join(others)) if others else ""
        if running is None:
            return self.result(Status.INFO, "default boot kernel {}, from {}{}; the running kernel is not known "
                               "for a mounted image".format(version, how, also), data=data)
        if running != version:
            return self.result(
                Status.WARN, "running kernel {}, but the image boots {} by default ({})".format(running, version, how),
                "Seed 002: do not upgrade the kernel before capturing. Reboot into {v} and check again, so the "
                "kernel the image boots has been seen to work here (and its initramfs holds the virtio and NVMe "
                "drivers), or make {r} the default again.".format(v=version, r=running),
                commands=[ctx.in_guest("grubby --set-default /boot/vmlinuz-" + running)
                          if ctx.os.family == "rhel" else "reboot"], data=data)
        return self.passed("running kernel {} is the default boot kernel ({}){}".format(running, how, also), data=data)
