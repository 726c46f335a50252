#!/usr/bin/env bash
# The benchmark (issues 8, 18): builds the release binary and the floor program (bench/floor: only
# the protocol work of a full run, no judging), brings up the lab, then measures, in the same
# interleaved rounds after warm-up, the shell baseline (../shared/bench/baseline-shell.sh), the
# floor, a full `mailcheck run` (every check, deliveries via 25 and 587, the attachment test) and
# `mailcheck run --no-send`; then start-up, the many-hosts run, and a cold server. Writes
# reports/benchmark.md with mailcheck/floor and baseline/mailcheck (medians, and the spread of the
# per-round ratios). A benchmark, not a test: nothing here gates CI.
#   ROUNDS=20 WARMUP=3 COLD=1 bash bench/run.sh      (COLD=0 skips the 2-minute cold measurement)
#   NO_BUILD=1 ...                                    (time the binaries already built)
set -Eeuo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-20}; WARMUP=${WARMUP:-3}; COLD=${COLD:-1}
SHARED=${SHARED:-../shared}
OUT=reports/benchmark.md
TMP=$(mktemp -d /tmp/mailcheck-bench.XXXXXX); trap 'rm -rf "$TMP"' EXIT

bash tests/lab/up.sh >/dev/null
# NO_BUILD=1 times the binaries already in target/release (a release build of the crate takes
# ~25 min on the shared 2 CPUs); say so where the report is used.
if [ "${NO_BUILD:-0}" != 1 ]; then
  cargo build --release --locked -q
  # The floor has its own workspace and lock file; it shares target/ (no second target dir).
  cargo build --release --locked -q --manifest-path bench/floor/Cargo.toml --target-dir target
fi
BIN=$PWD/target/release/mailcheck
FLOOR=$PWD/target/release/mailcheck-floor
set -a; . /run/mailcheck-lab.env; set +a
local_part=${LAB_ACCOUNT%@*}
export MAILCHECK_PASSWORD=$LAB_PASSWORD
RUN="$BIN run --host $LAB_HOSTNAME --account $LAB_ACCOUNT --format json"
BASE="env BASELINE_QUIET=1 MYHOSTNAME=$LAB_HOSTNAME USER_ADDR=$LAB_ACCOUNT USER_PASS=$LAB_PASSWORD RCPT=$LAB_ACCOUNT DOMAIN=$LAB_DOMAIN MAILDIR=/home/vmail/$LAB_DOMAIN/$local_part DB_USER=$LAB_DB_USER DB_PASS=$LAB_DB_PASSWORD DB_NAME=$LAB_DB_NAME bash $SHARED/bench/baseline-shell.sh"

echo "bench: $ROUNDS interleaved rounds after $WARMUP warm-up rounds" >&2
# The machine is shared: the load before and after the main rounds goes into the report.
echo "load average before the rounds: $(cut -d' ' -f1-3 /proc/loadavg)" > "$TMP/load.txt"
python3 bench/bench.py "$ROUNDS" "$WARMUP" "$TMP/main.json" \
  "baseline-shell.sh=$BASE" "floor=$FLOOR" "mailcheck run=$RUN" "mailcheck run --no-send=$RUN --no-send" > "$TMP/main.md"
echo "; after: $(cut -d' ' -f1-3 /proc/loadavg) (2 CPUs; other engineers' builds and a fuzz run share them)" >> "$TMP/load.txt"

# Timings of one warm full run, per check (where the time goes), before the fleet run loads
# the server.
$RUN >/dev/null 2>&1 || true
$BIN run --host "$LAB_HOSTNAME" --account "$LAB_ACCOUNT" --timings 2>&1 | sed -n '/^timings/,$p' > "$TMP/timings.txt" || true

python3 bench/bench.py 50 5 "$TMP/start.json" "mailcheck --version=$BIN --version" > "$TMP/start.md"

# Many hosts: Postfix listens on every address, so 127.0.0.2..51 all reach the lab. All 50
# "servers" are this one Postfix (2 cores, default_process_limit 100) seen from one client
# address, so this measures mailcheck's side against a server that is 50 times as busy.
seq 2 51 | sed 's/^/127.0.0./' > "$TMP/hosts"
FLEET="$BIN run --hosts-file $TMP/hosts --format json"
ONE="$BIN run --host 127.0.0.2 --format json"
python3 bench/bench.py 10 2 "$TMP/fleet.json" "1 host (network checks)=$ONE" "50 hosts=$FLEET" > "$TMP/fleet.md"


if [ "$COLD" = 1 ]; then
  echo "bench: waiting 110 s for Postfix's processes to idle out (max_idle=100s), twice" >&2
  : > "$TMP/cold.txt"
  for i in 1 2; do
    sleep 110
    /usr/bin/time -f '%e s wall' $RUN >/dev/null 2>>"$TMP/cold.txt" || true
    $RUN | python3 -c 'import json,sys; r=json.load(sys.stdin); print("warm repeat:", r["duration_ms"], "ms")' >> "$TMP/cold.txt"
  done
fi

python3 - "$TMP" "$OUT" <<'PY'
import json, os, platform, subprocess, sys
tmp, out = sys.argv[1], sys.argv[2]
main = json.load(open(f"{tmp}/main.json"))
start = json.load(open(f"{tmp}/start.json"))
fleet = json.load(open(f"{tmp}/fleet.json"))
b = main["baseline-shell.sh"]["median_ms"]; m = main["mailcheck run"]["median_ms"]
f = main["floor"]["median_ms"]
def spread(num, den):
  # Rounds are interleaved: the ratio of each round's pair, then its median and p10..p90.
  rs = sorted(x / y for x, y in zip(main[num]["samples_ms"], main[den]["samples_ms"]))
  at = lambda p: rs[min(len(rs) - 1, int(round(p * (len(rs) - 1))))]
  return f"{at(0.5):.2f}x (p10..p90 of the per-round ratios {at(0.1):.2f}..{at(0.9):.2f})"
n = main["mailcheck run --no-send"]["median_ms"]
cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True, text=True).stdout.strip()
one = fleet["1 host (network checks)"]["median_ms"]; many = fleet["50 hosts"]["median_ms"]
lines = [
  "# Benchmark", "",
  "Made by `bash bench/run.sh` (interleaved rounds after warm-up, wall time on a monotonic clock, CPU and peak RSS from wait4). Regenerate it the same way.", "",
  f"Machine: {os.cpu_count()} CPUs ({cpu}), {platform.system()} {platform.release()}, Debian 12; the lab server on the same machine.", "",
  "## Full run against the shell baseline (ms)", "", open(f"{tmp}/main.md").read(),
  f"Ratio baseline / `mailcheck run`: **{b/m:.1f}x** of the medians, {spread('baseline-shell.sh', 'mailcheck run')}; baseline / `--no-send`: **{b/n:.1f}x**.", "",
  f"Ratio `mailcheck run` / floor: **{m/f:.2f}x** of the medians, {spread('mailcheck run', 'floor')} (issue 18's aims: <= 1.5x the floor, >= 40x the baseline).", "",
  "The floor (`bench/floor`, `target/release/mailcheck-floor`) does only the protocol work a full run does on the lab, all at once:",
  "21 SMTP sessions (12 with STARTTLS: 10 full rustls handshakes, 2 hand-built TLS 1.0 ClientHellos), 4 AUTH PLAIN, 5 messages through DATA (one ended by `<LF>.<CR><LF>`) and waiting until the accepted ones are in the Maildir (then deleting them),",
  "the hardening probes' sessions (smuggling, bare-LF NOOP, STARTTLS injection on 25 and 587, pipelining, VRFY, TLS floor on 25 and 587, certificate, relay tricks),",
  "2 saslauthd requests, 1 MariaDB connection with 8 queries; no `postconf`/`postqueue` processes, no log or file reading, no judging or reporting (see the top of bench/floor/src/main.rs).", "",
  f"Load: {open(f'{tmp}/load.txt').read().replace(chr(10), ' ').strip()}", "",
  "## Start-up", "", open(f"{tmp}/start.md").read(),
  "## Many hosts (network checks only)", "", open(f"{tmp}/fleet.md").read(),
  f"50 hosts in {many:.0f} ms: **{50000/many:.0f} hosts/s**, against {1000/one:.0f} runs/s for one host.", "",
  "## Where the time goes (one full run, `--timings`)", "", "```", open(f"{tmp}/timings.txt").read().rstrip(), "```", "",
]
if os.path.exists(f"{tmp}/cold.txt"):
  lines += ["## Cold server (Postfix idle for 110 s, max_idle=100s)", "", "```", open(f"{tmp}/cold.txt").read().rstrip(), "```", ""]
open(out, "w").write("\n".join(lines))
print(open(out).read())
PY
