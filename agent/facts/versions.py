"""Versions: the one set of helpers that compares kernel, package and tool versions.

A dpkg or rpm version carries an epoch and a release around the upstream version
('1:2.06-13+deb12u1', '2.06-0.87.el7'); a kernel release carries a flavour
('5.14.0-362.8.1.el9_3.x86_64'). Every check that compares versions asks here, so a
package version and a kernel release are read the same way everywhere.
"""
import re


def numeric_version(version):
    """(2, 6) from '1:2.06-13+deb12u1' or '2.06-0.87.el7': epoch dropped, leading numbers."""
    version = (version or "").split(":", 1)[-1]
    match = re.match(r"(\d+(?:\.\d+)*)", version)
    return tuple(int(p) for p in match.group(1).split(".")) if match else ()


def at_least(version, floor):
    """True when the dotted `version` is at least `floor` (a tuple of ints)."""
    have = numeric_version(version)
    return bool(have) and have >= tuple(floor)


def version_key(version):
    """Sort key for versions like 5.14.0-362.8.1.el9_3.x86_64: numbers compare as numbers."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part)
            for part in re.findall(r"\d+|[A-Za-z]+", version or "")]


def major_minor(version):
    """(major, minor) of a kernel release string; (0, 0) when it does not start with one."""
    match = re.match(r"(\d+)\.(\d+)", version or "")
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def kernel_major_minor(version):
    """'5.14' of a kernel release, or None."""
    have = major_minor(version)
    return "{}.{}".format(*have) if have != (0, 0) else None


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
