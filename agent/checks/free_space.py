"""free-space: the system disk needs free space and inodes for the first boot on ECS.

Seed 002 (Linux restrictions): システムディスクの空き容量を確認することを推奨します — check
that the system disk has free space; seed 000 (その他) says the same for every image. On
its first boot an imported instance writes logs, cloud-init state and SSH host keys, and
the repairs ECS and guestprep make (package installs, initramfs rebuilds) need room on
the filesystem holding /. A full root filesystem fails those silently or stops services.

Measured with statvfs on the target's / (for a mounted image, the image's filesystem):
the space an unprivileged process may use (f_bavail) and the free inodes (f_favail).
Under 200 MiB free is a FAIL; under 1 GiB or 10 %, or fewer than 5 % of the inodes, a
WARN. Filesystems without an inode limit (btrfs reports 0 inodes) skip the inode test.
"""
from agent.core.model import Check, Status

MIB = 1024 * 1024
GIB = 1024 * MIB
FAIL_BELOW = 200 * MIB
WARN_BELOW = 1 * GIB
WARN_RATIO = 0.10
INODE_RATIO = 0.05


def human(size):
    for unit, factor in (("GiB", GIB), ("MiB", MIB)):
        if size >= factor:
            return "{:.1f} {}".format(size / float(factor), unit)
    return "{} KiB".format(size // 1024)


class FreeSpace(Check):
    id = "free_space"
    title = "Free space and inodes on /"
    item = "free-space"
    repair_item = ""

    def run(self, ctx):
        try:
            st = ctx.root.statvfs("/")
        except (OSError, AttributeError) as e:
            return self.result(Status.WARN, "cannot measure the free space of {} ({})".format(
                ctx.root.display("/"), getattr(e, "strerror", None) or e),
                "Check the free space with `df -h {0}` and `df -i {0}`.".format(ctx.root.display("/")),
                commands=["df -h {}".format(ctx.root.display("/")), "df -i {}".format(ctx.root.display("/"))])
        size = st.f_blocks * st.f_frsize
        free = st.f_bavail * st.f_frsize
        ratio = float(free) / size if size else 1.0
        inodes, free_inodes = st.f_files, st.f_favail
        inode_ratio = float(free_inodes) / inodes if inodes else 1.0
        data = {"size": size, "free": free, "inodes": inodes, "free_inodes": free_inodes}
        facts = "{} free of {} ({:.0%})".format(human(free), human(size), ratio)
        if inodes:
            facts += ", {} of {} inodes free ({:.0%})".format(free_inodes, inodes, inode_ratio)
        problems = []
        status = Status.PASS
        if free < FAIL_BELOW:
            status = Status.FAIL
            problems.append("under {} free".format(human(FAIL_BELOW)))
        elif free < WARN_BELOW or ratio < WARN_RATIO:
            status = Status.WARN
            problems.append("under {} or {:.0%} free".format(human(WARN_BELOW), WARN_RATIO))
        if inodes and inode_ratio < INODE_RATIO:
            status = Status.worst([status, Status.WARN])
            problems.append("under {:.0%} of the inodes free".format(INODE_RATIO))
        where = ctx.root.display("/")
        if status == Status.PASS:
            return self.passed("the root filesystem has {}".format(facts), data=data)
        hint = ("The first boot on ECS writes logs, cloud-init state and host keys, and repairs install "
                "packages and rebuild the initramfs on this filesystem (seed 002: check the system disk's "
                "free space). Free space before capture: clean the package cache, old kernels, logs and "
                "core dumps, or grow the disk.")
        commands = ["df -h {}".format(where), "df -i {}".format(where),
                    "du -xh --max-depth=2 {} | sort -h | tail -20".format(where)]
        return self.result(status, "the root filesystem has {}: {}".format(facts, "; ".join(problems)),
                           hint, commands=commands, data=data)
