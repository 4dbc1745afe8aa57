#!/usr/bin/env bats
# `load` of this netmonctl over pins of layout 5 (written by the netmonctl
# of the last layout-5 commit, built by scripts/build-layout.sh) migrates
# them in place to layout 6: the rule maps, the buckets and the port sets
# are reused; config, the counts (now also of rules only the LSM layer
# enforces in full) and the per-hook counters (one more hook) are made
# anew; a port set whose rules include one with no port is made again
# under an id that carries its protocol classes; and the new sock_create
# program is attached wherever the cgroup layer is. Enforcement never
# lapses while it runs.
NM_OLD_LAYOUT=5
load helpers
load migrate_helpers

icmp() { nm_in_net "$NMPROBE" --cgroup "$CG" --newnet "$1" icmp "$2" 0 2>&1 || true; }
raw() { nm_in_net "$NMPROBE" --cgroup "$CG" --newnet "$1" raw "$2" 0 2>&1 || true; }
# Port rules in the rule maps that carry a hide flag (bits 0-1): none at rest.
flagged() {
	local m
	for m in hosts nets; do
		bpftool -j map dump pinned "$NM_PIN_DIR/maps/$m" |
			jq '[.[] | .formatted.value | .r[:.count][] | select(.flags % 4 != 0)] | length'
	done | awk '{ n += $1 } END { print n }'
}

@test "the binary that makes layout 5 pins is the last layout-5 commit's" {
	old_pins_refused
}

@test "load migrates layout 5 in place: rules stay, sock_create joins the cgroup layer, no-port rules cover ping and raw" {
	printf '10.9.0.1 port 80\n10.9.0.0/16 port 22 proto tcp\n2001:db8::/32 port 53\n10.9.0.2\n' |
		old deny replace file - >/dev/null
	old deny add any >/dev/null # no port, every address: raw sockets refused at creation
	old deny del any >/dev/null
	old deny add 10.9.0.4 dir ingress >/dev/null 2>&1 # the cgroup layer does not enforce it
	old mode audit >/dev/null
	old deny list | sort >"$BATS_TEST_TMPDIR/before"
	local gen
	gen=$(old -j status | jq .generation)
	[ "$(old -j status | jq '[.programs[].name] | index("sock_create")')" = null ]
	run nm -j load
	assert_success
	[ "$(jq -r .action <<<"$output")" = upgraded ]
	[ "$(jq -r .migrated_from_layout <<<"$output")" = 5 ]
	[ "$(jq -r .bucket_slots_recounted <<<"$output")" = 0 ] # the buckets are layout 5's
	[ "$(jq -r .cgroups_completed <<<"$output")" = 1 ]
	[ "$(jq -r .sets_remade <<<"$output")" = 0 ]
	[ "$(jq_status .layout_version)" = "$NM_NEW_LAYOUT" ]
	[ "$(jq_status .rules)" = 5 ]
	[ "$(jq_status .unenforced)" = 1 ]
	[ "$(jq_status .partly_enforced)" = 1 ] # 10.9.0.2: ping and raw sends need LSM
	[ "$(jq_status .generation)" = "$gen" ]
	[ "$(jq_status .mode)" = audit ]
	[ "$(nm -j status | jq -r '.programs[] | select(.name == "sock_create") | .attached[0]')" = "$CG" ]
	[ ! -e "$NM_PIN_DIR/maps/rule_totals" ]
	diff <(nm deny list | sort) "$BATS_TEST_TMPDIR/before"
	nm mode enforce >/dev/null
	[ "$(udp 10.9.0.1 80)" = EPERM ]
	[ "$(udp 10.9.0.2 5)" = EPERM ]
	[ "$(icmp connect 10.9.0.2)" = EPERM ] # the old `any protocol` rule now covers ping
	[ "$(icmp connect 10.9.0.3)" = ENETUNREACH ] # allowed; no route in the probe's netns
	# sock_create is attached: a rule on every address refuses raw sockets
	[ "$(raw socket 127.0.0.1)" = OK ]
	nm deny add any proto raw >/dev/null
	[ "$(raw socket 127.0.0.1)" = EPERM ]
	# The layout-5 binary cannot find its counts any more, and changes nothing.
	run old deny add 10.9.0.8
	assert_failure
	[ "$(jq_status .rules)" = 6 ]
	run nm -j load
	assert_success
	[ "$(jq -r '.migrated_from_layout // "none"' <<<"$output")" = none ]
}

@test "a layout-5 port set holding a rule with no port is made again with its classes: ping is denied" {
	old deny add 10.9.0.3 port 1,2,3,4,5,6,7,8,9 >/dev/null # a port set
	old deny add 10.9.0.3 >/dev/null                          # no port: into the set
	old deny add 10.9.0.5 port 1,2,3,4,5,6,7,8,9 >/dev/null # a set with ports only
	old deny list | sort >"$BATS_TEST_TMPDIR/before"
	run nm -j load
	assert_success
	[ "$(jq -r .sets_remade <<<"$output")" = 1 ]
	diff <(nm deny list | sort) "$BATS_TEST_TMPDIR/before"
	[ "$(jq_status .rules)" = 19 ]
	[ "$(jq_status .partly_enforced)" = 1 ]
	[ "$(jq_status .edit_interrupted)" = false ]
	[ "$(udp 10.9.0.3 9)" = EPERM ]
	[ "$(udp 10.9.0.3 10)" = EPERM ]
	[ "$(udp 10.9.0.5 10)" != EPERM ]
	[ "$(icmp connect 10.9.0.3)" = EPERM ]
	[ "$(icmp connect 10.9.0.5)" = ENETUNREACH ] # allowed; no route in the probe's netns
	[ "$(nm -j deny test 10.9.0.3 proto icmp | jq -r .verdict)" = deny ]
	# one set each, the old one gone
	[ "$(bpftool map dump pinned "$NM_PIN_DIR/maps/port_sets" -j | jq length)" = 2 ]
	nm deny del 10.9.0.3 >/dev/null
	[ "$(icmp connect 10.9.0.3)" = ENETUNREACH ] # allowed; no route in the probe's netns
	[ "$(udp 10.9.0.3 9)" = EPERM ]
}

@test "a killed layout-5 edit and a set to make again: after load, the set has its classes and nothing of the edit is left" {
	old deny add file "$BATS_FILE_TMPDIR/bulk" >/dev/null
	{
		head -n 1000 "$BATS_FILE_TMPDIR/bulk"
		printf '10.9.0.3 port %s\n' 1 2 3 4 5 6 7 8 9
		echo 10.9.0.3
	} >"$BATS_TEST_TMPDIR/small"
	old deny add 10.9.0.3 port 1,2,3,4,5,6,7,8,9 >/dev/null
	old deny add 10.9.0.3 >/dev/null
	"$OLD" --pin-dir "$NM_PIN_DIR" deny replace file "$BATS_TEST_TMPDIR/small" >/dev/null &
	local pid=$!
	NM_PIDS+=("$pid")
	while kill -0 "$pid" 2>/dev/null && [ ! -e "$NM_PIN_DIR/maps/edit_in_progress" ]; do :; done
	kill -KILL "$pid"
	wait "$pid" || true
	[ -e "$NM_PIN_DIR/maps/edit_in_progress" ] || { echo "the replace ended before the kill" >&2; return 1; }
	run nm -j load
	assert_success
	[ "$(jq -r .sets_remade <<<"$output")" = 1 ]
	# nothing of the killed edit is left: no mark, no entry with a flag
	[ "$(jq_status .edit_interrupted)" = false ]
	[ "$(flagged)" = 0 ]
	[ "$(jq_status .rules)" = "$(nm deny list | wc -l)" ]
	[ "$(icmp connect 10.9.0.3)" = EPERM ]
	[ "$(udp 10.9.0.3 5)" = EPERM ]
	[ "$(bpftool map dump pinned "$NM_PIN_DIR/maps/port_sets" -j | jq length)" = 1 ]
}

@test "connects at full speed through the migration of 300k layout-5 rules: none gets through" {
	bulk_migrates_under_connects
}

@test "a layout-5 edit killed after its mark: migrated as it is, and the next edit repairs it" {
	killed_edit_migrates
}

@test "a layout-5 flush killed after its switch: the migration keeps the store empty" {
	killed_flush_migrates_empty
}
