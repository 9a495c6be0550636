"""Fix for GUESTOS.Fstab: comment out data-disk lines, mount system filesystems by UUID=.

Lines are commented out with guestprep's marker, never deleted, so a person sees what was
mounted and the next run recognises them. A kernel or bus device name is rewritten only
when the UUID is known for certain: from the running system, or, on a mounted image, from
the filesystem mounted at --root (the root line) and the host's partitions of the same
disk with a matching filesystem type (agent.facts.disks.image_uuid_of); /dev/sda1 itself names
the old machine's disk, which guestprep never looks at. The old line stays above the new
one, commented out.
/, /boot, /boot/efi and swap are never commented out: the hint proposes the edit instead.
"""
from agent.checks.fstab import DISABLE, FSTAB, REWRITE, analyse, line_numbers
from agent.core.model import Message, Mode, Remediation, WriteFile
from agent.parsers import comment_out, replace_line


class FstabFix(Remediation):
    id = "fstab"
    mode = Mode.AUTO
    reversible = True
    offline_safe = True
    needs_reboot = False

    def plan(self, ctx, result):
        text = ctx.root.read_config_or_none(FSTAB)
        if text is None:
            return []
        findings = analyse(ctx, text).findings
        disable = sorted(set(f.lineno for f in findings if f.action == DISABLE))
        rewrite = sorted(((f.lineno, f.new_line) for f in findings if f.action == REWRITE),
                         reverse=True)
        new = comment_out(text, disable) if disable else text
        # Bottom up: each rewrite adds a line (the kept original) and would shift the
        # numbers of the lines below it.
        for lineno, line in rewrite:
            new = replace_line(new, lineno, line, keep_original=True)
        if new == text:
            return []
        why = []
        if disable:
            why.append(Message("comment out {lines} (not on the system disk)", lines=line_numbers(disable)))
        if rewrite:
            why.append(Message("mount {lines} by UUID=", lines=line_numbers(n for n, _ in rewrite)))
        left = [f.lineno for f in findings if not f.action and f.lineno]
        if left:
            why.append(Message("{lines} left for you (see the hint of `guestprep check`)", lines=line_numbers(left)))
        return [WriteFile(FSTAB, new.encode("utf-8", "surrogateescape"), why=Message.join(why))]
