#!/usr/bin/env bash
# nestmmu run: options, reports (text, JSON, CSV), determinism, and facts
# that hold whatever the cost model says: the guest does the same work in
# every configuration, native has no exits, TDP's exits are nested-paging
# faults (and IPIs), shadow paging's exits include #PF and CR3 writes.
source "$(dirname "$0")/lib.sh" "$@"

SMALL=(--set jobs=4 --set job_accesses=300 --set cc_text_pages=64 --set hdr_pages=16 --no-progress)

expect() { # expect NAME STATUS STREAM PATTERN -- ARGS...
	local name=$1 status=$2 stream=$3 pattern=$4
	shift 5
	run_capture "$@"
	[ "$RC" -eq "$status" ] || fail "$name: exit status $RC, expected $status (err: $ERR)"
	local text=$OUT
	[ "$stream" = err ] && text=$ERR
	grep -qE -- "$pattern" <<<"$text" || fail "$name: std$stream lacks '$pattern': out='${OUT:0:300}' err='$ERR'"
}

# ---- bad command lines: exit 2, a message naming what is wrong ----
expect "bad cpu" 2 err "--cpu: 'arm' is not intel or amd" -- run --cpu arm
expect "vcpus 0" 2 err "--vcpus: '0' is not a number 1..64" -- run --vcpus 0
expect "vcpus 65" 2 err "--vcpus: '65'" -- run --vcpus 65
expect "vcpus junk" 2 err "--vcpus: '2x'" -- run --vcpus 2x
expect "vcpus twice" 2 err "--vcpus: 2 given twice" -- run --vcpus 2,1,2
expect "vcpus too many" 2 err "--vcpus: at most 8 counts" -- run --vcpus 1,2,3,4,5,6,7,8,9
expect "vcpus bad in list" 2 err "--vcpus: '0' is not" -- run --vcpus 1,0
expect "bad config" 2 err "unknown configuration 'l3-tdp'" -- run --configs native,l3-tdp
expect "empty configs" 2 err "no configuration" -- run --configs ,
expect "bad mode" 2 err "--mode: '6-level'" -- run --mode 6-level
expect "bad workload" 2 err "unknown workload 'make'" -- run --workload make
expect "unknown param" 2 err "unknown parameter 'nosuch' for kbuild" -- run --set nosuch=1
expect "param of another workload" 2 err "unknown parameter 'updates' for kbuild" -- run --set updates=5
expect "param not a number" 2 err "--set jobs: 'abc' is not a number" -- run --set jobs=abc
expect "param without =" 2 err "--set wants NAME=VALUE" -- run --set jobs
expect "param negative" 2 err "--set jobs: '-1'" -- run --set jobs=-1
expect "param too large" 2 err "too large" -- run --set jobs=99999999999
expect "bool param" 2 err "must be 0 or 1" -- run -w gups --set init=2
expect "invalid workload params" 2 err "kbuild needs" -- run --set jobs=0
expect "bad ram" 2 err "--ram: '1x'" -- run --ram 1x
expect "ram too small" 2 err "at least 16 MiB" -- run --ram 1M
expect "bad tdp page" 2 err "--tdp-page: '3M'" -- run --tdp-page 3M
expect "bad tdp levels" 2 err "--tdp-levels: '3'" -- run --tdp-levels 3
expect "missing value" 2 err "--seed needs a value" -- run --seed
expect "flag with value" 2 err "option --json takes no value" -- run --json=1
expect "missing profile" 1 err "nosuch.cost" -- run --cost-profile "$TMP/nosuch.cost"
printf 'base intel\nlat_dram 1e99\n' >"$TMP/bad.cost"
expect "absurd profile" 1 err "bad.cost:2" -- run --cost-profile "$TMP/bad.cost"
expect "help" 0 out "usage: nestmmu run" -- run --help
expect "list params" 0 out "job_accesses +2000" -- run --list-params
expect "list params gups" 0 out "updates" -- run -w gups --list-params

# ---- the text table ----
expect "table" 0 out "slowdown vs native +1.000x" -- run "${SMALL[@]}"
grep -qE "^ +native +l1-tdp +l1-shadow +l2-shadow-on-shadow +l2-shadow-on-tdp +l2-tdp-on-tdp +l2-pv" <<<"$OUT" || fail "table header: $OUT"

# ---- JSON ----
run_capture run "${SMALL[@]}" --json
[ "$RC" -eq 0 ] || fail "json run: $RC $ERR"
J=$OUT
check "json names" "$J" '[.configs[].name] | join(",")' "native,l1-tdp,l1-shadow,l2-shadow-on-shadow,l2-shadow-on-tdp,l2-tdp-on-tdp,l2-pv"
# the configurations by name (the first three are always native, l1-tdp, l1-shadow)
cfg() { printf '(.configs[] | select(.name == "%s"))' "$1"; }
TT=$(cfg l2-tdp-on-tdp)
check "json workload" "$J" '.workload.name + " " + (.workload.params.jobs|tostring)' "kbuild 4"
check "json native slowdown" "$J" '.configs[0].slowdown' "1"
check "json profile" "$J" '.cost_profile.name' "intel"
check "json all ok" "$J" '[.configs[].ok] | all' "true"
check "json est positive" "$J" '[.configs[].est_seconds > 0] | all' "true"
# the guest does the same work whoever virtualizes its memory
check "same accesses" "$J" '[.configs[].workload.accesses] | unique | length' "1"
check "same guest faults" "$J" '[.configs[].summary.guest_page_faults] | unique | length' "1"
check "same forks" "$J" '[.configs[].workload.forks] | unique | length' "1"
# native: nothing exits; counters at level 0
check "native no exits" "$J" '.configs[0].summary.exits' "0"
check "native faults at l0" "$J" '.configs[0].counters["guest_pf.l0"] == .configs[0].summary.guest_page_faults' "true"
# TDP: exits are EPT violations (and IPIs: none on one vCPU); every one fixed by the TDP MMU
check "tdp exits are violations" "$J" \
	'.configs[1].summary.exits == .configs[1].counters["exits.l1.by_l0.ept_violation"]' "true"
check "tdp exits > 0" "$J" '.configs[1].summary.exits > 0' "true"
check "tdp faults fixed" "$J" '.configs[1].counters["tdp_faults.l0"] <= .configs[1].summary.exits' "true"
# shadow: the guest's #PFs all pass through L0 (a #PF exit per delivered fault at least)
check "shadow pf exits" "$J" \
	'.configs[2].counters["exits.l1.by_l0.pf"] >= .configs[2].summary.guest_page_faults' "true"
check "shadow cr3 exits" "$J" '.configs[2].counters["exits.l1.by_l0.cr3_write"] > 0' "true"
check "shadow pages" "$J" '.configs[2].counters["pt_peak.shadow_l0"] > 0' "true"
check "slowdowns" "$J" '[.configs[1].slowdown > 1, .configs[2].slowdown > 1] | all' "true"
# nested TDP: L2's violations are fixed by L0 or reflected to L1; each reflected one is
# fixed by L1's TDP MMU in EPT12 and ends with L1's VMRESUME (an exit of L1); L1's store
# into its write-protected EPT12 is an exit of L1 too
N="$TT.counters"
check "l2 guest faults at l2" "$J" "$TT.summary.guest_page_faults == $N[\"guest_pf.l2\"]" "true"
check "l2 reflected" "$J" "$N[\"exits.l2.reflected.ept_violation\"] > 0" "true"
check "l2 vmresume per reflection" "$J" \
	"$N[\"exits.l1.by_l0.vmresume_vmrun\"] == $N[\"exits.l2.reflected.ept_violation\"]" "true"
check "l1 fixes what is reflected" "$J" "$N[\"tdp_faults.l1\"] == $N[\"exits.l2.reflected.ept_violation\"]" "true"
check "l1 stores into EPT12 trap" "$J" "$N[\"exits.l1.by_l0.ept_violation\"] > 0" "true"
check "l2 tables" "$J" "[$N[\"pt_peak.ept12\"], $N[\"pt_peak.ept02\"], $N[\"pt_peak.ept01\"]] | all(. > 0)" "true"
check "l2 slower than l1" "$J" "$TT.est_seconds > .configs[1].est_seconds" "true"
# derived figures from the counters: exit multiplication = all exits / the guest's own exits,
# exits per guest page fault, page-table pages by the level that owns them (counts are
# integers: a product within 0.01 of one is equal to it)
check "multiplication l1" "$J" '.configs[1].summary.exit_multiplication' "1"
check "multiplication l2" "$J" \
	"(([$N | to_entries[] | select(.key | startswith(\"exits.l2.\")) | .value] | add) * $TT.summary.exit_multiplication - $TT.summary.exits) | fabs < 0.01" "true"
check "multiplication l2 > 1" "$J" "$TT.summary.exit_multiplication > 1" "true"
check "exits per pf" "$J" \
	'[.configs[] | (.summary.exits_per_guest_pf * .summary.guest_page_faults - .summary.exits) | fabs < 0.01] | all' "true"
check "pt pages of L0 in l2" "$J" \
	"$TT.summary.pt_pages_peak_by_level.l0 == $N[\"pt_peak.ept01\"] + $N[\"pt_peak.ept02\"] + $N[\"pt_peak.shadow_l0\"]" "true"
check "pt pages of L1 in l2" "$J" \
	"$TT.summary.pt_pages_peak_by_level.l1 == $N[\"pt_peak.ept12\"] + $N[\"pt_peak.shadow_l1\"] + $N[\"pt_peak.guest_l1\"]" "true"
# paravirtual nested paging (KPOP): L1 builds no EPT12 and L0 protects nothing of it; every L2
# fault L0 cannot fix is reflected to L1, which maps the page with one KPOP_HC_MAP (one
# descriptor per call: a hypercall exit of L1) and resumes L2 (an exit of L1); L0 writes EPT02
# at the MAP, so the retry does not exit
PV=$(cfg l2-pv)
P="$PV.counters"
check "pv name" "$J" "$PV.name" "l2-pv"
check "pv guest faults at l2" "$J" "$PV.summary.guest_page_faults == $P[\"guest_pf.l2\"]" "true"
check "pv maps" "$J" "$P[\"hypercalls.l1.pv_map\"] > 0" "true"
check "pv no ept12 pages" "$J" "[$P[\"pt_alloc.ept12\"], $P[\"pt_peak.ept12\"]] | all(. == 0)" "true"
check "pv ept02 pages" "$J" "$P[\"pt_peak.ept02\"] > 0" "true"
# no write of L1's is trapped: L1's violations are first touches of its memory, fixed in EPT01
check "pv no trapped L1 writes" "$J" \
	"$P[\"exits.l1.by_l0.ept_violation\"] + $P[\"exits.l2.by_l0.ept_violation\"] == $P[\"tdp_faults.l0\"]" "true"
check "pv one map per reflection" "$J" \
	"$P[\"exits.l2.reflected.ept_violation\"] == $P[\"hypercalls.l1.pv_map\"]" "true"
check "pv hypercall exits are maps" "$J" \
	"$P[\"exits.l1.by_l0.hypercall\"] == $P[\"hypercalls.l1.pv_map\"]" "true"
check "pv vmresume per reflection" "$J" \
	"$P[\"exits.l1.by_l0.vmresume_vmrun\"] == $P[\"exits.l2.reflected.ept_violation\"]" "true"
check "pv l2 exits are the reflected ones" "$J" \
	"$P[\"exits.l2.by_l0.ept_violation\"]" "0"
check "pv no shadowing" "$J" "[$P[\"sw_walks.l0\"], $P[\"tdp_faults.l1\"], $P[\"tdp_entries_set.l1\"]] | all(. == 0)" "true"
check "pv entries >= maps" "$J" "$P[\"tdp_entries_set.l0\"] >= $P[\"hypercalls.l1.pv_map\"]" "true"
check "pv fewer exits than tdp-on-tdp" "$J" "$PV.summary.exits < $TT.summary.exits" "true"
# nested shadow on TDP (Intel): L1 intercepts L2's #PF, MOV CR3, INVLPG, INVPCID; each such exit
# is reflected and ends with L1's VMRESUME; a #PF reflected is fixed in SPT12, injected into
# L2 (every #PF L2 gets), or emulated, so fixed + injected <= reflected; L0 handles only its
# own EPT01 violations; L1's TLB wishes for L2 are INVVPIDs (exits of L1), each emulated by
# one invalidation of L2's VPID by L0; tables: SPT12 in L1 memory, no EPT12 / EPT02 / L0 shadow
ST=$(cfg l2-shadow-on-tdp)
S="$ST.counters"
sum_refl="([$S | to_entries[] | select(.key | startswith(\"exits.l2.reflected.\")) | .value] | add)"
sum_l2_l0="([$S | to_entries[] | select(.key | startswith(\"exits.l2.by_l0.\")) | .value] | add)"
check "sot guest faults at l2" "$J" "$ST.summary.guest_page_faults == $S[\"guest_pf.l2\"]" "true"
check "sot pf reflected" "$J" "$S[\"exits.l2.reflected.pf\"] >= $S[\"spt_faults.l1\"] + $S[\"guest_pf.l2\"]" "true"
check "sot shadow faults at l1" "$J" "[$S[\"spt_faults.l1\"] > 0, $S[\"spt_faults.l0\"] == 0] | all" "true"
check "sot cr3 reflected" "$J" "$S[\"exits.l2.reflected.cr3_write\"] > 0" "true"
check "sot vmresume per reflection" "$J" "$S[\"exits.l1.by_l0.vmresume_vmrun\"] == $sum_refl" "true"
check "sot l0 handles only ept violations" "$J" "$sum_l2_l0 == $S[\"exits.l2.by_l0.ept_violation\"]" "true"
check "sot no pf handled by l0" "$J" "$S[\"exits.l2.by_l0.pf\"]" "0"
check "sot invvpid emulated" "$J" \
	"$S[\"exits.l1.by_l0.invvpid\"] == $S[\"flushes.l0.vpid\"] + $S[\"flushes.l0.addr\"]" "true"
check "sot invvpid exits" "$J" "$S[\"exits.l1.by_l0.invvpid\"] > 0" "true"
check "sot tables" "$J" \
	"[$S[\"pt_peak.shadow_l1\"] > 0, $S[\"pt_peak.ept01\"] > 0, $S[\"pt_peak.ept12\"] == 0, $S[\"pt_peak.ept02\"] == 0, $S[\"pt_peak.shadow_l0\"] == 0] | all" "true"
check "sot slower than l1-shadow" "$J" "$ST.est_seconds > .configs[2].est_seconds" "true"
# nested shadow on shadow: shadow tables at both levels, no TDP table anywhere; L1's own
# accesses fault under SPT01 and its stores into SPT12 (write-protected as guest tables of
# L0's MMU) trap to L0; every #PF reflected to L1 is one of L1's shadow faults - fixed in
# SPT12, injected into L2 (each of L2's own faults), or a trapped write to an L2 page table -
# and every reflection ends with L1's VMRESUME
SS=$(cfg l2-shadow-on-shadow)
Q="$SS.counters"
check "sos name" "$J" "$SS.name" "l2-shadow-on-shadow"
check "sos tables" "$J" "[$Q[\"pt_peak.shadow_l0\"], $Q[\"pt_peak.shadow_l1\"]] | all(. > 0)" "true"
check "sos no tdp tables" "$J" "$Q[\"pt_peak.ept01\"] + $Q[\"pt_peak.ept12\"] + $Q[\"pt_peak.ept02\"]" "0"
check "sos no violations" "$J" \
	"[$Q | to_entries[] | select(.key | test(\"ept_violation|npf\")) | .value] | add" "0"
check "sos l1 pf exits" "$J" "$Q[\"exits.l1.by_l0.pf\"] > 0" "true"
check "sos spt12 stores trap" "$J" "$Q[\"spt_writes_trapped.l0\"] > 0" "true"
check "sos l2 faults through l1" "$J" "$Q[\"exits.l2.reflected.pf\"] >= $Q[\"guest_pf.l2\"]" "true"
check "sos reflected pf = l1 shadow faults" "$J" \
	"$Q[\"exits.l2.reflected.pf\"] == $Q[\"spt_faults.l1\"] + $Q[\"guest_pf.l2\"] + $Q[\"spt_writes_trapped.l1\"]" "true"
check "sos l0 fixes spt02" "$J" "$Q[\"exits.l2.by_l0.pf\"] > 0" "true"
check "sos vmresume per reflection" "$J" \
	"$Q[\"exits.l1.by_l0.vmresume_vmrun\"] == ([$Q | to_entries[] | select(.key | startswith(\"exits.l2.reflected.\")) | .value] | add)" "true"
check "sos l1 invvpid exits" "$J" "$Q[\"exits.l1.by_l0.invvpid\"] > 0" "true"
check "sos cr3 writes reflected" "$J" "[$Q[\"exits.l2.reflected.cr3_write\"] > 0, $Q[\"exits.l2.by_l0.cr3_write\"] == 0] | all" "true"
# the sum of categories is the estimate
check "categories sum" "$J" \
	'[.configs[] | ((.est_cycles_by_category | add) - .est_cycles | fabs) < 1e-6 * .est_cycles] | all' "true"

# ---- determinism: the same seed and options give the same result ----
run_capture run "${SMALL[@]}" --json
J2=$OUT
strip='del(.configs[].host_seconds)'
[ "$(jq -S "$strip" <<<"$J")" = "$(jq -S "$strip" <<<"$J2")" ] || fail "two runs with the same seed differ"
run_capture run "${SMALL[@]}" --json --seed 7
[ "$(jq -S "$strip" <<<"$J")" != "$(jq -S "$strip" <<<"$OUT")" ] || fail "another seed gives the same result"

# ---- AMD: NPT ----
run_capture run "${SMALL[@]}" --json --cpu amd --configs l1-tdp,l2-tdp-on-tdp,l2-pv,l2-shadow-on-tdp
check "npt exits" "$OUT" '.configs[0].summary.exits == .configs[0].counters["exits.l1.by_l0.npf"]' "true"
check "npt nested reflected" "$OUT" "$TT.counters[\"exits.l2.reflected.npf\"] > 0" "true"
check "npt pv one map per reflection" "$OUT" \
	"$PV.counters[\"exits.l2.reflected.npf\"] == $PV.counters[\"hypercalls.l1.pv_map\"]" "true"
check "npt pv no npt12" "$OUT" "$PV.counters[\"pt_peak.ept12\"]" "0"
# nested shadow on NPT: no INVVPID on AMD; INVLPGA exits of L1 are each one address flush by L0
# (TLB_CONTROL in VMCB12 rides on VMRUN: no exit)
A="$ST.counters"
check "sot npt l0 faults" "$OUT" "[$A[\"exits.l2.by_l0.npf\"] > 0, $A[\"exits.l2.by_l0.ept_violation\"] == 0] | all" "true"
check "sot npt no invvpid" "$OUT" "$A[\"exits.l1.by_l0.invvpid\"]" "0"
check "sot npt invlpga" "$OUT" "$A[\"exits.l1.by_l0.invlpga\"] == $A[\"flushes.l0.addr\"]" "true"
check "sot npt pf reflected" "$OUT" "$A[\"exits.l2.reflected.pf\"] >= $A[\"spt_faults.l1\"] + $A[\"guest_pf.l2\"]" "true"
check "npt no slowdown without native" "$OUT" '.configs[0].slowdown' "null"
check "amd profile" "$OUT" '.cost_profile.name' "amd"
run_capture run "${SMALL[@]}" --json --cpu amd --configs l2-shadow-on-shadow --check
check "amd sos with the oracle" "$OUT" '.configs[0].ok' "true"
check "amd sos reflected pf" "$OUT" '.configs[0].counters["exits.l2.reflected.pf"] > 0' "true"

# ---- VMCS shadowing off: L1's VMREAD/VMWRITE exit, nothing else changes ----
run_capture run "${SMALL[@]}" --json --configs l2-tdp-on-tdp --no-vmcs-shadowing
V='.configs[0].counters'
check "no shadowing option" "$OUT" '.options.vmcs_shadowing' "false"
# a reflected EPT violation: L1 reads at least the reason, the qualification and the gpa
check "vmread exits" "$OUT" "$V[\"exits.l1.by_l0.vmread_vmwrite\"] >= 3 * $V[\"exits.l2.reflected.ept_violation\"]" "true"
check "vmread exits > 0" "$OUT" "$V[\"exits.l1.by_l0.vmread_vmwrite\"] > 0" "true"
check "shadowing: no vmread exits" "$J" "$N[\"exits.l1.by_l0.vmread_vmwrite\"]" "0"
check "same other exits" "$OUT" \
	"$V[\"exits.l2.reflected.ept_violation\"] == $(jq "$N[\"exits.l2.reflected.ept_violation\"]" <<<"$J")" "true"
check "slower without shadowing" "$OUT" ".configs[0].est_seconds > $(jq "$TT.est_seconds" <<<"$J")" "true"
run_capture run "${SMALL[@]}" --json --configs l2-tdp-on-tdp --no-vmcs-shadowing --cpu amd
check "amd: VMCB is memory" "$OUT" "$V[\"exits.l1.by_l0.vmread_vmwrite\"]" "0"

# ---- several vCPU counts: every configuration for each count, slowdowns against the same count ----
run_capture run "${SMALL[@]}" --json --configs native,l1-tdp,l2-tdp-on-tdp --vcpus 1,2
check "vcpu counts" "$OUT" '.options.vcpu_counts | join(",")' "1,2"
check "runs per count" "$OUT" '[.configs[].vcpus] | join(",")' "1,1,1,2,2,2"
check "native per count" "$OUT" '[.configs[] | select(.name == "native") | .slowdown] | join(",")' "1,1"
check "slowdown per count" "$OUT" \
	'(.configs[4].est_seconds / .configs[3].est_seconds - .configs[4].slowdown) | fabs < 1e-6' "true"
check "two vcpus run on two" "$OUT" '.configs[5].counters["instructions.l2"] > 0' "true"
run_capture run "${SMALL[@]}" --configs native,l1-tdp,l2-tdp-on-tdp --vcpus 1,2
grep -q "relative to l1-tdp (the L2/L1 ratio), by vCPU count" <<<"$OUT" || fail "scaling table: $OUT"

# ---- a user profile changes the estimate, not the counts ----
printf 'base intel\nvmexit_roundtrip 100000 # test\n' >"$TMP/slow.cost"
run_capture run "${SMALL[@]}" --json --configs l1-tdp --cost-profile "$TMP/slow.cost"
check "profile source" "$OUT" '.cost_profile.params.vmexit_roundtrip.source' "test"
check "profile raises the estimate" "$OUT" ".configs[0].est_seconds > $(jq '.configs[1].est_seconds' <<<"$J")" "true"
check "profile keeps counts" "$OUT" ".configs[0].summary.exits == $(jq '.configs[1].summary.exits' <<<"$J")" "true"

# ---- CSV: a header and one line per configuration, as many fields each ----
run_capture run "${SMALL[@]}" --csv --configs native,l1-shadow
[ "$RC" -eq 0 ] || fail "csv: $RC $ERR"
[ "$(wc -l <<<"$OUT")" -eq 3 ] || fail "csv lines: $OUT"
[ "$(awk -F, '{print NF}' <<<"$OUT" | sort -u | wc -l)" -eq 1 ] || fail "csv field counts differ"
head -1 <<<"$OUT" | grep -q "^name,ok,workload" || fail "csv header"
sed -n 3p <<<"$OUT" | grep -q "^l1-shadow,1,kbuild" || fail "csv row: $OUT"

finish
