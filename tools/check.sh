#!/usr/bin/env bash
# Set up guestprep in a virtual environment and check this machine (read-only).
#   tools/check.sh [guestprep check options, e.g. --format json | --root DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=.venv/run
if [ ! -x "$VENV/bin/guestprep" ] || [ pyproject.toml -nt "$VENV/bin/guestprep" ]; then
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip >/dev/null
  "$VENV/bin/pip" install -q . >/dev/null
fi
exec "$VENV/bin/guestprep" check "$@"
