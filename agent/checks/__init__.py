"""The read-only checks: one module per check, named by its id, registered here in order.

Order is the order of the report: what stops the image booting first, then what stops it
being managed. Never import remediations from here: checking loads no code that writes.
"""
from agent.checks import cloudinit, dhcp, fstab, growpart, qemu_ga, rtc, selinux, shadow
from agent.checks import architecture, boot_mode, grub, kernel_version, moc_instance_types
from agent.checks import os_version, platform, system_image
from agent.checks import nvme, virtio
from agent.checks import cloud_assistant, critical_files, data_disks_mounted, firewall, free_space
from agent.checks import fw_cfg, hypervisor_tools, lvm_devices, nic, root_account, security_center_agent, ssh
from agent.checks import seal

CHECKS = (
    fstab.Fstab,
    grub.Grub,
    virtio.Virtio,
    nvme.Nvme,
    system_image.SystemImage,
    critical_files.CriticalFiles,
    data_disks_mounted.DataDisksMounted,
    lvm_devices.LvmDevices,
    selinux.Selinux,
    dhcp.Dhcp,
    qemu_ga.QemuGa,
    hypervisor_tools.HypervisorTools,
    shadow.Shadow,
    root_account.RootAccount,
    fw_cfg.FwCfg,
    ssh.Ssh,
    firewall.Firewall,
    nic.Nic,
    free_space.FreeSpace,
    cloudinit.CloudInit,
    growpart.Growpart,
    rtc.Rtc,
    cloud_assistant.CloudAssistant,
    security_center_agent.SecurityCenterAgent,
    kernel_version.KernelVersion,
    boot_mode.BootMode,
    architecture.Architecture,
    platform.Platform,
    os_version.OsVersion,
    moc_instance_types.MocInstanceTypes,
    seal.Seal,
)
