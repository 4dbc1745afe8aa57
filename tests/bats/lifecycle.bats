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
	EXTRA_DIRS=() # pin dirs a test made: unloaded, then removed
}

teardown() {
	local rc=0 p
	nm_kill_started
	for p in "${EXTRA_PINS[@]}"; do rm -f "$p"; done
	for p in "${EXTRA_DIRS[@]}"; do
		case $p in /sys/fs/bpf/nmtest-*) ;; *) continue ;; esac
		[ ! -e "$p/maps/config" ] || "$NETMONCTL" --pin-dir "$p" unload >/dev/null 2>&1 || rc=1
		[ ! -e "$p" ] || rm -rf "$p" || rc=1
	done
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

@test "status lists what the attached layers cannot enforce" {
	jq_status '.limits[]' | grep -qx 'no layer is attached: no rule is enforced'
	nm attach cgroup "$CG"
	run jq_status '.limits[]'
	assert_success
	[[ $output != *"no layer is attached"* ]]
	assert_output --partial "dir ingress rules are not enforced"
	assert_output --partial "judged by its creator's cgroup"
	assert_output --partial "raw sockets, unconnected ping sends and SCTP are checked only at socket creation"
	run nm status
	assert_output --partial "limits:"
	assert_output --partial "  connections made before a rule keep working"
}

@test "a rule no attached layer enforces is said so: a warning at add, enforced:false in deny list -j" {
	run --separate-stderr nm deny add 10.1.2.3 port 80
	assert_success
	[ "$output" = "added 1 rule" ]
	[[ $stderr == "netmonctl: deny add: warning: 1 rule is not enforced: no layer is attached"* ]]
	nm attach cgroup "$CG"
	run --separate-stderr nm deny add 10.1.2.3 port 81
	assert_success
	[ -z "$stderr" ]
	# The cgroup layer sees egress and bind: ingress needs the LSM layer.
	run --separate-stderr nm deny add 10.1.2.3 port 82,83 dir bind
	assert_success
	[ -z "$stderr" ]
	run --separate-stderr nm deny add 10.1.2.3 port 84,85 dir ingress
	assert_success
	[[ $stderr == *"2 rules are not enforced: dir ingress needs the LSM layer"* ]]
	run nm -j deny add 10.1.2.3 dir ingress
	assert_success
	[ "$(jq -r .unenforced <<<"$output")" = 1 ]
	run nm -j deny list
	assert_success
	[ "$(jq -sc '[.[] | select(.enforced) | .rule] | sort' <<<"$output")" = '["10.1.2.3 port 80","10.1.2.3 port 81","10.1.2.3 port 82 dir bind","10.1.2.3 port 83 dir bind"]' ]
	[ "$(jq -s '[.[] | select(.enforced | not)] | length' <<<"$output")" = 3 ]
	probe_expect EPERM --cgroup "$CG" --serve connect tcp 10.1.2.3 80
}

@test "load pins programs and maps; each layer is loaded or says why not" {
	[ -e "$NM_PIN_DIR/maps/hosts" ]
	[ -e "$NM_PIN_DIR/maps/nets" ]
	[ -e "$NM_PIN_DIR/progs/connect4" ]
	[ "$(jq_status .loaded)" = true ]
	[ "$(jq_status .layout_version)" = "$(jq_status .tool_layout_version)" ]
	for p in connect4 connect6 sendmsg4 sendmsg6 bind4 bind6 sock_create; do
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
	# A probe hammers a denied destination, run after run, until three
	# upgrades are done: however long a verification takes on a busy
	# machine, the upgrades always happen while it hammers.
	local out="$BATS_TEST_TMPDIR/hammer" stop="$BATS_TEST_TMPDIR/stop" runs
	(
		while [ ! -e "$stop" ]; do
			nm_in_net "$NMPROBE" --cgroup "$CG" --count 20000 --serve connect tcp 10.1.2.3 80 || true
		done
	) >"$out" 2>&1 &
	NM_PIDS+=($!)
	sleep 0.2
	nm load >/dev/null
	nm load >/dev/null
	nm load >/dev/null
	touch "$stop"
	wait "${NM_PIDS[-1]}"
	unset 'NM_PIDS[-1]'
	runs=$(grep -c '^count=' "$out")
	[ "$runs" -ge 2 ] || { echo "only $runs probe runs: $(cat "$out")" >&2; false; }
	# Every attempt of every run was refused: failures == count.
	[ "$(grep -c '^count=20000 .*failures=20000$' "$out")" = "$runs" ] || { cat "$out" >&2; false; }
	[ "$(grep -c '^EPERM$' "$out")" = "$runs" ]
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
	run --separate-stderr nm deny add file "$BATS_TEST_TMPDIR/in"
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
	assert_output "netmonctl: deny del: 10.1.2.3 port 81: no such rule; nothing changed"
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

@test "one prefix takes rule after rule beyond its 8 slots, one command at a time" {
	for p in 1 2 3 4 5 6 7 8 9 10 11 12; do nm deny add 10.0.0.0/8 port $p >/dev/null; done
	[ "$(nm deny list)" = "$(printf '10.0.0.0/8 port %d\n' $(seq 1 12))" ]
	[ "$(nm -j status | jq .rules)" = 12 ]
}

@test "JSON mode: results and errors are JSON on stdout" {
	run nm -j deny add 10.1.2.3 port 80
	assert_success
	[ "$(jq -r .added <<<"$output")" = 1 ]
	run nm -j deny add 10.1.2.300
	assert_failure 2
	[[ "$(jq -r .error <<<"$output")" == "deny add: 10.1.2.300: not an IPv4 or IPv6 address" ]]
	run nm -j deny list
	[ "$(jq -r .rule <<<"$output")" = "10.1.2.3 port 80" ]
	# the exact line (formatted without jansson, so its shape is pinned here)
	assert_output '{"rule":"10.1.2.3 port 80","family":"ipv4","addr":"10.1.2.3","prefixlen":32,"port_lo":80,"port_hi":80,"proto":"any","dir":"egress","enforced":false,"hits":0}'
	nm deny add any dir ingress >/dev/null 2>&1
	nm deny add 2001:db8::/32 port 1000-2000 proto udp >/dev/null 2>&1
	run nm -j deny list
	assert_line '{"rule":"any dir ingress","family":"any","addr":"any","prefixlen":0,"port_lo":0,"port_hi":65535,"proto":"any","dir":"ingress","enforced":false,"hits":0}'
	assert_line '{"rule":"2001:db8::/32 port 1000-2000 proto udp","family":"ipv6","addr":"2001:db8::","prefixlen":32,"port_lo":1000,"port_hi":2000,"proto":"udp","dir":"egress","enforced":false,"hits":0}'
	# -p: the same objects, indented
	[ "$(nm -p deny list | jq -c .)" = "$(nm -j deny list)" ]
	[ "$(nm -p deny list | wc -l)" -gt 20 ]
	nm deny del any dir ingress >/dev/null
	nm deny del 2001:db8::/32 port 1000-2000 proto udp >/dev/null
	# one object per line, which deny add file and replace file read back
	nm deny add 10.1.2.0/24 port 1,2 dir bind >/dev/null
	[ "$(nm -j deny list | wc -l)" = 3 ]
	run bash -c "'$NETMONCTL' --pin-dir '$NM_PIN_DIR' -j deny list | '$NETMONCTL' --pin-dir '$NM_PIN_DIR' -j deny replace file -"
	assert_success
	[ "$(jq -c '[.added, .removed, .rules]' <<<"$output")" = "[0,0,3]" ]
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
	[ "$(nm_buckets)" = "0 0" ]
}

# ids of the cgroup programs pinned now, sorted
cgroup_prog_ids() {
	local p
	for p in connect4 connect6 sendmsg4 sendmsg6 bind4 bind6 sock_create; do
		bpftool prog show pinned "$1/progs/$p" -j | jq .id
	done | sort -n | tr '\n' ' '
}

@test "attach and detach hold the pin-dir lock: an upgrade racing them leaves no link on an old program" {
	local dir="/sys/fs/bpf/nmtest-race-$$" links="$BATS_TEST_TMPDIR/links" loader i cg cgs=() ids want
	EXTRA_DIRS+=("$dir")
	"$NETMONCTL" --pin-dir "$dir" load >/dev/null
	"$NETMONCTL" --pin-dir "$dir" deny add 10.1.2.3 port 80 >/dev/null
	# Upgrades in the background; meanwhile attach fresh cgroups one after
	# another (every other one detached again at once). Without the lock, an
	# attach that opened the program before an upgrade renamed it and pinned
	# its link after the upgrade walked the links stays on the old program;
	# the more links there are, the longer that walk.
	(for _ in 1 2 3 4; do "$NETMONCTL" --pin-dir "$dir" load >/dev/null || exit 1; done) &
	loader=$!
	NM_PIDS+=("$loader")
	for ((i = 0; i < 600 && ${#cgs[@]} < 150; i++)); do
		kill -0 "$loader" 2>/dev/null || break
		nm_cgroup_create cg
		"$NETMONCTL" --pin-dir "$dir" attach cgroup "$cg" >/dev/null
		if ((i % 2)); then
			"$NETMONCTL" --pin-dir "$dir" detach cgroup "$cg" >/dev/null
		else
			cgs+=("$cg")
		fi
	done
	wait "$loader"
	unset 'NM_PIDS[-1]'
	want=$(cgroup_prog_ids "$dir")
	bpftool link show -j >"$links"
	for cg in "${cgs[@]}"; do
		ids=$(jq -r --argjson c "$(stat -c %i "$cg")" '.[] | select(.cgroup_id == $c) | .prog_id' "$links" | sort -n | tr '\n' ' ')
		[ "$ids" = "$want" ] || { echo "$cg: links on programs $ids, pinned are $want" >&2; return 1; }
	done
	probe_expect EPERM --cgroup "${cgs[0]}" --serve connect tcp 10.1.2.3 80
	probe_expect EPERM --cgroup "${cgs[-1]}" --serve connect tcp 10.1.2.3 80
	"$NETMONCTL" --pin-dir "$dir" unload >/dev/null
}

@test "every command that changes state waits for the pin-dir lock" {
	local ready="$BATS_TEST_TMPDIR/locked" holder args rc dst="/sys/fs/bpf/nmtest-lockpin-$$"
	EXTRA_PINS+=("$dst")
	nm attach cgroup "$CG" >/dev/null
	# Hold the lock netmonctl takes (flock on the pin dir) in a process that
	# is the one to kill: the subshell becomes `sleep`, keeping the fd.
	(
		exec 9<"$NM_PIN_DIR"
		flock 9
		touch "$ready"
		exec sleep 30
	) &
	holder=$!
	NM_PIDS+=("$holder")
	for _ in $(seq 100); do [ -e "$ready" ] && break; sleep 0.05; done
	[ -e "$ready" ]
	for args in "attach cgroup $CG" "detach cgroup $CG" "mode audit" "pin map nets $dst" "unload" \
		"load" "deny add 10.9.9.9"; do
		rc=0
		# shellcheck disable=SC2086
		timeout 1 "$NETMONCTL" --pin-dir "$NM_PIN_DIR" $args >/dev/null 2>&1 || rc=$?
		[ "$rc" = 124 ] || { echo "$args: did not wait for the lock (exit $rc)" >&2; return 1; }
	done
	kill "$holder"
	wait "$holder" 2>/dev/null || true
	unset 'NM_PIDS[-1]'
	# Nothing changed meanwhile.
	[ ! -e "$dst" ]
	[ "$(nm mode)" = enforce ]
	[ -e "$NM_PIN_DIR/links/cg$(stat -c %i "$CG")_connect4" ]
	[ -z "$(nm deny list)" ]
}

@test "one error, printed once: one JSON document under -j, one line on stderr in text" {
	local fake="/sys/fs/bpf/nmtest-layout-$$" never="/sys/fs/bpf/nmtest-never-$$" args n
	EXTRA_DIRS+=("$fake")
	# A pin dir whose config map has another layout (value of 8 bytes).
	mkdir -p "$fake/maps"
	bpftool map create "$fake/maps/config" type array key 4 value 8 entries 1 name config
	local -a cases=(
		"--pin-dir $NM_PIN_DIR deny add 10.1.2.300"
		"--pin-dir $NM_PIN_DIR deny add 10.0.0.0/8 port 99999"
		"--pin-dir $never deny list"
		"--pin-dir $never unload"
		"--pin-dir $never mode audit"
		"--pin-dir $NM_PIN_DIR attach cgroup /tmp"
		"--pin-dir $NM_PIN_DIR attach cgroup $(nm_cgroup2_mount)/nmtest-nonexistent-$$"
		"--pin-dir $NM_PIN_DIR detach cgroup $CG"
		"--pin-dir $fake mode"
		"--pin-dir $fake status"
		"--pin-dir /etc/nmtest-x --nomount load"
		"--pin-dir relative/dir load"
		"--pin-dir $NM_PIN_DIR nosuchcommand"
		"--bogus-option status"
	)
	for args in "${cases[@]}"; do
		# shellcheck disable=SC2086
		run --separate-stderr "$NETMONCTL" -j $args
		[ "$status" -ne 0 ] || { echo "$args: succeeded" >&2; return 1; }
		n=$(jq -s length <<<"$output") || { echo "$args: not JSON: $output" >&2; return 1; }
		[ "$n" = 1 ] || { echo "$args: $n JSON documents: $output" >&2; return 1; }
		jq -e --argjson s "$status" '(.error | type == "string" and length > 0) and .exit == $s' <<<"$output" >/dev/null ||
			{ echo "$args: exit $status, $output" >&2; return 1; }
		[ -z "$stderr" ] || { echo "$args: stderr under -j: $stderr" >&2; return 1; }
		# shellcheck disable=SC2086
		run --separate-stderr "$NETMONCTL" $args
		[ -z "$output" ] || { echo "$args: stdout: $output" >&2; return 1; }
		[ "$(printf '%s\n' "$stderr" | wc -l)" = 1 ] && [[ $stderr == "netmonctl: "*": "* ]] ||
			{ echo "$args: stderr: $stderr" >&2; return 1; }
	done
	[ ! -e "$never" ] && [ ! -e /etc/nmtest-x ]
}
