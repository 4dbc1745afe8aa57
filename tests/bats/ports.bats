#!/usr/bin/env bats
# Port lists and service names in a RULE (`port 81,83-84,ssh`): one RULE
# stands for one rule per list element (a name: per protocol it has in the
# services database), added and deleted all or nothing, listed as its single
# canonical rules. Real connects from a scratch cgroup (cgroup layer).
ADDRS=(10.1.2.3/32 10.1.3.3/32)

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
	nm_attached_cg_teardown
}

# Service names come from /etc/services (netbase); a VM's initramfs has none.
need_services() {
	grep -qE '^ssh[[:space:]]+22/tcp' /etc/services 2>/dev/null ||
		skip "no ssh 22/tcp in /etc/services (netbase): service names cannot resolve"
}

in_cg() { probe_expect "$1" --cgroup "$CG" "${@:2}"; }
tcp() { in_cg "$1" --serve connect tcp "$2" "$3"; }
udp() { in_cg "$1" sendto udp "$2" "$3"; }

LIST4='10.1.2.3 port 81 proto tcp
10.1.2.3 port 83-84 proto tcp
10.1.2.3 port 22 proto tcp'

@test "a list with a name denies each element and allows the gaps" {
	need_services
	run nm deny add 10.1.2.3 port 81,83-84,ssh proto tcp
	assert_success
	assert_output "added 3 rules"
	tcp EPERM 10.1.2.3 81
	tcp EPERM 10.1.2.3 83
	tcp EPERM 10.1.2.3 84
	tcp EPERM 10.1.2.3 22
	tcp OK 10.1.2.3 82
	tcp OK 10.1.2.3 85
	udp OK 10.1.2.3 81 # proto tcp
	tcp OK 10.1.3.3 81 # another address
}

@test "deny list shows the single canonical rules; list -> add file round-trips" {
	need_services
	nm deny add 10.1.2.3 port 81,83-84,ssh,81,0081 proto tcp
	run nm deny list
	assert_success
	assert_output "$LIST4"
	nm deny list >"$BATS_TEST_TMPDIR/saved"
	nm deny flush
	run nm deny add file "$BATS_TEST_TMPDIR/saved"
	assert_output "added 3 rules"
	run nm deny list
	assert_output "$LIST4"
}

@test "deny del with the same list removes them all" {
	need_services
	nm deny add 10.1.2.3 port 81,83-84,ssh proto tcp
	nm deny add 10.1.2.3 port 85
	run nm deny del 10.1.2.3 port 81,83-84,ssh proto tcp
	assert_success
	assert_output "deleted 10.1.2.3 port 81 proto tcp
deleted 10.1.2.3 port 83-84 proto tcp
deleted 10.1.2.3 port 22 proto tcp"
	run nm deny list
	assert_output "10.1.2.3 port 85"
	tcp OK 10.1.2.3 81
	tcp OK 10.1.2.3 22
	tcp EPERM 10.1.2.3 85
	nm deny add 10.1.2.3 port 1,2
	run nm -j deny del 10.1.2.3 port 1,2
	assert_success
	[ "$(jq -c .deleted <<<"$output")" = '["10.1.2.3 port 1","10.1.2.3 port 2"]' ]
	run nm -j deny del 10.1.2.3 port 85,85
	[ "$(jq -c .deleted <<<"$output")" = '"10.1.2.3 port 85"' ] # one rule: a string, as before
}

@test "deny del of a list with a missing rule names it and changes nothing" {
	nm deny add 10.1.2.3 port 81,82
	run nm deny del 10.1.2.3 port 81,83,82
	assert_failure 1
	assert_output "netmonctl: deny del: 10.1.2.3 port 83: no such rule; nothing changed"
	run nm deny list
	assert_output "10.1.2.3 port 81
10.1.2.3 port 82"
	tcp EPERM 10.1.2.3 81
}

@test "a service name applies to the protocols it has" {
	need_services
	run nm deny add 10.1.2.3 port domain,ntp
	assert_success
	run nm deny list
	assert_output "10.1.2.3 port 53
10.1.2.3 port 123 proto udp"
	udp EPERM 10.1.2.3 53
	tcp EPERM 10.1.2.3 53
	udp EPERM 10.1.2.3 123
	tcp OK 10.1.2.3 123
	nm deny flush
	nm deny add 10.1.2.3 port domain proto udp
	udp EPERM 10.1.2.3 53
	tcp OK 10.1.2.3 53
}

@test "a rules file line with a list adds each rule, all or nothing" {
	need_services
	printf '10.1.2.3 port 81,ssh proto tcp\n10.1.3.3 port 1,2\n' >"$BATS_TEST_TMPDIR/f"
	run nm deny add file "$BATS_TEST_TMPDIR/f"
	assert_output "added 4 rules"
	tcp EPERM 10.1.2.3 22
	nm deny flush
	printf '10.1.2.3 port 81,ssh proto tcp\n10.1.3.3 port 1,,2\n' >"$BATS_TEST_TMPDIR/g"
	run nm deny add file "$BATS_TEST_TMPDIR/g"
	assert_failure 2
	assert_output "netmonctl: deny add file: $BATS_TEST_TMPDIR/g:2: port 1,,2: empty list element; nothing applied"
	run nm deny list
	assert_output ""
}

@test "bad lists: one line, exit 2, nothing changed" {
	need_services
	local list65 ports msg cmd
	list65=$(seq -s, 1 65)
	nm deny add 10.1.3.3 port 9
	while IFS='|' read -r ports msg; do
		for cmd in add del; do
			# shellcheck disable=SC2086 # "ssh proto udp": words
			run nm deny "$cmd" 10.1.2.3 port $ports
			assert_failure 2
			assert_output "netmonctl: deny $cmd: $msg"
		done
	done <<EOF
80,,81|port 80,,81: empty list element
,80|port ,80: empty list element
80,|port 80,: empty list element
80,nosuchservice|port 80,nosuchservice: nosuchservice: unknown service name
ssh proto udp|port ssh: service is tcp only, not udp
ntp,80 proto tcp|port ntp,80: ntp: service is udp only, not tcp
80-ssh|port 80-ssh: ports are 0-65535, ranges N-M
ssh-http|port ssh-http: unknown service name (ranges take numbers only)
81,90-80|port 81,90-80: 90-80: range start is above its end
1,65536|port 1,65536: 65536: ports are 0-65535, ranges N-M
$list65|port ${list65:0:68}...: a list holds at most 64 ports, ranges or names
EOF
	run nm deny list
	assert_output "10.1.3.3 port 9"
}

@test "a list of 64 on a prefix that has rules: every element holds (a port set)" {
	nm deny add 10.1.2.3 port 100,101,102,103,104
	run nm deny add 10.1.2.3 port "$(seq -s, 1 64)"
	assert_success
	assert_output "added 64 rules"
	[ "$(nm deny list | wc -l)" = 69 ]
	tcp EPERM 10.1.2.3 1
	tcp EPERM 10.1.2.3 64
	tcp EPERM 10.1.2.3 104
	tcp OK 10.1.2.3 65
}
