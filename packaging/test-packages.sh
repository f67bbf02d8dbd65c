#!/usr/bin/env bash
# CI: build the .deb and .rpm, install the .deb with dpkg -i, run the installed qfix
# (--version, the man page, a completion, and a plan on a fixture tree), then remove it.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in cargo-deb cargo-generate-rpm; do
  command -v "$tool" >/dev/null || cargo install --locked --quiet "$tool"
done
packaging/build.sh all
host=$(rustc --print host-tuple)
deb=$(ls -t "target/$host"/debian/qfix_*.deb | head -1)
rpm=$(ls -t "target/$host"/generate-rpm/qfix-*.rpm | head -1)
echo "built: $deb ($(stat -c %s "$deb") bytes), $rpm ($(stat -c %s "$rpm") bytes)"
dpkg-deb --contents "$deb" | awk '{print $6}'
if dpkg -s qfix >/dev/null 2>&1; then echo "qfix is already installed here; refusing to touch it" >&2; exit 1; fi
dpkg -i "$deb"
trap 'dpkg -r qfix >/dev/null' EXIT
test "$(command -v qfix)" = /usr/bin/qfix
qfix --version
man -w qfix >/dev/null 2>&1 || test -f /usr/share/man/man1/qfix.1.gz
grep -q _qfix /usr/share/bash-completion/completions/qfix
ls /usr/share/qfix/rules/QF101-backlog-exceeds-somaxconn.toml >/dev/null
tree=$(mktemp -d)
cp -a fixtures/debian-stock/. "$tree"/
set +e
qfix --root "$tree" plan >/dev/null
rc=$?
set -e
echo "installed qfix plan on the stock Debian tree: exit $rc (2 = changes proposed)"
test $rc -eq 2
rm -rf "$tree"
dpkg -r qfix >/dev/null
trap - EXIT
! command -v qfix >/dev/null
echo "packages: 2 passed, 0 failed"
