#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this). Run as root on Debian 12:
#   1. builds (or restores) the lab server with the tutorial's values and runs every test;
#   2. switches the lab to a second set of names and passwords and runs the lab tests again,
#      which is how we know nothing the admin chose is hard-coded;
#   3. puts the default lab back;
#   4. builds the lab on Debian 13 and upgraded from 12 to 13 in lab machines (their own
#      namespaces, tests/lab/machine.sh) and runs mailcheck inside them (MAILCHECK_MACHINES=skip
#      skips this; it runs after every host lab test: the host sees the machines' processes);
#   5. checks formatting and lints.
set -Eeuo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== %s\n' "$*"; }

step "lab (tutorial values)"
bash tests/lab/up.sh

# The HTML report is checked in a real browser; TAP with perl's prove (always on Debian).
if ! command -v chromium >/dev/null; then
  step "installing chromium (HTML report test)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
fi

# The progress line is checked on a real terminal: a tmux pane.
if ! command -v tmux >/dev/null; then
  step "installing tmux (progress line test)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tmux >/dev/null \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tmux >/dev/null; }
fi

# Counts the tests write for the README's reliability table: one file per count under
# target/tmp/reliability/ (tests/fuzz_parsers.rs), or lines appended to reliability.txt.
rm -rf target/tmp/reliability.txt target/tmp/reliability
step "cargo test (unit, fixtures, fakes, lab)"
cargo test --all-targets --locked

second_lab=(LAB_HOSTNAME=mx.corp.test LAB_DOMAIN=corp.test LAB_ACCOUNT=alice@corp.test
            LAB_PASSWORD=Alice-pw.2468 LAB_DB_NAME=corpmail LAB_DB_USER=corpadmin
            LAB_DB_PASSWORD=corp-DB.pw.1357)
restore_default() { bash tests/lab/up.sh >/dev/null || true; }
trap restore_default EXIT

step "lab (second set of names: mx.corp.test, alice@corp.test)"
env "${second_lab[@]}" bash tests/lab/up.sh

step "reliability counts (from the run above)"
# fuzz_hostfacts counts in a last test (zz_...), right only when the tests run one at a time.
cargo test --locked -q --test fuzz_hostfacts -- --test-threads=1 >/dev/null
# One line per count, whatever order the tests ran in: each per-test file, then the appended
# lines, keeping the last of lines that differ only in their numbers (a test run twice); sorted.
{ cat target/tmp/reliability/*.txt 2>/dev/null; cat target/tmp/reliability.txt 2>/dev/null; } \
  | awk '{ k = $0; gsub(/[0-9]+/, "#", k); last[k] = $0 } END { for (k in last) print last[k] }' | sort \
  > target/tmp/reliability.counts
mv target/tmp/reliability.counts target/tmp/reliability.txt
cat target/tmp/reliability.txt

step "cargo test --test lab on the second lab"
cargo test --locked --test lab

step "lab (back to tutorial values)"
trap - EXIT
bash tests/lab/up.sh

if [ "${MAILCHECK_MACHINES:-}" = skip ]; then
  step "lab machines: skipped (MAILCHECK_MACHINES=skip)"
else
  bash tests/lab/machines-ci.sh target/debug/mailcheck
fi

step "supply chain: cargo deny check bans licenses sources (rustls only, no OpenSSL)"
command -v cargo-deny >/dev/null || cargo install --locked -q cargo-deny
cargo deny --log-level error check bans licenses sources

step "fuzz smoke: every fuzz target for 3 s (bash bench/fuzz.sh --smoke)"
# Builds fuzz/ (its own workspace and lock file; cargo-fuzz and libFuzzer on stable) and runs
# each target from its committed seeds; a crash fails the suite.
# Cost: the fuzz build (a second, instrumented release build of the crate: ~6 CPU-minutes from
# scratch) plus 22 x 3 s. MAILCHECK_FUZZ_SMOKE=0 skips it.
if [ "${MAILCHECK_FUZZ_SMOKE:-1}" = 1 ]; then
  fuzz_start=$(date +%s)
  bash bench/fuzz.sh --smoke
  echo "fuzz smoke: $(( $(date +%s) - fuzz_start )) s, build included"
fi

step "cargo fmt --check, cargo clippy -D warnings"
cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
echo "all tests passed"
