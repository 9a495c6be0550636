"""udev's 70-persistent-net.rules: read, judge, neutralise.

Older udev (RHEL/CentOS 6, SLES 11, Debian before 9) pins each interface
name to the MAC it saw first. On ECS every MAC is new: the rule no longer
matches, and the rule generator (where still installed) names the new NIC
eth1 because eth0 is taken. The fix comments every rule out, continuation
lines included; udev writes fresh rules at the next boot where it still can.
"""
import shlex

from agent.core.model import Message
from agent.netformats import common
from agent.parsers import comment_out, udev_rules

PATH = "/etc/udev/rules.d/70-persistent-net.rules"
FMT = "udev"
LABEL = "udev"
LOOKED_AT = "udev (" + PATH + ")"


def read(root, problems):
    if not root.lexists(PATH):
        return []
    text = common.read(root, PATH, problems)
    if text is None:
        return []
    rules, found = udev_rules.parse(text)
    common.parse_problems(PATH, found, problems, "udev rules")
    return [common.IfaceConfig(PATH, FMT, rule.name, "none", macs=(rule.mac,), lineno=rule.lineno)
            for rule in rules]


def unpinned(text):
    """70-persistent-net.rules with every rule commented out, continuation lines included."""
    rules = udev_rules.parse(text)[0]
    return comment_out(text, [n for rule in rules for n in range(rule.lineno, rule.end_lineno + 1)])


def steps(root, path, text, configs, primary):
    return common.write_if_changed(path, text, unpinned(text),
                                   Message("unpin interface names from the old MAC addresses"))


def commands(display, configs, primary, live):
    return ["sed -i 's/^[^#[:space:]]/# &/' " + shlex.quote(display)]
