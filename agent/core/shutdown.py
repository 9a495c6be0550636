"""Fixes deferred to the final shutdown before capture: `guestprep fix --at-shutdown ITEMS`.

Some fixes are right for the image but wrong for the running session: converting the
primary NIC to DHCP or dropping its MAC pinning (GUESTOS.Dhcp, seed 000) can cut the SSH
session of the person preparing the VM. Arming writes the items to ARMED and enables
guestprep-fix-at-shutdown.service; that unit's ExecStop runs `guestprep at-shutdown run`
while the system powers off, with / and /var still mounted read-write. The run disarms
first (so a crash cannot repeat at every shutdown), then applies the items through the
journal like `guestprep fix`, so `guestprep rollback` on the next boot can undo them.

Only a poweroff or halt applies them: a reboot leaves them armed, because a VM that
reboots is still in use in its old network. `--force` applies them regardless.

Arming itself is not a journaled change: it alters no configuration the ECS checks look
at, `guestprep at-shutdown disarm` undoes it, and the journal stays a record of changes
to the guest. Arming and the run are logged to stderr (the system journal when systemd
runs it) and to the log file in /var/lib/guestprep.
"""
import errno
import os
import time

from agent.facts.services import UNIT_DIRS

ARMED = "/etc/guestprep/at-shutdown"
UNIT = "guestprep-fix-at-shutdown.service"
WANTS = "/etc/systemd/system/multi-user.target.wants/" + UNIT

POWEROFF = "poweroff"
REBOOT = "reboot"
NONE = ""


class NotInstalled(Exception):
    pass


# The unit's text: systemd/guestprep-fix-at-shutdown.service is unit_text() for the packages'
# /usr/bin/guestprep (a test keeps the two equal); the single file installs its own copy.
PACKAGED_EXEC = "/usr/bin/guestprep"
INSTALLED_BY = "# Installed by `guestprep fix --at-shutdown` for {}; removed by disarm.\n"
_UNIT_TEMPLATE = """\
# Applies the fixes armed with `guestprep fix --at-shutdown ITEMS` during the poweroff
# that precedes capturing the disk, then disarms itself. Do not enable it by hand: arming
# enables and starts it; `guestprep at-shutdown disarm` cancels.
#
# The pattern: a oneshot with RemainAfterExit=yes that does nothing when started
# (ExecStart=/bin/true) and does the work in ExecStop=. systemd stops units in the
# inverse of their start order, so being ordered After=local-fs.target means the stop
# runs while / and /var are still mounted read-write; DefaultDependencies=no plus
# Conflicts=/Before=shutdown.target make the stop part of every shutdown transaction
# without pulling in basic.target's ordering, which would stop it too early.
# `guestprep at-shutdown run` applies nothing at a reboot, only at poweroff or halt.
[Unit]
Description=guestprep: apply the fixes armed for the poweroff before capture
Documentation=man:guestprep(1)
DefaultDependencies=no
After=local-fs.target sysinit.target
Before=shutdown.target
Conflicts=shutdown.target
ConditionPathExists=/etc/guestprep/at-shutdown

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/true
ExecStop={exec_stop} at-shutdown run --verbose
# Package removals at shutdown can take minutes; do not let the default 90 s cut them off.
TimeoutStopSec=20min
StandardOutput=journal+console
StandardError=journal+console
SyslogIdentifier=guestprep-at-shutdown

[Install]
WantedBy=multi-user.target
"""


def unit_text(program_argv):
    """The unit whose ExecStop= runs `program_argv at-shutdown run` (absolute paths)."""
    return _UNIT_TEMPLATE.format(exec_stop=" ".join(_unit_quote(a) for a in program_argv))


def _unit_quote(word):
    # systemd's command lines take C-style double quotes; plain words stay as they are.
    if word and all(c.isalnum() or c in "/._-+:@" for c in word):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def install_unit(root, program_argv):
    """Write the unit to /etc/systemd/system for a guestprep that did not come with it (the
    single file). Returns its guest path."""
    path = UNIT_DIRS[0] + "/" + UNIT
    _makedirs(root, UNIT_DIRS[0])
    text = INSTALLED_BY.format(" ".join(program_argv)) + unit_text(program_argv)
    root.atomic_write(path, text.encode("utf-8"), mode=0o644)
    return path


def _ours(root, path):
    text = root.read_text_or_none(path) or ""
    return text.startswith(INSTALLED_BY.split("{}")[0])


def unit_path(root):
    """Where the target has the unit (guest path), or None."""
    for directory in UNIT_DIRS:
        if root.isfile(directory + "/" + UNIT):
            return directory + "/" + UNIT
    return None


def armed_items(root):
    """The armed items, or [] when nothing is armed."""
    text = root.read_text_or_none(ARMED)
    if not text:
        return []
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key.strip() == "items":
            return [i.strip() for i in value.split(",") if i.strip()]
    return []


def _makedirs(root, guest_dir):
    try:
        os.makedirs(root.resolve(guest_dir), 0o755)
    except OSError as e:
        if e.errno != errno.EEXIST:
            raise


def arm(ctx, items, program_argv=None):
    """Write ARMED and enable the unit. Returns the lines to tell the user.

    `program_argv` (absolute) starts this guestprep: where the packages' unit is not
    installed, the running system gets a copy that runs it (the single file)."""
    root = ctx.root
    unit = unit_path(root)
    installed = []
    if unit is None:
        if not root.is_host or not program_argv:
            raise NotInstalled(
                "{} is not installed in {}: it comes with the rpm and deb packages{}".format(
                    UNIT, root.display("/etc/systemd/system"),
                    "" if root.is_host else "; arm from inside the VM, or install guestprep's "
                    "package in the image"))
        unit = install_unit(root, program_argv)
        installed.append("Installed {} (runs {} at the poweroff; keep that file there until then).".format(
            root.display(unit), " ".join(program_argv)))
    text = ("# Armed by `guestprep fix --at-shutdown` on {}: applied at the next poweroff, then disarmed.\n"
            "# Disarm without applying: guestprep at-shutdown disarm\n"
            "items={}\n").format(time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), ",".join(items))
    _makedirs(root, "/etc/guestprep")
    root.atomic_write(ARMED, text.encode("utf-8"), mode=0o644)
    lines = ["Armed: {} will be applied at the next poweroff (not at a reboot), then disarmed.".format(
        ",".join(items)), "Written to {}.".format(root.display(ARMED))] + installed
    if root.is_host:
        # Enabled for later boots, and started now: ExecStop= runs only for an active unit.
        done = ctx.runner.run(("systemctl", "enable", UNIT))
        if not done.ok:
            disarm(root)
            raise NotInstalled("systemctl enable {} failed: {}".format(UNIT, (done.stderr or done.stdout).strip()))
        done = ctx.runner.run(("systemctl", "start", UNIT))
        if done.ok:
            lines.append("Enabled and started {}.".format(UNIT))
        else:
            # A chroot or container: enabled, so the poweroff that ends the next boot applies them.
            lines.append("Enabled {}, but it could not be started now ({}): the items will be applied at "
                         "the poweroff that ends the next boot.".format(
                             UNIT, " ".join((done.stderr or done.stdout).split())[:200]))
    else:
        # An image: enabled as `systemctl --root` would; it starts at the image's next boot.
        _makedirs(root, os.path.dirname(WANTS))
        if not root.lexists(WANTS):
            root.symlink(unit, WANTS)
        lines.append("Enabled {} in the image: it applies the items at the poweroff that ends the "
                     "image's next boot.".format(UNIT))
    lines.append("Disarm with: guestprep at-shutdown disarm" + ("" if root.is_host else " --root " + root.path))
    return lines


def disarm(root):
    """Remove ARMED, then the enable link. True when something was armed."""
    was = root.lexists(ARMED) or root.lexists(WANTS)
    # ARMED first: should the unit be stopped in between, its ExecStop finds nothing to do.
    for path in (ARMED, WANTS):
        if root.lexists(path):
            root.remove(path)
    # A unit guestprep installed for the single file goes with the arming (packages' stay).
    own = UNIT_DIRS[0] + "/" + UNIT
    if root.isfile(own) and _ours(root, own):
        root.remove(own)
    return was


def shutdown_kind(runner):
    """POWEROFF when a poweroff or halt is under way, REBOOT for a reboot or kexec, else NONE."""
    done = runner.run(("systemctl", "list-jobs", "--no-legend", "--no-pager"), timeout=30)
    units = set(line.split()[1] for line in done.stdout.splitlines() if len(line.split()) > 1)
    if units & {"poweroff.target", "halt.target"}:
        return POWEROFF
    if units & {"reboot.target", "kexec.target"}:
        return REBOOT
    return NONE
