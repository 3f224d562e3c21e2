#!/usr/bin/env bash
# Runs every example of examples/ and checks the outcome and key fields
# against the values derived by hand (they are stated in each example's
# comments, with the manual sections they come from).
source "$(dirname "$0")/lib.sh" "$@"

# json_of FILE: `nestmmu walk --json FILE`, which must succeed and be one
# valid JSON object.
json_of() {
	run_capture walk --json "$EX/$1"
	[ "$RC" -eq 0 ] || fail "$1: exit status $RC: $ERR"
	[ "$(printf '%s\n' "$OUT" | wc -l)" -eq 1 ] || fail "$1: --json printed more than one line"
	jq -e 'type == "object"' <<<"$OUT" >/dev/null || fail "$1: --json output is not a JSON object"
	J=$OUT
}

# 4-level guest under 4-level EPT with A/D: the README's example
json_of 4level-ept.scn
check 4level-ept "$J" .outcome ok
check 4level-ept "$J" .gpa 0x5123
check 4level-ept "$J" .hpa 0x205123
check 4level-ept "$J" .page_size 4096
check 4level-ept "$J" .refs 24
check 4level-ept "$J" .ad_writes 12
check 4level-ept "$J" .mode 4-level
check 4level-ept "$J" .nested ept
check 4level-ept "$J" '.readback["0x2017f8"]' 0x2027
check 4level-ept "$J" '.readback["0x202008"]' 0x3027
check 4level-ept "$J" '.readback["0x203010"]' 0x4027
check 4level-ept "$J" '.readback["0x204018"]' 0x8000000000005025
check 4level-ept "$J" '.readback["0x10000"]' 0x11107
check 4level-ept "$J" '.readback["0x13020"]' 0x204337
check 4level-ept "$J" '.readback["0x13028"]' 0x205137
# the trace: 24 reads, 4 in the guest dimension and 20 in the nested one;
# the guest entries are read in order PML4E, PDPTE, PDE, PTE
check 4level-ept "$J" '[.steps[] | select(.kind == "read")] | length' 24
check 4level-ept "$J" '[.steps[] | select(.kind == "read" and .dim == "guest")] | length' 4
check 4level-ept "$J" '[.steps[] | select(.kind == "read" and .dim == "nested")] | length' 20
check 4level-ept "$J" '[.steps[] | select(.kind == "read" and .dim == "guest") | .level] | map(tostring) | join(",")' 4,3,2,1
check 4level-ept "$J" '[.steps[] | select(.kind == "read" and .dim == "guest") | .entry_hpa] | join(",")' \
	0x2017f8,0x202008,0x203010,0x204018
check 4level-ept "$J" '[.steps[] | select(.kind == "read" and .dim == "guest") | .entry_addr] | join(",")' \
	0x17f8,0x2008,0x3010,0x4018
check 4level-ept "$J" '[.steps[] | select(.kind == "read" and .dim == "guest") | .index] | map(tostring) | join(",")' \
	255,1,2,3
# the final nested walk translates gpa 0x5123 and ends at EPT PT[5]
check 4level-ept "$J" '[.steps[] | select(.kind == "read" and .dim == "nested")] | last | .addr' 0x5123
check 4level-ept "$J" '[.steps[] | select(.kind == "read" and .dim == "nested")] | last | .entry_hpa' 0x13028

# the text report of the same walk
run_capture walk "$EX/4level-ept.scn"
[ "$RC" -eq 0 ] || fail "4level-ept text: exit status $RC"
grep -q '^outcome   ok' <<<"$OUT" || fail "4level-ept text: no 'outcome ok' line"
grep -q 'hpa  *0x205123' <<<"$OUT" || fail "4level-ept text: no hpa line"
grep -q 'refs  *24' <<<"$OUT" || fail "4level-ept text: no refs line"
[ "$(grep -c '^ *[0-9][0-9]*  guest ' <<<"$OUT")" -eq 8 ] || fail "4level-ept text: expected 8 guest steps (4 reads, 4 A/D updates)"
[ "$(grep -c '^ *[0-9][0-9]*  nested ' <<<"$OUT")" -eq 28 ] || fail "4level-ept text: expected 28 nested steps (20 reads, 8 A/D updates)"

# 32-bit paging, 4-MiB page above 4 GiB (PSE-36)
json_of 32bit-4m.scn
check 32bit-4m "$J" .outcome ok
check 32bit-4m "$J" .mode 32-bit
check 32bit-4m "$J" .hpa 0x100923456
check 32bit-4m "$J" .page_size 4194304
check 32bit-4m "$J" .refs 1
check 32bit-4m "$J" '.readback["0x3c00"]' 0xc00083008020e7

# PAE paging
json_of pae.scn
check pae "$J" .outcome ok
check pae "$J" .mode pae
check pae "$J" .hpa 0x9abc
check pae "$J" .page_size 4096
check pae "$J" .refs 2
check pae "$J" '.readback["0x5030"]' 0x6001
check pae "$J" '.readback["0x6008"]' 0x7023
check pae "$J" '.readback["0x7008"]' 0x8000000000009063
check pae "$J" '.steps[0].kind' pdpte_register

# 5-level paging, 1-GiB page
json_of 5level.scn
check 5level "$J" .outcome ok
check 5level "$J" .mode 5-level
check 5level "$J" .hpa 0x142345678
check 5level "$J" .page_size 1073741824
check 5level "$J" .refs 3
check 5level "$J" '.readback["0x1008"]' 0x2027
check 5level "$J" '.readback["0x2010"]' 0x3027
check 5level "$J" '.readback["0x3018"]' 0x1400000a7

# AMD NPT, 2-MiB pages in both dimensions
json_of npt.scn
check npt "$J" .outcome ok
check npt "$J" .nested npt
check npt "$J" .gpa 0x254321
check npt "$J" .hpa 0x40054321
check npt "$J" .page_size 2097152
check npt "$J" .refs 18
check npt "$J" .ad_writes 10
check npt "$J" '.readback["0x301000"]' 0x2027
check npt "$J" '.readback["0x303008"]' 0x2000e7
check npt "$J" '.readback["0x10000"]' 0x11027
check npt "$J" '.readback["0x13018"]' 0x303067
check npt "$J" '.readback["0x12008"]' 0x400000e7

# a page fault
json_of pagefault.scn
check pagefault "$J" .outcome page_fault
check pagefault "$J" .error_code 0x7
check pagefault "$J" .cr2 0x40201008
check pagefault "$J" .refs 4
check pagefault "$J" .ad_writes 0
check pagefault "$J" '.readback["0x3008"]' 0x4005
check pagefault "$J" '.readback["0x4008"]' 0x5007
run_capture walk "$EX/pagefault.scn"
grep -q 'error code     0x7 (P W/R U/S)' <<<"$OUT" || fail "pagefault text: error code line"

# an EPT violation on the final access
json_of ept-violation.scn
check ept-violation "$J" .outcome ept_violation
check ept-violation "$J" .qualification 0x18a
check ept-violation "$J" .gpa 0x5123
check ept-violation "$J" .gla 0x7f8040403123
check ept-violation "$J" .refs 24
check ept-violation "$J" .ad_writes 0
check ept-violation "$J" '.readback["0x204018"]' 0x8000000000005007
check ept-violation "$J" '.readback["0x13028"]' 0x205031

# every example runs in both output forms without error
for f in "$EX"/*.scn; do
	case $f in */batch.scn) continue ;; esac
	run_capture walk "$f"
	[ "$RC" -eq 0 ] || fail "$(basename "$f"): text exit status $RC: $ERR"
	[ -z "$ERR" ] || fail "$(basename "$f"): unexpected stderr: $ERR"
done

# standard input
J=$("$NESTMMU" walk --json - <"$EX/5level.scn") || fail "stdin: exit status $?"
check stdin "$J" .hpa 0x142345678

finish
