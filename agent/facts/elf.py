"""The target's architecture, from an ELF header: the one ELF parser.

It works on a mounted image of another architecture (uname on the helper machine would
name the helper's). ImportImage's Architecture (seed 001) takes x86_64, arm64 or i386;
the names here are ImportImage's (arm64, not uname -m's aarch64), and every consumer
(Architecture, BootMode, seed 000's ARM64 rules in agent.facts.cloudinit) compares with
them as they are: nobody translates.
"""
import struct

from agent.core.model import Message
from agent.core.rootfs import RootError

ELF_MACHINES = {2: "sparc", 3: "i386", 8: "mips", 20: "ppc", 21: "ppc64", 22: "s390x", 40: "arm",
                43: "sparc64", 62: "x86_64", 183: "arm64", 243: "riscv64", 258: "loongarch64"}
# The values ImportImage's Architecture takes (001: 32-bit, 64-bit, Arm 64-bit).
IMPORT_ARCHITECTURES = ("x86_64", "arm64", "i386")
ELF_CANDIDATES = ("/bin/sh", "/usr/bin/env", "/bin/bash", "/usr/bin/bash", "/sbin/init", "/usr/bin/ls")


def parse_elf(data):
    """(architecture or None, bits, problem) from the first bytes of an ELF file."""
    if len(data) < 20 or data[:4] != b"\x7fELF":
        return None, 0, Message("not an ELF file")
    bits = {1: 32, 2: 64}.get(data[4], 0)
    order = {1: "<", 2: ">"}.get(data[5])
    if not bits or not order:
        return None, bits, Message("unknown ELF class or byte order")
    machine = struct.unpack(order + "H", data[18:20])[0]
    name = ELF_MACHINES.get(machine)
    if name is None:
        return None, bits, Message("unknown ELF machine {machine}", machine=machine)
    if name == "x86_64" and bits == 32:
        name = "x32"
    return name, bits, ""


def architecture(ctx):
    """{'arch', 'bits', 'source', 'problems'}: the first readable ELF among ELF_CANDIDATES."""
    def compute():
        problems = []
        for path in ELF_CANDIDATES:
            if not ctx.root.exists(path):
                continue
            try:
                data = ctx.root.read_bytes(path)[:64]
            except RootError as e:
                problems.append(e.message)
                continue
            arch, bits, problem = parse_elf(data)
            if arch:
                return {"arch": arch, "bits": bits, "source": path, "problems": problems}
            problems.append(Message("{path}: {reason}", path=path, reason=problem))
        return {"arch": None, "bits": 0, "source": "", "problems": problems}
    return ctx.fact("architecture", compute)
