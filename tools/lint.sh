#!/usr/bin/env bash
# Lint the shipped code (agent/, remediations/) with ruff, configured in pyproject.toml
# ([tool.ruff]): line length (120), unused names (imports, variables), import order (isort:
# standard library, third party, agent and remediations), and pyflakes' other findings
# (redefinitions, undefined names).
#   tools/lint.sh          report what it finds; exit 1 when anything is found
#   tools/lint.sh --fix    first apply ruff's safe fixes (import order, unused imports), then
#                          report what is left to fix by hand
# The fixes only reorder and delete import lines: an import inside a function stays in its
# function (those are deliberate, for startup time), an import in try/except ImportError (an
# availability test) is never deleted, and Python 3.6 reads the result as before (tools/test.sh
# runs vermin and the 3.6 tests too). ruff comes from PyPI into .venv/lint, made on first use
# with $PYTHON (default python3); tools/test.sh runs this script in both of its modes.
set -euo pipefail
cd "$(dirname "$0")/.."
PIN="ruff==0.17.*"
FIX=()
case "${1:-}" in
  --fix) FIX=(--fix) ;;
  "") ;;
  *) echo "usage: tools/lint.sh [--fix]" >&2; exit 2 ;;
esac

if [ ! -x .venv/lint/bin/ruff ] || [ "$(cat .venv/lint/.installed 2>/dev/null)" != "$PIN" ]; then
  rm -rf .venv/lint
  "${PYTHON:-python3}" -m venv .venv/lint >&2
  .venv/lint/bin/python -m pip install -q "$PIN" >&2
  echo "$PIN" >.venv/lint/.installed
fi
exec .venv/lint/bin/ruff check --output-format concise ${FIX[@]+"${FIX[@]}"} agent remediations
