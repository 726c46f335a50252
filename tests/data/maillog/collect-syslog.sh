#!/bin/bash
# Records tests/data/maillog/rsyslog/: what the lab's Postfix, saslauthd and PAM log through syslog,
# written by a real rsyslogd in Debian 12's file format (RFC 3339, high precision) and in the
# traditional format, plus the auth facility file.
#
# The lab has no syslog daemon and Postfix logs to maillog_file, so for a few seconds this script
# (holding /run/mailcheck-lab.lock) runs a private rsyslogd (its own config, pid file and output
# directory) on /dev/log and on Postfix's chroot socket, empties maillog_file, does the scenarios,
# then stops that rsyslogd, removes its sockets and restores the lab (up.sh, postfix stop/start).
# Run as root, by hand (needs the rsyslog package):
#
#   flock /run/mailcheck-lab.lock bash tests/data/maillog/collect-syslog.sh
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$HERE/rsyslog
UP=${UP:-$(cd "$HERE/../../.." && pwd)/tests/lab/up.sh}
mkdir -p "$OUT"
# shellcheck disable=SC1091
. /run/mailcheck-lab.env
export LAB_HOSTNAME LAB_DOMAIN LAB_ACCOUNT LAB_PASSWORD LAB_DB_NAME LAB_DB_USER LAB_DB_PASSWORD
for s in /dev/log /var/spool/postfix/dev/log; do
    [ ! -e "$s" ] || { echo "$s exists: a syslog daemon runs here; not touching it" >&2; exit 1; }
done
T=$(mktemp -d /tmp/maillog-rsyslog.XXXXXX)
mkdir -p "$T/work"
cat >"$T/rsyslog.conf" <<EOF
global(workDirectory="$T/work")
module(load="imuxsock" SysSock.Name="/dev/log")
input(type="imuxsock" Socket="/var/spool/postfix/dev/log")
mail.*  -$T/mail.log
mail.*  action(type="omfile" file="$T/mail-traditional.log" template="RSYSLOG_TraditionalFileFormat")
auth,authpriv.*  $T/auth.log
EOF
RPID=
restore() {
    if [ -n "$RPID" ]; then kill "$RPID" 2>/dev/null || true; wait "$RPID" 2>/dev/null || true; fi
    for s in /dev/log /var/spool/postfix/dev/log; do [ -S "$s" ] && rm -f "$s"; done
    bash "$UP" >/dev/null
    postfix stop >/dev/null 2>&1 || true
    postfix start >/dev/null 2>&1 || true
    bash "$UP" >/dev/null
}
trap 'restore; rm -rf "$T"' EXIT

rsyslogd -n -f "$T/rsyslog.conf" -i "$T/rsyslogd.pid" &
RPID=$!
for ((i = 0; i < 50; i++)); do [ -S /dev/log ] && [ -S /var/spool/postfix/dev/log ] && break; sleep 0.1; done
postconf -e maillog_file=
postfix stop >/dev/null 2>&1; postfix start >/dev/null 2>&1
sleep 2

swk() { timeout 30 swaks --server 127.0.0.1 --ehlo mailcheck-corpus.invalid --from "$LAB_ACCOUNT" --to "$LAB_ACCOUNT" \
    --header "Subject: maillog corpus syslog $1" --header "Message-Id: <corpus-syslog-$1@mailcheck.invalid>" --body corpus "${@:2}" >/dev/null 2>&1 || true; }

swk send-ok --port 25
swk auth-ok --port 587 -tls -a PLAIN -au "$LAB_ACCOUNT" -ap "$LAB_PASSWORD"
swk auth-wrong --port 587 -tls -a PLAIN -au "$LAB_ACCOUNT" -ap wrong-password
swk auth-unknown-user --port 587 -tls -a PLAIN -au "nobody@$LAB_DOMAIN" -ap wrong-password
# pam_mysql cannot log in to the database.
cp -p /etc/pam.d/smtp "$T/pam-smtp"
sed -i 's/passwd=[^ ]*/passwd=not-the-db-password/' /etc/pam.d/smtp
swk pam-db-password --port 587 -tls -a PLAIN -au "$LAB_ACCOUNT" -ap another-wrong-password
cat "$T/pam-smtp" >/etc/pam.d/smtp
sleep 2

cp "$T/mail.log" "$OUT/mail-rfc3339.log"
cp "$T/mail-traditional.log" "$OUT/mail-traditional.log"
cp "$T/auth.log" "$OUT/auth.log"
sed "s|$T|/tmp/maillog-rsyslog|g" "$T/rsyslog.conf" >"$OUT/rsyslog.conf"
wc -l "$OUT"/*.log
grep -lr "^Subject: maillog corpus" /home/vmail/"$LAB_DOMAIN" 2>/dev/null | xargs -r rm -f
