"""Fix for GUESTOS.CloudAssistant: download and install the Cloud Assistant Agent (proposed).

The commands are those of the ECS documentation "Install the Cloud Assistant Agent":
the latest package from the aliyun-client-assist bucket, installed with `rpm -ivh
--force` or `dpkg -i`, inside the target (chrooted for a mounted image). A package
install cannot be rolled back: the fix is declared irreversible and applied only when
the user names `assist`.
"""
from agent.checks.cloud_assistant import downloader, install_argvs
from agent.core.context import shell_command
from agent.core.model import Message, Mode, Refused, Remediation, RunCommand


class CloudAssistantFix(Remediation):
    id = "cloud_assistant"
    mode = Mode.PROPOSE
    reversible = False
    offline_safe = True
    note = Message("Needs network access from the target; a package install cannot be rolled back.")

    def plan(self, ctx, result):
        argvs = install_argvs(ctx)
        if not argvs:
            return []
        if downloader(ctx) is None:
            raise Refused(Message("neither curl nor wget is installed in the target to download the agent: "
                                  "install one of them first, or install the agent by hand"))
        remove = ["rpm", "-e", "aliyun_assist"] if argvs[1][0][0] == "rpm" else ["dpkg", "-r", "aliyun-assist"]
        # The download needs the network; the install and the clean-up do not.
        return [RunCommand(argv, why=why, undo_hint=shell_command(ctx, remove) if argv[0] in ("rpm", "dpkg") else "",
                           network=argv[0] in ("curl", "wget"))
                for argv, why in argvs]
