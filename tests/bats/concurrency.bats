#!/usr/bin/env bats
# Concurrent writers (issue 10): every state change takes the pin-dir lock
# (nm_lock), so 16 processes adding 500 rules each at once, beside `load`
# upgrading in place or `deny flush` emptying the store, lose nothing,
# duplicate nothing, and leave counts (`status`, the bucket array) that
# agree with what is stored (`deny list`).
load helpers

WRITERS=16

# Writer W's 500 rules, shuffled: 300 IPv4 and 75 IPv6 hosts of its own,
# 50 /24s of its own with two port rules each, and one port rule on each of
# 25 /24s it shares with 7 other writers (8 writers x 1 port: a full entry).
gen_writer() {
	local w=$1 i
	{
		for i in $(seq 0 299); do echo "10.$((w + 1)).$((i / 250)).$((i % 250 + 1))"; done
		for i in $(seq 1 75); do echo "2001:db8:$((w + 1))::$i"; done
		for i in $(seq 0 49); do
			echo "172.$((16 + w)).$i.0/24 port 1"
			echo "172.$((16 + w)).$i.0/24 port 2 proto tcp"
		done
		for i in $(seq 0 24); do echo "192.168.$((25 * (w / 8) + i)).0/24 port $((w % 8 + 1))"; done
	} | shuf
}

setup_file() {
	local w
	nm_file_setup 10.1.0.1/32
	export RULES="$BATS_FILE_TMPDIR/rules"
	mkdir "$RULES"
	for ((w = 0; w < WRITERS; w++)); do
		gen_writer "$w" >"$RULES/w$w"
		# 8 files of 50 for `deny add file`, the last 100 rules one `deny add` each.
		split -l 50 -d "$RULES/w$w" "$RULES/w$w.part"
	done
	# What all 8000 look like listed, and the counts they make, added at once.
	cat "$RULES"/w? "$RULES"/w?? | nm deny add file - >/dev/null
	nm deny list | sort >"$RULES/all.list"
	# 8000 distinct rules, written as `deny list` writes them.
	sort "$RULES"/w? "$RULES"/w?? | cmp - "$RULES/all.list"
	nm -j status | jq -c '[.rules, .prefixes]' >"$RULES/all.counts"
	nm_buckets >"$RULES/all.buckets"
	nm deny flush >/dev/null
}

teardown_file() {
	nm_file_teardown
}

teardown() {
	local rc=0
	touch "$BATS_TEST_TMPDIR/stop" "$BATS_TEST_TMPDIR/go"
	nm_kill_started
	[ -z "${CG:-}" ] || nm detach cgroup "$CG" >/dev/null 2>&1 || true
	nm deny flush >/dev/null || rc=1
	nm_cgroups_destroy || rc=1
	return $rc
}

# writer W: its 500 rules, 100 one at a time, then 400 in files of 50. At
# 200 rules it says so in half.W and waits for the file `go`.
writer() {
	local w=$1 f line
	cat "$RULES/w$w.part08" "$RULES/w$w.part09" | while read -r line; do
		# shellcheck disable=SC2086 # a rule is words
		nm deny add $line >/dev/null || return 1
	done || return 1
	for f in "$RULES/w$w".part0[0-7]; do
		nm deny add file "$f" >/dev/null || return 1
		if [ "$f" = "$RULES/w$w.part01" ]; then
			touch "$BATS_TEST_TMPDIR/half.$w"
			while [ ! -e "$BATS_TEST_TMPDIR/go" ]; do sleep 0.05; done
		fi
	done
}

# start_writers: all of them in the background; their pids in WRITER_PIDS.
start_writers() {
	local w
	WRITER_PIDS=()
	for ((w = 0; w < WRITERS; w++)); do
		writer "$w" 2>"$BATS_TEST_TMPDIR/writer$w.err" &
		WRITER_PIDS+=("$!")
		NM_PIDS+=("$!")
	done
}

# wait_writers: every writer succeeded.
wait_writers() {
	local pid rc=0 w
	for pid in "${WRITER_PIDS[@]}"; do
		wait "$pid" || rc=1
	done
	NM_PIDS=()
	# Nothing on stderr but the warning that no layer enforces the rules
	# (the flush test attaches nothing), or that the cgroup layer holds a
	# rule with no port for TCP and UDP only.
	for ((w = 0; w < WRITERS; w++)); do
		! grep -v -e 'deny add: warning: .* not enforced: no layer is attached' \
			-e 'deny add: warning: .* enforced for TCP and UDP only: ' "$BATS_TEST_TMPDIR/writer$w.err" ||
			{ echo "writer $w: $(cat "$BATS_TEST_TMPDIR/writer$w.err")" >&2; rc=1; }
	done
	return $rc
}

# loop NAME STOP CMD...: run CMD (then pause $PAUSE s, 0.1 unless set, so
# the writers get the lock too) until the file STOP exists; count runs in
# NAME.runs, and each failure's stderr in NAME.err.
loop() {
	local name=$1 stop=$2 runs=0
	shift 2
	while [ ! -e "$stop" ]; do
		"$@" >/dev/null 2>>"$BATS_TEST_TMPDIR/$name.err" || echo "exit $? from $*" >>"$BATS_TEST_TMPDIR/$name.err"
		runs=$((runs + 1))
		sleep "${PAUSE:-0.1}"
	done
	echo "$runs" >"$BATS_TEST_TMPDIR/$name.runs"
}

start_loop() {
	loop "$@" &
	LOOP_PIDS+=("$!")
	NM_PIDS+=("$!")
}

stop_loops() {
	local pid
	touch "$BATS_TEST_TMPDIR/stop"
	for pid in "${LOOP_PIDS[@]}"; do
		wait "$pid"
	done
	NM_PIDS=()
}

# loop_ok NAME MIN: the loop ran at least MIN times and never failed.
loop_ok() {
	local runs
	runs=$(cat "$BATS_TEST_TMPDIR/$1.runs")
	echo "# $1: $runs runs" >&3
	[ ! -s "$BATS_TEST_TMPDIR/$1.err" ] || { echo "$1 failed: $(head -5 "$BATS_TEST_TMPDIR/$1.err")" >&2; return 1; }
	[ "$runs" -ge "$2" ] || { echo "$1 ran $runs times, want >= $2" >&2; return 1; }
}

reader() {
	nm status && nm -j status && nm deny list
}

# all_half: every writer is half-way (then stop flushing and let them go on).
all_half() {
	local w
	for ((w = 0; w < WRITERS; w++)); do
		[ -e "$BATS_TEST_TMPDIR/half.$w" ] || return 1
	done
	touch "$BATS_TEST_TMPDIR/go"
}

flush_until_half() {
	all_half || nm deny flush
}

@test "16 writers x 500 rules beside load upgrades and readers: all 8000, once each" {
	nm_cgroup_create CG
	nm attach cgroup "$CG" >/dev/null
	LOOP_PIDS=()
	touch "$BATS_TEST_TMPDIR/go"
	start_loop upgrade "$BATS_TEST_TMPDIR/stop" nm load
	start_loop reader "$BATS_TEST_TMPDIR/stop" reader
	start_writers
	wait_writers
	stop_loops
	loop_ok upgrade 2
	loop_ok reader 2
	nm deny list | sort >"$BATS_TEST_TMPDIR/list"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/list")" -eq 8000 ]
	[ -z "$(uniq -d "$BATS_TEST_TMPDIR/list")" ]
	cmp "$BATS_TEST_TMPDIR/list" "$RULES/all.list"
	[ "$(nm -j status | jq -c '[.rules, .prefixes]')" = "$(cat "$RULES/all.counts")" ]
	[ "$(nm_buckets)" = "$(cat "$RULES/all.buckets")" ]
	# The upgraded programs still enforce: 10.1.0.1 is writer 0's.
	probe_expect EPERM --cgroup "$CG" --serve connect tcp 10.1.0.1 80
	nm detach cgroup "$CG" >/dev/null
	nm_cgroups_destroy
}

@test "16 writers beside a flush loop: what is listed was added, once, and the counts agree" {
	local listed
	LOOP_PIDS=()
	# Flushes run while the writers write their first halves; the second
	# halves come after the last flush and must all be there.
	PAUSE=0.02 start_loop flush "$BATS_TEST_TMPDIR/go" flush_until_half
	start_writers
	wait_writers
	stop_loops
	loop_ok flush 2
	cat "$RULES"/w*.part0[2-7] | sort >"$BATS_TEST_TMPDIR/second"
	nm deny list | sort >"$BATS_TEST_TMPDIR/list"
	listed=$(wc -l <"$BATS_TEST_TMPDIR/list")
	echo "# $listed rules left after the last flush" >&3
	[ -z "$(uniq -d "$BATS_TEST_TMPDIR/list")" ]
	[ -z "$(comm -23 "$BATS_TEST_TMPDIR/list" "$RULES/all.list")" ]
	[ -z "$(comm -13 "$BATS_TEST_TMPDIR/list" "$BATS_TEST_TMPDIR/second")" ]
	[ "$(nm -j status | jq .rules)" -eq "$listed" ]
	[ "$(nm -j status | jq .prefixes)" -eq "$(awk '{ print $1 }' "$BATS_TEST_TMPDIR/list" | sort -u | wc -l)" ]
	# The bucket counts are those of exactly these rules, added at once.
	nm_buckets >"$BATS_TEST_TMPDIR/buckets"
	nm deny flush >/dev/null
	[ "$(nm_buckets)" = "0 0" ]
	nm deny add file "$BATS_TEST_TMPDIR/list" >/dev/null
	[ "$(nm_buckets)" = "$(cat "$BATS_TEST_TMPDIR/buckets")" ]
}
