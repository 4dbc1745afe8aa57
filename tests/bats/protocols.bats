#!/usr/bin/env bats
# Protocol classes on the cgroup layer (this host's kernel, a scratch
# cgroup): a rule with no port holds for every protocol a hook sees; the
# cgroup layer sees ping connects but no raw socket and no unconnected ping
# send, which it says (warning, deny list -j, status); sock_create refuses
# ping, raw and SCTP sockets where an egress rule with no port covers every
# address. The probes make their own netns (--newnet: loopback up, ping
# sockets open to every group there), so 127.0.0.x is local and allowed
# operations print OK. The LSM layer's side is in enforce_lsm.bats (VMs).

load helpers

setup_file() {
	nm_file_setup
	# ping sockets for every group in this file's own netns (not the host's)
	ip netns exec "$NM_NETNS" sysctl -qw net.ipv4.ping_group_range="0 2147483647"
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

# WANT OP PROTO ADDR: the probe in the cgroup, in a netns of its own.
in_cg() { probe_expect "$1" --cgroup "$CG" --newnet "$2" "$3" "$4" 0; }

@test "proto: every class by name or number, printed canonically; bad ones change nothing" {
	nm deny add 127.0.0.3 proto icmp 2>/dev/null
	nm deny add ::3 proto icmp 2>/dev/null
	nm deny add 127.0.0.4 proto 58 2>/dev/null
	nm deny add 127.0.0.5 proto 132 2>/dev/null
	nm deny add any proto raw
	nm deny add 127.0.0.6 proto 17 port 53
	diff <(nm deny list | sort) <(printf '%s\n' '127.0.0.3 proto icmp' '127.0.0.4 proto icmp' \
		'127.0.0.5 proto sctp' '127.0.0.6 port 53 proto udp' '::3 proto icmpv6' 'any proto raw' | sort)
	local before
	before=$(nm deny list)
	for bad in "127.0.0.9 port 80 proto icmp" "127.0.0.9 proto raw port ssh" "127.0.0.9 proto 47" \
		"127.0.0.9 proto mptcp" "127.0.0.9 proto udplite" "127.0.0.9 proto 300" "127.0.0.9 proto ic"; do
		# shellcheck disable=SC2086
		run nm deny add $bad
		assert_failure 2
		[ "${#lines[@]}" -eq 1 ]
		[[ ${lines[0]} == "netmonctl: deny add: "* ]]
	done
	run nm deny add 127.0.0.9 proto 47
	assert_output "netmonctl: deny add: proto 47: no hook tells this protocol apart; use proto raw (raw sockets) or proto any"
	run nm deny add 127.0.0.9 port 80 proto icmp
	assert_output "netmonctl: deny add: port 80: proto icmp has no ports; a rule on it has no port"
	[ "$(nm deny list)" = "$before" ]
	# the listing reads back as the same set
	nm deny list >"$BATS_TEST_TMPDIR/set"
	nm deny replace file "$BATS_TEST_TMPDIR/set" >/dev/null 2>&1
	[ "$(nm deny list)" = "$before" ]
	[ "$(nm -j deny list | jq -r 'select(.addr == "::3") | .proto')" = icmpv6 ]
}

@test "a rule with no port: ping connects denied; what the cgroup layer cannot see is said, not hidden" {
	in_cg OK connect icmp 127.0.0.3
	run nm deny add 127.0.0.3
	assert_success
	assert_output --partial "netmonctl: deny add: warning: 1 rule is enforced for TCP and UDP only: the cgroup layer sees no raw socket and no unconnected ping send"
	in_cg EPERM connect icmp 127.0.0.3
	in_cg OK connect icmp 127.0.0.4
	# Measured on this kernel, and why the warning exists: no cgroup hook
	# sees these. If this starts failing, the kernel grew a hook: say so.
	in_cg OK sendto icmp 127.0.0.3
	in_cg OK sendto raw 127.0.0.3
	run nm -j deny list
	jq -se 'map(select(.rule == "127.0.0.3")) | length == 1 and .[0].enforced == false and
		.[0].unenforced_protocols == ["sctp","icmp","raw","other"]' <<<"$output"
	[ "$(nm -j status | jq .partly_enforced)" = 1 ]
	[ "$(nm -j status | jq .unenforced)" = 0 ]
	run nm deny test 127.0.0.3 proto icmp
	assert_output --partial "but not enforced for every protocol"
	run nm -j deny test 127.0.0.3 proto tcp port 80
	jq -e '.verdict == "deny" and .enforced == true' <<<"$output"
	run nm -j deny add 127.0.0.4
	jq -e '.partly_enforced == 1 and .unenforced == 0' <<<"$output"
	[ "$(nm -j status | jq .partly_enforced)" = 2 ]
	nm deny del 127.0.0.3 >/dev/null
	[ "$(nm -j status | jq .partly_enforced)" = 1 ]
	in_cg OK connect icmp 127.0.0.3
}

@test "port rules and proto tcp|udp do not cover ping; proto icmp does not cover TCP" {
	nm deny add 127.0.0.3 port 1-65535 >/dev/null
	nm deny add 127.0.0.3 proto tcp >/dev/null
	in_cg OK connect icmp 127.0.0.3
	probe_expect EPERM --cgroup "$CG" --newnet connect udp 127.0.0.3 9
	nm deny add 127.0.0.5 proto icmp >/dev/null 2>&1
	in_cg EPERM connect icmp 127.0.0.5
	probe_expect OK --cgroup "$CG" --newnet --serve connect tcp 127.0.0.5 9
	[ "$(nm -j deny test 127.0.0.5 proto tcp | jq -r .verdict)" = allow ]
	[ "$(nm -j deny test 127.0.0.5 proto icmp | jq -r .verdict)" = deny ]
	[ "$(nm -j deny test 127.0.0.3 proto icmp | jq -r .verdict)" = allow ]
}

@test "sock_create: a rule with no port on every address refuses those sockets in the cgroup only" {
	in_cg OK socket raw 127.0.0.1
	in_cg OK socket icmp 127.0.0.1
	run nm -j deny add any proto raw
	jq -e '.partly_enforced == 0' <<<"$output"
	in_cg EPERM socket raw 127.0.0.1
	in_cg EPERM socket raw ::1
	in_cg OK socket icmp 127.0.0.1
	probe_expect OK --newnet socket raw 127.0.0.1 0 # outside the cgroup
	probe_expect OK --cgroup "$CG" --newnet socket udp 127.0.0.1 0
	nm deny add 0.0.0.0/0 proto icmp >/dev/null
	in_cg EPERM socket icmp 127.0.0.1
	in_cg OK socket icmp ::1 # an IPv4 rule
	[ "$(nm -j status | jq .partly_enforced)" = 0 ]
	nm deny flush >/dev/null
	nm deny add any >/dev/null # every protocol, every address
	in_cg EPERM socket icmp ::1
	in_cg EPERM socket raw ::1
	probe_expect OK --cgroup "$CG" --newnet socket tcp 127.0.0.1 0 # checked at connect instead
	# a rule with a port, or in another direction, refuses no socket
	nm deny flush >/dev/null
	nm deny add any port 80 >/dev/null
	nm deny add any dir bind >/dev/null 2>&1
	in_cg OK socket raw 127.0.0.1
	in_cg OK socket icmp 127.0.0.1
}

@test "sock_create: audit mode allows and reports; the event names the hook and the rule" {
	nm deny add any proto raw >/dev/null
	nm mode audit >/dev/null
	in_cg OK socket raw 127.0.0.1
	run nm -j events count 1 timeout 3 hook socket verdict audit # earlier tests left denies in the ring
	assert_success
	jq -e '.hook == "sock_create" and .verdict == "audit" and .rule == "any proto raw"' <<<"$output"
	nm mode enforce >/dev/null
	in_cg EPERM socket raw 127.0.0.1
	[ "$(nm -j status | jq '.programs[] | select(.name == "sock_create") | .counters.denied')" -ge 1 ]
}

@test "a port set with a rule with no port: the set's id carries its classes" {
	nm deny add 127.0.0.3 port 1,2,3,4,5,6,7,8,9 >/dev/null
	nm deny add 127.0.0.3 proto icmp >/dev/null 2>&1
	in_cg EPERM connect icmp 127.0.0.3
	probe_expect EPERM --cgroup "$CG" --newnet connect udp 127.0.0.3 9
	probe_expect OK --cgroup "$CG" --newnet connect udp 127.0.0.3 10
	nm deny del 127.0.0.3 proto icmp >/dev/null
	in_cg OK connect icmp 127.0.0.3
	probe_expect EPERM --cgroup "$CG" --newnet connect udp 127.0.0.3 9
	[ "$(nm -j status | jq .partly_enforced)" = 0 ]
	nm deny add 127.0.0.3 >/dev/null 2>&1 # any protocol, into the set
	in_cg EPERM connect icmp 127.0.0.3
	probe_expect EPERM --cgroup "$CG" --newnet connect udp 127.0.0.3 10
	[ "$(nm -j status | jq .partly_enforced)" = 1 ]
}

@test "bypass vectors: an unprivileged user's ping, a child cgroup, the any-address" {
	local child
	nm deny add 127.0.0.3 >/dev/null 2>&1
	nm deny add 127.0.0.1 >/dev/null 2>&1
	# uid 65534 in the cgroup, in this file's netns where 127.0.0.0/8 is local
	probe_expect OK --cgroup "$CG" --user 65534 connect icmp 127.0.0.4 0
	probe_expect EPERM --cgroup "$CG" --user 65534 connect icmp 127.0.0.3 0
	# a ping connect to the any-address goes to loopback: checked as 127.0.0.1
	probe_expect EPERM --cgroup "$CG" connect icmp 0.0.0.0 0
	nm_cgroup_create child "$CG"
	probe_expect EPERM --cgroup "$child" --user 65534 connect icmp 127.0.0.3 0
	nm deny add any proto raw >/dev/null
	nm deny add any proto icmp >/dev/null
	probe_expect EPERM --cgroup "$child" socket raw 127.0.0.1 0
	probe_expect EPERM --cgroup "$child" --user 65534 socket icmp 127.0.0.1 0
	probe_expect EPERM --cgroup "$child" --user 65534 socket icmp ::1 0
	probe_expect OK --user 65534 socket icmp 127.0.0.1 0 # outside the cgroup
}
