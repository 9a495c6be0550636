#!/usr/bin/env bash
# Build (once) and cache a real Debian root for guestprep's end-to-end tests.
#
#   tests/e2e/build_root.sh      prints the cached tarball's path, building it first if needed
#
# The cache lives in $GUESTPREP_E2E_CACHE (default /var/cache/guestprep-e2e). This script
# only creates or deletes paths inside that directory, and refuses a cache path that is "/"
# or not absolute. The mirror is the one this machine's apt already uses (debootstrap's
# default when none is configured), so no host name is written here.
set -euo pipefail

SUITE=${GUESTPREP_E2E_SUITE:-bookworm}
CACHE=${GUESTPREP_E2E_CACHE:-/var/cache/guestprep-e2e}
# Real packages the tests put defects into; the cache key changes when this list does.
PACKAGES="systemd-sysv udev ifupdown qemu-guest-agent cloud-init cloud-guest-utils netplan.io network-manager e2fsprogs openssh-server python3-yaml python3-psutil python3-distro linux-image-cloud-amd64 initramfs-tools zstd nftables ufw"
KEY=$(printf '%s %s' "$SUITE" "$PACKAGES" | sha256sum | cut -c1-12)
TARBALL="$CACHE/debian-$SUITE-$KEY.tar"

case "$CACHE" in
  /|"") echo "build_root: refusing cache directory '$CACHE'" >&2; exit 2 ;;
  /*) ;;
  *) echo "build_root: cache directory must be absolute: '$CACHE'" >&2; exit 2 ;;
esac

if [ -s "$TARBALL" ]; then echo "$TARBALL"; exit 0; fi
[ "$(id -u)" = 0 ] || { echo "build_root: debootstrap needs root" >&2; exit 2; }

if ! command -v debootstrap >/dev/null; then
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >&2
fi

mirror=""
if [ -r /etc/apt/sources.list.d/debian.sources ]; then
  mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
elif [ -r /etc/apt/sources.list ]; then
  mirror=$(awk '$1=="deb" && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list)
fi

mkdir -p "$CACHE"
work=$(mktemp -d "$CACHE/build.XXXXXX")
cleanup() {
  # Only ever remove our own build directory inside the cache.
  case "$work" in
    "$CACHE"/build.*)
      umount "$work/root/proc" 2>/dev/null || true
      rm -rf --one-file-system "$work" ;;
  esac
}
trap cleanup EXIT

echo "build_root: debootstrap $SUITE into $work/root (a few minutes, once)" >&2
debootstrap --variant=minbase "$SUITE" "$work/root" $mirror >"$work/debootstrap.log" 2>&1 || {
  tail -n 30 "$work/debootstrap.log" >&2
  tail -n 40 "$work/root/debootstrap/debootstrap.log" >&2 2>/dev/null || true
  exit 1; }
# The rest with the root's own apt, as an administrator would: services must not start
# inside the chroot (policy-rc.d), and some maintainer scripts need /proc.
printf '#!/bin/sh\nexit 101\n' >"$work/root/usr/sbin/policy-rc.d"
chmod 755 "$work/root/usr/sbin/policy-rc.d"
mount -t proc proc "$work/root/proc"
chroot "$work/root" apt-get update -qq >>"$work/apt.log" 2>&1
# shellcheck disable=SC2086
chroot "$work/root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
  $PACKAGES >>"$work/apt.log" 2>&1 || { tail -n 40 "$work/apt.log" >&2; exit 1; }
umount "$work/root/proc"
rm -f "$work/root/usr/sbin/policy-rc.d"
# Drop what the tests never need, to keep the tarball small.
rm -rf "$work/root/var/cache/apt/archives/"*.deb "$work/root/var/cache/apt/"*.bin
tar -C "$work/root" --xattrs --numeric-owner -cf "$work/root.tar" .
mv "$work/root.tar" "$TARBALL"
echo "$TARBALL"
