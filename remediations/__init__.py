"""The fixes: one module per check it repairs, with the same name and id. Registered here."""
from remediations import cloudinit, dhcp, fstab, growpart, qemu_ga, rtc, selinux, shadow

REMEDIATIONS = (
    fstab.FstabFix,
    selinux.SelinuxFix,
    dhcp.DhcpFix,
    qemu_ga.QemuGaFix,
    shadow.ShadowFix,
    cloudinit.CloudInitFix,
    growpart.GrowpartFix,
    rtc.RtcFix,
)
