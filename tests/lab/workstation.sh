#!/usr/bin/env bash
# tests/lab/workstation.sh - the "workstation" test vantage: a network namespace that is another
# machine on the lab's network, plus an sshd on the lab (host) side for it to log in to.
#
#   workstation.sh up          create (or repair) it all; idempotent, quick when it is up
#   workstation.sh down        stop that sshd, remove the namespace, the veth pair, /etc/netns/mcws
#   workstation.sh status      say what is up; exit 0 only when everything is up
#   workstation.sh sshd-stop   stop only the sshd (tests of "sshd stopped"); `up` starts it again
#   workstation.sh purge       down, then remove the test users, their sudoers file and the keys
#
# The namespace `mcws` has 198.18.1.2/24 on a veth pair whose host side is 198.18.1.1/24, so a
# client in it is outside the lab's mynetworks (127.0.0.0/8). `ip netns exec mcws` bind-mounts
# /etc/netns/mcws/hosts over /etc/hosts: there the lab's hostname (from /run/mailcheck-lab.env)
# is 198.18.1.1. The sshd is Debian's, with its own config, host key, pid file and log, and
# listens on 198.18.1.1:22 only. It lets in, with the test key only: root, mcuser (no sudo) and
# mcsudo (passwordless sudo). What tests need is in /run/mailcheck-ws.env (KEY=value lines).
# Run as root. up/down serialise on /run/mailcheck-ws.up.lock.
set -Eeuo pipefail
umask 022
export LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

NS=mcws
VETH_HOST=mcws-host                  # in the host's namespace
VETH_NS=mcws-ws                      # moved into $NS
HOST_ADDR=198.18.1.1
WS_ADDR=198.18.1.2
PREFIX=24
SSH_PORT=22

STATE=/var/lib/mailcheck-ws          # persistent: keys, sshd config (0755; subdirs below)
SSHD_DIR=$STATE/sshd                 # 0700: host keys, sshd_config
CLIENT_DIR=$STATE/client             # 0700: the test key pair, known_hosts files
AUTH_DIR=$STATE/authorized_keys      # 0755: one file per user (sshd reads it as that user)
RUN_DIR=/run/mailcheck-ws            # runtime: pid file, marker for /run/sshd
ENV_FILE=/run/mailcheck-ws.env
NETNS_ETC=/etc/netns/$NS
LOG=/var/log/mailcheck-lab/ws-sshd.log
LOCK_FILE=/run/mailcheck-ws.up.lock
LAB_ENV=/run/mailcheck-lab.env
SUDOERS=/etc/sudoers.d/mailcheck-ws

USER_PLAIN=mcuser                    # unprivileged, no sudo
USER_SUDO=mcsudo                     # passwordless sudo -n
USERS=(root "$USER_PLAIN" "$USER_SUDO")

SSHD_CONFIG=$SSHD_DIR/sshd_config
HOST_KEY=$SSHD_DIR/ssh_host_ed25519_key
OTHER_HOST_KEY=$SSHD_DIR/other_host_ed25519_key   # only for known_hosts.wrong
PID_FILE=$RUN_DIR/sshd.pid
CLIENT_KEY=$CLIENT_DIR/id_ed25519
KNOWN_HOSTS=$CLIENT_DIR/known_hosts
WRONG_KNOWN_HOSTS=$CLIENT_DIR/known_hosts.wrong

say() { printf 'ws: %s\n' "$*"; }
die() { printf 'ws: ERROR: %s\n' "$*" >&2; exit 1; }
trap 'printf "ws: FAILED at line %s: %s\n" "$LINENO" "$BASH_COMMAND" >&2' ERR

[ "$(id -u)" = 0 ] || die "run as root"

# No `cmd | grep -q` here: with pipefail, grep quitting early can fail the pipeline (SIGPIPE).
has_ns() { local l; l=$(ip netns list); [[ $'\n'$l$'\n' == *$'\n'"$NS"[$' \n']* ]]; }
has_addr() { local a; a=$(ip "$@"); [[ $a == *"inet $ADDR_WANTED "* ]]; }

# alive PID: the process exists and is not a zombie
alive() { local st=''; [ -n "${1:-}" ] && read -r st 2>/dev/null <"/proc/$1/stat" && [[ ${st##*) } != [ZX]* ]]; }

# The pid of *our* sshd listener, or nothing: the pid file must name a live sshd started with our
# config (a stale pid file may name a reused pid).
sshd_pid() {
    local pid='' cmd=''
    [ -r "$PID_FILE" ] && read -r pid <"$PID_FILE" 2>/dev/null
    pid=${pid//[^0-9]/}
    alive "$pid" || return 0
    cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
    [[ $cmd == *"-f $SSHD_CONFIG"* ]] && printf '%s' "$pid"
    return 0
}

lab_hostname() {
    local h=''
    [ -r "$LAB_ENV" ] || die "$LAB_ENV is missing: run tests/lab/up.sh first"
    h=$(sed -n 's/^LAB_HOSTNAME=//p' "$LAB_ENV" | tail -n1)
    [[ $h =~ ^[a-z0-9.-]+$ ]] || die "no usable LAB_HOSTNAME in $LAB_ENV"
    printf '%s' "$h"
}

# --------------------------------------------------------------------------- pieces of `up`
ensure_packages() {
    local missing=()
    [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
    command -v ssh >/dev/null || missing+=(openssh-client)
    command -v sudo >/dev/null || missing+=(sudo)
    command -v ip >/dev/null || missing+=(iproute2)
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing ${missing[*]} (policy-rc.d keeps Debian from starting a system sshd)"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y "${missing[@]}" \
        >/tmp/mailcheck-ws-apt.log 2>&1 || die "apt-get install failed, see /tmp/mailcheck-ws-apt.log"
}

ensure_keys() {
    install -d -m 755 "$STATE" "$AUTH_DIR"
    install -d -m 700 "$SSHD_DIR" "$CLIENT_DIR" "$RUN_DIR"
    [ -s "$HOST_KEY" ] || ssh-keygen -q -t ed25519 -N '' -C mailcheck-ws-host -f "$HOST_KEY"
    [ -s "$OTHER_HOST_KEY" ] || ssh-keygen -q -t ed25519 -N '' -C mailcheck-ws-other -f "$OTHER_HOST_KEY"
    [ -s "$CLIENT_KEY" ] || ssh-keygen -q -t ed25519 -N '' -C mailcheck-ws-client -f "$CLIENT_KEY"
    chmod 600 "$HOST_KEY" "$OTHER_HOST_KEY" "$CLIENT_KEY"
}

# known_hosts names the lab by its hostname and by address; the "wrong" one has another key.
write_known_hosts() {
    local host=$1 k
    k=$(cut -d' ' -f1,2 "$HOST_KEY.pub")
    printf '%s,%s %s\n' "$host" "$HOST_ADDR" "$k" >"$KNOWN_HOSTS.new"
    k=$(cut -d' ' -f1,2 "$OTHER_HOST_KEY.pub")
    printf '%s,%s %s\n' "$host" "$HOST_ADDR" "$k" >"$WRONG_KNOWN_HOSTS.new"
    chmod 644 "$KNOWN_HOSTS.new" "$WRONG_KNOWN_HOSTS.new"
    mv -f "$KNOWN_HOSTS.new" "$KNOWN_HOSTS"
    mv -f "$WRONG_KNOWN_HOSTS.new" "$WRONG_KNOWN_HOSTS"
}

ensure_users() {
    local u
    for u in "$USER_PLAIN" "$USER_SUDO"; do
        if ! id "$u" >/dev/null 2>&1; then
            say "adding user $u"
            useradd --create-home --shell /bin/bash --comment "mailcheck workstation test user" "$u"
        fi
        # No password, but not locked: sshd (UsePAM no) refuses every login, keys too, to an
        # account whose password field starts with '!'.
        [ "$(getent shadow "$u" | cut -d: -f2)" = '*' ] || usermod -p '*' "$u"
        if [[ " $(id -nG "$u") " == *" sudo "* ]]; then gpasswd -d "$u" sudo >/dev/null; fi
    done
    printf '%s ALL=(ALL:ALL) NOPASSWD: ALL\n' "$USER_SUDO" >"$SUDOERS.new"
    chmod 440 "$SUDOERS.new"
    visudo -cqf "$SUDOERS.new" || die "visudo rejects $SUDOERS.new"
    mv -f "$SUDOERS.new" "$SUDOERS"
    for u in "${USERS[@]}"; do
        install -m 644 "$CLIENT_KEY.pub" "$AUTH_DIR/$u"
    done
}

write_sshd_config() {
    cat >"$SSHD_CONFIG.new" <<EOF
# mailcheck workstation sshd (tests/lab/workstation.sh); not Debian's /etc/ssh/sshd_config.
ListenAddress $HOST_ADDR:$SSH_PORT
HostKey $HOST_KEY
PidFile $PID_FILE
AuthorizedKeysFile $AUTH_DIR/%u
AllowUsers ${USERS[*]}
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes yes
PermitUserEnvironment no
X11Forwarding no
AllowAgentForwarding no
# Only for ProxyJump tests: a jump through this sshd to itself, nothing else.
AllowTcpForwarding local
PermitOpen $HOST_ADDR:$SSH_PORT
PrintMotd no
PrintLastLog no
# A session whose client vanished (the veth deleted under it) ends within 30 s instead of hanging.
ClientAliveInterval 10
ClientAliveCountMax 3
MaxSessions 20
MaxStartups 20:50:60
LogLevel VERBOSE
EOF
    if ! cmp -s "$SSHD_CONFIG.new" "$SSHD_CONFIG" 2>/dev/null; then
        mv -f "$SSHD_CONFIG.new" "$SSHD_CONFIG"
        return 0
    fi
    rm -f "$SSHD_CONFIG.new"
    return 0
}

ensure_netns() {
    local host=$1
    has_ns || { say "adding namespace $NS"; ip netns add "$NS"; }
    if ! ip link show "$VETH_HOST" >/dev/null 2>&1; then
        say "adding veth $VETH_HOST <-> $NS:$VETH_NS"
        ip link add "$VETH_HOST" type veth peer name "$VETH_NS" netns "$NS"
    fi
    ip -n "$NS" link show "$VETH_NS" >/dev/null 2>&1 ||
        die "$VETH_HOST exists but its peer is not in $NS: run '$0 down' and try again"
    ADDR_WANTED=$HOST_ADDR/$PREFIX has_addr addr show dev "$VETH_HOST" ||
        ip addr add "$HOST_ADDR/$PREFIX" dev "$VETH_HOST"
    ip link set "$VETH_HOST" up
    ADDR_WANTED=$WS_ADDR/$PREFIX has_addr -n "$NS" addr show dev "$VETH_NS" ||
        ip -n "$NS" addr add "$WS_ADDR/$PREFIX" dev "$VETH_NS"
    ip -n "$NS" link set lo up
    ip -n "$NS" link set "$VETH_NS" up

    install -d -m 755 "$NETNS_ETC"
    printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n%s\t%s %s\n' \
        "$HOST_ADDR" "$host" "${host%%.*}" >"$NETNS_ETC/hosts"
    # No DNS in there: unknown names fail at once instead of timing out.
    printf 'options timeout:1 attempts:1\n' >"$NETNS_ETC/resolv.conf"
    chmod 644 "$NETNS_ETC/hosts" "$NETNS_ETC/resolv.conf"
}

start_sshd() {
    local pid i
    pid=$(sshd_pid)
    if [ -n "$pid" ]; then
        # Pick up a rewritten config (SIGHUP makes sshd re-exec itself with it).
        [ "$SSHD_CONFIG" -nt "$PID_FILE" ] && { kill -HUP "$pid"; sleep 0.2; touch "$PID_FILE"; }
        return 0
    fi
    # sshd's privilege separation directory; normally the init system makes it.
    if [ ! -d /run/sshd ]; then
        install -d -m 755 /run/sshd
        touch "$RUN_DIR/made-run-sshd"
    fi
    /usr/sbin/sshd -t -f "$SSHD_CONFIG" || die "sshd -t rejects $SSHD_CONFIG"
    mkdir -p "${LOG%/*}"
    say "starting sshd on $HOST_ADDR:$SSH_PORT"
    # Our descriptors (a caller's lock, say) must not stay open in the daemon.
    /usr/sbin/sshd -f "$SSHD_CONFIG" -E "$LOG" 9>&- || die "sshd did not start, see $LOG"
    for ((i = 0; i < 50; i++)); do
        [ -n "$(sshd_pid)" ] && return 0
        sleep 0.1
    done
    die "sshd did not write $PID_FILE within 5 s, see $LOG"
}

# The per-connection sshd processes on our address: children of the listener, or orphans of an
# earlier one (ss names the process of each established connection).
session_pids() {
    local out pid
    out=$(ss -Htnp state established src "$HOST_ADDR:$SSH_PORT" 2>/dev/null || true)
    while [[ $out =~ pid=([0-9]+) ]]; do
        pid=${BASH_REMATCH[1]}
        printf '%s\n' "$pid"
        out=${out/pid=$pid/}
    done
}

# stop_pids PID...: SIGTERM, wait up to 5 s each, then SIGKILL.
stop_pids() {
    local p i
    [ $# -gt 0 ] || return 0
    kill "$@" 2>/dev/null || true
    for p in "$@"; do
        for ((i = 0; i < 50; i++)); do alive "$p" || break; sleep 0.1; done
        alive "$p" && { kill -9 "$p" 2>/dev/null || true; say "sshd ($p) killed with SIGKILL"; }
    done
    return 0
}

# The sessions first, so that the listener, their parent, reaps them (pid 1 here reaps late).
stop_sshd() {
    local pid p
    local sessions=()
    pid=$(sshd_pid)
    for p in $(session_pids); do
        [ "$p" != "$pid" ] && sessions+=("$p")
    done
    [ -n "$pid" ] && say "stopping sshd ($pid${sessions[*]:+, sessions ${sessions[*]}})"
    stop_pids "${sessions[@]}"
    [ -n "$pid" ] && stop_pids "$pid"
    rm -f "$PID_FILE"
}

write_env() {
    local host=$1
    {
        echo "WS_NS=$NS"
        echo "WS_HOST_ADDR=$HOST_ADDR"
        echo "WS_ADDR=$WS_ADDR"
        echo "WS_SSH_PORT=$SSH_PORT"
        echo "WS_LAB_HOST=$host"
        echo "WS_KEY=$CLIENT_KEY"
        echo "WS_KNOWN_HOSTS=$KNOWN_HOSTS"
        echo "WS_WRONG_KNOWN_HOSTS=$WRONG_KNOWN_HOSTS"
        echo "WS_USER_ROOT=root"
        echo "WS_USER_PLAIN=$USER_PLAIN"
        echo "WS_USER_SUDO=$USER_SUDO"
        echo "WS_SSHD_LOG=$LOG"
    } >"$ENV_FILE.new"
    chmod 644 "$ENV_FILE.new"
    mv -f "$ENV_FILE.new" "$ENV_FILE"
}

# --------------------------------------------------------------------------- commands
cmd_up() {
    local host
    host=$(lab_hostname)
    ensure_packages
    ensure_keys
    ensure_users
    write_sshd_config
    ensure_netns "$host"
    write_known_hosts "$host"
    start_sshd
    write_env "$host"
    say "up: ssh -i $CLIENT_KEY -o UserKnownHostsFile=$KNOWN_HOSTS root@$host (from 'ip netns exec $NS')"
}

cmd_down() {
    stop_sshd
    if [ -f "$RUN_DIR/made-run-sshd" ]; then
        # Only if no other sshd on this machine needs it.
        local p other=''
        for p in $(pgrep -x sshd || true); do alive "$p" && other=$p; done
        [ -z "$other" ] && { rmdir /run/sshd 2>/dev/null || true; }
        rm -f "$RUN_DIR/made-run-sshd"
    fi
    if ip link show "$VETH_HOST" >/dev/null 2>&1; then ip link del "$VETH_HOST"; fi
    if has_ns; then ip netns del "$NS"; fi
    rm -rf "$NETNS_ETC"
    rmdir /etc/netns 2>/dev/null || true
    rm -f "$ENV_FILE"
    rm -rf "$RUN_DIR"
    say "down"
}

cmd_purge() {
    local u
    cmd_down
    for u in "$USER_PLAIN" "$USER_SUDO"; do
        if id "$u" >/dev/null 2>&1; then
            userdel --remove "$u" 2>/dev/null || userdel "$u"
            say "removed user $u"
        fi
    done
    rm -f "$SUDOERS"
    rm -rf "$STATE"
    say "purged"
}

cmd_status() {
    local ok=0 pid
    if has_ns; then say "namespace $NS: present"; else say "namespace $NS: absent"; ok=1; fi
    if ip link show "$VETH_HOST" >/dev/null 2>&1; then say "veth $VETH_HOST: present"; else say "veth $VETH_HOST: absent"; ok=1; fi
    if [ -f "$NETNS_ETC/hosts" ]; then say "hosts: $(grep "^$HOST_ADDR" "$NETNS_ETC/hosts" | tr '\t' ' ')"; else say "hosts: absent"; ok=1; fi
    pid=$(sshd_pid)
    if [ -n "$pid" ]; then say "sshd: running ($pid) on $HOST_ADDR:$SSH_PORT"; else say "sshd: stopped"; ok=1; fi
    return "$ok"
}

exec 9>"$LOCK_FILE"
flock -w 120 9 || die "another workstation.sh holds $LOCK_FILE"

case ${1:-} in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status || exit 1 ;;
    sshd-stop) stop_sshd ;;
    purge) cmd_purge ;;
    *) printf 'usage: %s up|down|status|sshd-stop|purge\n' "$0" >&2; exit 2 ;;
esac
