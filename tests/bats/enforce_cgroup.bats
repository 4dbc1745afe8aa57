#!/usr/bin/env bats
# cgroup layer: connect4/connect6/sendmsg4/sendmsg6 programs on a scratch
# cgroup. A probe that moves itself into the cgroup gets EPERM for denied
# destinations and OK for everything else. Traffic stays in a private netns
# (or on lo in the VM) where these addresses are local:
ADDRS=(10.1.2.3/32 10.1.3.3/32 10.9.9.9/32 2001:db8::1/128 2001:db9::1/128 fd00::5/128)

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

# The probe inside the attached cgroup: WANT then probe arguments.
in_cg() { probe_expect "$1" --cgroup "$CG" "${@:2}"; }
# TCP connect (a listener answers allowed ones) / unconnected UDP sendto.
tcp() { in_cg "$1" --serve connect tcp "$2" "$3"; }
udp() { in_cg "$1" sendto udp "$2" "$3"; }

@test "attached, no rules: everything is allowed" {
	tcp OK 10.1.2.3 80
	tcp OK 2001:db8::1 80
	udp OK 10.1.2.3 53
	udp OK fd00::5 53
}

@test "exact IPv4 address: TCP connect denied on every port, others allowed" {
	nm deny add 10.1.2.3
	tcp EPERM 10.1.2.3 80
	tcp EPERM 10.1.2.3 443
	tcp OK 10.1.3.3 80
	tcp OK 10.9.9.9 80
}

@test "exact IPv6 address: TCP connect denied, others allowed" {
	nm deny add fd00::5
	tcp EPERM fd00::5 80
	tcp OK 2001:db8::1 80
}

@test "IPv4 CIDR covers its addresses only" {
	nm deny add 10.1.2.0/24
	tcp EPERM 10.1.2.3 80
	udp EPERM 10.1.2.3 53
	tcp OK 10.1.3.3 80
	udp OK 10.1.3.3 53
}

@test "IPv6 CIDR covers its addresses only" {
	nm deny add 2001:db8::/32
	tcp EPERM 2001:db8::1 80
	udp EPERM 2001:db8::1 53
	tcp OK 2001:db9::1 80
	tcp OK fd00::5 80
}

@test "UDP sendto and sendmsg are denied, v4 and v6" {
	nm deny add 10.1.2.3 port 53
	nm deny add 2001:db8::1 port 53
	in_cg EPERM sendto udp 10.1.2.3 53
	in_cg EPERM sendmsg udp 10.1.2.3 53
	in_cg EPERM sendto udp 2001:db8::1 53
	in_cg EPERM sendmsg udp 2001:db8::1 53
	in_cg OK sendto udp 10.1.2.3 54
	in_cg OK sendmsg udp 2001:db8::1 54
	in_cg OK sendmsg udp 10.9.9.9 53
}

@test "UDP connect is denied by the connect hook" {
	nm deny add 10.1.2.3 port 53
	nm deny add fd00::5 port 53
	in_cg EPERM connect udp 10.1.2.3 53
	in_cg EPERM connect udp fd00::5 53
	in_cg EPERM send-connected udp 10.1.2.3 53
	in_cg OK send-connected udp 10.1.2.3 54
}

@test "single port: only that port is denied" {
	nm deny add 10.1.2.3 port 22
	tcp EPERM 10.1.2.3 22
	tcp OK 10.1.2.3 21
	tcp OK 10.1.2.3 23
}

@test "port range N-M: inclusive bounds" {
	nm deny add 10.1.2.3 port 8000-8010
	tcp OK 10.1.2.3 7999
	tcp EPERM 10.1.2.3 8000
	tcp EPERM 10.1.2.3 8005
	tcp EPERM 10.1.2.3 8010
	tcp OK 10.1.2.3 8011
	udp EPERM 10.1.2.3 8010
}

@test "proto tcp does not block udp" {
	nm deny add 10.1.2.3 port 53 proto tcp
	tcp EPERM 10.1.2.3 53
	udp OK 10.1.2.3 53
	in_cg OK connect udp 10.1.2.3 53
}

@test "proto udp does not block tcp" {
	nm deny add 2001:db8::1 port 53 proto udp
	udp EPERM 2001:db8::1 53
	in_cg EPERM connect udp 2001:db8::1 53
	tcp OK 2001:db8::1 53
}

@test "no proto (any) blocks tcp and udp" {
	nm deny add 10.1.2.3 port 53
	tcp EPERM 10.1.2.3 53
	udp EPERM 10.1.2.3 53
}

@test "overlapping prefixes: every covering rule applies" {
	nm deny add 10.0.0.0/8 port 22
	nm deny add 10.1.0.0/16 port 80
	tcp EPERM 10.1.2.3 22
	tcp EPERM 10.1.2.3 80
	tcp OK 10.1.2.3 23
	tcp EPERM 10.9.9.9 22
	tcp OK 10.9.9.9 80
}

@test "any with a port: both families" {
	nm deny add any port 4444
	tcp EPERM 10.1.2.3 4444
	tcp EPERM 2001:db8::1 4444
	udp EPERM 10.9.9.9 4444
	tcp OK 10.1.2.3 4445
	tcp OK 2001:db8::1 4445
}

@test "bare any: everything is denied, loopback included" {
	nm deny add any
	tcp EPERM 127.0.0.1 80
	tcp EPERM ::1 80
	tcp EPERM 10.1.2.3 80
	udp EPERM fd00::5 53
}

@test "v4-mapped IPv6: an AF_INET6 socket is subject to the IPv4 rule" {
	nm deny add 10.1.2.3 port 80
	tcp EPERM ::ffff:10.1.2.3 80
	udp EPERM ::ffff:10.1.2.3 80
	tcp OK ::ffff:10.1.2.3 81
	tcp OK ::ffff:10.9.9.9 80
}

@test "an IPv6 rule does not cover IPv4 (nor v4-mapped)" {
	nm deny add ::/0 port 80
	tcp EPERM 2001:db8::1 80
	tcp OK 10.1.2.3 80
	tcp OK ::ffff:10.1.2.3 80
}

@test "a child cgroup of the attached one is covered" {
	local child
	nm_cgroup_create child "$CG"
	nm deny add 10.1.2.3 port 80
	probe_expect EPERM --cgroup "$child" --serve connect tcp 10.1.2.3 80
	probe_expect EPERM --cgroup "$child" sendto udp 10.1.2.3 80
}

@test "processes outside the attached cgroup are untouched" {
	local other
	nm_cgroup_create other
	nm deny add 10.1.2.3 port 80
	tcp EPERM 10.1.2.3 80
	probe_expect OK --cgroup "$other" --serve connect tcp 10.1.2.3 80
	probe_expect OK --serve connect tcp 10.1.2.3 80 # the test's own cgroup
	probe_expect OK sendto udp 10.1.2.3 80
}

@test "deny del lifts the deny, other rules stay" {
	nm deny add 10.1.2.3 port 80
	nm deny add 10.1.2.3 port 81
	tcp EPERM 10.1.2.3 80
	nm deny del 10.1.2.3 port 80
	tcp OK 10.1.2.3 80
	tcp EPERM 10.1.2.3 81
}

@test "deny flush lifts every deny" {
	nm deny add 10.1.2.3
	nm deny add 2001:db8::/32
	nm deny flush
	tcp OK 10.1.2.3 80
	tcp OK 2001:db8::1 80
}

@test "mode audit allows but counts; enforce denies again" {
	local audited denied
	nm deny add 10.1.2.3 port 80
	nm mode audit
	run nm mode
	assert_success
	assert_output --partial audit
	audited=$(nm_counter connect4 audited)
	denied=$(nm_counter connect4 denied)

	tcp OK 10.1.2.3 80
	assert_equal "$(nm_counter connect4 audited)" "$((audited + 1))"
	assert_equal "$(nm_counter connect4 denied)" "$denied"

	nm mode enforce
	tcp EPERM 10.1.2.3 80
	assert_equal "$(nm_counter connect4 denied)" "$((denied + 1))"
	assert_equal "$(nm_counter connect4 audited)" "$((audited + 1))"
}

@test "denies are counted per hook" {
	local c4 s6
	nm deny add 10.1.2.3 port 80
	nm deny add fd00::5 port 53
	c4=$(nm_counter connect4 denied)
	s6=$(nm_counter sendmsg6 denied)
	tcp EPERM 10.1.2.3 80
	udp EPERM fd00::5 53
	assert_equal "$(nm_counter connect4 denied)" "$((c4 + 1))"
	assert_equal "$(nm_counter sendmsg6 denied)" "$((s6 + 1))"
}

@test "detach lifts enforcement" {
	nm deny add 10.1.2.3 port 80
	tcp EPERM 10.1.2.3 80
	nm detach cgroup "$CG"
	tcp OK 10.1.2.3 80
	udp OK 10.1.2.3 80
}

# ---- bind (bind4 / bind6): `dir bind` rules without the LSM layer ----

@test "dir bind: a bind inside the cgroup to a denied local address and port is EPERM, elsewhere not" {
	nm deny add 10.1.2.3 port 8081 dir bind >/dev/null
	nm deny add 2001:db8::1 port 8081 proto udp dir bind >/dev/null
	in_cg EPERM bind tcp 10.1.2.3 8081
	in_cg EPERM bind udp 10.1.2.3 8081
	in_cg OK bind tcp 10.1.2.3 8082
	in_cg OK bind tcp 10.1.3.3 8081
	in_cg EPERM bind udp 2001:db8::1 8081
	in_cg OK bind tcp 2001:db8::1 8081 # udp only
	# The listen a bind leads to never happens: the listen op binds first.
	in_cg EPERM listen tcp 10.1.2.3 8081
	# Unprivileged inside the cgroup: the same.
	in_cg EPERM --user 65534 bind tcp 10.1.2.3 8081
	# Outside the cgroup nothing is checked.
	probe_expect OK bind tcp 10.1.2.3 8081
	# A dir bind rule does not cover sends to that address and port (the
	# sender's implicit bind to a free port is not a bind(2) either).
	in_cg OK sendto udp 10.1.2.3 8081
}

@test "dir bind: the wildcard and any" {
	nm deny add 127.0.0.1 port 8083 dir bind >/dev/null
	# A wildcard bind also takes loopback traffic: checked against it.
	in_cg EPERM bind tcp 0.0.0.0 8083
	in_cg EPERM bind tcp :: 8083
	in_cg OK bind tcp 0.0.0.0 8084
	nm deny add any port 8085 dir bind >/dev/null
	in_cg EPERM bind tcp 10.1.2.3 8085
	in_cg EPERM bind udp fd00::5 8085
	in_cg EPERM bind tcp 0.0.0.0 8085
	run nm -j events count 1 timeout 3 hook bind port 8085
	assert_success
	jq -e '.hook == "bind4" and .dir == "bind" and .rule == "any port 8085 dir bind"' <<<"$output"
}

@test "dir bind: a v4-mapped address on an IPv6 socket, and a child cgroup" {
	local child
	nm deny add 10.1.2.3 port 8086 dir bind >/dev/null
	in_cg EPERM bind tcp ::ffff:10.1.2.3 8086
	in_cg EPERM bind udp ::ffff:10.1.2.3 8086
	nm_cgroup_create child "$CG"
	probe_expect EPERM --cgroup "$child" bind tcp 10.1.2.3 8086
	probe_expect EPERM --cgroup "$child" --user 65534 bind tcp ::ffff:10.1.2.3 8086
	probe_expect OK --cgroup "$child" bind tcp 10.1.2.3 8087
}
