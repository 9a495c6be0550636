"""fw-cfg: kernels of ARM64, CentOS Stream, Anolis, AlmaLinux and Rocky images need
CONFIG_FW_CFG_SYSFS.

Seed 000 (Linuxイメージのその他の手順, 制限事項): for these images, setting the password or
changing the key pair of an imported instance needs a kernel with CONFIG_FW_CFG_SYSFS
(`grep CONFIG_FW_CFG_SYSFS /boot/config-$(uname -r)` shows `=y`; community kernels 4.6+
and CentOS kernels 3.10.0-826.el7+ have it): ECS hands the instance its credentials
through QEMU's fw_cfg device, which the kernel exposes in /sys/firmware/qemu_fw_cfg. As a
module (`=m`) it is loaded automatically when the device appears, so `m` is accepted.

Every installed kernel is checked, not only the running one: the instance boots the
default entry. When /boot/config-<version> is missing, the kernel's modules.builtin and
modules.dep tell whether qemu_fw_cfg is there. Other distributions and architectures are
not subject to the requirement (applies_to: the engine SKIPs them with the reason).
"""
from agent.core.model import Applies, Check, Message, Status
from agent.facts import boot, kernels
from agent.facts.cloudinit import needs_minimum

CONFIG_KEY = "CONFIG_FW_CFG_SYSFS"
MODULE = "qemu_fw_cfg"


class FwCfg(Check):
    id = "fw_cfg"
    title = "Kernel supports fw_cfg (CONFIG_FW_CFG_SYSFS)"
    item = "fw-cfg"
    repair_item = ""
    refs = ("000",)
    # Seed 000 names these for the fw_cfg requirement; the engine SKIPs the others.
    applies_to = (Applies(architectures=("arm64",)),
                  Applies(distributions=("centos-stream", "anolis", "almalinux", "rocky")))

    def run(self, ctx):
        why = needs_minimum(ctx)
        installed = kernels.installed_kernels(ctx)
        if not installed:
            return self.result(Status.WARN, Message("no kernel found in /boot, so {key} cannot be checked",
                                                    key=CONFIG_KEY),
                               Message("Seed 000: {why} needs {key} to set passwords and key pairs; make sure the "
                                       "image's kernel has it.", why=why, key=CONFIG_KEY),
                               code="no-kernel", refs=("000",))
        default = boot.default_kernel(ctx).get("version")
        has, lacking, unknown = [], [], []
        for version in installed:
            found = kernels.has_kernel_feature(ctx, version, MODULE, CONFIG_KEY)
            (has if found else lacking if found is False else unknown).append(version)
        paths = ["/boot/config-" + v for v in installed if ctx.root.exists("/boot/config-" + v)]
        data = {"has": has, "lacking": lacking, "unknown": unknown, "default": default}
        if not lacking and not unknown:
            return self.passed(Message("{key} is set in every installed kernel ({kernels})", key=CONFIG_KEY,
                                       kernels=", ".join(has)), paths=paths, data=data, code="set")
        blocking = lacking and (default is None or default in lacking)
        findings = []
        if lacking:
            if default in lacking:
                text = Message("{key} is not set in kernel {kernels} (the default boot kernel)", key=CONFIG_KEY,
                               kernels=", ".join(lacking))
            else:
                text = Message("{key} is not set in kernel {kernels}", key=CONFIG_KEY, kernels=", ".join(lacking))
            findings.append(self.finding(Status.FAIL if blocking else Status.WARN, "not-set", text, refs=("000",)))
        if unknown:
            findings.append(self.finding(Status.WARN, "unknown", Message(
                "no /boot/config or module list for kernel {kernels}", kernels=", ".join(unknown)), refs=("000",)))
        commands = [ctx.in_guest("grep -n {} /boot/config-*".format(CONFIG_KEY))]
        if lacking and not blocking:
            hint = Message("Seed 000: for {why}, ECS sets the password and key pair through fw_cfg, which needs {key} "
                           "(community kernels 4.6+, CentOS 3.10.0-826.el7+). Boot a kernel that has it: install the "
                           "distribution's current kernel and make it the default. The default kernel {default} has "
                           "it; remove the old kernels or keep them off the default.", why=why, key=CONFIG_KEY,
                           default=default)
        else:
            hint = Message("Seed 000: for {why}, ECS sets the password and key pair through fw_cfg, which needs {key} "
                           "(community kernels 4.6+, CentOS 3.10.0-826.el7+). Boot a kernel that has it: install the "
                           "distribution's current kernel and make it the default.", why=why, key=CONFIG_KEY)
        return self.results(findings, hint, commands=commands, paths=paths, data=data)
