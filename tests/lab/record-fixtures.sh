#!/usr/bin/env bash
# Re-records the judge fixtures (fixtures/<check-id>/recorded-*.json) from real runs: runs every
# lab test with MAILCHECK_LAB_SAVE, so each of their mailcheck runs (the clean lab and every
# break) keeps its recording, then picks a pass and the failures per check
# (tests/lab/record-fixtures.py). Run as root on the lab machine; review `git diff fixtures/`.
set -Eeuo pipefail
cd "$(dirname "$0")/../.."
save=$(mktemp -d /tmp/mailcheck-record.XXXXXX)
trap 'rm -rf "$save"' EXIT
bash tests/lab/up.sh >/dev/null
MAILCHECK_LAB_SAVE=$save cargo test --locked --test lab -- --test-threads=1
python3 tests/lab/record-fixtures.py "$save" fixtures
