"""qemu-ga: the QEMU guest agent must not be in an ECS image.

Seed 000 (Linux requirements, twice): make sure QEMU GA is not installed in the image;
when it is, some services ECS needs may be unavailable (ECS is KVM based and uses the
guest-agent channel itself). Distributions start the agent from a udev rule whenever the
virtio channel `org.qemu.guest_agent.0` appears, so an installed agent runs on ECS
whether or not its unit is enabled: the package has to go, not only the service.
"""
import re

from agent.core.context import shell_command
from agent.core.model import Check, Message, Status, either, joined, things
from agent.facts import services

PACKAGES = ("qemu-guest-agent", "qemu-ga")      # qemu-ga: SUSE's older name
BINARIES = ("/usr/bin/qemu-ga", "/usr/sbin/qemu-ga")
UNITS = ("qemu-guest-agent.service", "qemu-ga.service")
SYSV_NAMES = ("qemu-guest-agent", "qemu-ga")
PROCESS = "qemu-ga"


def _is_agent_unit(name):
    return name in UNITS or (name.startswith("qemu-ga@") and name.endswith(".service"))


def unit_files(root):
    """Unit names of the agent that have a unit file in the target."""
    return [u for u in UNITS if services.unit_installed(root, u)]


def enabled_links(root):
    """Guest paths that enable the agent at boot: systemd *.wants links and SysV S links."""
    return services.enabled_links(root, _is_agent_unit, SYSV_NAMES, vendor=True, aliases=False)


def _compact(links):
    """/etc/rc2.d/S01x ... /etc/rc5.d/S01x shown as /etc/rc[2345].d/S01x."""
    shown, levels = [], {}
    for link in links:
        match = re.match(r"/etc/rc(.)\.d/(.*)$", link)
        if match:
            if match.group(2) not in levels:
                levels[match.group(2)] = []
                shown.append(match.group(2))
            levels[match.group(2)].append(match.group(1))
        else:
            shown.append(link)
    return ["/etc/rc[{}].d/{}".format("".join(levels[s]), s) if s in levels else s for s in shown]


class QemuGa(Check):
    id = "qemu_ga"
    title = "QEMU guest agent not installed"
    item = "qemu-ga"
    repair_item = "qemu-ga"
    refs = ("000",)

    def run(self, ctx):
        root = ctx.root
        packages = ctx.packages
        installed = [p for p in PACKAGES if p in packages] if packages.known else []
        files = [b for b in BINARIES if root.exists(b)]
        links = enabled_links(root)
        running = ctx.live is not None and PROCESS in ctx.live.process_names()
        units = unit_files(root)
        data = {"packages": installed, "units": units, "enabled": links, "running": running}

        if not (installed or files or running):
            if links:
                if packages.known:
                    text = Message("qemu-ga is not installed; leftover links remain: {links}", links=", ".join(links))
                else:
                    text = Message("package database unknown ({error}); qemu-ga is not installed; leftover links "
                                   "remain: {links}", error=packages.error, links=", ".join(links))
                return self.result(
                    Status.INFO, text, Message("The links point at a removed agent and do nothing; remove them to "
                                               "tidy up."),
                    commands=["rm " + " ".join(root.display(p) for p in links)], paths=links, code="leftover-links")
            if not packages.known:
                return self.passed(Message("package database unknown ({error}); no qemu-ga binary in {binaries}",
                                           error=packages.error, binaries=either(BINARIES)), code="absent")
            return self.passed(Message("qemu-guest-agent is not installed"), code="absent")

        found = []
        if installed:
            found.append(Message("package {packages} installed", packages=", ".join(
                "{} {}".format(p, packages.version(p) or "").strip() for p in installed)))
        elif files and not packages.known:
            found.append(Message("package database unknown ({error}); {files} present", error=packages.error,
                                 files=things(files)))
        elif files:
            found.append(Message("{files} present", files=things(files)))
        if links:
            found.append(Message("enabled at boot by {links}", links=", ".join(_compact(links))))
        elif installed or files:
            found.append(Message("started by udev when the guest-agent channel appears"))
        if running:
            found.append(Message("running (process {process})", process=PROCESS))

        commands = []
        unit = units[0] if units else "qemu-guest-agent"
        if running:
            commands.append(shell_command(ctx, ["systemctl", "disable", "--now", unit]))
        elif links:
            commands.append(shell_command(ctx, ["systemctl", "disable", unit]))
        install = ctx.package_manager()
        if install and (installed or not packages.known):
            commands.append(shell_command(ctx, install["remove"] + (installed or ["qemu-guest-agent"])))
        if not packages.known:
            hint = Message("ECS cannot use some of its services while the QEMU guest agent is in the image (seed "
                           "000). Stop and disable it and remove the package; guestprep fix --items qemu-ga does this "
                           "(package removal cannot be rolled back). guestprep could not read the package database, "
                           "so it cannot remove the package itself: use the package manager.")
        elif not installed and files:
            hint = Message("ECS cannot use some of its services while the QEMU guest agent is in the image (seed "
                           "000). Stop and disable it and remove the package; guestprep fix --items qemu-ga does this "
                           "(package removal cannot be rolled back). No installed package owns {files}: remove it by "
                           "hand.", files=either(files))
        else:
            hint = Message("ECS cannot use some of its services while the QEMU guest agent is in the image (seed "
                           "000). Stop and disable it and remove the package; guestprep fix --items qemu-ga does this "
                           "(package removal cannot be rolled back).")
        return self.failed(Message("qemu-ga: {found}", found=joined(found)), hint, commands=commands,
                           paths=files + links, data=data, code="installed", refs=("000",))
