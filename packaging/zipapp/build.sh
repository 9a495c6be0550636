#!/usr/bin/env bash
# Build dist/guestprep.pyz: one file to copy to a VM and run with its own python3 (3.6+).
#
#   packaging/zipapp/build.sh [OUT]      (default: dist/guestprep.pyz)
#
# It holds agent/ and remediations/ only (with agent/locale/*/guestprep.mo). psutil, distro and PyYAML are not vendored:
# they hold compiled code or belong to the distribution, and the VM's own python3-psutil
# and python3-yaml are used when installed; without them guestprep says which checks it
# skipped and why.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-dist/guestprep.pyz}
PY=${PYTHON:-python3}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$(dirname "$OUT")"
# Sources only: no caches, no tests; sorted so two builds hold the same files.
find agent remediations -name '*.py' -not -path '*/__pycache__/*' | LC_ALL=C sort | while read -r f; do
  mkdir -p "$stage/$(dirname "$f")"
  cp "$f" "$stage/$f"
done
# The message catalogues, compiled (read through the zip's loader: agent/output/i18n.py).
"$PY" tools/msgfmt.py "$stage/agent/locale" >/dev/null
# The entry point loads the modules' compiled code from a cache outside the archive
# (agent/core/pyzcache.py): bytecode is per Python version, the archive is for all of them.
cp packaging/zipapp/__main__.py "$stage/__main__.py"
"$PY" -m zipapp "$stage" -p "/usr/bin/env python3" -o "$OUT.tmp"
chmod 755 "$OUT.tmp"
mv -f "$OUT.tmp" "$OUT"
echo "$OUT"
