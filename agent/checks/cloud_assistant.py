"""GUESTOS.CloudAssistant: Alibaba Cloud Assistant Agent (aliyun-assist) is recommended.

Seed 003 (image check items): GUESTOS.CloudAssistant asks whether the Cloud Assistant
Agent is installed. Cloud Assistant is ECS's own operations tool: without logging in or
a jump server it runs Shell scripts on instances in batches and sends them files, and
the ECS console uses it for password resets and diagnostics. Seed 003 recommends
installing the agent in the image; ECS public images have it since December 2017.

Installed means: package aliyun_assist (RPM) or aliyun-assist (deb), or the agent's
directory /usr/local/share/aliyun-assist (/opt/local/share/aliyun-assist on CoreOS), or
its unit aliyun.service. The install commands are the ones of the ECS documentation
"Install the Cloud Assistant Agent" (download the latest package from the
aliyun-client-assist bucket, then `rpm -ivh --force` or `dpkg -i`).
"""
from agent.core.model import Check, Message, Status, joined
from agent.facts import services

PACKAGES = ("aliyun_assist", "aliyun-assist")
DIRECTORIES = ("/usr/local/share/aliyun-assist", "/opt/local/share/aliyun-assist")
UNIT = "aliyun.service"
BASE_URL = "https://aliyun-client-assist.oss-accelerate.aliyuncs.com/linux/"
RPM_FILE = "aliyun_assist_latest.rpm"
DEB_FILE = "aliyun_assist_latest.deb"
DOCS = "the ECS documentation 'Install the Cloud Assistant Agent'"


def package_format(ctx):
    """'rpm' or 'deb' for the target, or '' when unknown."""
    if ctx.packages.manager == "dpkg" or ctx.os.family == "debian":
        return "deb"
    if ctx.packages.manager == "rpm" or ctx.os.family in ("rhel", "suse"):
        return "rpm"
    return ""


def downloader(ctx):
    """'curl' or 'wget', whichever the target has (curl first), or None."""
    for tool in ("curl", "wget"):
        if ctx.root.exists("/usr/bin/" + tool) or ctx.root.exists("/bin/" + tool):
            return tool
    return None


def install_argvs(ctx):
    """[(argv, why)] that download and install the agent inside the target (with curl when
    the target has no downloader: the commands a person runs after installing one)."""
    kind = package_format(ctx)
    if not kind:
        return []
    name = RPM_FILE if kind == "rpm" else DEB_FILE
    # /var/tmp, not /tmp: each command of a mounted image runs in its own container, whose
    # /tmp is empty and gone when it ends.
    local = "/var/tmp/" + name
    if downloader(ctx) == "wget":
        fetch = ("wget", "-O", local, BASE_URL + name)
    else:
        fetch = ("curl", "-fsSL", "-o", local, BASE_URL + name)
    install = ("rpm", "-ivh", "--force", local) if kind == "rpm" else ("dpkg", "-i", local)
    return [(fetch, Message("download the latest Cloud Assistant Agent ({file})", file=name)),
            (install, Message("install the Cloud Assistant Agent")),
            (("rm", "-f", local), Message("remove the downloaded package"))]


class CloudAssistant(Check):
    id = "cloud_assistant"
    title = "Cloud Assistant Agent installed"
    item = "GUESTOS.CloudAssistant"
    repair_item = "assist"
    refs = ("003",)

    def run(self, ctx):
        root = ctx.root
        found = []
        if ctx.packages.known:
            package = ctx.packages.any_of(PACKAGES)
            if package:
                version = ctx.packages.version(package)
                found.append(Message("package {name} {version}", name=package, version=version) if version else
                             Message("package {name}", name=package))
        found.extend(d for d in DIRECTORIES if root.isdir(d))
        if services.unit_installed(root, UNIT):
            found.append(UNIT)
        if ctx.live is not None and "aliyun-service" in ctx.live.process_names():
            found.append(Message("running (aliyun-service)"))
        if found:
            return self.passed(Message("Cloud Assistant Agent is installed: {found}", found=joined(found, ", ")),
                               code="installed")
        argvs = install_argvs(ctx)
        no_downloader = bool(argvs) and downloader(ctx) is None
        commands = [ctx.in_guest(" ".join(argv)) for argv, _why in argvs]
        if no_downloader:
            hint = Message(
                "Cloud Assistant lets you run commands on the instance and send it files without logging in; seed "
                "003 recommends installing the agent in the image (GUESTOS.CloudAssistant). Neither curl nor wget "
                "is installed in the image: install one of them (or fetch the package on another machine and copy "
                "it in), then run the commands below. ")
        elif commands:
            hint = Message(
                "Cloud Assistant lets you run commands on the instance and send it files without logging in; seed "
                "003 recommends installing the agent in the image (GUESTOS.CloudAssistant). `guestprep fix --items "
                "assist` downloads and installs it (needs network access; cannot be rolled back). See {docs} for "
                "region-internal download links.", docs=DOCS)
        else:
            hint = Message(
                "Cloud Assistant lets you run commands on the instance and send it files without logging in; seed "
                "003 recommends installing the agent in the image (GUESTOS.CloudAssistant). See {docs} for this "
                "distribution.", docs=DOCS)
        return self.result(Status.WARN, Message("Cloud Assistant Agent (aliyun-assist) is not installed"),
                           hint, commands=commands, data={"format": package_format(ctx)}, code="missing",
                           refs=("003",))
