"""The initramfs reader under generated images: only InitramfsError, never anything else.

Images are real archives built here (newc, crc, odc and old binary cpio; raw, gzip, xz,
lzma, bzip2; an early uncompressed archive before a compressed one, as dracut and
initramfs-tools write them), then mutated: bytes flipped, inserted, cut, header fields
rewritten with huge or garbage sizes.
"""
import bz2
import gzip
import lzma
import os
import tempfile

import pytest
from hypothesis import given
from hypothesis import strategies as st

import fuzzlib
from fuzzlib import count, fuzz_settings

pytestmark = pytest.mark.fuzz
initramfs = pytest.importorskip("agent.facts.initramfs")
from agent.core.rootfs import Root  # noqa: E402

NAMES = ["kernel/x86/microcode/GenuineIntel.bin", "usr/lib/modules/6.1.0/kernel/drivers/block/virtio_blk.ko",
         "usr/lib/modules/6.1.0/kernel/drivers/nvme/host/nvme-core.ko.xz", "usr/lib/modules/6.1.0/modules.dep",
         "init", "./bin/sh", "etc/fstab"]
# The image's modules.dep is read, not skipped, by find_modules given the kernel's version.
DEP = b"kernel/drivers/block/virtio_blk.ko:\nkernel/drivers/nvme/host/nvme-core.ko.xz: kernel/lib/crc.ko\n"


def newc(entries, magic=b"070701"):
    out = b""
    for n, (name, data) in enumerate(entries + [("TRAILER!!!", b"")]):
        raw = name.encode() + b"\0"
        fields = [n + 1, 0o100644, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(raw), 0]
        header = magic + b"".join(b"%08x" % f for f in fields)
        out += header + raw + b"\0" * ((4 - (len(header) + len(raw)) % 4) % 4)
        out += data + b"\0" * ((4 - len(data) % 4) % 4)
    return out


def odc(entries):
    out = b""
    for n, (name, data) in enumerate(entries + [("TRAILER!!!", b"")]):
        raw = name.encode() + b"\0"
        out += b"070707" + b"%06o" % 0 + b"%06o" % (n + 1) + b"%06o" % 0o100644 + b"%06o" % 0 * 2 + \
            b"%06o" % 1 + b"%06o" % 0 + b"%011o" % 0 + b"%06o" % len(raw) + b"%011o" % len(data) + raw + data
    return out


def old_binary(entries):
    out = b""
    for n, (name, data) in enumerate(entries + [("TRAILER!!!", b"")]):
        raw = name.encode() + b"\0"
        words = [0o070707, 0, n + 1, 0o100644, 0, 0, 1, 0, 0, 0, len(raw), len(data) >> 16, len(data) & 0xFFFF]
        out += b"".join(w.to_bytes(2, "little") for w in words) + raw + b"\0" * (len(raw) % 2)
        out += data + b"\0" * (len(data) % 2)
    return out


def images():
    entries = [(n, DEP if n.endswith("/modules.dep") else ("data of %s\n" % n).encode() * (i + 1))
               for i, n in enumerate(NAMES)]
    main = newc(entries[1:])
    early = newc(entries[:1])
    built = [main, newc(entries, b"070702"), odc(entries), old_binary(entries), early + gzip.compress(main),
             early + b"\0" * 512 + lzma.compress(main), gzip.compress(main) + b"\0" * 16 + gzip.compress(early),
             bz2.compress(main), lzma.compress(main, format=lzma.FORMAT_ALONE), early + b"\x28\xb5\x2f\xfd" + main[:64]]
    return built


IMAGES = images()


def _mutate(args):
    data, ops = args
    data = bytearray(data)
    for kind, pos, blob in ops:
        pos = pos % (len(data) + 1)
        if kind == 0:
            data[pos:pos] = blob
        elif kind == 1:
            del data[pos:pos + len(blob) + 1]
        elif kind == 2:
            data[pos:pos + len(blob)] = blob
        elif kind == 3:
            # a size field of a newc header made huge or garbage
            data[pos:pos + 8] = blob[:8].ljust(8, b"f")
        else:
            del data[pos:]
    return bytes(data)


IMAGE = st.one_of(
    st.tuples(st.sampled_from(IMAGES),
              st.lists(st.tuples(st.integers(0, 4), st.integers(0, 10 ** 6), st.binary(max_size=12)),
                       min_size=1, max_size=5)).map(_mutate),
    st.binary(max_size=600),
    st.sampled_from(IMAGES),
)


@pytest.fixture(scope="module")
def root():
    with tempfile.TemporaryDirectory() as top:
        os.makedirs(os.path.join(top, "boot"))
        yield Root(top)


@fuzz_settings(3)
@given(data=IMAGE)
def test_initramfs_reader(root, data):
    count("initramfs")
    with open(os.path.join(root.path, "boot/initrd.img"), "wb") as handle:
        handle.write(data)
    try:
        names = []
        for name in initramfs.iter_names(root, "/boot/initrd.img", runner=None, info={}):
            names.append(name)
            if len(names) > 10000:
                break
        initramfs.find_modules(root, "/boot/initrd.img", {"virtio_blk", "nvme_core"})
        initramfs.find_modules(root, "/boot/initrd.img", {"virtio_blk", "virtio_console"}, version="6.1.0")
    except initramfs.InitramfsError:
        fuzzlib.EXPECTED["InitramfsError"] += 1


def test_the_unmutated_images_are_read():
    with tempfile.TemporaryDirectory() as top:
        os.makedirs(os.path.join(top, "boot"))
        for data in IMAGES[:-1]:
            with open(os.path.join(top, "boot/initrd.img"), "wb") as handle:
                handle.write(data)
            found = initramfs.list_names(Root(top), "/boot/initrd.img")
            assert "init" in found or "kernel/x86/microcode/GenuineIntel.bin" in found, found
