"""Fix for lvm_devices: move the build VM's LVM devices file out of the way (issue 16).

virt-sysprep's lvm-system-devices does the same (`rm -f /etc/lvm/devices/system.devices`):
without the file LVM scans every disk, as lvm2 did before 2.03.12, and the PVs on ECS's
virtio disks are found by their PVIDs. lvm.conf's use_devicesfile is left as it is, so a
devices file written on the instance later (`vgimportdevices -a`) still works. The
journal keeps the file, and rollback puts it back. When an initramfs holds a copy, every
initramfs is rebuilt after the file is gone (one run_last command shared with virtio and
nvme), or the copy still pins the old disks at the first boot.
"""
from agent.checks.lvm_devices import DEVICES_FILE
from agent.core.model import Message, Mode, Remediation, RemoveFile
from remediations.virtio import check_space, rebuild_steps


class LvmDevicesFix(Remediation):
    id = "lvm_devices"
    mode = Mode.AUTO
    reversible = True
    offline_safe = True
    note = Message("After import, `vgimportdevices -a` on the instance writes a devices file for its own disks if you "
                   "want one.")

    def plan(self, ctx, result):
        data = result.data or {}
        steps = [RemoveFile(DEVICES_FILE, why=Message("it pins {count} device(s) by the build VM's disk ids ({kinds})",
                                                      count=data.get("pinned", "?"),
                                                      kinds=", ".join(data.get("pinned_types") or [])))]
        if data.get("images"):
            rows = data.get("kernels") or []
            check_space(ctx, rows)
            steps.extend(rebuild_steps(ctx, rows))
        return steps
