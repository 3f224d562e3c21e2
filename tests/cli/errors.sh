#!/usr/bin/env bash
# Every class of bad input: exit status 1 and a message "FILE:LINE: ..."
# naming the line at fault.
source "$(dirname "$0")/lib.sh" "$@"

# bad NAME LINE PATTERN: the scenario on stdin of this function must be
# rejected at LINE with a message matching PATTERN (grep -E).
bad() {
	local name=$1 line=$2 pattern=$3 f="$TMP/$1.scn"
	cat >"$f"
	run_capture walk "$f"
	if [ "$RC" -ne 1 ]; then
		fail "$name: exit status $RC, expected 1 (stdout: $OUT)"
		return
	fi
	grep -qE "^$f:$line: .*($pattern)" <<<"$ERR" ||
		fail "$name: expected '$f:$line: ...$pattern', got: $ERR"
	[ -z "$OUT" ] || fail "$name: unexpected output on stdout: $OUT"
	# --json: the same error as one JSON object, and the same status
	run_capture walk --json "$f"
	[ "$RC" -eq 1 ] || fail "$name --json: exit status $RC"
	check "$name --json" "$OUT" '[.outcome, .line] | join(" ")' "error $line"
}

A='access read 0x1000'

bad unknown-key 2 "unknown key 'frobnicate'" <<<"cr0 0
frobnicate 1
$A"
bad malformed-hex 1 "malformed number '0xfg'" <<<"cr3 0xfg
$A"
bad malformed-dec 2 "malformed number '12abc'" <<<"# comment
cr3 12abc
$A"
bad malformed-address 1 "malformed number" <<<"access read 0x"
bad too-large 1 "does not fit in 64 bits" <<<"cr4 0x10000000000000000
$A"
bad maxphyaddr-range 1 "out of range \(32\.\.52\)" <<<"maxphyaddr 64
$A"
bad cpl-range 1 "out of range \(0\.\.3\)" <<<"cpl 4
$A"
bad pkru-range 1 "32-bit register" <<<"pkru 0x100000000
$A"
bad mem-outside 2 "outside memory" <<<"maxphyaddr 36
mem 0x1000000000 0x1
$A"
bad mem-outside-later-maxphyaddr 1 "outside memory" <<<"mem 0x100000000 0x1
maxphyaddr 32
$A"
bad readback-outside 1 "outside memory" <<<"readback 0x400000000000
$A"
bad mem-misaligned 1 "not 8-byte aligned" <<<"mem 0x1004 0x1
$A"
bad mem-missing-value 1 "'mem' needs" <<<"mem 0x1000
$A"
bad missing-access 2 "missing 'access' line" <<<"
cr0 0x11
cr3 0x1000"
bad empty-file 1 "empty scenario" <<<"# nothing but a comment"
bad duplicate-key 3 "given twice \(first at line 1\)" <<<"cr0 0
cr3 0
cr0 0x11
$A"
bad access-type 1 "unknown access type 'exec'" <<<"access exec 0x1000"
bad access-extra 1 "unexpected 'user'" <<<"access read 0x1000 user"
bad vendor 1 "unknown vendor 'arm'" <<<"cpu arm
$A"
bad nested-mode 1 "unknown mode" <<<"nested vmcs
$A"
bad capability 1 "unknown capability 'avx512'" <<<"guest_caps smep,avx512
$A"
bad ept-on-amd 2 "nested ept needs cpu intel" <<<"cpu amd
nested ept
eptp 0x1001e
$A"
bad npt-on-intel 1 "nested npt needs cpu amd" <<<"nested npt
ncr3 0x10000
$A"
bad eptp-without-ept 1 "'eptp' only applies with 'nested ept'" <<<"eptp 0x1001e
$A"
bad ept-without-eptp 1 "needs an 'eptp' line" <<<"nested ept
$A"
bad npt-without-ncr3 2 "needs an 'ncr3' line" <<<"cpu amd
nested npt
$A"
bad separator-without-batch 2 "only in a batch" <<<"$A
---
$A"
# registers the CPU cannot hold (cpu_regs_invalid / hw_config_invalid):
# reported at the access line, with the lines of the registers given
bad pg-without-pe 2 "cannot exist: .*PE.*cr0 at 1" <<<"cr0 0x80000000
$A"
bad lma-without-pg 3 "cannot exist: .*LMA" <<<"cr0 0x11
efer 0x500
$A"
bad la57-not-offered 6 "cannot exist: .*LA57" <<<"guest_caps 1g
cr0 0x80000011
cr4 0x1020
efer 0x500
cr3 0x1000
$A"
bad cr3-beyond-maxphyaddr 5 "cannot exist: .*CR3" <<<"maxphyaddr 36
cr0 0x80000011
cr4 0x20
efer 0x500
$A
cr3 0x1000000000"
bad npt-host-not-long-mode 5 "cannot exist" <<<"cpu amd
nested npt
ncr3 0x10000
ncr4 0
$A"

bad la-beyond-32-bits 2 "more than 32 bits, but the guest is not in IA-32e mode" <<<"cr0 0x80000011
access read 0x100000000"

# a NUL byte in a line
printf 'cr0 0\ncr3 1\0\n%s\n' "$A" >"$TMP/nul.scn"
run_capture walk "$TMP/nul.scn"
[ "$RC" -eq 1 ] && grep -q "nul.scn:2: .*NUL byte" <<<"$ERR" || fail "nul: status $RC: $ERR"

# a file that does not exist
run_capture walk "$TMP/no-such-file.scn"
[ "$RC" -eq 1 ] && grep -q "cannot open '.*no-such-file.scn'" <<<"$ERR" || fail "missing file: status $RC: $ERR"

# a directory
run_capture walk "$TMP"
[ "$RC" -eq 1 ] && grep -qi "directory" <<<"$ERR" || fail "directory: status $RC: $ERR"

# standard input is named <stdin>
run_capture walk - <<<"cr0 0
bogus"
[ "$RC" -eq 1 ] && grep -q "^<stdin>:2: unknown key 'bogus'" <<<"$ERR" || fail "stdin: status $RC: $ERR"

# a message never carries raw control characters from the input
printf 'k\033[31mey 1\n%s\n' "$A" >"$TMP/esc.scn"
run_capture walk "$TMP/esc.scn"
grep -q $'\033' <<<"$ERR" && fail "escape sequence copied into the message"
run_capture walk --json "$TMP/esc.scn"
jq -e . <<<"$OUT" >/dev/null || fail "esc --json: invalid JSON: $OUT"

finish
