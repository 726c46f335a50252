#!/usr/bin/env bash
# tests/lab/start.sh - start the lab's services (MariaDB, saslauthd, Postfix) the way the installed
# Debian release starts them, from the configuration exactly as it is: it writes no configuration
# file, database row or symlink (up.sh, in contrast, rewrites them all). For a lab whose packages
# were upgraded in place (tests/lab/upgrade.sh): the server as its admin finds it after the upgrade.
#
#   MariaDB    mariadbd --user=mysql, as mariadb.service (its ExecStartPost, /etc/mysql/debian-start,
#              which runs mariadb-upgrade, is NOT run: upgrade.sh runs it and records it)
#   saslauthd  its arguments built from /etc/default/saslauthd as the release does: Debian 12's init
#              script (only with START=yes; MECH_OPTIONS as -O), Debian 13's saslauthd.service
#              (no START=; Group=sasl; -a $MECHANISMS $MECH_OPTIONS $OPTIONS -n $THREADS)
#   Postfix    postfix start (on 12 after configure-instance.sh, as its init script does)
#
# Services that run are left alone. /run/mailcheck-lab.env comes back from the lab's persistent
# copy when /run was emptied. Run as root. Progress lines start with "lab:".
set -Eeuo pipefail
umask 022
export LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

ENV_FILE=/run/mailcheck-lab.env
STATE_DIR=/var/lib/mailcheck-lab
LAB_LOG=/var/log/mailcheck-lab
MY_PID=/run/mysqld/mysqld.pid
MY_SOCK=/run/mysqld/mysqld.sock
PF_MASTER=/usr/lib/postfix/sbin/master

say() { printf 'lab: %s\n' "$*"; }
die() { printf 'lab: ERROR: %s\n' "$*" >&2; exit 1; }
trap 'printf "lab: FAILED at line %s: %s\n" "$LINENO" "$BASH_COMMAND" >&2' ERR
[ "$(id -u)" = 0 ] || die "run as root"

# Same helpers and lock as up.sh (see there).
for fd_path in /proc/$$/fd/*; do
    fd=${fd_path##*/}
    if [ "$fd" -gt 2 ] && [ "$fd" -lt 255 ]; then eval "exec $fd>&-" 2>/dev/null || true; fi
done
exec 9>/run/mailcheck-lab.up.lock
flock -w 600 9 || die "another tests/lab/up.sh, start.sh or down.sh holds /run/mailcheck-lab.up.lock"
alive() { local st=''; [ -n "${1:-}" ] && read -r st 2>/dev/null <"/proc/$1/stat" && [[ ${st##*) } != [ZX]* ]]; }
pidof_file() { local p=''; [ -r "$1" ] && read -r p <"$1" 2>/dev/null; printf '%s' "${p//[^0-9]/}"; }
wait_for() {
    local secs=$1 what=$2 i; shift 2
    for ((i = 0; i < secs * 10; i++)); do "$@" && return 0; sleep 0.1; done
    die "$what did not happen within ${secs}s"
}

DIST=$(. /etc/os-release 2>/dev/null && printf '%s' "${VERSION_ID:-}")
case $DIST in 12|13) ;; *) die "Debian 12 or 13 expected, /etc/os-release says VERSION_ID='$DIST'";; esac

if [ ! -f "$ENV_FILE" ] && [ -f "$STATE_DIR/lab.env" ]; then
    install -m 600 "$STATE_DIR/lab.env" "$ENV_FILE"; say "restored $ENV_FILE from $STATE_DIR/lab.env"
fi

# --------------------------------------------------------------------------- MariaDB
mariadb_up() { alive "$(pidof_file "$MY_PID")" && [ -S "$MY_SOCK" ]; }
mariadb_ping() { mysqladmin --connect-timeout=2 ping >/dev/null 2>&1; }
if ! mariadb_up; then
    install -d -o mysql -g root -m 755 /run/mysqld          # mariadb.service's ExecStartPre
    rm -f "$MY_PID"
    say "starting MariaDB $(/usr/sbin/mariadbd --version 2>/dev/null | awk '{print $3}')"
    start-stop-daemon --start --quiet --background --pidfile "$MY_PID" --exec /usr/sbin/mariadbd \
        --output "$LAB_LOG/mariadb.log" -- --user=mysql 9>&- \
        || die "start-stop-daemon could not start mariadbd (see $LAB_LOG/mariadb.log)"
    wait_for 120 "MariaDB answering on $MY_SOCK (see $LAB_LOG/mariadb.log)" mariadb_ping
fi

# --------------------------------------------------------------------------- saslauthd
# The arguments, in a subshell that reads /etc/default/saslauthd like the init script/unit does.
sasl_cmd=$(
    START='' MECHANISMS='' MECH_OPTIONS='' OPTIONS='' THREADS=''
    . /etc/default/saslauthd
    if [ "$DIST" = 12 ]; then
        [ "$START" = yes ] || { echo "off START=$START"; exit 0; }
        [ -n "$OPTIONS" ] || OPTIONS="-c -m /var/run/saslauthd"
        echo "run -a $MECHANISMS ${MECH_OPTIONS:+-O $MECH_OPTIONS} $OPTIONS ${THREADS:+-n $THREADS}"
    else
        echo "run -a $MECHANISMS $MECH_OPTIONS $OPTIONS -n $THREADS"
    fi
)
read -r -a sasl_args <<<"$sasl_cmd"
if [ "${sasl_args[0]}" = off ]; then
    say "saslauthd not started: /etc/default/saslauthd has ${sasl_args[1]}, not START=yes"
else
    sasl_args=("${sasl_args[@]:1}")
    run_dir=''
    for ((i = 0; i < ${#sasl_args[@]}; i++)); do [ "${sasl_args[i]}" = -m ] && run_dir=${sasl_args[i+1]:-}; done
    [ -n "$run_dir" ] || die "saslauthd: no -m directory in /etc/default/saslauthd's OPTIONS"
    if ! alive "$(pidof_file "$run_dir/saslauthd.pid")"; then
        [ -d "$run_dir" ] || { install -d -o root -g sasl -m 710 "$run_dir"; say "created $run_dir (root:sasl 710, as the init script does)"; }
        mkdir -p "$LAB_LOG"
        say "starting saslauthd ${sasl_args[*]}"
        if [ "$DIST" = 12 ]; then
            setsid /usr/sbin/saslauthd "${sasl_args[@]}" </dev/null >>"$LAB_LOG/saslauthd.log" 2>&1 9>&- \
                || die "saslauthd failed to start (see $LAB_LOG/saslauthd.log)"
        else
            setsid setpriv --regid sasl --clear-groups /usr/sbin/saslauthd "${sasl_args[@]}" </dev/null \
                >>"$LAB_LOG/saslauthd.log" 2>&1 9>&- || die "saslauthd failed to start (see $LAB_LOG/saslauthd.log)"
        fi
        sasl_ready() { alive "$(pidof_file "$run_dir/saslauthd.pid")" && [ -S "$run_dir/mux" ]; }
        wait_for 10 "saslauthd socket $run_dir/mux" sasl_ready
    fi
fi

# --------------------------------------------------------------------------- Postfix
if "$PF_MASTER" -t >/dev/null 2>&1; then        # master -t: exit 0 when NOT running
    [ "$DIST" != 12 ] || /usr/lib/postfix/configure-instance.sh - 9>&-
    say "starting Postfix $(postconf -h mail_version 2>/dev/null)"
    out=$(postfix start 2>&1 9>&-) || die "postfix start failed: $out"
    banner() { local l; l=$( { exec 8<>/dev/tcp/127.0.0.1/25 && IFS= read -r -t 2 l <&8 && printf 'QUIT\r\n' >&8 && printf '%s' "$l"; } 2>/dev/null) && [[ $l == 220* ]]; }
    wait_for 30 "a 220 banner on 127.0.0.1:25" banner
fi
say "started"
