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
from agent.core.model import Check, Message, Status, joined
from agent.facts.cloudinit import (
    ALIYUN_CFG,
    CLOUD_CFG,
    DISABLED_MARKER,
    PACKAGE,
    cloud_config,
    datasource_names,
    installed_version,
    masked_units,
    needs_minimum,
)
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
    refs = ("000",)

    def run(self, ctx):
        install = ctx.package_manager()
        where = "" if ctx.packages.known else Message(" (package database unknown: {error})",
                                                      error=ctx.packages.error)
        installed, version, source = installed_version(ctx)
        if not installed:
            return self._missing(ctx, install, where)

        found, hints, commands, paths, data = [], [], [], [], {}
        strict = needs_minimum(ctx)
        shown = version or Message("unknown version")
        for judge in (self._judge_version, self._judge_enabled):
            judge(ctx, install, version, source, strict, found, hints, commands, paths, data)
        config = cloud_config(ctx)
        sources = self._judge_config(config, found, hints, paths, data)
        if found:
            # The summary names what fails first, then the warnings; hints keep the order found.
            found = [f for f in found if f.status == Status.FAIL] + [f for f in found if f.status != Status.FAIL]
            return self.results(found, joined(hints, " "), commands=commands, paths=paths, data=data)
        bits = [Message("cloud-init {version} ({source})", version=shown, source=source)]
        if sources is None and not config.problems:
            bits.append(Message("datasource_list not set (cloud-init's default list includes AliYun)"))
        if strict:
            bits.append(Message("at least {minimum} as {why} needs", minimum=minimum_for(version), why=strict))
        return self.passed(Message("{facts}{where}", facts=joined(bits, "; "), where=where), code="ready")

    def _missing(self, ctx, install, where):
        commands = []
        if install:
            if install["refresh"]:
                commands.append(shell_command(ctx, install["refresh"]))
            commands.append(shell_command(ctx, install["install"] + [PACKAGE]))
        hint = [Message("ECS sets the host name, SSH keys, password and network of an instance through "
                        "cloud-init. Install it (guestprep fix --items cloudinit runs the commands below).")]
        # Only where seed 000's minimum applies: elsewhere the distribution's package is right.
        strict = needs_minimum(ctx)
        if strict:
            hint.append(Message("{why} needs cloud-init {minimum} or later (seed 000): if the distribution's "
                                "package is older, install Alibaba's cloud-init instead (see 'Install cloud-init' "
                                "in the ECS documentation).", why=strict, minimum=MINIMUM))
        return self.failed(Message("cloud-init is not installed{where}", where=where), joined(hint, " "),
                           commands=commands, data={"install": True}, code="not-installed")

    # -- judging: each appends findings (FAIL before WARN), hints, commands, paths, data -------

    def _judge_version(self, ctx, install, version, source, strict, found, hints, commands, paths, data):
        if not strict:
            return
        if not version:
            found.append(self.finding(Status.WARN, "version-unknown", Message(
                "cloud-init {version} ({source}) has an unknown version; {why} needs {minimum} or later",
                version=Message("unknown version"), source=source, why=strict, minimum=MINIMUM)))
            hints.append(Message("Check `cloud-init --version`; seed 000 requires Alibaba's cloud-init "
                                 "{minimum} or later (0.7.6a15 on old systems) for {why}.", minimum=MINIMUM,
                                 why=strict))
            return
        minimum = minimum_for(version)
        if compare_versions(version, minimum) < 0:
            found.append(self.finding(Status.FAIL, "too-old", Message(
                "cloud-init {version} is older than {minimum}, which {why} needs", version=version,
                minimum=minimum, why=strict)))
            data["upgrade"] = True
            hints.append(Message("Upgrade cloud-init to {minimum} or later; if the distribution has no such "
                                 "version, install Alibaba's cloud-init (see 'Install cloud-init' in "
                                 "the ECS documentation).", minimum=minimum))
            if install:
                commands.append(shell_command(ctx, upgrade_argv(install) + [PACKAGE]))

    def _judge_enabled(self, ctx, install, version, source, strict, found, hints, commands, paths, data):
        if ctx.root.lexists(DISABLED_MARKER):
            found.append(self.finding(Status.FAIL, "disabled", Message(
                "cloud-init is disabled by {path}", path=DISABLED_MARKER), DISABLED_MARKER))
            paths.append(DISABLED_MARKER)
            data["marker"] = DISABLED_MARKER
            hints.append(Message("Remove {path} so cloud-init runs on the instance.", path=DISABLED_MARKER))
            commands.append("rm " + ctx.root.display(DISABLED_MARKER))
        masked = masked_units(ctx.root)
        if masked:
            found.append(self.finding(Status.FAIL, "masked", Message(
                "cloud-init units are masked: {units}", units=", ".join(masked)), masked[0]))
            paths.extend(masked)
            data["masked"] = masked
            hints.append(Message("Unmask them (the links point at /dev/null)."))
            commands.append(shell_command(ctx, ["systemctl", "unmask"] + [m.rsplit("/", 1)[1] for m in masked]))
        if ctx.live is not None and "cloud-init=disabled" in ctx.live.kernel_cmdline():
            found.append(self.finding(Status.FAIL, "disabled-on-cmdline", Message(
                "cloud-init=disabled is on the running kernel's command line")))
            hints.append(Message("Remove cloud-init=disabled from the kernel command line "
                                 "(GRUB_CMDLINE_LINUX in /etc/default/grub, then regenerate grub.cfg)."))

    def _judge_config(self, config, found, hints, paths, data):
        """Findings about cloud.cfg; returns its datasource_list (None when not set)."""
        if config.problems:
            found.append(self.finding(Status.WARN, "config-unreadable", Message(
                "cloud-init configuration unreadable: {problems}", problems=config.problem_text()),
                config.problems[0][0]))
            paths.extend(p for p, _r in config.problems)
            hints.append(Message("Fix or remove the unreadable file(s): cloud-init fails or ignores them."))
        sources = config.get("datasource_list")
        if sources is None:
            return None
        names = datasource_names(sources)
        origin = config.origin.get("datasource_list", CLOUD_CFG)
        if "AliYun" not in names:
            found.append(self.finding(Status.WARN, "no-aliyun", Message(
                "datasource_list in {path} does not include AliYun: [{names}]", path=origin,
                names=", ".join(names)), origin))
            paths.append(origin)
            wanted = ["AliYun"] + [n for n in names if n != "AliYun"]
            data["datasource"] = {"origin": origin, "list": wanted}
            hints.append(Message("cloud-init only reads ECS metadata through its AliYun datasource. Add it, "
                                 "e.g. in {path}:\n  datasource_list: [ {names} ]", path=ALIYUN_CFG,
                                 names=", ".join(wanted)))
        return sources


def upgrade_argv(install):
    """The argv prefix that upgrades an installed package (dnf/yum install would not)."""
    tool = install["install"][0]
    if tool in ("yum", "dnf"):
        return [tool, "upgrade", "-y"]
    if tool == "zypper":
        return ["zypper", "--non-interactive", "update"]
    return list(install["install"])   # apt-get install upgrades an installed package
