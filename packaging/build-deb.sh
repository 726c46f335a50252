#!/usr/bin/env bash
# Builds target/debian/mailcheck_<version>_<arch>.deb: the binary, the man page and bash/zsh/fish
# completions generated from the clap definition, and a sample config. Needs cargo-deb
# (`cargo install cargo-deb --locked`).
set -Eeuo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked
out=target/package
mkdir -p "$out"
bin=target/release/mailcheck
"$bin" generate man | gzip -9n > "$out/mailcheck.1.gz"
for sub in run list explain; do
  "$bin" generate "man-$sub" | gzip -9n > "$out/mailcheck-$sub.1.gz"
done
"$bin" generate bash > "$out/mailcheck.bash"
"$bin" generate zsh > "$out/_mailcheck"
"$bin" generate fish > "$out/mailcheck.fish"
cargo deb --no-build --locked
ls -1 target/debian/*.deb
