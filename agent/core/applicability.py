"""Whether a check applies to the target, from what it declares (like sos's plugin
`architectures` and `packages`): the engine asks here before run(), so no check computes
its own "not applicable" SKIP and every such SKIP says why in the same words.

A check declares `applies_to` (Applies cases, any of which must match: distribution
families, distributions, architectures) and `live_only` (it needs the running system's
facts, so it is skipped on a mounted image).
"""
from agent.core.model import Message
from agent.facts import elf, osinfo

# How a SKIP reason names what a check applies to (the declared id when not listed here).
NAMES = {
    "families": {"rhel": "RHEL-family", "debian": "Debian-family", "suse": "SUSE-family",
                 "coreos": "CoreOS-family"},
    "distributions": {"centos-stream": "CentOS Stream", "anolis": "Anolis", "almalinux": "AlmaLinux",
                      "rocky": "Rocky Linux", "alinux": "Alibaba Cloud Linux", "centos": "CentOS",
                      "rhel": "RHEL", "debian": "Debian", "ubuntu": "Ubuntu", "sles": "SLES"},
    "architectures": {"arm64": "ARM64", "x86_64": "x86-64", "i386": "32-bit x86"},
}
FIELDS = ("architectures", "distributions", "families")
LIVE_ONLY = Message("needs the running system; not checked on a mounted image")


def _architecture(ctx):
    return elf.architecture(ctx)["arch"]


def matches(ctx, applies):
    """Whether one Applies case matches the target of `ctx`."""
    if applies.families and ctx.os.family not in applies.families:
        return False
    if applies.distributions and osinfo.distribution(ctx.os) not in applies.distributions:
        return False
    return not applies.architectures or _architecture(ctx) in applies.architectures


def describe(applies_to):
    """'ARM64, CentOS Stream and Rocky Linux': the cases, each value of a one-field case apart."""
    items = []
    for applies in applies_to:
        fields = [(f, getattr(applies, f)) for f in FIELDS if getattr(applies, f)]
        named = [[NAMES[f].get(v, v) for v in values] for f, values in fields]
        if len(named) == 1:
            items.extend(named[0])
        else:
            items.append(" ".join("/".join(names) for names in named))
    if len(items) > 1:
        return Message("{items} and {last}", items=", ".join(items[:-1]), last=items[-1])
    return "".join(items)


def not_applicable(ctx, check):
    """Why `check` does not apply to the target ('' when it does)."""
    if check.applies_to and not any(matches(ctx, applies) for applies in check.applies_to):
        return Message("applies to {what} images only (this is {system}, {arch})",
                       what=describe(check.applies_to), system=ctx.os.name or Message("an unknown system"),
                       arch=_architecture(ctx) or Message("architecture unknown"))
    if check.live_only and ctx.offline:
        return LIVE_ONLY
    return ""
