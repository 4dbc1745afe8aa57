#!/usr/bin/env bats
# `load` of this netmonctl over pins of layout 3 (written by the netmonctl
# of the last layout-3 commit, built by scripts/build-layout.sh) migrates
# them in place to layout 6: the port sets start empty beside the rules,
# mode, generation and links, which stay as they are; enforcement never
# lapses while it runs.
NM_OLD_LAYOUT=3
load helpers
load migrate_helpers

@test "the binary that makes layout 3 pins is the last layout-3 commit's" {
	old_pins_refused
}

@test "load migrates layout 3 in place: rules, mode, generation and links stay; port sets work afterwards" {
	printf '10.9.0.1 port 80\n10.9.0.0/16 port 22 proto tcp\n2001:db8::/32 port 53\n10.9.0.2\n' |
		old deny replace file - >/dev/null
	old deny add 10.9.0.3 port 1,2,3,4,5,6,7,8 >/dev/null # a full value, which layout 3 allowed
	old deny add 10.9.0.4 dir ingress >/dev/null 2>&1 # the cgroup layer does not enforce it
	old mode audit >/dev/null
	old deny list | sort >"$BATS_TEST_TMPDIR/before"
	local gen
	gen=$(old -j status | jq .generation)
	run nm -j load
	assert_success
	[ "$(jq -r .action <<<"$output")" = upgraded ]
	[ "$(jq -r .migrated_from_layout <<<"$output")" = 3 ]
	[ "$(jq -r .links_updated <<<"$output")" -ge 4 ]
	[ "$(jq_status .layout_version)" = "$NM_NEW_LAYOUT" ]
	[ "$(jq_status .rules)" = 13 ]
	[ "$(jq_status .unenforced)" = 1 ] # counted per dir from the maps
	[ "$(jq_status .generation)" = "$gen" ]
	[ "$(jq_status .mode)" = audit ]
	diff <(nm deny list | sort) "$BATS_TEST_TMPDIR/before"
	nm mode enforce >/dev/null
	[ "$(udp 10.9.0.1 80)" = EPERM ]
	[ "$(udp 10.9.0.3 8)" = EPERM ]
	# The full value takes one more rule: its 8 go into a port set.
	nm deny add 10.9.0.3 port 9 >/dev/null
	[ "$(udp 10.9.0.3 9)" = EPERM ]
	[ "$(udp 10.9.0.3 1)" = EPERM ]
	[ "$(udp 10.9.0.3 10)" != EPERM ]
	[ "$(jq_status .rules)" = 14 ]
	# The layout-3 binary refuses layout 6, changing nothing.
	run old deny add 10.9.0.8
	assert_failure
	[ "$(jq_status .rules)" = 14 ]
	run nm -j load
	assert_success
	[ "$(jq -r '.migrated_from_layout // "none"' <<<"$output")" = none ]
}

@test "connects at full speed through the migration of 300k layout-3 rules: none gets through" {
	bulk_migrates_under_connects
}

@test "a layout-3 edit killed after its mark: migrated as it is, and the next edit repairs it" {
	killed_edit_migrates
}

@test "a layout-3 flush killed after its switch: the migration keeps the store empty" {
	killed_flush_migrates_empty
}
