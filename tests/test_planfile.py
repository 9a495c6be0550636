"""Plan files (issue 15): `plan --out FILE`, reviewed, then `fix --plan FILE` applies exactly
that plan, or refuses and changes nothing when the target drifted."""
import json
import os
import shutil

import pytest

from agent.output import cli

from agent.core import planfile

SELINUX_ENFORCING = "SELINUX=enforcing\nSELINUXTYPE=targeted\n"
NM_STATIC = ("[connection]\nid=wired\ntype=ethernet\ninterface-name=eth0\n\n[wifi-security]\n"
             "psk=hunter2-wifi-secret\n\n[ipv4]\nmethod=manual\naddress1=192.168.10.5/24,192.168.10.1\n")


@pytest.fixture
def image(tmp_path):
    root = tmp_path / "image"
    for d in ("etc/selinux", "usr/bin", "var/lib/dpkg", "etc/NetworkManager/system-connections"):
        (root / d).mkdir(parents=True)
    (root / "etc/os-release").write_text('ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12"\n')
    (root / "etc/selinux/config").write_text(SELINUX_ENFORCING)
    (root / "etc/adjtime").write_text("0.0 0 0.0\n0\nLOCAL\n")
    conn = root / "etc/NetworkManager/system-connections/wired.nmconnection"
    conn.write_text(NM_STATIC)
    os.chmod(str(conn), 0o600)
    (root / "var/lib/dpkg/status").write_text(
        "Package: cloud-init\nStatus: install ok installed\nVersion: 22.4.2-1\n")
    return root


def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def tree(root):
    found = {}
    for top, dirs, files in os.walk(str(root)):
        dirs[:] = [d for d in dirs if d != "guestprep"]
        for name in files:
            path = os.path.join(top, name)
            with open(path, "rb") as handle:
                found[os.path.relpath(path, str(root))] = (handle.read(), os.stat(path).st_mode)
    return found


def test_a_reviewed_plan_applies_exactly_and_equals_a_plain_fix(image, capsys, tmp_path):
    twin = tmp_path / "twin"
    shutil.copytree(str(image), str(twin))
    plan = tmp_path / "plan.json"
    code, _out, err = run(capsys, "plan", "--root", str(image), "--items", "selinux,rtc,dhcp", "--out", str(plan))
    assert plan.exists() and oct(os.stat(str(plan)).st_mode & 0o777) == "0o600"
    assert "fix --root {} --plan {}".format(image, plan) in err
    doc = json.loads(plan.read_text())
    assert doc["items"] == ["selinux", "rtc", "dhcp"] and doc["root"] == os.path.realpath(str(image))
    # Hashes only: no content, and no secret of the connection it rewrites.
    assert "hunter2" not in plan.read_text() and "SELINUX=disabled" not in plan.read_text()
    code, out, err = run(capsys, "fix", "--root", str(image), "--plan", str(plan))
    assert code in (0, 3), err
    assert "SELINUX=disabled" in (image / "etc/selinux/config").read_text()
    run(capsys, "fix", "--root", str(twin), "--items", "selinux,rtc,dhcp", "--yes")
    assert tree(image) == tree(twin)


@pytest.mark.parametrize("change, named", [
    (lambda root: (root / "etc/selinux/config").write_text("SELINUX=enforcing\n# edited\n"),
     "/etc/selinux/config changed since the plan (content)"),
    (lambda root: os.chmod(str(root / "etc/adjtime"), 0o600), "/etc/adjtime changed since the plan (mode 644 -> 600)"),
    (lambda root: (root / "etc/NetworkManager/system-connections/wired.nmconnection").unlink(), "dhcp: planned, but"),
    (lambda root: (root / "var/lib/dpkg/status").write_text(
        "Package: cloud-init\nStatus: install ok installed\nVersion: 23.1-1\n"), "the installed packages changed"),
])
def test_drift_is_refused_naming_what_changed_and_nothing_changes(image, capsys, tmp_path, change, named):
    plan = tmp_path / "plan.json"
    run(capsys, "plan", "--root", str(image), "--items", "selinux,rtc,dhcp", "--out", str(plan))
    change(image)
    before = tree(image)
    code, out, err = run(capsys, "fix", "--root", str(image), "--plan", str(plan))
    assert code == 3 and "no longer matches the target; nothing was changed" in err
    assert named in err
    assert tree(image) == before
    assert not (image / "var/lib/guestprep/runs").exists() or os.listdir(str(image / "var/lib/guestprep/runs")) == []


def test_a_plan_for_another_root_or_version_or_not_a_plan_is_refused(image, capsys, tmp_path):
    plan = tmp_path / "plan.json"
    run(capsys, "plan", "--root", str(image), "--items", "selinux", "--out", str(plan))
    other = tmp_path / "other"
    shutil.copytree(str(image), str(other))
    code, _out, err = run(capsys, "fix", "--root", str(other), "--plan", str(plan))
    assert code == 2 and "made for the root {}".format(os.path.realpath(str(image))) in err
    doc = json.loads(plan.read_text())
    doc["guestprep_version"] = "0.0.1"
    plan.write_text(json.dumps(doc))
    code, _out, err = run(capsys, "fix", "--root", str(image), "--plan", str(plan))
    assert code == 2 and "made by guestprep 0.0.1" in err
    plan.write_text('{"hello": 1}')
    code, _out, err = run(capsys, "fix", "--root", str(image), "--plan", str(plan))
    assert code == 2 and "not a guestprep plan" in err
    code, _out, err = run(capsys, "fix", "--root", str(image), "--plan", str(plan), "--items", "rtc")
    assert code == 2 and "leave out --items" in err
    assert "SELINUX=enforcing" in (image / "etc/selinux/config").read_text()
