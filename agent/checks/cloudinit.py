"""GUESTOS.CloudInit: cloud-init must be installed, enabled, new enough and allowed to use AliYun.

ECS configures an instance made from an imported image through cloud-init: host name,
SSH keys, the root password, the network and the growth of the root partition (seed 003,
GUESTOS.CloudInit; seed 000: install cloud-init to set the host name, NTP and YUM
repositories). Without it, or with it disabled, the instance comes up with the image's
own host name and credentials. For ARM64 images and for CentOS Stream, Anolis, AlmaLinux
and Rocky Linux, seed 000 asks for Alibaba's cloud-init 19.1.18 or later (0.7.6a15 or later
on systems that ship the 0.7.6a series): older versions cannot set the password or key
pair there. cloud-init only reads ECS metadata through its `AliYun` datasource, so a
`datasource_list` that leaves it out makes cloud-init ignore ECS.

What cloud-init the target has and its merged configuration are facts
(agent.facts.cloudinit), shared with the growpart and seal checks and the fixes.
"""
import re

from agent.core.context import shell_command
from agent.core.model import Check, Status
from agent.facts.cloudinit import (ALIYUN_CFG, CLOUD_CFG, DISABLED_MARKER, PACKAGE, cloud_config, datasource_names,
                                   installed_version, masked_units, needs_minimum)
from agent.facts.versions import compare_versions, upstream_version

MINIMUM = "19.1.18"
MINIMUM_076 = "0.7.6a15"


def minimum_for(version):
    """The minimum seed 000 sets for the series `version` belongs to."""
    if re.match(r"0\.7\.6[a-zA-Z]", upstream_version(version)):
        return MINIMUM_076
    return MINIMUM


class CloudInit(Check):
    id = "cloudinit"
    title = "cloud-init installed, enabled, new enough, AliYun datasource allowed"
    item = "GUESTOS.CloudInit"
    repair_item = "cloudinit"

    def run(self, ctx):
        install = ctx.package_manager()
        where = "" if ctx.packages.known else " (package database unknown: {})".format(ctx.packages.error)
        installed, version, source = installed_version(ctx)
        if not installed:
            commands = []
            if install:
                if install["refresh"]:
                    commands.append(shell_command(ctx, install["refresh"]))
                commands.append(shell_command(ctx, install["install"] + [PACKAGE]))
            hint = ("ECS sets the host name, SSH keys, password and network of an instance through "
                    "cloud-init. Install it (guestprep fix --items cloudinit runs the commands below).")
            # Only where seed 000's minimum applies: elsewhere the distribution's package is right.
            strict = needs_minimum(ctx)
            if strict:
                hint += (" {} needs cloud-init {} or later (seed 000): if the distribution's package is "
                         "older, install Alibaba's cloud-init instead (see 'Install cloud-init' in the ECS "
                         "documentation).".format(strict, MINIMUM))
            return self.failed("cloud-init is not installed" + where, hint,
                               commands=commands, data={"install": True})

        fails, warns, paths, data = [], [], [], {}
        hints, commands = [], []
        strict = needs_minimum(ctx)
        shown = version or "unknown version"
        if strict:
            if not version:
                warns.append("cloud-init {} ({}) has an unknown version; {} needs {} or later"
                             .format(shown, source, strict, MINIMUM))
                hints.append("Check `cloud-init --version`; seed 000 requires Alibaba's cloud-init "
                             "{} or later (0.7.6a15 on old systems) for {}.".format(MINIMUM, strict))
            else:
                minimum = minimum_for(version)
                if compare_versions(version, minimum) < 0:
                    fails.append("cloud-init {} is older than {}, which {} needs".format(version, minimum, strict))
                    data["upgrade"] = True
                    hints.append("Upgrade cloud-init to {} or later; if the distribution has no such "
                                 "version, install Alibaba's cloud-init (see 'Install cloud-init' in "
                                 "the ECS documentation).".format(minimum))
                    if install:
                        commands.append(shell_command(ctx, upgrade_argv(install) + [PACKAGE]))

        if ctx.root.lexists(DISABLED_MARKER):
            fails.append("cloud-init is disabled by " + DISABLED_MARKER)
            paths.append(DISABLED_MARKER)
            data["marker"] = DISABLED_MARKER
            hints.append("Remove {} so cloud-init runs on the instance.".format(DISABLED_MARKER))
            commands.append("rm " + ctx.root.display(DISABLED_MARKER))
        masked = masked_units(ctx.root)
        if masked:
            fails.append("cloud-init units are masked: " + ", ".join(masked))
            paths.extend(masked)
            data["masked"] = masked
            hints.append("Unmask them (the links point at /dev/null).")
            commands.append(shell_command(ctx, ["systemctl", "unmask"] + [m.rsplit("/", 1)[1] for m in masked]))
        if ctx.live is not None and "cloud-init=disabled" in ctx.live.kernel_cmdline():
            fails.append("cloud-init=disabled is on the running kernel's command line")
            hints.append("Remove cloud-init=disabled from the kernel command line "
                         "(GRUB_CMDLINE_LINUX in /etc/default/grub, then regenerate grub.cfg).")

        config = cloud_config(ctx)
        if config.problems:
            warns.append("cloud-init configuration unreadable: " + config.problem_text())
            paths.extend(p for p, _r in config.problems)
            hints.append("Fix or remove the unreadable file(s): cloud-init fails or ignores them.")
        sources = config.get("datasource_list")
        if sources is not None:
            names = datasource_names(sources)
            origin = config.origin.get("datasource_list", CLOUD_CFG)
            if "AliYun" not in names:
                warns.append("datasource_list in {} does not include AliYun: [{}]".format(origin, ", ".join(names)))
                paths.append(origin)
                wanted = ["AliYun"] + [n for n in names if n != "AliYun"]
                data["datasource"] = {"origin": origin, "list": wanted}
                hints.append("cloud-init only reads ECS metadata through its AliYun datasource. Add it, "
                             "e.g. in {}:\n  datasource_list: [ {} ]".format(ALIYUN_CFG, ", ".join(wanted)))
        summary_bits = ["cloud-init {} ({})".format(shown, source)]
        if sources is None and not config.problems:
            summary_bits.append("datasource_list not set (cloud-init's default list includes AliYun)")
        if fails:
            return self.failed("; ".join(fails + warns), " ".join(hints), commands=commands,
                               paths=paths, data=data)
        if warns:
            return self.result(Status.WARN, "; ".join(warns), " ".join(hints), commands=commands,
                               paths=paths, data=data)
        if strict:
            summary_bits.append("at least {} as {} needs".format(minimum_for(version), strict))
        return self.passed("; ".join(summary_bits) + where)


def upgrade_argv(install):
    """The argv prefix that upgrades an installed package (dnf/yum install would not)."""
    tool = install["install"][0]
    if tool in ("yum", "dnf"):
        return [tool, "upgrade", "-y"]
    if tool == "zypper":
        return ["zypper", "--non-interactive", "update"]
    return list(install["install"])   # apt-get install upgrades an installed package
