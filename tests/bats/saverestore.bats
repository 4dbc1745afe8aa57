#!/usr/bin/env bats
# `save` and `restore`: the whole state (load sizes, mode, attachments,
# rules) in one file, and the kernel made to match it, idempotently and
# without lifting a rule both states have. Real cgroups, real connects
# (cgroup layer) in this file's network namespace.
ADDRS=(10.1.2.3/32)

load helpers

setup_file() {
	nm_require_env
	export NM_PIN_DIR="/sys/fs/bpf/nmtest-$NM_TAG"
	export NETMONCTL_PIN_DIR=$NM_PIN_DIR
	nm_net_create "${ADDRS[@]}"
}

teardown_file() {
	nm_net_destroy
}

setup() {
	nm_cgroup_create CG_A
	nm_cgroup_create CG_B
	S=$BATS_TEST_TMPDIR/state.conf
}

# Nothing loaded before a test: restore loads.
teardown() {
	local rc=0
	nm_kill_started
	if [ -e "$NM_PIN_DIR/maps/config" ]; then nm unload >/dev/null || rc=1; fi
	[ ! -e "$NM_PIN_DIR" ] || rm -rf "$NM_PIN_DIR"
	nm_cgroups_destroy || rc=1
	return $rc
}

jq_status() { nm -j status | jq -r "$1"; }
udp() { nm_in_net "$NMPROBE" --cgroup "$1" connect udp "$2" "$3" 2>&1 || true; }

# state FILE CGROUP MODE RULE...: a state file
state() {
	local f=$1 cg=$2 mode=$3 r
	shift 3
	{
		echo "# a comment"
		echo "load entries 65536"
		echo "mode $mode"
		[ -z "$cg" ] || echo "attach cgroup $cg"
		for r in "$@"; do echo "deny $r"; done
	} >"$f"
}

@test "restore loads, sets the mode, replaces the rules and attaches; a second run changes nothing" {
	state "$S" "$CG_A" audit "10.1.2.3 port 80" "10.0.0.0/8 port 22 proto tcp"
	run nm restore "$S"
	assert_success
	assert_output --partial "restored: added 2 rules, removed 0 (2 in all); mode changed"
	[ "$(jq_status .mode)" = audit ]
	[ "$(jq_status .rules)" = 2 ]
	[ "$(jq_status '.maps[] | select(.name == "nets") | .max_entries')" = 65536 ]
	[ "$(jq_status '[.programs[] | select(.attached | index("'"$CG_A"'"))] | length')" = 7 ]
	local gen links
	gen=$(jq_status .generation)
	links=$(jq_status '[.links[].id] | sort | join(",")')
	run nm -j restore "$S"
	assert_success
	[ "$(jq -c '[.rules.added, .rules.removed, .mode_changed]' <<<"$output")" = "[0,0,false]" ]
	[ "$(jq_status .generation)" = "$gen" ] # no switch
	[ "$(jq_status '[.links[].id] | sort | join(",")')" = "$links" ] # the same links
}

@test "save, unload, restore, save: the same state" {
	state "$S" "$CG_A" enforce "10.1.2.3 port 80" "2001:db8::/32 port 53 proto udp" "any port 9 dir bind"
	nm restore "$S" >/dev/null
	nm save "$BATS_TEST_TMPDIR/saved" >/dev/null
	[ ! -e "$BATS_TEST_TMPDIR/saved.new" ]
	grep -qx "attach cgroup $CG_A" "$BATS_TEST_TMPDIR/saved"
	grep -qx "mode enforce" "$BATS_TEST_TMPDIR/saved"
	nm unload >/dev/null
	nm restore "$BATS_TEST_TMPDIR/saved" >/dev/null
	[ "$(udp "$CG_A" 10.1.2.3 80)" = EPERM ]
	diff <(nm save - | grep -v '^# Saved') <(grep -v '^# Saved' "$BATS_TEST_TMPDIR/saved")
}

@test "restore moves attachments: the new cgroup first, then the old one goes; rules hold in both meanwhile" {
	state "$S" "$CG_A" enforce "10.1.2.3 port 80"
	nm restore "$S" >/dev/null
	[ "$(udp "$CG_A" 10.1.2.3 80)" = EPERM ]
	[ "$(udp "$CG_B" 10.1.2.3 80)" != EPERM ]
	state "$S" "$CG_B" enforce "10.1.2.3 port 80"
	run nm restore "$S"
	assert_success
	[ "${lines[0]}" = "cgroup layer attached to $CG_B" ]
	[ "${lines[1]}" = "cgroup layer detached from $CG_A" ]
	[ "$(udp "$CG_B" 10.1.2.3 80)" = EPERM ]
	[ "$(udp "$CG_A" 10.1.2.3 80)" != EPERM ]
	state "$S" "" enforce "10.1.2.3 port 80" # no attachment at all
	nm restore "$S" >/dev/null
	[ "$(jq_status '[.links[]] | length')" = 0 ]
}

@test "a bad line, a missing cgroup or an LSM layer the kernel refuses: nothing changes" {
	state "$S" "$CG_A" enforce "10.1.2.3 port 80"
	nm restore "$S" >/dev/null
	local gen
	gen=$(jq_status .generation)
	printf 'deny 10.1.2.4\nfrobnicate\n' >"$BATS_TEST_TMPDIR/bad"
	run nm restore "$BATS_TEST_TMPDIR/bad"
	assert_failure 2
	assert_output "netmonctl: restore: $BATS_TEST_TMPDIR/bad:2: 'frobnicate': expected load, mode, attach, deny, allow or policy; nothing changed"
	printf 'deny 10.1.2.4 port 99999\n' | { run nm restore -; assert_failure 2; }
	state "$BATS_TEST_TMPDIR/nocg" "$CG_A/no-such-child" audit "10.1.2.4"
	run nm restore "$BATS_TEST_TMPDIR/nocg"
	assert_failure 1
	assert_output --partial "attach cgroup $CG_A/no-such-child: No such file or directory; nothing changed"
	run nm restore "$BATS_TEST_TMPDIR/missing"
	assert_failure 2
	if nm -j status | jq -e '.kernel.lsm_loadable' >/dev/null; then
		echo "# this kernel loads BPF-LSM: the refusal is tested where it does not (this host)" >&3
	else
		{ cat "$S"; echo "attach lsm"; } >"$BATS_TEST_TMPDIR/lsm"
		run nm restore "$BATS_TEST_TMPDIR/lsm"
		assert_failure 1
		assert_output --partial "attach lsm: this kernel refuses BPF-LSM programs"
	fi
	[ "$(jq_status .generation)" = "$gen" ]
	[ "$(jq_status .mode)" = enforce ]
	[ "$(nm deny list)" = "10.1.2.3 port 80" ]
}

@test "a rule both states have is never lifted: connects at full speed through restores of 100k rules" {
	python3 "$NM_SRC_ROOT/tests/ruleset.py" bulk 100000 7 | sed 's/^/deny /' >"$BATS_TEST_TMPDIR/bulk"
	state "$S" "$CG_A" enforce "10.1.2.3 port 80"
	cp "$S" "$BATS_TEST_TMPDIR/small"
	cat "$BATS_TEST_TMPDIR/bulk" >>"$S"
	sed -i 's/^load entries 65536$/load entries 262144/' "$S" "$BATS_TEST_TMPDIR/small"
	nm restore "$S" >/dev/null
	(
		for i in 1 2 3; do
			nm restore "$BATS_TEST_TMPDIR/small" >/dev/null
			nm restore "$S" >/dev/null
		done
	) &
	local writer=$! bursts=0 out
	NM_PIDS+=("$writer")
	while nm_running "$writer"; do
		out=$(nm_in_net "$NMPROBE" --cgroup "$CG_A" --count 2000 connect udp 10.1.2.3 80 2>&1) || true
		[[ $out == *"count=2000 "*"failures=2000"* ]] || { echo "a connect got through: $out" >&2; return 1; }
		bursts=$((bursts + 1))
	done
	wait "$writer"
	echo "$bursts bursts of 2000 connects, 0 allowed" >&3
	[ "$bursts" -gt 0 ]
}

@test "scopes, allow rules, defaults and comments: save, unload, restore gives the same state and the same verdicts" {
	local sb="$CG_A/s b" # a blank in the path: saved quoted
	mkdir "$sb"
	NM_CGROUPS+=("$sb")
	state "$S" "$CG_A" enforce "10.1.2.3 port 99"
	nm restore "$S" >/dev/null
	nm policy default deny cgroup "$sb"
	nm allow add 10.1.2.3 port 80 cgroup "$sb" comment "the web server"
	nm deny add 10.1.2.3 port 81 cgroup "$CG_B" # outside the layer's subtree: a scope all the same
	nm allow add 10.1.2.3 port 99 proto tcp
	nm policy default deny dir bind
	nm save "$BATS_TEST_TMPDIR/saved" >/dev/null
	grep -qx "allow 10.1.2.3 port 80 cgroup \"$sb\" comment \"the web server\"" "$BATS_TEST_TMPDIR/saved" ||
		grep -qx "allow 10.1.2.3 port 80 comment \"the web server\" cgroup \"$sb\"" "$BATS_TEST_TMPDIR/saved"
	grep -qx "policy default deny dir bind" "$BATS_TEST_TMPDIR/saved"
	[ "$(udp "$sb" 10.1.2.3 80)" = OK ]
	[[ $(udp "$sb" 10.1.2.3 82) == *EPERM* ]]
	nm unload >/dev/null
	[ "$(udp "$sb" 10.1.2.3 82)" = OK ] # nothing loaded: nothing denies
	run nm restore "$BATS_TEST_TMPDIR/saved"
	assert_success
	assert_output --partial "(4 in all, 2 scopes)"
	nm save "$BATS_TEST_TMPDIR/again" >/dev/null
	diff <(grep -v '^# Saved' "$BATS_TEST_TMPDIR/saved") <(grep -v '^# Saved' "$BATS_TEST_TMPDIR/again")
	[ "$(udp "$sb" 10.1.2.3 80)" = OK ]
	[[ $(udp "$sb" 10.1.2.3 82) == *EPERM* ]]  # the scope's default
	[[ $(udp "$CG_A" 10.1.2.3 99) == *EPERM* ]] # the global deny; its allow is TCP's only
	[ "$(nm -j policy list | jq -c '[.scopes[] | [.cgroup, .default_deny, .deny_rules, .allow_rules]]')" = \
		"$(jq -nc --arg sb "$sb" --arg b "$CG_B" '[[null,["bind"],1,1],[$sb,["egress","bind"],0,1],[$b,[],1,0]]')" ]
}

@test "restore removes the scopes the file does not name, and refuses one whose cgroup is missing" {
	local sb
	nm_cgroup_create sb "$CG_A"
	state "$S" "$CG_A" enforce
	echo "deny 10.1.2.3 port 7 cgroup $sb" >>"$S"
	nm restore "$S" >/dev/null
	[[ $(udp "$sb" 10.1.2.3 7) == *EPERM* ]]
	nm policy default deny cgroup "$CG_B"
	nm allow add 10.1.2.3 cgroup "$CG_B"
	run nm restore "$S"
	assert_success
	assert_output --partial "added 0 rules, removed 1 (1 in all, 1 scope)"
	[ "$(nm -j policy list | jq -c '[.scopes[].cgroup]')" = "$(jq -nc --arg s "$sb" '[null, $s]')" ]
	# a missing cgroup: one line, nothing changed
	echo "allow 10.1.2.4 cgroup $CG_A/no-such-child" >>"$S"
	before=$(nm -j policy list; nm deny list cgroup "$sb")
	run --separate-stderr nm restore "$S"
	[ "$status" -eq 1 ]
	assert_equal "$stderr" "netmonctl: restore: cgroup $CG_A/no-such-child: No such file or directory; nothing changed"
	[ "$before" = "$(nm -j policy list; nm deny list cgroup "$sb")" ]
	# a scope where the file attaches the cgroup layer: refused up front
	state "$S" "$CG_A" enforce "10.1.2.3 cgroup $CG_A"
	run --separate-stderr nm restore "$S"
	[ "$status" -eq 2 ]
	[[ $stderr == *"both a scope and where the cgroup layer is attached; nothing changed" ]]
}
