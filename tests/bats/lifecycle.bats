#!/usr/bin/env bats
# Lifecycle: load / attach / detach / pin / upgrade / unload / status, and
# the rule store's bookkeeping, against the real kernel and real pins.
ADDRS=(10.1.2.3/32)

load helpers

setup_file() {
	nm_file_setup "${ADDRS[@]}"
}

teardown_file() {
	nm_file_teardown
}

setup() {
	nm_cgroup_create CG
	EXTRA_PINS=()
}

teardown() {
	local rc=0 p
	nm_kill_started
	for p in "${EXTRA_PINS[@]}"; do rm -f "$p"; done
	nm detach cgroup "$CG" >/dev/null 2>&1 || true
	nm deny flush >/dev/null || rc=1
	nm mode enforce >/dev/null || rc=1
	nm_cgroups_destroy || rc=1
	return $rc
}

jq_status() { nm -j status | jq -er "$1"; }
prog_id() { jq_status ".programs[] | select(.name == \"$1\") | .id"; }
kernel_has_prog() { bpftool prog show id "$1" >/dev/null 2>&1; }

@test "status works before load and says so" {
	run "$NETMONCTL" --pin-dir /sys/fs/bpf/nmtest-never-$$ -j status
	assert_success
	[ "$(jq -r .loaded <<<"$output")" = false ]
	[ "$(jq -r .kernel.cgroup2 <<<"$output")" = "$(nm_cgroup2_mount)" ]
	[ "$(jq -r '.kernel.lsm_loadable | type' <<<"$output")" = boolean ]
	[ ! -e /sys/fs/bpf/nmtest-never-$$ ]
}

@test "load pins programs and maps; each layer is loaded or says why not" {
	[ -e "$NM_PIN_DIR/maps/hosts" ]
	[ -e "$NM_PIN_DIR/maps/nets" ]
	[ -e "$NM_PIN_DIR/progs/connect4" ]
	[ "$(jq_status .loaded)" = true ]
	[ "$(jq_status .layout_version)" = "$(jq_status .tool_layout_version)" ]
	for p in connect4 connect6 sendmsg4 sendmsg6; do
		[ "$(jq_status ".programs[] | select(.name == \"$p\") | .loaded")" = true ]
	done
	if nm_lsm_loadable; then
		[ "$(jq_status '[.programs[] | select(.layer == "lsm" and .loaded)] | length')" = 6 ]
	else
		# Not loadable here: every LSM program is absent and carries the reason.
		[ "$(jq_status '[.programs[] | select(.layer == "lsm" and (.loaded | not) and (.error | length > 0))] | length')" = 6 ]
		[ ! -e "$NM_PIN_DIR/progs/lsm_connect" ]
	fi
}

@test "state outlives the command: rules and attachments are pins" {
	nm deny add 10.1.2.3 port 80
	nm attach cgroup "$CG"
	[ -e "$NM_PIN_DIR/links/cg$(stat -c %i "$CG")_connect4" ]
	run nm deny list
	assert_output "10.1.2.3 port 80"
	probe_expect EPERM --cgroup "$CG" --serve connect tcp 10.1.2.3 80
}

@test "attaching the same cgroup twice is a no-op, not a double attach" {
	nm attach cgroup "$CG"
	local id links
	id=$(prog_id connect4)
	links=$(bpftool link show -j | jq "[.[] | select(.prog_id == $id)] | length")
	run nm attach cgroup "$CG"
	assert_success
	assert_output --partial "already attached"
	[ "$(bpftool link show -j | jq "[.[] | select(.prog_id == $id)] | length")" = "$links" ]
}

@test "detach lifts enforcement; detaching again is an error" {
	nm deny add 10.1.2.3 port 80
	nm attach cgroup "$CG"
	probe_expect EPERM --cgroup "$CG" --serve connect tcp 10.1.2.3 80
	nm detach cgroup "$CG"
	probe_expect OK --cgroup "$CG" --serve connect tcp 10.1.2.3 80
	run nm detach cgroup "$CG"
	assert_failure 1
	assert_output --partial "not attached"
}

@test "upgrade in place keeps rules, mode, links; swaps programs; old ones freed" {
	nm deny add 10.1.2.3 port 80
	nm deny add 10.0.0.0/8 port 22 proto tcp
	nm attach cgroup "$CG"
	local old_id link_ids
	old_id=$(prog_id connect4)
	link_ids=$(bpftool link show -j | jq -c "[.[] | select(.cgroup_id == $(stat -c %i "$CG")) | .id] | sort")
	run nm load
	assert_success
	assert_output --partial "upgraded"
	[ "$(prog_id connect4)" != "$old_id" ]
	! kernel_has_prog "$old_id"
	# The very same links, now running the new program.
	[ "$(bpftool link show -j | jq -c "[.[] | select(.cgroup_id == $(stat -c %i "$CG")) | .id] | sort")" = "$link_ids" ]
	[ "$(bpftool link show -j | jq "[.[] | select(.prog_id == $(prog_id connect4))] | length")" = 1 ]
	[ "$(nm deny list | sort | tr '\n' ';')" = "10.0.0.0/8 port 22 proto tcp;10.1.2.3 port 80;" ]
	probe_expect EPERM --cgroup "$CG" --serve connect tcp 10.1.2.3 80
}

@test "no unenforced moment during an upgrade" {
	nm deny add 10.1.2.3 port 80
	nm attach cgroup "$CG"
	# A probe hammers a denied destination while load upgrades three times.
	local out="$BATS_TEST_TMPDIR/hammer"
	nm_in_net "$NMPROBE" --cgroup "$CG" --count 200000 --serve connect tcp 10.1.2.3 80 >"$out" &
	NM_PIDS+=($!)
	sleep 0.2
	nm load >/dev/null
	nm load >/dev/null
	nm load >/dev/null
	# The upgrades happened while the probe was still hammering.
	kill -0 "${NM_PIDS[-1]}"
	wait "${NM_PIDS[-1]}" || true
	unset 'NM_PIDS[-1]'
	grep -q '^EPERM$' "$out"
	# Every one of the attempts was refused: failures == count.
	grep -Eq 'count=200000 .*failures=200000' "$out" || { cat "$out"; false; }
}

@test "an incompatible pinned layout is refused, not reinterpreted" {
	local cfg
	cfg=$(bpftool map lookup pinned "$NM_PIN_DIR/maps/config" key 0 0 0 0 -j | jq -r '.value | join(" ")')
	# layout_version is the first u32 of the config value: make it 99.
	bpftool map update pinned "$NM_PIN_DIR/maps/config" key 0 0 0 0 value hex 63 00 00 00 ${cfg#* * * * }
	run nm load
	bpftool map update pinned "$NM_PIN_DIR/maps/config" key 0 0 0 0 value $cfg
	assert_failure 1
	assert_output --partial "layout 99"
	[ "$(jq_status .layout_version)" = "$(jq_status .tool_layout_version)" ]
}

@test "pin: re-pin a map inside bpffs; a path outside bpffs is refused" {
	local dst="/sys/fs/bpf/nmtest-pin-$$"
	EXTRA_PINS+=("$dst")
	nm pin map nets "$dst"
	bpftool map show pinned "$dst" | grep -q lpm_trie
	run nm pin map nets "/tmp/nmtest-pin-$$"
	assert_failure 2
	assert_output --partial "not on a bpffs"
	[ ! -e "/tmp/nmtest-pin-$$" ]
	run nm pin prog nosuchprog "/sys/fs/bpf/nmtest-pin2-$$"
	assert_failure 1
}

@test "mode is kept across commands and shown by status" {
	nm mode audit
	[ "$(nm mode)" = audit ]
	[ "$(jq_status .mode)" = audit ]
	nm mode enf
	[ "$(nm mode)" = enforce ]
}

@test "deny list round-trips through deny add file" {
	cat >"$BATS_TEST_TMPDIR/in" <<-EOF
		# a comment, then a blank line

		10.0.0.0/8 port 22 proto tcp
		10.1.0.0/16 port 80
		192.0.2.7 port 1000-2000 proto udp dir bind
		2001:db8::/32 dir ingress
		any port 25
		::ffff:198.51.100.0/120   # v4-mapped: stored as IPv4
	EOF
	run nm deny add file "$BATS_TEST_TMPDIR/in"
	assert_success
	assert_output "added 6 rules"
	nm deny list >"$BATS_TEST_TMPDIR/list"
	grep -qx "198.51.100.0/24" "$BATS_TEST_TMPDIR/list"
	nm deny flush
	[ -z "$(nm deny list)" ]
	nm deny add file - <"$BATS_TEST_TMPDIR/list"
	[ "$(nm deny list | sort)" = "$(sort "$BATS_TEST_TMPDIR/list")" ]
	[ "$(jq_status .rules)" = 6 ]
}

@test "adding an existing rule does not duplicate it; deleting a missing one fails" {
	nm deny add 10.1.2.3 port 80
	run nm deny add 10.1.2.3 port 80
	assert_success
	[ "$(nm deny list | wc -l)" = 1 ]
	[ "$(jq_status .rules)" = 1 ]
	run nm deny del 10.1.2.3 port 81
	assert_failure 1
	assert_output "netmonctl: deny del: 10.1.2.3 port 81: no such rule"
	nm deny del 10.1.2.3 port 80
	[ -z "$(nm deny list)" ]
	[ "$(jq_status .rules)" = 0 ]
}

@test "a bad line in a rules file applies nothing and names the line" {
	nm deny add 10.1.2.3 port 80
	printf '10.0.0.1\n10.0.0.2 port 5\n10.0.0.3 port 99999\n10.0.0.4\n' >"$BATS_TEST_TMPDIR/bad"
	run nm deny add file "$BATS_TEST_TMPDIR/bad"
	assert_failure 2
	assert_output --partial ":3: port 99999"
	[ "$(nm deny list)" = "10.1.2.3 port 80" ]
}

@test "a full rule store applies nothing and says so" {
	local dir="/sys/fs/bpf/nmtest-full-$$"
	"$NETMONCTL" --pin-dir "$dir" load entries 4 >/dev/null
	printf '10.0.0.%d\n' 1 2 3 4 5 >"$BATS_TEST_TMPDIR/five"
	run "$NETMONCTL" --pin-dir "$dir" deny add file "$BATS_TEST_TMPDIR/five"
	local list
	list=$("$NETMONCTL" --pin-dir "$dir" deny list)
	"$NETMONCTL" --pin-dir "$dir" unload >/dev/null
	assert_failure 1
	assert_output --partial "rule store full"
	[ -z "$list" ]
}

@test "more than 8 port rules on one prefix is a clear error" {
	for p in 1 2 3 4 5 6 7 8; do nm deny add 10.0.0.0/8 port $p; done
	run nm deny add 10.0.0.0/8 port 9
	assert_failure 1
	assert_output --partial "at most 8 port rules"
	[ "$(nm deny list | wc -l)" = 8 ]
}

@test "JSON mode: results and errors are JSON on stdout" {
	run nm -j deny add 10.1.2.3 port 80
	assert_success
	[ "$(jq -r .added <<<"$output")" = 1 ]
	run nm -j deny add 10.1.2.300
	assert_failure 2
	[[ "$(jq -r .error <<<"$output")" == "deny add: 10.1.2.300: not an IPv4 or IPv6 address" ]]
	run nm -j deny list
	[ "$(jq -r '.rules[0].rule' <<<"$output")" = "10.1.2.3 port 80" ]
}

@test "unload removes every pin and every program; afterwards nothing is left" {
	local dir="/sys/fs/bpf/nmtest-unload-$$" ids
	"$NETMONCTL" --pin-dir "$dir" load >/dev/null
	"$NETMONCTL" --pin-dir "$dir" attach cgroup "$CG" >/dev/null
	"$NETMONCTL" --pin-dir "$dir" deny add 10.1.2.3 >/dev/null
	ids=$("$NETMONCTL" --pin-dir "$dir" -j status | jq -r '.programs[] | select(.loaded) | .id')
	"$NETMONCTL" --pin-dir "$dir" unload
	[ ! -e "$dir" ]
	for id in $ids; do ! kernel_has_prog "$id"; done
	probe_expect OK --cgroup "$CG" --serve connect tcp 10.1.2.3 80
	run "$NETMONCTL" --pin-dir "$dir" unload
	assert_failure 1
	assert_output --partial "not loaded"
}

@test "bpffs missing where the pins go: mounted like bpftool does, or refused with --nomount" {
	local base="$BATS_TEST_TMPDIR/nobpffs"
	mkdir -p "$base"
	run "$NETMONCTL" --nomount --pin-dir "$base/pins" load
	assert_failure 1
	assert_output --partial "not on a bpffs and --nomount given"
	[ ! -e "$base/pins" ]
	run "$NETMONCTL" --pin-dir "$base/pins" load
	local mounted
	mounted=$(awk -v d="$base" '$2 == d && $3 == "bpf"' /proc/mounts)
	"$NETMONCTL" --pin-dir "$base/pins" unload >/dev/null 2>&1 || true
	umount "$base" 2>/dev/null || true
	assert_success
	[ -n "$mounted" ]
}

@test "bucket bookkeeping: CIDRs sharing a bucket, deleted one by one, keep enforcing" {
	nm attach cgroup "$CG"
	# 10.1.2.0/24 and 10.1.0.0/16 count in the same bucket (10.1); 10.0.0.0/15 is wide.
	nm deny add 10.1.2.0/24 port 80
	nm deny add 10.1.0.0/16 port 81
	nm deny add 10.0.0.0/15 port 82
	probe_expect EPERM --cgroup "$CG" --serve connect tcp 10.1.2.3 80
	nm deny del 10.1.2.0/24 port 80
	probe_expect OK --cgroup "$CG" --serve connect tcp 10.1.2.3 80
	probe_expect EPERM --cgroup "$CG" --serve connect tcp 10.1.2.3 81
	nm deny del 10.0.0.0/15 port 82
	probe_expect OK --cgroup "$CG" --serve connect tcp 10.1.2.3 82
	probe_expect EPERM --cgroup "$CG" --serve connect tcp 10.1.2.3 81
	nm deny del 10.1.0.0/16 port 81
	probe_expect OK --cgroup "$CG" --serve connect tcp 10.1.2.3 81
	# Every count is back to zero: nothing left for the hooks to search.
	[ "$(bpftool map dump pinned "$NM_PIN_DIR/maps/buckets" -j | jq '[.[] | select(.formatted.value != 0)] | length')" = 0 ]
}
