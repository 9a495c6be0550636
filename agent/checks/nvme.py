"""GUESTOS.Nvme: every installed kernel can boot from an NVMe system disk.

Instance families such as g7se attach their disks over NVMe (seed 003, GUESTOS.Nvme:
the image must have the NVMe driver). nvme and nvme_core must be built in or inside each
kernel's initramfs, as for virtio. An image imported with `Features.NvmeSupport=supported`
also needs `nvme_core.io_timeout` and `nvme_core.admin_timeout` at their maximum on the
kernel command line: with the 30 s default a slow cloud-disk I/O fails and the root
filesystem is remounted read-only (Alibaba Cloud's NVMe io_timeout guidance). The
maximum is 4294967295 where the parameters are unsigned int (Linux 4.15 on) and 255
where they are a byte (kernels before 4.15, RHEL 7's 3.10 among them): see
agent.facts.kernels.byte_sized_nvme_timeouts. The arguments are read from every place the
next boot takes them from: /etc/default/grub, grub.cfg (BIOS and EFI), Boot Loader Spec
entries (with $kernelopts from grubenv) and /etc/kernel/cmdline.
"""
from agent.core.model import Check, Message, Status, joined
from agent.facts import boot, kernels
from agent.facts import drivers as driver_facts
from agent.parsers import bootcfg

REQUIRED = ("nvme", "nvme_core")
ARGS = ("nvme_core.io_timeout", "nvme_core.admin_timeout")
IMPORT_HINT = Message("Import the image with Features.NvmeSupport=supported.")
THEN_IMPORT_HINT = Message("Then import the image with Features.NvmeSupport=supported.")


def timeout_value(versions):
    """The largest timeout the newest installed kernel accepts (it is the default boot)."""
    newest = versions[-1] if versions else ""
    return "255" if newest and kernels.byte_sized_nvme_timeouts(newest) else "4294967295"


def arg_sources(ctx):
    """([(path, [args])], [problems]) for every place the next boot's command line comes from
    (agent.facts.boot.kernel_cmdlines). GRUB legacy files are left out: the fix does not
    edit them. A file that cannot be read is a problem named in the result, not an
    exception: the other files and the driver findings still count.
    """
    sources, problems = boot.kernel_cmdlines(ctx)
    return [(s.path, s.args) for s in sources if s.kind not in ("legacy", "running")], problems


def bad_arg_sources(sources, value):
    """[(path, what is wrong)] for sources without both timeouts at `value`, one per file."""
    wrong = {}
    order = []
    for path, args in sources:
        for name in ARGS:
            found = bootcfg.arg_value(args, name)
            if found != value:
                text = "{}={}".format(name, found) if found is not None else Message("no {arg}", arg=name)
                if path not in wrong:
                    wrong[path] = []
                    order.append(path)
                if text not in wrong[path]:
                    wrong[path].append(text)
    return [(path, joined(wrong[path], ", ")) for path in order]


class Nvme(Check):
    id = "nvme"
    title = "NVMe driver in every kernel's initramfs, nvme_core timeouts"
    item = "GUESTOS.Nvme"
    repair_item = "nvme"
    refs = ("003",)

    def run(self, ctx):
        states = driver_facts.survey(ctx, REQUIRED)
        if not states:
            return self.result(Status.WARN, driver_facts.NO_KERNEL, driver_facts.NO_KERNEL_HINT, code="no-kernel")
        drivers = driver_facts.evaluate(self, ctx, states, REQUIRED, (), "nvme", self.item)
        value = timeout_value([k.version for k, _s in states])
        args = "{}={} {}={}".format(ARGS[0], value, ARGS[1], value)
        sources, problems = arg_sources(ctx)
        bad = bad_arg_sources(sources, value) + [(p.split(": ", 1)[0], p.split(": ", 1)[-1]) for p in problems]
        data = dict(drivers.data or {})
        data.update(value=value, args=args, bad_sources=[p for p, _w in bad], has_sources=bool(sources or problems))
        if sources and not bad:
            args_summary = Message("{args} on every kernel command line", args=args)
        elif bad:
            args_summary = Message("kernel command line lacks {args}: {where}", args=args,
                                   where=joined([Message("{what} in {path}", what=w, path=p) for p, w in bad]))
        else:
            args_summary = Message("no boot loader configuration found to carry {args}", args=args)
        arg_commands = [ctx.in_guest("grubby --update-kernel=ALL --args='{}'".format(args))] \
            if ctx.root.exists("/usr/sbin/grubby") or ctx.root.exists("/sbin/grubby") else []
        if drivers.status == Status.FAIL or bad:
            hint = []
            if drivers.status == Status.FAIL:
                hint.append(drivers.hint)
            if bad and arg_commands:
                hint.append(Message("Add {args} to every boot entry with grubby (command below) and to "
                                    "GRUB_CMDLINE_LINUX in /etc/default/grub; guestprep fix --items nvme does both.",
                                    args=args))
            elif bad and not ctx.root.exists("/etc/default/grub"):
                hint.append(Message("Add {args} to every kernel line of {paths} (there is no /etc/default/grub to "
                                    "regenerate it from); guestprep fix --items nvme does this.", args=args,
                                    paths=", ".join(p for p, _w in bad)))
            elif bad:
                # Name this distribution's tool: grubby exists only on RHEL-like systems.
                regen = boot.regen_command(ctx)
                hint.append(Message("Add {args} to GRUB_CMDLINE_LINUX in /etc/default/grub and regenerate grub.cfg "
                                    "({command}); guestprep fix --items nvme does both.", args=args,
                                    command=" ".join(regen) if regen else "grub-mkconfig"))
            hint.append(THEN_IMPORT_HINT)
            findings = list(drivers.findings) if drivers.status == Status.FAIL else []
            if bad:
                findings.append(self.finding(Status.FAIL, "timeouts", args_summary,
                                             path=bad[0][0] if len(bad) == 1 else ""))
            return self.results(findings, joined(hint, " "), commands=list(drivers.commands) + arg_commands,
                                paths=sorted(set(drivers.paths) | set(p for p, _w in bad)),
                                data=data, status=Status.FAIL)
        if drivers.status == Status.WARN or not sources:
            findings = list(drivers.findings) if drivers.status == Status.WARN else []
            if not sources:
                findings.append(self.finding(Status.WARN, "no-boot-config", args_summary))
            return self.results(findings, Message("Put {args} on the kernel command line of the boot loader the "
                                                  "image will use. {import_hint}", args=args, import_hint=IMPORT_HINT),
                                commands=arg_commands, data=data, status=Status.WARN)
        return self.passed(Message("nvme and nvme_core in every kernel, {args}; {import_hint}", args=args_summary,
                                   import_hint=IMPORT_HINT), data=data, code="ready")

