#!/usr/bin/env bash
# Build the release binary, generate the man page and shell completions from the clap
# definitions (`qfix man`, `qfix completions SHELL`), then the .deb and/or .rpm.
# usage: packaging/build.sh [deb|rpm|all]   (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
cargo build --release --locked
mkdir -p target/assets
target/release/qfix man | gzip -9n > target/assets/qfix.1.gz
target/release/qfix completions bash > target/assets/qfix.bash
target/release/qfix completions zsh > target/assets/_qfix
target/release/qfix completions fish > target/assets/qfix.fish
case $what in
  deb|all) cargo deb --no-build --locked ;;&
  rpm|all) cargo generate-rpm ;;
esac
ls -1 target/debian/*.deb target/generate-rpm/*.rpm 2>/dev/null || true
