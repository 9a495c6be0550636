"""virtio and NVMe against a real Debian 12 root with linux-image-cloud-amd64 and a real
zstd-compressed initramfs-tools image.

The defect is put in the distribution's way: MODULES=list in initramfs.conf with an
empty /etc/initramfs-tools/modules, then update-initramfs in the chroot, so the image
holds no virtio driver at all (checked with lsinitramfs, independently of guestprep).
Then check (FAIL), fix, verify with lsinitramfs, and roll back to the very same bytes.

The root has no boot loader (a debootstrap root; grub-pc's postinst and update-grub need
the disk and /proc and /dev of a booted system), so the NVMe part gives it Debian's stock
/etc/default/grub: guestprep edits it, and with no update-grub in the root regenerates
nothing (grub-mkconfig reads the file when the boot loader is installed).
"""
import glob
import hashlib
import json
import os
import subprocess

DEBIAN_GRUB = """\
# If you change this file, run 'update-grub' afterwards to update
# /boot/grub/grub.cfg.
# For full documentation of the options in this file, see:
#   info -f grub -n 'Simple configuration'

GRUB_DEFAULT=0
GRUB_TIMEOUT=5
GRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`
GRUB_CMDLINE_LINUX_DEFAULT="quiet"
GRUB_CMDLINE_LINUX=""
"""
MAX = "nvme_core.io_timeout=4294967295 nvme_core.admin_timeout=4294967295"


def image_of(debian):
    images = glob.glob(debian.p("/boot/initrd.img-*"))
    assert len(images) == 1, images
    return "/boot/" + os.path.basename(images[0])


def lsinitramfs(debian, image):
    done = debian.chroot("lsinitramfs", image)
    assert done.returncode == 0, done.stderr
    return done.stdout


def sha(debian, path):
    return hashlib.sha256(debian.read(path)).hexdigest()


def results(stdout):
    return dict((r["id"], r) for r in json.loads(stdout)["results"])


def strip_virtio(debian):
    conf = debian.read("/etc/initramfs-tools/initramfs.conf").decode()
    assert "\nMODULES=most\n" in conf
    debian.write("/etc/initramfs-tools/initramfs.conf", conf.replace("\nMODULES=most\n", "\nMODULES=list\n"))
    done = debian.chroot("update-initramfs", "-u", "-k", "all")
    assert done.returncode == 0, done.stderr
    image = image_of(debian)
    assert "virtio" not in lsinitramfs(debian, image)
    return image


def test_virtio_stripped_fixed_verified_with_lsinitramfs_and_rolled_back(debian):
    image = strip_virtio(debian)
    before = sha(debian, image)
    modules_before = debian.read("/etc/initramfs-tools/modules")

    code, out, err = debian.guestprep("check", "--items", "virtio", "--format", "json")
    virtio = results(out)["virtio"]
    assert code == 3, err
    assert virtio["status"] == "FAIL"
    assert "virtio_blk, virtio_net, virtio_pci, virtio_scsi" in virtio["summary"]
    assert image in virtio["summary"]

    code, out, err = debian.guestprep("fix", "--items", "virtio", "--yes")
    assert code == 0, out + err
    assert "FIXED" in out and "virtio" in out
    listing = lsinitramfs(debian, image)
    for module in ("virtio_blk.ko", "virtio_net.ko", "virtio_pci.ko", "virtio_scsi.ko"):
        assert module in listing, module
    assert sha(debian, image) != before

    fixed = sha(debian, image)
    code, out, err = debian.guestprep("fix", "--items", "virtio", "--yes")
    assert code == 0 and "Nothing to fix" in out, out + err
    assert sha(debian, image) == fixed

    code, out, err = debian.guestprep("rollback")
    assert code == 0, out + err
    assert sha(debian, image) == before
    assert debian.read("/etc/initramfs-tools/modules") == modules_before
    assert "virtio" not in lsinitramfs(debian, image)


def test_the_stock_image_is_read_up_to_its_modules_dep_with_the_answer_of_a_full_read(debian):
    # Debian's own image (MODULES=most) lacks virtio_console: looking for the drivers' files
    # alone reads it to the end. Its modules.dep, sorted after the modules, rules it out.
    from agent.core.rootfs import Root
    from agent.facts import initramfs, kernels
    from streamcount import CountingRunner
    image = image_of(debian)
    version = image.split("initrd.img-", 1)[1]
    wanted = set(kernels.DRIVER_OPTIONS)
    listed = set(initramfs.module_name(name) for name in lsinitramfs(debian, image).split()) & wanted
    assert "virtio_blk" in listed and "virtio_console" not in listed
    counting = CountingRunner(debian.path)
    found = initramfs.find_modules(Root(debian.path), image, wanted, counting, version=version)
    assert found == listed
    with open(debian.p(image), "rb") as handle:
        whole = len(subprocess.run(["zstd", "-dcq"], stdin=handle, stdout=subprocess.PIPE, check=True).stdout)
    assert 0 < counting.streamed() < 0.9 * whole, (counting.streamed(), whole)


def test_nvme_arguments_go_into_default_grub_and_back(debian):
    debian.write("/etc/default/grub", DEBIAN_GRUB)
    code, out, err = debian.guestprep("check", "--items", "nvme", "--format", "json")
    nvme = results(out)["nvme"]
    # linux-image-cloud-amd64 builds nvme and nvme_core in (=y): only the arguments lack.
    assert nvme["status"] == "FAIL", nvme
    assert "no nvme_core.io_timeout, no nvme_core.admin_timeout in /etc/default/grub" in nvme["summary"]

    code, out, err = debian.guestprep("fix", "--items", "nvme", "--yes")
    assert code == 0, out + err
    text = debian.read("/etc/default/grub").decode()
    assert 'GRUB_CMDLINE_LINUX="{}"\n'.format(MAX) in text
    assert text.replace('GRUB_CMDLINE_LINUX="{}"'.format(MAX), 'GRUB_CMDLINE_LINUX=""') == DEBIAN_GRUB
    code, out, err = debian.guestprep("check", "--items", "nvme", "--format", "json")
    assert results(out)["nvme"]["status"] == "PASS"
    assert "Features.NvmeSupport=supported" in results(out)["nvme"]["summary"]

    code, out, err = debian.guestprep("rollback")
    assert code == 0, out + err
    assert debian.read("/etc/default/grub").decode() == DEBIAN_GRUB
