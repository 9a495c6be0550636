"""GUESTOS.CloudInit: cloud-init must be installed, enabled, new enough and allowed to use AliYun.

ECS configures an instance made from an imported image through cloud-init: host name,
SSH keys, the root password, the network and the growth of the root partition (seed 003,
GUESTOS.CloudInit; seed 000: install cloud-init to set the host name, NTP and YUM
repositories). Without it, or with it disabled, the instance comes up with the image's
own host name and credentials. For ARM64 images and for CentOS Stream, Anolis, AlmaLinux
and Rocky Linux, seed 000 asks for Alibaba's cloud-init 19.1.18 or later (0.7.6a15 or later
on systems that ship the 0.7.6a series): older versions cannot set the password or key
pair there. cloud-init only reads ECS metadata through its `AliYun` datasource, so a
`datasource_list` that leaves it out makes cloud-init ignore ECS.

The cloud-config helpers here (merged /etc/cloud/cloud.cfg and cloud.cfg.d, version
comparison, target architecture) are shared with the growpart check and the fixes.
"""
import re
import shlex
import struct

from agent.core.model import Check, Message, Status, join_messages
from agent.parsers import yamlsafe
from agent.core.rootfs import RootError

try:  # PyYAML is optional: without it the few keys we need are read line by line
    import yaml
except ImportError:  # pragma: no cover - depends on the host
    yaml = None

PACKAGE = "cloud-init"
CLOUD_CFG = "/etc/cloud/cloud.cfg"
CLOUD_CFG_D = "/etc/cloud/cloud.cfg.d"
DISABLED_MARKER = "/etc/cloud/cloud-init.disabled"
ALIYUN_CFG = CLOUD_CFG_D + "/99-guestprep-aliyun.cfg"
BINARIES = ("/usr/bin/cloud-init", "/usr/local/bin/cloud-init")
UNITS = ("cloud-init-local.service", "cloud-init.service", "cloud-config.service", "cloud-final.service")
MINIMUM = "19.1.18"
MINIMUM_076 = "0.7.6a15"
# Seed 000 names these systems (besides every ARM64 image) for the version requirement.
STRICT_IDS = ("almalinux", "rocky", "anolis")

EM_X86_64 = 0x3E
EM_AARCH64 = 0xB7
_MACHINES = {0x03: "i386", EM_X86_64: "x86_64", EM_AARCH64: "aarch64", 0x28: "arm", 0xF3: "riscv64",
             0x15: "ppc64", 0x16: "s390x"}
ELF_PROBES = ("/bin/sh", "/usr/bin/env")


# -- versions ------------------------------------------------------------------

def upstream_version(version):
    """The upstream part of a dpkg or rpm version: '1:22.4.2-1+deb12u1' -> '22.4.2'."""
    version = (version or "").strip()
    version = re.sub(r"^\d+:", "", version)          # epoch
    if "-" in version:
        version = version.rsplit("-", 1)[0]           # Debian revision / rpm release
    return re.split(r"[+~]", version, maxsplit=1)[0]


def _segments(version):
    return [int(s) if s.isdigit() else s for s in re.findall(r"\d+|[A-Za-z]+", version)]


def compare_versions(a, b):
    """-1, 0 or 1, comparing upstream versions segment by segment as rpm does
    (numbers numerically, a number newer than letters, the longer one newer)."""
    left, right = _segments(upstream_version(a)), _segments(upstream_version(b))
    for x, y in zip(left, right):
        if x == y:
            continue
        if isinstance(x, int) != isinstance(y, int):
            return 1 if isinstance(x, int) else -1
        return 1 if x > y else -1
    return (len(left) > len(right)) - (len(left) < len(right))


def minimum_for(version):
    """The minimum seed 000 sets for the series `version` belongs to."""
    if re.match(r"0\.7\.6[a-zA-Z]", upstream_version(version)):
        return MINIMUM_076
    return MINIMUM


# -- architecture ------------------------------------------------------------------

def architecture(root):
    """(arch, source) from the ELF header of the root's own binaries; ('', '') if unknown."""
    for path in ELF_PROBES:
        try:
            head = root.read_bytes(path)[:20]
        except RootError:
            continue
        if len(head) < 20 or head[:4] != b"\x7fELF" or head[5:6] not in (b"\x01", b"\x02"):
            continue
        machine = struct.unpack("<H" if head[5:6] == b"\x01" else ">H", head[18:20])[0]
        return _MACHINES.get(machine, "e_machine 0x{:x}".format(machine)), path
    return "", ""


def needs_minimum(ctx, arch):
    """Why seed 000's version requirement applies to this target, or ''."""
    if arch == "aarch64":
        return Message("an ARM64 image")
    os_id = ctx.os.id
    if os_id in STRICT_IDS or (os_id == "centos" and "stream" in (ctx.os.name or "").lower()):
        return ctx.os.name or os_id
    return ""


# -- cloud-config ------------------------------------------------------------------

def _scalar(text):
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    lowered = text.lower()
    if lowered in ("true", "yes", "on"):
        return True
    if lowered in ("false", "no", "off"):
        return False
    return text


def _value(text):
    text = re.sub(r"\s+#.*$", "", text).strip()
    if text.startswith("[") and text.endswith("]"):
        return [_value(part) for part in text[1:-1].split(",") if part.strip()]
    return _scalar(text)


def parse_cloud_config_fallback(text):
    """The top-level keys of a cloud-config, without PyYAML: scalars, one-line
    `[a, b]` lists, block lists (`- item`, `- [item, freq]`) and one level of
    `key: value` mapping. Enough for the keys guestprep reads; never raises."""
    data = {}
    key = None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        top = re.match(r"([A-Za-z_][\w-]*)\s*:(.*)$", line)
        if top and not line[0].isspace():
            key, rest = top.group(1), top.group(2).strip()
            data[key] = _value(rest) if rest and not rest.startswith("#") else None
            if data[key] is not None:
                key = None
            continue
        if key is None or not line[0].isspace():
            continue
        body = line.strip()
        if body.startswith("-"):
            if not isinstance(data[key], list):
                data[key] = []
            data[key].append(_value(body[1:]))
            continue
        pair = re.match(r"([\w-]+)\s*:(.*)$", body)
        if pair:
            if not isinstance(data[key], dict):
                data[key] = {}
            data[key][pair.group(1)] = _value(pair.group(2))
    return data


def _parse_cloud_config(text):
    """(dict, problem): the document, or {} and why it could not be read."""
    if yaml is None:
        return parse_cloud_config_fallback(text), ""
    try:
        data = yamlsafe.safe_load(text)
    except yamlsafe.TooComplex as e:
        return {}, "not read: {}".format(e)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = " at line {}".format(mark.line + 1) if mark is not None else ""
        return {}, "not valid YAML{}: {}".format(where, getattr(e, "problem", None) or e)
    if data is None:
        return {}, ""
    if not isinstance(data, dict):
        return {}, "not a YAML mapping (cloud-init ignores it)"
    return data, ""


def _merge(base, over):
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def cloud_config(ctx):
    """The target's CloudConfig, read and parsed once per run (three checks ask for it)."""
    compute = lambda: CloudConfig(ctx.root)  # noqa: E731
    fact = getattr(ctx, "fact", None)
    return fact("cloudinit.config", compute) if fact else compute()


class CloudConfig(object):
    """/etc/cloud/cloud.cfg merged with cloud.cfg.d/*.cfg in name order, as cloud-init does.

    `merged` is the effective configuration, `origin` maps each top-level key to the
    file that set it last, `files` lists the files read, `problems` (path, reason) the
    ones that could not be.
    """

    def __init__(self, root):
        self.merged, self.origin, self.files, self.problems = {}, {}, [], []
        self.exists = root.exists(CLOUD_CFG)
        for path in [CLOUD_CFG] + root.glob(CLOUD_CFG_D + "/*.cfg"):
            if not root.lexists(path):
                continue
            try:
                text = root.read_config(path)
            except RootError as e:
                self.problems.append((path, e.reason))
                continue
            data, problem = _parse_cloud_config(text)
            if problem:
                self.problems.append((path, problem))
                continue
            self.files.append(path)
            self.merged = _merge(self.merged, data)
            for key in data:
                self.origin[key] = path

    def get(self, key, default=None):
        return self.merged.get(key, default)

    def problem_text(self):
        return join_messages("; ", [Message("{path}: {reason}", path=path, reason=reason)
                                    for path, reason in self.problems])


def module_names(entries):
    """Module names of a cloud_*_modules list: 'growpart', ['resizefs', 'always'], 'cc_ssh'."""
    names = []
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, list) and entry:
            entry = entry[0]
        if isinstance(entry, dict):
            entry = entry.get("name")
        if not isinstance(entry, str):
            continue
        name = entry.strip().replace("-", "_")
        if name.endswith(".py"):
            name = name[:-3]
        names.append(name[3:] if name.startswith("cc_") else name)
    return names


def datasource_names(value):
    if isinstance(value, str):   # cloud-init accepts 'a, b' too
        value = value.split(",")
    return [str(v).strip() for v in value] if isinstance(value, list) else []


def shell_command(ctx, argv):
    """A command as a person types it for this target (chrooted for a mounted image)."""
    return " ".join(shlex.quote(a) for a in ctx.runner.command_line(argv))


def installed_version(ctx):
    """(installed, version or '', where): from the package database, else cloud-init's own files."""
    if ctx.packages.known:
        if PACKAGE in ctx.packages:
            return True, ctx.packages.version(PACKAGE) or "", Message("package {name}", name=PACKAGE)
    for base in ("/usr/lib", "/usr/local/lib", "/usr/lib64"):
        for directory in ctx.root.glob(base + "/python*"):
            for sub in ("site-packages", "dist-packages"):
                path = "{}/{}/cloudinit/version.py".format(directory, sub)
                try:
                    text = ctx.root.read_config_or_none(path)
                except RootError:
                    continue
                match = re.search(r"""__VERSION__\s*=\s*["']([^"']+)""", text or "")
                if match:
                    return True, match.group(1), path
    for path in BINARIES:
        if ctx.root.exists(path):
            return True, "", path
    return False, "", ""


def masked_units(root):
    """/etc/systemd/system links of cloud-init's units that point at /dev/null (masked)."""
    masked = []
    for unit in UNITS:
        path = "/etc/systemd/system/" + unit
        if root.islink(path) and root.readlink(path) == "/dev/null":
            masked.append(path)
    return masked


class CloudInit(Check):
    id = "cloudinit"
    title = "cloud-init installed, enabled, new enough, AliYun datasource allowed"
    item = "GUESTOS.CloudInit"
    repair_item = "cloudinit"
    refs = ("000",)

    def run(self, ctx):
        install = ctx.package_manager()
        where = "" if ctx.packages.known else Message(" (package database unknown: {error})",
                                                      error=ctx.packages.error)
        installed, version, source = installed_version(ctx)
        if not installed:
            return self._missing(ctx, install, where)

        found, hints, commands, paths, data = [], [], [], [], {}
        strict = needs_minimum(ctx, architecture(ctx.root)[0])
        shown = version or Message("unknown version")
        for judge in (self._judge_version, self._judge_enabled):
            judge(ctx, install, version, source, strict, found, hints, commands, paths, data)
        config = cloud_config(ctx)
        sources = self._judge_config(config, found, hints, paths, data)
        if found:
            # The summary names what fails first, then the warnings; hints keep the order found.
            found = [f for f in found if f.status == Status.FAIL] + [f for f in found if f.status != Status.FAIL]
            return self.results(found, join_messages(" ", hints), commands=commands, paths=paths, data=data)
        bits = [Message("cloud-init {version} ({source})", version=shown, source=source)]
        if sources is None and not config.problems:
            bits.append(Message("datasource_list not set (cloud-init's default list includes AliYun)"))
        if strict:
            bits.append(Message("at least {minimum} as {why} needs", minimum=minimum_for(version), why=strict))
        return self.passed(Message("{facts}{where}", facts=join_messages("; ", bits), where=where), code="ready")

    def _missing(self, ctx, install, where):
        commands = []
        if install:
            if install["refresh"]:
                commands.append(shell_command(ctx, install["refresh"]))
            commands.append(shell_command(ctx, install["install"] + [PACKAGE]))
        hint = [Message("ECS sets the host name, SSH keys, password and network of an instance through "
                        "cloud-init. Install it (guestprep fix --items cloudinit runs the commands below).")]
        # Only where seed 000's minimum applies: elsewhere the distribution's package is right.
        strict = needs_minimum(ctx, architecture(ctx.root)[0])
        if strict:
            hint.append(Message("{why} needs cloud-init {minimum} or later (seed 000): if the distribution's "
                                "package is older, install Alibaba's cloud-init instead (see 'Install cloud-init' "
                                "in the ECS documentation).", why=strict, minimum=MINIMUM))
        return self.failed(Message("cloud-init is not installed{where}", where=where), join_messages(" ", hint),
                           commands=commands, data={"install": True}, code="not-installed")

    # -- judging: each appends findings (FAIL before WARN), hints, commands, paths, data -------

    def _judge_version(self, ctx, install, version, source, strict, found, hints, commands, paths, data):
        if not strict:
            return
        if not version:
            found.append(self.finding(Status.WARN, "version-unknown", Message(
                "cloud-init {version} ({source}) has an unknown version; {why} needs {minimum} or later",
                version=Message("unknown version"), source=source, why=strict, minimum=MINIMUM)))
            hints.append(Message("Check `cloud-init --version`; seed 000 requires Alibaba's cloud-init "
                                 "{minimum} or later (0.7.6a15 on old systems) for {why}.", minimum=MINIMUM,
                                 why=strict))
            return
        minimum = minimum_for(version)
        if compare_versions(version, minimum) < 0:
            found.append(self.finding(Status.FAIL, "too-old", Message(
                "cloud-init {version} is older than {minimum}, which {why} needs", version=version,
                minimum=minimum, why=strict)))
            data["upgrade"] = True
            hints.append(Message("Upgrade cloud-init to {minimum} or later; if the distribution has no such "
                                 "version, install Alibaba's cloud-init (see 'Install cloud-init' in "
                                 "the ECS documentation).", minimum=minimum))
            if install:
                commands.append(shell_command(ctx, upgrade_argv(install) + [PACKAGE]))

    def _judge_enabled(self, ctx, install, version, source, strict, found, hints, commands, paths, data):
        if ctx.root.lexists(DISABLED_MARKER):
            found.append(self.finding(Status.FAIL, "disabled", Message(
                "cloud-init is disabled by {path}", path=DISABLED_MARKER), DISABLED_MARKER))
            paths.append(DISABLED_MARKER)
            data["marker"] = DISABLED_MARKER
            hints.append(Message("Remove {path} so cloud-init runs on the instance.", path=DISABLED_MARKER))
            commands.append("rm " + ctx.root.display(DISABLED_MARKER))
        masked = masked_units(ctx.root)
        if masked:
            found.append(self.finding(Status.FAIL, "masked", Message(
                "cloud-init units are masked: {units}", units=", ".join(masked)), masked[0]))
            paths.extend(masked)
            data["masked"] = masked
            hints.append(Message("Unmask them (the links point at /dev/null)."))
            commands.append(shell_command(ctx, ["systemctl", "unmask"] + [m.rsplit("/", 1)[1] for m in masked]))
        if ctx.live is not None and "cloud-init=disabled" in ctx.live.kernel_cmdline():
            found.append(self.finding(Status.FAIL, "disabled-on-cmdline", Message(
                "cloud-init=disabled is on the running kernel's command line")))
            hints.append(Message("Remove cloud-init=disabled from the kernel command line "
                                 "(GRUB_CMDLINE_LINUX in /etc/default/grub, then regenerate grub.cfg)."))

    def _judge_config(self, config, found, hints, paths, data):
        """Findings about cloud.cfg; returns its datasource_list (None when not set)."""
        if config.problems:
            found.append(self.finding(Status.WARN, "config-unreadable", Message(
                "cloud-init configuration unreadable: {problems}", problems=config.problem_text()),
                config.problems[0][0]))
            paths.extend(p for p, _r in config.problems)
            hints.append(Message("Fix or remove the unreadable file(s): cloud-init fails or ignores them."))
        sources = config.get("datasource_list")
        if sources is None:
            return None
        names = datasource_names(sources)
        origin = config.origin.get("datasource_list", CLOUD_CFG)
        if "AliYun" not in names:
            found.append(self.finding(Status.WARN, "no-aliyun", Message(
                "datasource_list in {path} does not include AliYun: [{names}]", path=origin,
                names=", ".join(names)), origin))
            paths.append(origin)
            wanted = ["AliYun"] + [n for n in names if n != "AliYun"]
            data["datasource"] = {"origin": origin, "list": wanted}
            hints.append(Message("cloud-init only reads ECS metadata through its AliYun datasource. Add it, "
                                 "e.g. in {path}:\n  datasource_list: [ {names} ]", path=ALIYUN_CFG,
                                 names=", ".join(wanted)))
        return sources


def upgrade_argv(install):
    """The argv prefix that upgrades an installed package (dnf/yum install would not)."""
    tool = install["install"][0]
    if tool in ("yum", "dnf"):
        return [tool, "upgrade", "-y"]
    if tool == "zypper":
        return ["zypper", "--non-interactive", "update"]
    return list(install["install"])   # apt-get install upgrades an installed package
