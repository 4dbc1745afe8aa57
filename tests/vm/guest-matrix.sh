#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# guest-matrix.sh: the kernel-matrix payload. Loads netmonctl, attaches
# each layer on its own and proves every program denies what a rule says,
# then prints one machine-readable line per program:
#
#   NM-RESULT <prog> loaded=yes|no attached=yes|no enforced=yes|no errno=E probe=B/A
#
# errno: why a program is not loaded (the kernel's errno, from `status`),
# or what the probe got with the rule in place (EPERM when enforced);
# probe: the probe's result without the rule / with it ("-" = not run).
#
# Runs as /payload inside the VM (system-wide: cgroup root and LSM), or on
# a host with NM_HOST_MODE=1: cgroup layer only, attached to a scratch
# cgroup made and removed here, never the cgroup2 root, and a private pin
# dir, so the host's own netmonctl state is untouched. LSM is never
# attached on a host; its programs report what `load` said about them.
#
# Env: NM_BIN (netmonctl), NM_PROBE (nmprobe), NM_PIN_DIR, NM_HOST_MODE,
#      NM_BATS_DIR (VM only: run that bats suite, report NM-BATS),
#      NM_BATS_FILES (comma-separated files of it; default all).
# Other lines it prints: NM-INFO, NM-LOG-BEGIN/END load (netmonctl -d
# load: libbpf and verifier logs), NM-STATUS-JSON, NM-ATTACH, NM-BATS,
# NM-TIME, and `NM-CHECK <name> ok|late:<ms>|fail ...` for the layer-wide
# checks: attach_all (bare attach), detach_cgroup and detach_lsm (the
# detach lifts enforcement), reattach_lsm (a detached layer attaches again). Exit 0 when the matrix ran (the verdict is the caller's, against
# its baseline), 3 when it could not run at all.
set -u

PROGS=(connect4 connect6 sendmsg4 sendmsg6 bind4 bind6 sock_create
	lsm_connect lsm_bind lsm_listen lsm_accept lsm_sendmsg lsm_recvmsg)
CG_PROGS=(connect4 connect6 sendmsg4 sendmsg6 bind4 bind6 sock_create)
LSM_PROGS=(lsm_connect lsm_bind lsm_listen lsm_accept lsm_sendmsg lsm_recvmsg)

NM=${NM_BIN:-netmonctl}
PROBE=${NM_PROBE:-nmprobe}
HOST_MODE=${NM_HOST_MODE:-0}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/nm-matrix.XXXXXX")

declare -A LOADED ATTACHED ENFORCED ERRNO PROBED
for p in "${PROGS[@]}"; do
	LOADED[$p]=no ATTACHED[$p]=no ENFORCED[$p]=no ERRNO[$p]=- PROBED[$p]=-/-
done

say() { printf '%s\n' "$*"; }
fatal() { say "NM-FATAL $*"; exit 3; }

nm() { "$NM" --pin-dir "$PIN_DIR" "$@"; }

# ---- where things happen: VM = system-wide, host = scratch cgroup ----

setup_scope() {
	command -v "$NM" >/dev/null || fatal "netmonctl not found: $NM"
	command -v "$PROBE" >/dev/null || fatal "nmprobe not found: $PROBE"
	if [ "$HOST_MODE" = 1 ]; then
		local root
		root=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
		[ -n "$root" ] || fatal "host has no cgroup2 mount"
		CGROUP=$root/nm-matrix-$$
		mkdir "$CGROUP" || fatal "cannot create scratch cgroup $CGROUP"
		# Each probe moves itself into the scratch cgroup; the script
		# itself stays where it is, so nothing else is ever filtered.
		PROBE_CG=(--cgroup "$CGROUP")
		# bpffs refuses names with a '.'
		PIN_DIR=${NM_PIN_DIR:-/sys/fs/bpf/nm-matrix-$$}
		trap cleanup_host EXIT
	else
		CGROUP=/sys/fs/cgroup
		PROBE_CG=()
		PIN_DIR=${NM_PIN_DIR:-/sys/fs/bpf/netmonctl}
		trap 'rm -rf "$WORK"' EXIT
	fi
}

cleanup_host() {
	nm detach cgroup "$CGROUP" >/dev/null 2>&1
	nm unload >/dev/null 2>&1
	# rmdir fails while a probe is still inside: give stragglers a moment.
	local i
	for i in 1 2 3 4 5; do
		rmdir "$CGROUP" 2>/dev/null && break
		sleep 0.2
	done
	[ -d "$CGROUP" ] && say "NM-WARN scratch cgroup $CGROUP left behind"
	rm -rf "$WORK"
}

info() {
	local lsm=-
	[ -r /sys/kernel/security/lsm ] && lsm=$(cat /sys/kernel/security/lsm)
	say "NM-INFO kernel=$(uname -r) mode=$([ "$HOST_MODE" = 1 ] && echo host || echo vm)" \
		"lsm=${lsm:--} btf=$([ -r /sys/kernel/btf/vmlinux ] && echo yes || echo no)" \
		"cgroup=$CGROUP"
}

# ---- status -j, read without jq (the VM has none) ----

# Fill LOADED/ERRNO from `status -j` and ATTACHED for the programs of the
# layer just attached. The JSON is cut at each `{"name":"`: a program's
# piece is the one with a "hook"; nested objects there have no "name".
read_status() {
	local json piece name s
	json=$(nm -j status 2>/dev/null) || return 1
	STATUS_JSON=$json
	s=$json
	while [[ $s == *'{"name":"'* ]]; do
		s=${s#*'{"name":"'}
		piece=${s%%'{"name":"'*}
		name=${piece%%\"*}
		[[ $piece == *'"hook":'* ]] || continue
		[[ -n ${LOADED[$name]+x} ]] || continue
		if [[ $piece == *'"loaded":true'* ]]; then
			LOADED[$name]=yes
		elif [[ $piece =~ \"error\":\"([^\"]*)\" ]]; then
			ERRNO[$name]=$(errno_of "${BASH_REMATCH[1]}")
		fi
		if [[ $piece == *'"attached":["'* ]]; then
			ATTACHED[$name]=yes
		fi
	done
}

# "...: Operation not permitted (EPERM)" -> EPERM; anything else verbatim
# with blanks squeezed out, so the result line stays one token per field.
errno_of() {
	if [[ $1 =~ \((E[A-Z0-9]+)\) ]]; then
		echo "${BASH_REMATCH[1]}"
	else
		echo "${1// /_}"
	fi
}

# ---- probes ----

# One probe; prints its verdict word (OK, EPERM, ...), SETUP on a failed
# setup (exit 3), USAGE on exit 2.
probe() {
	local out rc
	out=$("$PROBE" ${PROBE_CG[@]+"${PROBE_CG[@]}"} "$@" 2>"$WORK/probe.err")
	rc=$?
	case $rc in
	0 | 1) echo "${out##*$'\n'}" ;;
	2) echo USAGE ;;
	*) echo SETUP ;;
	esac
	[ $rc -ge 2 ] && sed 's/^/NM-PROBE-ERR /' "$WORK/probe.err" >&2
}

# enforce PROG "RULE" PROBE-ARGS...: the operation must work without the
# rule (so a denial is the rule's doing) and get EPERM with it.
enforce() {
	local prog=$1 rule=$2 before after
	shift 2
	nm deny flush >/dev/null
	before=$(probe "$@")
	# shellcheck disable=SC2086 # the rule is words on purpose
	nm deny add $rule >/dev/null || after=RULE-REFUSED
	: "${after:=$(probe "$@")}"
	nm deny flush >/dev/null
	verdict "$prog" "$before" "$after"
}

# enforce_midway PROG "RULE" PROBE-ARGS...: as enforce, but the rule is
# added while the probe waits at its --sync point, just before the one
# syscall under test. bind happened before the rule, so only listen (or
# accept) can be what denies.
enforce_midway() {
	local prog=$1 rule=$2 before after sync=$WORK/sync.$1 pid i
	shift 2
	nm deny flush >/dev/null
	before=$(probe "$@")
	rm -f "$sync"
	probe --sync "$sync" "$@" >"$WORK/midway.out" &
	pid=$!
	for i in $(seq 1 200); do
		[ -e "$sync" ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	# shellcheck disable=SC2086
	if [ -e "$sync" ] && nm deny add $rule >/dev/null; then
		rm -f "$sync"
		wait "$pid"
		after=$(cat "$WORK/midway.out")
	else
		rm -f "$sync"
		wait "$pid"
		after=NO-SYNC
	fi
	nm deny flush >/dev/null
	verdict "$prog" "$before" "$after"
}

# check_enforce CHECK "RULE" PROBE-ARGS...: as enforce, for a check (not
# a program): ok when the probe gets OK without the rule and EPERM with it.
check_enforce() {
	local check=$1 rule=$2 before after
	shift 2
	nm deny flush >/dev/null
	before=$(probe "$@")
	# shellcheck disable=SC2086
	nm deny add $rule >/dev/null 2>&1 || after=RULE-REFUSED
	: "${after:=$(probe "$@")}"
	nm deny flush >/dev/null
	if [ "$before" = OK ] && [ "$after" = EPERM ]; then
		say "NM-CHECK $check ok"
	else
		say "NM-CHECK $check fail probe=$before/$after"
	fi
}

verdict() {
	PROBED[$1]=$2/$3
	ERRNO[$1]=$3
	if [ "$2" = OK ] && [ "$3" = EPERM ]; then
		ENFORCED[$1]=yes
	fi
}

# ---- the layers ----

load() {
	local rc
	say "NM-LOG-BEGIN load"
	nm -d load >"$WORK/load.log" 2>&1
	rc=$?
	cat "$WORK/load.log"
	say "NM-LOG-END load rc=$rc"
	read_status || say "NM-WARN status -j failed after load"
	# A failed load leaves status with nothing per program: its own last
	# message says why, for every program it did not load.
	if [ $rc != 0 ]; then
		local p why
		why=$(errno_of "$(grep -v '^libbpf' "$WORK/load.log" | tail -n1)")
		for p in "${PROGS[@]}"; do
			[ "${LOADED[$p]}${ERRNO[$p]}" = no- ] && ERRNO[$p]=$why
		done
	fi
}

# attach ARGS...: record the attach result for the matrix log.
attach() {
	local out rc
	out=$(nm attach "$@" 2>&1)
	rc=$?
	say "NM-ATTACH args=\"$*\" rc=$rc ${out//$'\n'/ | }"
	return $rc
}

cgroup_layer() {
	local p any=0
	for p in "${CG_PROGS[@]}"; do [ "${LOADED[$p]}" = yes ] && any=1; done
	[ $any = 1 ] || return 0
	attach cgroup "$CGROUP" || return 0
	read_status
	enforce connect4 "127.0.0.2 port 9 proto tcp" --serve connect tcp 127.0.0.2 9
	enforce connect6 "::1 port 9 proto tcp" --serve connect tcp ::1 9
	enforce sendmsg4 "127.0.0.2 port 9 proto udp" sendto udp 127.0.0.2 9
	enforce sendmsg6 "::1 port 9 proto udp" sendto udp ::1 9
	enforce bind4 "127.0.0.2 port 9 proto tcp dir bind" bind tcp 127.0.0.2 9
	enforce bind6 "::1 port 9 proto tcp dir bind" bind tcp ::1 9
	# ping and raw sockets: in a netns of their own (--newnet opens ping
	# sockets to every group there); raw only at creation on this layer
	enforce sock_create "any proto raw" --newnet socket raw 127.0.0.2 0
	check_enforce cgroup_ping_connect "127.0.0.2" --newnet connect icmp 127.0.0.2 0
	if nm detach cgroup "$CGROUP" >/dev/null 2>&1; then
		lifted detach_cgroup "127.0.0.2 port 9 proto tcp" --serve connect tcp 127.0.0.2 9
	else
		say "NM-CHECK detach_cgroup fail detach-command"
	fi
}

# lifted CHECK "RULE" PROBE-ARGS...: after a detach, the rule must no
# longer deny. ok = at once; late:<ms> = only after the kernel released
# the link in the background (the detach command returned too early);
# fail = still denied 3 s later.
lifted() {
	local check=$1 rule=$2 got i
	shift 2
	# shellcheck disable=SC2086
	nm deny add $rule >/dev/null
	got=$(probe "$@")
	if [ "$got" = OK ]; then
		say "NM-CHECK $check ok"
	else
		for i in $(seq 1 30); do
			sleep 0.1
			got=$(probe "$@")
			[ "$got" = OK ] && break
		done
		if [ "$got" = OK ]; then
			say "NM-CHECK $check late:$((i * 100))ms probe-at-once=EPERM"
		else
			say "NM-CHECK $check fail probe=$got"
		fi
	fi
	nm deny flush >/dev/null
}

# Only in the VM: BPF-LSM programs are system-wide, never tried on a host.
lsm_layer() {
	local p any=0
	[ "$HOST_MODE" = 1 ] && return 0
	for p in "${LSM_PROGS[@]}"; do [ "${LOADED[$p]}" = yes ] && any=1; done
	[ $any = 1 ] || return 0
	attach lsm || return 0
	read_status
	enforce lsm_connect "127.0.0.2 port 9 proto tcp" --serve connect tcp 127.0.0.2 9
	enforce lsm_sendmsg "127.0.0.2 port 9 proto udp" sendto udp 127.0.0.2 9
	enforce lsm_bind "127.0.0.3 port 7000 dir bind" bind tcp 127.0.0.3 7000
	enforce_midway lsm_listen "127.0.0.3 port 7001 dir bind" listen tcp 127.0.0.3 7001
	enforce_midway lsm_accept "127.0.0.3 port 7002 dir bind" \
		accept tcp 127.0.0.3 7002 from 127.0.0.1
	# the accepted socket's peer is the client at 127.0.0.5: ingress
	enforce lsm_recvmsg "127.0.0.5 dir ingress" recv tcp 127.0.0.4 7003 from 127.0.0.5
	# a rule with no port holds for ping and raw sends, which only LSM sees
	check_enforce lsm_ping_sendto "127.0.0.2" --newnet sendto icmp 127.0.0.2 0
	check_enforce lsm_ping6_sendto "::1" --newnet sendto icmp ::1 0
	check_enforce lsm_raw_sendto "127.0.0.2" --newnet sendto raw 127.0.0.2 0
	if nm detach lsm >/dev/null 2>&1; then
		lifted detach_lsm "127.0.0.3 port 7000 dir bind" bind tcp 127.0.0.3 7000
	else
		say "NM-CHECK detach_lsm fail detach-command"
	fi
	reattach_lsm
}

# A layer detached must attach again, and enforce again.
reattach_lsm() {
	local got
	if ! attach lsm; then
		say "NM-CHECK reattach_lsm fail attach-command"
		return 0
	fi
	nm deny add 127.0.0.3 port 7000 dir bind >/dev/null
	got=$(probe bind tcp 127.0.0.3 7000)
	nm deny flush >/dev/null
	nm detach lsm >/dev/null 2>&1
	if [ "$got" = EPERM ]; then
		say "NM-CHECK reattach_lsm ok"
	else
		say "NM-CHECK reattach_lsm fail probe=$got"
	fi
}

# In the VM, bare `attach` must take every available layer at once.
all_layers() {
	local before after
	[ "$HOST_MODE" = 1 ] && return 0
	attach || { say "NM-CHECK attach_all fail"; return 0; }
	before=$(probe --serve connect tcp 127.0.0.2 9)
	nm deny add 127.0.0.2 port 9 >/dev/null
	after=$(probe --serve connect tcp 127.0.0.2 9)
	nm deny flush >/dev/null
	nm detach >/dev/null 2>&1
	if [ "$before" = OK ] && [ "$after" = EPERM ]; then
		say "NM-CHECK attach_all ok"
	else
		say "NM-CHECK attach_all fail probe=$before/$after"
	fi
}

unload() {
	nm unload >/dev/null 2>&1 || say "NM-WARN unload failed"
	[ -e "$PIN_DIR" ] && say "NM-WARN pin dir $PIN_DIR still there after unload"
}

report() {
	local p
	say "NM-STATUS-JSON ${STATUS_JSON:-{\}}"
	for p in "${PROGS[@]}"; do
		say "NM-RESULT $p loaded=${LOADED[$p]} attached=${ATTACHED[$p]}" \
			"enforced=${ENFORCED[$p]} errno=${ERRNO[$p]} probe=${PROBED[$p]}"
	done
}

# The repo's bats suite, as the VM's kernel sees it.
run_bats() {
	local dir=${NM_BATS_DIR:-} tap rc ok skipped f targets=()
	[ "$HOST_MODE" = 1 ] && return 0
	[ -n "$dir" ] && [ -d "$dir" ] || return 0
	if [ -n "${NM_BATS_FILES:-}" ] && [ "${NM_BATS_FILES}" != all ]; then
		for f in ${NM_BATS_FILES//,/ }; do
			[ -f "$dir/$f" ] && targets+=("$dir/$f")
		done
	elif ls "$dir"/*.bats >/dev/null 2>&1; then
		targets=("$dir")
	fi
	[ ${#targets[@]} -gt 0 ] || { say "NM-BATS none"; return 0; }
	tap=$WORK/bats.tap
	NM_IN_VM=1 NETMONCTL=$(command -v "$NM") NMPROBE=$(command -v "$PROBE") \
		bats --tap "${targets[@]}" >"$tap" 2>&1
	rc=$?
	cat "$tap"
	ok=$(grep -cE '^ok [0-9]+' "$tap")
	skipped=$(grep -cE '^ok [0-9]+ .*# skip' "$tap")
	say "NM-BATS passed=$((ok - skipped)) failed=$(grep -cE '^not ok ' "$tap")" \
		"skipped=$skipped rc=$rc"
}

# Run a phase and say how long it took: TCG makes every second count.
timed() {
	local t=$SECONDS
	"$@"
	say "NM-TIME $1=$((SECONDS - t))s"
}

main() {
	local t0=$SECONDS
	setup_scope
	info
	timed load
	timed cgroup_layer
	timed lsm_layer
	timed all_layers
	report
	timed unload
	say "NM-TIME matrix=$((SECONDS - t0))s"
	t0=$SECONDS
	run_bats
	say "NM-TIME bats=$((SECONDS - t0))s"
	return 0
}

main "$@"
