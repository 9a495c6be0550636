"""Fix for GUESTOS.Virtio: add the missing drivers the distribution's way, rebuild every initramfs.

initramfs-tools (Debian, Ubuntu) reads module names from /etc/initramfs-tools/modules,
whatever MODULES= says; dracut (RHEL family, SUSE, Fedora) reads `add_drivers+=` from
/etc/dracut.conf.d/*.conf. The images are then rebuilt by the target's own tool, chrooted
with --root. The rebuild is a run_last command: it runs once after every plan's edits, so
one rebuild serves virtio and nvme, and it declares the images it rewrites so the journal
backs them up first and rollback restores them byte for byte.

The images are built for ECS, not for the machine that runs the rebuild: when the tool is
set to host-only (MODULES=dep, hostonly="yes"), a file that turns it off
(/etc/initramfs-tools/conf.d/guestprep-ecs with MODULES=most, or
/etc/dracut.conf.d/guestprep-ecs.conf with hostonly="no") is written before the rebuild,
journaled like every edit. After the rebuild every image is read again with guestprep's
own initramfs reader; a wanted driver missing from one fails the fix, and the engine
rolls it back (images included).
"""
from agent.core.model import Message, Mode, Refused, Remediation, RunCommand, WriteFile
from agent.facts import initramfs_build, kernels
from agent.facts.initramfs_build import initramfs_tool
from agent.parsers import keyvalue

MODULES_FILE = "/etc/initramfs-tools/modules"
STATE_DIR = "/var/lib/guestprep"
# A rebuilt image is rarely much larger than the old one; leave room for growth.
GROWTH = 1.25
DEFAULT_IMAGE = 64 << 20


def modules_to_add(result):
    """Sorted union of the modules the kernels lack and provide as files."""
    rows = (result.data or {}).get("kernels", [])
    return sorted(set(m for row in rows for m in row.get("add", ())))


def config_step(ctx, modules, name, title):
    """The WriteFile that lists `modules` for the initramfs tool, or None when already listed."""
    tool = initramfs_tool(ctx)
    if tool == "initramfs-tools":
        text = ctx.root.read_config_or_none(MODULES_FILE) or ""
        listed = set()
        for line in text.splitlines():
            words = line.split()
            if words and not words[0].startswith("#"):
                listed.add(words[0].replace("-", "_"))
        add = [m for m in modules if m not in listed]
        if not add:
            return None
        new = text + ("\n" if text and not text.endswith("\n") else "")
        new += "# Added by guestprep: {} for Alibaba Cloud ECS\n".format(title)
        new += "".join(m + "\n" for m in add)
        return WriteFile(MODULES_FILE, new.encode("utf-8", "surrogateescape"), mode=0o644,
                         why=Message("load {modules} from the initramfs", modules=", ".join(add)))
    if tool == "dracut":
        path = "/etc/dracut.conf.d/guestprep-{}.conf".format(name)
        old = ctx.root.read_config_or_none(path) or ""
        listed = set()
        for line in old.splitlines():
            if line.strip().startswith("add_drivers+="):
                listed.update(line.split("=", 1)[1].strip().strip("\"'").split())
        wanted = sorted(listed | set(modules))
        new = ("# Added by guestprep: {} for Alibaba Cloud ECS\n"
               'add_drivers+=" {} "\n').format(title, " ".join(wanted))
        if new == old:
            return None
        return WriteFile(path, new.encode("utf-8"), mode=0o644,
                         why=Message("put {modules} into every initramfs dracut builds", modules=", ".join(modules)))
    raise Refused(Message("the target has neither initramfs-tools nor dracut to rebuild its initramfs with"))


GENERIC = {
    "initramfs-tools": ("/etc/initramfs-tools/conf.d/guestprep-ecs", "MODULES=most\n"),
    "dracut": ("/etc/dracut.conf.d/guestprep-ecs.conf", 'hostonly="no"\n'),
}
GENERIC_HEADER = ("# Added by guestprep: build initramfs images for any hardware, so that Alibaba Cloud ECS's\n"
                  "# virtio and NVMe drivers are in them, not only those of the machine running the rebuild.\n")


def generic_steps(ctx):
    """WriteFiles that turn host-only initramfs images off ([] when they are generic): the
    guestprep-ecs setting, and any host-only assignment in a file read after it commented out
    (marked, so a person sees it and rollback restores it)."""
    tool = initramfs_tool(ctx)
    host = initramfs_build.initramfs_hostonly(ctx, tool)
    if not host["hostonly"] or tool not in GENERIC:
        return []
    path, line = GENERIC[tool]
    if not ctx.root.isdir(path.rsplit("/", 1)[0]):
        raise Refused(Message("{path} does not exist, so the initramfs cannot be made generic before the rebuild "
                              "({setting} is set): create it, or change the setting by hand",
                              path=path.rsplit("/", 1)[0], setting=host["setting"]))
    where = Message("{path} line {line}", path=host["path"], line=host["lineno"]) if host["path"] else \
        Message("the default")
    steps = [WriteFile(path, (GENERIC_HEADER + line).encode("utf-8"), mode=0o644,
                       why=Message("{setting} ({where}) would build the initramfs for the machine running the "
                                   "rebuild: {line} makes it generic", setting=host["setting"], where=where,
                                   line=line.strip()))]
    key = line.split("=", 1)[0]
    files = (initramfs_build.initramfs_tools_conf_files(ctx, path) if tool == "initramfs-tools"
             else initramfs_build.dracut_conf_files(ctx, path))
    for later in files[files.index(path) + 1:]:
        text = ctx.root.read_config_or_none(later)
        if text is None or keyvalue.get(keyvalue.parse(text)[0], key) is None:
            continue
        new = keyvalue.comment_out_keys(text, lambda k: k == key)
        if new != text:
            steps.append(WriteFile(later, new.encode("utf-8", "surrogateescape"),
                                   why=Message("{later} is read after {path} and sets {key}: commented out",
                                               later=later, path=path, key=key)))
    return steps


def _free_bytes(ctx, path):
    """(free bytes, device) of the filesystem holding `path` or its nearest existing parent."""
    while path != "/" and not ctx.root.exists(path):
        path = path.rsplit("/", 1)[0] or "/"
    try:
        st = ctx.root.statvfs(path)
        return st.f_bavail * st.f_frsize, ctx.root.stat(path).st_dev
    except OSError as e:
        raise Refused(Message("cannot tell how much space {path} has ({error}); the images are not rebuilt "
                              "without room for their backups", path=path, error=str(e.strerror or e)))


def check_space(ctx, rows):
    """Refuse when /boot cannot hold the rebuilt images next to the old ones (the tools write
    a new file, then rename) or the backups do not fit where the journal keeps them."""
    sizes = []
    for row in rows:
        if row.get("initramfs") and ctx.root.isfile(row["initramfs"]):
            sizes.append(ctx.root.stat(row["initramfs"]).st_size)
    largest = max(sizes) if sizes else DEFAULT_IMAGE
    backups = sum(sizes)
    new_images = int(largest * GROWTH)   # written one kernel at a time
    created = sum(int(largest * GROWTH) for row in rows if not row.get("initramfs"))
    boot_free, boot_dev = _free_bytes(ctx, "/boot")
    state_free, state_dev = _free_bytes(ctx, STATE_DIR)
    need_boot = new_images + created + (backups if state_dev == boot_dev else 0)
    mib = 1 << 20
    if boot_free < need_boot:
        if state_dev == boot_dev:
            raise Refused(Message("/boot has {free} MiB free; rebuilding the initramfs images and keeping their "
                                  "backups needs about {need} MiB", free=boot_free // mib, need=need_boot // mib + 1))
        raise Refused(Message("/boot has {free} MiB free; rebuilding the initramfs images needs about {need} MiB",
                              free=boot_free // mib, need=need_boot // mib + 1))
    if state_dev != boot_dev and state_free < backups:
        raise Refused(Message("{path} has {free} MiB free; the backups of the initramfs images need {need} MiB",
                              path=STATE_DIR, free=state_free // mib, need=backups // mib + 1))


def rebuild_steps(ctx, rows):
    """Commands that rebuild the initramfs of every kernel in `rows`, run_last and deduplicated."""
    tool = initramfs_tool(ctx)
    steps = []
    if tool == "initramfs-tools":
        existing = [r for r in rows if r.get("initramfs")]
        if existing:
            # update-initramfs also records each image's checksum under /var/lib/initramfs-tools.
            modifies = tuple(r["initramfs"] for r in existing) + tuple(
                "/var/lib/initramfs-tools/" + r["version"] for r in existing)
            steps.append(RunCommand(("update-initramfs", "-u", "-k", "all"), why=Message("rebuild every initramfs"),
                                    modifies=modifies, run_last=True))
        for row in rows:
            if not row.get("initramfs"):
                steps.append(RunCommand(("update-initramfs", "-c", "-k", row["version"]),
                                        why=Message("create the missing initramfs of {version}",
                                                    version=row["version"]),
                                        modifies=(row["initramfs_path"], "/var/lib/initramfs-tools/" + row["version"]),
                                        run_last=True))
    elif tool == "dracut":
        for row in rows:
            path = row.get("initramfs") or row["initramfs_path"]
            steps.append(RunCommand(("dracut", "-f", path, row["version"]),
                                    why=Message("rebuild the initramfs of {version}", version=row["version"]),
                                    modifies=(path,), run_last=True))
    return steps


def all_kernel_rows(ctx):
    """Every installed kernel as a row: one rebuild covers them all (update-initramfs -k all)."""
    return [{"version": k.version, "initramfs": k.initramfs, "initramfs_path": k.initramfs_path}
            for k in kernels.installed(ctx)]


def plan_drivers(ctx, result, name, title):
    """Config edit plus rebuild for the drivers a driver check found missing; with host-only
    images, the edit that makes them generic first (alone when no driver is missing)."""
    modules = modules_to_add(result)
    generic = generic_steps(ctx)
    if not modules:
        return generic
    step = config_step(ctx, modules, name, title)
    rows = all_kernel_rows(ctx)
    check_space(ctx, rows)
    return ([step] if step is not None else []) + generic + rebuild_steps(ctx, rows)


def verify_images(ctx, result, steps):
    """After the rebuild: each kernel's initramfs read again with guestprep's own reader; the
    drivers it lacked and provides must be in it now (Messages of what is not)."""
    if not any(s.run_last for s in steps):
        return []
    problems = []
    for row in (result.data or {}).get("kernels", []):
        wanted = row.get("add") or []
        if not wanted:
            continue
        path = row.get("initramfs") or row.get("initramfs_path")
        if not path or not ctx.root.isfile(path):
            problems.append(Message("kernel {version}: no initramfs at {path} after the rebuild",
                                    version=row["version"], path=path))
            continue
        found, error = kernels.read_initramfs_modules(ctx, path, wanted, row["version"])
        if error:
            problems.append(Message("kernel {version}: {error}", version=row["version"], error=error))
            continue
        missing = sorted(set(wanted) - set(found))
        if missing:
            problems.append(Message("kernel {version}: {path} still lacks {modules} after the rebuild",
                                    version=row["version"], path=path, modules=", ".join(missing)))
    return problems


class VirtioFix(Remediation):
    id = "virtio"
    mode = Mode.AUTO
    reversible = True        # the journal keeps every image it replaces
    needs_reboot = True
    note = Message("The rebuilt initramfs images are used from the next boot on.")

    def plan(self, ctx, result):
        return plan_drivers(ctx, result, "virtio", "virtio drivers (GUESTOS.Virtio)")

    def verify(self, ctx, result, steps):
        return verify_images(ctx, result, steps)
