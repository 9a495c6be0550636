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
import xml.etree.ElementTree as ElementTree

from agent.core.context import shell_command
from agent.core.model import Check, Status
from agent.parsers import keyvalue
from agent.core.rootfs import RootError
from agent.facts.services import enabled_links, masked, sysv_links, unit_installed

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
            return UNKNOWN, "{} declares a DTD; not parsed".format(path)
        try:
            tree = ElementTree.fromstring(text)
        except Exception as e:   # ParseError, or expat's own errors
            return UNKNOWN, "{} is not valid XML ({})".format(path, e)
        if (tree.get("target") or "").upper() == "ACCEPT":
            return OPEN, "zone {} accepts everything ({})".format(zone, path)
        for element in tree.iter():
            if element.tag == "service" and element.get("name") == "ssh":
                return OPEN, "zone {} allows the ssh service ({})".format(zone, path)
            if element.tag == "port" and (element.get("protocol") or "tcp") == "tcp" \
                    and port_in(element.get("port")):
                return OPEN, "zone {} allows port {}/tcp ({})".format(zone, element.get("port"), path)
        return BLOCKED, "zone {} allows neither the ssh service nor port 22 ({})".format(zone, path)
    return UNKNOWN, "no zone file for the default zone {}".format(zone)


def _ufw_port(root):
    policy = "DROP"
    text = root.read_config_or_none(UFW_DEFAULTS)
    if text is not None:
        values, _ = keyvalue.parse(text)
        policy = (keyvalue.get(values, "DEFAULT_INPUT_POLICY") or "DROP").upper()
    if policy == "ACCEPT":
        return OPEN, "the default incoming policy is ACCEPT ({})".format(UFW_DEFAULTS)
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
                where = " on {} only".format(words[-1][3:]) if words[-1] != "in" else ""
                return OPEN, "a rule allows port 22{} ({})".format(where, path)
    return BLOCKED, "the default incoming policy is {} and no rule in {} allows port 22".format(
        policy, " or ".join(UFW_RULES))


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
                    return OPEN, "a rule accepts port 22 ({})".format(path)
        if words[1] == "INPUT" and target in ("DROP", "REJECT"):
            options = [w for w in words if w.startswith("-")]
            if all(o in _CATCH_ALL_OPTIONS for o in options) and \
                    ("-m" not in words or "comment" in words):
                catch_all = True
    if policy in ("DROP", "REJECT"):
        return BLOCKED, "the INPUT policy is {} and no rule accepts port 22 ({})".format(policy, path)
    if catch_all:
        return BLOCKED, "INPUT ends in a catch-all DROP/REJECT and no rule accepts port 22 ({})".format(path)
    return OPEN, "no rule blocks port 22 ({})".format(path)


def _iptables_file_port(root, paths):
    for path in paths:
        text = root.read_config_or_none(path)
        if text is not None:
            return iptables_port(text, path)
    return UNKNOWN, "no saved rules in " + " or ".join(paths)


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
            return OPEN, "a rule accepts port 22 ({})".format(path)
    body = " ".join(lines)
    if re.search(r"hook\s+input\b[^}]*?policy\s+drop", body):
        return BLOCKED, "the input chain's policy is drop and no rule accepts port 22 ({})".format(path)
    for line in lines:
        if re.match(r"^(counter\s+)?(drop|reject)(\s+with\s+.*)?;?$", line):
            return BLOCKED, "a catch-all '{}' and no rule accepting port 22 ({})".format(line, path)
    return OPEN, "no rule blocks port 22 ({})".format(path)


def _nft_port(root):
    for path in NFT_CONFS:
        if root.lexists(path):
            return nft_port(_nft_text(root, path), path)
    return UNKNOWN, "no ruleset in " + " or ".join(NFT_CONFS)


def _susefirewall_port(root):
    text = root.read_config_or_none(SUSEFIREWALL)
    if text is None:
        return UNKNOWN, SUSEFIREWALL + " does not exist"
    values, _ = keyvalue.parse(text)
    tcp = keyvalue.get(values, "FW_SERVICES_EXT_TCP") or ""
    configs = (keyvalue.get(values, "FW_CONFIGURATIONS_EXT") or "").split()
    if port_in(tcp) or "sshd" in configs:
        return OPEN, "the external zone allows SSH ({})".format(SUSEFIREWALL)
    return BLOCKED, "the external zone allows neither sshd nor port 22 ({})".format(SUSEFIREWALL)


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


class Firewall(Check):
    id = "firewall"
    title = "No host firewall at boot (or port 22 open)"
    item = "firewall"
    repair_item = "firewall"

    def run(self, ctx):
        root = ctx.root
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
                state, why, links = UNKNOWN, "cannot read its configuration: {}".format(e), links
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
                           "why": "cannot read its configuration: {}".format(e)})

        if not active:
            summary = "no firewall starts at boot"
            if installed:
                summary += " ({} installed but not enabled)".format(", ".join(sorted(set(installed))))
            return self.passed(summary)

        found = ["{} starts at boot; port 22: {}".format(a["name"], a["why"]) for a in active]
        commands = []
        for a in active:
            if a["name"] == "ufw":
                commands.append(ctx.in_guest("ufw disable") if ctx.root.is_host else
                                "sed -i 's/^ENABLED=.*/ENABLED=no/' " + root.display(UFW_CONF))
            elif ctx.root.is_host:
                commands.append(shell_command(ctx, ["systemctl", "disable", "--now"] + a["units"]))
            else:
                commands.append("systemctl --root={} disable {}".format(root.path, " ".join(a["units"])))
        names = ", ".join(a["name"] for a in active)
        hint = ("ECS filters traffic with security groups; seed 000 asks for the host firewall to be "
                "disabled and for SSH (port 22) to be allowed. `guestprep fix --items firewall` "
                "disables {} at boot (rollback re-enables it).".format(names))
        data = {"active": active, "problems": problems}
        if any(a["port22"] == BLOCKED for a in active):
            hint += (" If you keep the firewall, allow SSH instead, e.g. `firewall-cmd --permanent "
                     "--add-service=ssh` or `ufw allow 22/tcp`, or an ACCEPT rule for tcp dport 22.")
            return self.failed("firewall blocks SSH: " + "; ".join(found), hint, commands=commands,
                               paths=self._paths(active), data=data)
        if any(a["port22"] == UNKNOWN for a in active):
            hint += " guestprep could not tell whether port 22 is allowed: check the rules."
        return self.result(Status.WARN, "; ".join(found), hint, commands=commands,
                           paths=self._paths(active), data=data)

    @staticmethod
    def _paths(active):
        paths = []
        for a in active:
            paths.extend(a["links"])
            if a.get("conf"):
                paths.append(a["conf"])
        return paths
