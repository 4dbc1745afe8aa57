# shellcheck shell=bash
# Shared by the migration tests: the netmonctl of the last commit that
# writes layout $NM_OLD_LAYOUT (scripts/build-layout.sh) makes the pins,
# this tree's netmonctl migrates them. Set NM_OLD_LAYOUT, then load this.

NM_NEW_LAYOUT=7 # what this tree writes (bpf/netmonctl.h NM_LAYOUT_VERSION)

setup_file() {
	nm_require_env
	OLD=$("$NM_SRC_ROOT/scripts/build-layout.sh" "$NM_OLD_LAYOUT")
	export OLD
	export NM_PIN_DIR="/sys/fs/bpf/nmtest-$NM_TAG"
	nm_net_create
	python3 "$NM_SRC_ROOT/tests/ruleset.py" bulk 300000 5 >"$BATS_FILE_TMPDIR/bulk"
}

teardown_file() {
	nm_net_destroy
}

setup() {
	nm_cgroup_create CG
	old load >/dev/null
	old attach cgroup "$CG" >/dev/null
}

# Whichever netmonctl the state is of takes it all down.
teardown() {
	local rc=0
	nm_kill_started
	nm unload >/dev/null 2>&1 || old unload >/dev/null || rc=1
	[ ! -e "$NM_PIN_DIR" ] || { echo "$NM_PIN_DIR is still there" >&2; rc=1; }
	nm_cgroups_destroy || rc=1
	return $rc
}

old() { "$OLD" --pin-dir "$NM_PIN_DIR" "$@"; }

# The first test of each file: the pins are the old layout's, and this
# netmonctl refuses to edit them with one line saying what to do.
old_pins_refused() {
	run old -j status
	assert_success
	[ "$(jq -r .layout_version <<<"$output")" = "$NM_OLD_LAYOUT" ]
	run nm deny add 10.9.0.1
	assert_failure 1
	assert_output --partial "'netmonctl load' migrates an older one"
	[ "${#lines[@]}" -eq 1 ]
	[ "$(old -j status | jq .rules)" = 0 ]
}
jq_status() { nm -j status | jq -r "$1"; }
udp() { nm_in_net "$NMPROBE" --cgroup "$CG" connect udp "$1" "$2" 2>&1 || true; }

# Denied connects at full speed from before `nm load` starts until after
# it has ended, to the first rule of the bulk set: none may get through.
connects_through_load() {
	local a p out bursts=0 loader
	read -r a _ p <"$BATS_FILE_TMPDIR/bulk"
	[ "$(udp "$a" "$p")" = EPERM ]
	nm load >/dev/null &
	loader=$!
	NM_PIDS+=("$loader")
	while [ "$bursts" -lt 3 ] || kill -0 "$loader" 2>/dev/null; do
		out=$(nm_in_net "$NMPROBE" --cgroup "$CG" --count 2000 connect udp "$a" "$p" 2>&1) || true
		[[ $out == *"count=2000 "*"failures=2000"* ]] ||
			{ echo "a connect to $a port $p got through: $out" >&2; return 1; }
		bursts=$((bursts + 1))
		[ "$bursts" -lt 1000 ] || break
	done
	wait "$loader"
	echo "$bursts bursts of 2000 connects, 0 allowed" >&3
}

# The bulk set added by the old netmonctl, then migrated under full-speed
# denied connects: none gets through, and every rule is there after.
bulk_migrates_under_connects() {
	old deny add file "$BATS_FILE_TMPDIR/bulk" >/dev/null
	connects_through_load
	[ "$(jq_status .layout_version)" = "$NM_NEW_LAYOUT" ]
	[ "$(jq_status .rules)" = 300000 ]
	[ "$(nm deny list | wc -l)" = 300000 ]
}

# An old edit (a replace of the bulk set by its first 1000 rules) killed
# after its mark: `load` migrates the store as it is (edit_interrupted,
# counts of the active generation), and the next edit repairs it.
killed_edit_migrates() {
	old deny add file "$BATS_FILE_TMPDIR/bulk" >/dev/null
	head -n 1000 "$BATS_FILE_TMPDIR/bulk" >"$BATS_TEST_TMPDIR/small"
	# the binary itself, not the old() function: a kill must reach it
	"$OLD" --pin-dir "$NM_PIN_DIR" deny replace file "$BATS_TEST_TMPDIR/small" >/dev/null &
	local pid=$! before a p
	NM_PIDS+=("$pid")
	while kill -0 "$pid" 2>/dev/null && [ ! -e "$NM_PIN_DIR/maps/edit_in_progress" ]; do :; done
	kill -KILL "$pid"
	wait "$pid" || true
	[ -e "$NM_PIN_DIR/maps/edit_in_progress" ] || { echo "the replace ended before the kill" >&2; return 1; }
	before=$(old -j status | jq .rules)
	nm load >/dev/null
	[ "$(jq_status .rules)" = "$before" ]
	[ "$(jq_status .edit_interrupted)" = true ]
	[ "$(nm deny list | wc -l)" = "$before" ]
	read -r a _ p <"$BATS_TEST_TMPDIR/small"
	[ "$(udp "$a" "$p")" = EPERM ] # in the old set and the new
	nm deny add 192.0.2.1 >/dev/null
	[ "$(jq_status .edit_interrupted)" = false ]
	[ "$(jq_status .rules)" = $((before + 1)) ]
	[ "$(nm deny list | wc -l)" = $((before + 1)) ]
	[ "$(udp "$a" "$p")" = EPERM ]
}

# An old flush killed after its switch leaves entries in the maps and an
# empty active generation: the migration keeps the store empty, and the
# next edit drops the leftovers.
killed_flush_migrates_empty() {
	local a p pid try
	read -r a _ p <"$BATS_FILE_TMPDIR/bulk"
	for try in 1 2 3 4 5; do
		old deny replace file "$BATS_FILE_TMPDIR/bulk" >/dev/null
		"$OLD" --pin-dir "$NM_PIN_DIR" deny flush >/dev/null &
		pid=$!
		NM_PIDS+=("$pid")
		while kill -0 "$pid" 2>/dev/null && [ ! -e "$NM_PIN_DIR/maps/edit_in_progress" ]; do :; done
		sleep 0.1 # the switch comes first; deleting 300k entries takes longer
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" || true
		[ -e "$NM_PIN_DIR/maps/edit_in_progress" ] && [ "$(old -j status | jq .rules)" = 0 ] && break
		# killed before its switch, or done before the kill: again (the replace repairs)
	done
	[ "$(old -j status | jq .rules)" = 0 ] || { echo "no kill landed after the switch in $try tries" >&2; return 1; }
	# entries are still in the maps, but the generation is empty
	nm load >/dev/null
	[ "$(jq_status .rules)" = 0 ]
	[ "$(nm deny list | wc -l)" = 0 ]
	[ "$(udp "$a" "$p")" != EPERM ]
	nm deny add 192.0.2.1 >/dev/null # repairs: the leftover entries go
	[ "$(jq_status .rules)" = 1 ]
	[ "$(nm deny list)" = 192.0.2.1 ]
}
