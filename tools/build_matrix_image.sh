#!/usr/bin/env bash
# Build (once) and cache a disk image of the boot matrix (tests/boot/test_boot_matrix.py):
# a real Debian VM configured the way a source hypervisor leaves it, before its export.
#
#   tools/build_matrix_image.sh SUITE CELL    prints the cached qcow2 image's path
#
#   SUITE  bookworm | trixie
#   CELL   vmware | xen | virtualbox | hyperv
#
# Each cell starts from a copy of the suite's clean bootable image (tools/build_boot_image.sh,
# cached) and changes it with the distribution's own tools where it can:
#
#   vmware      open-vm-tools (apt); `allow-hotplug ens192` + `iface ens192 inet static` in
#               /etc/network/interfaces as the Debian installer writes it; MODULES=dep in
#               initramfs.conf and an initramfs built host-only for the VMware disk (vmw_pvscsi
#               and mptspi when the kernel has them; no virtio_blk); root=/dev/sda1 on the GRUB
#               line with GRUB_DISABLE_LINUX_UUID=true; /dev/sda1 / and a /dev/sdb1 data disk
#               in fstab.
#   xen         eth0 static in /etc/network/interfaces (Xen's netfront NIC has no predictable
#               name); root=/dev/xvda1 on the GRUB line with GRUB_DISABLE_LINUX_UUID=true;
#               /dev/xvda1 / and a /dev/xvdb1 data disk in fstab. (Debian has no Xen guest
#               utilities package to install.)
#   virtualbox  enp0s3 static in netplan (written by `netplan set`, networkd renderer, as a
#               VirtualBox VM's NIC 1 is named); VirtualBox Guest Additions: no Debian suite
#               here ships virtualbox-guest-utils (contrib/non-free, not in bookworm or trixie),
#               so the footprint of Oracle's VBoxLinuxAdditions.run is laid down instead
#               (/opt/VBoxGuestAdditions-<ver>, its init scripts, symlinks and enabled systemd
#               units; not its kernel modules, which would need the VirtualBox build).
#   hyperv      hyperv-daemons (apt); eth0 static in a systemd-networkd .network file,
#               systemd-networkd enabled (`systemctl enable`), ifupdown left with lo only.
#
# All cells: predictable NIC names ON (no net.ifnames=0), a serial console on ttyS0 (the
# harness reads it), GRUB_TIMEOUT=1. A grub.cfg is written in grub-mkconfig's layout, because
# update-grub cannot run on a loop device (see build_boot_image.sh).
#
# The cache lives in $GUESTPREP_BOOT_CACHE (default /var/cache/guestprep-boot); the image's key
# is the base image's name (its own content key), the cell and this script's text. This script
# only creates or deletes paths inside that directory, and refuses a cache path that is "/" or
# not absolute.
set -euo pipefail

usage() { echo "usage: build_matrix_image.sh bookworm|trixie vmware|xen|virtualbox|hyperv" >&2; exit 2; }
[ $# = 2 ] || usage
SUITE=$1 CELL=$2
case "$SUITE" in bookworm|trixie) ;; *) usage ;; esac
case "$CELL" in vmware|xen|virtualbox|hyperv) ;; *) usage ;; esac
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${GUESTPREP_BOOT_CACHE:-/var/cache/guestprep-boot}
case "$CACHE" in
  /|"") echo "build_matrix_image: refusing cache directory '$CACHE'" >&2; exit 2 ;;
  /*) ;;
  *) echo "build_matrix_image: cache directory must be absolute: '$CACHE'" >&2; exit 2 ;;
esac

BASE=$(GUESTPREP_BOOT_SUITE=$SUITE GUESTPREP_BOOT_CACHE=$CACHE bash "$HERE/build_boot_image.sh" | tail -n 1)
[ -s "$BASE" ] || { echo "build_matrix_image: no base image for $SUITE" >&2; exit 1; }
KEY=$({ basename "$BASE"; echo "$CELL"; cat "$HERE/build_matrix_image.sh"; } | sha256sum | cut -c1-12)
IMAGE="$CACHE/matrix-$SUITE-$CELL-$KEY.qcow2"
if [ -s "$IMAGE" ]; then echo "$IMAGE"; exit 0; fi
[ "$(id -u)" = 0 ] || { echo "build_matrix_image: losetup, mount and chroot need root" >&2; exit 2; }

work=$(mktemp -d "$CACHE/matrix.XXXXXX")
mnt="$work/mnt"
part_loop=""
cleanup() {
  case "$work" in
    "$CACHE"/matrix.*) ;;
    *) return ;;
  esac
  for sub in dev/pts dev sys proc ""; do
    mountpoint -q "$mnt/$sub" 2>/dev/null && umount "$mnt/$sub" 2>/dev/null || true
  done
  [ -n "$part_loop" ] && losetup -d "$part_loop" 2>/dev/null || true
  mountpoint -q "$mnt" 2>/dev/null || rm -rf --one-file-system "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
step() { echo "build_matrix_image: $SUITE/$CELL: $*" >&2; }
in_root() { chroot "$mnt" env LC_ALL=C DEBIAN_FRONTEND=noninteractive "$@"; }
apt_install() {
  step "apt-get install $*"
  in_root apt-get update -qq >>"$work/apt.log" 2>&1
  in_root apt-get install -y -q --no-install-recommends "$@" >>"$work/apt.log" 2>&1 \
    || { tail -n 40 "$work/apt.log" >&2; exit 1; }
}

step "copy of $BASE"
qemu-img convert -O raw "$BASE" "$work/disk.raw"
# The base image's one partition starts at 1 MiB (build_boot_image.sh); no udev here, so the
# partition is reached through a loop device at that offset.
part_loop=$(losetup --show -f -o $((2048 * 512)) "$work/disk.raw")
mkdir -p "$mnt"
mount "$part_loop" "$mnt"
uuid=$(blkid -s UUID -o value "$part_loop")
[ -n "$uuid" ] || { echo "build_matrix_image: no filesystem UUID on the root partition" >&2; exit 1; }
mount -t proc proc "$mnt/proc"
mount -t sysfs sysfs "$mnt/sys"
mount --bind /dev "$mnt/dev"
printf '#!/bin/sh\nexit 101\n' >"$mnt/usr/sbin/policy-rc.d"
chmod 755 "$mnt/usr/sbin/policy-rc.d"
# A kernel hook must not run update-grub on the loop device while packages go in.
mv "$mnt/boot/grub/grub.cfg" "$work/grub.cfg.base"

kernel=$(cd "$mnt/boot" && ls vmlinuz-* | sort -V | tail -n 1)
version=${kernel#vmlinuz-}
os_name=$(. "$mnt/etc/os-release" && echo "$NAME")

ROOT_DEV="UUID=$uuid"   # root= on the GRUB line and in fstab; the installer's default
GRUB_UUID_OFF=0
DATA_LINE=""

eni() {  # eni NAME: /etc/network/interfaces as the Debian installer writes it (static, or lo only)
  {
    cat <<'EOF'
# This file describes the network interfaces available on your system
# and how to activate them. For more information, see interfaces(5).

source /etc/network/interfaces.d/*

# The loopback network interface
auto lo
iface lo inet loopback
EOF
    if [ -n "$1" ]; then
      printf '\n# The primary network interface\nallow-hotplug %s\niface %s inet static\n' "$1" "$1"
      printf '\taddress %s\n\tgateway %s\n' "$2" "$3"
      printf '\t# dns-* options are implemented by the resolvconf package, if installed\n'
      printf '\tdns-nameservers %s\n\tdns-search example.internal\n' "$4"
    fi
  } >"$mnt/etc/network/interfaces"
}

cell_vmware() {
  apt_install open-vm-tools
  eni ens192 192.168.10.5/24 192.168.10.1 192.168.10.1
  ROOT_DEV=/dev/sda1 GRUB_UUID_OFF=1
  DATA_LINE="/dev/sdb1       /data           ext4    defaults        0       2"
  # MODULES=dep as left on the VMware VM. mkinitramfs picks dep's modules from the running
  # machine's /sys, which is not a VMware VM here: the image is built host-only for the VMware
  # hardware instead, from the list dep picks there (the paravirtual SCSI disk's driver, the
  # LSI one when this kernel has it, sd_mod, ext4), then initramfs.conf says MODULES=dep.
  local conf="$mnt/etc/initramfs-tools"
  rm -rf "$mnt/tmp/vmware-initramfs"
  cp -a "$conf" "$mnt/tmp/vmware-initramfs"
  sed -i 's/^MODULES=.*/MODULES=list/' "$mnt/tmp/vmware-initramfs/initramfs.conf"
  {
    echo "# host-only: what MODULES=dep picks on the VMware VM (pvscsi root disk)"
    for module in vmw_pvscsi mptspi sd_mod ext4; do
      in_root modinfo -k "$version" -F filename "$module" >/dev/null 2>&1 && echo "$module"
    done
  } >"$mnt/tmp/vmware-initramfs/modules"
  grep -qx vmw_pvscsi "$mnt/tmp/vmware-initramfs/modules" || { echo "build_matrix_image: kernel $version has no vmw_pvscsi" >&2; exit 1; }
  step "initramfs host-only for VMware: $(grep -v '^#' "$mnt/tmp/vmware-initramfs/modules" | tr '\n' ' ')"
  in_root mkinitramfs -d /tmp/vmware-initramfs -o "/boot/initrd.img-$version" "$version" >>"$work/initramfs.log" 2>&1 \
    || { tail -n 20 "$work/initramfs.log" >&2; exit 1; }
  rm -rf "$mnt/tmp/vmware-initramfs"
  sed -i 's/^MODULES=.*/MODULES=dep/' "$conf/initramfs.conf"
  if in_root lsinitramfs "/boot/initrd.img-$version" | grep -q '/virtio_blk\.ko'; then
    echo "build_matrix_image: the VMware initramfs still has virtio_blk" >&2; exit 1
  fi
}

cell_xen() {
  eni eth0 10.20.0.15/24 10.20.0.1 10.20.0.1
  ROOT_DEV=/dev/xvda1 GRUB_UUID_OFF=1
  DATA_LINE="/dev/xvdb1      /data           ext4    defaults        0       2"
}

cell_virtualbox() {
  apt_install netplan.io
  eni ""
  # netplan's own writer, as `netplan set` leaves it on a VirtualBox VM's NIC 1 (enp0s3).
  in_root netplan set --origin-hint 01-netcfg "network.version=2" >>"$work/netplan.log" 2>&1
  in_root netplan set --origin-hint 01-netcfg "network.renderer=networkd" >>"$work/netplan.log" 2>&1
  in_root netplan set --origin-hint 01-netcfg \
    "network.ethernets.enp0s3={addresses: [192.168.56.10/24], routes: [{to: default, via: 192.168.56.1}], nameservers: {addresses: [192.168.56.1]}, dhcp4: false}" \
    >>"$work/netplan.log" 2>&1 || { cat "$work/netplan.log" >&2; exit 1; }
  in_root netplan get >>"$work/netplan.log" 2>&1 || { cat "$work/netplan.log" >&2; exit 1; }
  grep -q 'enp0s3' "$mnt/etc/netplan/01-netcfg.yaml"
  in_root systemctl enable systemd-networkd.service >>"$work/netplan.log" 2>&1
  # Oracle's VBoxLinuxAdditions.run footprint (see the header).
  local ver=7.0.20 opt="$mnt/opt/VBoxGuestAdditions-7.0.20"
  mkdir -p "$opt/bin" "$opt/sbin" "$opt/init" "$opt/lib" "$mnt/etc/systemd/system/multi-user.target.wants"
  for script in vboxadd vboxadd-service; do
    cat >"$opt/init/$script" <<EOF
#!/bin/sh
# Linux Additions kernel modules service ($script), VirtualBox Guest Additions $ver
# (install footprint laid down by guestprep's build_matrix_image.sh: no VirtualBox here)
echo "$script.sh: failed: modprobe vboxguest failed." >&2
exit 1
EOF
    chmod 755 "$opt/init/$script"
    cat >"$mnt/etc/systemd/system/$script.service" <<EOF
[Unit]
SourcePath=/opt/VBoxGuestAdditions-$ver/init/$script
Description=$script.sh - VirtualBox Guest Additions
Before=display-manager.service

[Service]
Type=forking
Restart=no
TimeoutSec=30
IgnoreSIGPIPE=no
KillMode=process
GuessMainPID=no
RemainAfterExit=yes
ExecStart=/opt/VBoxGuestAdditions-$ver/init/$script start
ExecStop=/opt/VBoxGuestAdditions-$ver/init/$script stop

[Install]
WantedBy=multi-user.target
EOF
    ln -sf "/etc/systemd/system/$script.service" "$mnt/etc/systemd/system/multi-user.target.wants/$script.service"
  done
  for tool in VBoxService VBoxControl VBoxClient; do
    printf '#!/bin/sh\necho "%s: VirtualBox Guest Additions %s (footprint only)" >&2\nexit 1\n' "$tool" "$ver" >"$opt/bin/$tool"
    chmod 755 "$opt/bin/$tool"
  done
  ln -sf "/opt/VBoxGuestAdditions-$ver/bin/VBoxService" "$mnt/usr/sbin/VBoxService"
  ln -sf "/opt/VBoxGuestAdditions-$ver/bin/VBoxControl" "$mnt/usr/bin/VBoxControl"
  ln -sf "/opt/VBoxGuestAdditions-$ver/bin/VBoxClient" "$mnt/usr/bin/VBoxClient"
  ln -sf "/opt/VBoxGuestAdditions-$ver/init/vboxadd" "$mnt/usr/sbin/rcvboxadd"
  cat >"$opt/uninstall.sh" <<EOF
#!/bin/sh
# Uninstalls VirtualBox Guest Additions $ver (what Oracle's uninstaller removes of the footprint)
for unit in vboxadd vboxadd-service; do
  rm -f /etc/systemd/system/multi-user.target.wants/\$unit.service /etc/systemd/system/\$unit.service
done
rm -f /usr/sbin/VBoxService /usr/bin/VBoxControl /usr/bin/VBoxClient /usr/sbin/rcvboxadd
rm -rf /var/lib/VBoxGuestAdditions /opt/VBoxGuestAdditions-$ver
echo "VirtualBox Guest Additions $ver removed."
EOF
  chmod 755 "$opt/uninstall.sh"
  mkdir -p "$mnt/var/lib/VBoxGuestAdditions"
  printf 'INSTALL_VER=%s\nINSTALL_REV=163906\nINSTALL_DIR=/opt/VBoxGuestAdditions-%s\n' "$ver" "$ver" \
    >"$mnt/var/lib/VBoxGuestAdditions/config"
}

cell_hyperv() {
  apt_install hyperv-daemons
  eni ""
  mkdir -p "$mnt/etc/systemd/network"
  cat >"$mnt/etc/systemd/network/10-eth0.network" <<'EOF'
[Match]
Name=eth0

[Network]
Address=172.16.5.20/24
Gateway=172.16.5.1
DNS=172.16.5.1
EOF
  in_root systemctl enable systemd-networkd.service >>"$work/apt.log" 2>&1
}

"cell_$CELL"
rm -f "$mnt/usr/sbin/policy-rc.d"

step "fstab, /etc/default/grub, grub.cfg (root=$ROOT_DEV)"
cat >"$mnt/etc/fstab" <<EOF
# /etc/fstab: static file system information.
#
# Use 'blkid' to print the universally unique identifier for a
# device; this may be used with UUID= as a more robust way to name devices
# that works even if disks are added and removed. See fstab(5).
#
# systemd generates mount units based on this file, see systemd.mount(5).
# Please run 'systemctl daemon-reload' after making changes here.
#
# <file system> <mount point>   <type>  <options>       <dump>  <pass>
# / was on /dev/sda1 during installation
$ROOT_DEV /               ext4    errors=remount-ro 0       1
EOF
if [ -n "$DATA_LINE" ]; then
  echo "$DATA_LINE" >>"$mnt/etc/fstab"
  mkdir -p "$mnt/data"
fi
cmdline="console=tty0 console=ttyS0,115200n8"
cat >"$mnt/etc/default/grub" <<EOF
# If you change this file, run 'update-grub' afterwards to update
# /boot/grub/grub.cfg.
# For full documentation of the options in this file, see:
#   info -f grub -n 'Simple configuration'

GRUB_DEFAULT=0
GRUB_TIMEOUT=1
GRUB_DISTRIBUTOR=\`( . /etc/os-release; echo \${NAME:-Debian} ) 2>/dev/null || echo Debian\`
GRUB_CMDLINE_LINUX_DEFAULT=""
GRUB_CMDLINE_LINUX="$cmdline"
GRUB_TERMINAL="console serial"
GRUB_SERIAL_COMMAND="serial --speed=115200"
EOF
[ "$GRUB_UUID_OFF" = 1 ] && echo "GRUB_DISABLE_LINUX_UUID=true" >>"$mnt/etc/default/grub"
if [ "$GRUB_UUID_OFF" = 1 ]; then linux_root=$ROOT_DEV; else linux_root="UUID=$uuid"; fi
entry() {  # entry TITLE ID EXTRA INDENT
  cat <<EOF
$4menuentry '$1' --class debian --class gnu-linux --class gnu --class os \$menuentry_id_option '$2' {
$4	load_video
$4	insmod gzio
$4	if [ x\$grub_platform = xxen ]; then insmod xzio; insmod lzopio; fi
$4	insmod part_msdos
$4	insmod ext2
$4	set root='hd0,msdos1'
$4	if [ x\$feature_platform_search_hint = xy ]; then
$4	  search --no-floppy --fs-uuid --set=root --hint-bios=hd0,msdos1 --hint-efi=hd0,msdos1 --hint-baremetal=ahci0,msdos1  $uuid
$4	else
$4	  search --no-floppy --fs-uuid --set=root $uuid
$4	fi
$4	echo	'Loading Linux $version ...'
$4	linux	/boot/vmlinuz-$version root=$linux_root ro $3 $cmdline
$4	echo	'Loading initial ramdisk ...'
$4	initrd	/boot/initrd.img-$version
$4}
EOF
}
{
  cat <<EOF
#
# DO NOT EDIT THIS FILE
#
# It is automatically generated by grub-mkconfig using templates
# from /etc/grub.d and settings from /etc/default/grub
#

### BEGIN /etc/grub.d/00_header ###
if [ -s \$prefix/grubenv ]; then
  set have_grubenv=true
  load_env
fi
if [ "\${next_entry}" ] ; then
   set default="\${next_entry}"
   set next_entry=
   save_env next_entry
   set boot_once=true
else
   set default="0"
fi

if [ x"\${feature_menuentry_id}" = xy ]; then
  menuentry_id_option="--id"
else
  menuentry_id_option=""
fi

export menuentry_id_option

function load_video {
  if [ x\$feature_all_video_module = xy ]; then
    insmod all_video
  else
    insmod efi_gop
    insmod efi_uga
    insmod ieee1275_fb
    insmod vbe
    insmod vga
    insmod video_bochs
    insmod video_cirrus
  fi
}

serial --speed=115200
terminal_input console serial
terminal_output console serial
set timeout_style=menu
set timeout=1
### END /etc/grub.d/00_header ###

### BEGIN /etc/grub.d/05_debian_theme ###
set menu_color_normal=cyan/blue
set menu_color_highlight=white/blue
### END /etc/grub.d/05_debian_theme ###

### BEGIN /etc/grub.d/10_linux ###
EOF
  entry "$os_name" "gnulinux-simple-$uuid" "" ""
  echo "submenu 'Advanced options for $os_name' \$menuentry_id_option 'gnulinux-advanced-$uuid' {"
  entry "$os_name, with Linux $version" "gnulinux-$version-advanced-$uuid" "" "	"
  entry "$os_name, with Linux $version (recovery mode)" "gnulinux-$version-recovery-$uuid" "single" "	"
  echo "}"
  echo
  echo "### END /etc/grub.d/10_linux ###"
} >"$mnt/boot/grub/grub.cfg"

rm -rf "$mnt/var/cache/apt/archives/"*.deb "$mnt/var/cache/apt/"*.bin "$mnt/var/lib/apt/lists/"*_dists_*
for sub in dev sys proc; do umount "$mnt/$sub"; done
umount "$mnt"
losetup -d "$part_loop" 2>/dev/null || true; part_loop=""

step "qcow2 $IMAGE"
qemu-img convert -O qcow2 "$work/disk.raw" "$work/disk.qcow2"
mv "$work/disk.qcow2" "$IMAGE"
echo "$IMAGE"
