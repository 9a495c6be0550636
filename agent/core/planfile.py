"""Plan files: `plan --out FILE` writes the exact steps; `fix --plan FILE` applies exactly those.

A pipeline reviews a plan, then applies it (Terraform's plan/apply). Between the two the
target may change: a file edited, a package installed, another guestprep, another root.
So the file records, for every step, the SHA-256 of each file it reads or replaces (as it
is when the plan is made) and of the content it will write, the package state the plan
assumes, the root and guestprep's version. `fix --plan` makes the plan again from the
target as it is now and applies it only when the two documents are the same; otherwise it
refuses and names what drifted, and changes nothing.

The file holds no file contents and no secrets, only hashes, so it can be reviewed and
stored: the content a step writes is recomputed by the fix and verified by its hash.
"""
import hashlib
import json
import os

import agent
from agent.core.model import Message, joined
from agent.core.rootfs import RootError

FORMAT = "guestprep-plan"
FORMAT_VERSION = 1


class PlanFileError(Exception):
    """The plan file cannot be used (unreadable, not a plan, made for another root or version)."""


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def _file_state(root, path):
    """What a step assumes about a file: its hash and mode, or that it is absent."""
    try:
        if root.islink(path):
            return {"link": root.readlink(path)}
        if not root.lexists(path):
            return {"absent": True}
        info = root.lstat(path)
        return {"sha256": _sha256(root.read_bytes(path)), "mode": "{:o}".format(info.st_mode & 0o7777)}
    except (OSError, RootError) as e:
        return {"unreadable": str(e)}


def _step(ctx, step):
    return step.plan_file_dict(ctx, _file_state)


def package_state(ctx):
    """SHA-256 of the installed packages and versions, as the plan saw them."""
    packages = ctx.packages
    versions = sorted(getattr(packages, "versions", {}).items())
    return _sha256(json.dumps([packages.manager, versions]).encode("utf-8"))


def document(ctx, plans, items):
    """The plan file's content (a dict): everything the steps assume, no contents."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "guestprep_version": agent.__version__,
        "root": os.path.realpath(ctx.root.path),
        "items": items,
        "packages_sha256": package_state(ctx),
        "plans": [{"id": p.check_id, "repair_item": p.repair_item, "skipped": p.skipped,
                   "steps": [_step(ctx, s) for s in p.steps]} for p in plans],
    }


def write(path, doc):
    """Write the plan file (mode 0600: it names the target's files)."""
    text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def load(path, ctx):
    """The plan file's document, refused when it is not for this root and this guestprep."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(1 << 24)
        doc = json.loads(data.decode("utf-8"))
    except (OSError, ValueError) as e:
        raise PlanFileError(Message("{path}: cannot be read as a plan: {error}", path=path,
                                    error=str(getattr(e, "strerror", None) or e)))
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("plans"), list):
        raise PlanFileError(Message("{path}: not a guestprep plan (made by `guestprep plan --out FILE`)", path=path))
    if doc.get("format_version") != FORMAT_VERSION or doc.get("guestprep_version") != agent.__version__:
        raise PlanFileError(Message("{path}: made by guestprep {version} (plan format {format}); this is guestprep "
                                    "{ours}: make the plan again with this version", path=path,
                                    version=doc.get("guestprep_version"), format=doc.get("format_version"),
                                    ours=agent.__version__))
    here = os.path.realpath(ctx.root.path)
    if doc.get("root") != here:
        raise PlanFileError(Message("{path}: made for the root {planned}, not {root}", path=path,
                                    planned=doc.get("root"), root=here))
    return doc


def drift(planned, now):
    """What differs between the plan file and the plan made now: a list of sentences."""
    problems = []
    if planned.get("packages_sha256") != now["packages_sha256"]:
        problems.append(Message("the installed packages changed"))
    old = dict((p.get("id"), p) for p in planned["plans"] if isinstance(p, dict))
    new = dict((p["id"], p) for p in now["plans"])
    for item in sorted(set(old) | set(new)):
        if item not in new:
            problems.append(Message("{item}: planned, but nothing to do now", item=item))
            continue
        if item not in old:
            problems.append(Message("{item}: not in the plan, but needs a fix now", item=item))
            continue
        if old[item] == new[item]:
            continue
        paths = _paths_that_differ(old[item].get("steps") or [], new[item]["steps"])
        problems.append(Message("{item}: {what}", item=item,
                                what=joined(paths) if paths else Message("its steps changed")))
    return problems


def _paths_that_differ(old_steps, new_steps):
    def by_path(steps):
        found = {}
        for step in steps:
            if not isinstance(step, dict):
                continue
            if "path" in step:
                found.setdefault(step["path"], []).append(step)
            for path, state in sorted((step.get("modifies") or {}).items()):
                found.setdefault(path, []).append(state)
        return found
    old, new = by_path(old_steps), by_path(new_steps)
    out = []
    for path in sorted(set(old) | set(new)):
        if old.get(path) == new.get(path):
            continue
        before = [s.get("before", s) for s in new.get(path, [])]
        was = [s.get("before", s) for s in old.get(path, [])]
        if before and was and before[0] != was[0]:
            out.append(Message("{path} changed since the plan ({what})", path=path, what=_describe(was[0], before[0])))
        else:
            out.append(Message("{path}: the change to it differs from the plan", path=path))
    return out


def _describe(was, now):
    if now.get("absent"):
        return Message("now missing")
    if was.get("absent"):
        return Message("now present")
    if was.get("sha256") != now.get("sha256"):
        return Message("content")
    if was.get("mode") != now.get("mode"):
        return Message("mode {was} -> {now}", was=was.get("mode"), now=now.get("mode"))
    return Message("type")
