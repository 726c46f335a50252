#!/usr/bin/env bash
# tests/lab/up.sh - build, or restore, the mailcheck lab: the *correct* server that the tutorial
# (shared/seed/000_4eebd81ee5f03022.txt) describes, from Debian 12's or 13's packages, on this machine.
#
# Postfix + postfix-mysql + MariaDB (Postfix Admin tables) + saslauthd/pam_mysql + a self-signed
# certificate + the submission port, with the tutorial's values, or the ones given in LAB_* env vars.
#
# Idempotent and quick on a built lab: apt is skipped when the packages are installed, a file is
# only rewritten when its content (or mode/owner) differs, a service is only started when it is
# not running (Postfix is reloaded when running and its configuration changed). Rerunning it
# undoes what a test broke. Running it with other LAB_* values switches the machine over to them.
# Run as root. No systemd: daemons are started directly. See tests/lab/README.md.
set -Eeuo pipefail
umask 022
export LC_ALL=C DEBIAN_FRONTEND=noninteractive
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

T_START=${EPOCHREALTIME/./}

# --------------------------------------------------------------------------- settings
LAB_DOMAIN=${LAB_DOMAIN:-example.com}
LAB_HOSTNAME=${LAB_HOSTNAME:-atlantis.$LAB_DOMAIN}
LAB_ACCOUNT=${LAB_ACCOUNT:-root@$LAB_DOMAIN}
LAB_PASSWORD=${LAB_PASSWORD:-userpass}
LAB_DB_NAME=${LAB_DB_NAME:-mail}
LAB_DB_USER=${LAB_DB_USER:-mailadmin}
LAB_DB_PASSWORD=${LAB_DB_PASSWORD:-newpassword}
LAB_VARS=(LAB_HOSTNAME LAB_DOMAIN LAB_ACCOUNT LAB_PASSWORD LAB_DB_NAME LAB_DB_USER LAB_DB_PASSWORD)

ENV_FILE=/run/mailcheck-lab.env            # values in use, for the tests (mode 600)
STATE_DIR=/var/lib/mailcheck-lab           # persistent copy + names of DBs/users the lab created
LOCK_FILE=/run/mailcheck-lab.up.lock        # NOT /run/mailcheck-lab.lock: tests hold that one while they run up.sh
LAB_LOG=/var/log/mailcheck-lab             # daemon stdout/stderr (there is no syslog)

PKGS=(postfix postfix-mysql mariadb-server sasl2-bin libpam-mysql libsasl2-modules
      libsasl2-modules-sql openssl ssl-cert swaks)

CERT_DIR=/etc/ssl/self-signed
CERT=$CERT_DIR/server.pem
SASL_DIR=/var/spool/postfix/var/run/saslauthd
SASL_LINK=/var/run/saslauthd               # /var/run -> /run on Debian 12
SASL_ARGS=(-a pam -c -r -m "$SASL_DIR" -n 5)
MY_PID=/run/mysqld/mysqld.pid
MY_SOCK=/run/mysqld/mysqld.sock
PF_MASTER=/usr/lib/postfix/sbin/master
VMAIL_HOME=/home/vmail
LAB_MARK='# mailcheck-lab'

say() { printf 'lab: %s\n' "$*"; }
die() { printf 'lab: ERROR: %s\n' "$*" >&2; exit 1; }
trap 'printf "lab: FAILED at line %s: %s\n" "$LINENO" "$BASH_COMMAND" >&2' ERR

[ "$(id -u)" = 0 ] || die "run as root"

# Every value ends up in config files, SQL strings and pam arguments: accept only safe characters.
re_dns='^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$'
re_pass='^[A-Za-z0-9._+@%:-]{1,64}$'
re_ident='^[A-Za-z0-9_]{1,32}$'
[[ $LAB_DOMAIN =~ $re_dns ]]   || die "LAB_DOMAIN '$LAB_DOMAIN' is not a lower-case domain name"
[[ $LAB_HOSTNAME =~ $re_dns ]] || die "LAB_HOSTNAME '$LAB_HOSTNAME' is not a lower-case fully qualified name"
[ "$LAB_HOSTNAME" != "$LAB_DOMAIN" ] || die "LAB_HOSTNAME must not be the bare domain (tutorial: 'not just example.com')"
[[ $LAB_ACCOUNT =~ ^[a-z0-9._-]+@(.+)$ ]] || die "LAB_ACCOUNT '$LAB_ACCOUNT' must be local@domain (local part: a-z 0-9 . _ -)"
[ "${BASH_REMATCH[1]}" = "$LAB_DOMAIN" ] || die "LAB_ACCOUNT '$LAB_ACCOUNT' is not in LAB_DOMAIN '$LAB_DOMAIN'"
[[ $LAB_PASSWORD =~ $re_pass ]]    || die "LAB_PASSWORD: use 1-64 of A-Z a-z 0-9 . _ + @ % : -"
[[ $LAB_DB_PASSWORD =~ $re_pass ]] || die "LAB_DB_PASSWORD: use 1-64 of A-Z a-z 0-9 . _ + @ % : -"
[[ $LAB_DB_NAME =~ $re_ident ]] || die "LAB_DB_NAME: use 1-32 of A-Z a-z 0-9 _"
[[ $LAB_DB_USER =~ $re_ident ]] || die "LAB_DB_USER: use 1-32 of A-Z a-z 0-9 _"
case ${LAB_DB_NAME,,} in mysql|information_schema|performance_schema|sys) die "LAB_DB_NAME '$LAB_DB_NAME' is a system database";; esac
case ${LAB_DB_USER,,} in root|mysql|mariadb.sys|debian-sys-maint) die "LAB_DB_USER '$LAB_DB_USER' is a system account";; esac

# The Debian release whose stock files the lab starts from (main.cf, master.cf,
# /etc/default/saslauthd, the mode useradd gives /home/vmail): LAB_DIST, else /etc/os-release.
[ -n "${LAB_DIST:-}" ] || LAB_DIST=$(. /etc/os-release 2>/dev/null && printf '%s' "${VERSION_ID:-}")
case $LAB_DIST in
    12) VMAIL_MODE=755;;
    13) VMAIL_MODE=700;;    # HOME_MODE 0700 in Debian 13's /etc/login.defs
    *) die "LAB_DIST '$LAB_DIST': the lab is built on Debian 12 or 13 (VERSION_ID of /etc/os-release, or set LAB_DIST)";;
esac

LOCAL_PART=${LAB_ACCOUNT%@*}
MAILDIR=$VMAIL_HOME/$LAB_DOMAIN/$LOCAL_PART

# Whatever descriptors our caller left open (e.g. `flock /run/mailcheck-lab.lock up.sh`) must not
# end up in the daemons started below, where they would hold the caller's lock forever.
for fd_path in /proc/$$/fd/*; do
    fd=${fd_path##*/}
    if [ "$fd" -gt 2 ] && [ "$fd" -lt 255 ]; then eval "exec $fd>&-" 2>/dev/null || true; fi
done

# One up.sh/down.sh at a time. fd 9 must not leak into the daemons we start (they use 9>&-).
exec 9>"$LOCK_FILE"
flock -w 600 9 || die "another tests/lab/up.sh or down.sh holds $LOCK_FILE"

declare -A DIRTY=()     # postfix: needs reload; chroot: /etc/hosts copy in the chroot is stale;
                        # sasl: saslauthd must restart (its -c cache may hold an old password)

# put TAG PATH MODE OWNER GROUP CONTENT: (re)write PATH only if its content differs; fix mode and
# owner. Sets DIRTY[TAG] when anything changed.
put() {
    local tag=$1 path=$2 mode=$3 owner=$4 group=$5 content=$6 cur='' tmp
    if [ -f "$path" ] && [ ! -L "$path" ]; then IFS= read -r -d '' cur <"$path" || true; fi
    if [ ! -f "$path" ] || [ -L "$path" ] || [ "$cur" != "$content" ]; then
        tmp="$path.lab-new.$$"
        printf '%s' "$content" >"$tmp"
        chown "$owner:$group" "$tmp"; chmod "$mode" "$tmp"
        # Backdate the mtime 2 s: Postfix (dict_load_file) re-reads a config file, 0.3 s at a
        # time, until it is at least a second old, which made postconf/postfix stall 1.5 s.
        touch -m -d "@$((EPOCHSECONDS - 2))" -- "$tmp"
        mv -f -- "$tmp" "$path"
        say "wrote $path"; DIRTY[$tag]=1
    elif [ "$(stat -c '%a %U %G' -- "$path")" != "$mode $owner $group" ]; then
        chown "$owner:$group" "$path"; chmod "$mode" "$path"
        say "fixed owner/mode of $path ($mode $owner:$group)"; DIRTY[$tag]=1
    fi
}
# tpl VAR <<'EOF' ... : read a heredoc into VAR verbatim (no fork, trailing newline kept)
tpl() { IFS= read -r -d '' "$1" || true; }
sub() { local s=$1; s=${s//@HOSTNAME@/$LAB_HOSTNAME}; s=${s//@DOMAIN@/$LAB_DOMAIN}
        s=${s//@DB_NAME@/$LAB_DB_NAME}; s=${s//@DB_USER@/$LAB_DB_USER}; s=${s//@DB_PASSWORD@/$LAB_DB_PASSWORD}
        printf '%s' "$s"; }
# alive PID: the process exists and is not a zombie (pid 1 here reaps orphans late)
alive() { local st=''; [ -n "${1:-}" ] && read -r st 2>/dev/null <"/proc/$1/stat" && [[ ${st##*) } != [ZX]* ]]; }
pidof_file() { local p=''; [ -r "$1" ] && read -r p <"$1" 2>/dev/null; printf '%s' "${p//[^0-9]/}"; }
# wait_for SECONDS WHAT COMMAND...: poll every 0.1 s
wait_for() {
    local secs=$1 what=$2 i; shift 2
    for ((i = 0; i < secs * 10; i++)); do "$@" && return 0; sleep 0.1; done
    die "$what did not happen within ${secs}s"
}

# --------------------------------------------------------------------------- 1. packages
missing=()
installed=" $(dpkg-query -W -f='${db:Status-Abbrev}${Package} ' "${PKGS[@]}" 2>/dev/null || true)"
for p in "${PKGS[@]}"; do [[ $installed == *" ii $p "* ]] || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    debconf-set-selections <<EOF
postfix postfix/main_mailer_type select Internet Site
postfix postfix/mailname string $LAB_HOSTNAME
EOF
    APT=(apt-get -y -q -o DPkg::Lock::Timeout=900 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
    "${APT[@]}" install "${PKGS[@]}" >>/tmp/mailcheck-lab-apt.log 2>&1 \
        || { "${APT[@]}" update >>/tmp/mailcheck-lab-apt.log 2>&1 && "${APT[@]}" install "${PKGS[@]}" >>/tmp/mailcheck-lab-apt.log 2>&1; } \
        || die "apt-get install failed, see /tmp/mailcheck-lab-apt.log"
fi
mkdir -p "$STATE_DIR" "$LAB_LOG"; chmod 700 "$STATE_DIR"

# --------------------------------------------------------------------------- 2. names: hosts, mailname
hosts_cur=''; IFS= read -r -d '' hosts_cur </etc/hosts || true
hosts_new=''
while IFS= read -r line; do
    [[ $line == *"$LAB_MARK" ]] || hosts_new+="$line"$'\n'
done <<<"${hosts_cur%$'\n'}"
hosts_new+="127.0.1.1	$LAB_HOSTNAME	$LAB_MARK"$'\n'
# Debian's installer writes ::1 into /etc/hosts; some machines (this one's image) lack it, and
# then each smtpd that the hardening probes reach from ::1 asks DNS for ::1's name: with a slow
# resolver the greeting waited 5 s (its timeout) in a few runs of ten.
if ! grep -Eq '^[[:space:]]*::1[[:space:]]' <<<"$hosts_new"; then
    hosts_new+="::1	localhost ip6-localhost ip6-loopback	$LAB_MARK"$'\n'
fi
if [ "$hosts_cur" != "$hosts_new" ]; then
    printf '%s' "$hosts_new" >/etc/hosts    # in place: /etc/hosts may be a bind mount
    say "/etc/hosts: 127.0.1.1 $LAB_HOSTNAME"; DIRTY[chroot]=1; DIRTY[postfix]=1
fi
put postfix /etc/mailname 644 root root "$LAB_DOMAIN"$'\n'

# --------------------------------------------------------------------------- 3. users and groups
gid=''; IFS=: read -r _ _ gid _ < <(getent group vmail || :) || true
if [ -z "${gid:-}" ]; then
    groupadd -g 5000 vmail; say "created group vmail (5000)"
elif [ "$gid" != 5000 ]; then
    groupmod -g 5000 vmail; say "group vmail: gid $gid -> 5000"
fi
uid=''; IFS=: read -r _ _ uid ugid _ uhome ushell < <(getent passwd vmail || :) || true
if [ -z "${uid:-}" ]; then
    useradd -s /usr/sbin/nologin -g vmail -u 5000 -d "$VMAIL_HOME" -m vmail; say "created user vmail (5000)"
elif [ "$uid:$ugid:$uhome:$ushell" != "5000:5000:$VMAIL_HOME:/usr/sbin/nologin" ]; then
    usermod -u 5000 -g vmail -d "$VMAIL_HOME" -s /usr/sbin/nologin vmail
    say "user vmail: $uid:$ugid:$uhome:$ushell -> 5000:5000:$VMAIL_HOME:/usr/sbin/nologin"
fi
mkdir -p "$VMAIL_HOME"
[ "$(stat -c '%a %u %g' "$VMAIL_HOME")" = "$VMAIL_MODE 5000 5000" ] || { chown 5000:5000 "$VMAIL_HOME"; chmod "$VMAIL_MODE" "$VMAIL_HOME"; say "fixed $VMAIL_HOME ($VMAIL_MODE vmail:vmail)"; }
if ! [[ " $(id -nG postfix) " == *" sasl "* ]]; then
    adduser --quiet postfix sasl; say "added postfix to group sasl"; DIRTY[postfix]=1
fi

# --------------------------------------------------------------------------- 4. certificate
cert_ok() {
    local out a b
    [ -s "$CERT" ] || return 1
    out=$(openssl x509 -in "$CERT" -noout -subject -nameopt RFC2253 -ext subjectAltName -checkend $((30 * 86400)) 2>/dev/null) || return 1
    [[ $out == "subject=CN=$LAB_HOSTNAME"$'\n'* && $out == *"DNS:$LAB_HOSTNAME"* ]] || return 1
    a=$(openssl x509 -in "$CERT" -noout -pubkey 2>/dev/null) && b=$(openssl pkey -in "$CERT" -pubout 2>/dev/null) && [ "$a" = "$b" ]
}
mkdir -p "$CERT_DIR"; chmod 755 "$CERT_DIR"
if ! cert_ok; then
    tmpd=$(mktemp -d)
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 825 -subj "/CN=$LAB_HOSTNAME" \
        -addext "subjectAltName=DNS:$LAB_HOSTNAME" -keyout "$tmpd/key" -out "$tmpd/crt" 2>"$tmpd/err" \
        || { cat "$tmpd/err" >&2; die "openssl req failed"; }
    (umask 077; cat "$tmpd/crt" "$tmpd/key" >"$CERT.lab-new")
    rm -rf "$tmpd"
    chown root:root "$CERT.lab-new"; chmod 600 "$CERT.lab-new"; mv -f "$CERT.lab-new" "$CERT"
    say "new self-signed certificate for $LAB_HOSTNAME in $CERT"; DIRTY[postfix]=1
fi
[ "$(stat -c '%a %U %G' "$CERT")" = "600 root root" ] || { chown root:root "$CERT"; chmod 600 "$CERT"; say "fixed mode of $CERT"; }

# --------------------------------------------------------------------------- 5. Postfix files
tpl MAP_ALIAS <<'EOF'
user = @DB_USER@
password = @DB_PASSWORD@
hosts = 127.0.0.1
dbname = @DB_NAME@
table = alias
select_field = goto
where_field = address
EOF
tpl MAP_DOMAINS <<'EOF'
user = @DB_USER@
password = @DB_PASSWORD@
hosts = 127.0.0.1
dbname = @DB_NAME@
table = domain
select_field = domain
where_field = domain
additional_conditions = and backupmx = '0' and active = '1'
EOF
tpl MAP_MAILBOX <<'EOF'
user = @DB_USER@
password = @DB_PASSWORD@
hosts = 127.0.0.1
dbname = @DB_NAME@
table = mailbox
query = SELECT CONCAT(domain,'/',SUBSTRING_INDEX(maildir,'@',1),'/') FROM mailbox WHERE username='%s' AND active = 1
EOF
tpl MAP_RELAY <<'EOF'
user = @DB_USER@
password = @DB_PASSWORD@
hosts = 127.0.0.1
dbname = @DB_NAME@
table = domain
select_field = domain
where_field = domain
additional_conditions = and backupmx = '1'
EOF
put postfix /etc/postfix/mysql_virtual_alias_maps.cf   640 root postfix "$(sub "$MAP_ALIAS")"$'\n'
put postfix /etc/postfix/mysql_virtual_domains_maps.cf 640 root postfix "$(sub "$MAP_DOMAINS")"$'\n'
put postfix /etc/postfix/mysql_virtual_mailbox_maps.cf 640 root postfix "$(sub "$MAP_MAILBOX")"$'\n'
put postfix /etc/postfix/mysql_relay_domains_maps.cf   640 root postfix "$(sub "$MAP_RELAY")"$'\n'
put postfix /etc/postfix/mime_header_checks 644 root root '/name=[^>]*\.(bat|com|exe|dll|vbs)$/ REJECT'$'\n'

# main.cf: Debian's main.cf as its postinst writes it (Internet Site), then the tutorial's edits.
if [ "$LAB_DIST" = 12 ]; then
tpl MAIN_CF <<'EOF'
# See /usr/share/postfix/main.cf.dist for a commented, more complete version
# Written by tests/lab/up.sh (mailcheck lab): Debian 12's default + the tutorial. Edits are undone
# by the next run of up.sh.


# Debian specific:  Specifying a file name will cause the first
# line of that file to be used as the name.  The Debian default
# is /etc/mailname.
#myorigin = /etc/mailname

smtpd_banner = $myhostname ESMTP $mail_name (Debian/GNU)
biff = no

# appending .domain is the MUA's job.
append_dot_mydomain = no

# Uncomment the next line to generate "delayed mail" warnings
#delay_warning_time = 4h

readme_directory = no

# See http://www.postfix.org/COMPATIBILITY_README.html -- default to 3.6 on
# fresh installs.
compatibility_level = 3.6



# TLS parameters (the tutorial's "TLS" section replaces Debian's smtpd_tls_* lines)
smtpd_sasl_auth_enable = yes
broken_sasl_auth_clients = yes
smtpd_sasl_authenticated_header = yes
smtpd_recipient_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
smtpd_use_tls = yes
smtpd_tls_cert_file = /etc/ssl/self-signed/server.pem
smtpd_tls_key_file = $smtpd_tls_cert_file

smtp_tls_CApath=/etc/ssl/certs
smtp_tls_security_level=may
smtp_tls_session_cache_database = btree:${data_directory}/smtp_scache


smtpd_relay_restrictions = permit_mynetworks permit_sasl_authenticated defer_unauth_destination
myhostname = @HOSTNAME@
alias_maps = hash:/etc/aliases
alias_database = hash:/etc/aliases
myorigin = /etc/mailname
mydestination =
relayhost =
mynetworks = 127.0.0.0/8
mailbox_size_limit = 0
recipient_delimiter = +
inet_interfaces = all
inet_protocols = all

# Virtual Mailbox Domain Settings

virtual_mailbox_base = /home/vmail
virtual_transport = virtual
virtual_alias_maps = mysql:/etc/postfix/mysql_virtual_alias_maps.cf
virtual_mailbox_domains = mysql:/etc/postfix/mysql_virtual_domains_maps.cf
virtual_mailbox_maps = mysql:/etc/postfix/mysql_virtual_mailbox_maps.cf
virtual_minimum_uid = 5000
virtual_uid_maps = static:5000
virtual_gid_maps = static:5000

# Domains for which we are a secondary MX
relay_domains = mysql:/etc/postfix/mysql_relay_domains_maps.cf

# Banning attachments
mime_header_checks = regexp:/etc/postfix/mime_header_checks

# Maximum message size
message_size_limit = 20480000

# No syslog on the lab machine: log through postlogd (master.cf "postlog") to a file.
maillog_file = /var/log/postfix.log
EOF
else
# Debian 13 (Postfix 3.10): its postinst's main.cf; the tutorial's TLS block replaces the
# smtpd_tls_* lines as on 12; cyrus_sasl_config_path and compatibility_level = 3.9 are Debian's.
# (The two lines Debian writes with a trailing blank, mailbox_command and relayhost, have none.)
tpl MAIN_CF <<'EOF'
# See /usr/share/postfix/main.cf.dist for a commented, more complete version
# Written by tests/lab/up.sh (mailcheck lab): Debian 13's default + the tutorial. Edits are undone
# by the next run of up.sh.

# See http://www.postfix.org/COMPATIBILITY_README.html
compatibility_level = 3.9

# Which domain that locally-originated mail appears to come from.
# Debian policy suggests to read this value from /etc/mailname.
#XX needs a review in postinst&config
#myorigin = /etc/mailname
#myorigin = $mydomain
myorigin = /etc/mailname

# Text that follows the 220 code in the SMTP server's greeting banner.
# You MUST specify $myhostname at the start due to an RFC requirement.
smtpd_banner = $myhostname ESMTP $mail_name (Debian)

# IP protocols to use: ipv4, ipv6, or all
# (set this explicitly so `post-install upgrade-configuration' wont complain)
inet_protocols = all

# List of "trusted" SMTP clients (maptype:mapname allowed) that have more
# privileges than "strangers".  If mynetworks is not specified (the default),
# mynetworks_style is used to compute its value.
#mynetworks_style = class
#mynetworks_style = subnet
mynetworks_style = host
#
mynetworks = 127.0.0.0/8

# Uncomment the next line to generate "delayed mail" warnings
#delay_warning_time = 4h

# List of domains (maptype:mapname allowed) that this machine considers
# itself the final destination for.
mydestination =

# Maximum size of a user mailbox
mailbox_size_limit = 0

# Optional external command to use instead of mailbox delivery.  If set,
# you must set up an alias to forward root mail to a real user.
#mailbox_command = /usr/bin/procmail
#mailbox_command = /usr/bin/procmail -a "$EXTENSION"
mailbox_command =

# List of alias maps to use to lookup local addresses.
# Per Debian Policy it should be /etc/aliases.
alias_maps = hash:/etc/aliases

# List of alias maps to make indexes on, when running newaliases.
alias_database = hash:/etc/aliases

# Notify (or not) local biff service when new mail arrives.
# Rarely used these days.
biff = no

# Separator between user name and address extension (user+foo@domain)
#recipient_delimiter = +
recipient_delimiter = +

# A host to send "other" mail to
#relayhost = $mydomain
#relayhost = [gateway.example.com]
#relayhost = [ip.add.re.ss]:port
#relayhost = uucphost
relayhost =

# Where to look for Cyrus SASL configuration files.  Upstream default is unset
# (use compiled-in SASL library default), Debian Policy says it should be
# /etc/postfix/sasl.
cyrus_sasl_config_path = /etc/postfix/sasl

# TLS parameters (the tutorial's "TLS" section replaces Debian's smtpd_tls_* lines)
smtpd_sasl_auth_enable = yes
broken_sasl_auth_clients = yes
smtpd_sasl_authenticated_header = yes
smtpd_recipient_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
smtpd_use_tls = yes
smtpd_tls_cert_file = /etc/ssl/self-signed/server.pem
smtpd_tls_key_file = $smtpd_tls_cert_file

# List of CAs for SMTP Client to trust
# Prefer this over _CApath when smtp is running chrooted
smtp_tls_CAfile = /etc/ssl/certs/ca-certificates.crt
# SMTP Client TLS security level: none|may|encrypt|...
smtp_tls_security_level = may
# SMTP Client TLS session cache
smtp_tls_session_cache_database = btree:${data_directory}/smtp_scache
smtpd_relay_restrictions = permit_mynetworks permit_sasl_authenticated defer_unauth_destination
myhostname = @HOSTNAME@
inet_interfaces = all

# Virtual Mailbox Domain Settings

virtual_mailbox_base = /home/vmail
virtual_transport = virtual
virtual_alias_maps = mysql:/etc/postfix/mysql_virtual_alias_maps.cf
virtual_mailbox_domains = mysql:/etc/postfix/mysql_virtual_domains_maps.cf
virtual_mailbox_maps = mysql:/etc/postfix/mysql_virtual_mailbox_maps.cf
virtual_minimum_uid = 5000
virtual_uid_maps = static:5000
virtual_gid_maps = static:5000

# Domains for which we are a secondary MX
relay_domains = mysql:/etc/postfix/mysql_relay_domains_maps.cf

# Banning attachments
mime_header_checks = regexp:/etc/postfix/mime_header_checks

# Maximum message size
message_size_limit = 20480000

# No syslog on the lab machine: log through postlogd (master.cf "postlog") to a file.
maillog_file = /var/log/postfix.log
EOF
fi
put postfix /etc/postfix/main.cf 644 root root "$(sub "$MAIN_CF")"$'\n'

# master.cf: Debian's master.cf (/usr/share/postfix/master.cf.dist) with the submission service
# enabled exactly as the tutorial prints it.
if [ "$LAB_DIST" = 12 ]; then
tpl MASTER_CF <<'EOF'
#
# Postfix master process configuration file.  For details on the format
# of the file, see the master(5) manual page (command: "man 5 master" or
# on-line: http://www.postfix.org/master.5.html).
#
# Do not forget to execute "postfix reload" after editing this file.
#
# ==========================================================================
# service type  private unpriv  chroot  wakeup  maxproc command + args
#               (yes)   (yes)   (no)    (never) (100)
# ==========================================================================
smtp      inet  n       -       y       -       -       smtpd
#smtp      inet  n       -       y       -       1       postscreen
#smtpd     pass  -       -       y       -       -       smtpd
#dnsblog   unix  -       -       y       -       0       dnsblog
#tlsproxy  unix  -       -       y       -       0       tlsproxy
# Choose one: enable submission for loopback clients only, or for any client.
#127.0.0.1:submission inet n -   y       -       -       smtpd
submission inet n       -       -       -       -       smtpd
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
  -o milter_macro_daemon_name=ORIGINATING
# Choose one: enable submissions for loopback clients only, or for any client.
#127.0.0.1:submissions inet n  -       y       -       -       smtpd
#submissions     inet  n       -       y       -       -       smtpd
#  -o syslog_name=postfix/submissions
#  -o smtpd_tls_wrappermode=yes
#  -o smtpd_sasl_auth_enable=yes
#  -o smtpd_reject_unlisted_recipient=no
#     Instead of specifying complex smtpd_<xxx>_restrictions here,
#     specify "smtpd_<xxx>_restrictions=$mua_<xxx>_restrictions"
#     here, and specify mua_<xxx>_restrictions in main.cf (where
#     "<xxx>" is "client", "helo", "sender", "relay", or "recipient").
#  -o smtpd_client_restrictions=
#  -o smtpd_helo_restrictions=
#  -o smtpd_sender_restrictions=
#  -o smtpd_relay_restrictions=
#  -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject
#  -o milter_macro_daemon_name=ORIGINATING
#628       inet  n       -       y       -       -       qmqpd
pickup    unix  n       -       y       60      1       pickup
cleanup   unix  n       -       y       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
#qmgr     unix  n       -       n       300     1       oqmgr
tlsmgr    unix  -       -       y       1000?   1       tlsmgr
rewrite   unix  -       -       y       -       -       trivial-rewrite
bounce    unix  -       -       y       -       0       bounce
defer     unix  -       -       y       -       0       bounce
trace     unix  -       -       y       -       0       bounce
verify    unix  -       -       y       -       1       verify
flush     unix  n       -       y       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       y       -       -       smtp
relay     unix  -       -       y       -       -       smtp
        -o syslog_name=postfix/$service_name
#       -o smtp_helo_timeout=5 -o smtp_connect_timeout=5
showq     unix  n       -       y       -       -       showq
error     unix  -       -       y       -       -       error
retry     unix  -       -       y       -       -       error
discard   unix  -       -       y       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       y       -       -       lmtp
anvil     unix  -       -       y       -       1       anvil
scache    unix  -       -       y       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
#
# ====================================================================
# Interfaces to non-Postfix software. Be sure to examine the manual
# pages of the non-Postfix software to find out what options it wants.
#
# Many of the following services use the Postfix pipe(8) delivery
# agent.  See the pipe(8) man page for information about ${recipient}
# and other message envelope options.
# ====================================================================
#
# maildrop. See the Postfix MAILDROP_README file for details.
# Also specify in main.cf: maildrop_destination_recipient_limit=1
#
maildrop  unix  -       n       n       -       -       pipe
  flags=DRXhu user=vmail argv=/usr/bin/maildrop -d ${recipient}
#
# ====================================================================
#
# Recent Cyrus versions can use the existing "lmtp" master.cf entry.
#
# Specify in cyrus.conf:
#   lmtp    cmd="lmtpd -a" listen="localhost:lmtp" proto=tcp4
#
# Specify in main.cf one or more of the following:
#  mailbox_transport = lmtp:inet:localhost
#  virtual_transport = lmtp:inet:localhost
#
# ====================================================================
#
# Cyrus 2.1.5 (Amos Gouaux)
# Also specify in main.cf: cyrus_destination_recipient_limit=1
#
#cyrus     unix  -       n       n       -       -       pipe
#  flags=DRX user=cyrus argv=/cyrus/bin/deliver -e -r ${sender} -m ${extension} ${user}
#
# ====================================================================
# Old example of delivery via Cyrus.
#
#old-cyrus unix  -       n       n       -       -       pipe
#  flags=R user=cyrus argv=/cyrus/bin/deliver -e -m ${extension} ${user}
#
# ====================================================================
#
# See the Postfix UUCP_README file for configuration details.
#
uucp      unix  -       n       n       -       -       pipe
  flags=Fqhu user=uucp argv=uux -r -n -z -a$sender - $nexthop!rmail ($recipient)
#
# Other external delivery methods.
#
ifmail    unix  -       n       n       -       -       pipe
  flags=F user=ftn argv=/usr/lib/ifmail/ifmail -r $nexthop ($recipient)
bsmtp     unix  -       n       n       -       -       pipe
  flags=Fq. user=bsmtp argv=/usr/lib/bsmtp/bsmtp -t$nexthop -f$sender $recipient
scalemail-backend unix -       n       n       -       2       pipe
  flags=R user=scalemail argv=/usr/lib/scalemail/bin/scalemail-store ${nexthop} ${user} ${extension}
mailman   unix  -       n       n       -       -       pipe
  flags=FRX user=list argv=/usr/lib/mailman/bin/postfix-to-mailman.py ${nexthop} ${user}
EOF
else
tpl MASTER_CF <<'EOF'
#
# Postfix master process configuration file.  For details on the format
# of the file, see the master(5) manual page (command: "man 5 master" or
# on-line: https://www.postfix.org/master.5.html).
#
# Do not forget to execute "postfix reload" after editing this file.
#
# ==========================================================================
# service type  private unpriv  chroot  wakeup  maxproc command + args
#               (yes)   (yes)   (no)    (never) (100)
# ==========================================================================
smtp      inet  n       -       y       -       -       smtpd
#smtp      inet  n       -       y       -       1       postscreen
#smtpd     pass  -       -       y       -       -       smtpd
#dnsblog   unix  -       -       y       -       0       dnsblog
#tlsproxy  unix  -       -       y       -       0       tlsproxy
# Choose one: enable submission for loopback clients only, or for any client.
#127.0.0.1:submission inet n -   y       -       -       smtpd
submission inet n       -       -       -       -       smtpd
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
  -o milter_macro_daemon_name=ORIGINATING
# Choose one: enable submissions for loopback clients only, or for any client.
#127.0.0.1:submissions inet n  -       y       -       -       smtpd
#submissions     inet  n       -       y       -       -       smtpd
#  -o syslog_name=postfix/submissions
#  -o smtpd_forbid_unauth_pipelining=no
#  -o smtpd_tls_wrappermode=yes
#  -o smtpd_sasl_auth_enable=yes
#  -o local_header_rewrite_clients=static:all
#  -o smtpd_hide_client_session=yes
#  -o smtpd_reject_unlisted_recipient=no
#     Instead of specifying complex smtpd_<xxx>_restrictions here,
#     specify "smtpd_<xxx>_restrictions=$mua_<xxx>_restrictions"
#     here, and specify mua_<xxx>_restrictions in main.cf (where
#     "<xxx>" is "client", "helo", "sender", "relay", or "recipient").
#  -o smtpd_client_restrictions=
#  -o smtpd_helo_restrictions=
#  -o smtpd_sender_restrictions=
#  -o smtpd_relay_restrictions=
#  -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject
#  -o milter_macro_daemon_name=ORIGINATING
#628       inet  n       -       y       -       -       qmqpd
pickup    unix  n       -       y       60      1       pickup
cleanup   unix  n       -       y       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
#qmgr     unix  n       -       n       300     1       oqmgr
tlsmgr    unix  -       -       y       1000?   1       tlsmgr
rewrite   unix  -       -       y       -       -       trivial-rewrite
bounce    unix  -       -       y       -       0       bounce
defer     unix  -       -       y       -       0       bounce
trace     unix  -       -       y       -       0       bounce
verify    unix  -       -       y       -       1       verify
flush     unix  n       -       y       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       y       -       -       smtp
relay     unix  -       -       y       -       -       smtp
        -o syslog_name=${multi_instance_name?{$multi_instance_name}:{postfix}}/$service_name
#       -o smtp_helo_timeout=5 -o smtp_connect_timeout=5
showq     unix  n       -       y       -       -       showq
error     unix  -       -       y       -       -       error
retry     unix  -       -       y       -       -       error
discard   unix  -       -       y       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       y       -       -       lmtp
anvil     unix  -       -       y       -       1       anvil
scache    unix  -       -       y       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
#
# ====================================================================
# Interfaces to non-Postfix software. Be sure to examine the manual
# pages of the non-Postfix software to find out what options it wants.
#
# Many of the following services use the Postfix pipe(8) delivery
# agent.  See the pipe(8) man page for information about ${recipient}
# and other message envelope options.
# ====================================================================
#
# maildrop. See the Postfix MAILDROP_README file for details.
# Also specify in main.cf: maildrop_destination_recipient_limit=1
#
#maildrop  unix  -       n       n       -       -       pipe
#  flags=DRXhu user=vmail argv=/usr/bin/maildrop -d ${recipient}
#
# ====================================================================
#
# Recent Cyrus versions can use the existing "lmtp" master.cf entry.
#
# Specify in cyrus.conf:
#   lmtp    cmd="lmtpd -a" listen="localhost:lmtp" proto=tcp4
#
# Specify in main.cf one or more of the following:
#  mailbox_transport = lmtp:inet:localhost
#  virtual_transport = lmtp:inet:localhost
#
# ====================================================================
#
# Cyrus 2.1.5 (Amos Gouaux)
# Also specify in main.cf: cyrus_destination_recipient_limit=1
#
#cyrus     unix  -       n       n       -       -       pipe
#  flags=DRX user=cyrus argv=/cyrus/bin/deliver -e -r ${sender} -m ${extension} ${user}
#
# ====================================================================
#
# Old example of delivery via Cyrus.
#
#old-cyrus unix  -       n       n       -       -       pipe
#  flags=R user=cyrus argv=/cyrus/bin/deliver -e -m ${extension} ${user}
#
# ====================================================================
#
# See the Postfix UUCP_README file for configuration details.
#
#uucp      unix  -       n       n       -       -       pipe
#  flags=Fqhu user=uucp argv=uux -r -n -z -a$sender - $nexthop!rmail ($recipient)
#
# ====================================================================
#
# Other external delivery methods.
#
#ifmail    unix  -       n       n       -       -       pipe
#  flags=F user=ftn argv=/usr/lib/ifmail/ifmail -r $nexthop ($recipient)
#
#bsmtp     unix  -       n       n       -       -       pipe
#  flags=Fq. user=bsmtp argv=/usr/lib/bsmtp/bsmtp -f $sender $nexthop $recipient
#
#scalemail-backend unix -       n       n       -       2       pipe
#  flags=R user=scalemail argv=/usr/lib/scalemail/bin/scalemail-store
#  ${nexthop} ${user} ${extension}
#
#mailman   unix  -       n       n       -       -       pipe
#  flags=FRX user=list argv=/usr/lib/mailman/bin/postfix-to-mailman.py
#  ${nexthop} ${user}
EOF
fi
put postfix /etc/postfix/master.cf 644 root root "$MASTER_CF"

[ -f /etc/aliases ] || { printf '# See man 5 aliases for format\npostmaster:    root\n' >/etc/aliases; say "wrote /etc/aliases"; }
if [ ! /etc/aliases.db -nt /etc/aliases ]; then newaliases; say "newaliases"; fi

# --------------------------------------------------------------------------- 6. SASL files
# /etc/default/saslauthd: on 12 the lab's own short form with the tutorial's START=yes and
# OPTIONS; on 13 Debian's file (it has no START=: the service unit starts saslauthd) with the
# tutorial's OPTIONS.
if [ "$LAB_DIST" = 12 ]; then
tpl SASL_DEFAULT <<'EOF'
#
# Settings for saslauthd daemon
# Please read /usr/share/doc/sasl2-bin/README.Debian for details.
# Written by tests/lab/up.sh (mailcheck lab). The lab starts saslauthd directly with these values.
#

# Should saslauthd run automatically on startup? (default: no)
START=yes

# Description of this saslauthd instance. Recommended.
# (suggestion: SASL Authentication Daemon)
DESC="SASL Authentication Daemon"

# Short name of this saslauthd instance. Strongly recommended.
# (suggestion: saslauthd)
NAME="saslauthd"

# Which authentication mechanisms should saslauthd use? (default: pam)
MECHANISMS="pam"

# Additional options for this mechanism. (default: none)
MECH_OPTIONS=""

# How many saslauthd processes should we run? (default: 5)
THREADS=5

# Other options (default: -c -m /var/run/saslauthd)
# Postfix on Debian runs smtpd chrooted in /var/spool/postfix, so the socket lives there and
# /var/run/saslauthd is a symlink to it.
OPTIONS="-c -r -m /var/spool/postfix/var/run/saslauthd"
EOF
else
tpl SASL_DEFAULT <<'EOF'
#
# Settings for saslauthd daemon
# Please read /usr/share/doc/sasl2-bin/README.Debian.gz for details.
# Written by tests/lab/up.sh (mailcheck lab): Debian 13's default + the tutorial's OPTIONS.
# Debian 13 has no START= line (saslauthd.service starts it); the lab starts saslauthd directly.
#

# Description of this saslauthd instance. Recommended.
# (suggestion: SASL Authentication Daemon)
DESC="SASL Authentication Daemon"

# Short name of this saslauthd instance. Strongly recommended.
# (suggestion: saslauthd)
NAME="saslauthd"

# Which authentication mechanisms should saslauthd use? (default: pam)
#
# Available options in this Debian package:
# getpwent  -- use the getpwent() library function
# kerberos5 -- use Kerberos 5
# pam       -- use PAM
# rimap     -- use a remote IMAP server
# shadow    -- use the local shadow password file
# sasldb    -- use the local sasldb database file
# ldap      -- use LDAP (configuration is in /etc/saslauthd.conf)
#
# Only one option may be used at a time. See the saslauthd man page
# for more information.
#
# Example: MECHANISMS="pam"
MECHANISMS="pam"

# Additional options for this mechanism. (default: none)
# See the saslauthd man page for information about mech-specific options.
MECH_OPTIONS=""

# How many saslauthd processes should we run? (default: 5)
# A value of 0 will fork a new process for each connection.
THREADS=5

# Other options (default: -c -m /var/run/saslauthd)
# Note: You MUST specify the -m option or saslauthd won't run!
#
# WARNING: DO NOT SPECIFY THE -d OPTION.
# The -d option will cause saslauthd to run in the foreground instead of as
# a daemon. This will PREVENT YOUR SYSTEM FROM BOOTING PROPERLY. If you wish
# to run saslauthd in debug mode, please run it by hand to be safe.
#
# See the saslauthd man page and the output of 'saslauthd -h' for general
# information about these options.
#
# Example for chroot Postfix users: "-c -m /var/spool/postfix/var/run/saslauthd"
# Example for non-chroot Postfix users: "-c -m /var/run/saslauthd"
#
# To know if your Postfix is running chroot, check /etc/postfix/master.cf.
# If it has the line "smtp inet n - y - - smtpd" or "smtp inet n - - - - smtpd"
# then your Postfix is running in a chroot.
# If it has the line "smtp inet n - n - - smtpd" then your Postfix is NOT
# running in a chroot.
OPTIONS="-c -r -m /var/spool/postfix/var/run/saslauthd"
EOF
fi
put sasl /etc/default/saslauthd 644 root root "$SASL_DEFAULT"

tpl PAM_SMTP <<'EOF'
auth    required   pam_mysql.so user=@DB_USER@ passwd=@DB_PASSWORD@ host=127.0.0.1 db=@DB_NAME@ table=mailbox usercolumn=username passwdcolumn=password crypt=1
account sufficient pam_mysql.so user=@DB_USER@ passwd=@DB_PASSWORD@ host=127.0.0.1 db=@DB_NAME@ table=mailbox usercolumn=username passwdcolumn=password crypt=1
EOF
put sasl /etc/pam.d/smtp 640 root sasl "$(sub "$PAM_SMTP")"$'\n'

tpl SMTPD_CONF <<'EOF'
pwcheck_method: saslauthd
mech_list: plain login
allow_plaintext: true
auxprop_plugin: mysql
sql_hostnames: 127.0.0.1
sql_user: @DB_USER@
sql_passwd: @DB_PASSWORD@
sql_database: @DB_NAME@
sql_select: select password from mailbox where username = '%u' and active = '1'
EOF
mkdir -p /etc/postfix/sasl
put postfix /etc/postfix/sasl/smtpd.conf 640 root postfix "$(sub "$SMTPD_CONF")"$'\n'

# --------------------------------------------------------------------------- 7. MariaDB
mariadb_up() { alive "$(pidof_file "$MY_PID")" && [ -S "$MY_SOCK" ]; }
mariadb_ping() { mysqladmin --connect-timeout=2 ping >/dev/null 2>&1; }
if ! mariadb_up; then
    install -d -o mysql -g root -m 755 /run/mysqld
    [ -d /var/lib/mysql/mysql ] || { say "initialising /var/lib/mysql"; mariadb-install-db --user=mysql --datadir=/var/lib/mysql >>"$LAB_LOG/mariadb.log" 2>&1; }
    rm -f "$MY_PID"
    say "starting MariaDB"
    start-stop-daemon --start --quiet --background --pidfile "$MY_PID" --exec /usr/sbin/mariadbd \
        --output "$LAB_LOG/mariadb.log" -- --user=mysql 9>&- \
        || die "start-stop-daemon could not start mariadbd (see $LAB_LOG/mariadb.log)"
    wait_for 60 "MariaDB answering on $MY_SOCK (see $LAB_LOG/mariadb.log)" mariadb_ping
fi

# DBs and users the lab created under other names (previous labs) are dropped.
declare -A OLD_DB=() OLD_USER=()
if [ -f "$STATE_DIR/created" ]; then
    while read -r kind name; do
        case $kind in db) OLD_DB[$name]=1;; user) OLD_USER[$name]=1;; esac
    done <"$STATE_DIR/created"
fi
for f in "$ENV_FILE" "$STATE_DIR/lab.env"; do
    [ -f "$f" ] || continue
    while IFS='=' read -r k v; do
        [[ $v =~ $re_ident ]] || continue
        case $k in LAB_DB_NAME) OLD_DB[$v]=1;; LAB_DB_USER) OLD_USER[$v]=1;; esac
    done <"$f"
done
unset "OLD_DB[$LAB_DB_NAME]" "OLD_USER[$LAB_DB_USER]"
{ for n in "${!OLD_DB[@]}"; do echo "db $n"; done; for n in "${!OLD_USER[@]}"; do echo "user $n"; done
  echo "db $LAB_DB_NAME"; echo "user $LAB_DB_USER"; } >"$STATE_DIR/created"

SQL_DROP=''
for n in "${!OLD_DB[@]}"; do
    case ${n,,} in mysql|information_schema|performance_schema|sys) continue;; esac
    SQL_DROP+="DROP DATABASE IF EXISTS \`$n\`;"$'\n'
done
for n in "${!OLD_USER[@]}"; do
    case ${n,,} in root|mysql|mariadb.sys|debian-sys-maint) continue;; esac
    SQL_DROP+="DROP USER IF EXISTS '$n'@'localhost', '$n'@'127.0.0.1';"$'\n'
done

# From stdin: a password in a command line is visible to every process (tests grep /proc for it).
PW_HASH=$(openssl passwd -1 -stdin <<<"$LAB_PASSWORD")
D=$LAB_DOMAIN A=$LAB_ACCOUNT DB=$LAB_DB_NAME U=$LAB_DB_USER P=$LAB_DB_PASSWORD
# Postfix Admin (2.3) tables; a table that lost one of its columns is recreated.
SQL_OUT=$(mysql --batch --skip-column-names 2>&1 <<EOF
SET SESSION sql_mode = 'NO_ENGINE_SUBSTITUTION';
$SQL_DROP
CREATE DATABASE IF NOT EXISTS \`$DB\`;
CREATE USER IF NOT EXISTS '$U'@'localhost' IDENTIFIED BY '$P';
CREATE USER IF NOT EXISTS '$U'@'127.0.0.1' IDENTIFIED BY '$P';
ALTER USER '$U'@'localhost' IDENTIFIED BY '$P' ACCOUNT UNLOCK;
ALTER USER '$U'@'127.0.0.1' IDENTIFIED BY '$P' ACCOUNT UNLOCK;
GRANT ALL PRIVILEGES ON \`$DB\`.* TO '$U'@'localhost';
GRANT ALL PRIVILEGES ON \`$DB\`.* TO '$U'@'127.0.0.1';
USE \`$DB\`;
SET @n = (SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '$DB' AND TABLE_NAME = 'domain'
          AND COLUMN_NAME IN ('domain','description','aliases','mailboxes','maxquota','quota','transport','backupmx','created','modified','active'));
SET @s = IF(@n = 11, 'DO 0', 'DROP TABLE IF EXISTS domain'); PREPARE st FROM @s; EXECUTE st; DEALLOCATE PREPARE st;
SET @n = (SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '$DB' AND TABLE_NAME = 'mailbox'
          AND COLUMN_NAME IN ('username','password','name','maildir','quota','local_part','domain','created','modified','active'));
SET @s = IF(@n = 10, 'DO 0', 'DROP TABLE IF EXISTS mailbox'); PREPARE st FROM @s; EXECUTE st; DEALLOCATE PREPARE st;
SET @n = (SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '$DB' AND TABLE_NAME = 'alias'
          AND COLUMN_NAME IN ('address','goto','domain','created','modified','active'));
SET @s = IF(@n = 6, 'DO 0', 'DROP TABLE IF EXISTS alias'); PREPARE st FROM @s; EXECUTE st; DEALLOCATE PREPARE st;
CREATE TABLE IF NOT EXISTS domain (
  domain varchar(255) NOT NULL DEFAULT '',
  description varchar(255) NOT NULL DEFAULT '',
  aliases int(10) NOT NULL DEFAULT 0,
  mailboxes int(10) NOT NULL DEFAULT 0,
  maxquota bigint(20) NOT NULL DEFAULT 0,
  quota bigint(20) NOT NULL DEFAULT 0,
  transport varchar(255) DEFAULT NULL,
  backupmx tinyint(1) NOT NULL DEFAULT 0,
  created datetime NOT NULL DEFAULT '2000-01-01 00:00:00',
  modified datetime NOT NULL DEFAULT '2000-01-01 00:00:00',
  active tinyint(1) NOT NULL DEFAULT 1,
  PRIMARY KEY (domain)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='Postfix Admin - Virtual Domains';
CREATE TABLE IF NOT EXISTS mailbox (
  username varchar(255) NOT NULL DEFAULT '',
  password varchar(255) NOT NULL DEFAULT '',
  name varchar(255) NOT NULL DEFAULT '',
  maildir varchar(255) NOT NULL DEFAULT '',
  quota bigint(20) NOT NULL DEFAULT 0,
  local_part varchar(255) NOT NULL DEFAULT '',
  domain varchar(255) NOT NULL DEFAULT '',
  created datetime NOT NULL DEFAULT '2000-01-01 00:00:00',
  modified datetime NOT NULL DEFAULT '2000-01-01 00:00:00',
  active tinyint(1) NOT NULL DEFAULT 1,
  PRIMARY KEY (username),
  KEY domain (domain)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='Postfix Admin - Virtual Mailboxes';
CREATE TABLE IF NOT EXISTS alias (
  address varchar(255) NOT NULL DEFAULT '',
  goto text NOT NULL,
  domain varchar(255) NOT NULL DEFAULT '',
  created datetime NOT NULL DEFAULT '2000-01-01 00:00:00',
  modified datetime NOT NULL DEFAULT '2000-01-01 00:00:00',
  active tinyint(1) NOT NULL DEFAULT 1,
  PRIMARY KEY (address),
  KEY domain (domain)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='Postfix Admin - Virtual Aliases';
DELETE FROM domain WHERE domain <> '$D';
INSERT INTO domain (domain, description, aliases, mailboxes, maxquota, quota, transport, backupmx, created, modified, active)
  VALUES ('$D', '$D', 0, 0, 0, 0, 'virtual', 0, NOW(), NOW(), 1)
  ON DUPLICATE KEY UPDATE backupmx = 0, active = 1;
SET @old = (SELECT password FROM mailbox WHERE username = '$A');
DELETE FROM mailbox WHERE username <> '$A';
INSERT INTO mailbox (username, password, name, maildir, quota, local_part, domain, created, modified, active)
  VALUES ('$A', '$PW_HASH', '$LOCAL_PART', '$A/', 0, '$LOCAL_PART', '$D', NOW(), NOW(), 1)
  ON DUPLICATE KEY UPDATE
    password = IF(ENCRYPT('$LAB_PASSWORD', password) <=> password, password, VALUES(password)),
    maildir = VALUES(maildir), local_part = VALUES(local_part), domain = VALUES(domain), active = 1;
SELECT CONCAT('password-changed=', NOT (@old <=> password)) FROM mailbox WHERE username = '$A';
DELETE FROM alias WHERE address <> '$A';
INSERT INTO alias (address, goto, domain, created, modified, active)
  VALUES ('$A', '$A', '$D', NOW(), NOW(), 1)
  ON DUPLICATE KEY UPDATE goto = VALUES(goto), domain = VALUES(domain), active = 1;
EOF
) || die "MariaDB provisioning failed: $SQL_OUT"
{ echo "db $LAB_DB_NAME"; echo "user $LAB_DB_USER"; } >"$STATE_DIR/created"
[[ $SQL_OUT == *password-changed=1* ]] && { say "DB: password of $LAB_ACCOUNT set"; DIRTY[sasl]=1; }
[ -z "$SQL_DROP" ] || say "DB: dropped the previous lab's database/users (${!OLD_DB[*]} ${!OLD_USER[*]})"

# --------------------------------------------------------------------------- 8. saslauthd
sasl_up() {
    local pid args i
    pid=$(pidof_file "$SASL_DIR/saslauthd.pid"); alive "$pid" && [ -S "$SASL_DIR/mux" ] || return 1
    mapfile -d '' args <"/proc/$pid/cmdline" 2>/dev/null || return 1
    [ "${args[0]##*/}" = saslauthd ] || return 1
    for ((i = 1; i < ${#args[@]}; i++)); do [ "${args[i]}" = -m ] && [ "${args[i+1]:-}" = "$SASL_DIR" ] && return 0; done
    return 1
}
sasl_stop() {
    local pids pid
    # pgrep --ns: only this PID namespace's (lab machines, tests/lab/machine.sh, run their own).
    pids="$(pidof_file "$SASL_DIR/saslauthd.pid") $( [ -d "$SASL_LINK" ] && [ ! -L "$SASL_LINK" ] && pidof_file "$SASL_LINK/saslauthd.pid") $(pgrep --ns $$ --nslist pid -x saslauthd || true)"
    for pid in $pids; do kill "$pid" 2>/dev/null || true; done
    for pid in $pids; do
        for ((i = 0; i < 50; i++)); do alive "$pid" || break; sleep 0.1; done
        alive "$pid" && kill -9 "$pid" 2>/dev/null || true
    done
    rm -f "$SASL_DIR/mux" "$SASL_DIR/saslauthd.pid" "$SASL_DIR/mux.accept" "$SASL_DIR/cache.flock" "$SASL_DIR/cache.mmap"
}
mkdir -p /var/spool/postfix/var/run "$SASL_DIR"
[ "$(stat -c '%a %U %G' "$SASL_DIR")" = "710 root sasl" ] || { chown root:sasl "$SASL_DIR"; chmod 710 "$SASL_DIR"; say "fixed $SASL_DIR (710 root:sasl)"; }
if ! { [ -L "$SASL_LINK" ] && [ "$(readlink "$SASL_LINK")" = "$SASL_DIR" ]; }; then
    if [ -d "$SASL_LINK" ] && [ ! -L "$SASL_LINK" ]; then      # the package's own run directory
        alive "$(pidof_file "$SASL_LINK/saslauthd.pid")" && DIRTY[sasl]=1
        rm -rf -- "$SASL_LINK"
    else
        rm -f -- "$SASL_LINK"
    fi
    ln -s "$SASL_DIR" "$SASL_LINK"; say "symlink $SASL_LINK -> $SASL_DIR"
fi
# /run is a tmpfs: without this tmpfiles.d(5) line the link is gone after a reboot (the submission
# smtpd, not chrooted, then cannot reach saslauthd). systemd-tmpfiles makes it at boot.
SASL_TMPFILES="L+ /run/saslauthd - - - - $SASL_DIR"
if [ "$(cat /etc/tmpfiles.d/saslauthd.conf 2>/dev/null)" != "$SASL_TMPFILES" ]; then
    mkdir -p /etc/tmpfiles.d
    printf '%s\n' "$SASL_TMPFILES" >/etc/tmpfiles.d/saslauthd.conf
    say "wrote /etc/tmpfiles.d/saslauthd.conf (the saslauthd link at every boot)"
fi
if [ -n "${DIRTY[sasl]:-}" ] || ! sasl_up; then
    sasl_stop
    say "starting saslauthd ${SASL_ARGS[*]}"
    # Debian 13's saslauthd.service runs it with Group=sasl (12's init script does not).
    sasl_group=(); [ "$LAB_DIST" = 12 ] || sasl_group=(setpriv --regid sasl --clear-groups)
    setsid "${sasl_group[@]}" /usr/sbin/saslauthd "${SASL_ARGS[@]}" </dev/null >>"$LAB_LOG/saslauthd.log" 2>&1 9>&- \
        || die "saslauthd failed to start (see $LAB_LOG/saslauthd.log)"
    wait_for 10 "saslauthd socket $SASL_DIR/mux" sasl_up
fi
# At boot. Debian installs saslauthd disabled (update-rc.d defaults-disabled; on 13 saslauthd.service
# is not enabled either), so the tutorial's START=yes alone does not start it after a reboot. The lab
# enables it as `systemctl enable saslauthd` would (no systemd runs here): update-rc.d makes the
# S links of the init script and, when the package ships saslauthd.service (13), its
# multi-user.target.wants link.
sasl_boot_ok() {
    compgen -G '/etc/rc2.d/S[0-9][0-9]saslauthd' >/dev/null || return 1
    [ ! -f /usr/lib/systemd/system/saslauthd.service ] && [ ! -f /lib/systemd/system/saslauthd.service ] \
        || [ -e /etc/systemd/system/multi-user.target.wants/saslauthd.service ]
}
if ! sasl_boot_ok; then
    # enable needs the rc links to exist (S or K); when they were deleted, make them by hand
    # (update-rc.d defaults makes none in a root without insserv).
    if ! compgen -G '/etc/rc2.d/[SK][0-9][0-9]saslauthd' >/dev/null; then
        for r in 2 3 4 5; do ln -sfn ../init.d/saslauthd "/etc/rc$r.d/S01saslauthd"; done
        for r in 0 1 6; do ln -sfn ../init.d/saslauthd "/etc/rc$r.d/K01saslauthd"; done
    fi
    update-rc.d saslauthd enable >/dev/null 2>&1 9>&- || die "update-rc.d saslauthd enable failed"
    sasl_boot_ok || die "saslauthd is still not enabled at boot after update-rc.d saslauthd enable"
    say "enabled saslauthd at boot (update-rc.d saslauthd enable)"
fi

# --------------------------------------------------------------------------- 9. Postfix
pf_up() { ! "$PF_MASTER" -t >/dev/null 2>&1; }     # master -t: exit 0 when NOT running
[ -f /var/spool/postfix/etc/hosts ] && cmp -s /etc/hosts /var/spool/postfix/etc/hosts || DIRTY[chroot]=1
if [ -n "${DIRTY[postfix]:-}" ]; then
    warn=$(postconf -n 2>&1 >/dev/null) || die "postconf: $warn"
    # Postfix 3.10 (Debian 13) warns that smtpd_use_tls, which the tutorial sets, is deprecated.
    [ "$LAB_DIST" = 12 ] || warn=$(grep -v -F 'support for parameter "smtpd_use_tls" will be removed' <<<"$warn" || true)
    [ -z "$warn" ] || die "postconf warns about the lab's main.cf: $warn"
fi
# Debian's configure-instance.sh copies /etc/hosts, /etc/services, ... into the chroot. On 12 the
# init script runs it; on 13 (3.10) `postfix start` does, through post-install, and refuses to be
# run by hand ("old postfix initscript will not work with this postfix package version").
configure_instance() {
    if [ "$LAB_DIST" = 12 ]; then /usr/lib/postfix/configure-instance.sh - 9>&-
    else postfix post-install create-missing >/dev/null 9>&-; fi     # it names each file it copies
}
if ! pf_up; then
    [ "$LAB_DIST" != 12 ] || configure_instance
    say "starting Postfix"
    out=$(postfix start 2>&1 9>&-) || die "postfix start failed: $out"
elif [ -n "${DIRTY[postfix]:-}${DIRTY[chroot]:-}" ]; then
    [ -z "${DIRTY[chroot]:-}" ] || configure_instance
    say "reloading Postfix"
    out=$(postfix reload 2>&1 9>&-) || die "postfix reload failed: $out"
fi
# A port answers with the lab's banner (after a reload, old smtpd processes may still answer).
banner_ok() {
    local line
    line=$( { exec 8<>"/dev/tcp/$1/$2" && IFS= read -r -t 2 line <&8 && printf 'QUIT\r\n' >&8 && printf '%s' "$line"; } 2>/dev/null) || return 1
    [[ $line == "220 $LAB_HOSTNAME ESMTP "* ]]
}
wait_for 30 "Postfix banner '220 $LAB_HOSTNAME ESMTP' on 127.0.0.1:25" banner_ok 127.0.0.1 25
wait_for 30 "Postfix banner '220 $LAB_HOSTNAME ESMTP' on 127.0.0.1:587" banner_ok 127.0.0.1 587

# --------------------------------------------------------------------------- 10. the Maildir
if [ ! -d "$MAILDIR/new" ] && [ ! -d "$MAILDIR/cur" ]; then
    say "delivering a first mail to $LAB_ACCOUNT"
    printf 'From: %s\nTo: %s\nSubject: lab test\n\nFirst mail, sent by tests/lab/up.sh to create the Maildir.\n' \
        "$LAB_ACCOUNT" "$LAB_ACCOUNT" | sendmail -i -f "$LAB_ACCOUNT" -- "$LAB_ACCOUNT" 9>&-
    delivered() { compgen -G "$MAILDIR/new/*" >/dev/null; }
    wait_for 30 "delivery to $MAILDIR/new (see /var/log/postfix.log, mailq)" delivered
fi
for d in "$MAILDIR" "$MAILDIR/cur" "$MAILDIR/new" "$MAILDIR/tmp"; do
    [ -d "$d" ] || { install -d -o 5000 -g 5000 -m 700 "$d"; say "recreated $d"; }
done
bad=$(find "$VMAIL_HOME" \( ! -uid 5000 -o ! -gid 5000 \) -print -quit)
[ -z "$bad" ] || { find "$VMAIL_HOME" \( ! -uid 5000 -o ! -gid 5000 \) -exec chown -h 5000:5000 {} +; say "fixed ownership under $VMAIL_HOME"; }

# Mail deferred while a test had something broken is retried now (after the Maildir's owners are
# right again), not at the next queue run.
if [ -n "$(find /var/spool/postfix/deferred -type f -print -quit 2>/dev/null)" ]; then
    say "flushing deferred mail"; postqueue -f 9>&- || true
fi

# --------------------------------------------------------------------------- 11. record the values
env_text=''
for v in "${LAB_VARS[@]}"; do env_text+="$v=${!v}"$'\n'; done
for f in "$ENV_FILE" "$STATE_DIR/lab.env"; do
    cur=''; [ -f "$f" ] && { IFS= read -r -d '' cur <"$f" || true; }
    if [ "$cur" != "$env_text" ] || [ "$(stat -c %a "$f")" != 600 ]; then
        (umask 077; printf '%s' "$env_text" >"$f.lab-new"); chmod 600 "$f.lab-new"; mv -f "$f.lab-new" "$f"
    fi
done

T_END=${EPOCHREALTIME/./}
ms=$(( (T_END - T_START) / 1000 ))
say "ready: $LAB_HOSTNAME / $LAB_ACCOUNT / db $LAB_DB_NAME ($((ms / 1000)).$(printf '%03d' $((ms % 1000)))s)"
