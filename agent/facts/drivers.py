"""Drivers each installed kernel can load before the root filesystem is mounted, and the
judgement GUESTOS.Virtio and GUESTOS.Nvme share: built in, or inside that kernel's
initramfs, with the initramfs tool's host-only setting that would drop them at the next
rebuild (agent.facts.initramfs_build). Both checks ask here, so neither imports the other.
"""
from agent.core.model import Status
from agent.facts import initramfs_build, kernels


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
    where = "{} line {}".format(host["path"], host["lineno"]) if host["path"] else "the default"
    return ("the initramfs is built host-only ({} in {}): a rebuild on this machine puts in its own "
            "drivers only, not ECS's virtio and NVMe".format(host["setting"], where)), host


def evaluate(check, ctx, states, required, optional, what, item):
    """The Result for driver states (shared by virtio and nvme)."""
    blocking, warnings, paths = [], [], []
    optional_missing = set()
    for kernel, state in states:
        label = kernel.label()
        for problem in state.problems:
            warnings.append("kernel {}: {}".format(label, problem))
        req_missing = [m for m in state.missing if m in required]
        opt_missing = [m for m in state.missing if m in optional]
        if state.initramfs_error and (req_missing or opt_missing):
            blocking.append("kernel {}: {}; not built in: {}".format(
                label, state.initramfs_error, ", ".join(req_missing + opt_missing)))
            paths.append(kernel.initramfs or kernel.initramfs_path)
            continue
        if req_missing:
            text = "kernel {}: {} neither built in nor in {}".format(
                label, ", ".join(req_missing + opt_missing), kernel.initramfs)
            absent = [m for m in state.not_provided if m in required]
            if absent:
                text += " (the kernel has no {} module at all)".format(", ".join(absent))
            blocking.append(text)
            paths.append(kernel.initramfs)
        elif opt_missing:
            warnings.append("kernel {}: {} not in the initramfs".format(label, ", ".join(opt_missing)))
            optional_missing.update(opt_missing)
    hostonly, host = hostonly_text(ctx)
    data = {"kernels": kernel_data(states, required), "hostonly": host}
    commands = initramfs_build.rebuild_commands(ctx)
    tool = initramfs_build.initramfs_tool(ctx)
    # One missing module is "it": the virtio_console warning names a single driver.
    them = "them" if blocking or len(optional_missing) > 1 else "it"
    if tool == "initramfs-tools":
        how = "list {} in /etc/initramfs-tools/modules and run update-initramfs -u -k all".format(them)
        generic = "MODULES=most in a file of /etc/initramfs-tools/conf.d/"
    elif tool == "dracut":
        how = 'add add_drivers+=" ... " to a file in /etc/dracut.conf.d/ and rebuild every image with dracut -f'
        generic = 'hostonly="no" in a file of /etc/dracut.conf.d/'
    else:
        how = "add {} to the initramfs with the target's initramfs tool and rebuild it".format(them)
        generic = ""
    fix = "guestprep fix --items {} does this for every kernel, keeping a backup of each image".format(
        check.repair_item)
    generic_hint = ""
    if hostonly:
        generic_hint = (" Before any rebuild, make the images generic ({}): guestprep fix writes it first, "
                        "and checks every rebuilt image for the drivers.".format(generic))
    if blocking:
        no_module = any("has no" in b for b in blocking)
        hint = "Without these drivers the instance may not find its {} at boot: {}; {}.".format(
            "disk or NIC" if what == "virtio" else "NVMe system disk", how, fix) + generic_hint
        if no_module:
            hint += " A kernel that has no such module cannot be fixed this way: install a newer kernel."
        return check.failed("; ".join(blocking + warnings + ([hostonly] if hostonly else [])), hint,
                            commands=commands, paths=sorted(set(p for p in paths if p)), data=data)
    if hostonly and host["explicit"]:
        # Today's images are fine; the next rebuild before the import (a kernel update on the
        # old hypervisor, update-initramfs on a helper machine) would not be.
        hint = ("The drivers are there today, but the next initramfs rebuild before the import (a kernel "
                "update) leaves them out. Build generic images instead ({}); guestprep fix --items {} "
                "writes it.".format(generic, check.repair_item))
        if warnings:
            hint += " virtio_console gives the instance its console on ECS: {}.".format(how)
        return check.result(Status.WARN, "; ".join(warnings + [hostonly]), hint, commands=commands if warnings
                            else [], data=data)
    if warnings:
        return check.result(Status.WARN, "; ".join(warnings),
                            "Not needed to boot, but virtio_console gives the instance its console "
                            "on ECS. To add it, {}; {}.".format(how, fix) + generic_hint,
                            commands=commands, data=data)
    names = ", ".join(required + optional)
    return check.passed("{} built in or in the initramfs of every kernel ({})".format(
        names, ", ".join(k.version for k, _s in states)), data=data)
