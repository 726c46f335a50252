#!/usr/bin/env bash
# tests/lab/upgrade.sh - the upgrade lab: a Debian 12 lab machine with the tutorial's server,
# upgraded in place to Debian 13 the way an admin does it, then started again as it is.
#
#   tests/lab/upgrade.sh [-n NAME] [-o DIR] MAILCHECK_BINARY
#
#   1. machine NAME (default deb12to13; an existing one is replaced) from bookworm; up.sh builds
#      the lab in it
#   2. MAILCHECK_BINARY, copied to /usr/local/bin/mailcheck in the machine, records the baseline:
#      mailcheck run --host <lab host> --account <lab account> --format json
#   3. the lab's services stop (as the packages' prerm scripts would stop them), sources.list goes
#      from bookworm to trixie, `apt-get update` and `apt-get -d full-upgrade` download in the
#      host's network (the machine has no route out), then, inside the machine's namespaces and
#      without network, `apt-get upgrade --without-new-pkgs` and `apt-get full-upgrade` install
#      from the package cache: policy-rc.d (exit 101) keeps daemons from starting, dpkg keeps the
#      admin's configuration files (--force-confdef --force-confold, UCF_FORCE_CONFFOLD=1)
#   4. tests/lab/start.sh starts the services from the configuration as the upgrade left it
#      (up.sh would undo the upgrade's changes); /etc/mysql/debian-start runs, as mariadb.service's
#      ExecStartPost would, and mariadb-upgrade's verdict is recorded before and after it
#   5. smoke test (AUTH on 587, a delivery), and mailcheck again with --baseline
#
# The machine is left running, for tests that run mailcheck --baseline in it. On failure it is
# destroyed (KEEP_FAILED=1 keeps it for a look). Everything recorded is in the machine's
# /var/lib/mailcheck-lab/upgrade/ (report.txt, baseline.json, after.json, apt.log, etc.before/)
# and is copied to DIR (default: target/lab-upgrade). Downloaded packages are cached in
# /var/cache/mailcheck-lab/debs/trixie/ for the next run. Run as root on the host.
set -Eeuo pipefail
umask 022
export LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$LAB_DIR/../.." && pwd)
MACHINES_CACHE=${MACHINES_CACHE:-/var/cache/mailcheck-lab}
DEB_CACHE=$MACHINES_CACHE/debs/trixie
REC=/var/lib/mailcheck-lab/upgrade          # inside the machine

NAME=deb12to13 OUT=$REPO/target/lab-upgrade
while getopts n:o: opt; do
    case $opt in n) NAME=$OPTARG;; o) OUT=$OPTARG;; *) exit 2;; esac
done
shift $((OPTIND - 1))
[ $# = 1 ] && [ -x "$1" ] || { sed -n '5p' "${BASH_SOURCE[0]}" | sed 's/^# *//' >&2; exit 2; }
BIN=$(readlink -f "$1")

step() { printf '\n=== %s\n' "$*"; }
die() { printf 'upgrade: ERROR: %s\n' "$*" >&2; exit 1; }
m() { bash "$LAB_DIR/machine.sh" "$@"; }
# inside CMD...: a command in the machine (its network); inside_net CMD...: with the host network
inside() { m exec "$NAME" -- "$@"; }
inside_net() { m exec --host-net "$NAME" -- "$@"; }
T0=$EPOCHSECONDS
secs() { printf '%ds' $((EPOCHSECONDS - $1)); }

ok='' ROOT=''
cleanup() {
    [ -n "$ok" ] && return 0
    if [ -n "$ROOT" ] && [ -d "$ROOT$REC" ]; then     # the record so far, before the machine goes
        mkdir -p "$OUT" && tar -C "$ROOT$REC" --exclude=./etc.before -cf - . | tar -C "$OUT" -xf - || true
    fi
    printf 'upgrade: FAILED (record so far: %s)' "$OUT" >&2
    if [ -n "${KEEP_FAILED:-}" ]; then
        printf '; machine %s kept (tests/lab/machine.sh destroy %s)\n' "$NAME" "$NAME" >&2
    else
        printf '; destroying machine %s (KEEP_FAILED=1 keeps it)\n' "$NAME" >&2
        m destroy "$NAME" >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT
[ "$(id -u)" = 0 ] || die "run as root"

# --------------------------------------------------------------------------- 1. Debian 12 lab
step "upgrade lab: Debian 12 machine $NAME with the tutorial's server"
t=$EPOCHSECONDS
m destroy "$NAME" >/dev/null
m create "$NAME" bookworm
m start "$NAME"
m up "$NAME"
ROOT=$(m root "$NAME")                        # the machine's / (its mounts too: /run, /tmp)
ARCHIVES=$(m dir "$NAME")/root/var/cache/apt/archives   # the same fs as the cache: hard links
mkdir -p "$ROOT$REC"
install -m 755 "$BIN" "$ROOT/usr/local/bin/mailcheck"
echo "Debian 12 lab built in $(secs "$t")"

# record TITLE CMD...: one section of the report, command and output
record() {
    local title=$1; shift
    { printf '\n## %s\n' "$title"; inside bash -c "$*" 2>&1 || true; } >>"$ROOT$REC/report.txt"
}
versions() {
    record "versions ($1)" 'printf "Debian %s\n" "$(cat /etc/debian_version)"
        printf "postconf mail_version: %s\n" "$(postconf -h mail_version)"
        openssl version
        /usr/sbin/mariadbd --version
        saslauthd -v 2>&1 | head -1
        dpkg-query -W -f "\${Package} \${Version}\n" postfix postfix-mysql mariadb-server sasl2-bin \
            libsasl2-2 libsasl2-modules libsasl2-modules-sql libpam-mysql openssl libssl3 libssl3t64 2>/dev/null'
}
# mailcheck_run FILE [ARGS]: a full run, JSON into FILE (inside); exit 0, 1 and 3 are verdicts
mailcheck_run() {
    local file=$1; shift
    inside bash -c '. /run/mailcheck-lab.env
        MAILCHECK_PASSWORD=$LAB_PASSWORD mailcheck run --host "$LAB_HOSTNAME" --account "$LAB_ACCOUNT" \
            --format json "$@" >"$0"; rc=$?
        [ "$rc" = 0 ] || [ "$rc" = 1 ] || [ "$rc" = 3 ] || { echo "mailcheck exited $rc" >&2; exit 1; }
        echo "mailcheck exit $rc:" $(grep -o "\"status\": *\"[a-z]*\"" "$0" | cut -d\" -f4 | sort | uniq -c)' \
        "$file" "$@"
}

printf '# upgrade lab %s: Debian 12 -> 13, %s\n' "$NAME" "$(date -u +%FT%TZ)" >"$ROOT$REC/report.txt"
versions "before: Debian 12"

step "baseline: mailcheck on Debian 12"
mailcheck_run "$REC/baseline.json"

# --------------------------------------------------------------------------- 2. upgrade
step "upgrade: stop the services, sources to trixie, download in the host's network"
t=$EPOCHSECONDS
m lab "$NAME" down
inside bash -c "rm -rf $REC/etc.before && cp -a /etc $REC/etc.before"
# No init, no services: invoke-rc.d asks policy-rc.d, and 101 means "action forbidden".
inside bash -c 'printf "#!/bin/sh\n# upgrade.sh: no service starts during the upgrade\nexit 101\n" >/usr/sbin/policy-rc.d
            chmod 755 /usr/sbin/policy-rc.d'
inside sed -i 's/\bbookworm\b/trixie/g' /etc/apt/sources.list
inside cat /etc/apt/sources.list | grep -v '^$'
mkdir -p "$DEB_CACHE"
exec 6>"$DEB_CACHE/.lock"; flock -w 900 6 || die "another upgrade.sh holds $DEB_CACHE/.lock"
find "$DEB_CACHE" -name '*.deb' -exec cp -l -n -t "$ARCHIVES/" {} +
inside_net apt-get -q update >>"$ROOT$REC/apt.log" 2>&1 || die "apt-get update failed (see $OUT/apt.log)"
inside_net apt-get -q -y -d full-upgrade >>"$ROOT$REC/apt.log" 2>&1 || die "apt-get -d full-upgrade failed (see $OUT/apt.log)"
# The cache keeps exactly this upgrade's packages.
find "$DEB_CACHE" -name '*.deb' -delete
find "$ARCHIVES" -maxdepth 1 -name '*.deb' -exec cp -l -t "$DEB_CACHE/" {} +
exec 6>&-
echo "$(find "$DEB_CACHE" -name '*.deb' | wc -l) packages ($(du -sh "$DEB_CACHE" | cut -f1)) in $(secs "$t")"

step "upgrade: install from the cache inside the machine (no network, no service starts, old conffiles kept)"
t=$EPOCHSECONDS
# --force-unsafe-io only spares dpkg's fsyncs (minutes on a busy 2-core machine), not what it does.
APT=(apt-get -q -y --no-download -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold
     -o Dpkg::Options::=--force-unsafe-io)
# As the release notes say: first without new packages, then the full upgrade.
UCF_FORCE_CONFFOLD=1 inside "${APT[@]}" upgrade --without-new-pkgs >>"$ROOT$REC/apt.log" 2>&1 \
    || die "apt-get upgrade --without-new-pkgs failed (see $OUT/apt.log)"
UCF_FORCE_CONFFOLD=1 inside "${APT[@]}" full-upgrade >>"$ROOT$REC/apt.log" 2>&1 \
    || die "apt-get full-upgrade failed (see $OUT/apt.log)"
inside rm -f /usr/sbin/policy-rc.d
echo "installed in $(secs "$t")"

# --------------------------------------------------------------------------- 3. what it changed
versions "after: Debian 13"
record "processes in the machine after the upgrade (policy-rc.d: no daemon expected)" \
    'ps -eo pid,user,args | grep -v -E " (ps|grep|bash -c) |sleep 3600|mailcheck-machine.ready"'
record "configuration files dpkg/ucf left beside the admin's" \
    'find /etc \( -name "*.dpkg-dist" -o -name "*.dpkg-old" -o -name "*.dpkg-new" -o -name "*.dpkg-bak" \
        -o -name "*.ucf-dist" -o -name "*.ucf-old" -o -name "*.ucf-new" \) | sort'
record "dpkg's conffile decisions (apt.log)" "grep -E -A3 \"^Configuration file '\" $REC/apt.log || echo none"
record "files under /etc that changed (diff -rq, without alternatives/ld.so.cache)" \
    "diff -rq --no-dereference $REC/etc.before /etc 2>&1 | grep -v -E 'ld.so.cache|/alternatives' | sed 's|$REC/etc.before|/etc.before|'"
for f in postfix/main.cf postfix/master.cf postfix/dynamicmaps.cf default/saslauthd pam.d/smtp \
         postfix/sasl/smtpd.conf mysql/mariadb.conf.d/50-server.cnf mysql/my.cnf; do
    record "diff /etc/$f (before -> after the upgrade)" \
        "diff -u $REC/etc.before/$f /etc/$f && echo unchanged"
done
record "postconf -n warnings" 'postconf -n >/dev/null'
record "postconf (effective values that matter to the tutorial)" \
    'postconf compatibility_level cyrus_sasl_config_path smtpd_use_tls smtpd_tls_security_level smtpd_tls_cert_file smtpd_sasl_auth_enable mydestination mynetworks'

# --------------------------------------------------------------------------- 4. start as it is
step "start the upgraded services from the configuration as it is (start.sh)"
m lab "$NAME" start
record "mariadb-upgrade --check-if-upgrade-is-needed (before /etc/mysql/debian-start)" \
    'mariadb-upgrade --check-if-upgrade-is-needed; echo "exit $?"'
# debian-start runs mariadb-upgrade in the background and returns at once.
# What mailcheck says while the upgrade of MariaDB's system tables is pending (a second).
mailcheck_run "$REC/pending.json" --only mysql.upgrade-pending --only system.versions
record "/etc/mysql/debian-start (mariadb.service ExecStartPost)" \
    '/etc/mysql/debian-start; for i in $(seq 600); do pgrep -x mariadb-upgrade >/dev/null || pgrep -f upgrade_system_tables >/dev/null || break; sleep 0.1; done; echo done'
record "mariadb-upgrade --check-if-upgrade-is-needed (after /etc/mysql/debian-start)" \
    'mariadb-upgrade --check-if-upgrade-is-needed; echo "exit $?"'
record "saslauthd and Postfix processes" 'ps -o pid,user,group,args -C saslauthd,master,mariadbd'

# --------------------------------------------------------------------------- 5. does it work
step "smoke test: AUTH on 587 and a delivery, then mailcheck --baseline"
# The password goes to swaks in its environment, never in a command line.
record "AUTH PLAIN on 587 after STARTTLS, and a delivery to the Maildir" '. /run/mailcheck-lab.env
    maildir=/home/vmail/$LAB_DOMAIN/${LAB_ACCOUNT%@*}/new
    before=$(ls "$maildir" | wc -l)
    SWAKS_OPT_auth_password=$LAB_PASSWORD swaks --server 127.0.0.1 --port 587 --tls --auth PLAIN \
        --auth-user "$LAB_ACCOUNT" --from "$LAB_ACCOUNT" --to "$LAB_ACCOUNT" \
        --header "Subject: upgrade lab smoke test" --body "after the upgrade" 2>&1 \
        | grep -E "^(<-|<~|<\*\*|\*\*\*)"      # server replies only: the AUTH line sent holds the password
    for i in $(seq 100); do [ "$(ls "$maildir" | wc -l)" -gt "$before" ] && break; sleep 0.1; done
    echo "Maildir new/: $before -> $(ls "$maildir" | wc -l) messages"'
mailcheck_run "$REC/after.json" --baseline "$REC/baseline.json"
record "mailcheck after the upgrade: checks that are not pass (with --baseline)" \
    "python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))
for c in r[\"checks\"]:
    if c[\"status\"] != \"pass\": print(c[\"status\"], c[\"id\"], \"-\", c.get(\"message\",\"\"))
print(\"baseline:\", json.dumps(r.get(\"baseline\"))[:2000])' $REC/after.json"

mkdir -p "$OUT"
rm -rf "${OUT:?}/etc.before"
cp -a "$ROOT$REC/." "$OUT/"
ok=1
step "upgrade lab ready: machine $NAME (Debian 13, upgraded), $(secs "$T0") in all"
echo "record: $OUT/report.txt (in the machine: $REC/)"
echo "mailcheck in it: tests/lab/machine.sh exec $NAME -- mailcheck run ... --baseline $REC/baseline.json"
