#!/usr/bin/env bats
# LSM layer (`attach lsm`, system-wide): socket_connect, bind, listen, accept,
# sendmsg and recvmsg. Rules are system-wide while attached, so they only name
# documentation addresses (192.0.2.0/24, 2001:db8::/32), local in a private
# netns (host) or added to lo (VM, NM_IN_VM=1). Where the kernel refuses
# BPF-LSM programs, every test skips with netmonctl's reason.
ADDRS=(192.0.2.1/32 192.0.2.2/32 192.0.2.3/32 2001:db8::1/128 2001:db8::2/128 2001:db8::3/128)

load helpers

setup_file() {
	nm_file_setup "${ADDRS[@]}"
	NM_LSM_SKIP=
	nm_lsm_loadable || NM_LSM_SKIP=$NM_LSM_WHY
	export NM_LSM_SKIP
}

teardown_file() {
	nm_file_teardown
}

setup() {
	[ -z "$NM_LSM_SKIP" ] || skip "$NM_LSM_SKIP"
	nm attach lsm
	LSM_ATTACHED=1
}

teardown() {
	local rc=0
	nm_kill_started
	if [ -n "${LSM_ATTACHED:-}" ]; then
		nm detach lsm >/dev/null || rc=1
	fi
	[ -n "$NM_LSM_SKIP" ] && return 0
	nm deny flush >/dev/null || rc=1
	nm allow flush >/dev/null || rc=1
	nm policy default allow >/dev/null || rc=1
	nm mode enforce >/dev/null || rc=1
	local path # scopes a failed test left, then its cgroups
	while read -r path; do
		[ -z "$path" ] || nm policy del cgroup "$path" >/dev/null || rc=1
	done < <(nm -j policy list | jq -r '.scopes[] | .cgroup // empty')
	nm_cgroups_destroy || rc=1
	return $rc
}

@test "connect: an egress rule denies TCP and UDP connect, v4, v6, v4-mapped" {
	nm deny add 192.0.2.1 port 7000
	nm deny add 2001:db8::1 port 7000
	probe_expect EPERM --serve connect tcp 192.0.2.1 7000
	probe_expect EPERM connect udp 192.0.2.1 7000
	probe_expect EPERM --serve connect tcp 2001:db8::1 7000
	probe_expect EPERM --serve connect tcp ::ffff:192.0.2.1 7000
	probe_expect OK --serve connect tcp 192.0.2.1 7001
	probe_expect OK --serve connect tcp 192.0.2.2 7000
	probe_expect OK --serve connect tcp 2001:db8::2 7000
}

@test "bind: dir bind denies binding that local address and port" {
	nm deny add 192.0.2.1 port 7000 dir bind
	nm deny add 2001:db8::1 port 7000 dir bind
	probe_expect EPERM bind tcp 192.0.2.1 7000
	probe_expect EPERM bind udp 192.0.2.1 7000
	probe_expect EPERM bind tcp 2001:db8::1 7000
	probe_expect OK bind tcp 192.0.2.1 7001
	probe_expect OK bind tcp 192.0.2.2 7000
}

@test "bind and egress rules do not mix" {
	nm deny add 192.0.2.1 port 7000 dir bind
	nm deny add 192.0.2.2 port 7000
	probe_expect OK connect udp 192.0.2.1 7000
	probe_expect OK bind tcp 192.0.2.2 7000
	probe_expect EPERM connect udp 192.0.2.2 7000
}

# The rule is added at the probe's sync point: after bind, before listen.
deny_bind_7000() { nm deny add 192.0.2.1 port 7000 proto tcp dir bind; }
deny_bind_7000_v6() { nm deny add 2001:db8::1 port 7000 proto tcp dir bind; }

@test "listen: dir bind denies listen on an already bound socket" {
	probe_expect_sync EPERM deny_bind_7000 listen tcp 192.0.2.1 7000
	probe_expect_sync EPERM deny_bind_7000_v6 listen tcp 2001:db8::1 7000
	probe_expect OK listen tcp 192.0.2.1 7001
}

# Added after the listener is up and a client has connected, before accept().
deny_bind_7002() { nm deny add 192.0.2.1 port 7002 dir bind; }

@test "accept: dir bind on the listener's local address denies accept" {
	probe_expect_sync EPERM deny_bind_7002 accept tcp 192.0.2.1 7002 from 192.0.2.3
	probe_expect OK accept tcp 192.0.2.1 7003 from 192.0.2.3
	probe_expect OK accept tcp 2001:db8::1 7002 from 2001:db8::3
}

@test "sendmsg: unconnected UDP with a destination name" {
	nm deny add 192.0.2.1 port 5353 proto udp
	nm deny add 2001:db8::1 port 5353 proto udp
	probe_expect EPERM sendto udp 192.0.2.1 5353
	probe_expect EPERM sendmsg udp 192.0.2.1 5353
	probe_expect EPERM sendmsg udp 2001:db8::1 5353
	probe_expect EPERM sendto udp ::ffff:192.0.2.1 5353
	probe_expect OK sendto udp 192.0.2.1 5354
	probe_expect OK sendmsg udp 2001:db8::2 5353
}

# Added after connect(), before send(): only the sendmsg hook can deny it.
deny_egress_5353() { nm deny add 192.0.2.1 port 5353 proto udp; }
deny_egress_5353_v6() { nm deny add 2001:db8::1 port 5353 proto udp; }

@test "sendmsg: connected UDP, the peer is checked" {
	probe_expect_sync EPERM deny_egress_5353 send-connected udp 192.0.2.1 5353
	probe_expect_sync EPERM deny_egress_5353_v6 send-connected udp 2001:db8::1 5353
	probe_expect OK send-connected udp 192.0.2.1 5354
}

@test "recvmsg: dir ingress denies recv on a socket whose peer is denied" {
	nm deny add 192.0.2.2 dir ingress
	nm deny add 2001:db8::2 dir ingress
	probe_expect EPERM recv tcp 192.0.2.1 7004 from 192.0.2.2
	probe_expect EPERM recv tcp 2001:db8::1 7004 from 2001:db8::2
	probe_expect OK recv tcp 192.0.2.1 7005 from 192.0.2.3
	probe_expect OK recv tcp 2001:db8::1 7005 from 2001:db8::3
}

@test "port sets: more than 7 port rules on a prefix hold at connect, sendmsg and bind, each and no other" {
	nm deny add 192.0.2.1 port 7001,7002,7003,7004,7005,7006,7007,7008,7009 proto tcp
	nm deny add 2001:db8::1 port 7100-7109,7200,7300,7400,7500,7600,7700,7800
	nm deny add 192.0.2.3 port 7001,7002,7003,7004,7005,7006,7007,7008 dir bind
	probe_expect EPERM --serve connect tcp 192.0.2.1 7005
	probe_expect EPERM --serve connect tcp 192.0.2.1 7009
	probe_expect OK --serve connect tcp 192.0.2.1 7010
	probe_expect OK connect udp 192.0.2.1 7005 # proto tcp
	probe_expect EPERM --serve connect tcp 2001:db8::1 7105
	probe_expect EPERM sendto udp 2001:db8::1 7800
	probe_expect OK --serve connect tcp 2001:db8::1 7110
	probe_expect EPERM bind tcp 192.0.2.3 7008
	probe_expect OK bind tcp 192.0.2.3 7009
}

# Ping probes make a netns of their own (--newnet: ping sockets open to
# every group there, as the VM's root has none by default), where the
# documentation addresses have no route: allowed is ENETUNREACH, a deny
# comes before routing. Raw probes run where the addresses are local.
@test "a rule with no port denies ping and raw sends and connects, v4 and v6; a rule with a port does not" {
	probe_expect ENETUNREACH --newnet sendto icmp 192.0.2.1 0
	probe_expect OK sendto raw 192.0.2.1 0
	nm deny add 192.0.2.1 port 80
	probe_expect ENETUNREACH --newnet sendto icmp 192.0.2.1 0
	probe_expect OK sendto raw 192.0.2.1 0
	nm deny add 192.0.2.1
	nm deny add 2001:db8::1
	probe_expect EPERM --newnet sendto icmp 192.0.2.1 0
	probe_expect EPERM --newnet connect icmp 192.0.2.1 0
	probe_expect EPERM sendto raw 192.0.2.1 0
	probe_expect EPERM connect raw 192.0.2.1 0
	probe_expect EPERM --newnet sendto icmp 2001:db8::1 0
	probe_expect EPERM sendto raw 2001:db8::1 0
	probe_expect OK sendto raw 192.0.2.2 0
	# the LSM layer sees them all: nothing is partly enforced
	[ "$(nm -j status | jq .partly_enforced)" = 0 ]
	nm -j deny list | jq -se 'map(select(.rule == "192.0.2.1")) | length == 1 and .[0].enforced == true'
	[ "$(nm -j deny test 192.0.2.1 proto raw | jq -c '[.verdict, .enforced]')" = '["deny",true]' ]
}

@test "a connected raw socket naming another address: the named one is checked, TCP's protocol number too" {
	nm deny add 192.0.2.2
	nm deny add 2001:db8::2
	probe_expect OK send-named rawtcp 192.0.2.3 0 from 192.0.2.1
	# a raw socket sends to msg_name even when connected: unlike a TCP
	# socket's, it must not be skipped for the peer (192.0.2.1, allowed)
	probe_expect EPERM send-named rawtcp 192.0.2.2 0 from 192.0.2.1
	probe_expect EPERM send-named raw 192.0.2.2 0 from 192.0.2.1
	probe_expect EPERM send-named raw 2001:db8::2 0 from 2001:db8::1
}

@test "proto icmp and proto raw each hold for their class only" {
	nm deny add 192.0.2.2 proto icmp
	nm deny add 192.0.2.3 proto raw
	probe_expect EPERM --newnet sendto icmp 192.0.2.2 0
	probe_expect OK sendto raw 192.0.2.2 0
	probe_expect OK --serve connect tcp 192.0.2.2 7000
	probe_expect EPERM sendto raw 192.0.2.3 0
	probe_expect ENETUNREACH --newnet sendto icmp 192.0.2.3 0
	probe_expect OK sendto udp 192.0.2.3 5353
}

@test "global allow rules and the global default: exceptions inside the global scope, on the LSM layer" {
	nm deny add 192.0.2.0/24 port 7000
	nm allow add 192.0.2.2 port 7000
	probe_expect EPERM --serve connect tcp 192.0.2.1 7000
	probe_expect OK --serve connect tcp 192.0.2.2 7000
	probe_expect EPERM connect udp 192.0.2.3 7000
	# a default deny for bind: only what an allow rule names may be bound
	nm allow add 192.0.2.3 port 7100-7199 dir bind
	nm policy default deny dir bind
	run "$NMPROBE" bind tcp 192.0.2.3 7150
	local allowed=$output
	run "$NMPROBE" bind udp 192.0.2.1 7150
	local denied=$output
	nm policy default allow
	[ "$allowed" = OK ] && [ "$denied" = EPERM ] || { echo "bind under default deny: allowed '$allowed', denied '$denied'" >&2; false; }
	nm allow flush
}

# Scopes on the LSM layer: the task's cgroup decides. Raw sends and
# ingress are what only this layer sees, so they show it is this layer.
# Kernels without bpf_loop (5.10) load the LSM hooks that check the
# global scope only: there the same rules must be reported as not (fully)
# enforced, and are not.
@test "scopes on the LSM layer: the task's cgroup, every scope on its path, a move takes effect at once" {
	local sb kid
	nm_cgroup_create sb
	nm_cgroup_create kid "$sb"
	nm deny add 192.0.2.2 cgroup "$sb"
	nm deny add 192.0.2.3 dir ingress cgroup "$kid"
	if [ "$(nm -j status | jq .lsm_scopes)" = false ]; then
		echo "# $(uname -r): no bpf_loop, the LSM layer checks the global scope only: checking that it says so" >&3
		[ "$(nm -j status | jq -c '[.partly_enforced, .unenforced]')" = "[1,1]" ]
		nm -j status | jq -e '.limits | map(select(startswith("the LSM layer checks the global scope only"))) | length == 1'
		nm -j deny list cgroup "$sb" | jq -se '.[0].enforced == false'
		probe_expect OK --cgroup "$sb" sendto raw 192.0.2.2 0 # as reported: not enforced
		nm policy del cgroup "$kid"
		nm policy del cgroup "$sb"
		return 0
	fi
	[ "$(nm -j status | jq -c '[.partly_enforced, .unenforced]')" = "[0,0]" ]
	probe_expect EPERM --cgroup "$sb" sendto raw 192.0.2.2 0
	probe_expect EPERM --cgroup "$kid" sendto raw 192.0.2.2 0
	probe_expect OK sendto raw 192.0.2.2 0
	probe_expect OK --cgroup "$sb" sendto raw 192.0.2.3 0
	# the any-address goes to loopback, in a scope as in the global one
	nm deny add 127.0.0.1 port 7300 cgroup "$sb"
	probe_expect EPERM --cgroup "$kid" connect tcp 0.0.0.0 7300
	probe_expect ECONNREFUSED connect tcp 0.0.0.0 7300
	# a default deny scope with an allow rule (UDP: in a default-deny scope
	# the cgroup layer refuses raw sockets at creation, sock_create)
	nm policy default deny cgroup "$kid"
	nm allow add 192.0.2.1 cgroup "$kid"
	probe_expect OK --cgroup "$kid" sendto udp 192.0.2.1 5353
	probe_expect EPERM --cgroup "$kid" sendto udp 192.0.2.3 5353
	probe_expect EPERM --cgroup "$kid" socket raw 192.0.2.1 0
	probe_expect OK --cgroup "$sb" sendto udp 192.0.2.3 5353
	# a task that moves into the scope is held by it from its next operation
	# the probe waiting at its sync point is the last process started (no pgrep in the VMs)
	move_into_sb() { echo "${NM_PIDS[-1]}" >"$sb/cgroup.procs"; }
	probe_expect_sync EPERM move_into_sb sendto raw 192.0.2.2 0
	nm policy del cgroup "$kid"
	nm policy del cgroup "$sb"
	probe_expect OK --cgroup "$kid" sendto raw 192.0.2.3 0
	[ "$(nm -j policy list | jq '.scopes | length')" = 1 ]
}

@test "an ingress rule does not deny egress to that address" {
	nm deny add 192.0.2.2 dir ingress
	probe_expect OK --serve connect tcp 192.0.2.2 7000
	probe_expect OK sendto udp 192.0.2.2 5353
}

@test "mode audit: LSM denies are allowed and counted" {
	local audited
	nm deny add 192.0.2.1 port 7000
	nm mode audit
	audited=$(nm_counter lsm_connect audited)
	probe_expect OK --serve connect tcp 192.0.2.1 7000
	assert_equal "$(nm_counter lsm_connect audited)" "$((audited + 1))"
	nm mode enforce
	probe_expect EPERM --serve connect tcp 192.0.2.1 7000
}

@test "detach lsm lifts enforcement" {
	nm deny add 192.0.2.1 port 7000 dir bind
	probe_expect EPERM bind tcp 192.0.2.1 7000
	nm detach lsm
	LSM_ATTACHED=
	probe_expect OK bind tcp 192.0.2.1 7000
}
