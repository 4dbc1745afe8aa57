#!/usr/bin/env bats
# Any number of port rules on one prefix: beyond 7, a prefix's rules live in
# a port set (bpf/netmonctl.h), which the hooks read as bitmaps and `deny
# list` as exact rules. Real connects, sends and binds from a scratch cgroup
# (cgroup layer) in this file's network namespace.
ADDRS=(10.1.2.3/32 10.1.2.4/32 10.1.2.5/32)

load helpers

setup_file() {
	nm_file_setup "${ADDRS[@]}"
}

teardown_file() {
	nm_file_teardown
}

setup() {
	nm_attached_cg_setup
}

teardown() {
	local rc=0
	nm_attached_cg_teardown || rc=1
	[ "$(set_entries)" = 0 ] || { echo "a flush left $(set_entries) port-set rules" >&2; rc=1; }
	return $rc
}

in_cg() { probe_expect "$1" --cgroup "$CG" "${@:2}"; }
tcp() { in_cg "$1" --serve connect tcp "$2" "$3"; }
udp() { in_cg "$1" sendto udp "$2" "$3"; }
jq_status() { nm -j status | jq -r "$1"; }

# Exact rules held by every port set (the set_rules map).
set_entries() {
	bpftool -j map dump pinned "$NM_PIN_DIR/maps/set_rules" | jq length
}

@test "all 65,536 single ports on one prefix: each denied, a deleted one allowed, counted exactly" {
	seq 0 65535 | sed 's/^/10.1.2.3 port /; s/$/ proto tcp/' >"$BATS_TEST_TMPDIR/all"
	run nm deny add file "$BATS_TEST_TMPDIR/all"
	assert_success
	assert_output "added 65536 rules"
	[ "$(jq_status .rules)" = 65536 ]
	[ "$(nm deny list | wc -l)" = 65536 ]
	[ "$(set_entries)" = 65536 ]
	for p in 1 80 443 8080 32768 65535; do tcp EPERM 10.1.2.3 "$p"; done
	udp OK 10.1.2.3 80 # proto tcp only
	tcp OK 10.1.2.4 80 # another address
	run nm deny del 10.1.2.3 port 8080 proto tcp
	assert_success
	tcp OK 10.1.2.3 8080
	tcp EPERM 10.1.2.3 8079
	tcp EPERM 10.1.2.3 8081
	[ "$(jq_status .rules)" = 65535 ]
	[ "$(set_entries)" = 65535 ] # the old set is gone
	run nm deny del 10.1.2.3 port 8080 proto tcp
	assert_failure 1
	assert_output --partial "no such rule"
}

@test "10,000 distinct ranges on one prefix: inside each denied, the gaps allowed; a round trip is exact" {
	local i
	for ((i = 0; i < 10000; i++)); do
		echo "10.1.2.4 port $((5 * i + 1))-$((5 * i + 3))"
	done >"$BATS_TEST_TMPDIR/ranges"
	run nm deny add file "$BATS_TEST_TMPDIR/ranges"
	assert_success
	assert_output "added 10000 rules"
	tcp EPERM 10.1.2.4 1
	tcp EPERM 10.1.2.4 3
	tcp OK 10.1.2.4 4
	tcp OK 10.1.2.4 5
	tcp EPERM 10.1.2.4 49998 # 5 * 9999 + 3
	tcp OK 10.1.2.4 49999
	udp EPERM 10.1.2.4 25002 # proto any: 5 * 5000 + 2
	udp OK 10.1.2.4 25004
	[ "$(nm deny list | sort)" = "$(sort "$BATS_TEST_TMPDIR/ranges")" ]
	local gen
	gen=$(jq_status .generation)
	nm deny list | nm -j deny replace file - >"$BATS_TEST_TMPDIR/out"
	[ "$(jq -c '[.added, .removed, .rules]' "$BATS_TEST_TMPDIR/out")" = '[0,0,10000]' ]
	[ "$(jq_status .generation)" = "$gen" ] # nothing changed: no switch
}

@test "binds on 9 ports for any address: the 9th holds too, and the rest stays allowed" {
	run nm deny add any port 7001,7002,7003,7004,7005,7006,7007,7008,7009 dir bind proto tcp
	assert_success
	assert_output "added 9 rules"
	in_cg EPERM bind tcp 0.0.0.0 7009
	in_cg EPERM bind tcp 10.1.2.5 7001
	in_cg EPERM listen tcp 127.0.0.1 7005
	in_cg OK bind tcp 0.0.0.0 7010
	in_cg OK bind udp 0.0.0.0 7009 # proto tcp only
	[ "$(nm deny list | wc -l)" = 9 ]
}

@test "a prefix moves between inline rules and a set both ways, enforced at every step" {
	nm deny add 10.1.2.5 port 1,2,3,4,5,6,7 proto tcp >/dev/null
	[ "$(set_entries)" = 0 ] # 7 fit in the value
	tcp EPERM 10.1.2.5 7
	nm deny add 10.1.2.5 port 8 proto tcp >/dev/null
	[ "$(set_entries)" = 8 ]
	tcp EPERM 10.1.2.5 1
	tcp EPERM 10.1.2.5 8
	tcp OK 10.1.2.5 9
	nm deny del 10.1.2.5 port 8 proto tcp >/dev/null
	[ "$(set_entries)" = 0 ] # back in the value
	tcp OK 10.1.2.5 8
	tcp EPERM 10.1.2.5 7
	# a replace of 7 rules by 7 others cannot hold 14 in the value while it
	# switches: it goes through a set, and still only the new ones hold
	nm deny replace file <(printf '10.1.2.5 port %d proto tcp\n' $(seq 11 17)) >/dev/null
	tcp OK 10.1.2.5 1
	tcp EPERM 10.1.2.5 11
	tcp EPERM 10.1.2.5 17
	[ "$(nm deny list | wc -l)" = 7 ]
	[ "$(jq_status .rules)" = 7 ]
}

@test "deny del file of many rules of a set, and a missing one changes nothing" {
	seq 100 1099 | sed 's/^/10.1.2.3 port /' >"$BATS_TEST_TMPDIR/k"
	nm deny add file "$BATS_TEST_TMPDIR/k" >/dev/null
	{ seq 100 599 | sed 's/^/10.1.2.3 port /'; echo "10.1.2.3 port 5000"; } >"$BATS_TEST_TMPDIR/d"
	run nm deny del file "$BATS_TEST_TMPDIR/d"
	assert_failure 1
	assert_output --partial "10.1.2.3 port 5000: no such rule"
	[ "$(jq_status .rules)" = 1000 ]
	tcp EPERM 10.1.2.3 100
	seq 100 599 | sed 's/^/10.1.2.3 port /' | nm deny del file - >/dev/null
	tcp OK 10.1.2.3 100
	tcp EPERM 10.1.2.3 600
	[ "$(jq_status .rules)" = 500 ]
	[ "$(set_entries)" = 500 ]
}

@test "an event from a set names the port and protocol that matched" {
	nm deny add 10.1.2.3 port 1-10,20,30,40,50,60,70,80 proto udp >/dev/null
	udp EPERM 10.1.2.3 60
	run nm -j events count 1 timeout 5 addr 10.1.2.3 port 60 # earlier tests left events too
	assert_success
	[ "$(jq -r '"\(.dport) \(.rule)"' <<<"$output")" = "60 10.1.2.3 port 60 proto udp" ]
}

@test "port sets full: the edit that would not fit beside the old sets changes nothing" {
	{
		seq 0 65535 | sed 's/^/10.1.2.3 port /; s/$/ proto tcp/'
		seq 0 65535 | sed 's/^/10.1.2.4 port /; s/$/ proto udp/'
	} >"$BATS_TEST_TMPDIR/full"
	nm deny add file "$BATS_TEST_TMPDIR/full" >/dev/null
	[ "$(set_entries)" = 131072 ]
	# a new copy of one set would need 65,535 more while the old one exists
	run nm deny del 10.1.2.3 port 80 proto tcp
	assert_failure 1
	assert_output --partial "port sets full"
	[ "${#lines[@]}" -eq 1 ]
	[ "$(jq_status .rules)" = 131072 ]
	[ "$(set_entries)" = 131072 ]
	tcp EPERM 10.1.2.3 80
	[ "$(jq_status .edit_interrupted)" = false ]
	# a prefix that goes away whole needs no new set
	run nm deny replace file <(seq 0 65535 | sed 's/^/10.1.2.4 port /; s/$/ proto udp/')
	assert_success
	tcp OK 10.1.2.3 80
	[ "$(set_entries)" = 65536 ]
}

@test "a port set holds through the known ways around a rule: v4-mapped, the any-address, a child cgroup, another user" {
	nm deny add 127.0.0.1 port 7001,7002,7003,7004,7005,7006,7007,7008,7009 >/dev/null
	nm deny add 10.1.2.3 port 7001,7002,7003,7004,7005,7006,7007,7008,7009 proto tcp >/dev/null
	[ "$(set_entries)" = 18 ]
	in_cg EPERM --serve connect tcp ::ffff:10.1.2.3 7005
	in_cg EPERM --serve-at 127.0.0.1 connect tcp 0.0.0.0 7009
	in_cg EPERM --serve-at 127.0.0.1 sendto udp 0.0.0.0 7001
	in_cg OK --serve-at 127.0.0.1 connect tcp 0.0.0.0 7010
	nm_cgroup_create CHILD "$CG"
	probe_expect EPERM --cgroup "$CHILD" --user 65534 --serve connect tcp 10.1.2.3 7003
	probe_expect EPERM --cgroup "$CHILD" --user 65534 sendto udp 127.0.0.1 7007
	probe_expect OK --cgroup "$CHILD" --user 65534 --serve connect tcp 10.1.2.3 7010
}
