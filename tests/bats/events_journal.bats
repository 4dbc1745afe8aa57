#!/usr/bin/env bats
# netmonctl events output journal: each event one journal entry, its JSON
# keys as NETMONCTL_* fields. journald itself is checked in the boot test
# (tests/boot); here a stand-in socket (journal_sink.py, named through
# NETMONCTL_JOURNAL_SOCKET) records exactly what netmonctl sends, so the
# protocol is checked byte for byte. Private pin dir, scratch cgroup,
# loopback denies, as in events.bats.

load helpers
load events_helpers

setup_file() {
	nm_require_env
	command -v jq >/dev/null || skip "events tests need jq"
}

setup() {
	export NM_PIN_DIR="/sys/fs/bpf/nmtest-$NM_TAG-j$BATS_TEST_NUMBER"
	export NETMONCTL_PIN_DIR=$NM_PIN_DIR
	nm_cgroup_create CG
	SINK_OUT=$BATS_TEST_TMPDIR/journal.ndjson
	export NETMONCTL_JOURNAL_SOCKET=$BATS_TEST_TMPDIR/journal.sock
}

teardown() {
	local rc=0
	nm_kill_started
	if [ -e "$NM_PIN_DIR" ]; then
		nm unload >/dev/null || rc=1
	fi
	nm_cgroups_destroy || rc=1
	return $rc
}

# sink_start: the stand-in journal socket, recording into $SINK_OUT.
sink_start() {
	: >"$SINK_OUT"
	python3 "$BATS_TEST_DIRNAME/journal_sink.py" "$NETMONCTL_JOURNAL_SOCKET" "$SINK_OUT" &
	NM_PIDS+=("$!")
	for _ in $(seq 250); do
		[ -S "$NETMONCTL_JOURNAL_SOCKET" ] && return 0
		sleep 0.02
	done
	echo "journal_sink.py never made $NETMONCTL_JOURNAL_SOCKET" >&2
	return 1
}

# journal_events ARGS...: `events output journal ARGS` to the sink; waits
# until the sink has as many entries as the command sent (count N).
journal_events() {
	run nm events output journal "$@"
	assert_success
	assert_output ""
}

@test "output journal: one entry per event, its fields the JSON keys, the same values" {
	up
	sink_start
	blocked connect tcp 127.0.0.2 9
	local pid=$PID
	blocked connect tcp 127.0.0.2 9
	journal_events count 1 timeout 5
	wait_lines "$SINK_OUT" 1
	run nm -j events count 1 timeout 5
	assert_success
	local json=$output entry
	entry=$(head -n 1 "$SINK_OUT")
	# every JSON key is a field, and nothing else but the three journal ones
	diff <(jq -r 'keys[] | "NETMONCTL_" + ascii_upcase' <<<"$json" | sort) \
		<(jq -r 'keys[] | select(. != "MESSAGE" and . != "PRIORITY" and . != "SYSLOG_IDENTIFIER")' \
			<<<"$entry" | sort)
	# the same facts (the second event differs only in pid, tid and time)
	for k in type verdict hook uid comm cgroup_id cgroup family proto saddr sport daddr dport dir rule; do
		assert_equal "$(jq -r --arg k "NETMONCTL_${k^^}" '.[$k]' <<<"$entry")" \
			"$(jq -r --arg k "$k" '.[$k] | tostring' <<<"$json")"
	done
	assert_equal "$(jq -r .NETMONCTL_PID <<<"$entry")" "$pid"
	assert_equal "$(jq -r .PRIORITY <<<"$entry")" 4
	assert_equal "$(jq -r .SYSLOG_IDENTIFIER <<<"$entry")" netmonctl-events
	assert_equal "$(jq -r .MESSAGE <<<"$entry")" \
		"deny connect4 egress tcp -:0 -> 127.0.0.2:9 pid $pid comm nmprobe cgroup $CG rule 127.0.0.2 port 9"
}

@test "output journal: a comm with a newline goes in the binary form, whole; MESSAGE stays one line" {
	up
	sink_start
	blocked --as $'two\nlines' connect tcp 127.0.0.2 9
	journal_events count 1 timeout 5
	wait_lines "$SINK_OUT" 1
	run jq -r '._BAD // empty' "$SINK_OUT"
	assert_output ""
	assert_equal "$(jq -r .NETMONCTL_COMM "$SINK_OUT")" $'two\nlines'
	run jq -r .MESSAGE "$SINK_OUT"
	assert_equal "${#lines[@]}" 1
	assert_output --partial "comm two lines "
}

@test "output journal: audits go out at priority notice, denies at warning" {
	up
	nm mode audit >/dev/null
	sink_start
	"$NMPROBE" --cgroup "$CG" connect tcp 127.0.0.2 9 >/dev/null 2>&1 || true
	nm mode enforce >/dev/null
	blocked connect tcp 127.0.0.2 9
	journal_events count 2 timeout 5
	wait_lines "$SINK_OUT" 2
	run jq -r '[.NETMONCTL_VERDICT, .PRIORITY] | join(" ")' "$SINK_OUT"
	assert_equal "${lines[0]}" "audit 5"
	assert_equal "${lines[1]}" "deny 4"
}

@test "output journal with no journal socket: one line, status 1, no event consumed" {
	up
	blocked connect tcp 127.0.0.2 9
	run nm events output journal count 1 timeout 1
	assert_failure 1
	assert_output "netmonctl: events: output journal: $NETMONCTL_JOURNAL_SOCKET: No such file or directory (ENOENT)"
	run nm -j events count 1 timeout 5
	assert_success
	assert_equal "$(jq -r .daddr <<<"$output")" 127.0.0.2
}

@test "output: a bad value is a usage error, text and json are the other outputs" {
	up
	run nm events output syslog
	assert_failure 2
	assert_output "netmonctl: events: output syslog: expected text, json or journal"
	blocked connect tcp 127.0.0.2 9
	blocked connect tcp 127.0.0.2 9
	run nm events output json count 1 timeout 5
	assert_success
	assert_equal "$(jq -r .verdict <<<"$output")" deny
	run nm -j events output text count 1 timeout 5
	assert_success
	assert_output --partial " deny    connect4 "
}
