#!/usr/bin/env bash
# Set up guestprep in a virtual environment and check this machine (read-only).
#   tools/check.sh [guestprep check options, e.g. --format json | --root DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=.venv/run
# Reinstall when the code changed since the last install (a pulled update), not only pyproject.
if [ ! -x "$VENV/bin/guestprep" ] || [ -n "$(find pyproject.toml agent remediations \( -name '*.py' -o -name pyproject.toml \) \
      -newer "$VENV/bin/guestprep" -print -quit)" ]; then
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip >/dev/null
  "$VENV/bin/pip" install -q . >/dev/null
  touch "$VENV/bin/guestprep"   # the stamp the next run compares with
fi
exec "$VENV/bin/guestprep" check "$@"
