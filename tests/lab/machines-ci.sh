#!/usr/bin/env bash
# tests/lab/machines-ci.sh - the lab machines' part of tests/run.sh: the tutorial's server on
# Debian 13 (machine ci-deb13) and upgraded from 12 to 13 (machine ci-deb12to13, tests/lab/upgrade.sh),
# each checked with the given mailcheck binary from inside.
#
#   tests/lab/machines-ci.sh MAILCHECK_BINARY [OUT_DIR]      # OUT_DIR: target/lab-machines
#
# It fails when a machine cannot be built, when its lab does not come up, when AUTH on 587 or a
# delivery does not work in it, when mailcheck finds a fail or an error on the clean Debian 13 lab,
# or when the lab tests of the upgrade-aware checks (tests/lab/upgrade_checks.rs: a break of them
# on 13, what mailcheck said about the upgrade) fail inside the machines (MAILCHECK_MACHINE_TESTS=skip
# skips those; they need cargo). mailcheck's reports are kept (OUT_DIR/*.json). Both machines are destroyed at
# the end (the image cache in /var/cache/mailcheck-lab stays). Never run it while lab tests run on
# this host: the host sees the machines' processes (see tests/lab/README.md).
set -Eeuo pipefail
export LC_ALL=C
LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$LAB_DIR/../.." && pwd)
[ $# -ge 1 ] && [ -x "$1" ] || { echo "usage: $0 MAILCHECK_BINARY [OUT_DIR]" >&2; exit 2; }
BIN=$(readlink -f "$1")
OUT=$(mkdir -p "${2:-$REPO/target/lab-machines}" && cd "${2:-$REPO/target/lab-machines}" && pwd)
m() { bash "$LAB_DIR/machine.sh" "$@"; }
step() { printf '\n=== %s\n' "$*"; }
T0=$EPOCHSECONDS
secs() { printf '%ds' $((EPOCHSECONDS - $1)); }

cleanup() { m destroy ci-deb13 >/dev/null 2>&1 || true; m destroy ci-deb12to13 >/dev/null 2>&1 || true; }
cleanup     # left over from a run that was killed
trap cleanup EXIT

# The two images at once (each is mostly waiting for downloads and dpkg).
step "lab machines: images (cached in /var/cache/mailcheck-lab)"
t=$EPOCHSECONDS
pids=()
for suite in bookworm trixie; do
    m image "$suite" >"$OUT/image-$suite.log" 2>&1 &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || { cat "$OUT"/image-*.log >&2; exit 1; }; done
cat "$OUT"/image-*.log
echo "images ready in $(secs "$t")"

# nonpass FILE: the checks that did not pass
nonpass() {
    python3 - "$1" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
print("  summary:", ", ".join(f"{k} {v}" for k, v in r["summary"].items()))
for c in r["checks"]:
    if c["status"] != "pass":
        print(f"  {c['status']:5} {c['id']}: {c.get('message', '')}")
EOF
}

# lab_tests MACHINE: tests/lab/upgrade_checks.rs inside MACHINE (each test knows which lab it is for).
lab_tests() {
    [ "${MAILCHECK_MACHINE_TESTS:-}" != skip ] && command -v cargo >/dev/null || { echo "lab tests in $1: skipped"; return 0; }
    (cd "$REPO" && MAILCHECK_LAB=$1 cargo test -q --test lab upgrade -- --test-threads 1)
}

step "lab machine ci-deb13: the tutorial's server on Debian 13"
t=$EPOCHSECONDS
m create ci-deb13 trixie
m start ci-deb13
m up ci-deb13
install -m 755 "$BIN" "$(m root ci-deb13)/usr/local/bin/mailcheck"
# Secrets through the environment only (every command line is visible in the host's /proc).
m exec ci-deb13 -- bash -c '. /run/mailcheck-lab.env
    maildir=/home/vmail/$LAB_DOMAIN/${LAB_ACCOUNT%@*}/new; before=$(ls "$maildir" | wc -l)
    SWAKS_OPT_auth_password=$LAB_PASSWORD swaks --server 127.0.0.1 --port 587 --tls --auth PLAIN \
        --auth-user "$LAB_ACCOUNT" --from "$LAB_ACCOUNT" --to "$LAB_ACCOUNT" --header "Subject: CI smoke test" >/dev/null \
        || { echo "AUTH on 587 or the submission failed" >&2; exit 1; }
    for i in $(seq 100); do [ "$(ls "$maildir" | wc -l)" -gt "$before" ] && break; sleep 0.1; done
    [ "$(ls "$maildir" | wc -l)" -gt "$before" ] || { echo "no delivery to $maildir" >&2; exit 1; }
    echo "smoke test: AUTH PLAIN on 587 after STARTTLS and a delivery work"'
rc=0
m exec ci-deb13 -- bash -c '. /run/mailcheck-lab.env; MAILCHECK_PASSWORD=$LAB_PASSWORD \
    mailcheck run --host "$LAB_HOSTNAME" --account "$LAB_ACCOUNT" --format json' >"$OUT/deb13.json" || rc=$?
echo "mailcheck in ci-deb13: exit $rc"
nonpass "$OUT/deb13.json"
[ "$rc" = 0 ] || { echo "mailcheck found a fail or an error on the clean Debian 13 lab" >&2; exit 1; }
lab_tests ci-deb13
m destroy ci-deb13
echo "ci-deb13 in $(secs "$t")"

step "upgrade lab ci-deb12to13: Debian 12 upgraded in place to 13"
t=$EPOCHSECONDS
bash "$LAB_DIR/upgrade.sh" -n ci-deb12to13 -o "$OUT/upgrade" "$BIN"
grep -q '^Maildir new/: \([0-9]*\) -> ' "$OUT/upgrade/report.txt" \
    && awk '/^Maildir new\/:/ { exit !($5 > $3) }' "$OUT/upgrade/report.txt" \
    || { echo "the upgraded lab did not deliver the smoke test mail (see $OUT/upgrade/report.txt)" >&2; exit 1; }
grep -q '235 2.7.0' "$OUT/upgrade/report.txt" || { echo "AUTH on 587 failed after the upgrade" >&2; exit 1; }
echo "mailcheck after the upgrade:"
nonpass "$OUT/upgrade/after.json"
lab_tests ci-deb12to13
m destroy ci-deb12to13
echo "upgrade lab in $(secs "$t")"
step "lab machines: $(secs "$T0") in all; reports in $OUT"
