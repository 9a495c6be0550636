#!/usr/bin/env python3
"""Write the README's reliability section from the figures the safety and fuzz tests recorded.

    tools/safety_report.py [--results DIR] [--readme README.md] [--check]

The tests in tests/safety and tests/fuzz write JSON files under DIR (default
$GUESTPREP_SAFETY_RESULTS or build/safety-results); this script adds them up and replaces
what lies between `<!-- reliability:begin -->` and `<!-- reliability:end -->` in the
README (appending a `## Reliability` section with the markers when there is none).
A figure whose test did not run keeps the README's current text for it out: the section
says it was not measured. Exit 0 whether or not the README changed (CI runs on a fresh
clone); --check exits 1 when the README would change.
"""
import argparse
import glob
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
BEGIN = "<!-- reliability:begin -->"
END = "<!-- reliability:end -->"


def load(results):
    figures = {}
    for path in sorted(glob.glob(os.path.join(results, "*.json"))):
        name = os.path.basename(path)[:-5]
        try:
            with open(path) as handle:
                figures[name] = json.load(handle)
        except (OSError, ValueError) as e:
            sys.stderr.write("safety_report: skipping {}: {}\n".format(path, e))
    fuzz = [v for k, v in figures.items() if k == "fuzz" or k.startswith("fuzz-")]
    if fuzz:
        merged = {"inputs": 0, "by_target": {}, "documented_value_errors": {}, "findings": {},
                  "examples_per_target": max(f.get("examples_per_target", 0) for f in fuzz),
                  "recorded": max(f.get("recorded", "") for f in fuzz)}
        for f in fuzz:
            merged["inputs"] += f.get("inputs", 0)
            for key in ("by_target", "documented_value_errors"):
                for k, v in f.get(key, {}).items():
                    merged[key][k] = merged[key].get(k, 0) + v
            for k, v in f.get("findings", {}).items():
                merged["findings"].setdefault(k, []).extend(v)
        figures["fuzz"] = merged
    return figures


def n(value):
    return "{:,}".format(value)


def section(figures):
    lines = ["## Reliability", "",
             "Figures from the last run of the safety harness (`tests/safety`, `tests/fuzz`), "
             "written by `tools/safety_report.py`, not typed. `tools/test.sh` runs both and "
             "regenerates this section.", ""]
    rows = []
    crash = figures.get("crash")
    if crash:
        rows.append(("Crash injections survived", "{} of {} SIGKILLs ({} in `fix`, {} in `rollback`) at {} crash "
                     "points over {} files of the real Debian root; after each, every file was its original or "
                     "its complete new content, and rollback (or `fix` again) gave back the exact original: "
                     "bytes, mode, owner, flags, xattrs".format(
                         n(crash["survived"]), n(crash["injections"]), crash["fix_injections"],
                         crash["rollback_injections"], len(crash["points"]), len(crash["files"])),
                     crash.get("recorded", "")))
    for key, what in (("enospc_root", "the root's own filesystem"), ("enospc_backup_dir", "`--backup-dir`'s filesystem")):
        f = figures.get(key)
        if f:
            rows.append(("Disk full ({})".format(what), "{} fixes with 0 to {} free pages: each exit 4 with the "
                         "reason (or done, once there was room), no partial file, rollback exact".format(
                             f["runs"], f["pages_needed"]), f.get("recorded", "")))
    for key, what in (("enospc_kib_tmpfs", "tmpfs"), ("enospc_kib_ext4", "ext4 of 1 KiB blocks")):
        f = figures.get(key)
        if f:
            rows.append(("Disk full, KiB by KiB ({})".format(what), "{} fixes with 0 to {} KiB free: exit {} only; "
                         "below {} KiB refused before the first change, from there done or rolled back; every "
                         "journal line readable, no run directory without its journal, rollback exact".format(f["runs"], f["kib"][1], "/".join(str(c) for c in f["exit_codes"]),
                                        f["started_from_kib"]), f.get("recorded", "")))
    fuzz = figures.get("fuzz")
    if fuzz:
        targets = ", ".join("{} {}".format(k, n(v)) for k, v in sorted(fuzz["by_target"].items())
                            if k != "check_file_inputs")
        found = sum(len(v) for v in fuzz["findings"].values())
        rows.append(("Inputs fuzzed", "{} generated inputs (hypothesis, derandomized): {}; plus {} fuzzed config "
                     "files read by every check; {} finding(s)".format(
                         n(sum(v for k, v in fuzz["by_target"].items() if k != "check_file_inputs")), targets,
                         n(fuzz["by_target"].get("check_file_inputs", 0)), found), fuzz.get("recorded", "")))
    hostile = figures.get("hostile")
    if hostile:
        scenarios = [k for k in hostile if k != "recorded"]
        tried = sum(hostile[k]["commands"] for k in scenarios)
        rows.append(("Escapes tried", "{} runs of check/plan/fix/rollback/clean on {} hostile images (symlinks out "
                     "of the root, loops, FIFOs, device nodes, 20 GB sparse files, non-UTF-8, directories): nothing "
                     "outside the root shown or changed, nothing blocked, no traceback".format(tried, len(scenarios)),
                     hostile.get("recorded", "")))
    journals = figures.get("hostile_journals")
    if journals:
        cases = [k for k in journals if k != "recorded"]
        rows.append(("Hostile journals", "{} hand-written journals in an image (backups out of the run, absolute, "
                     "/dev/zero, links, FIFOs, grown, paths climbing out, the journal a link to /dev/zero): each "
                     "refused by rollback with exit 5, nothing written inside or outside the root".format(len(cases)),
                     journals.get("recorded", "")))
    leftovers = figures.get("command_leftovers")
    if leftovers:
        rows.append(("Commands killed halfway", "{} initramfs-like rebuilds killed (the parent only, the whole "
                     "group) after leaving `.new`, `.dpkg-bak` and dracut temp files: rollback gave /boot back "
                     "exactly, an older look-alike file kept".format(leftovers["kills"]), leftovers.get("recorded", "")))
    secrets = figures.get("secrets")
    if secrets:
        network = ""
        if secrets.get("network_secrets"):
            network = "; {} netplan and ifupdown Wi-Fi and 802.1x passwords masked in {} `plan` and `fix` outputs " \
                      "(text and JSON)".format(secrets["network_secrets"], secrets.get("network_outputs", 0))
        rows.append(("Secrets", "{} outputs, logs and journal indexes searched for {} planted hashes and key "
                     "fragments: none found{}; backups 0600 in 0700 directories under umask 000".format(
                         secrets["outputs_and_files_searched"], secrets["needles"], network),
                     secrets.get("recorded", "")))
    fidelity = figures.get("fidelity")
    if fidelity:
        label = "security.selinux included" if fidelity.get("selinux_label") else \
            "security.selinux not verified: " + fidelity.get("selinux_label_skipped_because", "")
        rows.append(("Rollback fidelity", "bytes, mode, owner, group, user.* xattrs, inode flags of {} files "
                     "({})".format(fidelity["files"], label), fidelity.get("recorded", "")))
    concurrency = figures.get("concurrency")
    if concurrency:
        race = figures.get("concurrency_race", {})
        rows.append(("Concurrent runs", "{} runs against a root whose `fix` held the lock, and runs with another "
                     "`--backup-dir` or through a read-only bind mount: each refused with exit {} naming the holder, "
                     "nothing changed{}".format(
                         concurrency["runs_refused"], concurrency.get("exit_code", 1),
                         "; {} pairs of fixes started together: one ran, the other busy or after it, never "
                         "\"File exists\"".format(race["races"]) if race else ""),
                     concurrency.get("recorded", "")))
    flags = figures.get("flags")
    if flags:
        rows.append(("chattr flags kept", "{} on {} files of a loop-mounted ext4 through `fix` and `rollback`: each "
                     "rewritten file's new inode carries every flag but +i/+a".format(
                         ", ".join(flags["flags"]), flags["files"]), flags.get("recorded", "")))
    sizes = figures.get("hostile_sizes")
    if sizes:
        runs = dict((k, v) for k, v in sizes.items() if k != "recorded")
        if runs:
            slowest = max(runs.items(), key=lambda kv: kv[1]["seconds"])
            rows.append(("Hostile sizes", "{} bombs (YAML alias bomb, netplan repeated to 8 MB, 80,000-line fstab, "
                         "10,000 lines of bind mounts, 15 MB network, grub, udev and os-release files ...): each "
                         "`check` and `plan` ended in a finding naming the limit; slowest {:.1f} s ({}), largest "
                         "peak RSS of one run {} MiB".format(len(runs), slowest[1]["seconds"], slowest[0],
                                                   max(v.get("max_rss_kib", 0) for v in runs.values()) >> 10),
                         sizes.get("recorded", "")))
    docs = figures.get("json_exit_paths")
    if docs:
        rows.append(("`--format json` exit paths", "{} runs of {} (usage errors, read-only target, busy lock, "
                     "internal error, ENOSPC, failed rollback, refused plan): each printed exactly one JSON "
                     "document (exit codes {})".format(docs["documents"], ", ".join(docs["commands"]),
                                                       ", ".join(str(c) for c in docs["exit_codes"])),
                     docs.get("recorded", "")))
    codes = figures.get("exit_codes")
    if codes:
        rows.append(("Exit codes reached", ", ".join(str(c) for c in codes["reached"]) + " (through the CLI)",
                     codes.get("recorded", "")))
    if not rows:
        lines.append("No figures recorded yet: run `tools/test.sh`.")
    else:
        lines += ["| what | figure | measured |", "|---|---|---|"]
        lines += ["| {} | {} | {} |".format(a, b, c[:10]) for a, b, c in rows]
    missing = [name for name, key in (("crash injections", "crash"), ("fuzzing", "fuzz"), ("hostile images", "hostile"))
               if key not in figures]
    if missing:
        lines += ["", "Not measured in the last run: {}.".format(", ".join(missing))]
    return "\n".join(lines) + "\n"


def rewrite(readme, body):
    with open(readme, encoding="utf-8") as handle:
        text = handle.read()
    block = BEGIN + "\n" + body + END
    if BEGIN in text and END in text:
        start = text.index(BEGIN)
        end = text.index(END, start) + len(END)
        new = text[:start] + block + text[end:]
    else:
        new = text.rstrip("\n") + "\n\n" + block + "\n"
    return text, new


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default=os.environ.get("GUESTPREP_SAFETY_RESULTS")
                        or os.path.join(REPO, "build", "safety-results"))
    parser.add_argument("--readme", default=os.path.join(REPO, "README.md"))
    parser.add_argument("--check", action="store_true", help="exit 1 when the README would change")
    args = parser.parse_args(argv)
    figures = load(args.results)
    if not figures:
        print("safety_report: no figures in {}; README left as it is".format(args.results))
        return 0
    try:
        old, new = rewrite(args.readme, section(figures))
    except OSError as e:
        print("safety_report: cannot read {}: {}".format(args.readme, e))
        return 0
    if new == old:
        print("safety_report: README reliability section unchanged")
        return 0
    if args.check:
        print("safety_report: README reliability section would change")
        return 1
    with open(args.readme, "w", encoding="utf-8") as handle:
        handle.write(new)
    print("safety_report: README reliability section rewritten from {}".format(args.results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
