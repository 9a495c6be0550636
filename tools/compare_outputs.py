#!/usr/bin/env python3
"""Compare what two revisions of guestprep say about the same roots (issue 13).

    tools/compare_outputs.py BASE_REV [HEAD_REV] [--root NAME ...] [--no-debian]
                             [--tarball PATH] [--keep]

For every fixture root under tests/fixtures/roots/ and a copy of the real Debian root of
tests/e2e (the tarball build_root.sh caches in /var/cache/guestprep-e2e), runs
`python -m agent check --root R --format json` and `plan --root R --format json` with the
code of BASE_REV and of HEAD_REV (default: the working tree, uncommitted changes included),
both on the same copy of the root. What legitimately changes between two runs is
normalised (timestamps, run ids, durations, temporary paths, the version), the `findings`
key of each result is dropped when BASE_REV's output has none, and a unified diff is
printed for every root and command whose output differs. Exit 0 when every output is the
same, 1 when any differs, 2 on a usage or setup error.

Everything it creates lives in one temporary directory (the revisions' code from
`git archive`, the copies of the roots) which it deletes at the end (--keep leaves it);
it refuses to delete any path outside that directory. check and plan write nothing, so
no copy is ever written to, but they are copies all the same.
"""
import argparse
import difflib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join("tests", "fixtures", "roots")
BUILD_ROOT = os.path.join("tests", "e2e", "build_root.sh")
PREFIX = "guestprep-compare-"
COMMANDS = ("check", "plan")
DEBIAN = "debian-e2e"

# Keys whose values change from run to run (or release to release) by design: the
# envelope's own, and times anywhere (a nested "version" is the OS's or a kernel's: compared).
ENVELOPE_KEYS = {"run_id": "<RUN_ID>", "version": "<VERSION>"}
VOLATILE_KEYS = {"timestamp": "<TIME>", "started": "<TIME>", "finished": "<TIME>", "created": "<TIME>",
                 "duration": "<DURATION>", "elapsed": "<DURATION>"}
TIMESTAMP = re.compile(r"\b\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?\b")
RUN_ID = re.compile(r"\b\d{8}T\d{6}Z?-[0-9a-f]{4,}\b")
# free_space measures the filesystem holding the copies, which other processes fill and
# empty while the tool runs: its figures (not its status) are the host's, not the code's.
HOST_FIGURES = {"free_space": (("free", "free_inodes"), [
    (re.compile(r"[\d.]+ [KMGT]iB free of ([\d.]+ [KMGT]iB) \(\d+%\)"), r"<SIZE> free of \1 (<PCT>)"),
    (re.compile(r"\d+ of (\d+) inodes free \(\d+%\)"), r"<N> of \1 inodes free (<PCT>)")])}


class Workdir(object):
    """The one temporary directory this tool creates, fills and deletes."""

    def __init__(self, keep=False):
        self.path = os.path.realpath(tempfile.mkdtemp(prefix=PREFIX))
        self.keep = keep

    def sub(self, *names):
        return os.path.join(self.path, *names)

    def inside(self, path):
        path = os.path.realpath(path)
        return path.startswith(self.path + os.sep)

    def remove(self, path):
        """Delete `path`, which must lie inside this directory (or be it)."""
        real = os.path.realpath(path)
        if real != self.path and not self.inside(real):
            raise RuntimeError("refusing to delete {} outside {}".format(real, self.path))
        if real == self.path and not (os.path.dirname(real) == os.path.realpath(tempfile.gettempdir())
                                      and os.path.basename(real).startswith(PREFIX)):
            raise RuntimeError("refusing to delete {}: not this tool's temporary directory".format(real))
        # The Debian root may carry immutable or append-only files (chattr tests): clear the
        # flags first, inside this directory only (-R does not follow symlinks).
        if shutil.which("chattr"):
            subprocess.call(["chattr", "-R", "-f", "-i", "-a", real],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(real)

    def close(self):
        if self.keep:
            print("kept {}".format(self.path), file=sys.stderr)
        elif os.path.isdir(self.path):
            self.remove(self.path)


def git(*args, **kw):
    return subprocess.check_output(["git", "-C", REPO] + list(args), universal_newlines=True, **kw)


def export(rev, target):
    """The tree of `rev` (a commit-ish) extracted into `target`."""
    os.makedirs(target)
    archive = subprocess.Popen(["git", "-C", REPO, "archive", "--format=tar", rev], stdout=subprocess.PIPE)
    subprocess.check_call(["tar", "-x", "-C", target], stdin=archive.stdout)
    archive.stdout.close()
    if archive.wait() != 0:
        raise RuntimeError("git archive {} failed".format(rev))
    return target


def copy_fixture(tree, name, target):
    source = os.path.join(tree, FIXTURES, name)
    # rpm-qa.txt beside the tree is the tests' answer key, not part of the root.
    shutil.copytree(source, target, symlinks=True,
                    ignore=lambda directory, names: ["rpm-qa.txt"] if directory == source else [])
    return target


def find_tarball(tree):
    """The cached Debian root's tarball: build_root.sh prints its path (building it once,
    which needs root and debootstrap)."""
    done = subprocess.run(["bash", os.path.join(tree, BUILD_ROOT)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise RuntimeError("no Debian root tarball (tests/e2e/build_root.sh):\n" + done.stderr[-2000:])
    return lines[-1]


def unpack(tarball, target):
    os.makedirs(target)
    subprocess.check_call(["tar", "-C", target, "--xattrs", "--numeric-owner", "-xf", tarball])
    return target


def run(tree, command, root):
    """(exit code, stdout, stderr) of `python -m agent COMMAND --root ROOT --format json`
    with the code in `tree`."""
    env = dict(os.environ, NO_COLOR="1", PYTHONPATH=tree, PYTHONDONTWRITEBYTECODE="1", LC_ALL="C.UTF-8")
    env.pop("GUESTPREP_CRASH_AT", None)
    done = subprocess.run([sys.executable, "-m", "agent", command, "--root", root, "--format", "json"],
                          cwd=tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True)
    return done.returncode, done.stdout, done.stderr


class Normaliser(object):
    """Replace what legitimately differs between two runs by placeholders."""

    def __init__(self, paths):
        # Longest first, so a root inside the work directory is named as the root.
        self.paths = sorted(paths.items(), key=lambda item: -len(item[0]))

    def text(self, value):
        for path, name in self.paths:
            value = value.replace(path, name)
        value = RUN_ID.sub("<RUN_ID>", value)
        return TIMESTAMP.sub("<TIME>", value)

    def document(self, document):
        if not isinstance(document, dict):
            return self.value(document)
        return dict((k, ENVELOPE_KEYS[k] if k in ENVELOPE_KEYS and v is not None else self.value(v, k))
                    for k, v in document.items())

    def value(self, value, key=None):
        if key in VOLATILE_KEYS and value is not None and not isinstance(value, (dict, list)):
            return VOLATILE_KEYS[key]
        if isinstance(value, dict):
            return dict((self.text(k), self.value(v, k)) for k, v in value.items())
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if isinstance(value, str):
            return self.text(value)
        return value


def has_findings(document):
    results = document.get("results") if isinstance(document, dict) else None
    return any(isinstance(r, dict) and "findings" in r for r in results or ())


def drop_findings(document):
    for result in document.get("results") or ():
        if isinstance(result, dict):
            result.pop("findings", None)


def comparable(rc, stdout, stderr, normaliser):
    """The lines to compare: the exit code and the normalised JSON document (or, when the
    output is not JSON, the raw output and the end of stderr)."""
    try:
        document = json.loads(stdout)
    except ValueError:
        document = None
    lines = ["exit code: {}".format(rc)]
    if document is None:
        lines.append("stdout is not one JSON document:")
        lines.extend(normaliser.text(stdout).splitlines())
        lines.append("stderr (end):")
        lines.extend(normaliser.text(stderr[-3000:]).splitlines())
        return lines, None
    document = normaliser.document(document)
    for result in document.get("results") or () if isinstance(document, dict) else ():
        if isinstance(result, dict) and result.get("id") in HOST_FIGURES:
            host_figures(result, *HOST_FIGURES[result["id"]])
    return lines, document


def host_figures(result, keys, patterns):
    def text(value):
        for pattern, replacement in patterns:
            value = pattern.sub(replacement, value)
        return value
    if isinstance(result.get("data"), dict):
        for key in keys:
            if key in result["data"]:
                result["data"][key] = "<HOST>"
    if isinstance(result.get("summary"), str):
        result["summary"] = text(result["summary"])
    for finding in result.get("findings") or ():
        if isinstance(finding, dict) and isinstance(finding.get("text"), str):
            finding["text"] = text(finding["text"])


def render(lines, document):
    if document is not None:
        lines = lines + json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False).splitlines()
    return lines


def compare(label, base, head, normaliser, base_name, head_name):
    """A unified diff of BASE's and HEAD's outputs (each (rc, stdout, stderr)), or ''."""
    base_lines, base_doc = comparable(*base, normaliser=normaliser)
    head_lines, head_doc = comparable(*head, normaliser=normaliser)
    if head_doc is not None and base_doc is not None and not has_findings(base_doc):
        drop_findings(head_doc)
    a, b = render(base_lines, base_doc), render(head_lines, head_doc)
    if a == b:
        return ""
    return "\n".join(difflib.unified_diff(a, b, "{} ({})".format(label, base_name),
                                          "{} ({})".format(label, head_name), lineterm="", n=3))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base", metavar="BASE_REV")
    parser.add_argument("head", metavar="HEAD_REV", nargs="?",
                        help="default: the working tree, uncommitted changes included")
    parser.add_argument("--root", action="append", dest="roots", metavar="NAME",
                        help="only this fixture root (repeatable; '{}' is the Debian root)".format(DEBIAN))
    parser.add_argument("--no-debian", action="store_true", help="skip the real Debian root")
    parser.add_argument("--tarball", help="the Debian root's tarball (default: build_root.sh's cache)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)

    for rev in [args.base] + ([args.head] if args.head else []):
        try:
            git("rev-parse", "--verify", "--quiet", rev + "^{commit}", stderr=subprocess.DEVNULL)
        except subprocess.CalledProcessError:
            parser.error("not a revision: {}".format(rev))

    work = Workdir(keep=args.keep)
    try:
        return compare_all(args, work)
    except (RuntimeError, OSError, subprocess.CalledProcessError) as error:
        print("compare_outputs: {}".format(error), file=sys.stderr)
        return 2
    finally:
        work.close()


def compare_all(args, work):
    base_tree = export(args.base, work.sub("base"))
    head_tree = export(args.head, work.sub("head")) if args.head else REPO
    base_name = git("rev-parse", "--short", args.base).strip()
    head_name = git("rev-parse", "--short", args.head).strip() if args.head else "working tree"

    names = sorted(n for n in os.listdir(os.path.join(head_tree, FIXTURES))
                   if os.path.isdir(os.path.join(head_tree, FIXTURES, n)))
    want_debian = not args.no_debian
    if args.roots:
        unknown = set(args.roots) - set(names) - {DEBIAN}
        if unknown:
            raise RuntimeError("no such root: {}".format(", ".join(sorted(unknown))))
        names = [n for n in names if n in args.roots]
        want_debian = want_debian and DEBIAN in args.roots

    roots = [(name, copy_fixture(head_tree, name, work.sub("roots", name))) for name in names]
    if want_debian:
        if os.geteuid() != 0 and not args.tarball:
            print("compare_outputs: the Debian root needs root (tar --numeric-owner): skipped",
                  file=sys.stderr)
        else:
            tarball = args.tarball or find_tarball(head_tree)
            print("unpacking {}".format(tarball), file=sys.stderr)
            roots.append((DEBIAN, unpack(tarball, work.sub("roots", DEBIAN))))

    paths = {work.path: "<TMP>", REPO: "<REPO>", sys.executable: "<PYTHON>"}
    differing = []
    for name, root in roots:
        for command in COMMANDS:
            label = "{} {}".format(name, command)
            base = run(base_tree, command, root)
            head = run(head_tree, command, root)
            diff = compare(label, base, head, Normaliser(dict(paths, **{root: "<ROOT>"})),
                           base_name, head_name)
            print("{:<28} {}".format(label, "differs" if diff else "same"), file=sys.stderr)
            if diff:
                differing.append(label)
                print(diff)
                print()
    total = len(roots) * len(COMMANDS)
    if differing:
        print("{} of {} outputs differ between {} and {}: {}".format(
            len(differing), total, base_name, head_name, ", ".join(differing)))
        return 1
    print("{} outputs ({} roots x {}) the same in {} and {}".format(
        total, len(roots), " and ".join(COMMANDS), base_name, head_name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
