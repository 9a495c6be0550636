"""Fix for seal: remove what belongs to this machine before the image is shared (seed 004).

Applied only when named (`--items seal`), never by `--items all` or by default: it takes
away root's authorized keys and the history a person may still want, and is meant for the
last step before capture. Every change goes through the journal, so rollback restores it
all until `guestprep clean --yes` removes the backups (which must happen before capture,
or the backups ship with the image: the note and the seal check say so).

- passwordless accounts: locked with `usermod -L` (the journal backs /etc/shadow up and
  rollback restores it; the plan shows the command, never a line of /etc/shadow)
- shell history files, root's authorized_keys: removed
- SSH host keys: removed only when the image makes new ones at boot (sshd-keygen,
  sshd-gen-keys-start, cloud-init); without that sshd would not start
- /etc/machine-id: emptied (systemd writes a new one at the next boot; an empty file, not
  a missing one, is what systemd expects of an image); a separate dbus machine-id removed
- cloud-init state in /var/lib/cloud (seed/ and scripts/ kept): removed, as `cloud-init clean`
- rotated logs removed, current logs emptied (mode and owner kept); journald's files and
  logs over 64 MiB are left to the commands of the hint
"""
from agent.checks.root_account import PASSWD, SHADOW
from agent.checks.seal import DBUS_MACHINE_ID, MACHINE_ID
from agent.model import Mode, Remediation, RemoveFile, RunCommand, WriteFile

USERMOD_WRITES = (PASSWD, SHADOW, PASSWD + "-", SHADOW + "-")


class SealFix(Remediation):
    id = "seal"
    mode = Mode.PROPOSE
    reversible = True
    by_name_only = True
    offline_safe = True
    note = ("Run it last. Backups of what seal removes stay in the journal (mode 0600) so rollback can "
            "restore them: run `guestprep clean --yes` before capture, or they ship with the image. On "
            "the running VM your SSH session stays up, but new SSH logins can be refused until the next "
            "boot makes new host keys.")

    def plan(self, ctx, result):
        data = result.data or {}
        steps = []
        empty = data.get("empty_password") or []
        for name in empty:
            # usermod rewrites passwd and shadow and keeps its own copies in passwd- and shadow-
            steps.append(RunCommand(("usermod", "-L", name), modifies=USERMOD_WRITES,
                                    why="lock {}, which has no password".format(name)))
        for path in data.get("authorized_keys") or []:
            steps.append(RemoveFile(path, why="root's authorized keys (ECS installs the instance's key pair)"))
        for path in data.get("history") or []:
            steps.append(RemoveFile(path, why="shell history"))
        if data.get("key_regenerator"):
            for path in data.get("host_keys") or []:
                steps.append(RemoveFile(path, why="SSH host key; new ones are made at boot by " +
                                        data["key_regenerator"]))
        if data.get("machine_id"):
            steps.append(WriteFile(MACHINE_ID, b"", why="empty machine-id: systemd makes a new one at boot"))
        if data.get("dbus_machine_id"):
            steps.append(RemoveFile(DBUS_MACHINE_ID, why="D-Bus falls back to /etc/machine-id"))
        for path in data.get("cloud_state") or []:
            steps.append(RemoveFile(path, why="cloud-init state of this machine (as `cloud-init clean`)"))
        for path in data.get("logs_rotated") or []:
            steps.append(RemoveFile(path, why="rotated log"))
        for path in data.get("logs_current") or []:
            steps.append(WriteFile(path, b"", why="empty the log"))
        return steps
