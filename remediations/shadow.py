"""Fix for shadow: clear the immutable and append-only attributes of the account files.

One SetFlags step per file; the journal records the old flags, so rollback sets +i/+a
again. A read-only mount or an `ro` root in /etc/fstab is left to the person (the hint
says how): remounting is not a file change the journal could undo, and a read-only
filesystem takes no attribute changes anyway.
"""
from agent.checks.shadow import LOCKING_FLAGS, locked_files, readonly_files
from agent.core.model import Message, Mode, Remediation, SetFlags


class ShadowFix(Remediation):
    id = "shadow"
    mode = Mode.AUTO
    reversible = True
    offline_safe = True
    note = Message("ECS can now write the account files; rollback sets the attributes again.")

    def plan(self, ctx, result):
        locked = locked_files(ctx.root)
        if not locked or readonly_files(ctx.root, [path for path, _flags in locked]):
            return []
        return [SetFlags(path, clear=LOCKING_FLAGS,
                         why=Message("clear chattr +i/+a so ECS can set the root password and keys"))
                for path, _flags in locked]
