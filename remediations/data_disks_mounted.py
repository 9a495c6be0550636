"""Fix for data-disks-mounted: unmount the data disks' filesystems (live only, proposed).

Seed 002 asks for data disks to be unmounted before capture. `umount` changes the running
system only, not a file guestprep can back up: it is not rolled back (the undo hint
says how to mount each one again), runs only on the running system, and is applied
only when the user names the item. Deepest mount points go first.
"""
from agent.core.model import Message, Mode, Remediation, RunCommand


class DataDisksMountedFix(Remediation):
    id = "data_disks_mounted"
    mode = Mode.PROPOSE
    reversible = False
    offline_safe = False
    note = Message("Unmounting is not rolled back: mount the filesystems again to undo.")

    def plan(self, ctx, result):
        if ctx.live is None:
            return []
        current = set(m[1] for m in ctx.live.mounts())
        steps = []
        for mount in (result.data or {}).get("mounts", []):
            if mount["mountpoint"] not in current:
                continue   # already unmounted: nothing to do
            steps.append(RunCommand(("umount", mount["mountpoint"]),
                                    why=Message("unmount {device} (a data disk) before capture",
                                                device=mount["device"]),
                                    undo_hint="mount {} {}".format(mount["device"], mount["mountpoint"]),
                                    live_only=True))
        return steps
