#!/usr/bin/env bash
# events-bench.sh: how fast `netmonctl events` drains the ring (a benchmark,
# not a test: it prints numbers and fails only when something breaks).
#
#   live   a reader runs (`-j events count N > SINK`) while PRODUCERS processes
#          make blocked connects as fast as the kernel allows (events-gen.c);
#          reports events/s delivered, ring-full drops, reader peak RSS and CPU.
#   drain  the ring (RING_BIG) is filled with no reader, then a reader empties
#          it: the reader's own ceiling, independent of how fast hooks fire.
#
# Everything lives in a private pin dir and a scratch cgroup (removed on exit).
# As root:  tests/bench/events-bench.sh
# Environment: NETMONCTL (default build/netmonctl), EVENTS (2000000),
#   PRODUCERS (2), DRAIN_EVENTS (2000000), RING_BIG (256M), CC (cc).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
NETMONCTL=${NETMONCTL:-$ROOT/build/netmonctl}
EVENTS=${EVENTS:-2000000}
PRODUCERS=${PRODUCERS:-2}
DRAIN_EVENTS=${DRAIN_EVENTS:-2000000}
RING_BIG=${RING_BIG:-256M}
ADDR=127.0.0.2
PORT=9

die() { echo "events-bench: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root"
[ -x "$NETMONCTL" ] || die "no netmonctl at $NETMONCTL (build it or set NETMONCTL)"
command -v jq >/dev/null || die "needs jq"

TMP=$(mktemp -d)
PIN=/sys/fs/bpf/nmbench-events-$$
CGROOT=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
[ -n "$CGROOT" ] || die "no cgroup2 mount"
CG=$CGROOT/nmbench-events-$$
PIDS=()

cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	[ -e "$PIN" ] && "$NETMONCTL" --pin-dir "$PIN" unload >/dev/null 2>&1
	[ -d "$CG" ] && rmdir "$CG" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"${CC:-cc}" -O2 -o "$TMP/events-gen" "$ROOT/tests/bench/events-gen.c" || die "cannot build events-gen"
mkdir "$CG"

nm() { "$NETMONCTL" --pin-dir "$PIN" "$@"; }
now_ns() { date +%s%N; }
drops() { nm -j status | jq -e '.totals.rb_drops'; }

# setup [ringbuf SIZE]: fresh maps, attached to the scratch cgroup, one rule.
setup() {
	[ -e "$PIN" ] && nm unload >/dev/null
	nm load "$@" >/dev/null
	nm attach cgroup "$CG" >/dev/null
	nm deny add "$ADDR" port "$PORT" >/dev/null
}

# Peak RSS (kB) and CPU time (s) of a pid, sampled until it exits. The RSS
# is shown as total/anon: total includes the ring, which libbpf maps twice
# (so a 4 MiB ring shows as 8 MiB) and which is kernel memory that exists
# with or without a reader; anon is the reader's own memory.
watch_reader() {
	local pid=$1 hwm=0 anon=0 v a ticks
	while [ -e "/proc/$pid/status" ]; do
		read -r v a < <(awk '/^VmHWM:/ { h = $2 } /^RssAnon:/ { a = $2 } END { print h + 0, a + 0 }' \
			"/proc/$pid/status" 2>/dev/null) || true
		[ -n "$v" ] && [ "$v" -gt "$hwm" ] && hwm=$v
		[ -n "$a" ] && [ "$a" -gt "$anon" ] && anon=$a
		ticks=$(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null) || true
		[ -n "$ticks" ] && echo "$ticks" >"$TMP/cpu"
		sleep 0.05
	done
	echo "$hwm/$anon" >"$TMP/hwm"
}

wait_lock() {
	local pid=$1 f
	for _ in $(seq 100); do
		for f in /run/netmonctl/events-*.lock; do
			[ "$(cat "$f" 2>/dev/null)" = "$pid" ] && return 0
		done
		sleep 0.02
	done
	die "reader $pid never took the lock"
}

# live MODE SINK: MODE json|text, SINK null|pipe
live() {
	local mode=$1 sink=$2 flags=() before after lost delivered t0 t1 pid gen rate hz cpu
	[ "$mode" = json ] && flags=(-j)
	setup
	before=$(drops)
	if [ "$sink" = pipe ]; then
		"$NETMONCTL" --pin-dir "$PIN" -d "${flags[@]}" events count "$EVENTS" timeout 120 \
			2>"$TMP/stats" | cat >/dev/null &
		sleep 0.2
		pid=$(pgrep -n -f "^$NETMONCTL --pin-dir $PIN" || true)
	else
		"$NETMONCTL" --pin-dir "$PIN" -d "${flags[@]}" events count "$EVENTS" timeout 120 \
			>/dev/null 2>"$TMP/stats" &
		pid=$!
	fi
	PIDS+=("$!")
	[ -n "$pid" ] || die "reader did not start"
	wait_lock "$pid"
	watch_reader "$pid" &
	PIDS+=("$!")
	t0=$(now_ns)
	gen=$("$TMP/events-gen" "$CG" "$ADDR" "$PORT" $((EVENTS / PRODUCERS)) "$PRODUCERS") ||
		die "events-gen: $gen"
	# t1 is when the reader has printed its last event and exited, polled
	# every 2 ms: not after the status, jq and watcher processes below,
	# which took 100-180 ms and deflated short runs by up to a third.
	for _ in $(seq 500); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.002
	done
	t1=$(now_ns)
	after=$(drops)
	lost=$((after - before))
	if [ "$lost" -gt 0 ]; then
		sleep 1
		kill -INT "$pid" 2>/dev/null || true # it will never see `count` events
	fi
	wait "${PIDS[@]}" 2>/dev/null || true
	PIDS=()
	delivered=$(((EVENTS / PRODUCERS) * PRODUCERS - lost))
	rate=$((delivered * 1000000000 / (t1 - t0)))
	hz=$(getconf CLK_TCK)
	cpu=$(awk -v t="$(cat "$TMP/cpu" 2>/dev/null || echo 0)" -v hz="$hz" 'BEGIN { printf "%.2f", t / hz }')
	printf '%-5s %-9s %9d %10d %8d %13s %8s   producers: %s\n' "live" "$mode>$sink" "$delivered" \
		"$rate" "$lost" "$(cat "$TMP/hwm")" "$cpu" "$gen"
	sed -n 's/.*\(most records.*\)/                reader: \1/p' "$TMP/stats"
}

# drain MODE: fill a big ring with no reader, then empty it.
drain() {
	local mode=$1 flags=() t0 t1 rate n pid
	[ "$mode" = json ] && flags=(-j)
	setup ringbuf "$RING_BIG"
	"$TMP/events-gen" "$CG" "$ADDR" "$PORT" $((DRAIN_EVENTS / PRODUCERS)) "$PRODUCERS" >/dev/null ||
		die "events-gen failed"
	n=$(((DRAIN_EVENTS / PRODUCERS) * PRODUCERS - $(drops)))
	t0=$(now_ns)
	"$NETMONCTL" --pin-dir "$PIN" "${flags[@]}" events timeout 0 >/dev/null &
	pid=$!
	PIDS+=("$pid")
	watch_reader "$pid" &
	PIDS+=("$!")
	wait "${PIDS[@]}"
	PIDS=()
	t1=$(now_ns)
	rate=$((n * 1000000000 / (t1 - t0)))
	printf '%-5s %-9s %9d %10d %8d %13s %8s   ring %s (includes process start)\n' "drain" \
		"$mode>null" "$n" "$rate" "$(drops)" "$(cat "$TMP/hwm")" "-" "$RING_BIG"
}

echo "netmonctl events benchmark: $(nproc) CPUs, kernel $(uname -r), $(date -u +%FT%TZ)"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-5s %-9s %9s %10s %8s %13s %8s\n' run mode events events/s drops rss/anon_kB cpu_s
live json null
live json pipe
live text null
drain json
drain text
