#!/usr/bin/env bats
# Every edit is one transaction (src/store_txn.c): the hooks see the rule
# set from before it or the one after, never a mix, however it ends; a rule
# in both sets is never lifted; `deny replace file` swaps a whole set.
# Probes are UDP connects in this file's network namespace: nothing is sent
# either way, a denied one is EPERM, an allowed one anything else.
load helpers

setup_file() {
	nm_file_setup
	gen_sets "$BATS_FILE_TMPDIR"
}

teardown_file() {
	nm_file_teardown
}

setup() {
	nm_cgroup_create CG
	nm attach cgroup "$CG"
	S=$BATS_FILE_TMPDIR
}

teardown() {
	local rc=0
	nm_kill_started
	nm detach cgroup "$CG" >/dev/null || rc=1
	nm deny flush >/dev/null || rc=1
	nm_cgroups_destroy || rc=1
	return $rc
}

# Two sets of 300k rules sharing half (A, B) and probe samples of them
# (a_only, b_only, both; s0: the rules of both): tests/ruleset.py.
gen_sets() {
	python3 "$NM_SRC_ROOT/tests/ruleset.py" sets 300000 11 "$1"
}

# denied FILE: how many of the file's "ADDR PORT" probes are denied.
denied() {
	local a p n=0 out
	while read -r a p; do
		out=$(nm_in_net "$NMPROBE" --cgroup "$CG" connect udp "$a" "$p" 2>&1) || true
		[ "$out" = EPERM ] && n=$((n + 1))
	done <"$1"
	echo "$n"
}

jq_status() { nm -j status | jq -r "$1"; }

# The state after a kill: status counts what deny list lists, and it is
# exactly the old set (N_OLD rules, the OLD_ONLY probes denied, NEW_ONLY
# ones not) or exactly the new one; the BOTH probes are always denied.
# Prints old or new.
check_old_or_new() {
	local n_old=$1 n_new=$2 old_only=$3 new_only=$4 both=$5 what=$6 rules listed d_old d_new d_both
	rules=$(jq_status .rules)
	listed=$(nm deny list | wc -l)
	[ "$rules" = "$listed" ] || { echo "$what: status counts $rules, deny list has $listed" >&2; return 1; }
	d_old=$(denied "$old_only")
	d_new=$(denied "$new_only")
	d_both=$(denied "$both")
	[ "$d_both" = "$(grep -c . "$both")" ] ||
		{ echo "$what: only $d_both of the rules in both sets denied" >&2; return 1; }
	if [ "$rules" = "$n_old" ] && [ "$d_old" = "$(grep -c . "$old_only")" ] && [ "$d_new" = 0 ]; then
		echo old
	elif [ "$rules" = "$n_new" ] && [ "$d_old" = 0 ] && [ "$d_new" = "$(grep -c . "$new_only")" ]; then
		echo new
	else
		echo "$what: a mix: $rules rules (old $n_old, new $n_new); denied: $d_old of the old set's" \
			"samples, $d_new of the new one's" >&2
		return 1
	fi
}

# The next command succeeds, repairs first (saying so under -d, with what
# the maps hold: the count status gave), and leaves the store clean.
check_next_command() {
	local rules=$1 what=$2 out
	out=$(nm -d deny add 192.0.2.1 port 1 2>&1 >/dev/null) || { echo "$what: next add failed: $out" >&2; return 1; }
	if [ "$INTERRUPTED" = true ]; then
		[[ $out == *"the maps hold $rules;"* ]] ||
			{ echo "$what: the repair should find $rules rules: $out" >&2; return 1; }
	fi
	nm deny del 192.0.2.1 port 1 >/dev/null
	[ "$(jq_status .edit_interrupted)" = false ]
	[ "$(jq_status .rules)" = "$(nm deny list | wc -l)" ]
}

# kill_rounds SETUP N_OLD N_NEW OLD_ONLY NEW_ONLY BOTH ARGS...: NM_KILL_ROUNDS
# times, SETUP makes the old set, `netmonctl ARGS` starts, and KILL, INT or
# TERM lands at a random moment while it writes.
kill_rounds() {
	local setup=$1 n_old=$2 n_new=$3 old_only=$4 new_only=$5 both=$6 window i state
	local rounds=${NM_KILL_ROUNDS:-20} olds=0 news=0
	shift 6
	"$setup"
	window=$(nm_write_window_ms "$@")
	for ((i = 1; i <= rounds; i++)); do
		"$setup"
		nm_kill_writing "$i" "$window" "$@"
		INTERRUPTED=$(jq_status .edit_interrupted)
		state=$(check_old_or_new "$n_old" "$n_new" "$old_only" "$new_only" "$both" "$NM_KILLED")
		[ "$state" = old ] && olds=$((olds + 1)) || news=$((news + 1))
		check_next_command "$(test "$state" = old && echo "$n_old" || echo "$n_new")" "$NM_KILLED"
	done
	echo "$*: $rounds kills in a ${window} ms window: $olds left the old set, $news the new one" >&3
}

set_s0() { nm deny replace file "$S/s0" >/dev/null; }
set_a() { nm deny replace file "$S/A" >/dev/null; }
empty() { : >"$BATS_TEST_TMPDIR/none"; echo "$BATS_TEST_TMPDIR/none"; }

@test "deny replace file: the set becomes the file's; a round trip changes nothing and switches nothing" {
	printf '10.9.0.1 port 80\n10.9.0.2\n10.9.0.0/16 port 22\n' >"$BATS_TEST_TMPDIR/old"
	printf '10.9.0.1 port 80\n10.9.0.3 port 443 proto tcp\n' >"$BATS_TEST_TMPDIR/new"
	nm deny add file "$BATS_TEST_TMPDIR/old" >/dev/null
	run nm deny replace file "$BATS_TEST_TMPDIR/new"
	assert_success
	assert_output "replaced: added 1 rule, removed 2"
	run sort <(nm deny list)
	assert_output "$(printf '10.9.0.1 port 80\n10.9.0.3 port 443 proto tcp')"
	[ "$(denied <(echo 10.9.0.2 53))" = 0 ]
	[ "$(denied <(echo 10.9.0.1 80))" = 1 ]
	local gen
	gen=$(jq_status .generation)
	nm deny list | nm -j deny replace file - >"$BATS_TEST_TMPDIR/out"
	[ "$(jq -c . "$BATS_TEST_TMPDIR/out")" = '{"added":0,"removed":0,"rules":2,"unenforced":0,"partly_enforced":0}' ]
	[ "$(jq_status .generation)" = "$gen" ]
}

@test "deny replace file: a bad line or a missing file changes nothing" {
	nm deny add 10.9.0.1 port 80 >/dev/null
	printf '10.9.0.5\nbogus line\n' >"$BATS_TEST_TMPDIR/bad"
	run nm deny replace file "$BATS_TEST_TMPDIR/bad"
	assert_failure 2
	assert_output --partial "bad:2:"
	run nm deny replace file "$BATS_TEST_TMPDIR/missing"
	assert_failure 2
	run nm deny replace
	assert_failure 2
	run nm deny list
	assert_output "10.9.0.1 port 80"
	[ "$(jq_status .edit_interrupted)" = false ]
}

@test "deny replace file: 8 port rules of a prefix by 8 others, which cannot share its slots" {
	nm deny replace file <(printf '10.9.0.9 port %d\n' $(seq 1 8)) >/dev/null
	run nm deny replace file <(printf '10.9.0.9 port %d\n' $(seq 11 18))
	assert_success
	run nm deny list
	assert_output "$(printf '10.9.0.9 port %d\n' $(seq 11 18))"
	[ "$(jq_status .rules)" = 8 ]
}

@test "a rule in both sets is never lifted: connects at full speed through replaces of 300k rules" {
	local a p out i
	read -r a p <"$S/both"
	nm deny replace file "$S/A" >/dev/null
	# The loop runs until the replaces are done; each burst must be all EPERM.
	(
		for i in 1 2 3; do
			nm deny replace file "$S/B" >/dev/null
			nm deny replace file "$S/A" >/dev/null
		done
	) &
	local writer=$!
	NM_PIDS+=("$writer")
	local bursts=0
	while nm_running "$writer"; do
		out=$(nm_in_net "$NMPROBE" --cgroup "$CG" --count 2000 connect udp "$a" "$p" 2>&1) || true
		[[ $out == *"count=2000 "*"failures=2000"* ]] ||
			{ echo "a connect to $a port $p got through: $out" >&2; return 1; }
		bursts=$((bursts + 1))
	done
	wait "$writer"
	echo "$bursts bursts of 2000 connects, 0 allowed" >&3
	[ "$bursts" -gt 0 ]
}

@test "deny add file of 300k rules killed at random moments: the old set or the new one, never a mix" {
	kill_rounds set_s0 10 300000 "$(empty)" "$S/a_only" "$S/both" deny add file "$S/A"
}

@test "deny replace file of 300k by 300k killed at random moments: the old set or the new one" {
	kill_rounds set_a 300000 300000 "$S/a_only" "$S/b_only" "$S/both" deny replace file "$S/B"
}

# One prefix's port set swapped for another: PA holds UDP ports 1-20000 of
# one address, PB 10001-30000; 25 sampled ports of each part.
gen_port_sets() {
	seq 1 20000 | sed 's/^/10.77.0.1 port /; s/$/ proto udp/' >"$S/PA"
	seq 10001 30000 | sed 's/^/10.77.0.1 port /; s/$/ proto udp/' >"$S/PB"
	shuf -n 25 -i 1-10000 | sed 's/^/10.77.0.1 /' >"$S/pa_only"
	shuf -n 25 -i 20001-30000 | sed 's/^/10.77.0.1 /' >"$S/pb_only"
	shuf -n 25 -i 10001-20000 | sed 's/^/10.77.0.1 /' >"$S/p_both"
}
set_pa() { nm deny replace file "$S/PA" >/dev/null; }

@test "a port set of 20k rules replaced by another, killed at random moments: the old set or the new one" {
	gen_port_sets
	kill_rounds set_pa 20000 20000 "$S/pa_only" "$S/pb_only" "$S/p_both" deny replace file "$S/PB"
	# what killed edits left of their sets is gone: one set of 20000 rules
	[ "$(bpftool -j map dump pinned "$NM_PIN_DIR/maps/set_rules" | jq length)" = 20000 ]
	[ "$(bpftool -j map dump pinned "$NM_PIN_DIR/maps/port_sets" | jq length)" = 1 ]
}

@test "deny flush of 300k rules killed at random moments: all of them or none" {
	cat "$S/a_only" "$S/both" >"$BATS_TEST_TMPDIR/all"
	kill_rounds set_a 300000 0 "$BATS_TEST_TMPDIR/all" "$(empty)" "$(empty)" deny flush
}
