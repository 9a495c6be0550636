"""Proposed fix for GUESTOS.Grub: root= by UUID, then the distribution's regeneration.

Only on the running system, where the UUID of the device named by root=/dev/sdX is
known for certain (seed 003: a wrong UUID fails the boot as surely as a wrong name). The
GRUB_CMDLINE_LINUX* values of /etc/default/grub and GRUB legacy kernel lines are edited
as files (backed up, every other byte kept, rolled back by `guestprep rollback`);
GRUB_DISABLE_LINUX_UUID=true is set to false; then grub.cfg is regenerated with the
distribution's own tool (update-grub, grub2-mkconfig -o ...), or grubby changes every
Boot Loader Spec entry. Those commands cannot be undone by rollback, so the fix is
proposed only (seeds 000 and 002: an edited menu.lst can stop the instance booting).
Missing kernels and unresolvable UUIDs are left to a person: the hint says how.
"""
import re

from agent.checks.grub import DEFAULT_GRUB, regen_command
from agent.model import Mode, Remediation, RunCommand, WriteFile
from agent.parsers import bootcfg, keyvalue, replace_line, split_ending, split_lines


def _replace_root(args, device, uuid):
    """Kernel argument words with root=<device> replaced by root=UUID=<uuid>."""
    return ["root=UUID=" + uuid if a == "root=" + device else a for a in args]


def _uuid(ctx, device):
    live = ctx.live
    found = live.device_for(device) or device
    return live.uuid_of(found)


class GrubFix(Remediation):
    id = "grub"
    mode = Mode.PROPOSE
    reversible = False          # the regeneration command rewrites grub.cfg
    offline_safe = False        # the UUID is known for certain only on the running system
    needs_reboot = True
    note = ("The edited files are rolled back by `guestprep rollback`; the regenerated grub.cfg is not "
            "(run the regeneration command again after a rollback).")

    def plan(self, ctx, result):
        data = result.data or {}
        if ctx.live is None or not (data.get("roots") or data.get("default_grub") or data.get("disable_uuid")):
            return []
        devices = sorted(set([r["device"] for r in data.get("roots", [])]
                             + [d["device"] for d in data.get("default_grub", [])]))
        uuids = dict((d, _uuid(ctx, d)) for d in devices)
        uuids = dict((d, u) for d, u in uuids.items() if u)
        steps = []
        text = ctx.root.read_config_or_none(DEFAULT_GRUB)
        if text is not None:
            new = text
            for key, args in sorted(bootcfg.default_grub(text).items()):
                words = list(args)
                for device, uuid in uuids.items():
                    words = _replace_root(words, device, uuid)
                if words != list(args):
                    new = keyvalue.set_value(new, key, " ".join(words))
            if data.get("disable_uuid"):
                new = keyvalue.set_value(new, "GRUB_DISABLE_LINUX_UUID", "false")
            if new != text:
                steps.append(WriteFile(DEFAULT_GRUB, new.encode("utf-8", "surrogateescape"),
                                       why="name the root filesystem by UUID for grub-mkconfig"))
        legacy = sorted(set(r["path"] for r in data.get("roots", [])
                            if r["path"].endswith((".lst", ".conf", ".list")) and not r["path"].startswith(
                                "/boot/loader/")))
        for path in legacy:
            original = ctx.root.read_config(path)
            new = original
            for line in bootcfg.grub_legacy(original):
                words = list(line.args)
                changed = words
                for device, uuid in uuids.items():
                    changed = _replace_root(changed, device, uuid)
                if changed != words:
                    body = split_ending(split_lines(new)[line.lineno - 1])[0]
                    for device, uuid in uuids.items():
                        body = re.sub(r"(?<!\S)root={}(?!\S)".format(re.escape(device)),
                                      "root=UUID=" + uuid, body)
                    new = replace_line(new, line.lineno, body, keep_original=False)
            if new != original:
                steps.append(WriteFile(path, new.encode("utf-8", "surrogateescape"),
                                       why="GRUB legacy kernel lines: root= by UUID"))
        grub2_roots = [r for r in data.get("roots", []) if r["path"] not in legacy]
        if data.get("bls") and grub2_roots:
            for uuid in sorted(set(uuids.values()))[:1]:
                steps.append(RunCommand(("grubby", "--update-kernel=ALL", "--args=root=UUID=" + uuid),
                                        why="root= by UUID in every Boot Loader Spec entry",
                                        undo_hint="grubby --update-kernel=ALL --args=root=" + devices[0]))
        regen = regen_command(ctx)
        wrote_default = any(isinstance(s, WriteFile) and s.path == DEFAULT_GRUB for s in steps)
        if regen and (wrote_default or uuids and any(not r["path"].startswith("/boot/loader/") for r in grub2_roots)):
            steps.append(RunCommand(regen, why="regenerate grub.cfg from {}".format(DEFAULT_GRUB),
                                    undo_hint="after `guestprep rollback`, run {} again".format(" ".join(regen))))
        return steps
