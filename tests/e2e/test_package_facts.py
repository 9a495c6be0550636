"""Package facts read directly equal what the distribution's own dpkg reports, on the real
Debian root; and the package-manager check on that root, healthy and then interrupted.

The test (not guestprep) runs the root's own dpkg-query in a chroot, as the reference.
"""
import json

from agent.core.context import Context
from agent.core.rootfs import Root


def test_dpkg_package_list_equals_dpkg_query(debian):
    done = debian.chroot("dpkg-query", "-W", "-f", "${Package}\t${Version}\t${db:Status-Abbrev}\n")
    assert done.returncode == 0, done.stderr
    expected = dict((line.split("\t")[0], line.split("\t")[1]) for line in done.stdout.splitlines()
                    if line.split("\t")[2].strip() == "ii")
    ctx = Context(Root(debian.path))
    assert ctx.packages.manager == "dpkg" and ctx.packages.versions == expected
    assert len(expected) > 80


def test_package_manager_on_the_real_root_then_interrupted(debian):
    code, out, err = debian.guestprep("check", "--items", "package_manager", "--format", "json")
    result = [r for r in json.loads(out)["results"] if r["id"] == "package_manager"][0]
    assert result["status"] == "PASS", result
    # An interrupted configure, as dpkg leaves it: the status entry half-configured.
    status = debian.read("/var/lib/dpkg/status").decode()
    marker = "Package: base-passwd\nEssential: yes\nStatus: install ok installed\n"
    assert marker in status
    debian.write("/var/lib/dpkg/status", status.replace(marker, marker.replace("installed", "half-configured")))
    done = debian.chroot("dpkg", "--audit")
    assert "base-passwd" in done.stdout    # dpkg itself agrees
    code, out, err = debian.guestprep("check", "--items", "package_manager", "--format", "json")
    result = [r for r in json.loads(out)["results"] if r["id"] == "package_manager"][0]
    assert result["status"] == "FAIL" and "base-passwd (half-configured)" in result["summary"], result
    # The package step (remove qemu-guest-agent, which the root has) is refused with that
    # reason; the file fix applies.
    debian.write("/etc/adjtime", "0.0 0 0.0\n0\nLOCAL\n")
    code, out, err = debian.guestprep("plan", "--items", "qemu-ga,rtc", "--format", "json")
    plans = dict((p["id"], p) for p in json.loads(out)["plans"])
    assert plans["qemu_ga"]["steps"] == [] and "refused" in plans["qemu_ga"]["skipped"], plans["qemu_ga"]
    assert "base-passwd (half-configured)" in plans["qemu_ga"]["skipped"]
    assert plans["rtc"]["steps"], plans["rtc"]
    code, out, err = debian.guestprep("fix", "--items", "qemu-ga,rtc", "--yes", "--format", "json")
    outcomes = dict((o["id"], o) for o in json.loads(out)["outcomes"])
    assert outcomes["rtc"]["outcome"] == "FIXED" and b"UTC" in debian.read("/etc/adjtime")
    assert outcomes["qemu_ga"]["outcome"] == "SKIPPED" and "half-configured" in outcomes["qemu_ga"]["message"]
