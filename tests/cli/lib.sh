# Helpers shared by the shell tests of the nestmmu tool.
# Usage in a test: source "$(dirname "$0")/lib.sh" "$@"
#   $1: the nestmmu executable, $2: the source directory.
set -u
NESTMMU=${1:?usage: $0 NESTMMU SOURCE_DIR}
SRC=${2:?usage: $0 NESTMMU SOURCE_DIR}
EX=$SRC/examples
FAILS=0
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

command -v jq >/dev/null || { echo "jq is needed (scripts/deps.sh installs it)" >&2; exit 1; }

fail() {
	echo "FAIL: $*" >&2
	FAILS=$((FAILS + 1))
}

# check NAME JSON FILTER WANT: the jq filter applied to JSON prints WANT.
check() {
	local got
	got=$(jq -r "$3" <<<"$2" 2>&1)
	[ "$got" = "$4" ] || fail "$1: $3 is '$got', expected '$4'"
}

# run_capture ARGS...: runs nestmmu; sets OUT, ERR and RC.
run_capture() {
	"$NESTMMU" "$@" >"$TMP/out" 2>"$TMP/err"
	RC=$?
	OUT=$(cat "$TMP/out")
	ERR=$(cat "$TMP/err")
}

finish() {
	if [ "$FAILS" -ne 0 ]; then
		echo "$FAILS check(s) failed" >&2
		exit 1
	fi
	echo "all checks passed"
	exit 0
}
