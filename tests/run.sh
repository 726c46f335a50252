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

rm -f target/tmp/reliability.txt
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
cargo test --locked -q --test fuzz_parsers -- --test-threads=1 >/dev/null
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

step "cargo fmt --check, cargo clippy -D warnings"
cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
echo "all tests passed"
