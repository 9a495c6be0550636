#!/usr/bin/env bash
# Fuzz every parser, the initramfs reader and every check with hypothesis, as CI does.
#   tools/fuzz.sh            GUESTPREP_FUZZ_EXAMPLES per target (default 5000: >100,000 inputs)
#   GUESTPREP_FUZZ_EXAMPLES=200 tools/fuzz.sh     a quick run
# Generation is derandomized (same inputs every run). Figures go to build/safety-results
# (fuzz-*.json, one per worker); tools/safety_report.py turns them into the README's section.
set -euo pipefail
cd "$(dirname "$0")/.."

newest_python() {
  command -v pyenv >/dev/null || { command -v python3; return; }
  local v
  v=$(pyenv versions --bare 2>/dev/null | grep -E '^3\.[0-9]+\.[0-9]+$' | sort -V | tail -n 1)
  PYENV_VERSION=$v pyenv which python
}

dir=.venv/fuzz
want="pytest pyfakefs psutil distro PyYAML hypothesis pytest-xdist"
if [ ! -f "$dir/.installed" ] || [ "$(cat "$dir/.installed")" != "$want" ]; then
  rm -rf "$dir"
  "$(newest_python)" -m venv "$dir"
  # shellcheck disable=SC2086
  "$dir/bin/python" -m pip install -q $want
  echo "$want" >"$dir/.installed"
fi

export GUESTPREP_FUZZ_EXAMPLES=${GUESTPREP_FUZZ_EXAMPLES:-5000}
results=${GUESTPREP_SAFETY_RESULTS:-build/safety-results}
mkdir -p "$results"
rm -f "$results"/fuzz-*.json
workers=$(nproc 2>/dev/null || echo 2)
[ "$workers" -gt 4 ] && workers=4
echo "== fuzzing: $GUESTPREP_FUZZ_EXAMPLES examples per target, $workers workers"
"$dir/bin/python" -m pytest -q -p no:cacheprovider -n "$workers" tests/fuzz
