"""GUESTOS.OSVersion: the distribution's version is one ECS supports.

Seed 000 lists the versions: CentOS 5, 6, 7 and 8; Debian 6 to 10; openSUSE 13, 42 and
15; SUSE Linux 10, 11, 12 and 15; Ubuntu 10, 12, 13, 14, 16, 18 and 20; CoreOS 681.2.0 and
later; Alibaba Cloud Linux, Anolis, RHEL, AlmaLinux, Rocky Linux and CentOS Stream without
a version limit. Releases newer than the list (Debian 11+, Ubuntu 22.04+) are what
Alibaba publishes as public images today, so guestprep accepts them and says so; older
ones, and versions it cannot read, are warnings: the image check may not know them
(seed 003, GUESTOS.OSVersion).
"""
from agent.core.model import Check, Message, Status
from agent.facts import osinfo


def judged(os_info):
    """(status, finding code, text, seed refs) for the version of `os_info`."""
    verdict, platform, listed = osinfo.version_listing(os_info)
    version = os_info.version
    name = "{} {}".format(os_info.id, version).strip()
    versions = ", ".join(str(v) for v in listed or ())
    if verdict == "stream":
        return Status.PASS, "stream", Message("CentOS Stream {version} (supported without a version limit)",
                                              version=version), ()
    if verdict == "other-platform":
        return Status.INFO, "no-list", Message("{name}: no version list applies to Platform \"{platform}\"",
                                               name=name, platform=platform), ()
    if verdict == "rolling":
        return Status.WARN, "rolling", Message("openSUSE Tumbleweed {version} is a rolling release, not one of the "
                                               "versions seed 000 lists (13, 42, 15)", version=version), ("000",)
    if verdict == "unreadable":
        return Status.WARN, "unreadable", Message("{id}: the version cannot be read from {source}", id=os_info.id,
                                                  source=os_info.source or Message("the root")), ()
    if verdict == "no-limit":
        return Status.PASS, "any-version", Message("{name} (seed 000 lists {platform} without a version limit)",
                                                   name=name, platform=platform), ("000",)
    if verdict == "older":
        return Status.WARN, "too-old", Message("{name} is older than the versions seed 000 lists for {platform}",
                                               name=name, platform=platform), ("000",)
    if verdict == "listed":
        return Status.PASS, "listed", Message("{name} is a version seed 000 lists", name=name), ("000",)
    if verdict == "newer":
        return Status.PASS, "newer", Message("{name} is newer than the versions seed 000 lists ({versions}); Alibaba "
                                             "publishes public images of it", name=name, versions=versions), ("000",)
    return Status.WARN, "unlisted", Message("{name} is not among the versions seed 000 lists for {platform} "
                                            "({versions})", name=name, platform=platform, versions=versions), ("000",)


class OsVersion(Check):
    id = "os_version"
    title = "distribution version supported"
    item = "GUESTOS.OSVersion"
    repair_item = ""
    refs = ("000", "003")

    def run(self, ctx):
        status, code, text, refs = judged(ctx.os)
        data = {"version": ctx.os.version}
        if status == Status.WARN:
            return self.result(status, text, Message(
                "Seed 000 lists the versions ECS imports as standard platforms; an unlisted version may fail the "
                "image check or miss ECS's instance configuration. Test an instance made from the image, or "
                "import it as \"Customized Linux\"."), paths=[ctx.os.source] if ctx.os.source else [], data=data,
                code=code, refs=("000",))
        return self.result(status, text, paths=[ctx.os.source] if ctx.os.source else [], data=data, code=code,
                           refs=refs)
