"""The facts layer: the only place that knows how to read a thing about the guest.

Each module reads one kind of fact once per run (cached on the context through
`ctx.fact(name, compute)`); checks, remediations and the advice ask it and never read the
same thing their own way. Importing this package imports nothing else: a caller imports
the module it needs (startup time matters on a small VM).

  boot             boot configuration and kernel command lines: every loader, every target
  disks            mounts, fstab, partitions, superblocks, the mounted image's own disk
  elf              the architecture, from an ELF header
  initramfs        what an initramfs image holds (the cpio reader)
  initramfs_build  how the target builds its initramfs (tool, host-only, rebuild command)
  kernels          installed kernels, their files, modules and features
  live             the running system (psutil, /proc), absent offline
  osinfo           the distribution and its ImportImage Platform
  packages, rpmdb  installed packages, from the databases themselves
  services         systemd and SysV service enablement
  versions         comparing versions; arm64/aarch64
"""
