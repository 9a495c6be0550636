#!/usr/bin/env bash
# Set up and run every test: unit tests on Python 3.6 and the newest Python, the 3.6
# compatibility check of the code (vermin), the linter (tools/lint.sh), and the end-to-end
# tests on a real Debian root.
#   tools/test.sh            everything
#   tools/test.sh --unit     unit tests, vermin and the linter only (no root, no debootstrap)
set -euo pipefail
cd "$(dirname "$0")/.."
UNIT_ONLY=0
[ "${1:-}" = "--unit" ] && UNIT_ONLY=1

pyenv_python() {  # pyenv_python 3.6 -> path of the newest installed 3.6.x, or nothing
  command -v pyenv >/dev/null || return 0
  local v
  v=$(pyenv versions --bare 2>/dev/null | grep -E "^$1\.[0-9]+$" | sort -V | tail -n 1)
  [ -n "$v" ] && PYENV_VERSION=$v pyenv which python 2>/dev/null || true
}
newest_python() {
  command -v pyenv >/dev/null || { command -v python3; return; }
  local v
  v=$(pyenv versions --bare 2>/dev/null | grep -E '^3\.[0-9]+\.[0-9]+$' | sort -V | tail -n 1)
  PYENV_VERSION=$v pyenv which python
}

venv() {  # venv NAME PYTHON PACKAGES... -> prints the venv's python, creating it once
  local dir=.venv/$1 py=$2; shift 2
  local stamp="$dir/.installed" want="$*"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    rm -rf "$dir"
    "$py" -m venv "$dir" >&2
    if "$dir/bin/python" -c 'import sys; sys.exit(sys.version_info >= (3, 7))'; then
      # Python 3.6's venv ships pip 18, which cannot see current wheels.
      "$dir/bin/python" -m pip install -q "pip>=21,<22" >&2
    fi
    "$dir/bin/python" -m pip install -q "$@" >&2 || return 1
    echo "$want" >"$stamp"
  fi
  echo "$dir/bin/python"
}

status=0
run() { echo "+ $*"; "$@" || { rc=$?; [ $rc = 5 ] && echo "(no tests collected)" || status=1; }; }

# Real rpm (rpmbuild, sqlite, bdb_ro) and Berkeley DB's db_load: tests/test_rpmdb_real.py
# compares the direct rpm database readers with what rpm itself reports (skipped without).
if [ "$(id -u)" = 0 ]; then
  for tool in rpm rpmbuild db5.3_load; do
    command -v $tool >/dev/null || { apt-get update -qq || true; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends rpm db5.3-util; break; }
  done
fi
PY36=$(pyenv_python 3.6)
PYNEW=$(newest_python)
if [ -n "$PY36" ]; then
  V36=$(venv py3.6 "$PY36" "pytest==7.0.*" "pyfakefs==4.6.*" psutil "distro==1.9.*" PyYAML)
  echo "== unit tests, $("$V36" --version 2>&1)"
  run "$V36" -m pytest -q -p no:cacheprovider -m "not e2e" tests --ignore=tests/e2e
else
  echo "== Python 3.6 not found (pyenv install 3.6.15): unit tests on 3.6 NOT run"; status=1
fi
VNEW=$(venv newest "$PYNEW" pytest pyfakefs psutil distro PyYAML vermin)
echo "== unit tests, $("$VNEW" --version 2>&1)"
run "$VNEW" -m pytest -q -p no:cacheprovider -m "not e2e" tests --ignore=tests/e2e
echo "== Python 3.6 floor of the shipped code (vermin)"
run "$(dirname "$VNEW")/vermin" --no-tips --violations --eval-annotations -t=3.6- agent remediations
echo "== linter of the shipped code (tools/lint.sh: ruff as pyproject.toml configures it)"
run env PYTHON="$PYNEW" tools/lint.sh

if [ $UNIT_ONLY = 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    for tool in debootstrap chattr chroot systemd-nspawn bwrap; do
      # systemd-nspawn and bwrap: fix --root runs the image's programs in a container
      command -v $tool >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap e2fsprogs systemd-container bubblewrap; break; }
    done
  fi
  echo "== end-to-end tests on a real Debian root"
  run "$VNEW" -m pytest -q -p no:cacheprovider -rs tests/e2e
  # Safety: SIGKILL at every crash point of a real fix and rollback (about 2 minutes), then
  # hypothesis over every parser, the initramfs reader and every check (about 5 minutes).
  echo "== crash injection on the real Debian root (tests/safety, -m e2e)"
  run "$VNEW" -m pytest -q -p no:cacheprovider -rs -m e2e tests/safety
  echo "== fuzzing (tools/fuzz.sh)"
  run tools/fuzz.sh
  echo "== reliability figures (tools/safety_report.py rewrites the README section)"
  "$VNEW" tools/safety_report.py || true
  # The boot harness: a bootable Debian image with the mission's defects fails to boot under
  # qemu, guestprep fix --root repairs it, it boots with DHCP and sshd (TCG: about 5 minutes;
  # the image is cached in /var/cache/guestprep-boot). Console logs: build/boot-results/.
  echo "== boot harness (tools/build_boot_image.sh, guestprep boot-test under qemu)"
  if [ "$(id -u)" = 0 ]; then
    for tool in qemu-system-x86_64 qemu-img sfdisk grub-install ssh ssh-keygen; do
      command -v $tool >/dev/null || { apt-get update -qq || true; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends qemu-system-x86 qemu-utils ovmf fdisk grub-pc-bin grub2-common openssh-client; break; }
    done
  fi
  # tests/boot/test_seal_boot.py: a sealed image with cloud-init masked boots with its host key;
  # one whose cloud-init runs (NoCloud seed) gets new host keys, machine-id and lease, and
  # rollback after that boot reports the new machine-id as a conflict (TCG: about 7 minutes)
  run env GUESTPREP_BOOT=1 "$VNEW" -m pytest -q -p no:cacheprovider -rs -s tests/boot/test_boot_real.py tests/boot/test_seal_boot.py
  # The boot matrix: disks left by VMware (trixie), Xen (bookworm), VirtualBox (trixie) and
  # Hyper-V (bookworm), predictable NIC names on, each booted dirty, fixed offline with
  # `guestprep fix --root`, booted again (TCG, one boot at a time; ~5 min a cell, plus ~10 min
  # once to build the trixie base and the four cells into /var/cache/guestprep-boot).
  # Console logs and the fix's reports: build/boot-results/<suite>-<cell>/.
  echo "== boot matrix (tools/build_matrix_image.sh, tests/boot/test_boot_matrix.py)"
  run env GUESTPREP_BOOT=1 "$VNEW" -m pytest -q -p no:cacheprovider -rsx -s --tb=short tests/boot/test_boot_matrix.py
  # Packages: build the single file, deb and rpm into dist/, then install and run them on
  # real Debian roots (deb with apt, the Ansible role over chroots, the Packer provisioner).
  echo "== packages (tools/package.sh) and their tests"
  if [ "$(id -u)" = 0 ] && ! command -v packer >/dev/null; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq packer; } >/dev/null 2>&1 || echo "(packer not installed: its template is not validated)"
  fi
  run tools/package.sh
  # Debian's headless Chromium renders the fleet page of `report merge` (tests/packaging/test_fleet_page.py).
  if [ "$(id -u)" = 0 ] && ! command -v chromium >/dev/null; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >/dev/null 2>&1 \
      || echo "(chromium not installed: the fleet page is not rendered)"
  fi
  # The `ansible` package from PyPI: ansible-core plus community.general, whose chroot
  # connection runs the role against the Debian roots.
  ANSIBLE_PY=$(venv ansible "$PYNEW" "ansible") || ANSIBLE_PY=""
  run env GUESTPREP_ANSIBLE_PLAYBOOK="$(dirname "${ANSIBLE_PY:-/nonexistent/x}")/ansible-playbook" \
    "$VNEW" -m pytest -q -p no:cacheprovider -rs -m e2e tests/packaging
fi
exit $status
