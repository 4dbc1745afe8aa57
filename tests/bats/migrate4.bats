#!/usr/bin/env bats
# `load` of this netmonctl over pins of layout 4 (written by the netmonctl
# of the last layout-4 commit, built by scripts/build-layout.sh) migrates
# them in place to layout 6: every map but config, the counts and the
# per-hook counters is reused (port sets too), and the buckets are counted
# again with the host rules in them, before any new program runs: since
# layout 5 the hooks look into `hosts` only where a bucket says a rule is
# near. Enforcement never lapses while it runs.
NM_OLD_LAYOUT=4
load helpers
load migrate_helpers

@test "the binary that makes layout 4 pins is the last layout-4 commit's" {
	old_pins_refused
}

@test "load migrates layout 4 in place: host rules, prefixes and port sets stay enforced; buckets count hosts" {
	printf '10.9.0.1 port 80\n10.9.0.0/16 port 22 proto tcp\n2001:db8::/32 port 53\n10.9.0.2\n2001:db8:1::9 port 7\n' |
		old deny replace file - >/dev/null
	old deny add 10.9.0.3 port 1,2,3,4,5,6,7,8,9 >/dev/null # a port set
	old deny add 10.9.0.4 dir ingress >/dev/null 2>&1 # the cgroup layer does not enforce it
	old mode audit >/dev/null
	old deny list | sort >"$BATS_TEST_TMPDIR/before"
	local gen slots
	gen=$(old -j status | jq .generation)
	run nm -j load
	assert_success
	[ "$(jq -r .action <<<"$output")" = upgraded ]
	[ "$(jq -r .migrated_from_layout <<<"$output")" = 4 ]
	slots=$(jq -r .bucket_slots_recounted <<<"$output")
	# the new array (16 slots an element) counted from the keys: egress 10.9/16,
	# egress 2001:db8/32 and ingress 10.9/16 (10.9.0.4) are not 0
	[ "$slots" = 3 ]
	[ "$(jq_status .layout_version)" = "$NM_NEW_LAYOUT" ]
	[ "$(jq_status .rules)" = 15 ]
	[ "$(jq_status .unenforced)" = 1 ]
	[ "$(jq_status .generation)" = "$gen" ]
	[ "$(jq_status .mode)" = audit ]
	diff <(nm deny list | sort) "$BATS_TEST_TMPDIR/before"
	nm mode enforce >/dev/null
	[ "$(udp 10.9.0.1 80)" = EPERM ]
	[ "$(udp 10.9.0.2 5)" = EPERM ]
	[ "$(udp 10.9.0.3 9)" = EPERM ]
	[ "$(udp 10.9.0.3 10)" != EPERM ]
	[ "$(udp 2001:db8:1::9 7)" = EPERM ]
	[ "$(udp 2001:db8:1::9 8)" != EPERM ]
	# The buckets are what adding exactly these rules to an empty store makes.
	local migrated
	migrated=$(nm_buckets)
	nm deny flush >/dev/null
	nm deny add file "$BATS_TEST_TMPDIR/before" >/dev/null 2>&1
	[ "$(nm_buckets)" = "$migrated" ]
	# The layout-4 binary cannot find its counts any more, and changes nothing.
	run old deny add 10.9.0.8
	assert_failure
	[ "$(jq_status .rules)" = 15 ]
	[ "$(udp 10.9.0.8 1)" != EPERM ]
	run nm -j load
	assert_success
	[ "$(jq -r '.migrated_from_layout // "none"' <<<"$output")" = none ]
}

@test "connects at full speed through the migration of 300k layout-4 rules: none gets through" {
	bulk_migrates_under_connects
}

@test "a layout-4 edit killed after its mark: migrated as it is, and the next edit repairs it" {
	killed_edit_migrates
}

@test "a layout-4 flush killed after its switch: the migration keeps the store empty" {
	killed_flush_migrates_empty
}
