#!/bin/sh
# Run by Packer's shell provisioner (guestprep.pkr.hcl) on the VM being built, as root:
# check, then fix; the build fails when blocking findings remain (exit 3), when a fix
# failed and was rolled back (4), when a rollback failed (5) or when another guestprep run
# held the lock (6): only a fix that ran (0 or 3) goes on to the next step.
#   GUESTPREP_PYZ    where the file provisioner put guestprep.pyz (default /tmp/guestprep.pyz)
#   GUESTPREP_ITEMS  items to fix besides the safe default ones, e.g. "qemu-ga,cloudinit"
#                    (package installs and removals are only made when named)
set -u
PYZ=${GUESTPREP_PYZ:-/tmp/guestprep.pyz}
ITEMS=${GUESTPREP_ITEMS:-}
PY=$(command -v python3 || command -v python3.6 || true)
[ -n "$PY" ] || { echo "guestprep: no python3 on this image" >&2; exit 1; }

echo "== guestprep check"
"$PY" "$PYZ" check
echo "== guestprep fix (the safe, reversible fixes)"
"$PY" "$PYZ" fix --yes
rc=$?
if [ -n "$ITEMS" ] && { [ $rc -eq 0 ] || [ $rc -eq 3 ]; }; then
  echo "== guestprep fix --items $ITEMS"
  "$PY" "$PYZ" fix --yes --items "$ITEMS"
  rc=$?
fi
if [ $rc -eq 0 ] || [ $rc -eq 3 ]; then
  # The verdict is a check of everything, not only of the items just fixed.
  echo "== guestprep check (after the fixes)"
  "$PY" "$PYZ" check >/dev/null
  rc=$?
fi
case $rc in
  0) echo "guestprep: nothing blocks the import" ;;
  3) echo "guestprep: blocking findings remain (exit 3): failing the build" >&2 ;;
  *) echo "guestprep: exited $rc: failing the build" >&2 ;;
esac
# The journal holds backups (copies of /etc/shadow among them): not part of the image.
rm -rf /var/lib/guestprep "$PYZ"
exit $rc
