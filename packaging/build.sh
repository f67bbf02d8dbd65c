#!/usr/bin/env bash
# Build the release binary and the .deb and/or .rpm, the way any Rust project is packaged:
# `cargo build --release`, then `cargo deb` / `cargo generate-rpm` on its output (both read
# `target/release/` in Cargo.toml under CARGO_TARGET_DIR when it is set).
# The man pages and shell completions they ship are generated from the CLI definitions and
# kept in packaging/assets; `build.sh assets` regenerates them (a test fails when they are
# out of date).
# usage: packaging/build.sh [deb|rpm|all|assets]   (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
case $what in
  deb|rpm|all|assets) ;;
  *) echo "usage: $0 [deb|rpm|all|assets]" >&2; exit 2 ;;
esac
target_dir=${CARGO_TARGET_DIR:-target}
cargo build --release --locked
qfix=$target_dir/release/qfix

if [ "$what" = assets ]; then
  # the pages' date: the last commit's, so regenerating an unchanged tree changes nothing
  SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
  export SOURCE_DATE_EPOCH
  rm -rf packaging/assets/man packaging/assets/completions
  mkdir -p packaging/assets/completions
  "$qfix" man --dir packaging/assets/man >/dev/null
  "$qfix" completions bash > packaging/assets/completions/qfix.bash
  "$qfix" completions zsh > packaging/assets/completions/_qfix
  "$qfix" completions fish > packaging/assets/completions/qfix.fish
  ls -1 packaging/assets/man packaging/assets/completions
  exit 0
fi

case $what in
  deb|all) cargo deb --no-build --locked ;;&
  rpm|all) cargo generate-rpm ;;
esac
ls -1 "$target_dir"/debian/*.deb "$target_dir"/generate-rpm/*.rpm 2>/dev/null || true
