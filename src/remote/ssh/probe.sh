# mailcheck's SSH probe (src/remote/probe.sh), run on the server by `sh -c` as the user the checks
# will run as (after `sudo -n` with --ssh-sudo). One `mailcheck-probe: key=value` line per fact,
# so that whatever a login script prints around it is ignored.
say() { printf 'mailcheck-probe: %s\n' "$*"; }
say "uid=$(id -u)"
say "user=$(id -un)"
say "os=$(uname -s)"
say "arch=$(uname -m)"
say "tmp=${TMPDIR:-/tmp}"
if p=$(command -v mailcheck 2>/dev/null); then
	say "path=$p"
	say "version=$("$p" --version 2>/dev/null | head -n 1)"
fi
say "end"
