"""Facts about the running system (processes, NICs, mounts, block devices).

Only meaningful when the target is the running system (--root /). Offline, Context.live is
None and checks that need these facts are skipped with a reason. psutil is imported
lazily, on first use, so a plain check of a mounted image never pays for it.
"""
import os


class LiveFacts(object):
    def __init__(self, root):
        self.root = root
        self._psutil = None

    def _ps(self):
        if self._psutil is None:
            import psutil  # lazily: only live checks pay for it
            self._psutil = psutil
        return self._psutil

    def process_names(self):
        names = set()
        for proc in self._ps().process_iter(["name"]):
            name = proc.info.get("name")
            if name:
                names.add(name)
        return names

    def mounts(self):
        """[(device, mountpoint, fstype, options)] of mounted filesystems."""
        return [(p.device, p.mountpoint, p.fstype, p.opts)
                for p in self._ps().disk_partitions(all=True)]

    def nics(self):
        """Names of network interfaces other than loopback."""
        return sorted(name for name in self._ps().net_if_addrs() if name != "lo")

    def default_route_interface(self):
        """The interface of the IPv4 default route, from /proc/net/route, or None."""
        try:
            text = self.root.read_text("/proc/net/route")
        except Exception:
            return None
        for line in text.splitlines()[1:]:
            fields = line.split()
            if len(fields) > 2 and fields[1] == "00000000":
                return fields[0]
        return None

    def kernel_cmdline(self):
        try:
            return self.root.read_text("/proc/cmdline").split()
        except Exception:
            return []

    def device_for(self, spec):
        """The block device an fstab spec (UUID=, LABEL=, PARTUUID=, /dev/...) names, or None."""
        links = {"UUID": "/dev/disk/by-uuid/", "LABEL": "/dev/disk/by-label/",
                 "PARTUUID": "/dev/disk/by-partuuid/", "PARTLABEL": "/dev/disk/by-partlabel/"}
        key, sep, value = spec.partition("=")
        path = links[key.upper()] + value if sep and key.upper() in links else spec
        if not path.startswith("/dev/"):
            return None
        host = os.path.realpath(path)
        return host if os.path.exists(host) else None

    def uuid_of(self, device):
        """The filesystem UUID of a block device, from /dev/disk/by-uuid, or None."""
        target = os.path.realpath(device)
        try:
            for name in os.listdir("/dev/disk/by-uuid"):
                if os.path.realpath(os.path.join("/dev/disk/by-uuid", name)) == target:
                    return name
        except OSError:
            pass
        return None
