"""Drivers each installed kernel can load before the root filesystem is mounted, and the
judgement GUESTOS.Virtio and GUESTOS.Nvme share: built in, or inside that kernel's
initramfs, with the initramfs tool's host-only setting that would drop them at the next
rebuild (agent.facts.initramfs_build). Both checks ask here, so neither imports the other.
"""
from agent.core.model import Message, Status
from agent.facts import initramfs_build, kernels

NO_KERNEL = Message("no installed kernel found (no /boot/vmlinuz-* with /lib/modules/<version>)")
NO_KERNEL_HINT = Message("An image without a kernel cannot boot on ECS. Install the distribution's kernel package in "
                         "the image, then run guestprep check again.")


def survey(ctx, wanted):
    """[(kernel, DriverState)] for every installed kernel."""
    return [(k, kernels.drivers(ctx, k, wanted)) for k in kernels.installed(ctx)]


def kernel_data(states, wanted_required):
    """What a remediation needs: per kernel, the modules to add (ones the kernel provides)."""
    rows = []
    for kernel, state in states:
        addable = [m for m in state.missing if m not in state.not_provided]
        rows.append({"version": kernel.version, "initramfs": kernel.initramfs,
                     "initramfs_path": kernel.initramfs_path, "missing": list(state.missing),
                     "add": addable, "error": state.initramfs_error,
                     "blocking": bool(set(state.missing) & set(wanted_required))})
    return rows


def hostonly_text(ctx):
    """(finding text, fact) when the target's initramfs tool builds host-only images, else ('', fact)."""
    tool = initramfs_build.initramfs_tool(ctx)
    host = initramfs_build.initramfs_hostonly(ctx, tool)
    if not host["hostonly"]:
        return "", host
    where = Message("{path} line {line}", path=host["path"], line=host["lineno"]) if host["path"] else \
        Message("the default")
    return Message("the initramfs is built host-only ({setting} in {where}): a rebuild on this machine puts in its "
                   "own drivers only, not ECS's virtio and NVMe", setting=host["setting"], where=where), host


def evaluate(check, ctx, states, required, optional, what, item):
    """The Result for driver states (shared by virtio and nvme)."""
    blocking, warnings, paths = [], [], []   # blocking, warnings: Findings
    optional_missing = set()
    no_module = False
    for kernel, state in states:
        label = kernel.label()
        for problem in state.problems:
            warnings.append(check.finding(Status.WARN, "kernel-problem", Message(
                "kernel {kernel}: {problem}", kernel=label, problem=problem), path=kernel.initramfs or ""))
        req_missing = [m for m in state.missing if m in required]
        opt_missing = [m for m in state.missing if m in optional]
        if state.initramfs_error and (req_missing or opt_missing):
            blocking.append(check.finding(Status.FAIL, "initramfs-unreadable", Message(
                "kernel {kernel}: {error}; not built in: {modules}", kernel=label, error=state.initramfs_error,
                modules=", ".join(req_missing + opt_missing)), path=kernel.initramfs or kernel.initramfs_path or ""))
            paths.append(kernel.initramfs or kernel.initramfs_path)
            continue
        if req_missing:
            fields = dict(kernel=label, modules=", ".join(req_missing + opt_missing), initramfs=kernel.initramfs)
            absent = [m for m in state.not_provided if m in required]
            if absent:
                no_module = True
                text = Message("kernel {kernel}: {modules} neither built in nor in {initramfs} (the kernel has no "
                               "{absent} module at all)", absent=", ".join(absent), **fields)
            else:
                text = Message("kernel {kernel}: {modules} neither built in nor in {initramfs}", **fields)
            blocking.append(check.finding(Status.FAIL, "missing", text, path=kernel.initramfs or ""))
            paths.append(kernel.initramfs)
        elif opt_missing:
            warnings.append(check.finding(Status.WARN, "optional-missing", Message(
                "kernel {kernel}: {modules} not in the initramfs", kernel=label, modules=", ".join(opt_missing)),
                path=kernel.initramfs or ""))
            optional_missing.update(opt_missing)
    hostonly, host = hostonly_text(ctx)
    hostonly_finding = check.finding(Status.WARN, "hostonly", hostonly, path=host.get("path") or "",
                                     line=host.get("lineno") or 0) if hostonly else None
    data = {"kernels": kernel_data(states, required), "hostonly": host}
    commands = initramfs_build.rebuild_commands(ctx)
    tool = initramfs_build.initramfs_tool(ctx)
    # One missing module is "it": the virtio_console warning names a single driver.
    one = not blocking and len(optional_missing) <= 1
    if tool == "initramfs-tools":
        how = Message("list it in /etc/initramfs-tools/modules and run update-initramfs -u -k all") if one else \
            Message("list them in /etc/initramfs-tools/modules and run update-initramfs -u -k all")
        generic = Message("MODULES=most in a file of /etc/initramfs-tools/conf.d/")
    elif tool == "dracut":
        how = Message('add add_drivers+=" ... " to a file in /etc/dracut.conf.d/ and rebuild every image with '
                      'dracut -f')
        generic = Message('hostonly="no" in a file of /etc/dracut.conf.d/')
    else:
        how = Message("add it to the initramfs with the target's initramfs tool and rebuild it") if one else \
            Message("add them to the initramfs with the target's initramfs tool and rebuild it")
        generic = ""
    fix = Message("guestprep fix --items {item} does this for every kernel, keeping a backup of each image",
                  item=check.repair_item)
    generic_hint = ""
    if hostonly:
        generic_hint = Message(" Before any rebuild, make the images generic ({generic}): guestprep fix writes it "
                               "first, and checks every rebuilt image for the drivers.", generic=generic)
    if blocking:
        device = Message("disk or NIC") if what == "virtio" else Message("NVMe system disk")
        if no_module:
            hint = Message("Without these drivers the instance may not find its {device} at boot: {how}; {fix}."
                           "{generic} A kernel that has no such module cannot be fixed this way: install a newer "
                           "kernel.", device=device, how=how, fix=fix, generic=generic_hint)
        else:
            hint = Message("Without these drivers the instance may not find its {device} at boot: {how}; {fix}."
                           "{generic}", device=device, how=how, fix=fix, generic=generic_hint)
        return check.results(blocking + warnings + ([hostonly_finding] if hostonly else []), hint,
                             commands=commands, paths=sorted(set(p for p in paths if p)), data=data)
    if hostonly and host["explicit"]:
        # Today's images are fine; the next rebuild before the import (a kernel update on the
        # old hypervisor, update-initramfs on a helper machine) would not be.
        if warnings:
            hint = Message("The drivers are there today, but the next initramfs rebuild before the import (a kernel "
                           "update) leaves them out. Build generic images instead ({generic}); guestprep fix --items "
                           "{item} writes it. virtio_console gives the instance its console on ECS: {how}.",
                           generic=generic, item=check.repair_item, how=how)
        else:
            hint = Message("The drivers are there today, but the next initramfs rebuild before the import (a kernel "
                           "update) leaves them out. Build generic images instead ({generic}); guestprep fix --items "
                           "{item} writes it.", generic=generic, item=check.repair_item)
        return check.results(warnings + [hostonly_finding], hint, commands=commands if warnings else [], data=data)
    if warnings:
        return check.results(warnings, Message(
            "Not needed to boot, but virtio_console gives the instance its console on ECS. To add it, {how}; "
            "{fix}.{generic}", how=how, fix=fix, generic=generic_hint), commands=commands, data=data)
    return check.passed(Message("{modules} built in or in the initramfs of every kernel ({kernels})",
                                modules=", ".join(required + optional),
                                kernels=", ".join(k.version for k, _s in states)), data=data, code="present")
