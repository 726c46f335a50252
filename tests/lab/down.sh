#!/usr/bin/env bash
# tests/lab/down.sh - stop the mailcheck lab's services: Postfix, saslauthd, MariaDB.
# Packages, configuration, the database and the Maildirs stay; tests/lab/up.sh starts it all again.
# Run as root.
set -euo pipefail
export LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

SASL_DIR=/var/spool/postfix/var/run/saslauthd
MY_PID=/run/mysqld/mysqld.pid
PF_MASTER=/usr/lib/postfix/sbin/master

say() { printf 'lab: %s\n' "$*"; }
die() { printf 'lab: ERROR: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root"

exec 9>/run/mailcheck-lab.up.lock
flock -w 600 9 || die "another tests/lab/up.sh or down.sh holds /run/mailcheck-lab.up.lock"

# alive PID: the process exists and is not a zombie (pid 1 here reaps orphans late)
alive() { local st=''; [ -n "${1:-}" ] && read -r st 2>/dev/null <"/proc/$1/stat" && [[ ${st##*) } != [ZX]* ]]; }
pidof_file() { local p=''; [ -r "$1" ] && read -r p <"$1" 2>/dev/null; printf '%s' "${p//[^0-9]/}"; }
# stop_pids WHAT SECONDS PID...: SIGTERM, wait, then SIGKILL
stop_pids() {
    local what=$1 secs=$2 pid i; shift 2
    [ $# -gt 0 ] || return 0
    kill "$@" 2>/dev/null || true
    for pid in "$@"; do
        for ((i = 0; i < secs * 10; i++)); do alive "$pid" || break; sleep 0.1; done
        if alive "$pid"; then kill -9 "$pid" 2>/dev/null || true; say "$what ($pid) killed with SIGKILL"; fi
    done
}

if [ -x "$PF_MASTER" ] && ! "$PF_MASTER" -t >/dev/null 2>&1; then
    say "stopping Postfix"
    postfix stop >/dev/null 2>&1 9>&- || true
    for ((i = 0; i < 100; i++)); do "$PF_MASTER" -t >/dev/null 2>&1 && break; sleep 0.1; done
    "$PF_MASTER" -t >/dev/null 2>&1 || die "Postfix still running after 10s"
fi

pids=()     # pgrep --ns: only this PID namespace's (lab machines, tests/lab/machine.sh, run their own)
for p in $(pidof_file "$SASL_DIR/saslauthd.pid") $(pgrep --ns $$ --nslist pid -x saslauthd || true); do
    alive "$p" && [[ " ${pids[*]} " != *" $p "* ]] && pids+=("$p")
done
if [ ${#pids[@]} -gt 0 ]; then
    say "stopping saslauthd"
    stop_pids saslauthd 10 "${pids[@]}"
    rm -f "$SASL_DIR/saslauthd.pid" "$SASL_DIR/mux"
fi

pid=$(pidof_file "$MY_PID")
if ! alive "$pid"; then pid=$(pgrep --ns $$ --nslist pid -x mariadbd || true); fi
if [ -n "$pid" ]; then
    say "stopping MariaDB"
    stop_pids mariadbd 60 $pid
fi
say "down"
