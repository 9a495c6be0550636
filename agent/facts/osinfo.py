"""Which distribution the target root holds, read through the Root.

ECS identifies the OS of an imported image from /etc/os-release and the release files
(seed 000: do not modify /etc/issue* or the release files), so guestprep reads the same
files. They are read through Root rather than python-distro's root_dir, because distro
opens the files with the host's open(): an absolute symlink in an image
(/etc/os-release -> /usr/lib/os-release) would then be read from the host.
"""
import re

from agent.core.rootfs import RootError
from agent.facts.versions import numeric_version
from agent.parsers import keyvalue
from agent.tuples import namedtuple

FAMILIES = {
    "rhel": ("rhel", "centos", "fedora", "rocky", "almalinux", "alinux", "anolis", "ol",
             "amzn", "opencloudos", "kylin", "euleros", "openeuler", "tencentos"),
    "debian": ("debian", "ubuntu", "linuxmint", "raspbian", "uos", "deepin"),
    "suse": ("sles", "sled", "opensuse", "opensuse-leap", "opensuse-tumbleweed", "suse", "sle_hpc"),
    "coreos": ("coreos", "fedora-coreos", "flatcar"),
}

_RELEASE_FILES = (
    # (file, id) for systems older than os-release
    ("/etc/centos-release", "centos"),
    ("/etc/redhat-release", "rhel"),
    ("/etc/SuSE-release", "sles"),
)


class OSInfo(namedtuple("OSInfo", (
    "id",                     # str: os-release ID, lower case ('' when unknown)
    "version",                # str: VERSION_ID ('' when unknown)
    "name",                   # str: PRETTY_NAME or NAME
    "family",                 # str: rhel | debian | suse | coreos | ''
    "like",                   # Tuple[str, ...]
    "source",                 # str: the file the facts came from ('' when none)
))):
    __slots__ = ()

    @property
    def major(self):
        match = re.match(r"(\d+)", self.version)
        return int(match.group(1)) if match else None

    def as_dict(self):
        return {"id": self.id, "version": self.version, "name": self.name,
                "family": self.family, "like": list(self.like), "source": self.source}


UNKNOWN = OSInfo("", "", "unknown", "", (), "")


def family_of(os_id, like=()):
    for candidate in (os_id,) + tuple(like):
        for family, ids in FAMILIES.items():
            if candidate in ids or candidate.startswith("opensuse"):
                return "suse" if candidate.startswith("opensuse") else family
    return ""


# The ids a check's applicability (agent.core.model.Applies) may name a distribution by.
DISTRIBUTIONS = frozenset(i for ids in FAMILIES.values() for i in ids) | {"centos-stream"}


def distribution(info):
    """The id applicability names this OS by: os-release's ID, except 'centos-stream' for
    CentOS Stream, whose ID is 'centos' as CentOS Linux's is (seed 000 names it apart)."""
    if info.id == "centos" and "stream" in (info.name or "").lower():
        return "centos-stream"
    return info.id


def detect(root):
    """OSInfo for the root; UNKNOWN when no release file can be read."""
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        try:
            text = root.read_config_or_none(path)
        except RootError:
            continue
        if text is None:
            continue
        values, _problems = keyvalue.parse(text)
        os_id = (keyvalue.get(values, "ID") or "").lower()
        like = tuple((keyvalue.get(values, "ID_LIKE") or "").lower().split())
        name = keyvalue.get(values, "PRETTY_NAME") or keyvalue.get(values, "NAME") or os_id
        return OSInfo(os_id, keyvalue.get(values, "VERSION_ID") or "", name,
                      family_of(os_id, like), like, path)
    for path, os_id in _RELEASE_FILES:
        try:
            text = root.read_config_or_none(path)
        except RootError:
            continue
        if text:
            line = text.strip().splitlines()[0] if text.strip() else ""
            match = re.search(r"release\s+([\d.]+)|VERSION\s*=\s*([\d.]+)", text)
            version = (match.group(1) or match.group(2)) if match else ""
            if "centos" in line.lower():
                os_id = "centos"
            return OSInfo(os_id, version, line, family_of(os_id), (), path)
    try:
        text = root.read_config_or_none("/etc/debian_version")
    except RootError:
        text = None
    if text:
        return OSInfo("debian", text.strip().split(".")[0], "Debian " + text.strip(),
                      "debian", (), "/etc/debian_version")
    return UNKNOWN


def looks_like_linux_root(root):
    """A mounted image should have /etc and a /usr or /bin; anything else is a usage error."""
    return root.isdir("/etc") and (root.isdir("/usr") or root.isdir("/bin"))


# -- platform (ImportImage Platform values) -------------------------------------------------

# os-release ID -> ImportImage Platform, for the distributions seed 000 lists as supported.
SUPPORTED_PLATFORMS = {
    "alinux": "Aliyun", "aliyun": "Aliyun", "anolis": "Anolis", "centos": "CentOS",
    "debian": "Debian", "opensuse": "OpenSUSE", "opensuse-leap": "OpenSUSE",
    "opensuse-tumbleweed": "OpenSUSE", "rhel": "RedHat", "sles": "SUSE", "sled": "SUSE",
    "sles_sap": "SUSE", "ubuntu": "Ubuntu", "coreos": "CoreOS", "almalinux": "AlmaLinux",
    "rocky": "Rocky Linux", "freebsd": "FreeBSD",
}
# Values ImportImage accepts although seed 000 does not list the distribution.
OTHER_PLATFORMS = {"fedora": "Fedora", "fedora-coreos": "Fedora CoreOS", "kylin": "Kylin",
                   "uos": "UOS", "gentoo": "Gentoo"}
OTHERS = "Others Linux"
CUSTOMIZED = "Customized Linux"


def is_centos_stream(os_info):
    return os_info.id == "centos" and "stream" in (os_info.name or "").lower()


def platform_of(os_info):
    """(Platform value, 'supported' | 'accepted' | 'unsupported')."""
    if is_centos_stream(os_info):
        return "CentOS Stream", "supported"
    if os_info.id in SUPPORTED_PLATFORMS:
        return SUPPORTED_PLATFORMS[os_info.id], "supported"
    if os_info.id in OTHER_PLATFORMS:
        return OTHER_PLATFORMS[os_info.id], "accepted"
    return OTHERS, "unsupported"


# -- the versions seed 000 lists ------------------------------------------------------------

# os-release ID -> (versions seed 000 lists, lowest accepted (major, minor)); None: any.
LISTED = {
    "centos": ((5, 6, 7, 8), (5,)),
    "debian": ((6, 7, 8, 9, 10), (6,)),
    "ubuntu": ((10, 12, 13, 14, 16, 18, 20), (10,)),
    "sles": ((10, 11, 12, 15), (10,)),
    "sled": ((10, 11, 12, 15), (10,)),
    "opensuse": ((13, 42, 15), (13,)),
    "opensuse-leap": ((13, 42, 15), (13,)),
    "coreos": (None, (681, 2, 0)),
}
# What version_listing says of a version the image check may not know.
UNLISTED = ("rolling", "unreadable", "older", "unlisted")


def version_listing(os_info):
    """(verdict, Platform, listed versions) for the version of `os_info`: verdict 'stream',
    'other-platform', 'rolling', 'unreadable', 'no-limit', 'older', 'listed', 'newer' or
    'unlisted' (UNLISTED holds the ones seed 000 does not cover)."""
    if is_centos_stream(os_info):
        return "stream", "CentOS Stream", None
    platform, support = platform_of(os_info)
    if support != "supported":
        return "other-platform", platform, None
    if os_info.id == "opensuse-tumbleweed":
        return "rolling", platform, None
    if not os_info.version:
        return "unreadable", platform, None
    rule = LISTED.get(os_info.id)
    if rule is None:
        return "no-limit", platform, None
    listed, floor = rule
    have = numeric_version(os_info.version)
    if not have or have < floor:
        return "older", platform, listed
    if listed is None or have[0] in listed:
        return "listed", platform, listed
    if have[0] > max(listed):
        return "newer", platform, listed
    return "unlisted", platform, listed
