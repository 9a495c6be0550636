"""firewall: no host firewall should start at boot, and if one does, it must let SSH (22) in.

Seed 000 (Linux, セキュリティ): ファイアウォールを無効化します / SSHポート22のトラフィックを
許可します. On ECS, traffic is filtered by security groups outside the instance; a host
firewall brought along from another network (firewalld's public zone, a ufw or iptables
rule set written for the old site) can lock the user out of the new instance, whose only
way in is SSH. What counts is what starts at boot: firewalld, iptables-services,
netfilter-persistent, nftables or SuSEfirewall2 enabled by systemd *.wants links (or SysV
S links), and ufw when /etc/ufw/ufw.conf says ENABLED=yes. Whether port 22 is allowed is
read from the saved rules (firewalld zone files, /etc/sysconfig/iptables,
/etc/iptables/rules.v4, /etc/nftables.conf and its includes, ufw's user.rules) when they
can be read.

A firewall that blocks port 22 is a FAIL; one that starts at boot and lets SSH in is a
WARN (seed 000 asks for it to be disabled); `guestprep fix --items firewall` disables it
by removing exactly the links `systemctl disable` would remove (rollback puts them back).
"""
import re

from agent.core.context import shell_command
from agent.core.model import Check, Message, Status, either, joined
from agent.core.rootfs import RootError
from agent.facts.services import enabled_links, masked, sysv_links, unit_installed
from agent.parsers import keyvalue

UFW_CONF = "/etc/ufw/ufw.conf"
UFW_DEFAULTS = "/etc/default/ufw"
UFW_RULES = ("/etc/ufw/user.rules",)
FIREWALLD_CONF = "/etc/firewalld/firewalld.conf"
FIREWALLD_ZONE_DIRS = ("/etc/firewalld/zones", "/usr/lib/firewalld/zones", "/usr/share/firewalld/zones")
NFT_CONFS = ("/etc/nftables.conf", "/etc/sysconfig/nftables.conf")
SUSEFIREWALL = "/etc/sysconfig/SuSEfirewall2"

OPEN, BLOCKED, UNKNOWN = "open", "blocked", "unknown"


# -- port specifications ---------------------------------------------------------------

def port_in(spec, port=22, names=("ssh",)):
    """Whether a port list such as '22', 'ssh', '80,22', '20:30', '20-30' or '{ 22, 80 }'
    includes `port`."""
    for part in re.split(r"[,\s{}]+", spec or ""):
        part = part.strip().strip('"')
        if not part:
            continue
        if part in names or part == str(port):
            return True
        match = re.match(r"^(\d+)[-:](\d+)$", part)
        if match and int(match.group(1)) <= port <= int(match.group(2)):
            return True
    return False


# -- each firewall's saved rules -------------------------------------------------------

def _firewalld_port(root):
    zone = "public"
    text = root.read_config_or_none(FIREWALLD_CONF)
    if text is not None:
        values, _ = keyvalue.parse(text)
        zone = (keyvalue.get(values, "DefaultZone") or "public").strip() or "public"
    for directory in FIREWALLD_ZONE_DIRS:
        path = "{}/{}.xml".format(directory, zone)
        text = root.read_config_or_none(path)
        if text is None:
            continue
        if "<!ENTITY" in text or "<!DOCTYPE" in text:
            # Zone files never declare entities; an image is untrusted input.
            return UNKNOWN, Message("{path} declares a DTD; not parsed", path=path)
        import xml.etree.ElementTree as ElementTree  # only images with a firewalld zone file
        try:
            tree = ElementTree.fromstring(text)
        except Exception as e:   # ParseError, or expat's own errors
            return UNKNOWN, Message("{path} is not valid XML ({error})", path=path, error=str(e))
        if (tree.get("target") or "").upper() == "ACCEPT":
            return OPEN, Message("zone {zone} accepts everything ({path})", zone=zone, path=path)
        for element in tree.iter():
            if element.tag == "service" and element.get("name") == "ssh":
                return OPEN, Message("zone {zone} allows the ssh service ({path})", zone=zone, path=path)
            if element.tag == "port" and (element.get("protocol") or "tcp") == "tcp" \
                    and port_in(element.get("port")):
                return OPEN, Message("zone {zone} allows port {port}/tcp ({path})", zone=zone,
                                     port=element.get("port"), path=path)
        return BLOCKED, Message("zone {zone} allows neither the ssh service nor port 22 ({path})", zone=zone, path=path)
    return UNKNOWN, Message("no zone file for the default zone {zone}", zone=zone)


def _ufw_port(root):
    policy = "DROP"
    text = root.read_config_or_none(UFW_DEFAULTS)
    if text is not None:
        values, _ = keyvalue.parse(text)
        policy = (keyvalue.get(values, "DEFAULT_INPUT_POLICY") or "DROP").upper()
    if policy == "ACCEPT":
        return OPEN, Message("the default incoming policy is ACCEPT ({path})", path=UFW_DEFAULTS)
    for path in UFW_RULES:
        text = root.read_config_or_none(path) or ""
        for line in text.splitlines():
            if not line.startswith("### tuple ###"):
                continue
            words = line[len("### tuple ###"):].split()
            # 'in', or 'in_eth0' for a rule bound to one interface (`ufw allow in on eth0 ...`).
            if len(words) < 3 or not (words[-1] == "in" or words[-1].startswith("in_")):
                continue
            action, proto, dport = words[0], words[1], words[2]
            if (action.startswith("allow") or action.startswith("limit")) and proto in ("tcp", "any") \
                    and (dport == "any" or port_in(dport)):
                if words[-1] != "in":
                    return OPEN, Message("a rule allows port 22 on {interface} only ({path})",
                                         interface=words[-1][3:], path=path)
                return OPEN, Message("a rule allows port 22 ({path})", path=path)
    return BLOCKED, Message("the default incoming policy is {policy} and no rule in {paths} allows port 22",
                            policy=policy, paths=either(UFW_RULES))


_CATCH_ALL_OPTIONS = ("-j", "--jump", "--reject-with", "-m", "--comment", "-A", "--append")


def iptables_port(text, path):
    """(state, why) from iptables-save text: an ACCEPT for tcp/22 opens it; a DROP policy or
    a catch-all DROP/REJECT in INPUT blocks it; otherwise nothing stops it."""
    table, policy, catch_all = "filter", "ACCEPT", False
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("*"):
            table = line[1:].strip()
            continue
        if table != "filter":
            continue
        if line.startswith(":INPUT"):
            fields = line.split()
            policy = fields[1].upper() if len(fields) > 1 else policy
            continue
        if not line.startswith("-A "):
            continue
        words = line.split()
        target = ""
        for i, word in enumerate(words):
            if word in ("-j", "--jump") and i + 1 < len(words):
                target = words[i + 1].upper()
        if target == "ACCEPT":
            proto = ""
            for i, word in enumerate(words[:-1]):
                if word in ("-p", "--protocol"):
                    proto = words[i + 1].lower()
            for i, word in enumerate(words[:-1]):
                if word in ("--dport", "--destination-port", "--dports", "--destination-ports") \
                        and proto in ("", "tcp", "6", "all") and port_in(words[i + 1]):
                    return OPEN, Message("a rule accepts port 22 ({path})", path=path)
        if words[1] == "INPUT" and target in ("DROP", "REJECT"):
            options = [w for w in words if w.startswith("-")]
            if all(o in _CATCH_ALL_OPTIONS for o in options) and \
                    ("-m" not in words or "comment" in words):
                catch_all = True
    if policy in ("DROP", "REJECT"):
        return BLOCKED, Message("the INPUT policy is {policy} and no rule accepts port 22 ({path})", policy=policy,
                                path=path)
    if catch_all:
        return BLOCKED, Message("INPUT ends in a catch-all DROP/REJECT and no rule accepts port 22 ({path})",
                                path=path)
    return OPEN, Message("no rule blocks port 22 ({path})", path=path)


def _iptables_file_port(root, paths):
    for path in paths:
        text = root.read_config_or_none(path)
        if text is not None:
            return iptables_port(text, path)
    return UNKNOWN, Message("no saved rules in {paths}", paths=either(paths))


def _nft_text(root, path, depth=0):
    """The ruleset text with `include` statements expanded (wildcards in the last part)."""
    text = root.read_config(path)
    if depth > 4:
        return text
    parts = []
    for line in text.splitlines():
        match = re.match(r'^\s*include\s+"([^"]+)"', line)
        if match:
            target = match.group(1)
            if not target.startswith("/"):
                target = path.rsplit("/", 1)[0] + "/" + target
            if any(c in target for c in "*?["):
                included = root.glob(target)
            else:
                included = [target] if root.exists(target) else []
            for name in included:
                parts.append(_nft_text(root, name, depth + 1))
            continue
        parts.append(line)
    return "\n".join(parts)


def nft_port(text, path):
    """(state, why) from an nftables ruleset."""
    lines = [re.sub(r"#.*$", "", line).strip() for line in text.splitlines()]
    for line in lines:
        match = re.search(r"\b(?:tcp|th)\s+dport\s+(\{[^}]*\}|\S+)(.*)$", line)
        if match and port_in(match.group(1)) and re.search(r"\baccept\b", match.group(2)):
            return OPEN, Message("a rule accepts port 22 ({path})", path=path)
    body = " ".join(lines)
    if re.search(r"hook\s+input\b[^}]*?policy\s+drop", body):
        return BLOCKED, Message("the input chain's policy is drop and no rule accepts port 22 ({path})", path=path)
    for line in lines:
        if re.match(r"^(counter\s+)?(drop|reject)(\s+with\s+.*)?;?$", line):
            return BLOCKED, Message("a catch-all '{rule}' and no rule accepting port 22 ({path})", rule=line, path=path)
    return OPEN, Message("no rule blocks port 22 ({path})", path=path)


def _nft_port(root):
    for path in NFT_CONFS:
        if root.lexists(path):
            return nft_port(_nft_text(root, path), path)
    return UNKNOWN, Message("no ruleset in {paths}", paths=either(NFT_CONFS))


def _susefirewall_port(root):
    text = root.read_config_or_none(SUSEFIREWALL)
    if text is None:
        return UNKNOWN, Message("{path} does not exist", path=SUSEFIREWALL)
    values, _ = keyvalue.parse(text)
    tcp = keyvalue.get(values, "FW_SERVICES_EXT_TCP") or ""
    configs = (keyvalue.get(values, "FW_CONFIGURATIONS_EXT") or "").split()
    if port_in(tcp) or "sshd" in configs:
        return OPEN, Message("the external zone allows SSH ({path})", path=SUSEFIREWALL)
    return BLOCKED, Message("the external zone allows neither sshd nor port 22 ({path})", path=SUSEFIREWALL)


# (name, systemd units, SysV names, how port 22 is judged)
FIREWALLS = (
    ("firewalld", ("firewalld.service",), ("firewalld",), _firewalld_port),
    ("iptables", ("iptables.service",), ("iptables",),
     lambda root: _iptables_file_port(root, ("/etc/sysconfig/iptables",))),
    ("netfilter-persistent", ("netfilter-persistent.service",), ("netfilter-persistent",),
     lambda root: _iptables_file_port(root, ("/etc/iptables/rules.v4",))),
    ("nftables", ("nftables.service",), ("nftables",), _nft_port),
    ("SuSEfirewall2", ("SuSEfirewall2.service", "SuSEfirewall2_init.service"), ("SuSEfirewall2_setup",),
     _susefirewall_port),
)


def ufw_enabled(root):
    text = root.read_config_or_none(UFW_CONF)
    if text is None:
        return False
    values, _ = keyvalue.parse(text)
    return (keyvalue.get(values, "ENABLED") or "").strip().lower() == "yes"


def _unreadable(error):
    return Message("cannot read its configuration: {error}", error=str(error))


def active_firewalls(root):
    """(firewalls that start at boot, as dicts: name, units, links, port22, why; problems met;
    firewalls installed but not enabled)."""
    active, problems, installed = [], [], []
    for name, units, sysv, judge in FIREWALLS:
        try:
            links = []
            for unit in units:
                # A link to a unit that is not installed (a removed package) starts nothing.
                if unit_installed(root, unit) and not masked(root, unit):
                    links.extend(enabled_links(root, unit, ()))
            if any(unit_installed(root, u) for u in units):
                installed.append(name)
            links.extend(l for s in sysv for l in sysv_links(root, s)
                         if root.exists("/etc/init.d/" + s) and l not in links)
            if not links:
                continue
            state, why = judge(root)
        except RootError as e:
            problems.append(str(e))
            state, why = UNKNOWN, _unreadable(e)
            if not links:
                continue
        active.append({"name": name, "units": list(units), "links": links, "port22": state, "why": why})
    try:
        if ufw_enabled(root):
            state, why = _ufw_port(root)
            active.append({"name": "ufw", "units": ["ufw.service"], "links": [], "port22": state,
                           "why": why, "conf": UFW_CONF})
        elif root.lexists(UFW_CONF):
            installed.append("ufw")
    except RootError as e:
        problems.append(str(e))
        active.append({"name": "ufw", "units": ["ufw.service"], "links": [], "port22": UNKNOWN,
                       "why": _unreadable(e)})
    return active, problems, installed


class Firewall(Check):
    id = "firewall"
    title = "No host firewall at boot (or port 22 open)"
    item = "firewall"
    repair_item = "firewall"
    refs = ("000",)

    def run(self, ctx):
        active, problems, installed = active_firewalls(ctx.root)
        if not active:
            if installed:
                return self.passed(Message("no firewall starts at boot ({names} installed but not enabled)",
                                           names=", ".join(sorted(set(installed)))), code="none")
            return self.passed(Message("no firewall starts at boot"), code="none")

        findings = [self.finding(Status.FAIL if a["port22"] == BLOCKED else Status.WARN,
                                 "blocks-ssh" if a["port22"] == BLOCKED else "enabled",
                                 Message("{name} starts at boot; port 22: {why}", name=a["name"], why=a["why"]),
                                 a.get("conf") or (a["links"][0] if a["links"] else ""))
                    for a in active]
        hint = self._hint(active)
        commands = self._commands(ctx, active)
        data = {"active": active, "problems": problems}
        result = self.results(findings, hint, commands=commands, paths=self._paths(active), data=data)
        if any(a["port22"] == BLOCKED for a in active):
            return result._replace(summary=Message("firewall blocks SSH: {findings}",
                                                   findings=joined([f.text for f in findings], "; ")))
        return result

    @staticmethod
    def _hint(active):
        hint = [Message("ECS filters traffic with security groups; seed 000 asks for the host firewall to be "
                        "disabled and for SSH (port 22) to be allowed. `guestprep fix --items firewall` "
                        "disables {names} at boot (rollback re-enables it).",
                        names=", ".join(a["name"] for a in active))]
        if any(a["port22"] == BLOCKED for a in active):
            hint.append(Message("If you keep the firewall, allow SSH instead, e.g. `firewall-cmd --permanent "
                                "--add-service=ssh` or `ufw allow 22/tcp`, or an ACCEPT rule for tcp dport 22."))
        elif any(a["port22"] == UNKNOWN for a in active):
            hint.append(Message("guestprep could not tell whether port 22 is allowed: check the rules."))
        return joined(hint, " ")

    @staticmethod
    def _commands(ctx, active):
        root = ctx.root
        commands = []
        for a in active:
            if a["name"] == "ufw":
                commands.append(ctx.in_guest("ufw disable") if root.is_host else
                                "sed -i 's/^ENABLED=.*/ENABLED=no/' " + root.display(UFW_CONF))
            elif root.is_host:
                commands.append(shell_command(ctx, ["systemctl", "disable", "--now"] + a["units"]))
            else:
                commands.append("systemctl --root={} disable {}".format(root.path, " ".join(a["units"])))
        return commands

    @staticmethod
    def _paths(active):
        paths = []
        for a in active:
            paths.extend(a["links"])
            if a.get("conf"):
                paths.append(a["conf"])
        return paths
