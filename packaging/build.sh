#!/usr/bin/env bash
# Build the release binary, generate the man page and shell completions from the clap
# definitions (`qfix man`, `qfix completions SHELL`), then the .deb and/or .rpm.
# usage: packaging/build.sh [deb|rpm|all]   (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
cargo build --release --locked
# .cargo/config.toml builds for the host as an explicit target (for the static link): the
# binary is in target/<host>/release, where both packagers look when given the target
host=$(rustc --print host-tuple)
qfix=target/$host/release/qfix
mkdir -p target/assets
$qfix man | gzip -9n > target/assets/qfix.1.gz
$qfix completions bash > target/assets/qfix.bash
$qfix completions zsh > target/assets/_qfix
$qfix completions fish > target/assets/qfix.fish
case $what in
  deb|all) cargo deb --no-build --locked --target "$host" ;;&
  rpm|all) cargo generate-rpm --target "$host" ;;
esac
ls -1 "target/$host"/debian/*.deb "target/$host"/generate-rpm/*.rpm 2>/dev/null || true
