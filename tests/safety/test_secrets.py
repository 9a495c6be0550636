"""No report, log, plan or journal index holds a password hash or private key material.

Recognisable fake hashes go into /etc/shadow and /etc/gshadow, fake private keys into
/etc/ssh/ssh_host_rsa_key and root's ~/.ssh; every command runs in every format it has;
its output, the log file and every journal index are searched. Backups (which may hold
such files) must be mode 0600 in 0700 directories, even under umask 000, and `clean`
removes them with a warning that rollback is then gone.
"""
import json
import os
import stat
import subprocess
import sys

import pytest

import safetylib
from safetylib import guestprep

from agent.output import report

HASHES = ("$6$gpFAKEsalt01$Q9xW3fakeHASHvalueNOTrealAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
          "$y$j9T$gpFAKEyescrypt$fakeYESCRYPThashNOTrealBBBBBBBBBBBBBBBBBB",
          "$1$gpFAKEmd$fakeMD5hashCCCCCCCCC")
KEY_BODY = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQgpFAKEkeyMATERIALnotREALdddddddddddd"
PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\n{}\n-----END OPENSSH PRIVATE KEY-----\n".format(KEY_BODY)
RSA_KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAgpFAKErsaKEYmaterialNOTreal\n-----END RSA PRIVATE KEY-----\n"
NEEDLES = HASHES + (KEY_BODY, "MIIEpAIBAAKCAQEAgpFAKErsa", "PRIVATE KEY", "gpFAKE")
NM_KEYFILE = """[connection]
id=eth0
type=ethernet
interface-name=eth0

[802-1x]
eap=peap;
identity=alice
phase2-auth=mschapv2
password=gpFAKEdot1xPASSWORD

[ipv4]
address1=192.168.10.5/24,192.168.10.1
method=manual
"""
NM_SECRET = "gpFAKEdot1xPASSWORD"
# netplan wifi and 802.1x passwords in every YAML form, and ifupdown's wpa-psk, in files
# the DHCP fix rewrites: plan and fix show their diffs, which must not show these.
NETPLAN_WIFI = """network:
  version: 2
  ethernets:
    eth0:
      addresses: [192.168.1.5/24]
      auth: {key-management: 802.1x, method: peap, identity: bob, password: "gpFAKEeapFlow"}
      gateway4: 192.168.1.1
  wifis:
    wlan0:
      dhcp4: true
      access-points:
        "HomeNet":
          password: gpFAKEwifiPlain
        "Corp": {password: 'gpFAKEwifiFlow', mode: infrastructure}
        "Lab":
          "password": gpFAKEwifiQuoted
        "Old":
          password: >-
            gpFAKEwifiBlock
"""
ENI_WPA = ("auto eth0\niface eth0 inet static\n    wpa-psk gpFAKEeniPsk\n    address 192.168.10.5/24\n"
           "    gateway 192.168.10.1\n    wpa-password gpFAKEeniPassword\n")
NETWORK_SECRETS = ("gpFAKEeapFlow", "gpFAKEwifiPlain", "gpFAKEwifiFlow", "gpFAKEwifiQuoted", "gpFAKEwifiBlock",
                   "gpFAKEeniPsk", "gpFAKEeniPassword")

COMMANDS = [("check", fmt) for fmt in ("text", "json", "junit")] + \
           [("plan", fmt) for fmt in ("text", "json", "script")] + \
           [("fix", "text"), ("rollback", "text"), ("fix", "json"), ("rollback", "json"),
            ("fix", "junit"), ("list", "text"), ("list", "json")]


def plant(root):
    safetylib.write(root, "/etc/shadow", "root:{}:19000:0:99999:7:::\nalice:{}:19000:0:99999:7:::\n"
                    "bob:{}:19000::::::\n".format(*HASHES), 0o640)
    safetylib.write(root, "/etc/gshadow", "root:{}::\n".format(HASHES[0]), 0o640)
    safetylib.write(root, "/etc/ssh/ssh_host_rsa_key", RSA_KEY, 0o600)
    safetylib.write(root, "/etc/ssh/ssh_host_ed25519_key", PRIVATE_KEY, 0o600)
    safetylib.write(root, "/root/.ssh/id_rsa", PRIVATE_KEY, 0o600)
    safetylib.write(root, "/root/.ssh/authorized_keys", "ssh-ed25519 AAAAC3Nza root@example\n", 0o600)
    safetylib.write(root, "/etc/NetworkManager/system-connections/eth0.nmconnection", NM_KEYFILE, 0o600)


def assert_clean(text, where):
    for needle in NEEDLES:
        assert needle not in text, "{} contains {!r}".format(where, needle)


def state_files(root):
    state = os.path.join(root, "var/lib/guestprep")
    for dirpath, dirnames, filenames in os.walk(state):
        yield dirpath, True
        for name in filenames:
            yield os.path.join(dirpath, name), False


@pytest.mark.usefixtures("as_root")
def test_no_secret_in_any_output_log_or_journal(mini):
    plant(mini)
    subprocess.check_call(["chattr", "+i", mini + "/etc/shadow"])   # so the shadow fix runs too
    searched = 0
    try:
        for command, fmt in COMMANDS:
            args = [command] + (["--root", mini] if command != "list" else []) + ["--format", fmt]
            if command == "fix":
                args.append("--yes")
            done = guestprep(*args, umask=0)
            where = "guestprep " + " ".join(args)
            assert done.returncode in (0, 3), (where, done)
            if fmt == "script":
                # The script must carry the new file whole, 802.1x password included: it says so.
                assert NM_SECRET in done.out and "keep it private" in done.out and "keep it private" in done.err
                assert_clean(done.out.replace(NM_SECRET, ""), where + " stdout")
            else:
                assert_clean(done.out, where + " stdout")
            if command == "plan" and fmt == "text":
                assert "+password=********" not in done.out and " password=********" in done.out, done.out
            assert_clean(done.err, where + " stderr")
            searched += 1
            for path, is_dir in state_files(mini):
                mode = stat.S_IMODE(os.lstat(path).st_mode)
                if is_dir:
                    assert mode == 0o700, "{} is a directory of mode {:o}".format(path, mode)
                    continue
                if "/backups/" in path:
                    assert mode == 0o600, "backup {} has mode {:o}".format(path, mode)
                    continue
                assert mode & 0o077 == 0 or path.endswith("/lock"), "{} has mode {:o}".format(path, mode)
                with open(path, "rb") as handle:
                    assert_clean(handle.read().decode("utf-8", "replace"), path)
                searched += 1
        backups = [p for p, d in state_files(mini) if "/backups/" in p and not d]
        # the NM keyfile (mode 0600) was backed up, still 0600
        assert any(open(p).read() == NM_KEYFILE for p in backups)
    finally:
        subprocess.call(["chattr", "-i", mini + "/etc/shadow"])
    safetylib.record("secrets", {"outputs_and_files_searched": searched, "needles": len(NEEDLES)})


@pytest.mark.parametrize("line, secret", [
    ('+          password: "gpS3cret"\n', "gpS3cret"),
    ("+          password: 'gp S3 cret'\n", "gp S3 cret"),
    ('+        "HomeNet": {password: gpS3cret, mode: ap}\n', "gpS3cret"),
    ('+      auth: {key-management: psk, password: "gp,S3cret"}\n', "S3cret"),
    ('+          "password": gpS3cret\n', "gpS3cret"),
    ("+  - password: gpS3cret\n", "gpS3cret"),
    ("+    wpa-psk gpS3cret\n", "gpS3cret"),
    ("+    wpa-password gpS3cret\n", "gpS3cret"),
    ("+    wireless-key s:gpS3cret\n", "gpS3cret"),
    ("+WPA_PSK='gpS3cret'\n", "gpS3cret"),
    ("+WIRELESS_KEY=gpS3cret\n", "gpS3cret"),
    ("+WIRELESS_KEY_1=gpS3cret\n", "gpS3cret"),
    ("+IKE_PSK=gpS3cret\n", "gpS3cret"),
    ("+KEY_AH_IN=0xgpS3cret\n", "gpS3cret"),
    (" psk=gpS3cret\n", "gpS3cret"),
    ("-private-key-password=gpS3cret\n", "gpS3cret"),
])
def test_every_form_of_a_secret_is_masked(line, secret):
    masked = report.mask_secrets(line)
    assert secret not in masked and report.MASK in masked, masked
    assert masked.endswith("\n") and masked[0] == line[0]


def test_yaml_values_below_their_key_are_masked():
    diff = ["+          password: |\n", "+            gpS3cretLine1\n", "+            gpS3cretLine2\n",
            "+          mode: ap\n", "           password:\n", "             gpS3cretNext\n", "         band: 5GHz\n",
            "+          password: 'gpS3cret start\n", "+            gpS3cret end'\n", "+        hidden: true\n"]
    masked = "".join(report.mask_diff(diff))
    assert "gpS3cret" not in masked, masked
    assert "mode: ap" in masked and "band: 5GHz" in masked and "hidden: true" in masked   # only the secrets go


def test_things_that_are_not_secrets_stay():
    for line in ("+      key-management: psk\n", "+GRUB_CMDLINE_LINUX=\"quiet\"\n", "+HostKey /etc/ssh/key\n",
                 "-/dev/sdb1 /data ext4 defaults 0 2\n", " ssid: HomeNet\n", "+    password\n"):
        assert report.mask_secrets(line) == line


NETWORK_OUTPUTS = set()


@pytest.mark.parametrize("command, fmt", [("plan", "text"), ("plan", "json"), ("fix", "text"), ("fix", "json")])
def test_netplan_and_ifupdown_network_secrets_are_masked(command, fmt, mini):
    safetylib.write(mini, "/etc/netplan/50-cloud-init.yaml", NETPLAN_WIFI, 0o600)
    safetylib.write(mini, "/etc/network/interfaces", ENI_WPA)
    args = [command, "--root", mini, "--items", "dhcp", "--format", fmt] + (["--yes"] if command == "fix" else [])
    done = guestprep(*args)
    assert done.returncode in (0, 3), done
    diffs = done.out if fmt == "text" else "".join(
        step.get("diff", "") for plan in json.loads(done.out).get("plans", []) for step in plan.get("steps", []))
    if command == "plan":
        # the diffs are there, each secret line in them with its value masked
        assert "netplan" in diffs and "password: " + report.MASK in diffs and "wpa-psk " + report.MASK in diffs, diffs
    for secret in NETWORK_SECRETS:
        assert secret not in done.out and secret not in done.err, (secret, done)
    for dirpath, _dirs, files in os.walk(os.path.join(mini, "var/lib/guestprep")):
        for name in files:
            if "/backups" not in dirpath:
                with open(os.path.join(dirpath, name), "rb") as handle:
                    data = handle.read().decode("utf-8", "replace")
                assert not [s for s in NETWORK_SECRETS if s in data], os.path.join(dirpath, name)
    NETWORK_OUTPUTS.add((command, fmt))
    safetylib.record("secrets", {"network_secrets": len(NETWORK_SECRETS), "network_outputs": len(NETWORK_OUTPUTS)})


def test_the_script_carries_the_secrets_and_says_where_and_how_to_keep_it(mini, tmp_path):
    safetylib.write(mini, "/etc/netplan/50-cloud-init.yaml", NETPLAN_WIFI, 0o600)
    script = str(tmp_path / "fix.sh")
    with open(script, "wb") as out:
        os.chmod(script, 0o644)
        done = subprocess.run([sys.executable, "-m", "agent", "plan", "--root", mini, "--items", "dhcp",
                               "--format", "script"], cwd=safetylib.REPO, stdout=out, stderr=subprocess.PIPE,
                              env=safetylib.cli_env())
    err = done.stderr.decode()
    with open(script) as handle:
        text = handle.read()
    assert done.returncode in (0, 3), err
    assert "gpFAKEwifiPlain" in text                         # by design: the script writes the file whole
    head = text[:text.index("gpFAKE")]
    assert report.SCRIPT_SECRETS_WARNING in head and "umask 077; guestprep plan --format script > fix.sh" in head
    assert "standard output" in head and "0600" in head
    assert "umask 077" in err and "0600" in err and "{}, mode 0644: others can read it".format(script) in err, err

    done = guestprep("fix", "--root", mini, "--yes", "--format", "json")
    run_id = json.loads(done.out)["run_id"]
    state = os.path.join(mini, "var/lib/guestprep")
    assert os.path.isdir(os.path.join(state, "runs", run_id, "backups"))

    refused = guestprep("clean", "--root", mini)
    assert refused.returncode == 2 and "--yes" in refused.err, refused
    assert os.path.isdir(os.path.join(state, "runs", run_id))

    done = guestprep("clean", "--root", mini, "--yes")
    assert done.returncode == 0, done
    assert "rollback" in done.err and run_id in done.err            # names what can no longer be undone
    assert "rollback is no longer possible" in done.out
    # what stays is the record of the old network the dhcp fix left for the instance (no secret)
    assert os.listdir(state) == ["network-manifest.json"]
    again = guestprep("rollback", "--root", mini)
    assert again.returncode == 0 and "nothing to roll back" in again.err

    backup_dir = os.path.join(os.path.dirname(mini), "kept")
    os.makedirs(backup_dir)
    safetylib.write(backup_dir, "/README", "the user's own file\n")
    safetylib.mini_root(mini)
    guestprep("fix", "--root", mini, "--yes", "--backup-dir", backup_dir)
    done = guestprep("clean", "--root", mini, "--yes", "--backup-dir", backup_dir, "--format", "json")
    data = json.loads(done.out)
    assert done.returncode == 0 and len(data["removed_runs"]) == 1 and data["not_rolled_back"]
    assert os.listdir(backup_dir) == ["README"]                      # only guestprep's files went
