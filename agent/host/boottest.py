"""guestprep boot-test DISK: boot an exported disk under qemu the way ECS will boot it.

Alibaba's own image check runs only after the upload (seed 000: the imported image must
boot on virtio with DHCP, and the instance is reached over SSH on port 22). This boots the
disk on this machine first: through its own bootloader (SeaBIOS, or OVMF for a UEFI image),
with the disk on virtio-blk and one virtio-net NIC on qemu's user-mode network, which
serves DHCP, with a loopback port forwarded to the guest's port 22. It passes when the
serial console shows a login prompt and an SSH banner answers on that port.

The disk is never modified: qemu writes to a temporary qcow2 overlay whose backing file is
the disk (opened read-only). The guest network is `restrict=on`: the guest can reach
nothing outside qemu (only its DHCP and the forwarded port), and only 127.0.0.1 is used on
this side. The qemu process is always stopped at the end: timeout, failure, Ctrl-C or
SIGTERM; and Linux kills it if guestprep itself is killed.
"""
import json
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import time

import agent
from agent.core.engine import UsageError
from agent.core.runner import HostRunner
from agent.facts import disks
from agent.output import report

FORMATS = ("raw", "qcow2", "vpc", "vmdk", "vhdx")
DEFAULT_TIMEOUT = 300     # TCG boots a Debian cloud kernel to the login prompt in about 90 s
KVM_GRACE = 30            # an accelerated boot that printed nothing by then is taken as broken KVM
SSH_GRACE = 90            # after the login prompt, how long sshd may still take to answer
POLL = 0.5
SMP, MEMORY_MIB = 2, 1024

QEMU_NAMES = ("qemu-system-x86_64", "/usr/libexec/qemu-kvm")
PACKAGE_HINT = ("Debian/Ubuntu: apt-get install qemu-system-x86 qemu-utils; "
                "RHEL/Fedora: dnf install qemu-kvm qemu-img")
OVMF_PAIRS = (  # (code, vars template): Debian's ovmf, RHEL/Fedora's edk2-ovmf, SUSE's qemu-ovmf-x86_64
    ("/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd"),
    ("/usr/share/OVMF/OVMF_CODE.fd", "/usr/share/OVMF/OVMF_VARS.fd"),
    ("/usr/share/edk2/ovmf/OVMF_CODE.fd", "/usr/share/edk2/ovmf/OVMF_VARS.fd"),
    ("/usr/share/edk2/x64/OVMF_CODE.4m.fd", "/usr/share/edk2/x64/OVMF_VARS.4m.fd"),
    ("/usr/share/qemu/ovmf-x86_64-code.bin", "/usr/share/qemu/ovmf-x86_64-vars.bin"),
)


PASS, FAIL = "PASS", "FAIL"


class BootTestUsage(Exception):
    """Bad input or a missing tool: exit 2."""


# ---------------------------------------------------------------------------------------
# Pure parts: firmware from the partition table, the qemu command line, console analysis.

def detect_firmware(head):
    """('bios' | 'uefi', reason) from the disk's first sectors (MBR, GPT header and entries;
    read by agent.facts.disks.partition_table, the one partition table reader).

    UEFI when there is an EFI system partition and no way for a BIOS to boot the disk: a
    hybrid image (ESP and a BIOS boot partition, as cloud images have) boots BIOS, ECS's
    default boot mode.
    """
    table, types = disks.partition_table(head)
    if table == "none":
        return "bios", "no partition table (no MBR signature): trying BIOS"
    if table == "mbr":
        if "0xee" in types:
            return "bios", "protective MBR but no GPT header in sector 1: trying BIOS"
        if "0xef" in types:
            return "uefi", "MBR with an EFI system partition (type 0xef)"
        return "bios", "MBR partition table"
    if disks.ESP_GUID in types and disks.BIOS_BOOT_GUID in types:
        return "bios", "GPT with an EFI system partition and a BIOS boot partition (hybrid): BIOS, ECS's default"
    if disks.ESP_GUID in types:
        return "uefi", "GPT with an EFI system partition"
    return "bios", "GPT without an EFI system partition"


def qemu_argv(qemu, accel, overlay, port, console, firmware="bios", ovmf=None, bios_log=None,
              smp=SMP, memory=MEMORY_MIB):
    """The qemu command line: virtio-blk disk, one virtio-net NIC on a restricted user network."""
    argv = [qemu, "-name", "guestprep-boot-test", "-nodefaults", "-no-user-config", "-display", "none",
            "-vga", "std", "-no-reboot", "-smp", str(smp), "-m", str(memory)]
    if accel == "kvm":
        argv += ["-accel", "kvm", "-cpu", "host"]
    else:
        argv += ["-accel", "tcg", "-cpu", "max"]
    if firmware == "uefi":
        code, variables = ovmf
        argv += ["-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" + code,
                 "-drive", "if=pflash,format=raw,unit=1,file=" + variables]
    elif bios_log:
        # SeaBIOS reports "No bootable device" here, not on the serial console.
        argv += ["-chardev", "file,id=bioslog,path=" + bios_log, "-device",
                 "isa-debugcon,iobase=0x402,chardev=bioslog"]
    argv += ["-drive", "file={},format=qcow2,if=virtio,cache=unsafe".format(overlay),
             "-netdev", "user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:{}-:22".format(port),
             "-device", "virtio-net-pci,netdev=net0",
             "-chardev", "file,id=console,path=" + console, "-serial", "chardev:console",
             "-monitor", "none"]
    return argv


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]|\x1b[=>c]")
_LOGIN = re.compile(r"(?m)^(?!Last login)[\w.-]+ login: *")

# (cause id, summary, hint, console patterns), most specific first.
CAUSES = (
    ("root_not_found", "the root file system was not found",
     "The initramfs has no driver for the disk, or root= names a device that does not exist on "
     "virtio: add virtio_blk, virtio_pci (and virtio_scsi) to the initramfs and rebuild it "
     "(guestprep fix --items virtio), and use root=UUID=.",
     (r"ALERT!.*does not exist", r"Gave up waiting for root", r"Cannot open root device",
      r"VFS: Unable to mount root fs", r"/dev/root does not exist", r"dracut-initqueue.*[Tt]imeout",
      r"Could not boot", r"Dropping to a shell", r"^\(initramfs\)")),
    ("selinux", "SELinux stopped the boot",
     "Set SELINUX=disabled in /etc/selinux/config (guestprep fix --items selinux).",
     (r"Failed to load SELinux policy", r"SELinux:.*(freezing|policy load failed)")),
    ("emergency_mode", "systemd went to emergency mode",
     "Usually an /etc/fstab entry for a disk the instance does not have (a data disk): comment it "
     "out or add nofail (guestprep fix --items fstab). The 'Dependency failed' lines above name it.",
     (r"You are in emergency mode", r"Entering emergency mode", r"Give root password for maintenance",
      r"emergency\.target", r"Cannot open access to console, the root account is locked")),
    ("kernel_panic", "the kernel panicked",
     "Read the panic message above; an initramfs or kernel that does not match the disk is common.",
     (r"Kernel panic - not syncing",)),
    ("no_bootloader", "the firmware found nothing to boot",
     "Install the bootloader on the disk (grub-install for BIOS; an EFI system partition for UEFI) "
     "and pick the matching boot mode.",
     (r"No bootable device", r"Boot failed: not a bootable disk", r"No bootable option or device")),
)
NETWORK_PATTERNS = (r"No DHCPOFFERS received", r"Failed to start .*(Raise network interfaces|networking)",
                    r"ifup: failed to bring up", r"Failed to start .*NetworkManager-wait-online",
                    r"Failed to start .*systemd-networkd-wait-online", r"No working leases",
                    r"Failed to start .*(OpenBSD Secure Shell|ssh\.service|sshd\.service)")
EXTRA_PATTERNS = (r"Dependency failed for", r"Timed out waiting for device")


def clean_console(raw):
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    text = _ANSI.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
    return "".join(ch for ch in text if ch in "\n\t" or ord(ch) >= 32)


def login_prompt(text):
    """The login prompt line, or None."""
    match = _LOGIN.search(text)
    return match.group(0).strip() if match else None


def _first(patterns, lines):
    for line in lines:
        for pattern in patterns:
            if re.search(pattern, line):
                return line.strip()
    return None


def fatal_cause(text):
    """A boot-ending cause seen on the console (the boot will not recover), or None."""
    lines = text.splitlines()
    for cause_id, summary, hint, patterns in CAUSES:
        line = _first(patterns, lines)
        if line is not None:
            return cause_id, summary, hint, line
    return None


def analyse(text, saw_login, ssh_banner, timeout, qemu_exit=None, qemu_output=""):
    """The likely cause of a failed boot: {id, summary, hint, line, details}."""
    lines = text.splitlines()
    details = [line.strip() for line in lines if _first(EXTRA_PATTERNS, [line])][:5]
    found = fatal_cause(text)
    if found:
        cause_id, summary, hint, line = found
    elif saw_login and not ssh_banner:
        line = _first(NETWORK_PATTERNS, lines)
        cause_id = "no_network"
        summary = "login prompt, but no SSH banner on the forwarded port 22"
        hint = ("The guest got no DHCP address on its NIC or sshd does not run: configure eth0 (the "
                "only NIC) for DHCP without a pinned MAC (guestprep fix --items dhcp), and enable sshd.")
    elif "KVM internal error" in qemu_output:
        cause_id, line = "qemu", _first((r"KVM internal error",), qemu_output.splitlines())
        summary, hint = "qemu stopped: KVM does not work here", "Run again with --accel tcg."
    elif qemu_exit is not None:
        cause_id, line = "qemu", (qemu_output.strip().splitlines() or [""])[-1]
        summary = "qemu exited with status {} before the guest was up".format(qemu_exit)
        hint = "Read qemu's message; a guest that reboots or powers off also ends the test."
    elif not text.strip():
        cause_id, line = "no_console", None
        summary = "nothing on the serial console within {}s".format(timeout)
        hint = ("The bootloader may be missing or wait at a menu, or the kernel does not log to the "
                "serial port: ECS's console needs console=ttyS0 on the kernel command line.")
    else:
        cause_id, line = "timeout", _first(NETWORK_PATTERNS, lines)
        summary = "no login prompt on the serial console within {}s".format(timeout)
        hint = ("Read the console's last lines; a long wait for a device or a network (start jobs) "
                "is common. A serial getty needs console=ttyS0; a longer --timeout helps on slow TCG.")
    return {"id": cause_id, "summary": summary, "hint": hint, "line": line, "details": details}


def tail(text, count=25):
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines[-count:]


# ---------------------------------------------------------------------------------------
# Host side.

def free_port():
    """A free TCP port on 127.0.0.1 (qemu binds it next; a lost race is retried)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
    finally:
        sock.close()


def ssh_banner(port, timeout=5.0):
    """The SSH identification line the guest sends on 127.0.0.1:port, or None.

    qemu's user network accepts the host-side connection even when nothing listens in the
    guest, so only a banner proves sshd.
    """
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    except OSError:
        return None
    try:
        sock.settimeout(timeout)
        data = b""
        while b"\n" not in data and len(data) < 512:
            chunk = sock.recv(256)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    finally:
        sock.close()
    line = data.split(b"\n", 1)[0].strip().decode("ascii", "replace")
    return line if line.startswith("SSH-") else None


def kvm_usable(path="/dev/kvm"):
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    os.close(fd)
    return True


def find_ovmf(pairs=None):
    for code, variables in OVMF_PAIRS if pairs is None else pairs:
        if os.path.isfile(code) and os.path.isfile(variables):
            return code, variables
    return None


class _Terminated(Exception):
    pass


def _on_sigterm(signum, frame):
    raise _Terminated()


class BootTest(object):
    """One boot of DISK. run() returns the result dict; qemu is stopped whatever happens."""

    def __init__(self, disk, timeout=DEFAULT_TIMEOUT, accel="auto", firmware="auto", keep_console=None,
                 runner=None, progress=None, kvm_grace=None, ssh_grace=None, poll=None, on_ready=None):
        self.disk = disk
        self.timeout = timeout
        self.accel = accel
        self.firmware = firmware
        self.keep_console = keep_console
        self.runner = runner or HostRunner()
        self.progress = progress or (lambda message: None)
        self.kvm_grace = KVM_GRACE if kvm_grace is None else kvm_grace
        self.ssh_grace = SSH_GRACE if ssh_grace is None else ssh_grace
        self.poll = POLL if poll is None else poll
        self.on_ready = on_ready   # called with (port) while the guest is up, before qemu stops
        self.notes = []

    # -- preparation -------------------------------------------------------------------
    def tools(self):
        qemu = next((p for p in (self.runner.which(n) if "/" not in n else (n if os.access(n, os.X_OK) else None)
                                 for n in QEMU_NAMES) if p), None)
        qemu_img = self.runner.which("qemu-img")
        missing = [name for name, path in (("qemu-system-x86_64", qemu), ("qemu-img", qemu_img)) if not path]
        if missing:
            raise BootTestUsage("boot-test needs {} ({})".format(" and ".join(missing), PACKAGE_HINT))
        return qemu, qemu_img

    def image_format(self, qemu_img):
        done = self.runner.run([qemu_img, "info", "--force-share", "--output", "json", self.disk])
        if not done.ok:
            raise BootTestUsage("{}: qemu-img cannot read it: {}".format(
                self.disk, (done.stderr.strip().splitlines() or ["exit {}".format(done.returncode)])[-1]))
        try:
            info = json.loads(done.stdout)
            fmt = info["format"]
        except (ValueError, KeyError, TypeError):
            raise BootTestUsage("{}: qemu-img info gave no format".format(self.disk))
        if fmt not in FORMATS:
            raise BootTestUsage("{}: format {} is not one ECS imports ({})".format(
                self.disk, fmt, ", ".join(FORMATS)))
        return fmt, info.get("virtual-size")

    def make_overlay(self, qemu_img, fmt, path):
        done = self.runner.run([qemu_img, "create", "-q", "-f", "qcow2", "-b", os.path.abspath(self.disk),
                                "-F", fmt, path])
        if not done.ok:
            raise RuntimeError("qemu-img create overlay failed: " + done.stderr.strip())

    def choose_firmware(self, qemu_img, overlay, workdir):
        if self.firmware in ("bios", "uefi"):
            return self.firmware, "asked for with --firmware"
        head = os.path.join(workdir, "head.bin")
        done = self.runner.run([qemu_img, "dd", "-f", "qcow2", "-O", "raw", "bs=512", "count=34",
                                "if=" + overlay, "of=" + head])
        if not done.ok or not os.path.isfile(head):
            return "bios", "could not read the partition table: trying BIOS"
        with open(head, "rb") as handle:
            return detect_firmware(handle.read(34 * 512))

    def choose_accel(self):
        if self.accel in ("kvm", "tcg"):
            return self.accel, "asked for with --accel"
        if kvm_usable():
            return "kvm", "/dev/kvm is usable"
        return "tcg", "no usable /dev/kvm: TCG (software emulation, a few minutes)"

    # -- the boot ----------------------------------------------------------------------
    def run(self):
        previous = None
        try:
            previous = signal.signal(signal.SIGTERM, _on_sigterm)
        except ValueError:   # not the main thread: Ctrl-C and finally still stop qemu
            pass
        workdir = tempfile.mkdtemp(prefix="guestprep-boot-")
        try:
            return self._run(workdir)
        except _Terminated:
            raise KeyboardInterrupt()
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
            shutil.rmtree(workdir, ignore_errors=True)

    def _run(self, workdir):
        if not os.path.exists(self.disk):
            raise BootTestUsage("{}: no such file".format(self.disk))
        if os.path.isdir(self.disk):
            raise BootTestUsage("{}: is a directory, not a disk image".format(self.disk))
        qemu, qemu_img = self.tools()
        fmt, size = self.image_format(qemu_img)
        overlay = os.path.join(workdir, "overlay.qcow2")
        self.make_overlay(qemu_img, fmt, overlay)
        firmware, firmware_reason = self.choose_firmware(qemu_img, overlay, workdir)
        ovmf = None
        if firmware == "uefi":
            found = find_ovmf()
            if not found:
                raise BootTestUsage("UEFI image ({}): OVMF firmware not found (Debian/Ubuntu: apt-get install "
                                    "ovmf; RHEL/Fedora: dnf install edk2-ovmf)".format(firmware_reason))
            variables = os.path.join(workdir, "OVMF_VARS.fd")
            shutil.copyfile(found[1], variables)
            ovmf = (found[0], variables)
        accel, accel_reason = self.choose_accel()
        result = {"format_version": report.FORMAT_VERSION, "tool": "guestprep", "version": agent.__version__,
                  "command": "boot-test", "disk": self.disk, "format": fmt, "virtual_size": size,
                  "firmware": firmware, "firmware_reason": firmware_reason}
        console_path = os.path.join(workdir, "console.log")
        while True:
            outcome = self._boot(qemu, accel, overlay, firmware, ovmf, workdir, console_path)
            if outcome.get("retry_tcg") and self.accel == "auto":
                self.notes.append("KVM: {}; retried with TCG".format(outcome["retry_tcg"]))
                self.progress("KVM does not work here ({}): booting again with TCG".format(outcome["retry_tcg"]))
                os.unlink(overlay)
                self.make_overlay(qemu_img, fmt, overlay)
                if ovmf:
                    shutil.copyfile(find_ovmf()[1], ovmf[1])
                accel, accel_reason = "tcg", "KVM did not work ({}), fell back to TCG".format(outcome["retry_tcg"])
                continue
            break
        text = outcome["console"]
        result.update({"accelerator": accel, "accelerator_reason": accel_reason, "notes": self.notes,
                       "port": outcome["port"], "elapsed": round(outcome["elapsed"], 1),
                       "login_prompt": outcome["login"], "ssh_banner": outcome["banner"]})
        passed = bool(outcome["login"] and outcome["banner"])
        result["status"] = PASS if passed else FAIL
        result["cause"] = None if passed else analyse(text, bool(outcome["login"]), outcome["banner"],
                                                      self.timeout, outcome["qemu_exit"], outcome["qemu_output"])
        result["console_tail"] = tail(text)
        result["qemu_output"] = tail(outcome["qemu_output"], 5) if not passed else []
        result["console_file"] = None
        if self.keep_console:
            shutil.copyfile(console_path, self.keep_console)
            result["console_file"] = os.path.abspath(self.keep_console)
        result["exit_code"] = report.EXIT_OK if passed else report.EXIT_BLOCKING
        return result

    def _boot(self, qemu, accel, overlay, firmware, ovmf, workdir, console_path):
        """One qemu run; returns what was seen. Stops qemu before returning, always."""
        bios_log = os.path.join(workdir, "bios.log")
        qemu_out = os.path.join(workdir, "qemu.out")
        for path in (console_path, bios_log):
            if os.path.exists(path):
                os.unlink(path)
        outcome = {"login": None, "banner": None, "qemu_exit": None, "retry_tcg": None, "console": "",
                   "qemu_output": "", "port": None, "elapsed": 0.0}
        for attempt in range(3):   # a port taken between free_port() and qemu's bind
            port = free_port()
            argv = qemu_argv(qemu, accel, overlay, port, console_path, firmware, ovmf,
                             bios_log if firmware == "bios" else None)
            self.progress("booting under qemu ({}, {}); up to {}s; SSH on 127.0.0.1:{}".format(
                accel.upper(), firmware.upper(), self.timeout, port))
            started = time.time()
            proc = self.runner.start(argv, qemu_out)
            try:
                self._watch(proc, accel, started, port, console_path, bios_log, qemu_out, outcome)
            finally:
                proc.stop()
            outcome["port"] = port
            outcome["elapsed"] = time.time() - started
            outcome["qemu_output"] = _read_text(qemu_out)
            if outcome["qemu_exit"] is not None and "Could not set up host forwarding rule" in outcome["qemu_output"]:
                continue
            break
        outcome["console"] = clean_console(_read_bytes(console_path)) + _bios_failure(bios_log)
        return outcome

    def _watch(self, proc, accel, started, port, console_path, bios_log, qemu_out, outcome):
        deadline = started + self.timeout
        login_at = None
        next_ssh = 0.0
        while True:
            now = time.time()
            text = clean_console(_read_bytes(console_path))
            status = proc.poll()
            if status is not None:
                outcome["qemu_exit"] = status
                output = _read_text(qemu_out)
                if accel == "kvm" and "KVM internal error" in output:
                    outcome["retry_tcg"] = "KVM internal error"
                elif self.accel == "auto" and accel == "kvm" and not text.strip():
                    # e.g. nested KVM refusing the host CPU's MSRs: qemu aborts at once.
                    last = (output.strip().splitlines() or ["exit status {}".format(status)])[-1]
                    outcome["retry_tcg"] = "qemu stopped: " + last.replace("qemu-system-x86_64: ", "")
                return
            if accel == "kvm" and "KVM internal error" in _read_text(qemu_out):
                outcome["retry_tcg"] = "KVM internal error"
                return
            if self.accel == "auto" and accel == "kvm" and not text.strip() and now - started > self.kvm_grace:
                outcome["retry_tcg"] = "no console output within {}s".format(self.kvm_grace)
                return
            if fatal_cause(text + _bios_failure(bios_log)) and not login_at:
                # Give the console a moment for the lines after the first sign, then stop.
                time.sleep(min(2.0, self.poll * 4))
                return
            if login_at is None and login_prompt(text):
                login_at = now
                outcome["login"] = login_prompt(text)
                self.progress("login prompt after {:.0f}s".format(now - started))
            if login_at is not None and now >= next_ssh:
                banner = ssh_banner(port)
                if banner:
                    outcome["banner"] = banner
                    self.progress("SSH answers: " + banner)
                    if self.on_ready:
                        self.on_ready(port)
                    return
                next_ssh = now + 2.0
                if now - login_at > self.ssh_grace:
                    return
            if now >= deadline:
                return
            time.sleep(self.poll)


def _read_bytes(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return b""


def _read_text(path):
    return _read_bytes(path).decode("utf-8", "replace")


def _bios_failure(path):
    """SeaBIOS's own failure line from its debug port, as a console line."""
    text = _read_text(path)
    return "\n[SeaBIOS] No bootable device.\n" if "No bootable device" in text else ""


# ---------------------------------------------------------------------------------------
# Output.

def render_text(result, out):
    firmware = result["firmware"].upper()
    out.write("boot-test {} ({}, {}, {})\n".format(result["disk"], result["format"], firmware,
                                                  result["accelerator"].upper()))
    out.write("  firmware: {}\n  accelerator: {} ({})\n".format(result["firmware_reason"],
                                                                result["accelerator"].upper(),
                                                                result["accelerator_reason"]))
    if result["status"] == PASS:
        out.write("PASS  login prompt and SSH banner after {}s: {}\n".format(result["elapsed"], result["ssh_banner"]))
    else:
        cause = result["cause"]
        out.write("FAIL  {}\n".format(cause["summary"]))
        if cause.get("line"):
            out.write("  seen: {}\n".format(cause["line"]))
        for line in cause.get("details") or []:
            if line != cause.get("line"):
                out.write("  seen: {}\n".format(line))
        out.write("  login prompt: {}; SSH banner: {}\n".format("yes" if result["login_prompt"] else "no",
                                                               result["ssh_banner"] or "none"))
        out.write("  hint: {}\n".format(cause["hint"]))
        out.write("  last console lines:\n")
        for line in result["console_tail"] or ["(nothing)"]:
            out.write("    | {}\n".format(line))
        for line in result.get("qemu_output") or []:
            out.write("  qemu: {}\n".format(line))
    if result["console_file"]:
        out.write("  console log kept in {}\n".format(result["console_file"]))


def main(args):
    """The boot-test command: the exit code (0 pass, 3 boot failed); UsageError (exit 2) for
    usage or missing tools. Every return has printed the result (with --format json, one document)."""
    def progress(message):
        if args.format == "text" or args.verbose:
            sys.stderr.write("guestprep: {}\n".format(message))
            sys.stderr.flush()
    if args.timeout <= 0:
        raise UsageError("--timeout must be positive")
    test = BootTest(args.disk, timeout=args.timeout, accel=args.accel, firmware=args.firmware,
                    keep_console=args.keep_console, progress=progress)
    try:
        result = test.run()
    except BootTestUsage as e:
        raise UsageError(str(e))   # the CLI says it (and with --format json, as a document)
    if args.format == "json":
        sys.stdout.write(report.to_json(result) + "\n")
    else:
        render_text(result, sys.stdout)
    return result["exit_code"]
