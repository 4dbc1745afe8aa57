#!/usr/bin/env bats
# `load` of this netmonctl over pins of layout 6 (written by the netmonctl
# of the last layout-6 commit, built by scripts/build-layout.sh) migrates
# them in place to layout 7: the rule maps, the buckets, the port sets and
# the counters are reused; config, the counts (now per list) and the scope
# maps are made anew. Every cgroup link gets a new link of the new program
# (made before the old pin is replaced), since a program gets its cgroup
# storage when it is attached and a link update would not give it one.
# Enforcement never lapses while it runs.
NM_OLD_LAYOUT=6
load helpers
load migrate_helpers

# The ids of the links at $CG, sorted.
cg_links() {
	bpftool -j link show | jq -c --argjson cg "$(stat -c %i "$CG")" \
		'[.[] | select(.type == "cgroup" and .cgroup_id == $cg) | .id] | sort'
}


@test "the binary that makes layout 6 pins is the last layout-6 commit's" {
	old_pins_refused
}

@test "load migrates layout 6 in place: rules and counts stay, new links at the cgroup, scopes work after" {
	printf '10.9.0.1 port 80\n10.9.0.0/16 port 22 proto tcp\n2001:db8::/32 port 53\n10.9.0.2\nany proto raw\n' |
		old deny replace file - >/dev/null
	old deny add 10.9.0.4 dir ingress >/dev/null 2>&1 # the cgroup layer does not enforce it
	old mode audit >/dev/null
	old deny list | sort >"$BATS_TEST_TMPDIR/before"
	local gen old_links
	gen=$(old -j status | jq .generation)
	old_links=$(cg_links)
	run nm -j load
	assert_success
	[ "$(jq -r .action <<<"$output")" = upgraded ]
	[ "$(jq -r .migrated_from_layout <<<"$output")" = 6 ]
	[ "$(jq -r '.sets_remade // "none"' <<<"$output")" = none ] # layout 6's sets have their classes
	[ "$(jq_status .layout_version)" = "$NM_NEW_LAYOUT" ]
	[ "$(jq_status .rules)" = 6 ]
	[ "$(jq_status .unenforced)" = 1 ]
	[ "$(jq_status .partly_enforced)" = 1 ] # 10.9.0.2: ping and raw sends need LSM
	[ "$(jq_status .generation)" = "$gen" ]
	[ "$(jq_status .mode)" = audit ]
	[ ! -e "$NM_PIN_DIR/maps/rule_tally" ]
	[ -e "$NM_PIN_DIR/maps/rule_lists" ] && [ -e "$NM_PIN_DIR/maps/scope_ctx" ]
	diff <(nm deny list | sort) "$BATS_TEST_TMPDIR/before"
	# every cgroup link is a new one, and the old ones are gone
	local new_links
	for _ in $(seq 50); do
		new_links=$(cg_links)
		[ "$(jq 'length' <<<"$new_links")" = 7 ] && break
		sleep 0.1
	done
	[ "$(jq 'length' <<<"$new_links")" = 7 ]
	[ "$(jq 'length' <<<"$old_links")" = 7 ]
	[ "$(jq -n --argjson a "$old_links" --argjson b "$new_links" '$a - ($a - $b) | length')" = 0 ]
	nm mode enforce >/dev/null
	[ "$(udp 10.9.0.1 80)" = EPERM ]
	[ "$(udp 10.9.0.2 5)" = EPERM ]
	[ "$(udp 10.9.0.3 5)" != EPERM ]
	# a scope below the migrated attachment: the new programs read their storage
	local sb
	nm_cgroup_create sb "$CG"
	nm policy default deny cgroup "$sb" >/dev/null
	nm allow add 10.9.0.3 cgroup "$sb" >/dev/null
	[ "$(nm_in_net "$NMPROBE" --cgroup "$sb" connect udp 10.9.0.3 5 2>&1)" != EPERM ]
	[ "$(nm_in_net "$NMPROBE" --cgroup "$sb" connect udp 10.9.0.5 5 2>&1 || true)" = EPERM ]
	[ "$(udp 10.9.0.5 5)" != EPERM ] # outside the scope: the global rules only
	nm policy del cgroup "$sb" >/dev/null
	# The layout-6 binary cannot find its counts any more, and changes nothing.
	run old deny add 10.9.0.8
	assert_failure
	[ "$(jq_status .rules)" = 6 ]
	run nm -j load
	assert_success
	[ "$(jq -r '.migrated_from_layout // "none"' <<<"$output")" = none ]
	[ "$(jq -r .links_updated <<<"$output")" = 7 ]
}

@test "connects at full speed through the migration of 300k layout-6 rules: none gets through" {
	bulk_migrates_under_connects
}

@test "a layout-6 edit killed after its mark: migrated as it is, and the next edit repairs it" {
	killed_edit_migrates
}

@test "a layout-6 flush killed after its switch: the migration keeps the store empty" {
	killed_flush_migrates_empty
}
