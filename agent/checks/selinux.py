"""GUESTOS.Selinux: SELinux must be disabled in the image.

Seeds 000 and 002: an image whose /etc/selinux/config enables SELinux may stop booting on
ECS (the files lack labels valid for the instance, and Alibaba's images ship it disabled).
`selinux=1` or `enforcing=1` on the kernel command line turn it back on whatever the
config file says, so the boot configuration is read too.
"""
from agent.core.model import Check, Status
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
                    enabling.append("{}={} in {}".format(name, 1, path))
        enabling = sorted(set(enabling))
        args_hint = ""
        if enabling:
            args_hint = (" Remove {} from the kernel command line (then regenerate the boot "
                         "configuration).".format(", ".join(enabling)))
        if unreadable:
            args_hint += " Cannot read {}: a selinux= or enforcing= there is not known.".format("; ".join(unreadable))
        if mode in ("enforcing", "permissive"):
            return self.failed(
                "SELinux is {} in {}".format(mode, CONFIG),
                "Set SELINUX=disabled in {} (guestprep fix --items selinux does this and keeps "
                "every other line); it takes effect at the next boot.{}".format(CONFIG, args_hint),
                commands=["sed -i 's/^SELINUX=.*/SELINUX=disabled/' " + ctx.root.display(CONFIG)],
                paths=[CONFIG], data={"mode": mode})
        if enabling:
            return self.result(
                Status.WARN, "kernel command line enables SELinux: " + "; ".join(enabling),
                "SELinux is disabled in the config, but the kernel arguments turn it on again "
                "if the config changes." + args_hint,
                commands=[ctx.in_guest("grubby --update-kernel=ALL --remove-args='selinux enforcing'")],
                paths=sorted(set(e.rsplit(" in ", 1)[1] for e in enabling)))
        if unreadable:
            return self.result(
                Status.WARN, "kernel command line not fully read: " + "; ".join(unreadable),
                "Repair or restore the file(s) named, then check again." + args_hint,
                paths=sorted(set(p.split(": ", 1)[0] for p in unreadable)))
        if text is None:
            return self.passed("SELinux is not configured ({} does not exist)".format(CONFIG))
        if mode == "disabled":
            return self.passed("SELinux is disabled in " + CONFIG, paths=[CONFIG])
        return self.result(
            Status.WARN, "SELINUX={!r} in {} is not a known mode".format(mode or "", CONFIG),
            "Set SELINUX=disabled in {}.".format(CONFIG), paths=[CONFIG], data={"mode": mode})
