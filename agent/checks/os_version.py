"""GUESTOS.OSVersion: the distribution's version is one ECS supports.

Seed 000 lists the versions: CentOS 5, 6, 7 and 8; Debian 6 to 10; openSUSE 13, 42 and
15; SUSE Linux 10, 11, 12 and 15; Ubuntu 10, 12, 13, 14, 16, 18 and 20; CoreOS 681.2.0 and
later; Alibaba Cloud Linux, Anolis, RHEL, AlmaLinux, Rocky Linux and CentOS Stream without
a version limit. Releases newer than the list (Debian 11+, Ubuntu 22.04+) are what
Alibaba publishes as public images today, so guestprep accepts them and says so; older
ones, and versions it cannot read, are warnings: the image check may not know them
(seed 003, GUESTOS.OSVersion).
"""
from agent.facts import osinfo
from agent.core.model import Check, Status

def judge(os_info):
    """(status, text) for the version of `os_info`."""
    verdict, platform, listed = osinfo.version_listing(os_info)
    version = os_info.version
    name = "{} {}".format(os_info.id, version).strip()
    if verdict == "stream":
        return Status.PASS, "CentOS Stream {} (supported without a version limit)".format(version)
    if verdict == "other-platform":
        return Status.INFO, "{}: no version list applies to Platform \"{}\"".format(name, platform)
    if verdict == "rolling":
        return Status.WARN, "openSUSE Tumbleweed {} is a rolling release, not one of the versions seed 000 " \
                            "lists (13, 42, 15)".format(version)
    if verdict == "unreadable":
        return Status.WARN, "{}: the version cannot be read from {}".format(os_info.id, os_info.source or "the root")
    if verdict == "no-limit":
        return Status.PASS, "{} (seed 000 lists {} without a version limit)".format(name, platform)
    if verdict == "older":
        return Status.WARN, "{} is older than the versions seed 000 lists for {}".format(name, platform)
    if verdict == "listed":
        return Status.PASS, "{} is a version seed 000 lists".format(name)
    if verdict == "newer":
        return Status.PASS, "{} is newer than the versions seed 000 lists ({}); Alibaba publishes public images " \
                            "of it".format(name, ", ".join(str(v) for v in listed))
    return Status.WARN, "{} is not among the versions seed 000 lists for {} ({})".format(
        name, platform, ", ".join(str(v) for v in listed))


class OsVersion(Check):
    id = "os_version"
    title = "distribution version supported"
    item = "GUESTOS.OSVersion"
    repair_item = ""

    def run(self, ctx):
        status, text = judge(ctx.os)
        data = {"version": ctx.os.version}
        if status == Status.WARN:
            return self.result(status, text, "Seed 000 lists the versions ECS imports as standard platforms; "
                               "an unlisted version may fail the image check or miss ECS's instance configuration. "
                               "Test an instance made from the image, or import it as \"Customized Linux\".",
                               paths=[ctx.os.source] if ctx.os.source else [], data=data)
        return self.result(status, text, paths=[ctx.os.source] if ctx.os.source else [], data=data)
