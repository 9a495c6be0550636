import struct

import pytest

from agent.facts import elf as elf_facts
from agent.checks.architecture import Architecture
from agent.core.engine import Engine
from agent.core.model import Status


def elf(machine, bits=64, little=True):
    """A 64-byte ELF header (the part the check reads) of an executable for `machine`."""
    order = "<" if little else ">"
    ident = b"\x7fELF" + bytes([2 if bits == 64 else 1, 1 if little else 2, 1, 0]) + b"\x00" * 8
    header = ident + struct.pack(order + "HHI", 3, machine, 1)
    return header + b"\x00" * (64 - len(header))


def run(guest):
    return Engine([Architecture]).run_check(guest.ctx(), Architecture())


@pytest.mark.parametrize("machine,bits,little,arch", [
    (62, 64, True, "x86_64"), (183, 64, True, "arm64"), (3, 32, True, "i386"), (40, 32, True, "arm"),
    (22, 64, False, "s390x"), (62, 32, True, "x32"), (243, 64, True, "riscv64")])
def test_parse_elf(machine, bits, little, arch):
    assert elf_facts.parse_elf(elf(machine, bits, little)) == (arch, bits, "")


@pytest.mark.parametrize("data", [b"", b"#!/bin/sh\n", b"\x7fELF", b"\x7fELF\x03\x01" + b"\x00" * 60])
def test_parse_elf_garbage(data):
    arch, _bits, problem = elf_facts.parse_elf(data)
    assert arch is None and problem


def test_x86_64_passes_naming_the_binary(guest):
    guest.write("/usr/bin/dash", elf(62) + b"\x00" * 1000, mode=0o755)
    guest.symlink("/bin", "usr/bin") if not guest.exists("/bin") else None
    guest.symlink("/usr/bin/sh", "dash")
    result = run(guest)
    assert result.status == Status.PASS
    assert result.summary == "x86_64 (ELF header of /bin/sh): import with Architecture=x86_64"


def test_arm64_is_info_with_uefi(guest):
    guest.write("/usr/bin/env", elf(183), mode=0o755)
    result = run(guest)
    assert result.status == Status.INFO
    assert result.summary == "arm64 (ELF header of /usr/bin/env): import with Architecture=arm64 and BootMode=UEFI"


def test_i386_passes(guest):
    guest.write("/bin/sh", elf(3, bits=32), mode=0o755)
    assert run(guest).summary == "i386 (ELF header of /bin/sh): import with Architecture=i386"


def test_s390x_fails(guest):
    guest.write("/bin/sh", elf(22, little=False), mode=0o755)
    result = run(guest)
    assert result.status == Status.FAIL
    assert "ECS imports only x86_64, i386 and arm64 images" in result.summary


def test_script_instead_of_binary_then_next_candidate(guest):
    guest.write("/bin/sh", "#!/bin/busybox sh\n", mode=0o755)
    guest.write("/usr/bin/env", elf(62), mode=0o755)
    assert run(guest).summary.startswith("x86_64 (ELF header of /usr/bin/env)")


def test_nothing_readable_warns(guest):
    guest.write("/bin/sh", "#!/bin/busybox sh\n", mode=0o755)
    guest.mkdir("/usr/bin/env")
    result = run(guest)
    assert result.status == Status.WARN
    assert "/bin/sh: not an ELF file" in result.summary
    assert "/usr/bin/env: not a regular file (a directory)" in result.summary


def test_unreadable_architecture_points_file_at_something_the_image_has(guest):
    guest.write("/boot/vmlinuz-6.1.0-18-amd64", b"\x00kernel")
    guest.mkdir("/lib/modules/6.1.0-18-amd64")
    result = run(guest)
    assert result.status == Status.WARN and "none of /bin/sh" in result.summary
    # Not `file /bin/sh`: the summary just said there is none.
    assert list(result.commands) == ["file " + guest.host("/boot/vmlinuz-6.1.0-18-amd64")]
    guest.write("/bin/sh", "#!/bin/busybox sh\n", mode=0o755)
    assert list(run(guest).commands) == ["file " + guest.host("/bin/sh")]
