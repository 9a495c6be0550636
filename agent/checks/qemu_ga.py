"""qemu-ga: the QEMU guest agent must not be in an ECS image.

Seed 000 (Linux requirements, twice): make sure QEMU GA is not installed in the image;
when it is, some services ECS needs may be unavailable (ECS is KVM based and uses the
guest-agent channel itself). Distributions start the agent from a udev rule whenever the
virtio channel `org.qemu.guest_agent.0` appears, so an installed agent runs on ECS
whether or not its unit is enabled: the package has to go, not only the service.
"""
import re

from agent.core.context import shell_command
from agent.core.model import Check, Status
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

    def run(self, ctx):
        root = ctx.root
        packages = ctx.packages
        installed = [p for p in PACKAGES if p in packages] if packages.known else []
        files = [b for b in BINARIES if root.exists(b)]
        links = enabled_links(root)
        running = ctx.live is not None and PROCESS in ctx.live.process_names()
        units = unit_files(root)
        unknown = "" if packages.known else "package database unknown ({}); ".format(packages.error)
        data = {"packages": installed, "units": units, "enabled": links, "running": running}

        if not (installed or files or running):
            if links:
                return self.result(
                    Status.INFO, "{}qemu-ga is not installed; leftover links remain: {}".format(unknown, ", ".join(links)),
                    "The links point at a removed agent and do nothing; remove them to tidy up.",
                    commands=["rm " + " ".join(root.display(p) for p in links)], paths=links)
            if unknown:
                return self.passed(unknown + "no qemu-ga binary in " + " or ".join(BINARIES))
            return self.passed("qemu-guest-agent is not installed")

        found = []
        if installed:
            found.append("package {} installed".format(
                ", ".join("{} {}".format(p, packages.version(p) or "").strip() for p in installed)))
        elif files:
            found.append("{}{} present".format(unknown, " and ".join(files)))
        if links:
            found.append("enabled at boot by " + ", ".join(_compact(links)))
        elif installed or files:
            found.append("started by udev when the guest-agent channel appears")
        if running:
            found.append("running (process {})".format(PROCESS))

        commands = []
        unit = units[0] if units else "qemu-guest-agent"
        if running:
            commands.append(shell_command(ctx, ["systemctl", "disable", "--now", unit]))
        elif links:
            commands.append(shell_command(ctx, ["systemctl", "disable", unit]))
        install = ctx.package_manager()
        if install and (installed or not packages.known):
            commands.append(shell_command(ctx, install["remove"] + (installed or ["qemu-guest-agent"])))
        hint = ("ECS cannot use some of its services while the QEMU guest agent is in the image "
                "(seed 000). Stop and disable it and remove the package; guestprep fix --items "
                "qemu-ga does this (package removal cannot be rolled back).")
        if not packages.known:
            hint += (" guestprep could not read the package database, so it cannot remove the "
                     "package itself: use the package manager.")
        elif not installed and files:
            hint += " No installed package owns {}: remove it by hand.".format(" or ".join(files))
        return self.failed("qemu-ga: " + "; ".join(found), hint, commands=commands,
                           paths=files + links, data=data)
