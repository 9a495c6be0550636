"""Fix for seal: remove what belongs to this machine before the image is shared (seed 004).

Applied only when named (`--items seal`, or `--items seal:history,ssh-hostkeys` for some
operations), never by `--items all` or by default: it takes away root's authorized keys,
crontabs and the history a person may still want, and is meant for the last step before
capture. Every change goes through the journal, so rollback restores it all until
`guestprep clean --yes` removes the backups (which must happen before capture, or the
backups ship with the image: the note and the seal check say so).

Each operation of the check (agent/checks/seal.py OPERATIONS) plans from what it found:
- passwordless-accounts: `usermod -L` (the journal backs /etc/shadow up and rollback
  restores it; the plan shows the command, never a line of /etc/shadow)
- machine-id: emptied (systemd writes a new one at the next boot; an empty file, not a
  missing one, is what systemd expects of an image); D-Bus's own copy removed
- logfiles, utmp: rotated logs removed, current ones emptied (mode and owner kept)
- ssh-hostkeys: removed only when the check found what makes new ones at the next boot
- subscription: the plan says the identity is gone for good once `clean` has run, and that
  rollback puts the build VM's identity back
- every other operation: its files removed (backed up, bounded by the check's MAX_OP_BYTES)
"""
from agent.checks.seal import OPERATION_NAMES
from agent.core.model import Message, Mode, Remediation, RemoveFile, RunCommand, WriteFile
from agent.facts.accounts import PASSWD, SHADOW

USERMOD_WRITES = (PASSWD, SHADOW, PASSWD + "-", SHADOW + "-")
WHY = {
    "authorized-keys": Message("root's authorized keys (ECS installs the instance's key pair)"),
    "history": Message("shell history"),
    "machine-id": Message("D-Bus falls back to /etc/machine-id"),
    "cloud-init-state": Message("cloud-init state of this machine (as `cloud-init clean`)"),
    "logfiles": Message("rotated log"),
    "dhcp-client-state": Message("DHCP lease or per-device state of the build VM"),
    "udev-persistent-net": Message("interface names pinned to the build VM's MAC addresses"),
    "passwd-backups": Message("backup of an account database (old password hashes)"),
    "tmp-files": Message("temporary file"),
    "package-manager-cache": Message("package manager cache"),
    "mail-spool": Message("local mailbox"),
    "cron-spool": Message("a user's cron or at jobs (user data; keep with seal:defaults,-cron-spool)"),
    "random-seed": Message("random seed every clone would share (systemd saves a new one)"),
    "subscription": Message("registration identity of the build VM: instances must register themselves; once "
                    "`guestprep clean` has run it cannot come back, and until then rollback restores "
                    "this machine's identity"),
}
EMPTY_WHY = {
    "machine-id": Message("empty machine-id: systemd makes a new one at boot"),
    "logfiles": Message("empty the log"),
    "utmp": Message("empty the login records"),
}


def _why(base, sizes, path):
    size = sizes.get(path)
    return base if size is None else Message("{what} ({size} KiB)", what=base, size="{:.1f}".format(size / 1024.0))


class SealFix(Remediation):
    id = "seal"
    mode = Mode.PROPOSE
    reversible = True
    by_name_only = True
    offline_safe = True
    note = Message("Run it last. Backups of what seal removes stay in the journal (mode 0600) so rollback can "
                   "restore them: run `guestprep clean --yes` before capture, or they ship with the image. On "
                   "the running VM your SSH session stays up, but new SSH logins can be refused until the next "
                   "boot makes new host keys.")

    def plan(self, ctx, result):
        ops = (result.data or {}).get("ops") or {}
        steps = []
        for name in OPERATION_NAMES:
            found = ops.get(name)
            if not found:
                continue
            for user in found.get("lock") or []:
                # usermod rewrites passwd and shadow and keeps its own copies in passwd- and shadow-
                steps.append(RunCommand(("usermod", "-L", user), modifies=USERMOD_WRITES,
                                        why=Message("lock {user}, which has no password", user=user)))
            sizes = found.get("sizes") or {}
            for path in found.get("remove") or []:
                if name == "ssh-hostkeys":
                    why = Message("SSH host key; new ones are made at boot by {regenerator}",
                                  regenerator=found["regenerator"])
                else:
                    why = _why(WHY[name], sizes, path)
                steps.append(RemoveFile(path, why=why))
            for path in found.get("empty") or []:
                steps.append(WriteFile(path, b"", why=EMPTY_WHY[name]))
        return steps
