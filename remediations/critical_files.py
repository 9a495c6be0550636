"""Fix for critical-files: restore changed release, issue and boot files from their packages.

Proposed only (seed 000/002 files are the distribution's; the user names the item). A
changed config file survives a reinstall (rpm keeps it and writes .rpmnew, dpkg keeps it),
so each one is removed first (RemoveFile: backed up, rollback puts it back), and so is a
link where the package has a file (/etc/issue -> issue.acme) or a file where it has a link
(an edited copy of /etc/os-release); then the owning packages are reinstalled:
`dnf|yum reinstall`, `zypper install --force`, or
`apt-get install --reinstall -o Dpkg::Options::=--force-confmiss` (which makes dpkg
restore missing conffiles; pinned to the installed version). The reinstall itself cannot
be undone, but the files it rewrites are listed as `modifies`, so rollback restores their
previous bytes. A last `ls -d` per removed or missing file fails the fix when the
package did not put it back (apt-get exits 0 when it cannot download the package), and
the engine then restores what was removed.
Permission-only changes are left to `rpm --setperms` (in the hint); /bin, /sbin, /lib*
links are left too.
"""
from agent.checks.critical_files import restore_argv
from agent.core.model import Message, Mode, Remediation, RemoveFile, RunCommand


class CriticalFilesFix(Remediation):
    id = "critical_files"
    mode = Mode.PROPOSE
    reversible = False
    offline_safe = True
    note = Message("Reinstalling packages cannot be rolled back; the files it rewrote can.")

    def plan(self, ctx, result):
        modified = [m for m in (result.data or {}).get("modified", []) if not m.get("mode_only")]
        packages = sorted(set(m["package"] for m in modified if m["package"]))
        if not packages:
            return []
        argv = restore_argv(ctx, packages)
        if not argv:
            return []
        steps, absent = [], []
        for change in modified:
            # A link or a replaced link goes too: the journal keeps links as links, and dpkg
            # follows a conffile's link to write through it (rollback would restore the
            # command's files through it as well).
            if change["package"] and ctx.root.lexists(change["path"]) and (
                    change["config"] or change.get("replaced") or ctx.root.islink(change["path"])):
                steps.append(RemoveFile(change["path"], why=Message("let {package} put its own {path} back",
                                                                       package=change["package"], path=change["path"])))
                absent.append(change["path"])
            elif change.get("missing"):
                absent.append(change["path"])
        install = ctx.package_manager() or {}
        if ctx.packages.manager == "dpkg" and install.get("refresh"):
            steps.append(RunCommand(tuple(install["refresh"]), why=Message("refresh the package lists"), network=True))
        steps.append(RunCommand(tuple(argv), why=Message("restore {paths} from {packages}",
                                                     paths=", ".join(m["path"] for m in modified),
                                                     packages=", ".join(packages)),
            undo_hint=Message("rollback restores the files; the packages stay installed (same version)"),
            modifies=tuple(sorted(set(m["path"] for m in modified))), network=True))
        # apt-get exits 0 when it cannot download the package ("Reinstallation of ... is not
        # possible"): a file still absent fails the fix, so the engine puts it back.
        # ls, not test -e: its message says which file, in the failure guestprep reports.
        for path in absent:
            steps.append(RunCommand(("ls", "-d", "--", path), why=Message("fail unless the package put {path} back "
                                                "(apt-get exits 0 when it cannot download it)", path=path)))
        return steps
