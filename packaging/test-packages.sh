#!/usr/bin/env bash
# CI: build the .deb and the .rpm, lint them (lintian --pedantic, rpmlint), install the .deb
# with dpkg -i and run the installed binary by its full path (/usr/bin/qfix: another qfix,
# e.g. one in ~/.cargo/bin, may come first on PATH), check the rpm's payload, then remove the
# package. Each check is named; the last line counts them, and any failure exits 1 after
# saying which. Needs root (dpkg -i), cargo-deb, cargo-generate-rpm, lintian, rpmlint, rpm.
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir=${CARGO_TARGET_DIR:-target}
version=$(cargo metadata --no-deps --format-version 1 --locked |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["packages"][0]["version"])')

passed=0
failed=()
# check NAME COMMAND...: run it, count it, and on failure show its output
check() {
  local name=$1 out
  shift
  if out=$("$@" 2>&1); then
    passed=$((passed + 1))
    echo "ok: $name"
  else
    failed+=("$name")
    echo "FAILED: $name ($*)"
    printf '%s\n' "$out" | sed 's/^/  | /'
  fi
}

for tool in cargo-deb cargo-generate-rpm; do
  command -v "$tool" >/dev/null || cargo install --locked --quiet "$tool"
done
packaging/build.sh all
deb=$target_dir/debian/qfix_${version}-1_$(dpkg --print-architecture).deb
rpm=$(find "$target_dir/generate-rpm" -name "qfix-${version}-1.*.rpm" | head -1)
echo "built: $deb ($(stat -c %s "$deb") bytes), $rpm ($(stat -c %s "$rpm") bytes)"

# the linters: every tag is fixed or overridden with a reason (packaging/debian/
# lintian-overrides, packaging/rpmlint.toml); a new one fails the run
check "lintian --pedantic: no tag" lintian --pedantic --info --fail-on error,warning,info,pedantic "$deb"
rpmlint_clean() {
  local out
  out=$(rpmlint -c packaging/rpmlint.toml "$rpm" 2>&1) || { echo "$out"; return 1; }
  echo "$out"
  grep -q " 0 errors, 0 warnings" <<<"$out"
}
check "rpmlint: 0 errors, 0 warnings" rpmlint_clean

# the rpm's payload, unpacked (this Debian machine does not install rpms)
payload=$(mktemp -d)
trap 'rm -rf "$payload"' EXIT
# rpm2cpio here (rpm 4.18) exits 1 on zstd payloads after writing the whole archive: cpio,
# which checks the archive, says whether it is whole
rpm2cpio "$rpm" >"$payload.cpio" || true
check "rpm: payload unpacks" sh -c "cd '$payload' && cpio -idm --quiet <'$payload.cpio'"
rm -f "$payload.cpio"
check "rpm: /usr/bin/qfix is stripped" sh -c "file '$payload/usr/bin/qfix' | grep -q ', stripped'"
check "rpm: /usr/bin/qfix --version runs" "$payload/usr/bin/qfix" --version
check "rpm: qfix-plan(1) shipped" test -f "$payload/usr/share/man/man1/qfix-plan.1"
check "rpm: license files shipped" test -f "$payload/usr/share/licenses/qfix/LICENSE-APACHE"

if dpkg -s qfix >/dev/null 2>&1; then
  echo "FAILED: a qfix package is already installed here; refusing to replace or remove it" >&2
  exit 1
fi
dpkg -i "$deb" >/dev/null
trap 'dpkg -r qfix >/dev/null 2>&1 || true; rm -rf "$payload"' EXIT
bin=/usr/bin/qfix
check "deb: $bin --version is $version" sh -c "$bin --version | grep -qx 'qfix $version'"
check "deb: dynamically linked against libc" sh -c "file $bin | grep -q 'dynamically linked'"
check "deb: depends on libc6" sh -c "dpkg-query -W -f '\${Depends}' qfix | grep -q libc6"
for page in qfix qfix-plan qfix-apply qfix-explain; do
  check "deb: man $page" test -f "/usr/share/man/man1/$page.1.gz"
done
check "deb: bash completion offers rule codes" grep -q QF101 /usr/share/bash-completion/completions/qfix
check "deb: built-in rules shipped" test -f /usr/share/qfix/rules/QF101-backlog-exceeds-somaxconn.toml
check "deb: copyright is DEP-5" grep -q '^Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/' /usr/share/doc/qfix/copyright
tree=$(mktemp -d)
cp -a fixtures/debian-stock/. "$tree"/
plan_exit() {
  local rc=0
  "$bin" --root "$tree" plan >/dev/null || rc=$?
  echo "exit $rc (2 = changes proposed)"
  [ "$rc" -eq 2 ]
}
check "deb: $bin plan on the stock Debian tree proposes changes" plan_exit
rm -rf "$tree"
dpkg -r qfix >/dev/null
trap 'rm -rf "$payload"' EXIT
check "deb: removed, $bin is gone" test ! -e "$bin"

echo "packages: $passed passed, ${#failed[@]} failed"
if [ ${#failed[@]} -gt 0 ]; then
  printf 'failed: %s\n' "${failed[@]}" >&2
  exit 1
fi
