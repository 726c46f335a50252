#!/usr/bin/env bash
# Coverage-guided fuzzing of every parser of server- or user-controlled input (fuzz/, cargo-fuzz
# with libFuzzer on the stable toolchain: no sanitizer, debug assertions and overflow checks on).
#
#   bash bench/fuzz.sh                 each target for 10^6 executions (MAILCHECK_FUZZ_RUNS)
#   bash bench/fuzz.sh --time 60       each target for 60 s instead
#   bash bench/fuzz.sh --smoke         each target for 3 s (CI, tests/run.sh); exit 1 on a crash
#   bash bench/fuzz.sh smtp_reply ...  only these targets
#   bash bench/fuzz.sh --no-build ...  use the binaries already built (MAILCHECK_FUZZ_BIN_DIR, by
#                                      default fuzz/target/x86_64-unknown-linux-gnu/release), e.g.
#                                      a copy, so that a build can run beside a long fuzzing run;
#                                      MAILCHECK_FUZZ_REPORT names the table file (two runs at once)
#   MAILCHECK_FUZZ_MAX_SECS=120 bash bench/fuzz.sh   10^6 executions or 120 s a target, whichever
#                                      comes first (the table says which targets fell short)
#
# Each target starts from its committed seeds (fuzz/seeds/TARGET, from fixtures and test data:
# python3 fuzz/seeds.py) plus what earlier runs found (fuzz/target/corpus/TARGET, not
# committed). A crash (a panic, an abort such as a stack overflow, a hang over 10 s, memory over
# 2 GB) is saved in fuzz/artifacts/TARGET/ and the target goes on fuzzing (at most 5 crashes a
# target); reproduce one with `fuzz/target/x86_64-unknown-linux-gnu/release/TARGET FILE`, then
# pin it as a regression test (tests/fuzz_parsers.rs). Prints one line per target and a table at
# the end (also in fuzz/target/fuzz-report.md). Runs under `nice`: the machine is shared.
# MAILCHECK_FUZZ_SANITIZER=address builds with AddressSanitizer (RUSTC_BOOTSTRAP=1 on stable).
set -Eeuo pipefail
cd "$(dirname "$0")/.."

runs="${MAILCHECK_FUZZ_RUNS:-1000000}"
max_secs="${MAILCHECK_FUZZ_MAX_SECS:-0}"
time_budget=0
smoke=false
build=true
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) smoke=true; runs=0; time_budget=3 ;;
    --time) time_budget="$2"; runs=0; shift ;;
    --runs) runs="$2"; shift ;;
    --no-build) build=false ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1") ;;
  esac
  shift
done

export CARGO_INCREMENTAL=0
command -v cargo-fuzz >/dev/null || cargo install --locked -q cargo-fuzz
sanitizer="${MAILCHECK_FUZZ_SANITIZER:-none}"
[ "$sanitizer" = none ] || export RUSTC_BOOTSTRAP=1

# The lock file is committed; refuse to fuzz with dependencies it does not pin.
cargo metadata --locked --format-version 1 --manifest-path fuzz/Cargo.toml >/dev/null
build_start=$(date +%s)
$build && nice cargo fuzz build -s "$sanitizer" -a
build_secs=$(( $(date +%s) - build_start ))

mapfile -t all < <(cargo fuzz list)
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
bin_dir="${MAILCHECK_FUZZ_BIN_DIR:-fuzz/target/x86_64-unknown-linux-gnu/release}"

# libFuzzer options: -runs counts every execution, seeds included; a hang is an input that takes
# over 10 s.
opts=(-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -close_fd_mask=1)
[ "$runs" -gt 0 ] && opts+=(-runs="$runs")
[ "$time_budget" -gt 0 ] && opts+=(-max_total_time="$time_budget")
[ "$runs" -gt 0 ] && [ "$max_secs" -gt 0 ] && opts+=(-max_total_time="$max_secs")
$smoke && opts+=(-seed=1)

report="${MAILCHECK_FUZZ_REPORT:-fuzz/target/fuzz-report.md}"
rows=()
total_execs=0
total_crashes=0
printf '%-18s %12s %8s %8s %10s %8s\n' target executions crashes seconds exec/s corpus
for t in "${targets[@]}"; do
  corpus="fuzz/target/corpus/$t"
  artifacts="fuzz/artifacts/$t"
  mkdir -p "$corpus" "$artifacts"
  execs=0 crashes=0 start=$(date +%s) left="$runs"
  log="fuzz/target/$t.log"
  : >"$log"
  while :; do
    before=$(find "$artifacts" -type f | wc -l)
    run_opts=("${opts[@]}")
    # regexp_table: each rule is compiled by the regex crate (most of the time of an execution),
    # so inputs past 1 KB (about 40 rules, a real table has a few) only add more of the same.
    [ "$t" = regexp_table ] && run_opts+=(-max_len=1024)
    [ "$runs" -gt 0 ] && run_opts=("${run_opts[@]/#-runs=*/-runs=$left}")
    rc=0
    nice "$bin_dir/$t" "${run_opts[@]}" -artifact_prefix="$artifacts/" "$corpus" "fuzz/seeds/$t" \
      >>"$log" 2>&1 || rc=$?
    n=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || echo 0)
    # Each restart prints its own final stats; add them up.
    execs=$(( execs + n ))
    sed -i 's/stat::number_of_executed_units:/stat::counted_units:/' "$log"
    after=$(find "$artifacts" -type f | wc -l)
    [ "$rc" -eq 0 ] && break
    if [ "$after" -le "$before" ]; then
      echo "$t: libFuzzer exited $rc without a crash file; see $log" >&2
      crashes=$(( crashes + 1 ))
      break
    fi
    crashes=$(( crashes + after - before ))
    [ "$crashes" -ge 5 ] && break
    if [ "$runs" -gt 0 ]; then
      left=$(( runs - execs ))
      [ "$left" -gt 0 ] || break
      [ "$max_secs" -gt 0 ] && [ $(( $(date +%s) - start )) -ge "$max_secs" ] && break
    else
      [ $(( $(date +%s) - start )) -lt "$time_budget" ] || break
    fi
  done
  secs=$(( $(date +%s) - start ))
  rate=$(( execs / (secs > 0 ? secs : 1) ))
  size=$(find "$corpus" -type f | wc -l)
  printf '%-18s %12d %8d %8d %10d %8d\n' "$t" "$execs" "$crashes" "$secs" "$rate" "$size"
  rows+=("| \`$t\` | $execs | $crashes | $secs | $rate | $size |")
  total_execs=$(( total_execs + execs ))
  total_crashes=$(( total_crashes + crashes ))
done

{
  echo "# bench/fuzz.sh, $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores"
  echo
  echo "Build (cargo fuzz build -s $sanitizer -a): $($build && echo "${build_secs} s" || echo "skipped, binaries in $bin_dir"). Per target: $(
    [ "$runs" -gt 0 ] && echo "$runs executions" || echo "${time_budget} s")$(
    [ "$runs" -gt 0 ] && [ "$max_secs" -gt 0 ] && echo ", or ${max_secs} s if sooner")."
  echo
  echo "| target | executions | crashes | seconds | exec/s | corpus |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: |"
  printf '%s\n' "${rows[@]}"
  echo "| all ${#targets[@]} | $total_execs | $total_crashes | | | |"
} >"$report"
echo
cat "$report"
if [ "$total_crashes" -gt 0 ]; then
  echo "crashes: see fuzz/artifacts/ (reproduce: $bin_dir/TARGET FILE)" >&2
  exit 1
fi
exit 0
