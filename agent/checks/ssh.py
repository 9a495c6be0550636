"""ssh: the imported instance must be reachable by SSH on port 22.

Seed 000 (Linux, セキュリティ): SSHポート22のトラフィックを許可します. SSH is how a user
reaches a new ECS instance (security groups open 22 by default, and ECS puts the key
pair or password in place for sshd), so the image needs sshd installed and enabled at
boot, listening on port 22, and not bound by `ListenAddress` to an address of the
network the image came from: sshd exits with "Cannot bind any address" when none of its
listen addresses exists, and the instance is then unreachable. sshd_config is read as
sshd reads it: `Include` files expanded in place (Debian and Ubuntu include
sshd_config.d/*.conf first), Port and ListenAddress accumulated, Match blocks skipped.
On the running system the check also asks whether anything listens on port 22.

Report only: guestprep does not rewrite sshd_config.
"""
import re

from agent.core.context import shell_command
from agent.core.model import Check, Message, Status, either
from agent.core.rootfs import RootError
from agent.facts.services import enabled_links, masked, unit_installed

CONFIG = "/etc/ssh/sshd_config"
BINARIES = ("/usr/sbin/sshd", "/sbin/sshd")
PACKAGES = ("openssh-server", "openssh")   # SUSE shipped sshd in 'openssh' before the split
UNITS = ("sshd.service", "ssh.service", "ssh.socket", "sshd.socket")
SYSV = ("sshd", "ssh")
WILDCARDS = ("0.0.0.0", "::", "*", "[::]")
MAX_INCLUDE_DEPTH = 8


class SshdConfig(object):
    def __init__(self):
        self.ports = []            # (port string, path, lineno)
        self.listen = []           # (address, port or None, path, lineno)
        self.problems = []         # Messages


def _split(line):
    match = re.match(r"^\s*([A-Za-z0-9]+)\s*(?:=\s*|\s+)(.*?)\s*$", line)
    if not match:
        return None, None
    return match.group(1).lower(), match.group(2)


def parse_config(root, path=CONFIG, config=None, depth=0):
    """SshdConfig of `path` with its Includes expanded (RootError for the top file only)."""
    config = config or SshdConfig()
    try:
        text = root.read_config(path)
    except RootError as e:
        if depth == 0:
            raise
        config.problems.append(Message("{path}: {reason}", path=e.path, reason=e.reason))
        return config
    in_match = False
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        keyword, value = _split(stripped)
        if keyword is None:
            config.problems.append(Message("{path} line {line}: cannot be parsed", path=path, line=lineno))
            continue
        value = re.sub(r"\s+#.*$", "", value)
        if keyword == "match":
            in_match = value.strip().lower() != "all"
            continue
        if keyword == "include":
            if depth >= MAX_INCLUDE_DEPTH:
                config.problems.append(Message("{path} line {line}: Include nested too deeply", path=path,
                                               line=lineno))
                continue
            for pattern in value.split():
                pattern = pattern.strip('"')
                if not pattern.startswith("/"):
                    pattern = "/etc/ssh/" + pattern
                try:
                    if any(c in pattern.rsplit("/", 1)[1] for c in "*?["):
                        names = root.glob(pattern)
                    else:
                        names = [pattern] if root.lexists(pattern) else []
                except RootError as e:
                    config.problems.append(Message("{path}: {reason}", path=e.path, reason=e.reason))
                    continue
                for name in names:
                    parse_config(root, name, config, depth + 1)
            continue
        if in_match:
            continue   # Port and ListenAddress are not allowed in Match blocks anyway
        if keyword == "port":
            config.ports.append((value.split()[0] if value else "", path, lineno))
        elif keyword == "listenaddress":
            config.listen.append(split_listen(value.split()[0] if value else "") + (path, lineno))
    return config


def split_listen(value):
    """('addr', 'port' or None) from 'addr', 'addr:port', '[v6]:port' or 'v6'."""
    match = re.match(r"^\[([^\]]+)\](?::(\d+))?$", value)
    if match:
        return match.group(1), match.group(2)
    if value.count(":") == 1:
        addr, port = value.split(":")
        return addr, port
    return value, None


def _pinned(address):
    return address not in WILDCARDS


def _loopback(address):
    return address in ("localhost", "::1") or address.startswith("127.")


class Sshd(object):
    """What the check reads about sshd, once: the binary or package, the units and their
    links, the configuration, and (live) whether port 22 is open."""

    def __init__(self, ctx):
        root = ctx.root
        self.binaries = [b for b in BINARIES if root.exists(b)]
        package = ctx.packages.any_of(PACKAGES) if ctx.packages.known else None
        if package == "openssh" and not self.binaries:
            package = None   # on RPM systems 'openssh' is the common part; sshd is elsewhere
        self.package = package
        self.installed = bool(self.binaries or package)
        if not self.installed:
            return
        self.units = [u for u in UNITS if unit_installed(root, u)]
        self.links = []
        for unit in UNITS:
            if not masked(root, unit):
                self.links.extend(enabled_links(root, unit, ()))
        for sysv in SYSV:
            for level in "2345":
                self.links.extend(root.glob("/etc/rc{}.d/S??{}".format(level, sysv)))
                self.links.extend(root.glob("/etc/rc.d/rc{}.d/S??{}".format(level, sysv)))
        self.masked = [u for u in UNITS if masked(root, u)]
        self.config_problem = ""
        try:
            self.config = parse_config(root) if root.lexists(CONFIG) else None
        except RootError as e:
            self.config, self.config_problem = None, e.reason
        self.listening = ctx.live.listening_tcp_ports() if ctx.live is not None else None


class Ssh(Check):
    id = "ssh"
    title = "sshd installed, enabled and on port 22"
    item = "ssh"
    repair_item = ""
    refs = ("000",)

    def run(self, ctx):
        sshd = Sshd(ctx)
        if not sshd.installed:
            install = ctx.package_manager()
            commands = [shell_command(ctx, install["install"] + ["openssh-server"]) if install
                        else "install the OpenSSH server with the distribution's package manager"]
            return self.result(
                Status.WARN, Message("sshd is not installed (no {first} or {second} and no openssh-server package)",
                                     first=BINARIES[0], second=BINARIES[1]),
                Message("Without sshd the imported instance can be reached only through the ECS console's "
                        "VNC connection. Install openssh-server and enable it."), commands=commands,
                code="not-installed")

        findings, commands = self._judge_units(ctx, sshd)
        paths = []
        if sshd.config_problem:
            findings.append(self.finding(Status.WARN, "config-unreadable", Message(
                "{path} cannot be read: {reason}", path=CONFIG, reason=sshd.config_problem), CONFIG))
        if sshd.config is not None:
            paths.append(CONFIG)
            findings.extend(self._judge_config(sshd.config, paths))
        if sshd.listening is not None and 22 not in sshd.listening:
            findings.append(self.finding(Status.WARN, "not-listening", Message(
                "nothing listens on TCP port 22 on the running system")))

        if not findings:
            return self.passed(Message("sshd is installed ({what}), enabled at boot and configured for port 22",
                                       what=sshd.package or sshd.binaries[0]), paths=paths, code="ready")
        hint = Message("Users reach an ECS instance by SSH on port 22 (seed 000: allow SSH port 22; security "
                       "groups open 22 by default). Enable sshd, set `Port 22` and remove `ListenAddress` "
                       "lines that name an address of the old network (or use 0.0.0.0) in {path} and its "
                       "sshd_config.d files.", path=ctx.root.display(CONFIG))
        return self.results(findings, hint,
                            commands=commands + ([ctx.in_guest("sshd -t")] if sshd.config is not None else []),
                            paths=paths)

    def _judge_units(self, ctx, sshd):
        if sshd.masked:
            return [self.finding(Status.FAIL, "masked", Message("{units} masked", units=", ".join(sshd.masked)))], \
                [self._systemctl(ctx, "unmask", sshd.masked[0])]
        if not sshd.links:
            unit = sshd.units[0] if sshd.units else "sshd.service"
            return [self.finding(Status.WARN, "not-enabled", Message(
                "sshd is not enabled at boot (no {units} link)", units=either(sshd.units or ["sshd.service"])))], \
                [self._systemctl(ctx, "enable", unit)]
        return [], []

    def _judge_config(self, config, paths):
        """Findings about Port and ListenAddress; the files they name go into `paths`."""
        findings = []
        for problem in config.problems:
            findings.append(self.finding(Status.WARN, "config-problem", problem,
                                         problem.args.get("path", ""),
                                         problem.args.get("line", 0)))
        ports = [p for p, _path, _n in config.ports] if config.ports else ["22"]
        effective = set()
        if config.listen:
            for _addr, port, _path, _n in config.listen:
                effective.update([port] if port else ports)
        else:
            effective = set(ports)
        if "22" not in effective:
            where = sorted(set(path for _p, path, _n in config.ports) | set(l[2] for l in config.listen if l[1]))
            findings.append(self.finding(Status.WARN, "port", Message(
                "sshd listens on port {ports}, not 22 ({paths})", ports=", ".join(sorted(effective)),
                paths=", ".join(where))))
            paths.extend(p for p in where if p not in paths)
        addresses = [l[0] for l in config.listen]
        if addresses and all(_pinned(a) for a in addresses):
            where = sorted(set(l[2] for l in config.listen))
            paths.extend(p for p in where if p not in paths)
            if all(_loopback(a) for a in addresses):
                findings.append(self.finding(Status.FAIL, "loopback-only", Message(
                    "sshd listens on loopback only (ListenAddress {addresses} in {paths})",
                    addresses=", ".join(addresses), paths=", ".join(where))))
            else:
                findings.append(self.finding(Status.FAIL, "listen-address", Message(
                    "sshd is bound to ListenAddress {addresses} ({paths}): an address the instance will not have",
                    addresses=", ".join(addresses), paths=", ".join(where))))
        return findings

    @staticmethod
    def _systemctl(ctx, verb, unit):
        if ctx.root.is_host:
            return "systemctl {} {}".format(verb, unit)
        return "systemctl --root={} {} {}".format(ctx.root.path, verb, unit)
