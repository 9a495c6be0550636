"""guestprep against a real Debian root: defects put in with the distribution's own tools
where one exists (nmcli --offline, netplan set, chattr, dpkg --purge), then check, fix,
idempotence and a byte-for-byte rollback, all through the CLI as a user runs it."""
import hashlib
import json
import os
import stat

NM_KEYFILE = "/etc/NetworkManager/system-connections/eth0.nmconnection"
ENI_STATIC = """\
auto eth0
iface eth0 inet static
    address 192.168.10.5/24
    gateway 192.168.10.1
    dns-nameservers 192.168.10.1
"""
NETWORKD_STATIC = """\
[Match]
Name=eth0

[Network]
Address=192.168.10.5/24
Gateway=192.168.10.1
DNS=192.168.10.1
"""
SELINUX_ENFORCING = "# set by the test\nSELINUX=enforcing\nSELINUXTYPE=default\n"
FSTAB = """\
# /etc/fstab: static file system information.
UUID=2f5c8e1a-3d4b-4f6e-9a1b-7c8d9e0f1a2b /               ext4    errors=remount-ro 0       1
UUID=6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d none            swap    sw              0       0
/dev/vdb1       /data           ext4    defaults        0       2
"""
ADJTIME_LOCAL = "0.0 0 0.0\n0\nLOCAL\n"

TOUCHED = ("/etc/network/interfaces.d/eth0", "/etc/netplan/60-static.yaml", NM_KEYFILE,
           "/etc/systemd/network/10-eth0.network", "/etc/selinux/config", "/etc/fstab", "/etc/adjtime")


def results_by_id(stdout):
    data = json.loads(stdout)
    assert data["format_version"] == 1
    return dict((r["id"], r) for r in data["results"]), data


def snapshot(debian, paths):
    found = {}
    for path in paths:
        host = debian.p(path)
        st = os.lstat(host)
        found[path] = (hashlib.sha256(debian.read(path)).hexdigest(), stat.S_IMODE(st.st_mode),
                       st.st_uid, st.st_gid)
    return found


def put_defects(debian):
    done = debian.chroot("nmcli", "--offline", "connection", "add", "type", "ethernet", "ifname", "eth0",
                         "con-name", "eth0", "ipv4.method", "manual", "ipv4.addresses", "192.168.10.5/24",
                         "ipv4.gateway", "192.168.10.1")
    assert done.returncode == 0, done.stderr
    debian.write(NM_KEYFILE, done.stdout, mode=0o600)
    for setting in ("ethernets.eth0.addresses=[192.168.10.5/24]",
                    "ethernets.eth0.routes=[{to: default, via: 192.168.10.1}]"):
        done = debian.chroot("netplan", "set", "--origin-hint", "60-static", setting)
        assert done.returncode == 0, done.stderr
    debian.write("/etc/network/interfaces.d/eth0", ENI_STATIC)
    debian.write("/etc/systemd/network/10-eth0.network", NETWORKD_STATIC)
    debian.write("/etc/selinux/config", SELINUX_ENFORCING)
    debian.write("/etc/fstab", FSTAB)
    debian.write("/etc/adjtime", ADJTIME_LOCAL)
    assert os.system("chattr +i " + debian.p("/etc/shadow")) == 0


def test_defects_are_found_fixed_once_and_rolled_back_byte_for_byte(debian):
    put_defects(debian)
    before = snapshot(debian, TOUCHED)

    code, out, err = debian.guestprep("check", "--format", "json")
    assert code == 3, err
    results, data = results_by_id(out)
    assert data["os"]["id"] == "debian" and data["live"] is False
    for check_id in ("selinux", "dhcp", "fstab", "shadow", "rtc", "qemu_ga"):
        assert results[check_id]["status"] == "FAIL", results[check_id]
    assert "/data" in results["fstab"]["summary"]
    assert "eth0" in results["dhcp"]["summary"]

    # plan writes nothing
    code, out, err = debian.guestprep("plan", "--items", "selinux,dhcp,fstab,shadow,rtc")
    assert "SELINUX=disabled" in out and "chattr -i" in out
    assert snapshot(debian, TOUCHED) == before
    assert debian.lsattr("/etc/shadow")[4] == "i"

    # the default fix applies the reversible items only: qemu-ga stays until named
    code, out, err = debian.guestprep("fix", "--yes", "--format", "json")
    data = json.loads(out)
    outcomes = dict((o["id"], o["outcome"]) for o in data["outcomes"])
    for check_id in ("selinux", "dhcp", "fstab", "shadow", "rtc"):
        assert outcomes[check_id] == "FIXED", data["outcomes"]
    assert "qemu_ga" not in outcomes
    run_id = data["run_id"]

    code, out, err = debian.guestprep("check", "--format", "json")
    results, _ = results_by_id(out)
    for check_id in ("selinux", "dhcp", "fstab", "shadow", "rtc"):
        assert results[check_id]["status"] in ("PASS", "INFO", "WARN"), results[check_id]
    assert results["qemu_ga"]["status"] == "FAIL"
    assert debian.lsattr("/etc/shadow")[4] == "-"
    assert b"SELINUX=disabled" in debian.read("/etc/selinux/config")
    assert b"# guestprep disabled: /dev/vdb1" in debian.read("/etc/fstab")
    assert b"iface eth0 inet dhcp" in debian.read("/etc/network/interfaces.d/eth0")
    assert stat.S_IMODE(os.stat(debian.p(NM_KEYFILE)).st_mode) == 0o600
    # netplan itself accepts what guestprep wrote
    done = debian.chroot("netplan", "get", "ethernets.eth0")
    assert done.returncode == 0 and "dhcp4: true" in done.stdout, done.stdout + done.stderr

    # a second fix changes nothing and records no run
    code, out, err = debian.guestprep("fix", "--yes", "--format", "json")
    assert json.loads(out)["run_id"] is None
    after_fix = snapshot(debian, TOUCHED)

    code, out, err = debian.guestprep("rollback")
    assert code == 0, out + err
    assert "Rolled back run " + run_id in out
    assert snapshot(debian, TOUCHED) == before
    assert debian.lsattr("/etc/shadow")[4] == "i"
    assert after_fix != before

    # nothing left to roll back; a named rolled-back run is refused clearly
    code, out, err = debian.guestprep("rollback")
    assert code == 0 and "Nothing to roll back" in out
    code, out, err = debian.guestprep("rollback", "--run", run_id)
    assert code == 2 and "already rolled back" in err


def test_package_items_use_the_roots_own_package_manager(debian):
    done = debian.chroot("dpkg", "--purge", "cloud-guest-utils")
    assert done.returncode == 0, done.stderr
    code, out, err = debian.guestprep("check", "--format", "json", "--items", "qemu-ga,growpart")
    results, _ = results_by_id(out)
    assert results["qemu_ga"]["status"] == "FAIL"
    assert results["growpart"]["status"] == "FAIL"

    code, out, err = debian.guestprep("plan", "--items", "qemu-ga")
    assert "IRREVERSIBLE" in out and "chroot " + debian.path in out    # the undo hint a person types
    assert "(runs the image's apt-get inside systemd-nspawn, network on)" in out

    code, out, err = debian.guestprep("fix", "--yes", "--items", "qemu-ga,growpart", "--format", "json")
    outcomes = dict((o["id"], o["outcome"]) for o in json.loads(out)["outcomes"])
    assert outcomes == {"qemu_ga": "FIXED", "growpart": "FIXED"}, out + err
    assert debian.chroot("dpkg", "-s", "qemu-guest-agent").returncode != 0
    assert debian.chroot("dpkg", "-s", "cloud-guest-utils").returncode == 0

    # rollback cannot reinstall a package: it says so and what to run
    code, out, err = debian.guestprep("rollback")
    assert "irreversible" in out and "apt-get install" in out


def test_a_symlink_leaving_the_root_is_not_followed_to_the_host(debian, tmp_path):
    outside = tmp_path / "host-fstab"
    outside.write_text("/dev/sdz9 /host-only-marker ext4 defaults 0 2\n")
    os.remove(debian.p("/etc/fstab"))
    os.symlink(str(outside), debian.p("/etc/fstab"))
    code, out, err = debian.guestprep("check", "--format", "json", "--items", "fstab")
    assert "Traceback" not in err
    assert "host-only-marker" not in out
    results, _ = results_by_id(out)
    assert results["fstab"]["status"] in ("WARN", "ERROR", "FAIL", "INFO")


def test_check_of_the_base_root_is_readable_text(debian):
    code, out, err = debian.guestprep("check")
    assert "Traceback" not in err
    assert "qemu-ga" in out and "FAIL" in out
    assert code == 3
