"""agent.facts.initramfs: names inside real-format initramfs images, built here byte by byte."""
import bz2
import gzip
import lzma
import shutil
import subprocess

import pytest

from agent.facts import initramfs
from agent.facts.initramfs import InitramfsError
from agent.core.rootfs import Root
from agent.core.runner import ReadOnlyRunner
from streamcount import CountingRunner

MODULES = "usr/lib/modules/6.1.0-50-cloud-amd64/kernel/drivers/"
FILES = [(".", b""), ("bin", b""), ("init", b"#!/bin/sh\nexec /sbin/init\n"),
         (MODULES + "block/virtio_blk.ko", b"\x7fELF" + b"x" * 1001),
         (MODULES + "net/virtio_net.ko.xz", b"\xfd7zXZ" + b"y" * 77),
         (MODULES + "nvme/host/nvme-core.ko.zst", b"z" * 3),
         ("etc/modprobe.d/x.conf", b"")]


def newc(files, magic=b"070701", pad_to=512):
    out = b""
    for ino, entry in enumerate(files + [("TRAILER!!!", b"")], 1):
        name, data = entry[:2]     # (name, data) or (name, data, mode)
        encoded = name.encode() + b"\x00"
        mode = entry[2] if len(entry) > 2 else 0o100644 if data or name.endswith(".ko") else 0o40755
        fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(encoded), 0]
        header = magic + b"".join(b"%08X" % f for f in fields)
        out += header + encoded
        out += b"\x00" * ((4 - len(out) % 4) % 4)
        out += data + b"\x00" * ((4 - len(data) % 4) % 4)
    return out + b"\x00" * ((pad_to - len(out) % pad_to) % pad_to)


def odc(files):
    out = b""
    for ino, (name, data) in enumerate(files + [("TRAILER!!!", b"")], 1):
        encoded = name.encode() + b"\x00"
        out += b"070707" + b"%06o" % 0 + b"%06o" % ino + b"%06o" % 0o100644 + b"%06o" % 0 * 4 \
            + b"%011o" % 0 + b"%06o" % len(encoded) + b"%011o" % len(data) + encoded + data
    return out


def old_binary(files):
    out = b""
    for ino, (name, data) in enumerate(files + [("TRAILER!!!", b"")], 1):
        encoded = name.encode() + b"\x00"
        words = [0o70707, 0, ino, 0o100644, 0, 0, 1, 0, 0, 0, len(encoded), len(data) >> 16, len(data) & 0xFFFF]
        out += b"".join(w.to_bytes(2, "little") for w in words) + encoded + b"\x00" * (len(encoded) % 2)
        out += data + b"\x00" * (len(data) % 2)
    return out


EARLY = newc([("kernel", b""), ("kernel/x86", b""), ("kernel/x86/microcode", b""),
              ("kernel/x86/microcode/GenuineIntel.bin", b"\x01" * 1000)])
NAMES = [name for name, _ in FILES]


@pytest.fixture
def image(tmp_path):
    (tmp_path / "boot").mkdir()

    def write(data):
        (tmp_path / "boot/initrd.img").write_bytes(data)
        return Root(str(tmp_path)), "/boot/initrd.img"
    return write


@pytest.mark.parametrize("compress", [
    lambda d: d,
    gzip.compress,
    lambda d: lzma.compress(d, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32),
    lambda d: lzma.compress(d, format=lzma.FORMAT_ALONE),
    bz2.compress,
], ids=["none", "gzip", "xz", "lzma", "bzip2"])
def test_every_standard_library_compression(image, compress):
    root, path = image(compress(newc(FILES)))
    assert initramfs.list_names(root, path) == NAMES


def test_early_microcode_then_compressed_main_archive(image):
    root, path = image(EARLY + gzip.compress(newc(FILES)))
    info = {}
    names = list(initramfs.iter_names(root, path, info=info))
    assert names[:4] == ["kernel", "kernel/x86", "kernel/x86/microcode", "kernel/x86/microcode/GenuineIntel.bin"]
    assert names[4:] == NAMES
    assert info["compression"] == ["none", "gzip"]


def test_several_compressed_segments_and_crc_format(image):
    second = newc([("lib/extra.ko", b"e" * 5)], magic=b"070702")
    root, path = image(gzip.compress(newc(FILES)) + b"\x00" * 100 + lzma.compress(second))
    assert initramfs.list_names(root, path) == NAMES + ["lib/extra.ko"]


def test_segments_far_larger_than_one_read_each_end_where_the_next_begins(image):
    # Each segment decompresses to megabytes while the reader takes 64 KiB pieces of output:
    # input the decompressor holds back must be fed again, and each segment's end found
    # exactly, or the next segment's names go missing.
    big = [("lib/firmware/big-{}.bin".format(i), bytes(range(256)) * 4096) for i in range(3)]
    segments = [gzip.compress(newc(big + [("a.ko", b"a")])),
                lzma.compress(newc(big + [("b.ko", b"b")]), format=lzma.FORMAT_XZ),
                bz2.compress(newc(big + [("c.ko", b"c")])),
                lzma.compress(newc(big + [("d.ko", b"d")]), format=lzma.FORMAT_ALONE),
                gzip.compress(newc(big + [("e.ko", b"e")]))]
    root, path = image(EARLY + b"".join(segments))
    info = {}
    names = list(initramfs.iter_names(root, path, info=info))
    assert [n for n in names if n.endswith(".ko")] == ["a.ko", "b.ko", "c.ko", "d.ko", "e.ko"]
    assert len(names) == 4 + 5 * 4
    assert info["compression"] == ["none", "gzip", "xz", "bzip2", "lzma", "gzip"]
    assert initramfs.find_modules(root, path, {"a", "e", "absent"}) == {"a", "e"}


def test_odc_and_old_binary_cpio(image):
    root, path = image(odc(FILES))
    assert initramfs.list_names(root, path) == NAMES
    root, path = image(old_binary(FILES))
    assert initramfs.list_names(root, path) == NAMES


def test_find_modules_normalises_names_and_suffixes(image):
    root, path = image(gzip.compress(newc(FILES)))
    found = initramfs.find_modules(root, path, {"virtio_blk", "virtio_net", "nvme_core", "virtio_pci"})
    assert found == {"virtio_blk", "virtio_net", "nvme_core"}


def test_find_modules_stops_once_everything_is_found(image):
    # A truncated header after the wanted entry would be an error if it were read.
    archive = newc(FILES[:4], pad_to=4)
    data = archive[:archive.rindex(b"070701")] + b"070701" + b"0" * 20
    root, path = image(data)
    assert initramfs.find_modules(root, path, {"virtio_blk"}) == {"virtio_blk"}
    with pytest.raises(InitramfsError):
        initramfs.list_names(root, path)


VERSION = "6.1.0-50-cloud-amd64"
DEP = "usr/lib/modules/{}/modules.dep".format(VERSION)
# What mkinitramfs and dracut write: the modules, modules.dep listing them, then (sorted after
# it) the libraries and programs.
LISTED = (b"kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko\n"
          b"kernel/drivers/net/virtio_net.ko.xz:\nkernel/drivers/nvme/host/nvme-core.ko.zst:\n")
TAIL = [("usr/lib/x86_64-linux-gnu/libc.so.6", b"c" * 5000), ("usr/sbin/modprobe", b"m" * 300)]


def _damaged_after(entries, rest):
    """A gzip image whose archive breaks (a truncated header) after `entries`: reading past
    them raises InitramfsError, so an answer means the reader stopped before."""
    archive = newc(entries + rest, pad_to=4)
    cut = archive.index(rest[0][0].encode()) - 110
    return gzip.compress(archive[:cut] + b"070701" + b"0" * 20)


def test_find_modules_stops_at_the_images_modules_dep_when_it_lists_none_of_the_rest(image):
    # virtio_console is not in modules.dep: nothing after it can change the answer.
    root, path = image(_damaged_after(FILES + [(DEP, LISTED)], TAIL))
    wanted = {"virtio_blk", "virtio_net", "virtio_console"}
    assert initramfs.find_modules(root, path, wanted, version=VERSION) == {"virtio_blk", "virtio_net"}
    # Without the kernel's version the whole image is read (and here found damaged).
    with pytest.raises(InitramfsError, match="truncated"):
        initramfs.find_modules(root, path, wanted)


@pytest.mark.parametrize("dep_entry", [
    (DEP, LISTED + b"kernel/drivers/char/virtio_console.ko:\n"),      # lists it: look on
    ("usr/lib/modules/5.10.0-9-amd64/modules.dep", LISTED),              # another kernel's
    (DEP, b"# no module lines\n"),                                      # lists nothing
    (DEP, b"kernel/drivers/char/other.ko", 0o120777),                   # a symbolic link
], ids=["lists-it", "other-version", "empty", "symlink"])
def test_a_modules_dep_that_cannot_rule_a_module_out_is_read_past(image, dep_entry):
    late = [("usr/lib/modules/{}/updates/virtio_console.ko".format(VERSION), b"\x7fELF")]
    root, path = image(gzip.compress(newc(FILES + [dep_entry] + late + TAIL)))
    wanted = {"virtio_blk", "virtio_console"}
    assert initramfs.find_modules(root, path, wanted, version=VERSION) == wanted


def test_a_module_file_that_modules_dep_leaves_out_is_not_loadable(image):
    # modprobe would not find it: the image lacks the driver, whatever file comes later.
    late = [("usr/lib/modules/{}/extra/virtio_console.ko".format(VERSION), b"\x7fELF")]
    root, path = image(gzip.compress(newc(FILES + [(DEP, LISTED)] + late)))
    assert initramfs.find_modules(root, path, {"virtio_console"}, version=VERSION) == set()
    assert initramfs.find_modules(root, path, {"virtio_console"}) == {"virtio_console"}


def test_lib_modules_without_usr_and_a_modules_dep_larger_than_one_read(image):
    # A non-merged /usr image's lib/modules, and a modules.dep of a generic kernel's size
    # (read in pieces): the answer is the same as reading everything.
    dep = "lib/modules/{}/modules.dep".format(VERSION)
    big = LISTED + b"".join(b"kernel/drivers/misc/m%05d.ko:\n" % i for i in range(20000))
    root, path = image(_damaged_after(FILES + [(dep, big)], TAIL))
    assert len(big) > 3 * initramfs.CHUNK
    assert initramfs.find_modules(root, path, {"virtio_blk", "virtio_console"}, version=VERSION) == {"virtio_blk"}


# Damaged images and what their error says (tests/checks/test_virtio.py reports them in Japanese
# and Chinese too).
BAD_IMAGES = [
    (b"MZ\x90\x00 this is a PE file" * 10, "not an initramfs"),
    (gzip.compress(newc(FILES))[:200], "truncated gzip"),
    (newc(FILES)[:300], "truncated"),
    (b"070701" + b"ZZZZZZZZ" * 13, "damaged cpio header"),
    (b"\x00" * 4096, "no cpio archive"),
    # a name size of 4 GiB: refused before anything is read or allocated
    (b"070701" + b"0" * 48 + b"00000000" + b"0" * 32 + b"FFFFFFFF" + b"00000000" + b"x" * 64,
     r"name size 4294967295"),
    (b"", "empty"),
]


@pytest.mark.parametrize("data, message", BAD_IMAGES)
def test_bad_images_raise_a_clear_error(image, data, message):
    root, path = image(data)
    with pytest.raises(InitramfsError, match=message):
        initramfs.list_names(root, path)


def test_a_directory_or_a_missing_file_is_an_error(tmp_path):
    (tmp_path / "boot/initrd.img").mkdir(parents=True)
    with pytest.raises(InitramfsError, match="not a regular file"):
        initramfs.list_names(Root(str(tmp_path)), "/boot/initrd.img")
    with pytest.raises(InitramfsError, match="No such file"):
        initramfs.list_names(Root(str(tmp_path)), "/boot/absent")


def test_a_fifo_is_refused_without_blocking(tmp_path):
    import os
    (tmp_path / "boot").mkdir()
    os.mkfifo(str(tmp_path / "boot/initrd.img"))
    with pytest.raises(InitramfsError, match="not a regular file"):
        initramfs.list_names(Root(str(tmp_path)), "/boot/initrd.img")


def _tool(name, args, data):
    proc = subprocess.Popen([name] + args, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    return proc.communicate(data)[0]


def _hostile_tool(root, name):
    """The image's own decompressor is a script that leaves a marker: it must never run."""
    import os
    marker = os.path.join(root.path, "MARKER-" + name)
    tool = os.path.join(root.path, "usr", "bin", name)
    os.makedirs(os.path.dirname(tool), exist_ok=True)
    with open(tool, "w") as handle:
        handle.write("#!/bin/sh\necho ran > {}\ncat\n".format(marker))
    os.chmod(tool, 0o755)
    return marker


@pytest.mark.skipif(not shutil.which("zstd"), reason="no zstd on this machine")
def test_zstd_goes_through_the_hosts_tool_never_the_images(image):
    import os
    # Debian 12's initramfs-tools default: early cpio, then zstd.
    root, path = image(EARLY + _tool("zstd", ["-q", "-c"], newc(FILES)))
    marker = _hostile_tool(root, "zstd")
    runner = ReadOnlyRunner(root.path)
    names = initramfs.list_names(root, path, runner)
    assert names[4:] == NAMES
    assert initramfs.find_modules(root, path, {"virtio_blk"}, runner) == {"virtio_blk"}
    assert initramfs.list_names(root, path, None)[4:] == NAMES
    assert runner.refused == [] and not os.path.exists(marker)


@pytest.mark.skipif(not shutil.which("zstd"), reason="no zstd on this machine")
def test_zstd_stops_reading_once_every_wanted_module_is_seen_and_reaps_the_decompressor(image):
    import os
    # The wanted modules first, then 8 MiB of firmware: once both are seen nothing more is read,
    # and the host's zstd, still writing, is killed and waited for (no zombie, no stray process).
    firmware = [("usr/lib/firmware/blob-{}.bin".format(i), os.urandom(1 << 20)) for i in range(8)]
    root, path = image(EARLY + _tool("zstd", ["-q", "-c"], newc(FILES[:5] + firmware)))
    counting = CountingRunner(root.path)
    found = initramfs.find_modules(root, path, {"virtio_blk", "virtio_net"}, counting)
    assert found == {"virtio_blk", "virtio_net"}
    assert len(counting.streams) == 1 and counting.streams[0].proc.returncode is not None   # stopped and reaped
    assert counting.streamed() < 1 << 20
    # One module that is not there: the whole image is read, to the trailer.
    counting = CountingRunner(root.path)
    found = initramfs.find_modules(root, path, {"virtio_blk", "virtio_console"}, counting)
    assert found == {"virtio_blk"}
    assert counting.streamed() > 8 << 20 and counting.streams[0].proc.returncode is not None
    if hasattr(os, "splice"):
        # The files' data is spliced to /dev/null: only the headers enter this process.
        assert sum(counting.taken) < 1 << 20
    # The image's modules.dep after the modules rules virtio_console out: the firmware after it
    # is not read either.
    root, path = image(EARLY + _tool("zstd", ["-q", "-c"], newc(FILES[:5] + [(DEP, LISTED)] + firmware)))
    counting = CountingRunner(root.path)
    found = initramfs.find_modules(root, path, {"virtio_blk", "virtio_console"}, counting, version=VERSION)
    assert found == {"virtio_blk"}
    assert counting.streamed() < 1 << 20 and counting.streams[0].proc.returncode is not None


@pytest.mark.skipif(not shutil.which("lz4"), reason="no lz4 on this machine")
def test_lz4_legacy_frame_goes_through_the_hosts_tool(image):
    import os
    root, path = image(_tool("lz4", ["-l", "-q", "-c"], newc(FILES)))
    marker = _hostile_tool(root, "lz4")
    assert initramfs.list_names(root, path, ReadOnlyRunner(root.path)) == NAMES
    assert not os.path.exists(marker)


def test_zstd_when_this_machine_lacks_zstd_says_which_package(image, monkeypatch):
    from agent.core import runner as runner_mod
    monkeypatch.setattr(runner_mod, "host_tool", lambda name: None)
    root, path = image(b"\x28\xb5\x2f\xfd" + b"\x00" * 100)
    with pytest.raises(InitramfsError, match="this machine has no zstd .*install package zstd"):
        initramfs.list_names(root, path, ReadOnlyRunner(root.path))


def test_module_name():
    assert initramfs.module_name("lib/modules/x/nvme-core.ko.xz") == "nvme_core"
    assert initramfs.module_name("lib/modules/x/virtio_blk.ko") == "virtio_blk"
    assert initramfs.module_name("lib/modules/x/modules.dep") is None


@pytest.mark.skipif(not shutil.which("zstd"), reason="no zstd on this machine")
def test_damaged_zstd_data_reports_what_the_hosts_zstd_said(image):
    data = _tool("zstd", ["-q", "-c"], newc(FILES))
    damaged = data[:6] + bytes(b ^ 0x5A for b in data[6:])    # the frame header and all after it
    root, path = image(EARLY + damaged)
    with pytest.raises(InitramfsError, match=r"zstd -dcq --no-check exited with 1: .*(?i:corrupt|error)"):
        initramfs.list_names(root, path, ReadOnlyRunner(root.path))


@pytest.mark.skipif(not shutil.which("zstd"), reason="no zstd on this machine")
def test_a_wrong_zstd_checksum_does_not_change_the_names(image):
    # The frame's checksum covers the decompressed bytes and is known only at their end: the
    # names are all read by then, and the files' data it protects is thrown away.
    data = _tool("zstd", ["-q", "-c", "--check"], newc(FILES))
    wrong = data[:-4] + bytes(b ^ 0xFF for b in data[-4:])
    root, path = image(EARLY + wrong)
    assert subprocess.run(["zstd", "-dcq"], input=wrong, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode != 0
    assert initramfs.list_names(root, path, ReadOnlyRunner(root.path))[-len(NAMES):] == NAMES


def _drain(stream):
    """All a Stream's output, read as the reader reads it (one read(2) at a time)."""
    out = b""
    while True:
        piece = stream.read1(1 << 16)
        if not piece:
            return out
        out += piece


def test_host_stream_runs_the_program_in_slash_with_default_signals_and_its_stderr_kept(tmp_path):
    import os
    from agent.core import runner as runner_mod
    script = ("pwd; grep '^SigIgn' /proc/self/status; echo trouble >&2; head -c 5; exit 3")
    source = tmp_path / "input"
    source.write_bytes(b"12345678")
    fd = os.open(str(source), os.O_RDONLY)
    try:
        os.lseek(fd, 2, os.SEEK_SET)    # from the descriptor's offset, as the reader hands it over
        stream = runner_mod.host_stream(("sh", "-c", script), fd)
        out = _drain(stream)
        assert stream.close() == 3
    finally:
        os.close(fd)
    lines = out.decode().splitlines()
    assert lines[0] == "/"
    ignored = int(lines[1].split()[1], 16)
    assert not ignored & (1 << (13 - 1))          # SIGPIPE back at its default (Python ignores it)
    assert lines[2] == "34567"
    assert stream.error_text() == "trouble"


def test_host_stream_hands_the_program_no_descriptor_but_its_stdio(tmp_path):
    import os
    from agent.core import runner as runner_mod
    inherited = os.open(os.devnull, os.O_RDONLY)
    os.set_inheritable(inherited, True)       # as a caller (Packer, Ansible) may leave one open
    fd = os.open(os.devnull, os.O_RDONLY)
    try:
        stream = runner_mod.host_stream(("sh", "-c", "ls /proc/$$/fd"), fd)
        out = _drain(stream)
        assert stream.close() == 0
    finally:
        os.close(fd)
        os.close(inherited)
    # the shell's own 0, 1, 2 (and whatever sh itself opens above 9), nothing of ours
    assert str(inherited) not in out.decode().split(), out


def test_host_stream_discard_drops_output_without_reading_it(tmp_path):
    from agent.core import runner as runner_mod
    import os
    fd = os.open(os.devnull, os.O_RDONLY)
    try:
        stream = runner_mod.host_stream(("sh", "-c", "head -c 300000 /dev/zero; printf END"), fd)
        dropped = 0
        while dropped < 300000:
            count = stream.discard(300000 - dropped)
            assert count > 0
            dropped += count
        assert dropped == 300000
        assert stream.read1(100) == b"END"
        assert stream.read1(100) == b"" and stream.close() == 0
    finally:
        os.close(fd)


def test_a_killed_decompressor_is_reaped_and_reported_as_stopped():
    from agent.core import runner as runner_mod
    import os
    fd = os.open(os.devnull, os.O_RDONLY)
    try:
        stream = runner_mod.host_stream(("sh", "-c", "exec cat /dev/zero"), fd)
        assert stream.read1(10) == b"\0" * 10
        assert stream.close() is None                # stopped by guestprep, not failed
        assert stream.proc.returncode == -9
        with pytest.raises(ChildProcessError):
            os.waitpid(stream.proc.pid, os.WNOHANG)   # no zombie left
    finally:
        os.close(fd)
