#!/usr/bin/env bash
# bench/fleet.sh - a fleet of lab servers for the many-hosts benchmark (issue 18): MACHINES
# "machines", each a real Postfix made from the lab's own configuration, serving PER addresses,
# plus an sshd, so that `mailcheck run --hosts-file` (and the same with ssh=) meets distinct
# servers instead of one Postfix behind 50 loopback aliases.
#
#   fleet.sh up       build it (after a `down` of any leftovers); prints the hosts files' paths
#   fleet.sh down     stop every instance and sshd, remove namespaces, bridge, files
#   fleet.sh status   what is up; exit 0 only when every machine serves all its addresses
#   fleet.sh install BIN    put BIN in each machine's PATH as mailcheck (a tmpfs over
#                           /usr/local/sbin in the machine only), so that --ssh runs it instead of
#                           uploading itself; `uninstall` takes it away again
#   fleet.sh cpu      CPU time (ms) used so far by the machines' processes (Postfix, sshd, the
#                     mailcheck runs there), reaped children included: the server side's cost
#
# Machine K (0..MACHINES-1) is a network namespace `mcfleetK` plus a mount namespace held by a
# `sleep` process (its pid in $RUN/K.pid). In the mount namespace the instance's own
# directories are bind-mounted over /etc/postfix, /var/spool/postfix and /var/lib/postfix, and
# a file over /var/log/postfix.log, so each instance is the default Postfix of its machine:
# `postfix start`, `postconf`, `postqueue` and a mailcheck run there over SSH see that instance
# and not the lab's. (`postfix -c DIR start` would also work as root without
# alternate_config_directories in the lab's main.cf: Postfix checks that list only for the
# set-gid postdrop/postqueue; but host checks over SSH would then read the lab's files.)
# The instance's main.cf/master.cf/maps/sasl are the lab's copied; changed in main.cf:
# myhostname (fleetK.example.com, in the machine's own /etc/hosts), syslog_name, and the server
# limits (process limit, anvil's per-client limits and their exceptions), so that the server is
# not what the benchmark measures. inet_interfaces stays `all`: in its network namespace that is
# the machine's own addresses (and its loopback). The MySQL maps use MariaDB's Unix socket
# (bind-mounted into the chroot), since 127.0.0.1 in the namespace is not the lab's; saslauthd's
# socket directory is bind-mounted into the instance's chroot as well.
# Network: a bridge `mcfleet` on the host with 198.19.255.254/16; machine K's veth carries
# 198.19.0.(K*PER+1 .. K*PER+PER)/16; its sshd listens on the first, port 22 (root, key only).
# The lab's own Postfix (inet_interfaces = all, in the host's namespace) is not touched.
# Files: /var/lib/mailcheck-fleet (instances, keys, hosts files), /run/mailcheck-fleet (pids).
# Run as root.
set -Eeuo pipefail
umask 022
export LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

MACHINES=${FLEET_MACHINES:-10}
PER=${FLEET_PER:-5}
BRIDGE=mcfleet
BRIDGE_ADDR=198.19.255.254
STATE=/var/lib/mailcheck-fleet
RUN=/run/mailcheck-fleet
LOCK_FILE=/run/mailcheck-fleet.lock
KEY=$STATE/ssh/id_ed25519
KNOWN_HOSTS=$STATE/ssh/known_hosts

say() { printf 'fleet: %s\n' "$*"; }
die() { printf 'fleet: ERROR: %s\n' "$*" >&2; exit 1; }
trap 'printf "fleet: FAILED at line %s: %s\n" "$LINENO" "$BASH_COMMAND" >&2' ERR

[ "$(id -u)" = 0 ] || die "run as root"
[ $((MACHINES * PER)) -le 250 ] || die "at most 250 addresses (198.19.0.1-250)"

ns() { printf 'mcfleet%s' "$1"; }
addr() { printf '198.19.0.%s' $(($1 * PER + $2 + 1)); }   # machine, index in it
alive() { local st=''; [ -n "${1:-}" ] && read -r st 2>/dev/null <"/proc/$1/stat" && [[ ${st##*) } != [ZX]* ]]; }
holder() { local p=''; [ -r "$RUN/$1.pid" ] && read -r p <"$RUN/$1.pid"; alive "$p" && printf '%s' "$p"; return 0; }
# inside K CMD...: run CMD inside machine K (its network and mount namespaces).
inside() { local k=$1 p; shift; p=$(holder "$k"); [ -n "$p" ] || die "machine $k is not running"; nsenter -t "$p" -n -m -- "$@"; }

# --------------------------------------------------------------------------- up
make_instance() {
    local k=$1 d=$STATE/m$1 f
    rm -rf "$d"
    install -d -m 755 "$d" "$d/etc" "$d/spool" "$d/spool/run/mysqld" "$d/spool/var/run/saslauthd"
    install -d -m 700 -o postfix -g postfix "$d/lib"
    # main.cf, master.cf, the maps, sasl/, dynamicmaps: the lab's, as they are.
    cp -a /etc/postfix/. "$d/etc/"
    # The chroot's etc/, lib/, usr/, dev/ (resolv.conf, NSS modules, urandom), as Debian's
    # init script makes them.
    for f in etc lib usr dev; do
        if [ -d "/var/spool/postfix/$f" ]; then cp -a "/var/spool/postfix/$f" "$d/spool/"; fi
    done
    for f in "$d"/etc/mysql_*.cf; do
        sed -i 's|^hosts *=.*|hosts = unix:/run/mysqld/mysqld.sock|' "$f"
    done
    postconf -c "$d/etc" -e \
        "inet_protocols = ipv4" \
        "myhostname = fleet$k.example.com" \
        "syslog_name = postfix-fleet$k" \
        "default_process_limit = 500" \
        "smtpd_client_connection_count_limit = 0" \
        "smtpd_client_connection_rate_limit = 0" \
        "smtpd_client_message_rate_limit = 0" \
        "smtpd_client_recipient_rate_limit = 0" \
        "smtpd_client_new_tls_session_rate_limit = 0" \
        "smtpd_client_auth_rate_limit = 0" \
        "smtpd_client_event_limit_exceptions = \$mynetworks, 198.18.0.0/15"
    { cat /etc/hosts; printf '%s\tfleet%s.example.com fleet%s\n' "$(addr "$k" 0)" "$k" "$k"; } >"$d/hosts"
    chmod 644 "$d/hosts"
    : >"$d/postfix.log"
    chmod 644 "$d/postfix.log"
}

write_sshd_config() {
    local k=$1 d=$STATE/m$1
    cat >"$d/sshd_config" <<EOF
# mailcheck fleet machine $k (bench/fleet.sh)
ListenAddress $(addr "$k" 0):22
HostKey $STATE/ssh/host_key
PidFile $RUN/sshd$k.pid
AuthorizedKeysFile $STATE/ssh/authorized_keys
AllowUsers root
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
X11Forwarding no
AllowTcpForwarding no
PrintMotd no
PrintLastLog no
MaxSessions 50
MaxStartups 100:50:200
LogLevel ERROR
EOF
}

start_machine() {
    local k=$1 n d=$STATE/m$1 i p
    n=$(ns "$k")
    ip netns add "$n"
    ip link add "mcf-$k" type veth peer name eth0 netns "$n"
    ip link set "mcf-$k" master "$BRIDGE" up
    ip -n "$n" link set lo up
    for ((i = 0; i < PER; i++)); do ip -n "$n" addr add "$(addr "$k" "$i")/16" dev eth0; done
    ip -n "$n" link set eth0 up
    # The holder: a private mount namespace inside the network namespace, alive until `down`.
    # Bind mounts: MariaDB's and saslauthd's sockets into the instance's chroot first (from the
    # lab's tree), then the instance over the default paths, and its /etc/hosts. Descriptors closed: a caller's lock
    # must not stay open in it.
    setsid ip netns exec "$n" unshare --mount --propagation private -- sh -c '
        d=$1
        mount --bind /run/mysqld "$d/spool/run/mysqld"
        mount --bind /var/spool/postfix/var/run/saslauthd "$d/spool/var/run/saslauthd"
        mount --bind "$d/etc" /etc/postfix
        mount --rbind "$d/spool" /var/spool/postfix
        mount --bind "$d/lib" /var/lib/postfix
        mount --bind "$d/postfix.log" /var/log/postfix.log
        mount --bind "$d/hosts" /etc/hosts
        echo $$ >"$2"
        exec sleep infinity' fleet-holder "$d" "$RUN/$k.pid" </dev/null >/dev/null 2>"$RUN/$k.err" 9>&- &
    for ((i = 0; i < 50; i++)); do p=$(holder "$k"); [ -n "$p" ] && break; sleep 0.1; done
    [ -n "$p" ] || die "machine $k did not start: $(cat "$RUN/$k.err")"
    inside "$k" postfix start >/dev/null 2>"$RUN/$k.postfix.err" || die "postfix of machine $k did not start: $(cat "$RUN/$k.postfix.err"; tail -5 "$d/postfix.log")"
    write_sshd_config "$k"
    inside "$k" /usr/sbin/sshd -f "$d/sshd_config" -E "$RUN/sshd$k.log" 9>&- || die "sshd of machine $k did not start, see $RUN/sshd$k.log"
}

cmd_up() {
    local k i
    cmd_down >/dev/null
    install -d -m 755 "$STATE" "$RUN"
    install -d -m 700 "$STATE/ssh"
    [ -d /run/sshd ] || { install -d -m 755 /run/sshd; touch "$RUN/made-run-sshd"; }
    ssh-keygen -q -t ed25519 -N '' -C mailcheck-fleet-host -f "$STATE/ssh/host_key"
    ssh-keygen -q -t ed25519 -N '' -C mailcheck-fleet-client -f "$KEY"
    install -m 600 "$KEY.pub" "$STATE/ssh/authorized_keys"
    ip link add "$BRIDGE" type bridge
    ip addr add "$BRIDGE_ADDR/16" dev "$BRIDGE"
    ip link set "$BRIDGE" up
    : >"$KNOWN_HOSTS"
    for ((k = 0; k < MACHINES; k++)); do
        make_instance "$k"
        start_machine "$k"
        printf '%s %s\n' "$(addr "$k" 0)" "$(cut -d' ' -f1,2 "$STATE/ssh/host_key.pub")" >>"$KNOWN_HOSTS"
    done
    # Hosts files: every address; and every address with the host checks over SSH on its machine.
    : >"$STATE/hosts"
    : >"$STATE/hosts-ssh"
    for ((k = 0; k < MACHINES; k++)); do
        for ((i = 0; i < PER; i++)); do
            echo "$(addr "$k" "$i")" >>"$STATE/hosts"
            echo "$(addr "$k" "$i") ssh=root@$(addr "$k" 0)" >>"$STATE/hosts-ssh"
        done
    done
    wait_listening
    say "up: $MACHINES Postfix instances x $PER addresses ($(addr 0 0) .. $(addr $((MACHINES - 1)) $((PER - 1)))); hosts files $STATE/hosts, $STATE/hosts-ssh; ssh key $KEY, known_hosts $KNOWN_HOSTS"
}

# Every address answers on 25 and 587 (master binds them at start; wait a moment anyway).
wait_listening() {
    local k i a t ok
    for ((t = 0; t < 50; t++)); do
        ok=1
        for ((k = 0; k < MACHINES; k++)); do
            for ((i = 0; i < PER; i++)); do
                a=$(addr "$k" "$i")
                timeout 1 bash -c "exec 3<>/dev/tcp/$a/25 && exec 4<>/dev/tcp/$a/587" 2>/dev/null || ok=0
            done
        done
        [ "$ok" = 1 ] && return 0
        sleep 0.2
    done
    die "not every fleet address answers on 25 and 587"
}

# --------------------------------------------------------------------------- down
stop_machine() {
    local k=$1 p m i
    p=$(holder "$k")
    if [ -n "$p" ]; then
        nsenter -t "$p" -n -m -- postfix stop >/dev/null 2>&1 || true
        # The master's pid, from the instance's queue; wait for it to go (postfix stop is async).
        m=$(cat "$STATE/m$k/spool/pid/master.pid" 2>/dev/null | tr -dc 0-9 || true)
        for ((i = 0; i < 50; i++)); do alive "$m" || break; sleep 0.1; done
        alive "$m" && kill -9 "$m" 2>/dev/null || true
    fi
    m=$(cat "$RUN/sshd$k.pid" 2>/dev/null | tr -dc 0-9 || true)
    if alive "$m" && [[ $(tr '\0' ' ' <"/proc/$m/cmdline") == *"$STATE/m$k/sshd_config"* ]]; then
        kill "$m" 2>/dev/null || true
    fi
    [ -n "$p" ] && kill "$p" 2>/dev/null || true
    ip link show "mcf-$k" >/dev/null 2>&1 && ip link del "mcf-$k"
    if [[ " $(ip netns list | cut -d' ' -f1 | tr '\n' ' ') " == *" $(ns "$k") "* ]]; then
        ip netns del "$(ns "$k")"
    fi
    return 0
}

cmd_down() {
    local k n
    # Every machine that may exist, whatever MACHINES says now.
    for n in $(ip netns list | cut -d' ' -f1 | grep -E '^mcfleet[0-9]+$' || true); do
        stop_machine "${n#mcfleet}"
    done
    if [ -d "$RUN" ]; then
        for k in $(find "$RUN" -maxdepth 1 -name '[0-9]*.pid' -printf '%f\n' | sed 's/\.pid$//'); do
            stop_machine "$k"
        done
    fi
    ip link show "$BRIDGE" >/dev/null 2>&1 && ip link del "$BRIDGE"
    if [ -f "$RUN/made-run-sshd" ] && ! pgrep -x sshd >/dev/null; then rmdir /run/sshd 2>/dev/null || true; fi
    rm -rf "$STATE" "$RUN"
    say "down"
}

cmd_status() {
    local k ok=0
    for ((k = 0; k < MACHINES; k++)); do
        if [ -n "$(holder "$k")" ] && inside "$k" postfix status >/dev/null 2>&1; then
            say "machine $k: postfix running on $(addr "$k" 0)..$(addr "$k" $((PER - 1)))"
        else
            say "machine $k: down"; ok=1
        fi
    done
    return "$ok"
}

# The machines' processes: those in the fleet's network namespaces. utime+stime+cutime+cstime
# (fields 14-17 of /proc/PID/stat, counted after the command name's closing parenthesis).
cmd_cpu() {
    local n p i st ticks=0
    local -A nets=()
    for n in $(ip netns list | cut -d' ' -f1 | grep -E '^mcfleet[0-9]+$' || true); do
        nets[$(stat -L -c %i "/run/netns/$n")]=1
    done
    for p in /proc/[0-9]*; do
        i=$(stat -L -c %i "$p/ns/net" 2>/dev/null) || continue
        [ -n "${nets[$i]:-}" ] || continue
        st=$(cat "$p/stat" 2>/dev/null) || continue
        read -r -a f <<<"${st##*) }"
        ticks=$((ticks + f[11] + f[12] + f[13] + f[14]))
    done
    echo $((ticks * 1000 / $(getconf CLK_TCK)))
}

cmd_install() {
    local bin=${1:-} k
    [ -x "$bin" ] || die "install: give the mailcheck binary to put on the machines"
    for ((k = 0; k < MACHINES; k++)); do
        inside "$k" sh -c 'mountpoint -q /usr/local/sbin ||
            mount -t tmpfs -o size=100m,mode=755 mcfleet-bin /usr/local/sbin
            install -m 755 "$1" /usr/local/sbin/mailcheck' fleet-install "$bin"
    done
    say "installed $bin as /usr/local/sbin/mailcheck on $MACHINES machines"
}

cmd_uninstall() {
    local k
    for ((k = 0; k < MACHINES; k++)); do
        inside "$k" sh -c 'if mountpoint -q /usr/local/sbin; then umount /usr/local/sbin; fi'
    done
    say "uninstalled"
}

# Read-only; no lock.
if [ "${1:-}" = cpu ]; then cmd_cpu; exit 0; fi
exec 9>"$LOCK_FILE"
flock -w 120 9 || die "another fleet.sh holds $LOCK_FILE"
case ${1:-} in
    # A failed `up` leaves nothing behind.
    up) trap 'printf "fleet: FAILED at line %s: %s\n" "$LINENO" "$BASH_COMMAND" >&2; cmd_down >&2' ERR; cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    install) cmd_install "${2:-}" ;;
    uninstall) cmd_uninstall ;;
    *) printf 'usage: %s up|down|status|install BIN|uninstall|cpu\n' "$0" >&2; exit 2 ;;
esac
