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
from agent.core.model import Check, Message, Status

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
    refs = ("000", "002")

    def run(self, ctx):
        try:
            st = ctx.root.statvfs("/")
        except (OSError, AttributeError) as e:
            where = ctx.root.display("/")
            return self.result(Status.WARN, Message("cannot measure the free space of {path} ({error})", path=where,
                                                    error=getattr(e, "strerror", None) or e),
                               Message("Check the free space with `df -h {path}` and `df -i {path}`.", path=where),
                               commands=["df -h {}".format(where), "df -i {}".format(where)], code="unmeasured")
        size = st.f_blocks * st.f_frsize
        free = st.f_bavail * st.f_frsize
        ratio = float(free) / size if size else 1.0
        inodes, free_inodes = st.f_files, st.f_favail
        inode_ratio = float(free_inodes) / inodes if inodes else 1.0
        data = {"size": size, "free": free, "inodes": inodes, "free_inodes": free_inodes}
        if inodes:
            facts = Message("{free} free of {size} ({ratio:.0%}), {free_inodes} of {inodes} inodes free "
                            "({inode_ratio:.0%})", free=human(free), size=human(size), ratio=ratio,
                            free_inodes=free_inodes, inodes=inodes, inode_ratio=inode_ratio)
        else:
            facts = Message("{free} free of {size} ({ratio:.0%})", free=human(free), size=human(size), ratio=ratio)
        problems = []   # (status, code, text)
        if free < FAIL_BELOW:
            problems.append((Status.FAIL, "full", Message("under {limit} free", limit=human(FAIL_BELOW))))
        elif free < WARN_BELOW or ratio < WARN_RATIO:
            problems.append((Status.WARN, "low", Message("under {limit} or {ratio:.0%} free", limit=human(WARN_BELOW),
                                                         ratio=WARN_RATIO)))
        if inodes and inode_ratio < INODE_RATIO:
            problems.append((Status.WARN, "inodes", Message("under {ratio:.0%} of the inodes free", ratio=INODE_RATIO)))
        where = ctx.root.display("/")
        if not problems:
            return self.passed(Message("the root filesystem has {facts}", facts=facts), data=data, code="enough")
        hint = Message("The first boot on ECS writes logs, cloud-init state and host keys, and repairs install "
                       "packages and rebuild the initramfs on this filesystem (seed 002: check the system disk's "
                       "free space). Free space before capture: clean the package cache, old kernels, logs and "
                       "core dumps, or grow the disk.")
        commands = ["df -h {}".format(where), "df -i {}".format(where),
                    "du -xh --max-depth=2 {} | sort -h | tail -20".format(where)]
        # The first finding says what was measured; the others add what else is short.
        findings = [self.finding(status, code, text if i else Message(
            "the root filesystem has {facts}: {problem}", facts=facts, problem=text), refs=("002",))
            for i, (status, code, text) in enumerate(problems)]
        return self.results(findings, hint, commands=commands, data=data)
