"""`guestprep bundle -o FILE.tar.gz`: one file to send to support.

It holds what a person helping with a failed import needs, and nothing that would let them
log in to the image: the JSON report of every check, the plan (as `plan --format json`
shows it), the journals of earlier fix runs (metadata; never the backups, which hold
copies of /etc/shadow), every configuration file the checks read, and MANIFEST.json saying
what is inside, from where, and what was masked or left out.

Secrets: files that are secrets as a whole (shadow, private keys, shell history, cloud-init
user data, guestprep's backups) are left out and named in the manifest; in every other
file, lines that carry a secret (psk=, password:, wpa-psk ...) keep their key and lose
their value, with the same masking the plan diffs use (report.mask_secrets).
"""
import fnmatch
import hashlib
import io
import json
import os
import tarfile
import time

from agent.core.rootfs import RootError
from agent.output import report

MAX_FILE = 1 << 20
# Whole files that are secrets: never in a bundle, whatever their lines look like.
SECRET_FILES = (
    "/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-", "/etc/security/opasswd",
    "/etc/ssh/ssh_host_*_key", "/root/.ssh/*", "/home/*/.ssh/*", "/root/.*history", "/home/*/.*history",
    "/var/lib/cloud/*", "/etc/pki/consumer/*", "/etc/pki/entitlement/*", "/etc/zypp/credentials.d/*",
    "/var/lib/guestprep/*",
)
PRIVATE_KEY = b"PRIVATE KEY-----"


def secret_file(path):
    return any(fnmatch.fnmatchcase(path, pattern) for pattern in SECRET_FILES)


def masked(data):
    """(text with secret values masked, number of lines masked); None for binary data."""
    if b"\x00" in data or PRIVATE_KEY in data:
        return None, 0
    text = data.decode("utf-8", "replace")
    out, count = [], 0
    for line in text.splitlines(True):
        shown = report.mask_secrets(" " + line)[1:]
        count += shown != line
        out.append(shown)
    return "".join(out), count


def _add(tar, name, data, manifest, **info):
    entry = tarfile.TarInfo(name)
    entry.size = len(data)
    entry.mtime = int(time.time())
    entry.mode = 0o600
    tar.addfile(entry, io.BytesIO(data))
    manifest.append(dict(info, name=name, size=len(data), sha256=hashlib.sha256(data).hexdigest()))


def write(path, ctx, check_report, plan_json, journals):
    """Write the bundle. `journals`: [(run id, journal.jsonl path)]. Returns the manifest."""
    manifest, left_out = [], []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as handle, tarfile.open(fileobj=handle, mode="w:gz") as tar:
        _add(tar, "report.json", (report.to_json(check_report) + "\n").encode("utf-8"), manifest,
             what="guestprep check --format json")
        _add(tar, "plan.json", (report.to_json(plan_json) + "\n").encode("utf-8"), manifest,
             what="guestprep plan --format json (secret values masked)")
        for run_id, journal_path in journals:
            try:
                # O_NOFOLLOW: an image's own runs/<id>/journal.jsonl -> /host/file stays out.
                source = os.open(journal_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
                try:
                    data = os.read(source, MAX_FILE + 1) if os.path.isfile(journal_path) else b""
                finally:
                    os.close(source)
            except OSError as e:
                left_out.append({"path": journal_path, "why": e.strerror})
                continue
            if len(data) > MAX_FILE:
                left_out.append({"path": journal_path, "why": "larger than {} bytes".format(MAX_FILE)})
                continue
            _add(tar, "journal/{}.jsonl".format(run_id), data, manifest,
                 what="journal of fix run {} (metadata; backups are not included)".format(run_id))
        for guest_path in sorted(ctx.root.reads):
            if secret_file(guest_path):
                left_out.append({"path": guest_path, "why": "a secret as a whole"})
                continue
            try:
                data = ctx.root.read_bytes(guest_path, MAX_FILE)
            except RootError as e:
                left_out.append({"path": guest_path, "why": e.reason})
                continue
            text, count = masked(data)
            if text is None:
                left_out.append({"path": guest_path, "why": "binary data or a private key"})
                continue
            _add(tar, "files" + guest_path, text.encode("utf-8"), manifest, what="read by the checks",
                 source=guest_path, masked_lines=count)
        doc = {"tool": "guestprep", "root": ctx.root.path,
               "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "files": manifest, "left_out": left_out}
        data = (json.dumps(doc, indent=2) + "\n").encode("utf-8")
        entry = tarfile.TarInfo("MANIFEST.json")
        entry.size, entry.mtime, entry.mode = len(data), int(time.time()), 0o600
        tar.addfile(entry, io.BytesIO(data))
    return doc
