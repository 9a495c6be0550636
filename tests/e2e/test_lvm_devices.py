"""lvm_devices on a real Debian root with lvm2 installed (apt-get, in the chroot) and a
devices file written by lvm2's own `lvmdevices --adddev` (bookworm's lvm2 2.03.16 has it
as `lvm lvmdevices`) for a PV made by pvcreate on a loop device in the test's temporary
directory.

A loop device is recorded by its backing file (IDTYPE=loop_file), which stays true on any
hardware, so that entry alone is fine. The build VM's disk that a loop device cannot
stand for is added as one more line in the format lvmdevices just wrote, as lvm2 records
a virtio disk by its serial (IDTYPE=sys_serial): that is the entry that stops LVM on ECS.
The image's initramfs gets its copy from Debian's own lvm2 hook (update-initramfs), and
the fix's rebuild takes it out again; rollback puts file and image back byte for byte.
"""
import hashlib
import os
import subprocess

from e2e.test_initramfs_drivers import image_of, lsinitramfs

DEVICES = "/etc/lvm/devices/system.devices"
BUILD_VM_DISK = "IDTYPE=sys_serial IDNAME=bp1build0vm0disk0serial DEVNAME=/dev/vda3 PVID={} PART=3\n".format("Q" * 32)


def in_chroot_with_dev(debian, script):
    """Run `script` in the chroot with the host's /dev, /proc and /sys, in a private mount
    namespace: the mounts vanish with it and the host's mount table never sees them."""
    root = debian.path
    return subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c",
         'mount --rbind /dev "$0/dev" && mount -t proc proc "$0/proc" && mount -t sysfs sysfs "$0/sys" && '
         'chroot "$0" sh -c "$1"', root, script],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
        env=dict(os.environ, LC_ALL="C"))


def sha(debian, path):
    return hashlib.sha256(debian.read(path)).hexdigest()


def test_devices_file_found_moved_aside_initramfs_rebuilt_and_rolled_back(debian, tmp_path):
    debian.write("/usr/sbin/policy-rc.d", "#!/bin/sh\nexit 101\n", mode=0o755)   # no service starts
    done = debian.chroot("apt-get", "install", "-y", "-q", "--no-install-recommends", "lvm2")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    os.remove(debian.p("/usr/sbin/policy-rc.d"))

    backing = tmp_path / "pv.img"
    with open(str(backing), "wb") as handle:
        handle.truncate(64 << 20)
    loop = subprocess.check_output(["losetup", "-f", "--show", str(backing)], universal_newlines=True).strip()
    try:
        done = in_chroot_with_dev(debian, "pvcreate -y {0} && lvm lvmdevices --config devices/use_devicesfile=1 "
                                          "--adddev {0} --yes".format(loop))
    finally:
        subprocess.call(["losetup", "-d", loop])
    assert done.returncode == 0, done.stderr
    written = debian.read(DEVICES).decode()
    assert "Created by LVM command lvmdevices" in written
    assert "IDTYPE=loop_file IDNAME={} DEVNAME={} PVID=".format(backing, loop) in written

    # Debian's lvm2 leaves use_devicesfile at its built-in 0: LVM does not read the file.
    code, out, _err = debian.guestprep("check", "--items", "lvm-devices")
    assert code == 0 and "INFO" in out and "use_devicesfile = 0 (lvm2's default" in out, out
    # Turned on (RHEL 9's default), a file of loop_file entries only is still fine.
    conf = debian.read("/etc/lvm/lvm.conf").decode()
    assert "\t# use_devicesfile = 0\n" in conf
    debian.write("/etc/lvm/lvm.conf", conf.replace("\t# use_devicesfile = 0\n", "\tuse_devicesfile = 1\n"))
    code, out, _err = debian.guestprep("check", "--items", "lvm-devices")
    assert code == 0 and "PASS" in out and "by loop_file only" in out, out

    # The build VM's disk, by its serial; Debian's lvm2 hook copies /etc/lvm into the initramfs.
    debian.write(DEVICES, written + BUILD_VM_DISK)
    image = image_of(debian)
    done = debian.chroot("update-initramfs", "-u", "-k", "all")
    assert done.returncode == 0, done.stderr
    assert DEVICES.lstrip("/") in lsinitramfs(debian, image)
    code, out, _err = debian.guestprep("check", "--items", "lvm-devices")
    assert "pins 1 of 2 device(s) by the build VM's disk ids (sys_serial)" in out, out
    assert "the initramfs has a copy: " + image in out
    assert "bp1build0vm0disk0serial" not in out

    before = (debian.read(DEVICES), sha(debian, image))
    code, out, err = debian.guestprep("fix", "--items", "lvm-devices", "--yes")
    assert code == 0 and "FIXED" in out, (out, err)
    assert not os.path.exists(debian.p(DEVICES))
    assert DEVICES.lstrip("/") not in lsinitramfs(debian, image)
    code, out, _err = debian.guestprep("check", "--items", "lvm-devices")
    assert code == 0 and "PASS" in out and "no LVM devices file" in out

    code, out, err = debian.guestprep("rollback")
    assert code == 0, (out, err)
    assert (debian.read(DEVICES), sha(debian, image)) == before
    code, out, err = debian.guestprep("clean", "--yes")
    assert code == 0, (out, err)
    assert not os.path.exists(debian.p("/var/lib/guestprep/runs")) or not os.listdir(debian.p("/var/lib/guestprep/runs"))
