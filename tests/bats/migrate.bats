#!/usr/bin/env bats
# `load` of this netmonctl over pins of layout 2 (written by the netmonctl
# of the last layout-2 commit, built by scripts/build-layout.sh) migrates
# them in place: every rule, the mode and the links stay, and enforcement
# never lapses while it runs.
NM_OLD_LAYOUT=2
load helpers
load migrate_helpers

@test "the binary that makes layout 2 pins is the last layout-2 commit's" {
	run old -j status
	assert_success
	[ "$(jq -r .layout_version <<<"$output")" = 2 ]
	# This netmonctl on unmigrated pins: one line saying what to do.
	run nm deny list
	assert_failure 1
	assert_output --partial "'netmonctl load' migrates it to layout $NM_NEW_LAYOUT"
}

@test "load migrates layout 2 in place: rules, mode and links stay; edits work afterwards" {
	printf '10.9.0.1 port 80\n10.9.0.0/16 port 22 proto tcp\n2001:db8::/32 port 53\n10.9.0.2\n' |
		old deny add file - >/dev/null
	old mode audit >/dev/null
	old deny list | sort >"$BATS_TEST_TMPDIR/before"
	run nm -j load
	assert_success
	[ "$(jq -r .action <<<"$output")" = upgraded ]
	[ "$(jq -r .migrated_from_layout <<<"$output")" = 2 ]
	[ "$(jq -r .links_updated <<<"$output")" -ge 4 ]
	[ "$(jq_status .layout_version)" = "$NM_NEW_LAYOUT" ]
	[ "$(jq_status .rules)" = 4 ]
	[ "$(jq_status .mode)" = audit ]
	[ "$(jq_status .edit_interrupted)" = false ]
	diff <(nm deny list | sort) "$BATS_TEST_TMPDIR/before"
	nm mode enforce >/dev/null
	[ "$(udp 10.9.0.1 80)" = EPERM ]
	[ "$(udp 10.9.0.2 5)" = EPERM ]
	[ "$(udp 10.9.3.3 22)" != EPERM ] # tcp only
	nm deny del 10.9.0.2 >/dev/null
	[ "$(udp 10.9.0.2 5)" != EPERM ]
	printf '10.9.0.7 port 7\n' | nm deny replace file - >/dev/null
	[ "$(udp 10.9.0.1 80)" != EPERM ]
	[ "$(udp 10.9.0.7 7)" = EPERM ]
	# The layout-2 binary refuses what it cannot read, changing nothing.
	run old deny add 10.9.0.8
	assert_failure
	[ "$(jq_status .rules)" = 1 ]
	# Loading again is a plain upgrade.
	run nm -j load
	assert_success
	[ "$(jq -r '.migrated_from_layout // "none"' <<<"$output")" = none ]
}

@test "connects at full speed through the migration of 300k rules: none gets through" {
	bulk_migrates_under_connects
}

@test "a layout-2 store left by a killed edit: the migration counts what the maps hold" {
	old deny add file "$BATS_FILE_TMPDIR/bulk" >/dev/null
	# the binary itself, not the old() function: a kill must reach it
	"$OLD" --pin-dir "$NM_PIN_DIR" deny flush >/dev/null &
	local pid=$!
	NM_PIDS+=("$pid")
	# Killed as soon as it has marked the store: it has 300k entries to go.
	while kill -0 "$pid" 2>/dev/null && [ ! -e "$NM_PIN_DIR/maps/edit_in_progress" ]; do :; done
	kill -KILL "$pid"
	wait "$pid" || true
	[ -e "$NM_PIN_DIR/maps/edit_in_progress" ] || { echo "the flush ended before the kill" >&2; return 1; }
	nm load >/dev/null
	local listed
	listed=$(nm deny list | wc -l)
	[ "$(jq_status .rules)" = "$listed" ]
	# The next edit repairs the rest (buckets), and counts stay right.
	nm deny add 192.0.2.1 >/dev/null
	[ "$(jq_status .edit_interrupted)" = false ]
	[ "$(jq_status .rules)" = $((listed + 1)) ]
}

@test "after a layout-2 netmonctl unloads layout-7 pins, load starts clean" {
	nm load >/dev/null # migrated
	old unload >/dev/null 2>&1 || true
	# It does not know rule_lists, the port sets and the scope maps, which stay behind alone.
	[ -e "$NM_PIN_DIR/maps/rule_lists" ]
	[ -e "$NM_PIN_DIR/maps/port_sets" ]
	[ -e "$NM_PIN_DIR/maps/scope_ctx" ]
	[ ! -e "$NM_PIN_DIR/maps/config" ]
	run nm load
	assert_success
	nm attach cgroup "$CG" >/dev/null # the unload took the link too
	nm deny add 10.9.0.1 >/dev/null
	[ "$(jq_status .rules)" = 1 ]
	[ "$(udp 10.9.0.1 9)" = EPERM ]
}
