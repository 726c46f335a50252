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
#   FLEET=0 ...                                       (skip the fleet of 50 servers)
#   FLEET_ONLY=1 ...   only the fleet; its section of reports/benchmark.md is replaced, the rest kept
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

if [ "${FLEET_ONLY:-0}" != 1 ]; then
echo "bench: $ROUNDS interleaved rounds after $WARMUP warm-up rounds" >&2
# The machine is shared: the load before and after the main rounds goes into the report.
echo "load average before the rounds: $(cut -d' ' -f1-3 /proc/loadavg)" > "$TMP/load.txt"
python3 bench/bench.py "$ROUNDS" "$WARMUP" "$TMP/main.json" \
  "baseline-shell.sh=$BASE" "floor=$FLOOR" "mailcheck run=$RUN" "mailcheck run --no-send=$RUN --no-send" > "$TMP/main.md"
echo "; after: $(cut -d' ' -f1-3 /proc/loadavg) (2 CPUs: anything else running on the machine shows here)" >> "$TMP/load.txt"

# Timings of one warm full run, per check (where the time goes), before the fleet run loads
# the server.
$RUN >/dev/null 2>&1 || true
$BIN run --host "$LAB_HOSTNAME" --account "$LAB_ACCOUNT" --timings 2>&1 | sed -n '/^timings/,$p' > "$TMP/timings.txt" || true

python3 bench/bench.py 50 5 "$TMP/start.json" "mailcheck --version=$BIN --version" > "$TMP/start.md"
fi

# Many hosts: bench/fleet.sh's fleet, 50 distinct servers: 10 Postfix instances made from the
# lab's configuration, each the default Postfix of its own network and mount namespace, 5
# addresses each (198.19.0.1-50), limits raised, and an sshd on each. One fleet server (network
# checks) against all 50; then the same through --ssh (the host checks on each server's
# machine): with the binary uploaded per server, and with a mailcheck installed there. The
# server side's CPU (the machines' processes) is measured around one extra run of each.
# FLEET=0 skips this part.
if [ "${FLEET:-1}" = 1 ]; then
  trap 'bash bench/fleet.sh down >/dev/null 2>&1 || true; rm -rf "$TMP"' EXIT
  bash bench/fleet.sh up >&2
  cut -d' ' -f1-3 /proc/loadavg > "$TMP/fleet-load.txt"
  FH=/var/lib/mailcheck-fleet
  SSHO="--ssh-option IdentityFile=$FH/ssh/id_ed25519 --ssh-option UserKnownHostsFile=$FH/ssh/known_hosts --ssh-option BatchMode=yes"
  ONE="$BIN run --host 198.19.0.1 --format json"
  FLEET_NET="$BIN run --hosts-file $FH/hosts --format json"
  ONE_SSH="$BIN run --host 198.19.0.1 --ssh root@198.19.0.1 $SSHO --format json"
  FLEET_SSH="$BIN run --hosts-file $FH/hosts-ssh $SSHO --format json"
  python3 bench/bench.py "${FLEET_ROUNDS:-10}" 2 "$TMP/fleet.json" "1 host (network checks)=$ONE" "50 hosts=$FLEET_NET" > "$TMP/fleet.md"
  server_cpu() {  # NAME COMMAND: one more run, with the machines' CPU time around it
    local a b
    a=$(bash bench/fleet.sh cpu); $2 >/dev/null 2>&1 || true; b=$(bash bench/fleet.sh cpu)
    echo "| $1 | $((b - a)) |" >> "$TMP/fleet-cpu.md"
  }
  printf '| run | CPU of the servers (ms) |\n| --- | --- |\n' > "$TMP/fleet-cpu.md"
  server_cpu "1 host (network checks)" "$ONE"
  server_cpu "50 hosts" "$FLEET_NET"
  SSH_ROUNDS=${FLEET_SSH_ROUNDS:-3}
  python3 bench/bench.py "$SSH_ROUNDS" 1 "$TMP/fleet-ssh.json" "1 host --ssh (upload)=$ONE_SSH" "50 hosts --ssh (upload)=$FLEET_SSH" > "$TMP/fleet-ssh.md"
  server_cpu "1 host --ssh (upload)" "$ONE_SSH"
  server_cpu "50 hosts --ssh (upload)" "$FLEET_SSH"
  bash bench/fleet.sh install "$BIN" >&2
  python3 bench/bench.py "$SSH_ROUNDS" 1 "$TMP/fleet-ssh-inst.json" "1 host --ssh (installed)=$ONE_SSH" "50 hosts --ssh (installed)=$FLEET_SSH" > "$TMP/fleet-ssh-inst.md"
  server_cpu "1 host --ssh (installed)" "$ONE_SSH"
  server_cpu "50 hosts --ssh (installed)" "$FLEET_SSH"
  bash bench/fleet.sh down >&2
fi

if [ "$COLD" = 1 ] && [ "${FLEET_ONLY:-0}" != 1 ]; then
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
fleet = json.load(open(f"{tmp}/fleet.json")) if os.path.exists(f"{tmp}/fleet.json") else None
def many_hosts(tmp, fleet):
  if fleet is None:
    return ["## Many hosts", "", "Not measured in this run (FLEET=0).", ""]
  one = fleet["1 host (network checks)"]["median_ms"]; many = fleet["50 hosts"]["median_ms"]
  out = ["## Many hosts: a fleet of 50 distinct servers", "",
    "`bench/fleet.sh up`: 10 Postfix 3.7 instances, each made from the lab's own main.cf/master.cf/maps/sasl/certificate and running as the default Postfix of its own network and mount namespace (its directories bind-mounted over /etc/postfix, /var/spool/postfix, /var/lib/postfix), 5 addresses each (198.19.0.1-50, on veths into a host bridge), myhostname fleetK.example.com, limits raised (default_process_limit 500, anvil's per-client limits off and 198.18.0.0/15 in smtpd_client_event_limit_exceptions); MySQL maps over MariaDB's socket; an sshd on each. mailcheck connects from 198.19.255.254, outside the servers' mynetworks. Client and servers share the 2 CPUs.", "",
    "### Network checks (`--hosts-file`, 16 servers at a time)", "", open(f"{tmp}/fleet.md").read(),
    f"50 servers in {many:.0f} ms: **{50000/many:.1f} servers/s**, against {1000/one:.1f} runs/s of one server alone (issue 18's aims: >= 20 servers/s, peak RSS <= 50 MiB).", ""]
  ssh = [json.load(open(f"{tmp}/{n}.json")) for n in ("fleet-ssh", "fleet-ssh-inst")]
  out += ["### The same through `--ssh` (host checks on each server's machine)", "",
    "Each hosts-file line `198.19.0.N ssh=root@<first address of its machine>`: the network checks from here, the host checks by mailcheck on that machine (5 servers share a machine, so each machine runs them 5 times). First with the binary uploaded for every server (mailcheck's default when none of its version is installed), then with it installed on the machines (`bench/fleet.sh install`). Exit 1: two host checks fail on every machine, `mysql.server-listens` and `sasl.pam-mysql-login`, because MariaDB runs in the host's network namespace (the maps reach it over its socket, pam_mysql's 127.0.0.1 does not), not a mailcheck error.", "",
    open(f"{tmp}/fleet-ssh.md").read(), open(f"{tmp}/fleet-ssh-inst.md").read()]
  for name, rows in (("upload", ssh[0]), ("installed", ssh[1])):
    m = rows[f"50 hosts --ssh ({name})"]["median_ms"]; o = rows[f"1 host --ssh ({name})"]["median_ms"]
    out.append(f"- `--ssh` ({name}): 50 servers in {m:.0f} ms, **{50000/m:.1f} servers/s**, {m/many:.1f}x the network-only fleet; one server {o:.0f} ms, {o/one:.1f}x its network-only run.")
  cpu = dict(l.strip("| \n").split(" | ") for l in open(f"{tmp}/fleet-cpu.md").readlines()[2:])
  out += ["", "CPU time of the servers' processes (Postfix, sshd, the server-side mailcheck; `bench/fleet.sh cpu` around one more run of each):", "", open(f"{tmp}/fleet-cpu.md").read(),
    f"For the 50 servers, network checks: mailcheck {fleet['50 hosts']['cpu_median_ms']:.0f} ms of CPU (median), the servers {cpu['50 hosts']} ms; through --ssh with the binary installed: mailcheck and its ssh processes {ssh[1]['50 hosts --ssh (installed)']['cpu_median_ms']:.0f} ms, the servers {cpu['50 hosts --ssh (installed)']} ms. Client and servers share the 2 CPUs, so the servers' side is most of what these wall times measure.", ""]
  return out

if not os.path.exists(f"{tmp}/main.json"):
  # FLEET_ONLY=1: replace the many-hosts section of the existing report, keep the rest.
  old = open(out).read().split("\n")
  start = next(i for i, l in enumerate(old) if l.startswith("## Many hosts"))
  end = next((i for i in range(start + 1, len(old)) if old[i].startswith("## ")), len(old))
  new = many_hosts(tmp, fleet)
  new[-1:-1] = ["", f"(This section: `FLEET_ONLY=1 bash bench/run.sh` on {__import__('time').strftime('%Y-%m-%d %H:%M UTC', __import__('time').gmtime())}, load average before {open(f'{tmp}/fleet-load.txt').read().strip()}, after {' '.join(open('/proc/loadavg').read().split()[:3])}; the other sections are from the run named at the top.)"]
  open(out, "w").write("\n".join(old[:start] + new + old[end:]))
  print("\n".join(new))
  sys.exit(0)
main = json.load(open(f"{tmp}/main.json"))
start = json.load(open(f"{tmp}/start.json"))
b = main["baseline-shell.sh"]["median_ms"]; m = main["mailcheck run"]["median_ms"]
f = main["floor"]["median_ms"]
def spread(num, den):
  # Rounds are interleaved: the ratio of each round's pair, then its median and p10..p90.
  rs = sorted(x / y for x, y in zip(main[num]["samples_ms"], main[den]["samples_ms"]))
  at = lambda p: rs[min(len(rs) - 1, int(round(p * (len(rs) - 1))))]
  return f"{at(0.5):.2f}x (p10..p90 of the per-round ratios {at(0.1):.2f}..{at(0.9):.2f})"
n = main["mailcheck run --no-send"]["median_ms"]
cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True, text=True).stdout.strip()
lines = [
  "# Benchmark", "",
  "Made by `bash bench/run.sh` (interleaved rounds after warm-up, wall time on a monotonic clock, CPU time from wait4, including the command's children). Regenerate it the same way.", "",
  "RSS: *own peak RSS* is the command's own high-water mark (VmHWM, sampled every 2 ms while it runs: meaningless for a command of a few ms such as `--version`); *peak RSS with children* is wait4's, the largest of the command and every child it waited for (mailcheck's children are `postconf` and `postqueue`; where dpkg has no record of MariaDB, `mariadbd --version`, 23.9 MiB), and never below the 14.6 MiB of the Python process it was forked from (Linux keeps the high-water mark across exec). Issue 18's RSS aims are about mailcheck's own.", "",
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
  *many_hosts(tmp, fleet),
  "## Where the time goes (one full run, `--timings`)", "", "```", open(f"{tmp}/timings.txt").read().rstrip(), "```", "",
]
if os.path.exists(f"{tmp}/cold.txt"):
  lines += ["## Cold server (Postfix idle for 110 s, max_idle=100s)", "", "```", open(f"{tmp}/cold.txt").read().rstrip(), "```", ""]
open(out, "w").write("\n".join(lines))
print(open(out).read())
PY
