#!/usr/bin/env bats
# The rule store under failure: a command that fails at any step changes
# nothing, and a store left in a state the kernel's walk cannot finish
# denies rather than lets a listed rule go unenforced.
ADDRS=(10.1.2.3/32 2001:db8::1/128 8000::1/128)
PORT=47811
OPEN=47812

load helpers

setup_file() {
	nm_file_setup "${ADDRS[@]}"
}

teardown_file() {
	nm_file_teardown
}

setup() {
	INJECTED=()
	nm_cgroup_create CG
	nm attach cgroup "$CG"
}

teardown() {
	local rc=0 k
	for k in "${INJECTED[@]}"; do
		# shellcheck disable=SC2086 # k is a list of hex bytes
		bpftool map delete pinned "$NM_PIN_DIR/maps/nets" key hex $k || rc=1
	done
	nm detach cgroup "$CG" >/dev/null || rc=1
	nm deny flush >/dev/null || rc=1
	nm_cgroups_destroy || rc=1
	return $rc
}

tcp() { probe_expect "$1" --cgroup "$CG" --serve connect tcp "$2" "$3"; }
jq_status() { nm -j status | jq -r "$1"; }

rules_are() {
	local want=$1 got
	got=$(nm deny list)
	[ "$got" = "$want" ] || { echo "deny list: expected '$want', got '$got'" >&2; return 1; }
	got=$(nm -j status | jq -r .rules)
	[ "$got" = "$(grep -c . <<<"$want")" ] || { echo "status counts $got rules, list has: $want" >&2; return 1; }
}

# under_limit KB CMD...: run netmonctl with its address space capped.
under_limit() {
	local kb=$1
	shift
	(ulimit -v "$kb" && exec "$NETMONCTL" --pin-dir "$NM_PIN_DIR" "$@")
}

# An edit that runs out of memory before its switch changes nothing; one
# that runs out after it (the clean-up) has done all it was asked, says so
# with exit 0, and leaves the clean-up to the next command.
@test "add and del that run out of memory at any step: all or nothing, counts right" {
	[ -z "${ASAN_OPTIONS:-}" ] || skip "address-space limits do not apply under ASan (it reserves terabytes of shadow)"
	nm deny add 10.1.0.0/16 port 80 >/dev/null
	local want failed_add=0 failed_del=0 deferred=0 kb
	want=$(nm deny list)
	# From too little to start through enough to finish: every step of the
	# command fails in one of these runs (the bucket arrays alone take ~50 MB).
	for kb in $(seq 16000 2000 90000); do
		if under_limit "$kb" deny add 10.1.2.0/24 port 81 >/dev/null 2>&1; then
			nm deny del 10.1.2.0/24 port 81 >/dev/null
		else
			failed_add=$((failed_add + 1))
		fi
		rules_are "$want"
		tcp EPERM 10.1.2.3 80
		if under_limit "$kb" deny del 10.1.0.0/16 port 80 >/dev/null 2>&1; then
			rules_are ""
			tcp OK 10.1.2.3 80
			[ "$(jq_status .edit_interrupted)" = true ] && deferred=$((deferred + 1))
			nm deny add 10.1.0.0/16 port 80 >/dev/null
		else
			failed_del=$((failed_del + 1))
		fi
		rules_are "$want"
		[ "$(jq_status .edit_interrupted)" = false ]
		tcp EPERM 10.1.2.3 80
	done
	tcp OK 10.1.2.3 "$OPEN"
	# Both kinds of failure happened: before a switch, and after one.
	[ "$failed_add" -gt 0 ] && [ "$deferred" -gt 0 ] ||
		{ echo "add failed $failed_add times, del $failed_del, clean-up left $deferred: the limits exercised too little" >&2; return 1; }
}

# Little-endian hex bytes of a nets key ::/LEN (dir egress, IPv6) and of
# an entry for it that holds no port rule.
v6_zero_key() { printf '%02x 00 00 00 00 06 00 00' $((32 + $1)); printf ' 00%.0s' $(seq 16); }
v6_empty_val() { printf '%02x 00 00 00' $((32 + $1)); printf ' 00%.0s' $(seq 48); }

@test "a walk past the depth bound denies (fail closed) and says why" {
	command -v bpftool >/dev/null || skip "bpftool is not installed: cannot plant the entries"
	nm deny add ::/1 port "$PORT" >/dev/null
	tcp EPERM ::1 "$PORT"
	tcp OK ::1 "$OPEN"
	# What a store left inconsistent could hold: 47 nested prefixes over
	# ::1 with no rules, more distinct lengths than the kernel walks.
	local len k
	for len in $(seq 2 48); do
		k=$(v6_zero_key "$len")
		# shellcheck disable=SC2046,SC2086
		bpftool map update pinned "$NM_PIN_DIR/maps/nets" key hex $k value hex $(v6_empty_val "$len")
		INJECTED+=("$k")
	done
	tcp EPERM ::1 "$PORT"
	# Fail closed is about the address, not the port: the walk did not finish.
	tcp EPERM ::1 "$OPEN"
	# Outside ::/1, nothing walks that chain.
	tcp OK 8000::1 "$PORT"
	run nm -j events count 1 timeout 3 port "$OPEN"
	assert_success
	[[ $output == *'"rule":"fail-closed walk-limit"'* ]] || {
		echo "no event says why: $output" >&2
		return 1
	}
}

# 100k distinct rules: hosts, /24s and IPv6 /64s, a few ports each.
gen_bulk() {
	python3 "$NM_SRC_ROOT/tests/ruleset.py" bulk 100000 7
}

@test "a bulk add killed at any moment: the next command repairs counts and buckets" {
	local f="$BATS_TEST_TMPDIR/bulk" saved="$BATS_TEST_TMPDIR/saved"
	local landed=0 i buckets window
	gen_bulk >"$f"
	window=$(nm_write_window_ms deny add file "$f")
	nm deny flush >/dev/null
	for i in 1 2 3 4 5 6; do
		nm_kill_writing "$i" $((window * 8 / 10)) deny add file "$f"
		[ "$(jq_status .edit_interrupted)" = true ] && landed=$((landed + 1))
		# The next change repairs first: counts equal what is listed.
		nm deny add 192.0.2.1 port 1 >/dev/null
		nm deny del 192.0.2.1 port 1 >/dev/null
		[ "$(jq_status .edit_interrupted)" = false ]
		nm deny list >"$saved"
		[ "$(jq_status .rules)" = "$(wc -l <"$saved")" ] ||
			{ echo "$NM_KILLED: status $(jq_status .rules), list $(wc -l <"$saved")" >&2; return 1; }
		# The buckets are what adding exactly the listed rules makes them.
		buckets=$(nm_buckets)
		nm deny flush >/dev/null
		nm deny add file "$saved" >/dev/null
		[ "$(nm_buckets)" = "$buckets" ] ||
			{ echo "$NM_KILLED: buckets $buckets, re-added $(nm_buckets)" >&2; return 1; }
		nm deny flush >/dev/null
	done
	# Each kill came while the add was writing; most land before it ends.
	echo "$landed of 6 kills landed while the add was writing (write ${window} ms)" >&3
	[ "$landed" -ge 4 ] || { echo "only $landed of 6 kills landed while the add was writing" >&2; return 1; }
}
