"""GUESTOS.Selinux: SELinux must be disabled in the image.

Seeds 000 and 002: an image whose /etc/selinux/config enables SELinux may stop booting on
ECS (the files lack labels valid for the instance, and Alibaba's images ship it disabled).
`selinux=1` or `enforcing=1` on the kernel command line turn it back on whatever the
config file says, so the boot configuration is read too.
"""
from agent.core.model import Check, Message, Status
from agent.parsers import bootcfg, keyvalue
from agent.core.rootfs import RootError

CONFIG = "/etc/selinux/config"
GRUB_CFGS = ("/boot/grub2/grub.cfg", "/boot/grub/grub.cfg", "/boot/grub/menu.lst", "/boot/grub/grub.conf")


def _kernel_arg_sources(ctx):
    """(path, [args]) for every place a kernel command line is configured."""
    root = ctx.root
    sources = []
    text = root.read_config_or_none("/etc/default/grub")
    if text is not None:
        values = bootcfg.default_grub(text)
        sources.append(("/etc/default/grub", list(values.get("GRUB_CMDLINE_LINUX", ()))
                        + list(values.get("GRUB_CMDLINE_LINUX_DEFAULT", ()))))
    for path in GRUB_CFGS + tuple(root.glob("/boot/efi/EFI/*")):
        if path.startswith("/boot/efi/EFI/"):
            path += "/grub.cfg"
        text = root.read_config_or_none(path)
        if text is None:
            continue
        parse = bootcfg.grub_legacy if path.endswith((".lst", ".conf")) else bootcfg.grub2_cfg
        for line in parse(text):
            sources.append((path, list(line.args)))
    for path in root.glob("/boot/loader/entries/*.conf"):
        for line in bootcfg.bls_entry(root.read_config(path)):
            sources.append((path, list(line.args)))
    text = root.read_config_or_none("/etc/kernel/cmdline")
    if text is not None:
        sources.append(("/etc/kernel/cmdline", text.split()))
    if ctx.live is not None:
        sources.append(("/proc/cmdline", ctx.live.kernel_cmdline()))
    return sources


class Selinux(Check):
    id = "selinux"
    title = "SELinux disabled"
    item = "GUESTOS.Selinux"
    repair_item = "selinux"

    def run(self, ctx):
        text = ctx.root.read_config_or_none(CONFIG)
        mode = None
        if text is not None:
            values, problems = keyvalue.parse(text)
            mode = (keyvalue.get(values, "SELINUX") or "").strip().lower()
        enabling = []
        for path, args in _kernel_arg_sources(ctx):
            for name in ("selinux", "enforcing"):
                if bootcfg.arg_value(args, name) == "1":
                    enabling.append(Message("{arg}=1 in {path}", arg=name, path=path))
        enabling = sorted(set(enabling))
        if mode in ("enforcing", "permissive"):
            if enabling:
                hint = Message("Set SELINUX=disabled in {path} (guestprep fix --items selinux does this and keeps "
                               "every other line); it takes effect at the next boot. Remove {args} from the kernel "
                               "command line (then regenerate the boot configuration).", path=CONFIG,
                               args=", ".join(enabling))
            else:
                hint = Message("Set SELINUX=disabled in {path} (guestprep fix --items selinux does this and keeps "
                               "every other line); it takes effect at the next boot.", path=CONFIG)
            return self.failed(
                Message("SELinux is {mode} in {path}", mode=mode, path=CONFIG), hint,
                commands=["sed -i 's/^SELINUX=.*/SELINUX=disabled/' " + ctx.root.display(CONFIG)],
                paths=[CONFIG], data={"mode": mode}, code=mode)
        if enabling:
            return self.result(
                Status.WARN, Message("kernel command line enables SELinux: {args}", args="; ".join(enabling)),
                Message("SELinux is disabled in the config, but the kernel arguments turn it on again if the config "
                        "changes. Remove {args} from the kernel command line (then regenerate the boot "
                        "configuration).", args=", ".join(enabling)),
                commands=[ctx.in_guest("grubby --update-kernel=ALL --remove-args='selinux enforcing'")],
                paths=sorted(set(e.rsplit(" in ", 1)[1] for e in enabling)), code="kernel-args")
        if text is None:
            return self.passed(Message("SELinux is not configured ({path} does not exist)", path=CONFIG),
                               code="absent")
        if mode == "disabled":
            return self.passed(Message("SELinux is disabled in {path}", path=CONFIG), paths=[CONFIG], code="disabled")
        return self.result(
            Status.WARN, Message("SELINUX={mode} in {path} is not a known mode", mode=repr(mode or ""), path=CONFIG),
            Message("Set SELINUX=disabled in {path}.", path=CONFIG), paths=[CONFIG], data={"mode": mode},
            code="unknown-mode")
