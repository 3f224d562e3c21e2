#!/usr/bin/env bash
# --batch: one valid JSON object per line, one line per scenario, results
# as derived by hand in examples/batch.scn; bad scenarios in a batch.
source "$(dirname "$0")/lib.sh" "$@"

run_capture walk --batch "$EX/batch.scn"
[ "$RC" -eq 0 ] || fail "batch.scn: exit status $RC: $ERR"
n=$(printf '%s\n' "$OUT" | wc -l)
[ "$n" -eq 16 ] || fail "batch.scn: $n lines, expected 16"
i=0
while IFS= read -r line; do
	i=$((i + 1))
	jq -e 'type == "object"' <<<"$line" >/dev/null 2>&1 || fail "batch.scn: line $i is not a JSON object: $line"
	check "batch line $i" "$line" .scenario "$i"
	check "batch line $i" "$line" 'has("steps")' false
done <<<"$OUT"

# line N of the output is scenario N
L() { sed -n "${1}p" <<<"$OUT"; }
check "1 paging off" "$(L 1)" '[.outcome, .gpa, .hpa, .refs] | join(" ")' "ok 0x12345678 0x12345678 0"
check "2 not present" "$(L 2)" '[.outcome, .error_code, .cr2, .refs] | join(" ")' "page_fault 0x4 0x1abc 4"
check "3 reserved bit" "$(L 3)" '[.outcome, .error_code, .cr2] | join(" ")' "page_fault 0xd 0x1abc"
check "4 non-canonical" "$(L 4)" '[.outcome, .refs] | join(" ")' "gp 0"
check "5 NX" "$(L 5)" '[.outcome, .error_code] | join(" ")' "page_fault 0x15"
check "6 SMEP" "$(L 6)" '[.outcome, .error_code] | join(" ")' "page_fault 0x11"
check "7 WP=1" "$(L 7)" '[.outcome, .error_code, .cr2] | join(" ")' "page_fault 0x3 0x1abc"
check "8 WP=0" "$(L 8)" '[.outcome, .hpa, .refs, .readback["0x4008"]] | join(" ")' "ok 0x5abc 4 0x5061"
check "9 PKU" "$(L 9)" '[.outcome, .error_code] | join(" ")' "page_fault 0x25"
check "10 PAE 2M" "$(L 10)" '[.outcome, .hpa, .page_size, .refs, .readback["0x2008"]] | join(" ")' \
	"ok 0x412345 2097152 1 0x4000a3"
check "11 EPT misconfig" "$(L 11)" '[.outcome, .gpa, .refs] | join(" ")' "ept_misconfig 0x5123 4"
check "12 EPTP memory type" "$(L 12)" '[.outcome, (.reason | length > 0)] | join(" ")' "vmentry_fail true"
check "13 EPTP walk length" "$(L 13)" '.outcome' "vmentry_fail"
check "14 EPT violation on a guest table" "$(L 14)" '[.outcome, .qualification, .gpa, .gla, .refs] | join(" ")' \
	"ept_violation 0x81 0x17f8 0x7f8040403123 4"
check "15 NPF final" "$(L 15)" '[.outcome, .exitinfo1, .exitinfo2, .refs] | join(" ")' "npf 0x100000005 0x5123 4"
check "16 NPF guest table" "$(L 16)" '[.outcome, .exitinfo1, .exitinfo2, .refs] | join(" ")' "npf 0x200000006 0x1000 4"

# the same from standard input
"$NESTMMU" walk --batch - <"$EX/batch.scn" >"$TMP/stdin.out" || fail "batch from stdin: exit status $?"
[ "$(cat "$TMP/stdin.out")" = "$OUT" ] || fail "batch from stdin differs"

# bad scenarios: reported (file, line, scenario) and skipped; the rest run
cat >"$TMP/bad.scn" <<'SCN'
access read 0x1000
---
cr0 0x11
cr3 0x12z
access read 0x2000
---
# only a comment: skipped, not counted
---
access write 0x3000
---
cr0 0x80000000
access read 0x4000
---
cr0 0
SCN
run_capture walk --batch "$TMP/bad.scn"
[ "$RC" -eq 1 ] || fail "bad batch: exit status $RC, expected 1"
[ "$(printf '%s\n' "$OUT" | wc -l)" -eq 5 ] || fail "bad batch: expected 5 lines: $OUT"
check "bad batch 1" "$(L 1)" '[.scenario, .outcome, .la] | join(" ")' "1 ok 0x1000"
check "bad batch 2" "$(L 2)" '[.scenario, .outcome, .line] | join(" ")' "2 error 4"
check "bad batch 2" "$(L 2)" '.error | test("malformed number")' true
check "bad batch 2" "$(L 2)" '.file | endswith("bad.scn")' true
check "bad batch 3" "$(L 3)" '[.scenario, .outcome, .la] | join(" ")' "3 ok 0x3000"
check "bad batch 4" "$(L 4)" '[.scenario, .outcome, .line] | join(" ")' "4 error 12"
check "bad batch 5" "$(L 5)" '[.scenario, .outcome, .line] | join(" ")' "5 error 14"
check "bad batch 5" "$(L 5)" '.error | test("missing .access. line")' true
grep -q "bad.scn:4: scenario 2: .*malformed number" <<<"$ERR" || fail "bad batch: stderr lacks line 4: $ERR"
grep -q "bad.scn:12: scenario 4: " <<<"$ERR" || fail "bad batch: stderr lacks line 12: $ERR"
grep -q "bad.scn:14: scenario 5: " <<<"$ERR" || fail "bad batch: stderr lacks line 14: $ERR"
grep -q "3 of 5 scenarios had errors" <<<"$ERR" || fail "bad batch: no summary: $ERR"

# an empty batch: no output, success
printf '# nothing\n---\n\n---\n' >"$TMP/empty.scn"
run_capture walk --batch "$TMP/empty.scn"
[ "$RC" -eq 0 ] && [ -z "$OUT" ] || fail "empty batch: status $RC, output '$OUT'"

finish
