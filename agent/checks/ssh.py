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
from agent.facts.services import enabled_links, masked, unit_installed
from agent.core.model import Check, Status
from agent.core.rootfs import RootError

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
        self.problems = []         # human-readable


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
        config.problems.append(str(e))
        return config
    in_match = False
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        keyword, value = _split(stripped)
        if keyword is None:
            config.problems.append("{} line {}: cannot be parsed".format(path, lineno))
            continue
        value = re.sub(r"\s+#.*$", "", value)
        if keyword == "match":
            in_match = value.strip().lower() != "all"
            continue
        if keyword == "include":
            if depth >= MAX_INCLUDE_DEPTH:
                config.problems.append("{} line {}: Include nested too deeply".format(path, lineno))
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
                    config.problems.append(str(e))
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


class Ssh(Check):
    id = "ssh"
    title = "sshd installed, enabled and on port 22"
    item = "ssh"
    repair_item = ""

    def run(self, ctx):
        root = ctx.root
        findings = []   # (status, text)
        commands = []
        paths = []

        binaries = [b for b in BINARIES if root.exists(b)]
        package = ctx.packages.any_of(PACKAGES) if ctx.packages.known else None
        if package == "openssh" and not binaries:
            package = None   # on RPM systems 'openssh' is the common part; sshd is elsewhere
        installed = bool(binaries or package)
        if not installed:
            install = ctx.package_manager()
            commands.append(shell_command(ctx, install["install"] + ["openssh-server"]) if install
                            else "install the OpenSSH server with the distribution's package manager")
            return self.result(
                Status.WARN, "sshd is not installed (no {} and no openssh-server package)".format(
                    " or ".join(BINARIES)),
                "Without sshd the imported instance can be reached only through the ECS console's "
                "VNC connection. Install openssh-server and enable it.", commands=commands)

        units = [u for u in UNITS if unit_installed(root, u)]
        links = []
        for unit in UNITS:
            if not masked(root, unit):
                links.extend(enabled_links(root, unit, ()))
        for sysv in SYSV:
            for level in "2345":
                links.extend(root.glob("/etc/rc{}.d/S??{}".format(level, sysv)))
                links.extend(root.glob("/etc/rc.d/rc{}.d/S??{}".format(level, sysv)))
        masked_units = [u for u in UNITS if masked(root, u)]
        if masked_units:
            findings.append((Status.FAIL, "{} masked".format(", ".join(masked_units))))
            commands.append(self._systemctl(ctx, "unmask", masked_units[0]))
        elif not links:
            unit = units[0] if units else "sshd.service"
            findings.append((Status.WARN, "sshd is not enabled at boot (no {} link)".format(
                " or ".join(units or ["sshd.service"]))))
            commands.append(self._systemctl(ctx, "enable", unit))

        try:
            config = parse_config(root) if root.lexists(CONFIG) else None
        except RootError as e:
            config = None
            findings.append((Status.WARN, "{} cannot be read: {}".format(CONFIG, e.reason)))
        ports = ["22"]
        if config is not None:
            paths.append(CONFIG)
            for problem in config.problems:
                findings.append((Status.WARN, problem))
            if config.ports:
                ports = [p for p, _path, _n in config.ports]
            effective = set()
            if config.listen:
                for addr, port, _path, _n in config.listen:
                    for p in ([port] if port else ports):
                        effective.add(p)
            else:
                effective = set(ports)
            if "22" not in effective:
                where = sorted(set(path for _p, path, _n in config.ports) |
                               set(l[2] for l in config.listen if l[1]))
                findings.append((Status.WARN, "sshd listens on port {}, not 22 ({})".format(
                    ", ".join(sorted(effective)), ", ".join(where))))
                paths.extend(p for p in where if p not in paths)
            addresses = [l[0] for l in config.listen]
            if addresses and all(_pinned(a) for a in addresses):
                where = sorted(set(l[2] for l in config.listen))
                paths.extend(p for p in where if p not in paths)
                if all(_loopback(a) for a in addresses):
                    findings.append((Status.FAIL, "sshd listens on loopback only (ListenAddress {} in {})".format(
                        ", ".join(addresses), ", ".join(where))))
                else:
                    findings.append((Status.FAIL, "sshd is bound to ListenAddress {} ({}): an address the "
                                     "instance will not have".format(", ".join(addresses), ", ".join(where))))

        if ctx.live is not None:
            listening = ctx.live.listening_tcp_ports()
            if 22 not in listening:
                findings.append((Status.WARN, "nothing listens on TCP port 22 on the running system"))

        if not findings:
            return self.passed("sshd is installed ({}), enabled at boot and configured for port 22".format(
                package or binaries[0]), paths=paths)
        status = Status.worst(s for s, _t in findings)
        hint = ("Users reach an ECS instance by SSH on port 22 (seed 000: allow SSH port 22; security "
                "groups open 22 by default). Enable sshd, set `Port 22` and remove `ListenAddress` "
                "lines that name an address of the old network (or use 0.0.0.0) in {} and its "
                "sshd_config.d files.".format(root.display(CONFIG)))
        return self.result(status, "; ".join(t for _s, t in findings), hint,
                           commands=commands + ([ctx.in_guest("sshd -t")] if config is not None else []),
                           paths=paths)

    @staticmethod
    def _systemctl(ctx, verb, unit):
        if ctx.root.is_host:
            return "systemctl {} {}".format(verb, unit)
        return "systemctl --root={} {} {}".format(ctx.root.path, verb, unit)
