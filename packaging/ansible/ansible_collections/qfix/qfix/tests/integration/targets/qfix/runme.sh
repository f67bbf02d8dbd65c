#!/usr/bin/env bash
# A fleet run as its users do it, on local hosts each working on a copy of qfix's stock
# Debian fixture tree (inventory.yml): site.yml in check mode with --diff, for real with
# --diff, then both again; the broken host fails every time while the others go on. The
# recap lines are checked here, the results in verify.yml.
# Needs qfix on PATH; ansible-test passes PATH on. QFIX_FIXTURE overrides where the fixture
# is (default: the repository holding this collection, at packaging/ansible).
set -euo pipefail

collections=${ANSIBLE_COLLECTIONS_PATH:-$(cd ../../../../../.. && pwd)}
fixture=${QFIX_FIXTURE:-$(cd "${collections%%:*}/../.." && pwd)/fixtures/debian-stock}
if [ ! -d "$fixture/etc" ]; then
  echo "no qfix fixture tree at $fixture (set QFIX_FIXTURE)" >&2
  exit 1
fi
command -v qfix >/dev/null || { echo "qfix is not on PATH" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
vars=(-e "qfix_work=$work" -e "qfix_fixture=$fixture")

ansible-playbook -i inventory.yml prepare.yml "${vars[@]}"

# host: ok changed failed, as the recap must show them
expect_recap() {
  local log=$1 host=$2 ok=$3 changed=$4 failed=$5
  if ! grep -Eq "^$host +: ok=$ok +changed=$changed +unreachable=0 +failed=$failed " "$log"; then
    echo "FAILED: $log: want $host ok=$ok changed=$changed failed=$failed; the recap:" >&2
    sed -n '/PLAY RECAP/,$p' "$log" >&2
    exit 1
  fi
}

# site.yml must fail (the broken host), exit 2, and leave the given recap
site() {
  local name=$1
  shift
  local log="$work/$name.log" rc=0
  ansible-playbook -i inventory.yml site.yml "${vars[@]}" -e "qfix_run=${name%-*}" "$@" >"$log" 2>&1 || rc=$?
  cat "$log"
  if [ "$rc" -ne 2 ]; then
    echo "FAILED: site.yml $* exited $rc, want 2 (the broken host fails)" >&2
    exit 1
  fi
}

# first run: the module, the result copy and the handler on each good host
site first-check --check --diff
site first-real --diff
for log in "$work/first-check.log" "$work/first-real.log"; do
  for host in stock1 stock2 unsafe; do expect_recap "$log" "$host" 3 1 0; done
  expect_recap "$log" broken 0 0 1
  grep -q -- "+++ after: $work/stock1/etc/sysctl.d/99-qfix.conf" "$log"
done
# second run: nothing to change, no handler
site second-check --check --diff
site second-real --diff
for log in "$work/second-check.log" "$work/second-real.log"; do
  for host in stock1 stock2 unsafe; do expect_recap "$log" "$host" 2 0 0; done
  expect_recap "$log" broken 0 0 1
  if grep -q -- "+++ after:" "$log"; then
    echo "FAILED: $log shows a diff on the second run" >&2
    exit 1
  fi
done

ansible-playbook -i inventory.yml broken.yml "${vars[@]}"
ansible-playbook -i inventory.yml verify.yml "${vars[@]}"
echo "qfix fleet: all checks passed"
