"""GUESTOS.Platform: the distribution ECS will identify, and the Platform to import it as.

Seed 000 lists the Linux distributions ECS imports as standard platforms (Alibaba Cloud
Linux, Anolis, CentOS 5-8, CentOS Stream, Debian, FreeBSD, openSUSE, RHEL, SLES, Ubuntu,
CoreOS, AlmaLinux, Rocky Linux) and warns that ECS identifies the distribution from
/etc/issue* and the release files: modify them and the instance's OS cannot be set up.
Seed 001: anything else must be imported as "Customized Linux" (you add the
configuration scripts yourself) or "Others Linux" (ECS does not configure the instance at
all: with DHCP off you set its IP address, route and password by hand through the
console). guestprep reads /etc/os-release and the release files through the root and
says which ImportImage `Platform` value to pick.
"""
import re

from agent.core.model import Check, Message, Status
from agent.core.rootfs import RootError
from agent.facts import osinfo

ISSUE = "/etc/issue"

_CONSEQUENCES = Message(
    "Import it with Platform \"Customized Linux\" after adding Alibaba's configuration scripts (see \"Customize "
    "Linux images\"), or \"Others Linux\", with which ECS does not configure the instance: with DHCP off you set "
    "its IP address, route and password by hand through the console's remote connection (seed 001).")


def issue_problem(ctx):
    """Why /etc/issue would keep ECS from identifying the distribution, or ''."""
    try:
        text = ctx.root.read_text_or_none(ISSUE)
    except RootError as e:
        return Message("{path} cannot be read: {reason}", path=ISSUE, reason=e.reason)
    if text is None:
        return Message("{path} is missing", path=ISSUE)
    if "\\S" in text:   # agetty expands \S from os-release (RHEL 8+, Fedora)
        return ""
    words = set(w.lower() for w in re.findall(r"[A-Za-z]+", ctx.os.name or "") if len(w) > 2)
    words.add((ctx.os.id or "").lower())
    words |= {"red hat" if ctx.os.id == "rhel" else "", "suse" if ctx.os.family == "suse" else "",
              "alibaba" if ctx.os.id == "alinux" else ""}
    words -= {"", "linux", "gnu", "server", "release", "enterprise", "lts", "version"}
    low = text.lower()
    if words and not any(w in low for w in words) and ctx.os.id:
        return Message("{path} does not name the distribution (was it replaced by a login banner?)",
                       path=ISSUE)
    return ""


class Platform(Check):
    id = "platform"
    title = "distribution identifiable and supported"
    item = "GUESTOS.Platform"
    repair_item = ""
    refs = ("000", "001")

    def run(self, ctx):
        info = ctx.os
        if not info.id:
            return self.result(
                Status.WARN, Message("the distribution cannot be identified (no /etc/os-release or release file)"),
                Message("ECS identifies the OS from /etc/os-release, /etc/*-release and /etc/issue (seed 000): "
                        "restore them from the distribution's package. {consequences}", consequences=_CONSEQUENCES),
                data={"platform": osinfo.OTHERS, "support": "unsupported"}, code="unidentified", refs=("000", "001"))
        platform, support = osinfo.platform_of(info)
        data = {"platform": platform, "support": support, "os_id": info.id, "name": info.name}
        issue = issue_problem(ctx)
        data["issue_problem"] = issue
        where = dict(name=info.name, source=info.source)
        if support == "unsupported":
            return self.result(
                Status.WARN, Message("{name} (from {source}) is not a platform ECS supports: import as "
                                     "\"{customized}\" or \"{others}\"", customized=osinfo.CUSTOMIZED,
                                     others=osinfo.OTHERS, **where),
                _CONSEQUENCES, paths=[info.source], data=data, code="unsupported", refs=("001",))
        if support == "accepted":
            return self.result(
                Status.WARN, Message("{name} (from {source}): ImportImage accepts Platform \"{platform}\", but seed "
                                     "000 does not list it as supported", platform=platform, **where),
                Message("The image check and ECS's instance configuration may not cover it; test an instance made "
                        "from the image before you rely on it. {consequences}", consequences=_CONSEQUENCES),
                paths=[info.source], data=data, code="unlisted", refs=("000", "001"))
        if issue:
            return self.result(
                Status.WARN, Message("{name} (from {source}): Platform \"{platform}\"; but {issue}",
                                     platform=platform, issue=issue, **where),
                Message("Seed 000: do not modify /etc/issue*, or ECS cannot identify the distribution. Restore it "
                        "from the package that owns it."),
                commands=[ctx.in_guest("rpm -qf /etc/issue" if ctx.packages.manager == "rpm"
                                       else "dpkg -S /etc/issue")],
                paths=[info.source, ISSUE], data=data, code="issue-modified", refs=("000",))
        return self.passed(Message("{name} (from {source}): import with Platform \"{platform}\"", platform=platform,
                                   **where), paths=[info.source], data=data, code="supported")
