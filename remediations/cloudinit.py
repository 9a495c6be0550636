"""Fix for GUESTOS.CloudInit: install or upgrade cloud-init, re-enable it, allow AliYun.

Installing a package cannot be rolled back, so the fix is declared irreversible and
proposed only (applied when the user names cloudinit). The smaller repairs are reversible
file changes: removing /etc/cloud/cloud-init.disabled and mask links, and adding a
cloud.cfg.d file that puts AliYun in front of the effective datasource_list.
"""
from agent.checks.cloudinit import upgrade_argv
from agent.core.context import shell_command
from agent.core.model import Message, Mode, Remediation, RemoveFile, RunCommand, WriteFile
from agent.facts.cloudinit import ALIYUN_CFG, PACKAGE


def package_steps(ctx, packages, why, upgrade=False):
    """Refresh the package lists (apt) and install `packages`; [] when the family is unknown."""
    install = ctx.package_manager()
    if not install or not packages:
        return []
    steps = []
    if install["refresh"]:
        steps.append(RunCommand(tuple(install["refresh"]), why=Message("refresh the package lists"), network=True))
    argv = upgrade_argv(install) if upgrade else install["install"]
    steps.append(RunCommand(tuple(argv + list(packages)), why=why,
                            undo_hint=shell_command(ctx, install["remove"] + list(packages)), network=True))
    return steps


class CloudInitFix(Remediation):
    id = "cloudinit"
    mode = Mode.PROPOSE
    reversible = False
    offline_safe = True
    note = Message("Package installs cannot be rolled back; file changes can.")

    def plan(self, ctx, result):
        data = result.data or {}
        if data.get("install"):
            return package_steps(ctx, [PACKAGE], Message("install cloud-init (GUESTOS.CloudInit)"))
        steps = []
        if data.get("upgrade"):
            steps.extend(package_steps(ctx, [PACKAGE], Message("upgrade cloud-init (seed 000: 19.1.18 or later)"),
                                       upgrade=True))
        if data.get("marker"):
            steps.append(RemoveFile(data["marker"], why=Message("let cloud-init run on the instance")))
        for link in data.get("masked") or []:
            steps.append(RemoveFile(link, why=Message("unmask {unit}", unit=link.rsplit("/", 1)[1])))
        datasource = data.get("datasource")
        # Only when our file is read last: a later file would override it again.
        if datasource and datasource["origin"] <= ALIYUN_CFG:
            content = ("# Added by guestprep: ECS metadata is read through the AliYun datasource.\n"
                       "datasource_list: [ {} ]\n".format(", ".join(datasource["list"])))
            steps.append(WriteFile(ALIYUN_CFG, content.encode("utf-8", "surrogateescape"), mode=0o644,
                                   why=Message("allow cloud-init's AliYun datasource")))
        return steps
