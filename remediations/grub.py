"""Fix for GUESTOS.Grub: root= by UUID, in the files the next boot reads.

On the running system the UUID of the device named by root=/dev/sdX is known for certain
(seed 003: a wrong UUID fails the boot as surely as a wrong name). The GRUB_CMDLINE_LINUX*
values of /etc/default/grub and GRUB legacy kernel lines are edited as files (backed up,
every other byte kept, rolled back by `guestprep rollback`); GRUB_DISABLE_LINUX_UUID=true
is set to false; then grub.cfg is regenerated with the distribution's own tool
(update-grub, grub2-mkconfig -o ...), or grubby changes every Boot Loader Spec entry.
Those commands cannot be undone by rollback, so the fix is proposed only (seeds 000 and
002: an edited menu.lst can stop the instance booting).

On a mounted image (--root) there is no VM to go back to, and grub-mkconfig cannot run
(grub-probe finds no device for / inside a chroot). root= always names the root
filesystem, and the root filesystem is the one mounted at --root: its UUID is read from
its superblock on the host (agent.facts.disks.image_root). Every kernel line that says
root=/dev/... is rewritten in place (grub.cfg for BIOS and EFI, Boot Loader Spec entries,
grubenv's kernelopts, menu.lst) together with /etc/default/grub, as journaled file edits
like the nvme fix's: nothing is regenerated, so the fix is fully rolled back. When the
root is not a mount point the plan is refused with the reason, and the check's hint
gives the commands.

Missing kernels and unresolvable UUIDs are left to a person: the hint says how.
"""
import re

from agent.checks.grub import offline_uuid
from agent.core.model import Message, Mode, Refused, Remediation, RunCommand, WriteFile
from agent.facts.boot import DEFAULT_GRUB, regen_command
from agent.parsers import bootcfg, keyvalue, replace_line, split_ending, split_lines


def _replace_root(args, device, uuid):
    """Kernel argument words with root=<device> replaced by root=UUID=<uuid>."""
    return ["root=UUID=" + uuid if a == "root=" + device else a for a in args]


def _uuid(ctx, device):
    live = ctx.live
    found = live.device_for(device) or device
    return live.uuid_of(found)


def _with_uuid(body, uuids):
    """One line with every root=<device> of `uuids` as root=UUID=<uuid>; the rest kept."""
    for device, uuid in uuids.items():
        body = re.sub(r"(?<![^\s\"'=])root={}(?=[\s\"']|$)".format(re.escape(device)), "root=UUID=" + uuid, body)
    return body


def edit_lines(text, linenos, uuids):
    """`text` with root= by UUID on the given 1-based lines."""
    new = text
    for lineno in sorted(set(linenos)):
        body = split_ending(split_lines(new)[lineno - 1])[0]
        changed = _with_uuid(body, uuids)
        if changed != body:
            new = replace_line(new, lineno, changed, keep_original=False)
    return new


def grubenv_with_uuid(text, uuids):
    """A GRUB environment block with root= by UUID in kernelopts, still the same size.

    grubenv is a fixed 1024-byte block padded with '#': GRUB refuses one of another size,
    so the padding absorbs the change (None when it cannot).
    """
    lines = text.split("\n")
    changed = False
    for i, line in enumerate(lines):
        if line.startswith("kernelopts="):
            new = _with_uuid(line, uuids)
            changed = changed or new != line
            lines[i] = new
    if not changed:
        return text
    body = "\n".join(lines)
    grown = len(body.encode("utf-8", "surrogateescape")) - len(text.encode("utf-8", "surrogateescape"))
    padding = len(body) - len(body.rstrip("#"))
    if grown > padding:
        return None
    return body[:len(body) - grown] if grown > 0 else body + "#" * -grown


class GrubFix(Remediation):
    id = "grub"
    mode = Mode.PROPOSE
    reversible = False          # on the running system the regeneration rewrites grub.cfg
    offline_safe = True         # file edits only on a mounted image
    needs_reboot = True
    note = Message("The edited files are rolled back by `guestprep rollback`; a regenerated grub.cfg is not "
                   "(run the regeneration command again after a rollback).")

    def plan(self, ctx, result):
        data = result.data or {}
        if not (data.get("roots") or data.get("default_grub") or data.get("disable_uuid")):
            return []
        devices = sorted(set([r["device"] for r in data.get("roots", [])]
                             + [d["device"] for d in data.get("default_grub", [])]))
        if ctx.offline:
            uuid, why = offline_uuid(ctx)
            if uuid is None and devices:
                raise Refused(Message("the UUID of the image's root filesystem is unknown: {reason}; the check's "
                                      "hint gives the commands", reason=why))
            uuids = dict((d, uuid) for d in devices)
        else:
            uuids = dict((d, _uuid(ctx, d)) for d in devices)
            uuids = dict((d, u) for d, u in uuids.items() if u)
        steps = self._default_grub(ctx, data, uuids)
        legacy = sorted(set(r["path"] for r in data.get("roots", [])
                            if r["path"].endswith((".lst", ".conf", ".list")) and not r["path"].startswith(
                                "/boot/loader/")))
        for path in legacy:
            original = ctx.root.read_config(path)
            linenos = [line.lineno for line in bootcfg.grub_legacy(original)
                       if any(_replace_root(list(line.args), d, u) != list(line.args) for d, u in uuids.items())]
            new = edit_lines(original, linenos, uuids)
            if new != original:
                steps.append(WriteFile(path, new.encode("utf-8", "surrogateescape"),
                                       why=Message("GRUB legacy kernel lines: root= by UUID")))
        grub2_roots = [r for r in data.get("roots", []) if r["path"] not in legacy]
        if ctx.offline:
            return steps + self._offline_edits(ctx, grub2_roots, uuids)
        if data.get("bls") and grub2_roots:
            for uuid in sorted(set(uuids.values()))[:1]:
                steps.append(RunCommand(("grubby", "--update-kernel=ALL", "--args=root=UUID=" + uuid),
                                        why=Message("root= by UUID in every Boot Loader Spec entry"),
                                        undo_hint="grubby --update-kernel=ALL --args=root=" + devices[0]))
        regen = regen_command(ctx)
        wrote_default = any(s.writes == DEFAULT_GRUB for s in steps)
        if regen and (wrote_default or uuids and any(not r["path"].startswith("/boot/loader/") for r in grub2_roots)):
            steps.append(RunCommand(regen, why=Message("regenerate grub.cfg from {path}", path=DEFAULT_GRUB),
                                    undo_hint=Message("after `guestprep rollback`, run {command} again",
                                                      command=" ".join(regen))))
        return steps

    @staticmethod
    def _default_grub(ctx, data, uuids):
        text = ctx.root.read_config_or_none(DEFAULT_GRUB)
        if text is None:
            return []
        new = text
        for key, args in sorted(bootcfg.default_grub(text).items()):
            words = list(args)
            for device, uuid in uuids.items():
                words = _replace_root(words, device, uuid)
            if words != list(args):
                new = keyvalue.set_value(new, key, " ".join(words))
        if data.get("disable_uuid"):
            new = keyvalue.set_value(new, "GRUB_DISABLE_LINUX_UUID", "false")
        if new == text:
            return []
        return [WriteFile(DEFAULT_GRUB, new.encode("utf-8", "surrogateescape"),
                          why=Message("name the root filesystem by UUID for grub-mkconfig"))]

    @staticmethod
    def _offline_edits(ctx, roots, uuids):
        """grub.cfg (BIOS and EFI), Boot Loader Spec entries and grubenv edited in place."""
        steps = []
        by_path = {}
        for r in roots:
            by_path.setdefault(r["path"], []).append(r["lineno"])
        for path in sorted(by_path):
            original = ctx.root.read_config(path)
            linenos = [n for n in by_path[path] if n]
            if linenos:
                new = edit_lines(original, linenos, uuids)
            else:   # grubenv's kernelopts (RHEL 8 entries say $kernelopts)
                new = grubenv_with_uuid(original, uuids)
                if new is None:
                    raise Refused(Message("{path}: no room in the 1024-byte environment block for root=UUID=",
                                          path=path))
            if new != original:
                steps.append(WriteFile(path, new.encode("utf-8", "surrogateescape"),
                                       why=Message("root= by UUID on the kernel lines of {path} (grub-mkconfig "
                                                   "cannot run on a mounted image)", path=path)))
        return steps
