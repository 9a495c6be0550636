"""Plan files on the real Debian root (issue 15): plan to a file, change one file and
`fix --plan` refuses and changes nothing; unchanged, it applies, and the result equals a
plain `fix` of a twin root."""
import hashlib
import os
import shutil
import subprocess

from e2e.test_debian_root import TOUCHED, put_defects


def digest(debian):
    """Every file under etc/ and boot/: content, mode and owner."""
    found = {}
    for top in ("etc", "boot"):
        for base, dirs, files in os.walk(debian.p("/" + top)):
            for name in files:
                path = os.path.join(base, name)
                st = os.lstat(path)
                data = os.readlink(path).encode() if os.path.islink(path) else open(path, "rb").read()
                found[os.path.relpath(path, debian.path)] = (hashlib.sha256(data).hexdigest(), st.st_mode,
                                                             st.st_uid, st.st_gid)
    return found


def test_plan_file_refuses_drift_and_applies_exactly(debian, tmp_path):
    put_defects(debian)
    items = "selinux,rtc,fstab,dhcp"
    plan = str(tmp_path / "plan.json")
    code, _out, err = debian.guestprep("plan", "--items", items, "--out", plan)
    assert os.path.isfile(plan), err
    # Drift: someone edits /etc/adjtime after the review.
    saved = debian.read("/etc/adjtime")
    debian.write("/etc/adjtime", "0.0 0 0.0\n0\nLOCAL\n# edited after the review\n")
    before = digest(debian)
    code, _out, err = debian.guestprep("fix", "--plan", plan)
    assert code == 3 and "/etc/adjtime changed since the plan" in err, err
    assert digest(debian) == before
    # Put back as reviewed: the plan applies, exactly like a plain fix of a twin root.
    debian.write("/etc/adjtime", saved.decode())
    twin = tmp_path / "twin"
    subprocess.check_call(["cp", "-a", debian.path, str(twin)])
    code, out, err = debian.guestprep("fix", "--plan", plan)
    assert code in (0, 3) and "FIXED" in out, err
    code, out, err = type(debian)(str(twin)).guestprep("fix", "--items", items, "--yes")
    assert "FIXED" in out, err
    for path in TOUCHED:
        assert debian.read(path) == open(str(twin) + path, "rb").read(), path
    subprocess.call(["chattr", "-R", "-i", str(twin)], stderr=subprocess.DEVNULL)
    shutil.rmtree(str(twin))
