#!/usr/bin/env bash
# Build every way guestprep ships into dist/ (gitignored):
#   dist/guestprep.pyz                 single file (python3 -m zipapp)
#   dist/guestprep_VERSION_all.deb     Debian package (dpkg-buildpackage)
#   dist/guestprep-VERSION-1.noarch.rpm  rpm (rpmbuild, from Debian's `rpm` package here)
#
#   tools/package.sh [pyz|deb|rpm]...  (default: all three)
#
# As root, missing build tools are installed with apt-get (rpm, debhelper). Called by
# tools/test.sh before the packaging tests.
set -euo pipefail
cd "$(dirname "$0")/.."
WHAT=("$@")
[ ${#WHAT[@]} = 0 ] && WHAT=(pyz deb rpm)
VERSION=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' agent/__init__.py)
DIST=$PWD/dist
mkdir -p "$DIST"

need() {  # need COMMAND APT-PACKAGE: install the package when the command is missing (root only)
  command -v "$1" >/dev/null && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "package: installing $2 (for $1)" >&2
    { apt-get update -qq || true; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2"; } >&2
  fi
  command -v "$1" >/dev/null || { echo "package: $1 not found (apt-get install $2)" >&2; return 1; }
}

stage() {  # stage DIR: the files the packages are built from, without caches or tests
  local dir=$1
  rm -rf "$dir"
  mkdir -p "$dir/packaging"
  find agent remediations -name '*.py' -not -path '*/__pycache__/*' | while read -r f; do
    mkdir -p "$dir/$(dirname "$f")"; cp "$f" "$dir/$f"
  done
  python3 tools/msgfmt.py "$dir/agent/locale" >/dev/null   # one guestprep.mo per language
  cp -r systemd README.md "$dir/"
  cp -r packaging/bin packaging/man "$dir/packaging/"
}

for what in "${WHAT[@]}"; do
  case $what in
    pyz)
      packaging/zipapp/build.sh "$DIST/guestprep.pyz" >/dev/null
      echo "$DIST/guestprep.pyz" ;;
    deb)
      need dpkg-buildpackage dpkg-dev
      need dh debhelper
      work=$DIST/build/deb
      rm -rf "$work"
      stage "$work/guestprep-$VERSION"
      cp -r packaging/debian "$work/guestprep-$VERSION/debian"
      (cd "$work/guestprep-$VERSION" && dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1 || {
        tail -n 40 "$work/build.log" >&2; exit 1; }
      cp "$work/guestprep_${VERSION}_all.deb" "$DIST/"
      echo "$DIST/guestprep_${VERSION}_all.deb" ;;
    rpm)
      need rpmbuild rpm
      work=$DIST/build/rpm
      rm -rf "$work"
      mkdir -p "$work/SOURCES" "$work/src"
      stage "$work/src/guestprep-$VERSION"
      tar -C "$work/src" -czf "$work/SOURCES/guestprep-$VERSION.tar.gz" "guestprep-$VERSION"
      # --nodeps: this rpm database is empty (Debian host); BuildRequires hold on RPM systems.
      rpmbuild -bb --nodeps --define "_topdir $work" packaging/rpm/guestprep.spec >"$work/build.log" 2>&1 || {
        tail -n 40 "$work/build.log" >&2; exit 1; }
      cp "$work"/RPMS/noarch/guestprep-"$VERSION"-1*.noarch.rpm "$DIST/"
      ls "$DIST"/guestprep-"$VERSION"-1*.noarch.rpm ;;
    *) echo "package: unknown target '$what' (pyz, deb or rpm)" >&2; exit 2 ;;
  esac
done
