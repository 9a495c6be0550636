"""agent/facts/services.py: which links start a unit or an init script at boot."""
from agent.facts import services


def boot_links(guest):
    guest.write("/usr/lib/systemd/system/qemu-guest-agent.service", "[Unit]\n")
    guest.write("/usr/lib/systemd/system/sshd.service", "[Unit]\n")
    guest.symlink("/etc/systemd/system/multi-user.target.wants/qemu-guest-agent.service",
                  "/usr/lib/systemd/system/qemu-guest-agent.service")
    guest.symlink("/etc/systemd/system/basic.target.requires/qemu-guest-agent.service",
                  "/usr/lib/systemd/system/qemu-guest-agent.service")
    guest.symlink("/etc/systemd/system/dev-virtio.device.wants/qemu-guest-agent.service",
                  "/usr/lib/systemd/system/qemu-guest-agent.service")
    guest.symlink("/usr/lib/systemd/system/sockets.target.wants/qemu-guest-agent.service",
                  "../qemu-guest-agent.service")
    guest.write("/etc/init.d/qemu-ga", "#!/bin/sh\n")
    for level in "2345":
        guest.symlink("/etc/rc{}.d/S20qemu-ga".format(level), "../init.d/qemu-ga")
        guest.symlink("/etc/rc{}.d/S10sshd".format(level), "../init.d/sshd")
    guest.symlink("/etc/rc.d/rc3.d/S01qemu-guest-agent", "../init.d/qemu-guest-agent")


class CountingRoot(object):
    """The target's Root, counting the directories listed."""

    def __init__(self, root):
        self._root = root
        self.listed = []

    def listdir(self, path):
        self.listed.append(path)
        return self._root.listdir(path)

    def __getattr__(self, name):
        return getattr(self._root, name)


def test_links_of_wants_then_requires_directories_and_of_sysv_runlevels(guest):
    boot_links(guest)
    root = guest.ctx().root
    assert services.enabled_links(root, "qemu-guest-agent.service", ("qemu-ga", "qemu-guest-agent"),
                                  vendor=True, aliases=False) == [
        "/etc/systemd/system/dev-virtio.device.wants/qemu-guest-agent.service",
        "/etc/systemd/system/multi-user.target.wants/qemu-guest-agent.service",
        "/etc/systemd/system/basic.target.requires/qemu-guest-agent.service",
        "/usr/lib/systemd/system/sockets.target.wants/qemu-guest-agent.service",
    ] + ["/etc/rc{}.d/S20qemu-ga".format(level) for level in "2345"] + ["/etc/rc.d/rc3.d/S01qemu-guest-agent"]
    assert services.sysv_links(root, "sshd") == ["/etc/rc{}.d/S10sshd".format(level) for level in "2345"]
    assert services.unit_enabled(root, "qemu-guest-agent.service") and not services.unit_enabled(root, "sshd.service")


def test_each_directory_is_listed_once_per_question(guest):
    # Asked for every unit and init script of every check: a glob per kind of link directory
    # and per name listed /usr/lib/systemd/system twice and every runlevel directory per name.
    boot_links(guest)
    root = CountingRoot(guest.ctx().root)
    services.enabled_links(root, "qemu-guest-agent.service", ("qemu-ga", "qemu-guest-agent"), vendor=True)
    assert len(root.listed) == len(set(root.listed)), sorted(root.listed)
    assert sum(1 for path in root.listed if path.startswith(("/etc/rc", "/etc/rc.d/"))) == 16
