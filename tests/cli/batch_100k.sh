#!/usr/bin/env bash
# A batch of 100000 generated scenarios: every output line is checked
# against the result computed by the generator. The time taken is printed,
# never asserted on.
source "$(dirname "$0")/lib.sh" "$@"
N=100000

# Four kinds of scenario, by i mod 4; k = PT index / guest page, o = offset.
#  0: 4-level paging, no nesting, PT[k] maps page 0x100000 + k*4K:
#     ok, hpa = 0x100000 + k*0x1000 + o
#  1: the same with PT[k] not present: page_fault, error_code 0x4 (user read)
#  2: paging off under EPT, EPT PT[k] maps gpa k*4K to 0x200000 + k*4K:
#     ok, hpa = 0x200000 + k*0x1000 + o
#  3: paging off under AMD NPT, NPT PT[k] maps gpa k*4K to 0x300000 + k*4K:
#     ok, hpa = 0x300000 + k*0x1000 + o
awk -v n="$N" -v scn="$TMP/big.scn" -v expf="$TMP/expected" 'BEGIN {
	# (numbers in decimal: POSIX awk has no hex constants)
	for (i = 0; i < n; i++) {
		kind = i % 4; k = int(i / 4) % 512; o = (i * 8) % 4096
		la = k * 4096 + o
		if (i) print "---" > scn
		if (kind <= 1) {
			print "cr0 0x80000011\ncr3 0x1000\ncr4 0x20\nefer 0x500\ncpl 3" > scn
			print "mem 0x1000 0x2007\nmem 0x2000 0x3007\nmem 0x3000 0x4007" > scn
			if (kind == 0) {
				printf "mem 0x%x 0x%x\n", 16384 + 8 * k, 1048576 + k * 4096 + 7 > scn
				printf "%d ok 0x%x\n", i + 1, 1048576 + k * 4096 + o > expf
			} else {
				printf "%d page_fault 0x4\n", i + 1 > expf
			}
		} else if (kind == 2) {
			print "cr0 0x11\nnested ept\neptp 0x1001e" > scn
			print "mem 0x10000 0x11007\nmem 0x11000 0x12007\nmem 0x12000 0x13007" > scn
			printf "mem 0x%x 0x%x\n", 77824 + 8 * k, 2097152 + k * 4096 + 55 > scn
			printf "%d ok 0x%x\n", i + 1, 2097152 + k * 4096 + o > expf
		} else {
			print "cpu amd\ncr0 0x11\nnested npt\nncr3 0x10000" > scn
			print "mem 0x10000 0x11007\nmem 0x11000 0x12007\nmem 0x12000 0x13007" > scn
			printf "mem 0x%x 0x%x\n", 77824 + 8 * k, 3145728 + k * 4096 + 7 > scn
			printf "%d ok 0x%x\n", i + 1, 3145728 + k * 4096 + o > expf
		}
		printf "access read 0x%x\n", la > scn
	}
}'
echo "generated $N scenarios ($(wc -c <"$TMP/big.scn") bytes)"

start=$(date +%s%N)
"$NESTMMU" walk --batch "$TMP/big.scn" >"$TMP/out.jsonl" 2>"$TMP/err"
RC=$?
end=$(date +%s%N)
ms=$(( (end - start) / 1000000 ))
echo "nestmmu walk --batch: $N scenarios in $ms ms"

[ "$RC" -eq 0 ] || fail "exit status $RC: $(head -5 "$TMP/err")"
lines=$(wc -l <"$TMP/out.jsonl")
[ "$lines" -eq "$N" ] || fail "$lines output lines, expected $N"
# every line is one JSON object: jq reads exactly N values, all objects
objs=$(jq -n 'reduce inputs as $o (0; if ($o | type) == "object" then . + 1 else . end)' "$TMP/out.jsonl")
[ "$objs" = "$N" ] || fail "$objs JSON objects, expected $N"
jq -r '[.scenario, .outcome, (if .outcome == "ok" then .hpa else .error_code end)] | join(" ")' \
	"$TMP/out.jsonl" >"$TMP/got"
if ! cmp -s "$TMP/got" "$TMP/expected"; then
	fail "results differ from the generator's: $(diff "$TMP/expected" "$TMP/got" | head -5)"
fi

finish
