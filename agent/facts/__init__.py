"""The facts layer: the only place that knows how to read a thing about the guest.

Each module reads one kind of fact once per run (cached on the context through
`ctx.fact(name, compute)`); checks, remediations and the advice ask it and never read the
same thing their own way. Importing this package imports nothing else: a caller imports
the module it needs (startup time matters on a small VM).

  accounts         /etc/passwd entries and the state of each /etc/shadow password
  boot             boot configuration and kernel command lines: every loader, every target;
                   the default kernel, the GRUB tools, the boot mode
  cloudinit        cloud-init's version, merged cloud-config, masked units, seed 000's minimum
  disks            mounts, fstab, partitions, superblocks, the mounted image's own disk
  drivers          the drivers each kernel has before / is mounted (virtio, NVMe)
  elf              the architecture, from an ELF header
  initramfs        what an initramfs image holds (the cpio reader)
  initramfs_build  how the target builds its initramfs (tool, host-only, rebuild command)
  kernels          installed kernels, their files, modules and features
  live             the running system (psutil, /proc), absent offline
  osinfo           the distribution, its ImportImage Platform, the versions seed 000 lists
  packages, rpmdb  installed packages, from the databases themselves
  services         systemd and SysV service enablement
  versions         comparing kernel, package and tool versions
"""
