"""The read-only checks: one module per check, named by its id, registered here in order.

Order is the order of the report: what stops the image booting first, then what stops it
being managed. Never import remediations from here: checking loads no code that writes.
"""
from agent.checks import cloudinit, dhcp, fstab, growpart, qemu_ga, rtc, selinux, shadow

CHECKS = (
    fstab.Fstab,
    selinux.Selinux,
    dhcp.Dhcp,
    qemu_ga.QemuGa,
    shadow.Shadow,
    cloudinit.CloudInit,
    growpart.Growpart,
    rtc.Rtc,
)
