# mailcheck's SSH wrapper (src/remote/wrapper.sh), run on the server by `sh -c` as the user the
# checks run as. Arguments: MODE SIZE PASSWORD TMP ARGS...
#   MODE      `upload`, or `installed:PATH` to run the mailcheck already on the server
#   SIZE      with `upload`: the size of the binary that follows the password on stdin
#   PASSWORD  1: the first line of stdin is the account's password (it never is an argument or
#             an environment variable); 0: there is none
#   TMP       where to make the private directory for the upload; `-`: ${TMPDIR:-/tmp}
#   ARGS      mailcheck's arguments
# After that, stdin stays open for as long as the local ssh lives: its end means the local side is
# gone (sshd does not hang up a session without a terminal), so mailcheck is stopped and the
# directory removed. Lines on stderr that start with `mailcheck-remote: ` are for the local side.
mode=$1 size=$2 pwflag=$3 tmp=$4
shift 4
dir='' mc='' watch='' pw=''
say() { printf 'mailcheck-remote: %s\n' "$*" >&2; }
fail() { say "error $1: $2"; exit 97; }
cleanup() {
	if [ -n "$watch" ]; then kill -KILL "$watch" 2>/dev/null; wait "$watch" 2>/dev/null; fi
	if [ -n "$mc" ]; then kill "$mc" 2>/dev/null; wait "$mc" 2>/dev/null; fi
	if [ -n "$dir" ]; then rm -rf "$dir"; fi
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 141' PIPE
trap 'exit 143' TERM
umask 077
[ "$tmp" = - ] && tmp=${TMPDIR:-/tmp}

if [ "$pwflag" = 1 ]; then
	IFS= read -r pw || fail input "no password line on stdin"
fi
case $mode in
upload)
	dir=$(mktemp -d "$tmp/mailcheck.XXXXXXXXXX") || fail mktemp "cannot make a directory in $tmp"
	chmod 700 "$dir" || fail mktemp "cannot chmod 700 $dir"
	say "dir $dir"
	bin=$dir/mailcheck
	head -c "$size" >"$bin" || fail upload "cannot write $bin"
	got=$(wc -c <"$bin")
	[ "$got" -eq "$size" ] || fail upload "received $got of $size bytes"
	chmod 700 "$bin" || fail upload "cannot chmod 700 $bin"
	;;
installed:*) bin=${mode#installed:} ;;
*) fail usage "unknown mode $mode" ;;
esac

exec 3<&0
if [ "$pwflag" = 1 ]; then
	printf '%s\n' "$pw" | "$bin" "$@" 3<&- &
else
	"$bin" "$@" </dev/null 3<&- &
fi
mc=$!
pw=''
# The watcher: when stdin ends, stop mailcheck (SIGTERM: it deletes its test mail and exits 130).
# It is one process (the `read` builtin, no child) and is stopped with SIGKILL: a shell that has
# just forked still runs our TERM trap's handler, which would swallow a SIGTERM sent that early.
(
	while IFS= read -r _; do :; done <&3
	kill -TERM "$mc" 2>/dev/null
) >/dev/null 2>&1 &
watch=$!
exec 3<&-
wait "$mc"
rc=$?
mc=''
exit "$rc"
