"""GUESTOS.Selinux: SELinux must be disabled in the image.

Seeds 000 and 002: an image whose /etc/selinux/config enables SELinux may stop booting on
ECS (the files lack labels valid for the instance, and Alibaba's images ship it disabled).
`selinux=1` or `enforcing=1` on the kernel command line turn it back on whatever the
config file says, so the boot configuration is read too.
"""
from agent.core.model import Check, Message, Status, joined
from agent.facts import boot
from agent.parsers import bootcfg, keyvalue

CONFIG = "/etc/selinux/config"


def _kernel_arg_sources(ctx):
    """([(path, [args])], [problems]) for every place a kernel command line is configured,
    and the running one (agent.facts.boot.kernel_cmdlines)."""
    sources, problems = boot.kernel_cmdlines(ctx)
    return [(s.path, s.args) for s in sources], problems


class Selinux(Check):
    id = "selinux"
    title = "SELinux disabled"
    item = "GUESTOS.Selinux"
    repair_item = "selinux"
    refs = ("000", "002")

    def run(self, ctx):
        text = ctx.root.read_config_or_none(CONFIG)
        mode = None
        if text is not None:
            values, problems = keyvalue.parse(text)
            mode = (keyvalue.get(values, "SELINUX") or "").strip().lower()
        enabling = []
        sources, unreadable = _kernel_arg_sources(ctx)
        for path, args in sources:
            for name in ("selinux", "enforcing"):
                if bootcfg.arg_value(args, name) == "1":
                    enabling.append(Message("{arg}=1 in {path}", arg=name, path=path))
        enabling = sorted(set(enabling))
        unread = Message("Cannot read {files}: a selinux= or enforcing= there is not known.",
                         files="; ".join(unreadable)) if unreadable else None
        if mode in ("enforcing", "permissive"):
            if enabling:
                hint = Message("Set SELINUX=disabled in {path} (guestprep fix --items selinux does this and keeps "
                               "every other line); it takes effect at the next boot. Remove {args} from the kernel "
                               "command line (then regenerate the boot configuration).", path=CONFIG,
                               args=", ".join(enabling))
            else:
                hint = Message("Set SELINUX=disabled in {path} (guestprep fix --items selinux does this and keeps "
                               "every other line); it takes effect at the next boot.", path=CONFIG)
            if unread:
                hint = joined([hint, unread], " ")
            return self.failed(
                Message("SELinux is {mode} in {path}", mode=mode, path=CONFIG), hint,
                commands=["sed -i 's/^SELINUX=.*/SELINUX=disabled/' " + ctx.root.display(CONFIG)],
                paths=[CONFIG], data={"mode": mode}, code=mode)
        if enabling:
            hint = Message("SELinux is disabled in the config, but the kernel arguments turn it on again if the config "
                           "changes. Remove {args} from the kernel command line (then regenerate the boot "
                           "configuration).", args=", ".join(enabling))
            return self.result(
                Status.WARN, Message("kernel command line enables SELinux: {args}", args="; ".join(enabling)),
                joined([hint, unread], " ") if unread else hint,
                commands=[ctx.in_guest("grubby --update-kernel=ALL --remove-args='selinux enforcing'")],
                paths=sorted(set(e.rsplit(" in ", 1)[1] for e in enabling)), code="kernel-args")
        if unreadable:
            return self.result(
                Status.WARN, Message("kernel command line not fully read: {files}", files="; ".join(unreadable)),
                joined([Message("Repair or restore the file(s) named, then check again."), unread], " "),
                paths=sorted(set(p.split(": ", 1)[0] for p in unreadable)), code="cmdline-unreadable")
        if text is None:
            return self.passed(Message("SELinux is not configured ({path} does not exist)", path=CONFIG),
                               code="absent")
        if mode == "disabled":
            return self.passed(Message("SELinux is disabled in {path}", path=CONFIG), paths=[CONFIG], code="disabled")
        return self.result(
            Status.WARN, Message("SELINUX={mode} in {path} is not a known mode", mode=repr(mode or ""), path=CONFIG),
            Message("Set SELINUX=disabled in {path}.", path=CONFIG), paths=[CONFIG], data={"mode": mode},
            code="unknown-mode")
