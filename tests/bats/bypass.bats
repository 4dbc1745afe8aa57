#!/usr/bin/env bats
# Bypass vectors: every way found to reach a denied address:port other than
# a plain connect()/sendto() to it. Each vector runs on both layers: the
# cgroup layer (a scratch cgroup, here and in the VMs) and the LSM layer
# (system-wide; where the kernel refuses BPF-LSM, those tests skip with
# netmonctl's reason and the kernel matrix runs them in the VMs). Every
# vector is tried as root and as an unprivileged user (uid 65534).
#
# Rules name 127.0.0.1/::1 (the any-address lands there) and 10.1.2.3 on a
# port nothing else uses; the traffic stays in a private netns (host) or on
# lo (VM). A control next to each denial shows that the probe itself works.
ADDRS=(10.1.2.3/32 10.9.9.9/32 fe80::1/64)
PORT=47801  # denied
OPEN=47802  # never denied: controls
NOBODY=65534

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
	LAYER=
	nm_cgroup_create CG
}

teardown() {
	local rc=0
	nm_kill_started
	case $LAYER in
	cgroup) nm detach cgroup "$CG" >/dev/null || rc=1 ;;
	lsm) nm detach lsm >/dev/null || rc=1 ;;
	esac
	nm deny flush >/dev/null || rc=1
	nm allow flush >/dev/null || rc=1
	nm_cgroups_destroy || rc=1
	return $rc
}

# layer cgroup|lsm: enforce through that layer only. The probe always runs
# in the scratch cgroup; for `lsm` that cgroup has nothing attached.
layer() {
	LAYER=$1
	if [ "$1" = lsm ]; then
		[ -z "$NM_LSM_SKIP" ] || { LAYER=; skip "$NM_LSM_SKIP"; }
		nm attach lsm
	else
		nm attach cgroup "$CG"
	fi
}

# p WANT PROBE-ARGS...: the probe in the scratch cgroup, as root.
p() { probe_expect "$1" --cgroup "$CG" "${@:2}"; }
# u WANT PROBE-ARGS...: the same as the unprivileged user.
u() { probe_expect "$1" --cgroup "$CG" --user "$NOBODY" "${@:2}"; }
# both WANT PROBE-ARGS...: as root and as the unprivileged user.
both() { p "$@" && u "$@"; }

deny_loopback() {
	nm deny add 127.0.0.1 port "$PORT" >/dev/null
	nm deny add ::1 port "$PORT" >/dev/null
}

# ---- the any-address: the kernel sends it to loopback or the bound source ----

any_tcp() {
	layer "$1"
	deny_loopback
	both OK --serve-at 127.0.0.1 connect tcp 0.0.0.0 "$OPEN"
	both EPERM --serve-at 127.0.0.1 connect tcp 0.0.0.0 "$PORT"
	both EPERM --serve-at ::1 connect tcp :: "$PORT"
	both EPERM --serve-at 127.0.0.1 connect tcp ::ffff:0.0.0.0 "$PORT"
	both EPERM --serve-at 127.0.0.1 connect tcp 127.0.0.1 "$PORT"
}
@test "cgroup: TCP connect to 0.0.0.0, [::], ::ffff:0.0.0.0 is checked as loopback" { any_tcp cgroup; }
@test "lsm: TCP connect to 0.0.0.0, [::], ::ffff:0.0.0.0 is checked as loopback" { any_tcp lsm; }

any_udp() {
	layer "$1"
	deny_loopback
	# --serve-at: OK only when the datagram reached the receiver.
	both OK --serve-at 127.0.0.1 sendto udp 0.0.0.0 "$OPEN"
	both OK --serve-at ::1 sendto udp :: "$OPEN"
	both EPERM --serve-at 127.0.0.1 sendto udp 0.0.0.0 "$PORT"
	both EPERM --serve-at ::1 sendto udp :: "$PORT"
	both EPERM --serve-at 127.0.0.1 sendto udp ::ffff:0.0.0.0 "$PORT"
	both EPERM --serve-at 127.0.0.1 sendmsg udp 0.0.0.0 "$PORT"
	both EPERM connect udp 0.0.0.0 "$PORT"
	both EPERM connect udp :: "$PORT"
}
@test "cgroup: UDP sendto/sendmsg/connect to the any-address is checked as loopback" { any_udp cgroup; }
@test "lsm: UDP sendto/sendmsg/connect to the any-address is checked as loopback" { any_udp lsm; }

any_bound() {
	layer "$1"
	nm deny add 10.1.2.3 port "$PORT" >/dev/null
	# Unbound: 0.0.0.0 goes to 127.0.0.1, which no rule covers.
	both OK --serve-at 0.0.0.0 connect tcp 0.0.0.0 "$PORT"
	# Bound to 10.1.2.3: 0.0.0.0 goes to 10.1.2.3, which is denied.
	both EPERM --serve-at 0.0.0.0 connect tcp 0.0.0.0 "$PORT" from 10.1.2.3
	both EPERM --serve-at 0.0.0.0 sendto udp 0.0.0.0 "$PORT" from 10.1.2.3
	both EPERM --serve-at 0.0.0.0 sendto udp ::ffff:0.0.0.0 "$PORT" from ::ffff:10.1.2.3
	both OK --serve-at 0.0.0.0 connect tcp 0.0.0.0 "$OPEN" from 10.1.2.3
}
@test "cgroup: the any-address from a bound socket is checked as the bound address" { any_bound cgroup; }
@test "lsm: the any-address from a bound socket is checked as the bound address" { any_bound lsm; }

any_pktinfo() {
	layer "$1"
	nm deny add 10.1.2.3 port "$PORT" >/dev/null
	# IP_PKTINFO names the source, and with it where 0.0.0.0 goes. The LSM
	# hook runs before the kernel reads it and fails closed; the cgroup
	# hook sees the source the kernel will use.
	both EPERM --serve-at 0.0.0.0 sendmsg-pktinfo udp 0.0.0.0 "$PORT" from 10.1.2.3
	# Not knowing where it goes is no reason to allow it: an allow rule
	# elsewhere (a list the check must read) leaves it denied.
	nm allow add 10.9.9.9 port 1 >/dev/null
	both EPERM --serve-at 0.0.0.0 sendmsg-pktinfo udp 0.0.0.0 "$PORT" from 10.1.2.3
	nm allow flush >/dev/null
	if [ "$1" = cgroup ]; then
		both OK --serve-at 0.0.0.0 sendmsg-pktinfo udp 0.0.0.0 "$PORT" from 127.0.0.1
	fi
	nm deny flush >/dev/null
	both OK --serve-at 0.0.0.0 sendmsg-pktinfo udp 0.0.0.0 "$PORT" from 10.1.2.3
}
@test "cgroup: UDP to 0.0.0.0 with an IP_PKTINFO source is checked as that source" { any_pktinfo cgroup; }
@test "lsm: UDP to 0.0.0.0 with an IP_PKTINFO source fails closed while rules exist" { any_pktinfo lsm; }

any_control() {
	layer "$1"
	nm deny add 10.9.9.9 port "$PORT" >/dev/null
	nm deny add 10.1.2.3 port "$PORT" >/dev/null
	both OK --serve-at 127.0.0.1 connect tcp 0.0.0.0 "$PORT"
	both OK --serve-at ::1 connect tcp :: "$PORT"
	both OK --serve-at 127.0.0.1 sendto udp 0.0.0.0 "$PORT"
}
@test "cgroup: rules on other hosts do not deny the any-address" { any_control cgroup; }
@test "lsm: rules on other hosts do not deny the any-address" { any_control lsm; }

# ---- other ways into a connect or a send ----

fastopen() {
	layer "$1"
	deny_loopback
	both OK --serve fastopen tcp 127.0.0.1 "$OPEN"
	both EPERM --serve fastopen tcp 127.0.0.1 "$PORT"
	both EPERM --serve fastopen tcp ::1 "$PORT"
	both EPERM --serve-at 127.0.0.1 fastopen tcp 0.0.0.0 "$PORT"
}
@test "cgroup: TCP Fast Open (sendto MSG_FASTOPEN) is a connect" { fastopen cgroup; }
@test "lsm: TCP Fast Open (sendto MSG_FASTOPEN) is a connect" { fastopen lsm; }

# A vector the running kernel does not offer skips, saying so (never a pass).
probe_offers() {
	local out
	out=$(nm_in_net "$NMPROBE" "$@" 2>&1) && return 0
	case $out in
	*io_uring_setup*|*EPROTONOSUPPORT*|*EAFNOSUPPORT*|*ENOSYS*|*unshare*)
		skip "not offered by kernel $(uname -r): $out" ;;
	esac
	return 0
}

uring() {
	probe_offers uring-connect tcp 127.0.0.1 "$OPEN"
	layer "$1"
	deny_loopback
	both OK --serve uring-connect tcp 127.0.0.1 "$OPEN"
	both EPERM --serve uring-connect tcp 127.0.0.1 "$PORT"
	both EPERM --serve uring-connect udp ::1 "$PORT"
	both OK --serve uring-sendmsg udp 127.0.0.1 "$OPEN"
	both EPERM --serve uring-sendmsg udp 127.0.0.1 "$PORT"
	both EPERM --serve-at 127.0.0.1 uring-sendmsg udp 0.0.0.0 "$PORT"
}
@test "cgroup: io_uring connect and sendmsg" { uring cgroup; }
@test "lsm: io_uring connect and sendmsg" { uring lsm; }

sendmmsg() {
	layer "$1"
	deny_loopback
	both OK --serve sendmmsg udp 127.0.0.1 "$OPEN"
	both EPERM --serve sendmmsg udp 127.0.0.1 "$PORT"
	both EPERM --serve sendmmsg udp ::1 "$PORT"
}
@test "cgroup: sendmmsg" { sendmmsg cgroup; }
@test "lsm: sendmmsg" { sendmmsg lsm; }

mptcp() {
	probe_offers --serve connect mptcp 127.0.0.1 "$OPEN"
	layer "$1"
	deny_loopback
	both OK --serve connect mptcp 127.0.0.1 "$OPEN"
	both EPERM --serve connect mptcp 127.0.0.1 "$PORT"
	both EPERM --serve connect mptcp ::1 "$PORT"
	both EPERM --serve-at 127.0.0.1 connect mptcp 0.0.0.0 "$PORT"
}
@test "cgroup: MPTCP connect is a TCP connect" { mptcp cgroup; }
@test "lsm: MPTCP connect is a TCP connect" { mptcp lsm; }

scope_id() {
	layer "$1"
	nm deny add fe80::1 port "$PORT" >/dev/null
	nm deny add ::1 port "$PORT" >/dev/null
	both OK --serve connect tcp fe80::1%lo "$OPEN"
	both EPERM --serve connect tcp fe80::1%lo "$PORT"
	both EPERM --serve sendto udp fe80::1%lo "$PORT"
	# A scope id on an address that needs none changes nothing either.
	both EPERM --serve connect tcp ::1%lo "$PORT"
}
@test "cgroup: IPv6 scope ids do not change the address checked" { scope_id cgroup; }
@test "lsm: IPv6 scope ids do not change the address checked" { scope_id lsm; }

@test "cgroup: a child cgroup created below the attached one is covered" {
	layer cgroup
	deny_loopback
	nm_cgroup_create CHILD "$CG"
	nm_cgroup_create GRANDCHILD "$CHILD"
	probe_expect EPERM --cgroup "$GRANDCHILD" --serve connect tcp 127.0.0.1 "$PORT"
	probe_expect EPERM --cgroup "$GRANDCHILD" --user "$NOBODY" --serve-at 127.0.0.1 connect tcp 0.0.0.0 "$PORT"
	probe_expect OK --cgroup "$GRANDCHILD" --serve connect tcp 127.0.0.1 "$OPEN"
}

newnet() {
	probe_offers --user "$NOBODY" --newnet --serve connect tcp 127.0.0.1 "$OPEN"
	layer "$1"
	deny_loopback
	# A network namespace made inside the cgroup (a user namespace too for
	# the unprivileged user, who is root in it) escapes nothing.
	both OK --newnet --serve connect tcp 127.0.0.1 "$OPEN"
	both EPERM --newnet --serve connect tcp 127.0.0.1 "$PORT"
	both EPERM --newnet --serve-at 127.0.0.1 connect tcp 0.0.0.0 "$PORT"
	both EPERM --newnet --serve-at 127.0.0.1 sendto udp 0.0.0.0 "$PORT"
}
@test "cgroup: a new network namespace inside the cgroup is still covered" { newnet cgroup; }
@test "lsm: a new network namespace is still covered" { newnet lsm; }

# ---- LSM only: what sendmsg checks on a connected TCP socket ----

add_loopback_rule() { nm deny add 127.0.0.1 port "$PORT" >/dev/null; }

@test "lsm: sendto() naming another address on a connected TCP socket checks the peer" {
	layer lsm
	# Connected before the rule; TCP ignores the name, so the peer is what
	# a deny must be about. Before the fix the name (PORT+1, allowed) was
	# checked and the data reached the denied peer.
	probe_expect_sync EPERM add_loopback_rule --cgroup "$CG" --serve send-named tcp 127.0.0.1 "$PORT"
}
