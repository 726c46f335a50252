#!/usr/bin/env bash
# tests/lab/machine.sh - "lab machines": Debian roots built with mmdebstrap from deb.debian.org,
# each running in its own PID, mount, network, UTS and IPC namespaces, so that a lab server
# (tests/lab/up.sh) can run on Debian 12 or 13 beside the host's own lab without touching it.
#
#   machine.sh create NAME SUITE      root from the cached image of SUITE (bookworm|trixie); builds
#                                     the image with mmdebstrap when it is not cached
#   machine.sh start NAME             PID 1 (a reaper loop) in new namespaces + veth to the host
#   machine.sh exec [--host-net] NAME -- CMD...
#                                     run CMD inside (all namespaces, chroot). --host-net keeps the
#                                     host's network (downloads: the machine has no route out)
#   machine.sh lab NAME up|start|down copy this checkout's tests/lab/{up,start,down}.sh to
#                                     /opt/mailcheck-lab/ in the machine and run that one there
#   machine.sh up NAME                = machine.sh lab NAME up
#   machine.sh stop NAME              stop the lab's daemons, then everything, then PID 1
#   machine.sh destroy NAME           stop, then delete the root
#   machine.sh status [NAME]          name, release now (an upgraded machine says trixie), state,
#                                     PID, address
#   machine.sh root NAME              the machine's / as the host sees it (/proc/PID/root)
#   machine.sh dir NAME               its directory (root/ in it is the root without the machine's
#                                     mounts: /run, /tmp, /proc are only seen through `root`)
#   machine.sh addr NAME              "HOST MACHINE": the two ends of its veth (e.g. 198.18.13.1 198.18.13.2)
#   machine.sh image [--rebuild] SUITE  build the cached image of SUITE unless it is there and fresh
#
# exec passes the caller's LAB_* and MAILCHECK_* variables (and TERM); everything else is reset.
# Without a terminal, exec forwards SIGINT, SIGTERM, SIGHUP and SIGQUIT to CMD, so that killing
# machine.sh's process signals CMD (nsenter alone would not). The machine's /tmp is the host's.
# Nothing is mounted in the host's mount namespace: the machine's /proc, /sys, /dev, /run are
# mounted inside its own mount namespace and go away with its PID 1.
#
# Where things are (overridable for tests of this script):
#   MACHINES_DIR=/var/lib/mailcheck-machines   NAME/{root,suite,net,init.pid}
#   MACHINES_CACHE=/var/cache/mailcheck-lab    SUITE-KEY.tar (KEY: hash of what goes into it),
#                                              rebuilt when older than MACHINES_IMAGE_DAYS=7 days
# Addresses: 198.18.12.0/24 and 198.18.13.0/24, one /30 per machine (host .1, machine .2 of it);
# trixie machines are placed in 198.18.13.0/24 first, the others in 198.18.12.0/24.
# Run as root.
set -Eeuo pipefail
umask 022
export LC_ALL=C
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

MACHINES_DIR=${MACHINES_DIR:-/var/lib/mailcheck-machines}
MACHINES_CACHE=${MACHINES_CACHE:-/var/cache/mailcheck-lab}
MIRROR=${MACHINES_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${MACHINES_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# The lab's packages (tests/lab/up.sh PKGS) and what up.sh and the lab tests run besides them.
LAB_PKGS=(postfix postfix-mysql mariadb-server sasl2-bin libpam-mysql libsasl2-modules
          libsasl2-modules-sql openssl ssl-cert swaks)
TOOL_PKGS=(procps iproute2 netbase psmisc hostname ca-certificates less python3)
# The installer's answers, as up.sh preseeds them (mailname: the tutorial's host).
DEBCONF='postfix postfix/main_mailer_type select Internet Site
postfix postfix/mailname string atlantis.example.com'

say() { printf 'machine: %s\n' "$*"; }
die() { printf 'machine: ERROR: %s\n' "$*" >&2; exit 1; }
trap 'printf "machine: FAILED at line %s: %s\n" "$LINENO" "$BASH_COMMAND" >&2' ERR

usage() { sed -n '3,/^# Run as root/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

check_name() {
    # The host end of the veth is "mc-NAME" and interface names are at most 15 bytes.
    [[ ${1:-} =~ ^[a-z][a-z0-9-]{0,11}$ ]] || die "machine name '${1:-}': use 1-12 of a-z 0-9 - (starting with a letter)"
}
check_suite() {
    case ${1:-} in bookworm|trixie) ;; *) die "suite '${1:-}': bookworm or trixie";; esac
}

# --------------------------------------------------------------------------- machine state
mdir() { printf '%s/%s' "$MACHINES_DIR" "$1"; }
mroot() { printf '%s/%s/root' "$MACHINES_DIR" "$1"; }
exists() { [ -f "$(mdir "$1")/suite" ]; }
need_exists() { exists "$1" || die "no machine '$1' (machine.sh create $1 SUITE)"; }

# init_pid NAME: the host PID of the machine's PID 1, if it is running. The pid file could be
# stale after a host reboot or a kill: the process must also be chrooted into this machine's root.
init_pid() {
    local f pid
    f="$(mdir "$1")/init.pid"
    [ -f "$f" ] || return 1
    read -r pid <"$f" || return 1
    [[ $pid =~ ^[0-9]+$ ]] && [ "$(readlink "/proc/$pid/root" 2>/dev/null)" = "$(mroot "$1")" ] || return 1
    printf '%s' "$pid"
}
need_running() { init_pid "$1" >/dev/null || die "machine '$1' is not running (machine.sh start $1)"; }

# lock NAME: one create/start/stop/destroy of a machine at a time (fd 8; exec does not lock)
lock() {
    mkdir -p "$MACHINES_DIR"
    exec 8>"$MACHINES_DIR/.$1.lock"
    flock -w 600 8 || die "another machine.sh holds $MACHINES_DIR/.$1.lock"
}

# Network slot N (0-127): 198.18.12.0/24 holds slots 0-63, 198.18.13.0/24 slots 64-127.
slot_net() { printf '198.18.%d.%d' $((12 + $1 / 64)) $(($1 % 64 * 4)); }
slot_host() { local n; n=$(slot_net "$1"); printf '%s.%d' "${n%.*}" $((${n##*.} + 1)); }
slot_machine() { local n; n=$(slot_net "$1"); printf '%s.%d' "${n%.*}" $((${n##*.} + 2)); }
alloc_slot() {
    local suite=$1 used=' ' f s first i addrs
    for f in "$MACHINES_DIR"/*/net; do [ -f "$f" ] && used+="$(<"$f") "; done
    addrs=" $(ip -4 -o addr show | awk '{print $4}' | tr '\n' ' ') "
    if [ "$suite" = trixie ]; then first=64; else first=0; fi
    for ((i = 0; i < 128; i++)); do
        s=$(((first + i) % 128))
        [[ $used == *" $s "* ]] && continue
        [[ $addrs == *" $(slot_host "$s")/"* || $addrs == *" $(slot_machine "$s")/"* ]] && continue
        printf '%s' "$s"; return 0
    done
    die "no free /30 left in 198.18.12.0/23"
}

# --------------------------------------------------------------------------- images
suite_mirrors() {
    # Like a Debian install (and this host): the release, its updates and its security updates.
    printf '%s\n' "deb $MIRROR $1 main" "deb $MIRROR $1-updates main" "deb $SECURITY_MIRROR $1-security main"
}
image_key() {
    { echo "v2 $1"; suite_mirrors "$1"; echo "${LAB_PKGS[*]} ${TOOL_PKGS[*]}"; echo "$DEBCONF"; } | sha256sum | cut -c1-12
}
image_path() { printf '%s/%s-%s.tar' "$MACHINES_CACHE" "$1" "$(image_key "$1")"; }
# image_fresh SUITE: cached, and recent enough that its packages are the release's current ones
image_fresh() {
    local img
    img=$(image_path "$1")
    [ -f "$img" ] && [ -z "$(find "$img" -mtime +"${MACHINES_IMAGE_DAYS:-7}")" ]
}

# build_image SUITE: mmdebstrap, in the host's network (it downloads) but in its own PID and mount
# namespaces, so that no maintainer script sees (pgrep, start-stop-daemon, killall) the host's
# daemons, and whatever it mounts goes away with it. mmdebstrap already keeps daemons from
# starting (policy-rc.d, a dummy start-stop-daemon) while it installs.
build_image() {
    local suite=$1 out tmp t0 incl seed
    out=$(image_path "$suite")
    command -v mmdebstrap >/dev/null || {
        say "installing mmdebstrap on the host"
        apt-get install -y -q -o DPkg::Lock::Timeout=600 mmdebstrap >/dev/null \
            || { apt-get update -q >/dev/null && apt-get install -y -q -o DPkg::Lock::Timeout=600 mmdebstrap >/dev/null; } \
            || die "could not install mmdebstrap"
    }
    mkdir -p "$MACHINES_CACHE"
    tmp="$out.new.$$"
    incl=$(IFS=,; echo "${LAB_PKGS[*]},${TOOL_PKGS[*]}")
    t0=$EPOCHSECONDS
    say "building the $suite image with mmdebstrap (log: $MACHINES_CACHE/$suite.log)"
    mapfile -t mirrors < <(suite_mirrors "$suite")
    seed="$MACHINES_CACHE/$suite.debconf.$$"
    printf '%s\n' "$DEBCONF" >"$seed"
    # The essential hook runs before the --include packages are installed: postfix's postinst
    # then finds the installer's answers, as on a machine where up.sh installed postfix.
    # Recommends are installed, as apt-get (and so up.sh) does on a Debian system: swaks needs
    # its recommended Net::SSLeay for STARTTLS. unsafe-io only spares dpkg's fsyncs. The options
    # mmdebstrap leaves in /etc/{apt,dpkg} go at the end: the image is a stock system.
    if ! unshare --pid --fork --mount-proc --mount --uts --ipc -- \
        mmdebstrap --mode=root --variant=apt --format=tar --include="$incl" \
            --aptopt='Acquire::Retries "3"' --aptopt='APT::Install-Recommends "true"' \
            --dpkgopt=force-unsafe-io \
            --essential-hook="chroot \"\$1\" debconf-set-selections <'$seed'" \
            --customize-hook='rm -f "$1/etc/apt/apt.conf.d/99mmdebstrap" "$1/etc/dpkg/dpkg.cfg.d/99mmdebstrap"' \
            "$suite" "$tmp" "${mirrors[@]}" >"$MACHINES_CACHE/$suite.log" 2>&1; then
        rm -f "$tmp" "$seed"; tail -20 "$MACHINES_CACHE/$suite.log" >&2
        die "mmdebstrap $suite failed (see $MACHINES_CACHE/$suite.log)"
    fi
    rm -f "$seed"
    mv -f "$tmp" "$out"
    # Older images of this suite (other package lists) are not needed any more.
    for f in "$MACHINES_CACHE/$suite"-*.tar; do [ "$f" = "$out" ] || rm -f -- "$f"; done
    say "image $out: $(du -h "$out" | cut -f1), $((EPOCHSECONDS - t0)) s"
}

cmd_image() {
    local rebuild=''
    [ "${1:-}" = --rebuild ] && { rebuild=1; shift; }
    check_suite "${1:-}"
    if [ -z "$rebuild" ] && image_fresh "$1"; then say "image $(image_path "$1") is cached"; return 0; fi
    build_image "$1"
}

# --------------------------------------------------------------------------- create / destroy
cmd_create() {
    local name=${1:-} suite=${2:-} dir root img t0 slot
    check_name "$name"; check_suite "$suite"
    lock "$name"
    dir=$(mdir "$name"); root=$(mroot "$name")
    exists "$name" && die "machine '$name' exists (machine.sh destroy $name first)"
    t0=$EPOCHREALTIME
    img=$(image_path "$suite")
    if image_fresh "$suite"; then say "using the cached image $img"; else build_image "$suite"; fi
    rm -rf --one-file-system -- "$dir"
    mkdir -p "$root"
    tar -C "$root" --numeric-owner --xattrs --xattrs-include='*' -xpf "$img"
    # Names: the machine's own name, and localhost. up.sh adds the lab host (127.0.1.1).
    printf '%s\n' "$name" >"$root/etc/hostname"
    printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n\n::1\tlocalhost ip6-localhost ip6-loopback\n' "$name" >"$root/etc/hosts"
    # The host's resolver, for downloads with exec --host-net. Inside the machine's own network
    # there is no route to it, so a lookup fails at once instead of timing out.
    cp -L /etc/resolv.conf "$root/etc/resolv.conf"
    # One allocation at a time across machines (fd 7; fd 8 holds this machine's lock).
    exec 7>"$MACHINES_DIR/.net.lock"; flock -w 60 7 || die "another machine.sh holds $MACHINES_DIR/.net.lock"
    slot=$(alloc_slot "$suite")
    printf '%s\n' "$slot" >"$dir/net"
    exec 7>&-
    printf '%s\n' "$suite" >"$dir/suite"
    say "created $name ($suite) in $root: $(du -sh --one-file-system "$root" | cut -f1), $(elapsed "$t0") s; address $(slot_machine "$slot")"
}

cmd_destroy() {
    local name=${1:-} dir
    check_name "$name"
    exists "$name" || [ -d "$(mdir "$name")" ] || { say "no machine $name"; return 0; }
    init_pid "$name" >/dev/null && cmd_stop "$name"
    lock "$name"
    dir=$(mdir "$name")
    # Never delete through a mount point (nothing of ours is mounted in the host's namespace;
    # this guards against someone else's bind mount).
    if findmnt -rn -o TARGET | grep -q -F -- "$dir/"; then
        die "something is mounted under $dir: $(findmnt -rn -o TARGET | grep -F -- "$dir/" | head -3 | tr '\n' ' ')"
    fi
    rm -rf --one-file-system -- "$dir"
    rm -f -- "$MACHINES_DIR/.$name.lock"
    say "destroyed $name"
}

# --------------------------------------------------------------------------- start / stop
# Runs as PID 1 of the new namespaces, before the chroot: mounts the machine's /proc, /sys, /dev,
# /run (tmpfs, like a booted Debian: /var/run and /var/lock point into it), then becomes the
# reaper loop inside the root. Bash reaps every child it is given, orphans included.
stage1() {
    local name=$1 root
    root=$(mroot "$name")
    hostname "$name"
    mount -t proc -o nosuid,nodev,noexec proc "$root/proc"
    mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$root/sys"
    mount -t tmpfs -o nosuid,mode=755,size=16m tmpfs "$root/dev"
    mknod -m 666 "$root/dev/null" c 1 3;    mknod -m 666 "$root/dev/zero" c 1 5
    mknod -m 666 "$root/dev/full" c 1 7;    mknod -m 666 "$root/dev/random" c 1 8
    mknod -m 666 "$root/dev/urandom" c 1 9; mknod -m 666 "$root/dev/tty" c 5 0
    mkdir -m 755 "$root/dev/pts"; mkdir -m 1777 "$root/dev/shm"
    mount -t devpts -o newinstance,ptmxmode=0666,mode=620,gid=5 devpts "$root/dev/pts"
    mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs "$root/dev/shm"
    ln -s pts/ptmx "$root/dev/ptmx"; ln -s /proc/self/fd "$root/dev/fd"
    ln -s /proc/self/fd/0 "$root/dev/stdin"; ln -s /proc/self/fd/1 "$root/dev/stdout"; ln -s /proc/self/fd/2 "$root/dev/stderr"
    mount -t tmpfs -o nosuid,nodev,mode=755,size=256m tmpfs "$root/run"
    mkdir -m 1777 "$root/run/lock"
    # The host's /tmp: a file a test writes to its temp dir (a config, a report directory) is at
    # the same path for the mailcheck it runs inside.
    mount --bind /tmp "$root/tmp"
    # Loopback first: daemons started later bind to it.
    ip link set lo up
    cd "$root"
    exec chroot "$root" /bin/bash -c 'trap "exit 0" TERM; : >/run/mailcheck-machine.ready
        while :; do sleep 3600 & wait $!; done' </dev/null >/dev/null 2>&1
}

cmd_start() {
    local name=${1:-} dir root pid upid slot veth i t0 fd fd_path
    check_name "$name"; need_exists "$name"
    lock "$name"
    if pid=$(init_pid "$name"); then say "$name is running (PID $pid)"; return 0; fi
    t0=$EPOCHREALTIME
    dir=$(mdir "$name"); root=$(mroot "$name"); slot=$(<"$dir/net"); veth="mc-$name"
    ip link del "$veth" 2>/dev/null || true     # left over from a machine that was killed
    # PID 1 lives as long as the machine: it must not keep a descriptor of our caller's (say, the
    # fd of `flock /run/mailcheck-lab.lock machine.sh start ...`), or it would hold that lock.
    for fd_path in /proc/$$/fd/*; do
        fd=${fd_path##*/}
        if [ "$fd" -gt 2 ] && [ "$fd" -lt 255 ] && [ "$fd" != 8 ]; then eval "exec $fd>&-" 2>/dev/null || true; fi
    done
    setsid unshare --pid --fork --kill-child --mount --uts --ipc --net --propagation private -- \
        bash "${BASH_SOURCE[0]}" __stage1 "$name" </dev/null >"$dir/init.log" 2>&1 8>&- &
    upid=$!
    # PID 1 of the machine is unshare's child; it is ready when it is chrooted and has written
    # the ready file into the machine's /run.
    for ((i = 0; i < 100; i++)); do
        pid=$(pgrep -P "$upid" | head -1 || true)
        if [ -n "$pid" ] && [ "$(readlink "/proc/$pid/root" 2>/dev/null)" = "$root" ] \
            && [ -e "/proc/$pid/root/run/mailcheck-machine.ready" ]; then break; fi
        kill -0 "$upid" 2>/dev/null || { cat "$dir/init.log" >&2; die "the init of $name exited"; }
        pid=''; sleep 0.05
    done
    [ -n "$pid" ] || { kill "$upid" 2>/dev/null || true; cat "$dir/init.log" >&2; die "the init of $name did not come up"; }
    printf '%s\n' "$pid" >"$dir/init.pid"
    ip link add "$veth" type veth peer name eth0 netns "$pid"
    ip addr add "$(slot_host "$slot")/30" dev "$veth"
    ip link set "$veth" up
    nsenter --target "$pid" --net -- ip addr add "$(slot_machine "$slot")/30" dev eth0
    nsenter --target "$pid" --net -- ip link set eth0 up
    say "started $name (PID $pid, $(slot_machine "$slot") via $veth, $(elapsed "$t0") s)"
}

# stop NAME: the lab's own down.sh when it is there (Postfix stops cleanly, MariaDB flushes), then
# SIGTERM to everything but PID 1, then PID 1; the kernel kills what is left with it.
cmd_stop() {
    local name=${1:-} pid i n
    check_name "$name"; need_exists "$name"
    lock "$name"
    if ! pid=$(init_pid "$name"); then say "$name is not running"; rm -f "$(mdir "$name")/init.pid"; return 0; fi
    if [ -f "/proc/$pid/root/opt/mailcheck-lab/down.sh" ]; then
        (in_machine "$pid" net -- bash /opt/mailcheck-lab/down.sh) >/dev/null 2>&1 || true
    fi
    (in_machine "$pid" net -- kill -TERM -1) 2>/dev/null || true
    for ((i = 0; i < 200; i++)); do
        n=$(find "/proc/$pid/root/proc" -maxdepth 1 -regex '.*/[0-9]+' 2>/dev/null | wc -l)
        [ "$n" -le 2 ] && break     # PID 1 and its sleep
        sleep 0.1
    done
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do [ -e "/proc/$pid" ] || break; sleep 0.1; done
    [ -e "/proc/$pid" ] && kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do [ -e "/proc/$pid" ] || break; sleep 0.1; done
    rm -f "$(mdir "$name")/init.pid"
    ip link del "mc-$name" 2>/dev/null || true     # normally gone with the network namespace
    say "stopped $name"
}

# --------------------------------------------------------------------------- exec
# in_machine PID net|host-net -- CMD...: run CMD in the machine's namespaces and root with a
# clean environment (PATH, HOME, LANG, TERM and the caller's LAB_* and MAILCHECK_* variables).
# The environment is cleaned in this shell, not with `env -i VAR=value`, so that no value (a
# password) shows up in a command line in /proc.
in_machine() {
    local pid=$1 net=$2 v keep ns=(--mount --uts --ipc --pid)
    shift 3
    [ "$net" = net ] && ns+=(--net)
    for v in $(compgen -e); do
        case $v in
            LAB_*|MAILCHECK_*|TERM|UCF_FORCE_CONFFOLD|UCF_FORCE_CONFFNEW) keep=1;;
            *) keep='';;
        esac
        [ -n "$keep" ] || unset "$v" 2>/dev/null || true
    done
    export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
           DEBIAN_FRONTEND=noninteractive
    [ -t 0 ] && exec nsenter --target "$pid" "${ns[@]}" --root --wd -- "$@"
    # nsenter forks (a PID namespace applies to children only) and does not pass signals on: run
    # it in the background and forward them to its child. A background job of a script starts with
    # SIGINT/SIGQUIT ignored; env --default-signal gives nsenter and CMD the defaults back. The
    # traps come first: a signal that arrives before nsenter has started is passed on once it has.
    local sig rc=0 r
    child='' pending='' got=''
    for sig in INT TERM HUP QUIT; do trap "got=1; forward $sig" "$sig"; done
    trap - ERR
    env --default-signal=INT,QUIT nsenter --target "$pid" "${ns[@]}" --root --wd -- "$@" <&0 &
    child=$!
    [ -z "$pending" ] || forward "$pending"
    # A trapped signal interrupts wait (status 128+n); then wait again for the command's status.
    while :; do
        got=''
        wait "$child" && r=0 || r=$?
        [ -n "$got" ] || { rc=$r; break; }
        [ "$r" = 127 ] && break     # the status was collected just before the signal came
        rc=$r
    done
    # nsenter reports that CMD died of signal N by dying of N itself (status 128+N): so do we, as
    # CMD run here would have. 130 stays an exit status: mailcheck exits 130 when interrupted.
    if [ "$rc" -gt 128 ] && [ "$rc" -lt 160 ] && [ "$rc" != 130 ]; then
        trap - "$((rc - 128))" 2>/dev/null || true
        kill -s "$((rc - 128))" "$$"
    fi
    exit "$rc"
}
# forward SIG: SIG to nsenter's child (the command), once nsenter has forked it (up to 1 s)
forward() {
    local kids='' i
    [ -n "$child" ] || { pending=$1; return 0; }
    for ((i = 0; i < 100; i++)); do
        kids=$(pgrep -P "$child" || true)
        [ -z "$kids" ] && kill -0 "$child" 2>/dev/null || break
        sleep 0.01
    done
    kill -s "$1" ${kids:-$child} 2>/dev/null || true
}

cmd_exec() {
    local net=net name pid
    [ "${1:-}" = --host-net ] && { net=host-net; shift; }
    name=${1:-}; check_name "$name"; shift
    [ "${1:-}" = -- ] && shift
    [ $# -gt 0 ] || usage
    need_exists "$name"; need_running "$name"
    pid=$(init_pid "$name")
    trap - ERR    # the command's own exit status is the answer
    in_machine "$pid" "$net" -- "$@"
}

cmd_lab() {
    local name=${1:-} script=${2:-} pid root
    check_name "$name"
    case $script in up|start|down) ;; *) die "lab NAME up|start|down";; esac
    need_exists "$name"; need_running "$name"
    pid=$(init_pid "$name"); root=/proc/$pid/root
    mkdir -p "$root/opt/mailcheck-lab"
    for f in up.sh start.sh down.sh; do
        cp -f "$LAB_DIR/$f" "$root/opt/mailcheck-lab/.$f.new"
        mv -f "$root/opt/mailcheck-lab/.$f.new" "$root/opt/mailcheck-lab/$f"
    done
    trap - ERR
    in_machine "$pid" net -- bash "/opt/mailcheck-lab/$script.sh"
}

cmd_root() {
    local name=${1:-} pid
    check_name "$name"; need_exists "$name"; need_running "$name"
    pid=$(init_pid "$name")
    printf '/proc/%s/root\n' "$pid"
}

cmd_dir() {
    check_name "${1:-}"; need_exists "$1"
    mdir "$1"; echo
}

cmd_addr() {
    local name=${1:-} slot
    check_name "$name"; need_exists "$name"
    slot=$(<"$(mdir "$name")/net")
    printf '%s %s\n' "$(slot_host "$slot")" "$(slot_machine "$slot")"
}

cmd_status() {
    local name dir pid state slot release
    if [ $# -gt 0 ]; then check_name "$1"; need_exists "$1"; fi
    printf '%-12s %-9s %-8s %-8s %-14s %s\n' NAME RELEASE STATE PID ADDRESS ROOT
    for dir in "$MACHINES_DIR"/*/; do
        name=$(basename "$dir")
        [ $# -gt 0 ] && [ "$1" != "$name" ] && continue
        [ -f "$dir/suite" ] || continue
        if pid=$(init_pid "$name"); then state=running; else state=stopped; pid=-; fi
        slot=$(<"$dir/net")
        release=$(sed -n 's/^VERSION_CODENAME=//p' "$(mroot "$name")/etc/os-release" 2>/dev/null)
        printf '%-12s %-9s %-8s %-8s %-14s %s\n' "$name" "${release:-?}" "$state" "$pid" "$(slot_machine "$slot")" "$(mroot "$name")"
    done
}

elapsed() { local us=$(( ${EPOCHREALTIME/./} - ${1/./} )); printf '%d.%01d' $((us / 1000000)) $((us / 100000 % 10)); }

# --------------------------------------------------------------------------- main
[ "$(id -u)" = 0 ] || die "run as root"
cmd=${1:-}; shift || true
case $cmd in
    create)  cmd_create "$@";;
    start)   cmd_start "$@";;
    exec)    cmd_exec "$@";;
    lab)     cmd_lab "$@";;
    up)      cmd_lab "${1:-}" up;;
    stop)    cmd_stop "$@";;
    destroy) cmd_destroy "$@";;
    status)  cmd_status "$@";;
    root)    cmd_root "$@";;
    addr)    cmd_addr "$@";;
    dir)     cmd_dir "$@";;
    image)   cmd_image "$@";;
    __stage1) stage1 "$@";;
    *) usage;;
esac
