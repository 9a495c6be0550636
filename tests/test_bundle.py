"""The support bundle (issue 15): everything a helper needs, no secret of the image."""
import json
import os
import tarfile

import pytest

from agent.output import cli

SECRETS = {
    "nm-psk": "wifi-psk-9f3a1c",
    "nm-8021x": "eap-password-77d0",
    "netplan-wifi": "netplan-wifi-pass-51e2",
    "eni-wpa": "eni-wpa-psk-0b9d",
    "ifcfg-wpa": "ifcfg-wpa-key-3c44",
    "shadow-hash": "$6$saltsalt$notarealhashbutsecretlooking0123456789",
    "host-key": "AAAAhostprivatekeymaterial4242",
    "history": "mysql -u root -pHistoryPassword33",
    "user-data": "chpasswd-userdata-pass-88",
    "backup": "backup-copy-of-shadow-61",
}


@pytest.fixture
def image(tmp_path):
    root = tmp_path / "image"

    def write(path, text, mode=0o644):
        host = root / path.lstrip("/")
        host.parent.mkdir(parents=True, exist_ok=True)
        host.write_text(text)
        os.chmod(str(host), mode)
    write("/etc/os-release", 'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12"\n')
    write("/usr/bin/true", "")
    write("/var/lib/dpkg/status", "Package: cloud-init\nStatus: install ok installed\nVersion: 22.4.2-1\n")
    write("/etc/selinux/config", "SELINUX=enforcing\n")
    write("/etc/NetworkManager/system-connections/wifi.nmconnection",
          "[connection]\nid=wifi\ntype=wifi\ninterface-name=wlan0\n\n[wifi-security]\nkey-mgmt=wpa-psk\n"
          "psk={}\n\n[802-1x]\npassword={}\n\n[ipv4]\nmethod=manual\naddress1=10.0.0.5/24\n".format(
              SECRETS["nm-psk"], SECRETS["nm-8021x"]), 0o600)
    write("/etc/netplan/50-wifi.yaml",
          "network:\n  version: 2\n  wifis:\n    wlan0:\n      addresses: [10.0.1.5/24]\n      access-points:\n"
          "        home:\n          password: {}\n".format(SECRETS["netplan-wifi"]), 0o600)
    write("/etc/network/interfaces", "auto wlan0\niface wlan0 inet static\n    address 10.0.2.5/24\n"
          "    wpa-ssid home\n    wpa-psk {}\n".format(SECRETS["eni-wpa"]))
    write("/etc/sysconfig/network-scripts/ifcfg-wlan0", "DEVICE=wlan0\nBOOTPROTO=none\nIPADDR=10.0.3.5\n"
          "WPA_PSK={}\n".format(SECRETS["ifcfg-wpa"]))
    write("/etc/shadow", "root:{}:19000:0:99999:7:::\n".format(SECRETS["shadow-hash"]), 0o640)
    write("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n")
    write("/etc/ssh/ssh_host_ed25519_key", "-----BEGIN OPENSSH PRIVATE KEY-----\n{}\n"
          "-----END OPENSSH PRIVATE KEY-----\n".format(SECRETS["host-key"]), 0o600)
    write("/etc/ssh/ssh_host_ed25519_key.pub", "ssh-ed25519 AAAApublic root@build\n")
    write("/root/.bash_history", SECRETS["history"] + "\n", 0o600)
    write("/var/lib/cloud/instance/user-data.txt", "#cloud-config\npassword: {}\n".format(SECRETS["user-data"]))
    write("/var/lib/guestprep/runs/20260101T000000Z-abcd/backups/1", SECRETS["backup"] + "\n", 0o600)
    return root


def test_the_bundle_holds_report_plan_and_files_read_and_no_secret(image, tmp_path, capsys):
    out = tmp_path / "bundle.tar.gz"
    code = cli.main(["bundle", "--root", str(image), "-o", str(out)])
    text = capsys.readouterr()[0]
    assert code == 0 and "Wrote" in text
    assert oct(os.stat(str(out)).st_mode & 0o777) == "0o600"
    with tarfile.open(str(out)) as tar:
        names = tar.getnames()
        contents = dict((m.name, tar.extractfile(m).read()) for m in tar.getmembers() if m.isfile())
    assert {"report.json", "plan.json", "MANIFEST.json"} <= set(names)
    assert json.loads(contents["report.json"].decode())["command"] == "check"
    manifest = json.loads(contents["MANIFEST.json"].decode())
    sources = set(f.get("source") for f in manifest["files"])
    # What the checks read is there, masked where a line carries a secret.
    assert {"/etc/selinux/config", "/etc/os-release", "/etc/NetworkManager/system-connections/wifi.nmconnection",
            "/etc/netplan/50-wifi.yaml", "/etc/network/interfaces"} <= sources
    nm = contents["files/etc/NetworkManager/system-connections/wifi.nmconnection"].decode()
    assert "psk=********" in nm and "address1=10.0.0.5/24" in nm
    left_out = dict((f["path"], f["why"]) for f in manifest["left_out"])
    assert "/etc/shadow" in left_out and "files/etc/shadow" not in names
    everything = b"".join(contents.values())
    for kind, secret in SECRETS.items():
        assert secret.encode() not in everything, kind
