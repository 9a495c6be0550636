"""firewall and critical-files on a real Debian root.

firewall: nftables enabled with `systemctl enable` in the chroot and the ruleset Debian ships
as its workstation example; ufw enabled with `ufw --force enable` itself. ufw loads its rules
into the kernel as it enables, so it runs in a private network namespace (`unshare --net`):
in a bare chroot it would load them into this machine's firewall. Then check, plan, fix,
`systemctl is-enabled` and ufw's own boot script, a second fix, and a rollback that puts
every link and byte back.

critical-files: /etc/issue edited, made a symlink, and /etc/os-release edited with `sed -i`
(which replaces base-files' link with a file); fix reinstalls base-files with the root's
own apt from the Debian mirror; rollback returns the edits; with the mirror unreachable the
fix fails and the edit comes back. An absolute /lib link is found and the hint's command
mends it.
"""
import glob
import hashlib
import json
import os
import shutil
import stat
import subprocess

import pytest

NFT_WANTS = "/etc/systemd/system/sysinit.target.wants/nftables.service"
UFW_CONF = "/etc/ufw/ufw.conf"
FIREWALL_TREES = ("/etc/systemd", "/etc/ufw", "/etc/nftables.conf")


def entry(debian, path):
    """What a path is, exactly: a link's target, a file's bytes; mode and owner; None if absent."""
    try:
        st = os.lstat(debian.p(path))
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(st.st_mode):
        return ("link", os.readlink(debian.p(path)), st.st_uid, st.st_gid)
    if stat.S_ISDIR(st.st_mode):
        return ("dir", stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
    return ("file", hashlib.sha256(debian.read(path)).hexdigest(), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)


def tree(debian, tops):
    found = {}
    for top in tops:
        found[top] = entry(debian, top)
        for dirpath, dirs, files in os.walk(debian.p(top)):
            for name in dirs + files:
                path = os.path.join(dirpath, name)[len(debian.path):]
                found[path] = entry(debian, path)
    return found


def in_netns(debian, script):
    """Run a shell script with $R the root, in a network namespace of its own."""
    return subprocess.run(["unshare", "--net", "sh", "-c", script, "sh", debian.path], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True,
                          env=dict(os.environ, LC_ALL="C", DEBIAN_FRONTEND="noninteractive"))


def ufw_boot(debian):
    """What ufw's boot script does (ufw.service's ExecStart) and the INPUT policy it leaves."""
    done = in_netns(debian, 'chroot "$1" /lib/ufw/ufw-init start; chroot "$1" iptables -S INPUT')
    assert done.returncode == 0, done.stderr
    return done.stdout


def is_enabled(debian, unit):
    return debian.chroot("systemctl", "is-enabled", unit).stdout.strip()


def results(stdout):
    return dict((r["id"], r) for r in json.loads(stdout)["results"])


@pytest.fixture
def netns():
    if not shutil.which("unshare") or subprocess.call(["unshare", "--net", "true"]) != 0:
        pytest.skip("needs unshare --net: ufw must not load rules into this machine's firewall")


def enable_firewalls(debian):
    done = debian.chroot("systemctl", "enable", "nftables.service")
    assert done.returncode == 0, done.stderr
    # Debian's own example ruleset: a catch-all drop, the line for port 22 commented out.
    shutil.copyfile(debian.p("/usr/share/doc/nftables/examples/workstation.nft"), debian.p("/etc/nftables.conf"))
    done = in_netns(debian, 'chroot "$1" nft -c -f /etc/nftables.conf')
    assert done.returncode == 0, done.stderr
    done = in_netns(debian, 'chroot "$1" ufw --force enable')
    assert done.returncode == 0 and "enabled on system startup" in done.stdout, done.stdout + done.stderr


def test_firewalls_enabled_by_their_own_tools_are_disabled_once_and_rolled_back(debian, netns):
    assert is_enabled(debian, "nftables.service") == "disabled"
    enable_firewalls(debian)
    assert is_enabled(debian, "nftables.service") == "enabled"
    assert b"\nENABLED=yes\n" in debian.read(UFW_CONF)
    assert "-P INPUT DROP" in ufw_boot(debian)
    before = tree(debian, FIREWALL_TREES)
    conf = debian.read(UFW_CONF)

    code, out, err = debian.guestprep("check", "--items", "firewall", "--format", "json")
    firewall = results(out)["firewall"]
    assert code == 3 and firewall["status"] == "FAIL", firewall
    assert "nftables starts at boot; port 22: a catch-all 'counter drop'" in firewall["summary"]
    assert "ufw starts at boot; port 22: the default incoming policy is DROP" in firewall["summary"]
    assert firewall["paths"] == [NFT_WANTS, UFW_CONF]

    code, out, err = debian.guestprep("plan", "--items", "firewall")
    assert "$ rm " + debian.p(NFT_WANTS) in out
    assert "-ENABLED=yes\n+ENABLED=no\n" in out
    assert tree(debian, FIREWALL_TREES) == before

    code, out, err = debian.guestprep("fix", "--items", "firewall", "--yes", "--format", "json")
    data = json.loads(out)
    assert code == 0 and [(o["id"], o["outcome"]) for o in data["outcomes"]] == [("firewall", "FIXED")], out + err
    run_id = data["run_id"]
    assert entry(debian, NFT_WANTS) is None
    assert is_enabled(debian, "nftables.service") == "disabled"
    # Nothing left for systemctl itself to remove.
    done = debian.chroot("systemctl", "disable", "nftables.service")
    assert done.returncode == 0 and "Removed" not in done.stdout + done.stderr, done.stdout + done.stderr
    # Only the ENABLED line changed, and ufw's boot script now skips.
    assert debian.read(UFW_CONF) == conf.replace(b"\nENABLED=yes\n", b"\nENABLED=no\n")
    assert entry(debian, UFW_CONF)[2:] == before[UFW_CONF][2:]
    boot = ufw_boot(debian)
    assert "Skip starting firewall: ufw (not enabled)" in boot and "-P INPUT ACCEPT" in boot
    now = tree(debian, FIREWALL_TREES)
    changed = sorted(p for p in set(before) | set(now) if before.get(p) != now.get(p))
    assert changed == [NFT_WANTS, UFW_CONF], changed

    code, out, err = debian.guestprep("check", "--items", "firewall", "--format", "json")
    assert code == 0 and results(out)["firewall"]["summary"] == \
        "no firewall starts at boot (nftables, ufw installed but not enabled)"

    after_fix = tree(debian, FIREWALL_TREES)
    code, out, err = debian.guestprep("fix", "--items", "firewall", "--yes", "--format", "json")
    assert code == 0 and json.loads(out)["run_id"] is None, out + err
    assert tree(debian, FIREWALL_TREES) == after_fix

    code, out, err = debian.guestprep("rollback")
    assert code == 0 and "Rolled back run " + run_id in out, out + err
    assert tree(debian, FIREWALL_TREES) == before
    assert entry(debian, NFT_WANTS) == ("link", "/lib/systemd/system/nftables.service", 0, 0)
    assert is_enabled(debian, "nftables.service") == "enabled"
    assert "-P INPUT DROP" in ufw_boot(debian)
    code, out, err = debian.guestprep("check", "--items", "firewall", "--format", "json")
    assert code == 3 and results(out)["firewall"]["status"] == "FAIL"


def test_ufw_rule_for_ssh_on_eth0_counts_as_open(debian, netns):
    done = in_netns(debian, 'chroot "$1" ufw --force enable && '
                            'chroot "$1" ufw allow in on eth0 to any port 22 proto tcp')
    assert done.returncode == 0, done.stdout + done.stderr
    assert "in_eth0" in debian.read("/etc/ufw/user.rules").decode()
    code, out, err = debian.guestprep("check", "--items", "firewall", "--format", "json")
    firewall = results(out)["firewall"]
    assert code == 0 and firewall["status"] == "WARN", firewall
    assert "ufw starts at boot; port 22: a rule allows port 22 on eth0 only" in firewall["summary"]


# -- critical-files --------------------------------------------------------------------

def conffile_md5(debian, path):
    status = debian.read("/var/lib/dpkg/status").decode()
    for line in status.splitlines():
        words = line.split()
        if line.startswith(" ") and words[0] == path:
            return words[1]
    raise AssertionError(path + " is not a conffile")


def base_files(debian):
    """Every regular file base-files ships, as it is now."""
    listed = debian.read("/var/lib/dpkg/info/base-files.list").decode().splitlines()
    return dict((p, entry(debian, p)) for p in listed if p != "/." and os.path.isfile(debian.p(p)))


def version(debian, package):
    return debian.chroot("dpkg-query", "-W", "-f", "${Version}", package).stdout


def test_changed_issue_is_restored_from_base_files_and_rollback_returns_the_edit(debian):
    package_bytes = debian.read("/etc/issue")
    assert hashlib.md5(package_bytes).hexdigest() == conffile_md5(debian, "/etc/issue")
    with open(debian.p("/etc/issue"), "ab") as handle:
        handle.write(b"Property of ACME. Authorized users only.\n")
    edited = entry(debian, "/etc/issue")
    installed = version(debian, "base-files")
    assert "c /etc/issue" in debian.chroot("dpkg", "--verify", "base-files").stdout

    code, out, err = debian.guestprep("check", "--items", "critical-files", "--format", "json")
    result = results(out)["critical_files"]
    assert code == 3 and result["status"] == "FAIL", result
    assert result["summary"] == "/etc/issue differs from package base-files"
    assert result["paths"] == ["/etc/issue"]

    code, out, err = debian.guestprep("plan", "--format", "json")
    assert "critical_files" not in [p["id"] for p in json.loads(out)["plans"]]    # irreversible: named only
    code, out, err = debian.guestprep("plan", "--items", "critical-files")
    assert "IRREVERSIBLE" in out and "$ rm " + debian.p("/etc/issue") in out
    assert "apt-get install --reinstall -y -o Dpkg::Options::=--force-confmiss base-files=" + installed in out
    assert entry(debian, "/etc/issue") == edited
    others = base_files(debian)

    code, out, err = debian.guestprep("fix", "--items", "critical-files", "--yes", "--format", "json")
    data = json.loads(out)
    assert code == 0 and [o["outcome"] for o in data["outcomes"]] == ["FIXED"], out + err
    assert debian.read("/etc/issue") == package_bytes
    assert entry(debian, "/etc/issue")[2:] == edited[2:]
    assert debian.chroot("dpkg", "--verify", "base-files").stdout == ""
    assert version(debian, "base-files") == installed
    assert glob.glob(debian.p("/etc/issue.dpkg-*")) == []
    assert base_files(debian) == dict(others, **{"/etc/issue": entry(debian, "/etc/issue")})

    code, out, err = debian.guestprep("fix", "--items", "critical-files", "--yes", "--format", "json")
    assert code == 0 and json.loads(out)["run_id"] is None

    # README: the reinstall is irreversible, the files it rewrote come back.
    code, out, err = debian.guestprep("rollback")
    assert code == 0 and "Rolled back run " + data["run_id"] in out, out + err
    assert "irreversible" in out and "apt-get update" in out
    assert entry(debian, "/etc/issue") == edited
    code, out, err = debian.guestprep("check", "--items", "critical-files", "--format", "json")
    assert code == 3 and results(out)["critical_files"]["summary"] == "/etc/issue differs from package base-files"


def test_issue_made_a_link_and_os_release_edited_with_sed(debian):
    package_issue = debian.read("/etc/issue")
    package_os_release = debian.read("/usr/lib/os-release")
    debian.write("/etc/issue.acme", "ACME build host\n")
    os.remove(debian.p("/etc/issue"))
    os.symlink("issue.acme", debian.p("/etc/issue"))
    done = debian.chroot("sed", "-i", "s/^PRETTY_NAME=.*/PRETTY_NAME=\"ACME Linux\"/", "/etc/os-release")
    assert done.returncode == 0 and not os.path.islink(debian.p("/etc/os-release"))
    touched = ("/etc/issue", "/etc/issue.acme", "/etc/os-release", "/usr/lib/os-release")
    before = dict((p, entry(debian, p)) for p in touched)

    code, out, err = debian.guestprep("check", "--items", "critical-files", "--format", "json")
    result = results(out)["critical_files"]
    assert code == 3 and result["summary"] == (
        "/etc/issue differs from package base-files (a symlink to issue.acme); /etc/os-release differs from "
        "package base-files (a regular file where the package has a symbolic link)"), result

    code, out, err = debian.guestprep("fix", "--items", "critical-files", "--yes", "--format", "json")
    assert code == 0 and [o["outcome"] for o in json.loads(out)["outcomes"]] == ["FIXED"], out + err
    assert entry(debian, "/etc/issue")[0] == "file" and debian.read("/etc/issue") == package_issue
    assert entry(debian, "/etc/os-release")[:2] == ("link", "../usr/lib/os-release")
    assert debian.read("/usr/lib/os-release") == package_os_release
    assert entry(debian, "/etc/issue.acme") == before["/etc/issue.acme"]

    code, out, err = debian.guestprep("rollback")
    assert code == 0, out + err
    assert dict((p, entry(debian, p)) for p in touched) == before


def test_when_the_package_cannot_be_downloaded_the_fix_fails_and_the_edit_comes_back(debian):
    # apt-get exits 0 here, having done nothing ("Reinstallation of base-files is not possible").
    debian.write("/etc/apt/sources.list", "deb http://127.0.0.1:9/debian bookworm main\n")
    with open(debian.p("/etc/issue"), "ab") as handle:
        handle.write(b"edited\n")
    edited = entry(debian, "/etc/issue")
    code, out, err = debian.guestprep("fix", "--items", "critical-files", "--yes", "--format", "json")
    outcomes = json.loads(out)["outcomes"]
    assert code == 4 and [o["outcome"] for o in outcomes] == ["ROLLED BACK"], out + err
    assert "cannot access '/etc/issue'" in outcomes[0]["message"]
    assert entry(debian, "/etc/issue") == edited


def test_absolute_lib_link_is_found_and_the_hint_mends_it(debian):
    assert os.readlink(debian.p("/lib")) == "usr/lib"
    os.remove(debian.p("/lib"))
    os.symlink("/usr/lib", debian.p("/lib"))
    assert debian.chroot("/bin/true").returncode == 0     # the guest itself still runs
    code, out, err = debian.guestprep("check", "--items", "critical-files", "--format", "json")
    result = results(out)["critical_files"]
    assert code == 3 and result["summary"] == "/lib -> /usr/lib is an absolute symlink", result
    assert result["commands"] == ["ln -sfn usr/lib {}/lib".format(debian.path)]
    code, out, err = debian.guestprep("plan", "--items", "critical-files")
    assert "nothing guestprep can change automatically" in out
    assert subprocess.call(result["commands"][0], shell=True) == 0
    assert os.readlink(debian.p("/lib")) == "usr/lib"
    code, out, err = debian.guestprep("check", "--items", "critical-files", "--format", "json")
    assert code == 0 and results(out)["critical_files"]["status"] == "PASS"
