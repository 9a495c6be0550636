"""hypervisor-tools: the old hypervisor's guest tools are not in an ECS image.

An image exported from VMware, VirtualBox, Hyper-V, Xen or Parallels carries that
hypervisor's guest agent: open-vm-tools or the VMware Tools tarball, VirtualBox Guest
Additions, the Hyper-V daemons (hv_kvp_daemon and friends), Xen's xe-guest-utilities,
Parallels Tools. On an ECS (KVM) instance they find no hypervisor channel: at best they
log errors at every boot, at worst their kernel modules (vboxguest, prl_*) are rebuilt by
DKMS with every kernel update, and the tarball installs replace system files. Alibaba
Cloud's migration guidance is to remove the source platform's tools before the import,
as virt-v2v does (it uninstalls VMware Tools, Guest Additions and the Hyper-V daemons when
it converts a guest to KVM).

Read: the package database (ctx.packages: dpkg's status file, or the rpm database), and
the files tarball installers leave (/etc/vmware-tools/locations and
/usr/bin/vmware-uninstall-tools.pl, /opt/VBoxGuestAdditions-*, /usr/lib/parallels-tools).
No program of the image is started.
"""
from agent.core.context import shell_command
from agent.core.model import Check, Message, Status
from agent.facts.versions import version_key

# (vendor, packages, tarball markers, uninstaller argv of the tarball install)
VENDORS = (
    ("VMware Tools", ("open-vm-tools", "open-vm-tools-desktop", "open-vm-tools-sdmp",
                      "open-vm-tools-containerinfo", "open-vm-tools-salt-minion", "open-vm-tools-dev"),
     ("/etc/vmware-tools/locations", "/usr/bin/vmware-uninstall-tools.pl"),
     ("/usr/bin/vmware-uninstall-tools.pl",)),
    ("VirtualBox Guest Additions", ("virtualbox-guest-utils", "virtualbox-guest-x11", "virtualbox-guest-dkms",
                                    "virtualbox-guest-tools", "virtualbox-kmp-default",
                                    "VirtualBox-guest-additions"),
     ("/opt/VBoxGuestAdditions-*/uninstall.sh",), ("/opt/VBoxGuestAdditions-*/uninstall.sh",)),
    ("Hyper-V daemons", ("hyperv-daemons", "hyperv-daemons-license", "hypervkvpd", "hypervvssd",
                         "hypervfcopyd", "hyper-v"), (), ()),
    ("Xen guest utilities", ("xe-guest-utilities", "xe-guest-utilities-xenstore", "xen-tools",
                             "xen-tools-domU"), (), ()),
    ("Parallels Tools", ("parallels-tools",), ("/usr/lib/parallels-tools",),
     ("/usr/lib/parallels-tools/install", "--remove")),
)


def _expand(root, path):
    """Guest paths matching `path`, whose one wildcard may be in a directory component."""
    if "*" not in path:
        return [path] if root.exists(path) else []
    head, star, tail = path.partition("*")
    cut = tail.find("/")
    if cut < 0:
        return root.glob(path)
    return [d + tail[cut:] for d in root.glob(head + star + tail[:cut]) if root.exists(d + tail[cut:])]


def survey(ctx):
    """[{'vendor', 'packages', 'files', 'uninstaller' (argv tuple or ())}] of what is installed."""
    root, packages = ctx.root, ctx.packages
    found = []
    for vendor, names, markers, uninstaller in VENDORS:
        installed = [n for n in names if n in packages] if packages.known else []
        files = []
        for marker in markers:
            files.extend(_expand(root, marker))
        argv = ()
        if uninstaller:
            paths = _expand(root, uninstaller[0])
            if paths:
                argv = (sorted(paths, key=version_key)[-1],) + tuple(uninstaller[1:])
        if installed or files:
            found.append({"vendor": vendor, "packages": installed, "files": sorted(set(files)),
                          "uninstaller": argv if files and not installed else ()})
    return found


class HypervisorTools(Check):
    id = "hypervisor_tools"
    title = "no guest tools of the source hypervisor"
    item = "hypervisor-tools"
    repair_item = "hypervisor-tools"

    def run(self, ctx):
        packages = ctx.packages
        found = survey(ctx)
        if not found:
            if packages.known:
                return self.passed(Message("no guest tools of VMware, VirtualBox, Hyper-V, Xen or Parallels"),
                                   code="none")
            return self.passed(Message("no guest tools of VMware, VirtualBox, Hyper-V, Xen or Parallels (package "
                                       "database unknown: {error}; files only)", error=packages.error), code="none")
        findings, commands, paths = [], [], []
        manager = ctx.package_manager()
        removable = []
        for n, item in enumerate(found):
            if item["packages"]:
                listed = ", ".join("{} {}".format(p, packages.version(p) or "").strip() for p in item["packages"])
                if len(item["packages"]) > 1:
                    what = Message("packages {packages}", packages=listed)
                else:
                    what = Message("package {packages}", packages=listed)
                removable.extend(item["packages"])
            else:
                what = Message("installed from the vendor's tarball ({files})", files=", ".join(item["files"]))
                paths.extend(item["files"])
                if item["uninstaller"]:
                    commands.append(ctx.in_guest(" ".join(item["uninstaller"])))
            if n == len(found) - 1 and not packages.known:
                text = Message("{vendor}: {what} (package database unknown: {error}; files only)",
                               vendor=item["vendor"], what=what, error=packages.error)
            else:
                text = Message("{vendor}: {what}", vendor=item["vendor"], what=what)
            # The vendor's first word is the stable code: vmware, virtualbox, hyper-v, xen, parallels.
            findings.append(self.finding(Status.WARN, item["vendor"].split()[0].lower(), text,
                                         path=item["files"][0] if len(item["files"]) == 1 else ""))
        if removable and manager:
            commands.insert(0, shell_command(ctx, manager["remove"] + removable))
        manual = [i for i in found if not i["packages"] and not i["uninstaller"]]
        if manual:
            hint = Message("These tools talk to a hypervisor ECS does not have: remove them before the import "
                           "(`guestprep fix --items hypervisor-tools` does, with the package manager or the vendor's "
                           "uninstaller; this cannot be rolled back). No uninstaller was found for {vendors}: remove "
                           "{files} by hand.", vendors=", ".join(i["vendor"] for i in manual),
                           files=", ".join(f for i in manual for f in i["files"]))
        else:
            hint = Message("These tools talk to a hypervisor ECS does not have: remove them before the import "
                           "(`guestprep fix --items hypervisor-tools` does, with the package manager or the vendor's "
                           "uninstaller; this cannot be rolled back).")
        return self.results(findings, hint, commands=commands, paths=paths, data={"found": found})
