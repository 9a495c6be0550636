"""The fixes: one module per check it repairs, with the same name and id. Registered here."""
from remediations import cloudinit, dhcp, fstab, growpart, qemu_ga, rtc, selinux, shadow
from remediations import grub, hypervisor_tools
from remediations import nvme, virtio
from remediations import cloud_assistant, critical_files, data_disks_mounted, firewall
from remediations import lvm_devices, seal

REMEDIATIONS = (
    fstab.FstabFix,
    grub.GrubFix,
    virtio.VirtioFix,
    nvme.NvmeFix,
    selinux.SelinuxFix,
    dhcp.DhcpFix,
    qemu_ga.QemuGaFix,
    hypervisor_tools.HypervisorToolsFix,
    shadow.ShadowFix,
    cloudinit.CloudInitFix,
    growpart.GrowpartFix,
    rtc.RtcFix,
    critical_files.CriticalFilesFix,
    data_disks_mounted.DataDisksMountedFix,
    lvm_devices.LvmDevicesFix,
    firewall.FirewallFix,
    cloud_assistant.CloudAssistantFix,
    seal.SealFix,
)
