#!/usr/bin/env bash
# The command line: help, unknown commands and options (run's own: run.sh).
source "$(dirname "$0")/lib.sh" "$@"

expect() { # expect NAME STATUS STREAM PATTERN -- ARGS...
	local name=$1 status=$2 stream=$3 pattern=$4
	shift 5
	run_capture "$@"
	[ "$RC" -eq "$status" ] || fail "$name: exit status $RC, expected $status"
	local text=$OUT
	[ "$stream" = err ] && text=$ERR
	grep -qE -- "$pattern" <<<"$text" || fail "$name: std$stream lacks '$pattern': out='$OUT' err='$ERR'"
}

expect "no arguments" 2 err "usage: nestmmu" --
expect "--help" 0 out "usage: nestmmu" -- --help
expect "-h" 0 out "walk .*page walk" -- -h
expect "--help lists run" 0 out "run .*hypervisor configuration" -- --help
expect "help walk" 0 out "usage: nestmmu walk" -- help walk
expect "help unknown" 2 err "unknown command 'frob'" -- help frob
expect "unknown command" 2 err "unknown command 'frob'.*nestmmu --help" -- frob
expect "unknown option" 2 err "unknown option '--frob'" -- --frob
expect "walk --help" 0 out "usage: nestmmu walk.*FILE" -- walk --help
expect "walk -h" 0 out "--batch FILE" -- walk -h
expect "walk unknown option" 2 err "unknown option '--frob'.*nestmmu walk --help" -- walk --frob "$EX/pae.scn"
expect "walk no file" 2 err "missing scenario FILE" -- walk
expect "walk --json no file" 2 err "missing scenario FILE" -- walk --json
expect "walk two files" 2 err "unexpected argument" -- walk "$EX/pae.scn" "$EX/5level.scn"
expect "walk --batch no file" 2 err "needs a file name" -- walk --batch
expect "walk --batch and file" 2 err "unexpected" -- walk --batch "$EX/batch.scn" "$EX/pae.scn"
expect "walk --batch twice" 2 err "given twice" -- walk --batch "$EX/batch.scn" --batch "$EX/batch.scn"
expect "walk --batch=FILE" 0 out '"scenario":16' -- walk --batch="$EX/batch.scn"
expect "walk -- FILE" 0 out "outcome   ok" -- walk -- "$EX/pae.scn"
expect "run unknown option" 2 err "unknown option '--cycles'.*nestmmu run --help" -- run --cycles 10
expect "run stray argument" 2 err "unexpected argument 'x.trace'" -- run x.trace

finish
