#!/usr/bin/env bash
# Build (once) and cache a small bootable Debian disk image for guestprep's boot harness
# (tests/boot/test_boot_real.py) and for trying `guestprep boot-test` by hand.
#
#   tools/build_boot_image.sh      prints the cached qcow2 image's path, building it first if needed
#
# The image is a clean Debian: one MBR partition (ext4, the root), GRUB in the MBR, a serial
# console on ttyS0, DHCP on eth0 (ifupdown), sshd. The harness puts the defects in a copy.
#
# Partition device nodes do not appear for loop devices in this sandbox (no udev), so the
# partition is reached through a second loop device at its byte offset (losetup -o), and
# GRUB is installed on the whole-file loop device with a device.map naming both.
#
# The cache lives in $GUESTPREP_BOOT_CACHE (default /var/cache/guestprep-boot). This script
# only creates or deletes paths inside that directory, and refuses a cache path that is "/"
# or not absolute. The mirror is the one this machine's apt already uses.
set -euo pipefail

SUITE=${GUESTPREP_BOOT_SUITE:-bookworm}
CACHE=${GUESTPREP_BOOT_CACHE:-/var/cache/guestprep-boot}
SIZE_MIB=${GUESTPREP_BOOT_SIZE_MIB:-2048}
LAYOUT=1   # bump when the image layout below changes: it is part of the cache key
# isc-dhcp-client: ifupdown only recommends it, and without it `inet dhcp` cannot work.
# cloud-init and cloud-guest-utils: an image prepared for ECS has them, so `fix --items all`
# has nothing to install from a mirror in the harness.
PACKAGES="linux-image-cloud-amd64 initramfs-tools zstd systemd-sysv udev ifupdown isc-dhcp-client iproute2 openssh-server qemu-guest-agent grub-pc e2fsprogs cloud-init cloud-guest-utils"
KEY=$(printf '%s %s %s %s' "$SUITE" "$PACKAGES" "$SIZE_MIB" "$LAYOUT" | sha256sum | cut -c1-12)
IMAGE="$CACHE/debian-$SUITE-boot-$KEY.qcow2"

case "$CACHE" in
  /|"") echo "build_boot_image: refusing cache directory '$CACHE'" >&2; exit 2 ;;
  /*) ;;
  *) echo "build_boot_image: cache directory must be absolute: '$CACHE'" >&2; exit 2 ;;
esac

if [ -s "$IMAGE" ]; then echo "$IMAGE"; exit 0; fi
[ "$(id -u)" = 0 ] || { echo "build_boot_image: debootstrap, losetup and mount need root" >&2; exit 2; }

need=""
for tool in debootstrap:debootstrap sfdisk:fdisk grub-install:grub2-common qemu-img:qemu-utils mkfs.ext4:e2fsprogs; do
  command -v "${tool%%:*}" >/dev/null || need="$need ${tool#*:}"
done
[ -d /usr/lib/grub/i386-pc ] || need="$need grub-pc-bin"
if [ -n "$need" ]; then
  echo "build_boot_image: installing$need" >&2
  apt-get update -qq >&2
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >&2
fi

mirror=""
if [ -r /etc/apt/sources.list.d/debian.sources ]; then
  mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
elif [ -r /etc/apt/sources.list ]; then
  mirror=$(awk '$1=="deb" && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list)
fi

mkdir -p "$CACHE"
work=$(mktemp -d "$CACHE/build.XXXXXX")
mnt="$work/mnt"
disk_loop="" part_loop=""
cleanup() {
  # Only ever unmount and remove what this run made inside its own build directory.
  case "$work" in
    "$CACHE"/build.*) ;;
    *) return ;;
  esac
  for sub in dev/pts dev proc sys ""; do
    mountpoint -q "$mnt/$sub" 2>/dev/null && umount "$mnt/$sub" 2>/dev/null || true
  done
  [ -n "$part_loop" ] && losetup -d "$part_loop" 2>/dev/null || true
  [ -n "$disk_loop" ] && losetup -d "$disk_loop" 2>/dev/null || true
  mountpoint -q "$mnt" 2>/dev/null || rm -rf --one-file-system "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP   # so that cleanup runs when interrupted too
step() { echo "build_boot_image: $*" >&2; }

step "disk $work/disk.raw (${SIZE_MIB} MiB, one MBR partition from 1 MiB)"
truncate -s "${SIZE_MIB}M" "$work/disk.raw"
printf 'label: dos\nstart=2048, type=83, bootable\n' | sfdisk -q "$work/disk.raw"
disk_loop=$(losetup --show -f "$work/disk.raw")
part_loop=$(losetup --show -f -o $((2048 * 512)) --sizelimit $(((SIZE_MIB - 1) * 1024 * 1024)) "$work/disk.raw")
uuid=$(cat /proc/sys/kernel/random/uuid)
# GRUB 2.06 cannot read ext4's newer default features (orphan_file, metadata_csum_seed).
mkfs.ext4 -q -L root -U "$uuid" -O ^orphan_file,^metadata_csum_seed "$part_loop" 2>/dev/null \
  || mkfs.ext4 -q -L root -U "$uuid" "$part_loop"
mkdir -p "$mnt"
mount "$part_loop" "$mnt"

step "debootstrap $SUITE (a few minutes, once)"
debootstrap --variant=minbase "$SUITE" "$mnt" $mirror >"$work/debootstrap.log" 2>&1 || {
  tail -n 30 "$work/debootstrap.log" >&2
  tail -n 40 "$mnt/debootstrap/debootstrap.log" >&2 2>/dev/null || true
  exit 1; }

# Written before the packages, so the kernel's initramfs and update-grub see the final setup.
cat >"$mnt/etc/fstab" <<EOF
# /etc/fstab: static file system information.
UUID=$uuid /               ext4    errors=remount-ro 0       1
EOF
echo guestprep-boot >"$mnt/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tguestprep-boot\n' >"$mnt/etc/hosts"
mkdir -p "$mnt/etc/network/interfaces.d" "$mnt/etc/default"
cat >"$mnt/etc/network/interfaces" <<EOF
# interfaces(5) file used by ifup(8) and ifdown(8)
source /etc/network/interfaces.d/*

auto lo
iface lo inet loopback

allow-hotplug eth0
iface eth0 inet dhcp
EOF
# eth0, as on ECS: predictable names off. The serial console is what the harness reads.
cat >"$mnt/etc/default/grub" <<'EOF'
GRUB_DEFAULT=0
GRUB_TIMEOUT=1
GRUB_DISTRIBUTOR=Debian
GRUB_CMDLINE_LINUX_DEFAULT=""
GRUB_CMDLINE_LINUX="console=tty0 console=ttyS0,115200n8 net.ifnames=0 biosdevname=0"
GRUB_TERMINAL="console serial"
GRUB_SERIAL_COMMAND="serial --speed=115200"
GRUB_DISABLE_OS_PROBER=true
EOF

step "packages: $PACKAGES"
printf '#!/bin/sh\nexit 101\n' >"$mnt/usr/sbin/policy-rc.d"
chmod 755 "$mnt/usr/sbin/policy-rc.d"
mount -t proc proc "$mnt/proc"
mount -t sysfs sysfs "$mnt/sys"
mount --bind /dev "$mnt/dev"
chroot "$mnt" apt-get update -qq >>"$work/apt.log" 2>&1
# shellcheck disable=SC2086
chroot "$mnt" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
  $PACKAGES >>"$work/apt.log" 2>&1 || { tail -n 40 "$work/apt.log" >&2; exit 1; }
rm -f "$mnt/usr/sbin/policy-rc.d"

step "serial getty, root login by key only, GRUB"
ln -sf /lib/systemd/system/serial-getty@.service \
  "$mnt/etc/systemd/system/getty.target.wants/serial-getty@ttyS0.service"
chroot "$mnt" passwd -l root >/dev/null
mkdir -p "$mnt/root/.ssh" && chmod 700 "$mnt/root/.ssh"
# grub.cfg is written here, not by the image's update-grub: its 10_linux refuses a root on
# a loop device backed by a file ("We can't cope with devices loop-mounted from files") and
# writes no entry. The entry is what update-grub would write on a real disk: search the root
# by UUID, root=UUID=, the serial console. GRUB's boot code goes into the MBR gap of the
# whole-file loop device.
kernel=$(cd "$mnt/boot" && ls vmlinuz-* | sort -V | tail -n 1)
version=${kernel#vmlinuz-}
[ -f "$mnt/boot/initrd.img-$version" ] || { echo "build_boot_image: no initrd.img-$version in the image" >&2; exit 1; }
cat >"$mnt/boot/grub/grub.cfg" <<EOF
# Written by guestprep's tools/build_boot_image.sh (update-grub cannot run on a loop device).
set default=0
set timeout=1
serial --unit=0 --speed=115200
terminal_input console serial
terminal_output console serial
insmod part_msdos
insmod ext2
search --no-floppy --fs-uuid --set=root $uuid
menuentry 'Debian GNU/Linux, with Linux $version' {
	linux /boot/vmlinuz-$version root=UUID=$uuid ro console=tty0 console=ttyS0,115200n8 net.ifnames=0 biosdevname=0
	initrd /boot/initrd.img-$version
}
EOF
printf '(hd0) %s\n' "$disk_loop" >"$mnt/boot/grub/device.map"
grub-install --target=i386-pc --boot-directory="$mnt/boot" --modules="part_msdos ext2" \
  "$disk_loop" >>"$work/grub.log" 2>&1 || { cat "$work/grub.log" >&2; exit 1; }
rm -f "$mnt/boot/grub/device.map"
rm -rf "$mnt/var/cache/apt/archives/"*.deb "$mnt/var/cache/apt/"*.bin "$mnt/var/lib/apt/lists/"*_dists_*
for sub in dev sys proc; do umount "$mnt/$sub"; done
umount "$mnt"
# (the kernel may already have let go of a loop device once unmounted)
losetup -d "$part_loop" 2>/dev/null || true; part_loop=""
losetup -d "$disk_loop" 2>/dev/null || true; disk_loop=""

step "qcow2 $IMAGE"
qemu-img convert -O qcow2 "$work/disk.raw" "$work/disk.qcow2"
mv "$work/disk.qcow2" "$IMAGE"
echo "$IMAGE"
