#!/bin/bash
# Records the corpus in tests/data/maillog/postlog/: the lines the lab's Postfix writes to its
# maillog_file (/var/log/postfix.log) while one thing is done to it, one file per scenario.
#
# Run as root, by hand, on a machine with the lab (tests/lab/up.sh). It breaks the lab, so it holds
# /run/mailcheck-lab.lock for the whole run and restores the lab with up.sh (after `postfix stop;
# postfix start`, because master(8) throttles a failed service for 60 s) before it lets go.
# Each file is the whole window after the scenario's start: lines of other people's tests that ran
# at the same time are in it too, as they would be in a real window.
#
#   flock /run/mailcheck-lab.lock bash tests/data/maillog/collect.sh [SCENARIO...]
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$HERE/postlog
LOG=/var/log/postfix.log
UP=${UP:-$(cd "$HERE/../../.." && pwd)/tests/lab/up.sh}
mkdir -p "$OUT"
# shellcheck disable=SC1091
. /run/mailcheck-lab.env
export LAB_HOSTNAME LAB_DOMAIN LAB_ACCOUNT LAB_PASSWORD LAB_DB_NAME LAB_DB_USER LAB_DB_PASSWORD
SASL_DIR=/var/spool/postfix/var/run/saslauthd
PEM=/etc/ssl/self-signed/server.pem
MAP=/etc/postfix/mysql_virtual_alias_maps.cf
BK=$(mktemp -d /tmp/maillog-collect.XXXXXX)

restore() {
    [ -f "$BK/server.pem" ] && cat "$BK/server.pem" >"$PEM"
    bash "$UP" >/dev/null
    postfix stop >/dev/null 2>&1 || true
    postfix start >/dev/null 2>&1 || true
    bash "$UP" >/dev/null
}
trap 'restore; rm -rf "$BK"' EXIT

start() { OFF=$(stat -c %s "$LOG"); }
# Waits (bounded) for the log to go quiet, then saves the window since start().
save() {
    local size i
    for ((i = 0; i < 20; i++)); do
        size=$(stat -c %s "$LOG"); sleep 0.5; [ "$size" = "$(stat -c %s "$LOG")" ] && break
    done
    tail -c +$((OFF + 1)) "$LOG" >"$OUT/$1.log"
    echo "== $1: $(wc -l <"$OUT/$1.log") lines"
}
swk() { timeout 30 swaks --server 127.0.0.1 --ehlo mailcheck-corpus.invalid --from "$LAB_ACCOUNT" --to "$LAB_ACCOUNT" \
    --header "Subject: maillog corpus $1" --header "Message-Id: <corpus-$1@mailcheck.invalid>" --body corpus "${@:2}" >/dev/null 2>&1 || true; }
reload() { postfix reload >/dev/null 2>&1; sleep 1; }

scenario() {
    case $1 in
    send-ok) start; swk send-ok --port 25; save "$1" ;;
    submission-auth-ok) start; swk submission-auth-ok --port 587 -tls -a PLAIN -au "$LAB_ACCOUNT" -ap "$LAB_PASSWORD"; save "$1" ;;
    auth-wrong)
        start
        swk auth-wrong --port 587 -tls -a PLAIN -au "$LAB_ACCOUNT" -ap wrong-password
        # A password typed as the user name ends up in the log (sasl_username=...).
        swk auth-wrong --port 587 -tls -a LOGIN -au "$LAB_PASSWORD" -ap x
        save "$1" ;;
    relay-denied) start; timeout 30 swaks --server ::1 --port 25 --ehlo mailcheck-corpus.invalid --from probe@example.org \
        --to mailcheck-relay-test@example.net >/dev/null 2>&1 || true; save "$1" ;;
    unknown-user) start; swk unknown-user --port 25 --to "nobody-corpus@$LAB_DOMAIN"; save "$1" ;;
    bounce)
        start
        printf 'Subject: maillog corpus bounce\nMessage-Id: <corpus-bounce@mailcheck.invalid>\n\ncorpus\n' |
            sendmail -i -f "$LAB_ACCOUNT" -- nobody@example.invalid
        sleep 5; save "$1" ;;
    port-logging-long-ids)
        postconf -e smtpd_client_port_logging=yes enable_long_queue_ids=yes; reload
        start; swk port-logging-long-ids --port 25; save "$1"
        postconf -X smtpd_client_port_logging enable_long_queue_ids; reload ;;
    submission-syslog-name)
        postconf -P submission/inet/syslog_name=postfix/submission; reload
        start
        swk submission-syslog-name --port 587 -tls -a PLAIN -au "$LAB_ACCOUNT" -ap "$LAB_PASSWORD"
        swk submission-syslog-name-wrong --port 587 -tls -a PLAIN -au "$LAB_ACCOUNT" -ap wrong-password
        save "$1"
        bash "$UP" >/dev/null; reload ;;
    tls-key-missing)
        cat "$PEM" >"$BK/server.pem"
        openssl x509 -in "$BK/server.pem" >"$PEM"          # the certificate without its key
        reload
        start; swk tls-key-missing --port 587 -tls -a PLAIN -au "$LAB_ACCOUNT" -ap "$LAB_PASSWORD"; save "$1"
        cat "$BK/server.pem" >"$PEM"; rm -f "$BK/server.pem"; reload ;;
    saslauthd-stopped)
        kill "$(cat "$SASL_DIR/saslauthd.pid")"; sleep 1
        start; swk saslauthd-stopped --port 587 -tls -a PLAIN -au "$LAB_ACCOUNT" -ap "$LAB_PASSWORD"; save "$1"
        bash "$UP" >/dev/null ;;
    saslauthd-socket-permission)
        chmod 700 "$SASL_DIR"
        start; swk saslauthd-socket-permission --port 587 -tls -a PLAIN -au "$LAB_ACCOUNT" -ap "$LAB_PASSWORD"; save "$1"
        bash "$UP" >/dev/null ;;
    map-wrong-db-password)
        sed -i 's/^password *=.*/password = not-the-password/' "$MAP"; reload
        start; swk map-wrong-db-password --port 25; save "$1"
        bash "$UP" >/dev/null; reload ;;
    map-localhost-in-chroot)
        sed -i 's/^hosts *=.*/hosts = localhost/' "$MAP"; reload
        start; swk map-localhost-in-chroot --port 25; save "$1"
        bash "$UP" >/dev/null; reload ;;
    mysql-stopped)
        start
        mysqladmin shutdown
        swk mysql-stopped --port 25
        save "$1"
        bash "$UP" >/dev/null ;;
    service-exits-at-start)
        postconf -P submission/inet/syslog_name=postfix/submission submission/inet/smtpd_sasl_type=no-such-sasl; reload
        start; swk service-exits-at-start --port 587 --timeout 5; sleep 2; save "$1"
        bash "$UP" >/dev/null; postfix stop >/dev/null 2>&1; postfix start >/dev/null 2>&1 ;;
    *) echo "unknown scenario $1" >&2; exit 2 ;;
    esac
}

ALL=(send-ok submission-auth-ok auth-wrong relay-denied unknown-user bounce port-logging-long-ids
    submission-syslog-name tls-key-missing saslauthd-stopped saslauthd-socket-permission
    map-wrong-db-password map-localhost-in-chroot mysql-stopped service-exits-at-start)
for s in "${@:-${ALL[@]}}"; do scenario "$s"; done
# The test mails this script delivered.
grep -lr "^Subject: maillog corpus" /home/vmail/"$LAB_DOMAIN" 2>/dev/null | xargs -r rm -f
