#!/usr/bin/env bats
# `deny test ADDR [port N] [proto P] [dir D]`: which rules hold for one
# operation, and the verdict. Checked against what the kernel really does:
# the same operation from a scratch cgroup (cgroup layer) in this file's
# network namespace.
ADDRS=(10.1.2.3/32 10.1.2.4/32 10.9.9.9/32)

load helpers

setup_file() {
	nm_file_setup "${ADDRS[@]}"
}

teardown_file() {
	nm_file_teardown
}

setup() {
	nm_cgroup_create CG
	nm attach cgroup "$CG"
	{
		echo "10.1.2.3 port 1-100"
		echo "10.0.0.0/8 port 22 proto tcp"
		echo "any port 5353 proto udp"
		echo "127.0.0.1 port 80"
		echo "10.1.2.4 port 443 dir bind"
		printf '10.1.2.4 port %d proto tcp\n' 1001 1002 1003 1004 1005 1006 1007 1008 1009 # a port set
	} | nm deny replace file - >/dev/null
}

teardown() {
	local rc=0
	nm_kill_started
	nm mode enforce >/dev/null || rc=1
	nm detach cgroup "$CG" >/dev/null 2>&1 || true
	nm deny flush >/dev/null || rc=1
	nm_cgroups_destroy || rc=1
	return $rc
}

# agrees ADDR PORT PROTO: deny test's verdict is what a connect gets.
agrees() {
	local verdict want
	verdict=$(nm -j deny test "$1" port "$2" proto "$3" | jq -r .verdict)
	want=$([ "$verdict" = deny ] && echo EPERM || echo OK)
	if [ "$3" = tcp ]; then
		probe_expect "$want" --cgroup "$CG" --serve connect tcp "$1" "$2" || return 1
	else
		probe_expect "$want" --cgroup "$CG" sendto udp "$1" "$2" || return 1
	fi
	echo "$1 $2 $3: $verdict"
}

@test "deny test says what the kernel does, operation by operation" {
	run agrees 10.1.2.3 50 udp # host rule, range
	assert_success
	assert_output --partial ": deny"
	run agrees 10.1.2.3 101 udp
	assert_success
	assert_output --partial ": allow"
	run agrees 10.9.9.9 22 tcp # covering /8
	assert_success
	assert_output --partial ": deny"
	run agrees 10.9.9.9 22 udp # proto tcp only
	assert_success
	assert_output --partial ": allow"
	run agrees 10.9.9.9 5353 udp # any
	assert_success
	assert_output --partial ": deny"
	run agrees 10.1.2.4 1005 tcp # in a port set
	assert_success
	assert_output --partial ": deny"
	run agrees 10.1.2.4 1010 tcp
	assert_success
	assert_output --partial ": allow"
	run agrees 10.1.2.4 443 udp # a bind rule does not deny egress
	assert_success
	assert_output --partial ": allow"
}

@test "every rule that holds is named, host first, then covering prefixes down to any" {
	run nm deny test 10.1.2.3 port 22 proto tcp
	assert_success
	assert_output "denied by 2 rules
  10.1.2.3 port 1-100
  10.0.0.0/8 port 22 proto tcp"
	run nm deny test 10.1.2.4 port 1003
	assert_output "denied by 1 rule
  10.1.2.4 port 1003 proto tcp"
	run nm deny test 10.1.2.4 dir bind # no port: every port
	assert_output "denied by 1 rule
  10.1.2.4 port 443 dir bind"
	run nm deny test ::ffff:10.9.9.9 port 5353 proto udp # v4-mapped is IPv4
	assert_output "denied by 1 rule
  any port 5353 proto udp"
	run nm deny test 10.1.2.3 port 101
	assert_output "allowed: no rule holds"
}

@test "-j: verdict, enforcement, mode, the addresses checked and the rules" {
	run nm -j deny test 0.0.0.0 port 80 proto tcp
	assert_success
	[ "$(jq -c '[.verdict, .enforced, .mode, .checked]' <<<"$output")" = '["deny",true,"enforce",["0.0.0.0","127.0.0.1"]]' ]
	[ "$(jq -r '.rules[0].rule' <<<"$output")" = "127.0.0.1 port 80" ]
	probe_expect EPERM --cgroup "$CG" --serve-at 127.0.0.1 connect tcp 0.0.0.0 80
	nm mode audit >/dev/null
	[ "$(nm -j deny test 10.1.2.3 port 7 | jq -r .verdict)" = audit ]
	run nm deny test 10.1.2.3 port 7
	assert_output --partial "audited (mode audit: allowed, and an event) by 1 rule"
	nm mode enforce >/dev/null
	nm deny add 10.9.9.9 port 7 dir ingress >/dev/null 2>&1 # the cgroup layer has no ingress hook
	run nm -j deny test 10.9.9.9 port 7 dir ingress
	[ "$(jq -c '[.verdict, .enforced, .rules[0].enforced]' <<<"$output")" = '["deny",false,false]' ]
	run nm deny test 10.9.9.9 port 7 dir ingress
	assert_output --partial "but not enforced: dir ingress needs the LSM layer"
}

@test "deny test takes one operation: a prefix, any, a list, a range or a comment is a usage error" {
	local q
	for q in "10.1.2.0/24" "any port 22" "10.1.2.3 port 22,23" "10.1.2.3 port 20-30" "10.1.2.3 port 0-65535,80" "10.1.2.3 port 22 comment x"; do
		# shellcheck disable=SC2086 # the words of the query
		run nm deny test $q
		assert_failure 2
		[ "${#lines[@]}" -eq 1 ] || { echo "$q: $output" >&2; return 1; }
		[[ $output == "netmonctl: deny test: "* ]]
	done
}

@test "status counts the rules no attached layer enforces, as the layers come and go" {
	[ "$(nm -j status | jq .unenforced)" = 0 ] # egress and bind: the cgroup layer has both
	nm deny add 10.9.9.9 port 7,8 dir ingress >/dev/null 2>&1
	[ "$(nm -j status | jq .unenforced)" = 2 ]
	run nm status
	assert_output --partial "rules: 16 (7 prefixes, 2 not enforced by the attached layers, 0 for TCP and UDP only)"
	nm detach cgroup "$CG" >/dev/null
	[ "$(nm -j status | jq .unenforced)" = 16 ]
	nm attach cgroup "$CG" >/dev/null
	nm deny del 10.9.9.9 port 7 dir ingress >/dev/null
	[ "$(nm -j status | jq .unenforced)" = 1 ]
	nm deny list | grep -v ingress | nm deny replace file - >/dev/null
	[ "$(nm -j status | jq '[.rules, .unenforced]' -c)" = "[14,0]" ]
}
