# shellcheck shell=bash disable=SC2154,SC2016,SC2034 # bats' status/output, jq, callers
# Common setup for the netmonctl bats tests. Load with `load helpers`.
#
# Tests run as root against the real kernel. Everything a test creates is
# recorded here and removed by the teardown helpers, even when it fails:
#   scratch cgroups  <cgroup2>/nmtest-<pid>-<file>-<test>[/<child>]
#   a network ns     nmt-<pid>-<file>          (host; NM_IN_VM=1: addresses on lo)
#   a pin dir        /sys/fs/bpf/nmtest-<pid>-<file>
#   processes        by the pid it started
# Nothing is ever attached to the cgroup2 root, and bare `attach` is never used.
#
# Environment: NETMONCTL, NMPROBE (binaries), NM_IN_VM=1 (inside the test VM).

bats_require_minimum_version 1.5.0

NM_SRC_ROOT=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
NETMONCTL=${NETMONCTL:-$NM_SRC_ROOT/build/netmonctl}
NMPROBE_DEFAULT=$NM_SRC_ROOT/build/nmprobe
NMPROBE=${NMPROBE:-$NMPROBE_DEFAULT}
NM_TAG="$$-$(basename "$BATS_TEST_FILENAME" .bats)"

# ---- assertions: bats-support/bats-assert when installed, else a minimum ----
nm_have_lib() { # (a failing bats_load_library trips bats' error trap)
	local d dirs
	IFS=: read -ra dirs <<<"${BATS_LIB_PATH:-/usr/lib/bats}"
	for d in "${dirs[@]}"; do
		[ -f "$d/$1/load.bash" ] && return 0
	done
	return 1
}
if nm_have_lib bats-support && nm_have_lib bats-assert; then
	bats_load_library bats-support
	bats_load_library bats-assert
else
	fail() { printf '%s\n' "$*" >&2; return 1; }
	assert_success() { [ "$status" -eq 0 ] || fail "expected success, got status $status: $output"; }
	assert_failure() {
		if [ $# -gt 0 ]; then
			[ "$status" -eq "$1" ] || fail "expected status $1, got $status: $output"
		else
			[ "$status" -ne 0 ] || fail "expected failure, got success: $output"
		fi
	}
	assert_output() {
		if [ "$1" = --partial ]; then
			[[ $output == *"$2"* ]] || fail "output lacks '$2': $output"
		else
			[ "$output" = "$1" ] || fail "expected output '$1', got '$output'"
		fi
	}
	assert_equal() { [ "$1" = "$2" ] || fail "expected '$2', got '$1'"; }
fi

# ---- netmonctl ----

# netmonctl with this test file's private pin dir (never /sys/fs/bpf/netmonctl).
nm() {
	"$NETMONCTL" --pin-dir "$NM_PIN_DIR" "$@"
}

# The one place that knows the layout of `netmonctl -j status`.
NM_JQ_LSM_LOADABLE='.kernel.lsm_loadable'
NM_JQ_LSM_REASON='.kernel.lsm_error // "no reason given"'
# Counter FIELD of program HOOK (connect4 .. sendmsg6, lsm_connect .. lsm_recvmsg).
NM_JQ_COUNTER='.programs[] | select(.name == $hook) | .counters[$field]'

# Succeeds when the LSM layer can load here; else sets NM_LSM_WHY.
nm_lsm_loadable() {
	local json
	json=$(nm -j status) || { NM_LSM_WHY="netmonctl -j status failed"; return 1; }
	if ! command -v jq >/dev/null; then
		# No jq (minimal VM): compact JSON from netmonctl has "lsm_loadable":true.
		[[ $json == *'"lsm_loadable":true'* ]] && return 0
		NM_LSM_WHY="status: LSM layer not loadable: $json"
		return 1
	fi
	[ "$(jq -r "$NM_JQ_LSM_LOADABLE" <<<"$json")" = true ] && return 0
	NM_LSM_WHY="LSM layer cannot load here: $(jq -r "$NM_JQ_LSM_REASON" <<<"$json")"
	return 1
}

# nm_counter HOOK FIELD: print one counter (checked/denied/audited/rb_drops).
nm_counter() {
	command -v jq >/dev/null || { echo "nm_counter: jq is not installed" >&2; return 1; }
	nm -j status | jq -er --arg hook "$1" --arg field "$2" "$NM_JQ_COUNTER"
}

# nm_buckets: "SLOTS SUM", how many bucket slots are not 0, and their sum; one batch
# read of the array (a `bpftool map dump` of its 3.3M slots takes a minute here).
# Each element holds several u32 slots (16 since layout 5).
nm_buckets() {
	local info
	info=$(bpftool map show pinned "$NM_PIN_DIR/maps/buckets" -j | jq -r '"\(.max_entries) \(.bytes_value)"')
	# shellcheck disable=SC2086 # $info is two numbers
	python3 - "$NM_PIN_DIR/maps/buckets" $info <<-'EOF'
		import array, ctypes, os, sys
		libc = ctypes.CDLL(None, use_errno=True)
		NR_BPF = {"x86_64": 321, "aarch64": 280}[os.uname().machine]
		BPF_OBJ_GET, BPF_MAP_LOOKUP_BATCH = 7, 24
		u32, u64 = ctypes.c_uint32, ctypes.c_uint64
		class ObjGet(ctypes.Structure):
		    _fields_ = [("pathname", u64), ("bpf_fd", u32), ("file_flags", u32)]
		class Batch(ctypes.Structure):
		    _fields_ = [("in_batch", u64), ("out_batch", u64), ("keys", u64), ("values", u64),
		                ("count", u32), ("map_fd", u32), ("elem_flags", u64), ("flags", u64)]
		def bpf(cmd, attr):
		    r = libc.syscall(NR_BPF, cmd, ctypes.byref(attr), ctypes.sizeof(attr))
		    if r < 0 and ctypes.get_errno() != 2:  # ENOENT: the last batch
		        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
		    return r
		path = ctypes.create_string_buffer(sys.argv[1].encode())
		n, per = int(sys.argv[2]), int(sys.argv[3]) // 4
		keys, vals, out = (u32 * n)(), (u32 * (n * per))(), u32(0)
		attr = Batch(out_batch=ctypes.addressof(out), keys=ctypes.addressof(keys),
		             values=ctypes.addressof(vals), count=n,
		             map_fd=bpf(BPF_OBJ_GET, ObjGet(pathname=ctypes.addressof(path))))
		bpf(BPF_MAP_LOOKUP_BATCH, attr)
		assert attr.count == n, f"read {attr.count} of {n} elements"
		a = array.array("I", bytes(vals))
		print(len(a) - a.count(0), sum(a))
	EOF
}

# ---- binaries ----

# The probe: build/nmprobe from CMake, or compiled here when it is not built yet.
nm_build_probe() {
	[ -x "$NMPROBE" ] && return 0
	if [ "$NMPROBE" != "$NMPROBE_DEFAULT" ]; then
		echo "NMPROBE=$NMPROBE is not executable" >&2
		return 1
	fi
	mkdir -p "$(dirname "$NMPROBE")"
	gcc -O2 -static -o "$NMPROBE" "$NM_SRC_ROOT/tests/probe/nmprobe.c"
}

nm_require_env() {
	[ "$(id -u)" = 0 ] || { echo "these tests need root" >&2; return 1; }
	[ -x "$NETMONCTL" ] || { echo "netmonctl not found at $NETMONCTL (build it, or set NETMONCTL)" >&2; return 1; }
	nm_build_probe
}

# ---- cgroups ----

# Mount point of cgroup2, from /proc/mounts (hybrid hosts have it anywhere).
nm_cgroup2_mount() {
	awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts
}

NM_CGROUPS=() # created by this test, in creation order
NM_PIDS=()    # processes this test started

# nm_cgroup_create VAR [PARENT]: make a scratch cgroup, store its path in VAR.
nm_cgroup_create() {
	local var=$1 parent=${2:-} root path
	if [ -z "$parent" ]; then
		root=$(nm_cgroup2_mount)
		[ -n "$root" ] || { echo "no cgroup2 mount in /proc/mounts" >&2; return 1; }
		path="$root/nmtest-$NM_TAG-$BATS_TEST_NUMBER-${#NM_CGROUPS[@]}"
	else
		path="$parent/child${#NM_CGROUPS[@]}"
	fi
	mkdir "$path"
	NM_CGROUPS+=("$path")
	printf -v "$var" '%s' "$path"
}

# Kill (by pid, each one we started and have not reaped) what this test started.
nm_kill_started() {
	local pid
	for pid in "${NM_PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	NM_PIDS=()
}

# Files whose every test runs in a scratch cgroup with the cgroup layer
# attached: the bodies of their setup() and teardown(). The teardown puts
# back what a test may change (rules, mode), also after a failure, and
# removes the cgroups it made; 1 when any of that failed.
nm_attached_cg_setup() {
	nm_cgroup_create CG
	nm attach cgroup "$CG"
}

nm_attached_cg_teardown() {
	local rc=0
	nm_kill_started
	nm detach cgroup "$CG" >/dev/null 2>&1 || true # some tests detach already
	nm deny flush >/dev/null || rc=1
	nm mode enforce >/dev/null || rc=1
	nm_cgroups_destroy || rc=1
	return $rc
}

# Remove this test's cgroups, children first (a cgroup must be empty to go).
nm_cgroups_destroy() {
	local i cg rc=0
	nm_kill_started
	for ((i = ${#NM_CGROUPS[@]} - 1; i >= 0; i--)); do
		cg=${NM_CGROUPS[i]}
		[ -d "$cg" ] || continue
		# A task that just exited can keep a cgroup busy for a moment.
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			rmdir "$cg" 2>/dev/null && break
			sleep 0.2
		done
		[ -d "$cg" ] && { echo "could not remove $cg: procs $(tr '\n' ' ' <"$cg/cgroup.procs")" >&2; rc=1; }
	done
	NM_CGROUPS=()
	return $rc
}

# ---- network: a netns on the host, addresses on lo in the VM ----

# nm_net_create ADDR...: somewhere to send traffic where ADDRs are local.
nm_net_create() {
	local a
	NM_NETNS=
	NM_ADDED_ADDRS=
	if [ "${NM_IN_VM:-}" = 1 ]; then
		for a in "$@"; do
			# Only addresses we add are ours to remove.
			ip addr add "$a" dev lo 2>/dev/null && NM_ADDED_ADDRS+="$a "
		done
	else
		NM_NETNS="nmt-$NM_TAG"
		ip netns add "$NM_NETNS"
		ip -n "$NM_NETNS" link set lo up
		for a in "$@"; do
			if [[ $a == *:* ]]; then
				ip -n "$NM_NETNS" addr add "$a" dev lo nodad
			else
				ip -n "$NM_NETNS" addr add "$a" dev lo
			fi
		done
	fi
	export NM_NETNS NM_ADDED_ADDRS
}

nm_net_destroy() {
	local a
	if [ -n "${NM_NETNS:-}" ]; then
		ip netns del "$NM_NETNS"
	fi
	for a in ${NM_ADDED_ADDRS:-}; do
		ip addr del "$a" dev lo || true
	done
	NM_NETNS=''
	NM_ADDED_ADDRS=''
}

# Run a command in the test network. Not `ip netns exec`: that remounts /sys,
# hiding the cgroup2 mount from the probe's --cgroup. nsenter execs the
# command, so a pid from `nm_in_net ... &` is the command's own pid.
nm_in_net() {
	if [ -n "${NM_NETNS:-}" ]; then
		nsenter --net="/run/netns/$NM_NETNS" "$@"
	else
		"$@"
	fi
}

# ---- the probe ----

# probe_expect WANT PROBE-ARGS...: the probe must print exactly WANT (OK, EPERM..)
# and exit with the matching status (0 for OK, 1 for an errno).
probe_expect() {
	local want=$1 out rc=0 err="$BATS_TEST_TMPDIR/probe.err" want_rc=1
	shift
	out=$(nm_in_net "$NMPROBE" "$@" 2>"$err") || rc=$?
	[ "$want" = OK ] && want_rc=0
	if [ "$out" != "$want" ] || [ "$rc" -ne "$want_rc" ]; then
		echo "nmprobe $*: expected $want, got '$out' (exit $rc) $(cat "$err")" >&2
		return 1
	fi
}

# probe_expect_sync WANT FUNC PROBE-ARGS...: run the probe with --sync; at its
# sync point (just before the operation's last syscall) run FUNC, then let it go.
probe_expect_sync() {
	local want=$1 fn=$2 sync="$BATS_TEST_TMPDIR/sync.$RANDOM" out="$BATS_TEST_TMPDIR/probe.out"
	local pid rc=0 want_rc=1
	shift 2
	if [ -n "${NM_NETNS:-}" ]; then
		nsenter --net="/run/netns/$NM_NETNS" "$NMPROBE" --sync "$sync" "$@" >"$out" 2>&1 &
	else
		"$NMPROBE" --sync "$sync" "$@" >"$out" 2>&1 &
	fi
	pid=$!
	NM_PIDS+=("$pid") # teardown kills it if this test fails before it ends
	for _ in $(seq 300); do
		[ -e "$sync" ] || ! kill -0 "$pid" 2>/dev/null && break
		sleep 0.05
	done
	[ -e "$sync" ] || { echo "nmprobe $* never reached its sync point: $(cat "$out")" >&2; return 1; }
	"$fn" || { rm -f "$sync"; echo "$fn failed" >&2; return 1; }
	rm -f "$sync"
	wait "$pid" || rc=$?
	unset 'NM_PIDS[-1]' # reaped: its pid is no longer ours to kill
	[ "$want" = OK ] && want_rc=0
	if [ "$(cat "$out")" != "$want" ] || [ "$rc" -ne "$want_rc" ]; then
		echo "nmprobe --sync $*: expected $want, got '$(cat "$out")' (exit $rc)" >&2
		return 1
	fi
}

# ---- killing an edit while it writes ----

# Is pid still running (not exited, not a zombie waiting to be reaped)?
nm_running() {
	local st
	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}

# nm_start_writing ARGS...: start `netmonctl ARGS` in the background (pid in
# NM_BG_PID) and return once it has marked the store, that is, once it writes.
nm_start_writing() {
	local mark="$NM_PIN_DIR/maps/edit_in_progress"
	# A background job of a non-interactive shell starts with SIGINT
	# ignored: put the default back, or an INT would never land.
	env --default-signal=INT "$NETMONCTL" --pin-dir "$NM_PIN_DIR" "$@" >/dev/null 2>&1 &
	NM_BG_PID=$!
	NM_PIDS+=("$NM_BG_PID")
	while nm_running "$NM_BG_PID" && [ ! -e "$mark" ]; do :; done
}

# nm_write_window_ms ARGS...: milliseconds from the edit's mark to its end
# (an ASan build or a busy machine is several times slower than usual).
nm_write_window_ms() {
	local t0
	nm_start_writing "$@"
	t0=$(date +%s%N)
	wait "$NM_BG_PID"
	unset 'NM_PIDS[-1]'
	echo $((($(date +%s%N) - t0) / 1000000))
}

# nm_kill_writing ROUND WINDOW_MS ARGS...: start `netmonctl ARGS`, and once
# it writes, send KILL, INT or TERM (by ROUND) within the window; sets
# NM_KILLED ("kill -SIG after Ns", for messages).
nm_kill_writing() {
	local round=$1 window=$2 sig delay
	shift 2
	sig=$(echo KILL INT TERM | cut -d' ' -f$(((round - 1) % 3 + 1)))
	delay=$(awk -v ms="$window" -v r="$RANDOM" 'BEGIN { printf "%.3f", ms * r / 32768 / 1000 }')
	nm_start_writing "$@"
	sleep "$delay"
	kill -s "$sig" "$NM_BG_PID" 2>/dev/null || true
	wait "$NM_BG_PID" || true
	unset 'NM_PIDS[-1]' # reaped: its pid is no longer ours to kill
	NM_KILLED="kill -$sig after ${delay}s"
}

# ---- per file: pin dir, loaded programs, test network ----

# nm_file_setup ADDR...: check the environment, load into a private pin dir.
nm_file_setup() {
	nm_require_env
	export NM_PIN_DIR="/sys/fs/bpf/nmtest-$NM_TAG"
	export NETMONCTL_PIN_DIR=$NM_PIN_DIR # in case anything calls netmonctl directly
	nm_net_create "$@"
	nm load
}

nm_file_teardown() {
	local rc=0
	if [ -n "${NM_PIN_DIR:-}" ]; then
		nm unload || rc=1
		case $NM_PIN_DIR in
		/sys/fs/bpf/nmtest-*) [ ! -e "$NM_PIN_DIR" ] || rm -rf "$NM_PIN_DIR" ;;
		esac
	fi
	nm_net_destroy || rc=1
	return $rc
}
