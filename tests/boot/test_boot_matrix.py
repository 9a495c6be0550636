"""The boot matrix: disks exported from VMware, Xen, VirtualBox and Hyper-V, fixed on their mounted
root, boot on ECS's virtio hardware and answer SSH over DHCP (e2e; root, qemu TCG, ~4 min a cell).

Each cell is a real Debian root (bookworm or trixie) configured the way that hypervisor leaves
it (tools/build_matrix_image.sh: cached in /var/cache/guestprep-boot), with predictable NIC
names on. The harness adds only its own way in (root's authorized_keys) and a probe that prints
the NIC names and IPv4 addresses on the serial console every 5 s (so that "no lease" is read
from the console, not guessed from a missing SSH banner). Then, one boot at a time, under qemu
TCG with virtio-blk + virtio-net on qemu's user network (DHCP), the NIC at PCI slot 5 (see NIC_SLOT):

  1. the dirty disk fails to boot (the root is not found: asserted from the console's ALERT
     line) or boots and gets no DHCP lease (the probe's lines: no dynamic address);
  2. `guestprep fix --root MNT --items all --yes`, on the root partition mounted as a user
     mounts it (nothing else mounted in it), exits 0;
  3. the fixed disk boots, has a DHCP lease (10.0.2.15, "dynamic") on whatever name its NIC
     got, read over SSH through the forwarded port, and sshd answers.

Every step runs even when an earlier one failed, so that each cell's console logs and the fix's
JSON report are kept in build/boot-results/<suite>-<cell>/ (or $GUESTPREP_BOOT_RESULTS/...),
with a summary in build/boot-results/matrix-summary.json.

Runs only with GUESTPREP_BOOT=1 (tools/test.sh sets it). $GUESTPREP_BOOT_MATRIX picks cells,
e.g. "trixie/vmware,bookworm/xen" (default: the four below; any suite/cell pair builds);
$GUESTPREP_MATRIX_GUESTPREP runs the fix from another checkout (a branch not merged yet).
"""
import json
import os
import re
import shutil
import subprocess
import sys
import time

import pytest

from agent.host import boottest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bootlib import REPO, build_image, mounted, require_boot_harness, say, sh, ssh_key, ssh_run, write  # noqa: E402

pytestmark = pytest.mark.e2e

BUILD = os.path.join(REPO, "tools", "build_matrix_image.sh")
# The checkout whose `python -m agent fix` runs: this one, or another branch's worktree to try
# the matrix against it before it is merged.
GUESTPREP = os.environ.get("GUESTPREP_MATRIX_GUESTPREP") or REPO
LEASE = "10.0.2.15"        # what qemu's user-net DHCP server hands out first
BOOT_TIMEOUT = 600         # to the login prompt: TCG on two shared cores takes 1-5 min
SSH_GRACE = 75             # after the login prompt: enough for DHCP and sshd, and for the probe to tell

# cell -> (source NIC name, what the dirty disk does, the console line that shows it)
CELLS = {
    "vmware": ("ens192", "root_not_found", r"ALERT!\s+/dev/sda1 does not exist"),
    "xen": ("eth0", "root_not_found", r"ALERT!\s+/dev/xvda1 does not exist"),
    "virtualbox": ("enp0s3", "no_lease", None),
    "hyperv": ("eth0", "no_lease", None),
}
DEFAULT_MATRIX = "trixie/vmware,bookworm/xen,trixie/virtualbox,bookworm/hyperv"

# Cells whose fix or fixed boot is known to fail until the work named lands (issue 10). Such a
# cell's dirty boot is still asserted; a failure after it is reported as xfail with what failed;
# a cell here that passes fails the run, so that its entry is removed in the change that fixes
# it. GUESTPREP_BOOT_MATRIX_STRICT=1 treats these cells like the others.
BLOCKED = {}   # all four cells boot after `fix --root --items all` (stop 9, every cell run STRICT)


def matrix():
    cells = []
    for item in os.environ.get("GUESTPREP_BOOT_MATRIX", DEFAULT_MATRIX).split(","):
        suite, _, cell = item.strip().partition("/")
        if cell not in CELLS or suite not in ("bookworm", "trixie"):
            raise ValueError("GUESTPREP_BOOT_MATRIX: {!r} is not suite/cell (cells: {})".format(item, ", ".join(CELLS)))
        cells.append((suite, cell))
    return cells


PROBE = r"""#!/bin/sh
# guestprep boot harness probe: NIC names and IPv4 addresses on the console, every 5 s for 3 min
# or until an address is dynamic (a DHCP lease).
i=0
while [ $i -lt 36 ]; do
  links=$(ip -o link show | awk -F': ' '$2 != "lo" {sub(/@.*/, "", $2); printf "%s ", $2}')
  addrs=$(ip -4 -o addr show scope global | awk '{printf "%s=%s%s ", $2, $4, ($0 ~ / dynamic /) ? "(dynamic)" : "(static)"}')
  echo "<4>guestprep-probe: t=$((i * 5))s links: ${links:-none} addrs: ${addrs:-none}" >/dev/kmsg
  case "$addrs" in *dynamic*) exit 0 ;; esac
  i=$((i + 1))
  sleep 5
done
"""
PROBE_UNIT = """\
[Unit]
Description=guestprep boot harness probe (NIC names and addresses on the console)
DefaultDependencies=no
After=local-fs.target

[Service]
Type=simple
ExecStart=/usr/local/sbin/guestprep-probe

[Install]
WantedBy=multi-user.target
"""
_PROBE_LINE = re.compile(r"guestprep-probe: t=(\d+)s links: (.*?) addrs: (.*)$", re.M)


def probe_lines(console):
    """[(seconds, [NIC names], {name: (address, dynamic?)})] from the console."""
    seen = []
    for match in _PROBE_LINE.finditer(console):
        addrs = {}
        for item in match.group(3).split():
            name, _, rest = item.partition("=")
            if rest:
                addrs[name] = (rest.split("(")[0], rest.endswith("(dynamic)"))
        seen.append((int(match.group(1)), match.group(2).split() if match.group(2) != "none" else [], addrs))
    return seen


def add_harness(root, public_key):
    """The harness's way in and its probe; not a defect, nothing guestprep should change."""
    write(root, "/root/.ssh/authorized_keys", public_key, mode=0o600)
    os.chmod(root + "/root/.ssh", 0o700)
    write(root, "/usr/local/sbin/guestprep-probe", PROBE, mode=0o755)
    write(root, "/etc/systemd/system/guestprep-probe.service", PROBE_UNIT)
    wants = root + "/etc/systemd/system/multi-user.target.wants"
    os.makedirs(wants, exist_ok=True)
    link = os.path.join(wants, "guestprep-probe.service")
    if not os.path.lexists(link):
        os.symlink("/etc/systemd/system/guestprep-probe.service", link)


# The files a cell's defects and fixes live in, copied out before and after the fix (for the report).
SNAPSHOT = ("/etc/network/interfaces", "/etc/network/interfaces.d", "/etc/netplan", "/etc/systemd/network",
            "/etc/NetworkManager/system-connections", "/etc/udev/rules.d/70-persistent-net.rules", "/etc/fstab",
            "/etc/default/grub", "/boot/grub/grub.cfg", "/etc/initramfs-tools/initramfs.conf",
            "/etc/initramfs-tools/modules")


def snapshot(root, dest):
    for path in SNAPSHOT:
        host = root + path
        if os.path.isdir(host) and not os.path.islink(host):
            for name in sorted(os.listdir(host)):
                if os.path.isfile(os.path.join(host, name)):
                    shutil.copyfile(os.path.join(host, name), os.path.join(dest, (path + "/" + name).strip("/").replace("/", "_")))
        elif os.path.isfile(host):
            shutil.copyfile(host, os.path.join(dest, path.strip("/").replace("/", "_")))


def console_text(path):
    with open(path, "rb") as handle:
        return boottest.clean_console(handle.read())


def excerpt(console, pattern=None, count=12):
    """The console lines around the first match of `pattern` (else its last lines)."""
    lines = console.splitlines()
    at = None
    if pattern:
        at = next((i for i, line in enumerate(lines) if re.search(pattern, line)), None)
    if at is None:
        return "\n".join(lines[-count:])
    return "\n".join(lines[max(0, at - count // 2):at + count // 2])


# TCG on a loaded host: the kernel's early check of the IO-APIC timer can fail (a panic within
# the first 0.1 s), a property of the emulation, not of the disk. Such a boot is tried again.
TCG_TIMER_PANIC = "IO-APIC + timer doesn't work"


# The NIC's PCI slot. qemu would put it at 00:03.0, where VirtualBox puts its NIC too: the
# virtio NIC is then named ens3 with the alternative name enp0s3 (systemd's path name), and
# networkd's Name=enp0s3 matches alternative names, so a VirtualBox config keeps working by
# coincidence of the slot. Slot 5 gives ens5/enp0s5: no source hypervisor's name.
NIC_SLOT = "0x5"
_NIC = "virtio-net-pci,netdev=net0"


def _qemu_argv_nic_slot(*args, **kwargs):
    argv = _QEMU_ARGV(*args, **kwargs)
    assert _NIC in argv, argv   # boottest's NIC device changed: adapt the harness
    return [a + ",addr=" + NIC_SLOT if a == _NIC else a for a in argv]


_QEMU_ARGV = boottest.qemu_argv


def boot(raw, console_path, on_ready=None, tries=3):
    for attempt in range(1, tries + 1):
        boottest.qemu_argv = _qemu_argv_nic_slot
        try:
            result = boottest.BootTest(raw, timeout=BOOT_TIMEOUT, accel="tcg", keep_console=console_path,
                                       on_ready=on_ready, ssh_grace=SSH_GRACE, progress=say).run()
        finally:
            boottest.qemu_argv = _QEMU_ARGV
        result["console_text"] = console_text(console_path)
        result["attempts"] = attempt
        if TCG_TIMER_PANIC not in result["console_text"] or attempt == tries:
            return result
        os.rename(console_path, "{}.tcg-timer-panic.{}".format(console_path, attempt))
        say("the kernel panicked in its IO-APIC timer check (TCG on a loaded host): booting again")
    return result


def save(directory, name, data):
    with open(os.path.join(directory, name), "w") as handle:
        if isinstance(data, str):
            handle.write(data)
        else:
            json.dump(data, handle, indent=1, sort_keys=True)


@pytest.fixture(scope="module")
def results():
    path = os.environ.get("GUESTPREP_BOOT_RESULTS") or os.path.join(REPO, "build", "boot-results")
    os.makedirs(path, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def summary(results):
    cells = {}
    yield cells
    path = os.path.join(results, "matrix-summary.json")
    try:   # cells run earlier alone (GUESTPREP_BOOT_MATRIX) keep their last result
        with open(path) as handle:
            cells = dict(json.load(handle), **cells)
    except (OSError, ValueError):
        pass
    save(results, "matrix-summary.json", cells)
    say("matrix summary in " + path)
    for name, cell in sorted(cells.items()):
        say("  {:22} {}".format(name, cell.get("verdict")))


def judge_dirty(cell, result):
    """(ok, what the dirty disk did): it must fail in the way expected of its cell."""
    source_nic, expected, pattern = CELLS[cell]
    console = result["console_text"]
    probes = probe_lines(console)
    if result["status"] == boottest.PASS:
        return False, "booted with a DHCP lease and SSH: the defects did not stop it"
    cause = result["cause"] or {}
    if expected == "root_not_found":
        line = next((l for l in console.splitlines() if re.search(pattern, l)), None)
        if cause.get("id") == "root_not_found" and line:
            return True, "fails to boot: " + line.strip()
        return False, "expected the root not to be found ({}), got {}: {}".format(pattern, cause.get("id"), cause.get("line"))
    # no_lease: the system came up (login prompt) and the probe saw no dynamic address.
    if not result["login_prompt"]:
        return False, "expected a boot without a lease, got no login prompt: {} ({})".format(cause.get("id"), cause.get("line"))
    if not probes:
        return False, "no guestprep-probe line on the console: cannot tell the NIC's state"
    last = probes[-1]
    if any(dynamic for _, _, addrs in probes for _, dynamic in addrs.values()):
        return False, "the probe saw a DHCP lease, yet SSH did not answer: {}".format(last)
    if source_nic in last[1]:
        return False, "the NIC is still named {} on virtio: the rename this cell tests did not happen".format(source_nic)
    return True, "boots, no lease: NIC(s) {} have {} after {}s ({} is configured)".format(
        " ".join(last[1]) or "none", last[2] or "no IPv4 address", last[0], source_nic)


@pytest.mark.parametrize("suite,cell", matrix(), ids=lambda v: v)
def test_exported_disk_fixed_offline_boots_on_virtio_with_dhcp_and_ssh(suite, cell, results, summary, tmp_path):
    require_boot_harness()
    name = "{}-{}".format(suite, cell)
    out = os.path.join(results, name)
    os.makedirs(out, exist_ok=True)
    record = summary.setdefault(name, {"suite": suite, "cell": cell})
    started = time.time()
    image = build_image([BUILD, suite, cell], "{} image".format(name))
    record["image"] = image
    record["guestprep"] = subprocess.run(["git", "-C", GUESTPREP, "describe", "--always", "--dirty"],
                                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                         universal_newlines=True).stdout.strip() or GUESTPREP
    raw = str(tmp_path / "disk.raw")
    mnt = str(tmp_path / "mnt")
    sh("qemu-img", "convert", "-O", "raw", image, raw)
    key, public_key = ssh_key(tmp_path)
    with mounted(raw, mnt) as root:
        add_harness(root, public_key)
        for stage in ("files-dirty", "files-fixed"):
            shutil.rmtree(os.path.join(out, stage), ignore_errors=True)
            os.makedirs(os.path.join(out, stage))
        snapshot(root, os.path.join(out, "files-dirty"))
    problems = []

    # 1. The dirty disk.
    say("{}: 1. booting the disk as exported".format(name))
    dirty = boot(raw, os.path.join(out, "dirty.console.log"))
    save(out, "dirty.json", dict((k, v) for k, v in dirty.items() if k != "console_text"))
    ok, what = judge_dirty(cell, dirty)
    record.update(dirty=what, dirty_ok=ok, dirty_elapsed=dirty["elapsed"])
    say("{}: 1. {}{}".format(name, "" if ok else "UNEXPECTED: ", what))
    if not ok:
        problems.append("dirty: " + what + "\n" + excerpt(dirty["console_text"]))

    # 2. guestprep fix on the mounted root, as a user runs it.
    with mounted(raw, mnt) as root:
        fix_started = time.time()
        done = subprocess.run([sys.executable, "-m", "agent", "fix", "--root", root, "--items", "all", "--yes",
                               "--format", "json"], cwd=GUESTPREP, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, env=dict(os.environ, NO_COLOR="1"), timeout=1200)
        save(out, "fix.json", done.stdout)
        save(out, "fix.stderr", done.stderr)
        snapshot(root, os.path.join(out, "files-fixed"))
    try:
        reported = json.loads(done.stdout)["outcomes"]
    except (ValueError, KeyError, TypeError):
        reported = [{"id": "(no JSON report)", "outcome": "?", "message": done.stderr[-500:]}]
    outcomes = dict((o["id"], o["outcome"]) for o in reported)
    not_fixed = dict((o["id"], "{}: {}".format(o["outcome"], (o.get("message") or "")[:300])) for o in reported
                     if o["outcome"] not in ("FIXED", "NOTHING TO DO"))
    record.update(fix_exit=done.returncode, fix_outcomes=outcomes, fix_elapsed=round(time.time() - fix_started, 1))
    say("{}: 2. fix --items all: exit {} in {:.0f}s; not fixed: {}".format(name, done.returncode,
                                                                           record["fix_elapsed"], not_fixed))
    if done.returncode != 0:
        problems.append("fix --root --items all exited {}: {}\n{}".format(done.returncode, not_fixed,
                                                                         done.stderr[-1500:]))

    # 3. The fixed disk: boots, a DHCP lease on whatever its NIC is named, SSH.
    inside = {}

    def look_inside(port):
        try:
            inside.update(ssh_run(key, port, tmp_path / "known_hosts",
                                  "ip -4 -o addr show scope global; echo ---; ip -o link show; echo ---; "
                                  "cat /proc/cmdline; echo ---; systemctl is-active ssh.service"))
        except subprocess.TimeoutExpired as e:
            inside.update(code=None, out="", err="ssh timed out: {}".format(e))

    say("{}: 3. booting the fixed disk".format(name))
    fixed = boot(raw, os.path.join(out, "fixed.console.log"), on_ready=look_inside)
    save(out, "fixed.json", dict(dict((k, v) for k, v in fixed.items() if k != "console_text"), ssh_inside=inside))
    leases = [line for line in inside.get("out", "").split("---")[0].splitlines()
              if "inet {}/".format(LEASE) in line and " dynamic " in line + " "]
    nic = leases[0].split()[1] if leases else None
    record.update(fixed_status=fixed["status"], fixed_elapsed=fixed["elapsed"], fixed_nic=nic,
                  fixed_cause=(fixed["cause"] or {}).get("summary"), fixed_cause_line=(fixed["cause"] or {}).get("line"))
    if fixed["status"] != boottest.PASS:
        cause = fixed["cause"] or {}
        probes = probe_lines(fixed["console_text"])
        problems.append("fixed disk: {} ({}); probe: {}\n{}".format(
            cause.get("summary"), cause.get("line"), probes[-1] if probes else "no probe line",
            excerpt(fixed["console_text"], cause.get("line") and re.escape(cause["line"]))))
    elif inside.get("code") != 0 or not leases:
        problems.append("fixed disk: SSH answers but no DHCP lease {} seen inside: {}".format(LEASE, inside))
    else:
        say("{}: 3. booted, lease on {}: {}; {}".format(name, nic, leases[0].strip(), fixed["ssh_banner"]))
    record["verdict"] = "PASS" if not problems else "FAIL: " + problems[0].splitlines()[0]
    record["elapsed"] = round(time.time() - started, 1)
    say("{}: {} in {:.0f}s; console logs in {}".format(name, record["verdict"], record["elapsed"], out))
    label = "{}/{}".format(suite, cell)
    if label in BLOCKED and os.environ.get("GUESTPREP_BOOT_MATRIX_STRICT") != "1":
        if not problems:
            pytest.fail("{} passes now: remove it from BLOCKED in tests/boot/test_boot_matrix.py".format(label))
        if record.get("dirty_ok"):
            record["verdict"] = "XFAIL ({}): {}".format(BLOCKED[label], record["verdict"])
            pytest.xfail("{}: {}\n\n{}".format(BLOCKED[label], name, "\n\n".join(problems)))
    assert not problems, "{}:\n\n{}".format(name, "\n\n".join(problems))


# ---------------------------------------------------------------------------------------
# The harness's own judgement, on console text (run in the unit tests too).

PROBE_CONSOLE = """\
[   50.6] virtio_net virtio0 ens3: renamed from eth0
[  152.9] guestprep-probe: t=0s links: ens3  addrs: none
[  243.3] guestprep-probe: t=30s links: ens3  addrs: ens3=10.0.2.15/24(dynamic) lo2=192.168.56.10/24(static)
"""


def test_probe_lines_read_names_addresses_and_leases():
    assert probe_lines(PROBE_CONSOLE) == [
        (0, ["ens3"], {}),
        (30, ["ens3"], {"ens3": ("10.0.2.15/24", True), "lo2": ("192.168.56.10/24", False)})]
    assert probe_lines("no probe here\n") == []


def _result(console, status="FAIL", login=None, cause=None):
    return {"status": status, "console_text": console, "login_prompt": login, "cause": cause}


def test_dirty_verdicts_follow_the_console():
    no_lease = "guestprep-probe: t=60s links: ens3  addrs: none\n"
    ok, what = judge_dirty("hyperv", _result(no_lease, login="guestprep-boot login:", cause={"id": "no_network"}))
    assert ok and "ens3" in what and "eth0 is configured" in what
    # a lease seen by the probe is not "no lease", whatever SSH did
    leased = "guestprep-probe: t=5s links: ens3  addrs: ens3=10.0.2.15/24(dynamic)\n"
    assert not judge_dirty("hyperv", _result(leased, login="x login:", cause={"id": "no_network"}))[0]
    # the NIC kept its source name: the rename the cell is about did not happen
    kept = "guestprep-probe: t=60s links: eth0  addrs: none\n"
    assert not judge_dirty("hyperv", _result(kept, login="x login:", cause={"id": "no_network"}))[0]
    # no probe line: the harness cannot tell
    assert not judge_dirty("virtualbox", _result("", login="x login:", cause={"id": "no_network"}))[0]
    alert = "ALERT!  /dev/sda1 does not exist.  Dropping to a shell!\n"
    assert judge_dirty("vmware", _result(alert, cause={"id": "root_not_found"}))[0]
    assert not judge_dirty("xen", _result(alert, cause={"id": "root_not_found"}))[0]   # xvda1 expected
    assert not judge_dirty("vmware", _result("", status="PASS"))[0]
