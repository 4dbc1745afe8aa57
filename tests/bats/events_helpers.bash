# Helpers shared by events.bats and events_journal.bats. Both load into a
# private pin dir ($NM_PIN_DIR), attach to their own scratch cgroup ($CG)
# and deny loopback addresses there.

# up [load ARGS...]: load into the private pin dir, attach to $CG, deny 127.0.0.2:9.
up() {
	nm load "$@" >/dev/null
	nm attach cgroup "$CG" >/dev/null
	nm deny add 127.0.0.2 port 9 >/dev/null
}

# blocked [--cg DIR] [--as NAME] PROBE-ARGS...: run the probe (as a copy
# named NAME, which becomes its comm) in the cgroup; it must get EPERM.
# Sets PID to the probe's pid.
blocked() {
	local cg=$CG bin=$NMPROBE out=$BATS_TEST_TMPDIR/probe.out rc=0
	while :; do
		case $1 in
		--cg) cg=$2; shift 2 ;;
		--as)
			bin=$BATS_TEST_TMPDIR/$2
			[ -x "$bin" ] || cp "$NMPROBE" "$bin"
			shift 2 ;;
		*) break ;;
		esac
	done
	"$bin" --cgroup "$cg" "$@" >"$out" 2>&1 &
	PID=$!
	wait "$PID" || rc=$?
	if [ "$rc" != 1 ] || [ "$(cat "$out")" != EPERM ]; then
		echo "probe $*: expected EPERM, got exit $rc: $(cat "$out")" >&2
		return 1
	fi
}

events_map_id() {
	nm -j status | jq -e '.maps[] | select(.name == "events") | .id'
}

# reader_start FILE ARGS...: `netmonctl ARGS` in the background, stdout to
# FILE, stderr to FILE.err; returns once it holds the reader lock. READER=pid.
reader_start() {
	local file=$1 lock
	shift
	lock=/run/netmonctl/events-$(events_map_id).lock
	"$NETMONCTL" --pin-dir "$NM_PIN_DIR" "$@" >"$file" 2>"$file.err" &
	READER=$!
	NM_PIDS+=("$READER")
	for _ in $(seq 250); do
		[ "$(cat "$lock" 2>/dev/null)" = "$READER" ] && return 0
		kill -0 "$READER" 2>/dev/null || break
		sleep 0.02
	done
	echo "reader $READER never took $lock: $(cat "$file" "$file.err")" >&2
	return 1
}

# reader_wait: reap the reader; its exit status in READER_RC.
reader_wait() {
	READER_RC=0
	wait "$READER" || READER_RC=$?
	NM_PIDS=("${NM_PIDS[@]/$READER/}")
}

# wait_lines FILE N: until FILE has N lines (5 s at most).
wait_lines() {
	for _ in $(seq 250); do
		[ "$(wc -l <"$1")" -ge "$2" ] && return 0
		sleep 0.02
	done
	echo "$1 has $(wc -l <"$1") lines, expected $2: $(cat "$1")" >&2
	return 1
}

