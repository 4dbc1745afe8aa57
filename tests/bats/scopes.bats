#!/usr/bin/env bats
# Scopes (layout 7) on the cgroup layer, this host's kernel: a cgroup's own
# deny and allow lists and default, every scope on the path must agree, the
# global scope included. The cgroup layer is attached at a scratch cgroup
# ($CG, the global rules); scopes live in cgroups below it ($SB, $KID) or
# beside it ($OUT). Probes run in a netns of their own (--newnet), where
# 127.0.0.0/8 is local: an allowed TCP connect to a closed port prints
# ECONNREFUSED, a denied one EPERM. The LSM layer checks the global scope
# only; that side runs in the VMs (enforce_lsm.bats).

load helpers

setup_file() {
	nm_file_setup
}

teardown_file() {
	nm_file_teardown
}

setup() {
	nm_attached_cg_setup
	nm_cgroup_create SB "$CG"
	nm_cgroup_create KID "$SB"
}

# Every scope this test made goes (its rules, default and programs), then
# what nm_attached_cg_teardown puts back. A scope whose cgroup a test
# removed is found by its path.
teardown() {
	local rc=0 path
	nm_kill_started
	while read -r path; do
		[ -n "$path" ] || continue
		nm policy del cgroup "$path" >/dev/null || rc=1
	done < <(nm -j policy list | jq -r '.scopes[] | .cgroup // empty')
	nm allow flush >/dev/null || rc=1
	nm policy default allow >/dev/null || rc=1
	nm_attached_cg_teardown || rc=1
	[ -z "$(ls "$NM_PIN_DIR/scopes" 2>/dev/null)" ] || { echo "scope links left: $(ls "$NM_PIN_DIR/scopes")" >&2; rc=1; }
	return $rc
}

# WANT CGROUP OP PROTO ADDR PORT
probe_in() { probe_expect "$1" --cgroup "$2" --newnet "$3" "$4" "$5" "$6"; }

@test "sandbox: default deny, two allow rules, a nested child, a global deny that still holds" {
	nm policy default deny cgroup "$SB"
	nm allow add 127.0.0.2 port 443 cgroup "$SB"
	nm allow add 127.0.0.3 cgroup "$SB"
	nm deny add 127.0.0.3 port 22 # global: holds inside the scope's allow
	nm deny add 127.0.0.3 port 8080 cgroup "$KID"
	# the sandbox: only what its allow rules name
	probe_in ECONNREFUSED "$SB" connect tcp 127.0.0.2 443
	probe_in EPERM "$SB" connect tcp 127.0.0.2 444
	probe_in EPERM "$SB" connect tcp 127.0.0.4 443
	probe_in ECONNREFUSED "$SB" connect tcp 127.0.0.3 80
	probe_in OK "$SB" sendto udp 127.0.0.3 53
	probe_in EPERM "$SB" sendto udp 127.0.0.4 53
	probe_in EPERM "$SB" connect tcp 127.0.0.3 22
	# the child: its own deny, and every ancestor's scope
	probe_in EPERM "$KID" connect tcp 127.0.0.3 8080
	probe_in ECONNREFUSED "$KID" connect tcp 127.0.0.3 80
	probe_in EPERM "$KID" connect tcp 127.0.0.4 80
	probe_in EPERM "$KID" connect tcp 127.0.0.3 22
	# outside the sandbox only the global rules hold
	probe_in ECONNREFUSED "$CG" connect tcp 127.0.0.4 443
	probe_in ECONNREFUSED "$CG" connect tcp 127.0.0.3 8080
	probe_in EPERM "$CG" connect tcp 127.0.0.3 22
	# IPv6 too: the allow rules are v4, so default deny holds for ::1
	probe_in EPERM "$SB" connect tcp ::1 443
	run nm -j policy list
	assert_success
	jq -se --arg sb "$SB" --arg kid "$KID" '.[0].scopes as $s
		| ($s[] | select(.scope == "global") | .deny_rules == 1 and .default_deny == [])
		and ($s[] | select(.cgroup == $sb) | .default_deny == ["egress","bind"] and .allow_rules == 2
			and .deny_rules == 0 and .programs_attached == 7 and .cgroup_present)
		and ($s[] | select(.cgroup == $kid) | .deny_rules == 1 and .default_deny == [])' <<<"$output"
}

# connect4's checked counter, summed over its attachments
connect4_checked() { nm -j status | jq '[.programs[] | select(.name == "connect4") | .counters.checked] | add'; }

@test "the global default far from every rule and next to one; checked counts one run per connect" {
	local before after
	nm deny add 10.9.9.9 port 1 # the store is not empty, and no rule is near 127/8 or ::1
	before=$(connect4_checked)
	probe_in ECONNREFUSED "$CG" connect tcp 127.0.0.4 80
	after=$(connect4_checked)
	# decided without nm_decide (no rule near, no default deny): still counted, once
	[ $((after - before)) -eq 1 ] || fail "checked went $before -> $after for one connect"
	nm policy default deny
	probe_in EPERM "$CG" connect tcp 127.0.0.4 80
	probe_in EPERM "$CG" connect tcp ::1 80
	probe_in EPERM "$SB" sendto udp 127.0.0.9 53
	nm allow add 127.0.0.4 port 80
	probe_in ECONNREFUSED "$CG" connect tcp 127.0.0.4 80
	probe_in EPERM "$CG" connect tcp 127.0.0.4 81
	before=$(connect4_checked)
	probe_in EPERM "$CG" connect tcp 127.0.0.5 80
	after=$(connect4_checked)
	[ $((after - before)) -eq 1 ] || fail "checked went $before -> $after for one denied connect"
	run nm policy default allow dir egress # bind stays default deny
	assert_output --partial "default deny for bind"
	probe_in ECONNREFUSED "$CG" connect tcp 127.0.0.5 80
	nm policy default allow
	probe_in ECONNREFUSED "$CG" connect tcp 127.0.0.4 81
}

@test "an unprivileged user in a default deny scope: the same verdicts, no way out of the scope, no say in its policy" {
	local out before attached cmd
	nm policy default deny cgroup "$SB"
	nm allow add 127.0.0.2 port 443 cgroup "$SB"
	# The probe's --user: uid and gid 65534, no groups, no capabilities. Not
	# --newnet: for a user that takes a user namespace too, which not every
	# kernel lets it make; this file's netns (host) or lo (VM) has
	# 127.0.0.0/8 local as well.
	probe_expect ECONNREFUSED --cgroup "$SB" --user 65534 connect tcp 127.0.0.2 443
	probe_expect EPERM --cgroup "$SB" --user 65534 connect tcp 127.0.0.4 443
	probe_expect EPERM --cgroup "$SB" --user 65534 sendto udp 127.0.0.2 53
	# as_user CMD...: CMD as that user, started in $SB (a root shell joins it,
	# then drops). nsenter -S/-G, not setpriv as in input.bats: this file runs
	# in the VMs too, whose busybox setpriv cannot change the uid.
	# shellcheck disable=SC2016 # the inner shell expands these
	as_user() { nm_in_net bash -c 'echo $$ >"$1/cgroup.procs" && shift && exec nsenter -S 65534 -G 65534 "$@"' bash "$SB" "$@"; }
	# No way out: not into the cgroup layer's own cgroup, and not into a
	# sibling delegated to the user either, since a move needs write access
	# to the common ancestor ($CG) too. The process that tried is still in
	# $SB, and still denied.
	nm_cgroup_create out "$CG"
	chown 65534:65534 "$out" "$out/cgroup.procs"
	# shellcheck disable=SC2016
	run as_user bash -c 'for to in "$1" "$2"; do echo $$ >"$to/cgroup.procs" && echo "moved to $to"; done
		cat /proc/self/cgroup
		exec "$3" connect tcp 127.0.0.4 443' bash "$CG" "$out" "$NMPROBE"
	assert_failure 1
	[[ $output != *"moved to"* ]]
	[ "$(grep -c 'Permission denied' <<<"$output")" -eq 2 ]
	assert_line "0::${SB#"$(nm_cgroup2_mount)"}"
	assert_equal "${lines[-1]}" EPERM
	[ -z "$(cat "$out/cgroup.procs")" ]
	# No say in the policy: each command that would lift it says why it
	# refuses, and nothing changed (not the scope, not what is attached).
	before=$(nm -j policy list)
	attached=$(nm -j status | jq -c '[.programs[] | {name, attached}]')
	while read -r cmd; do
		# shellcheck disable=SC2086 # $cmd is the words of one command
		run as_user "$NETMONCTL" --pin-dir "$NM_PIN_DIR" $cmd
		assert_failure 1
		[ "${#lines[@]}" -eq 1 ]
		assert_output "netmonctl: ${cmd%% *}: needs root (CAP_BPF and CAP_NET_ADMIN); uid 65534 has neither"
	done <<-EOT
		policy del cgroup $SB
		policy default allow cgroup $SB
		allow add 127.0.0.4 cgroup $SB
		allow flush cgroup $SB
		detach cgroup $CG
	EOT
	[ "$(nm -j policy list)" = "$before" ]
	[ "$(nm -j status | jq -c '[.programs[] | {name, attached}]')" = "$attached" ]
	probe_expect EPERM --cgroup "$SB" --user 65534 connect tcp 127.0.0.4 443
	probe_expect ECONNREFUSED --cgroup "$SB" --user 65534 connect tcp 127.0.0.2 443
}

@test "a scope outside the cgroup layer's subtree: its own rules only, not the global ones" {
	local out
	nm_cgroup_create out
	nm deny add 127.0.0.5 port 80
	nm deny add any port 23 # global `any`: the trie returns it for every list's query
	nm deny add 127.0.0.6 port 80 cgroup "$out"
	probe_in ECONNREFUSED "$out" connect tcp 127.0.0.5 80
	probe_in ECONNREFUSED "$out" connect tcp 127.0.0.5 23
	probe_in EPERM "$CG" connect tcp 127.0.0.5 23
	probe_in EPERM "$out" connect tcp 127.0.0.6 80
	probe_in ECONNREFUSED "$CG" connect tcp 127.0.0.6 80
	# the scope's programs are attached at its cgroup and listed there only
	[ "$(ls "$NM_PIN_DIR/scopes" | wc -l)" -eq 7 ]
	run nm -j status
	jq -se --arg out "$out" '[.[0].programs[].attached[]? | select(. == $out)] | length == 0' <<<"$output"
}

@test "lists are separate: list, flush and replace touch one list; any becomes 0.0.0.0/0 and ::/0" {
	nm deny add 127.0.0.7
	nm deny add 127.0.0.8 port 80 cgroup "$SB"
	nm allow add any port 443 cgroup "$SB"
	assert_equal "$(nm deny list)" "127.0.0.7"
	assert_equal "$(nm deny list cgroup "$SB")" "127.0.0.8 port 80"
	assert_equal "$(nm allow list cgroup "$SB" | sort)" "$(printf '%s\n' '0.0.0.0/0 port 443' '::/0 port 443')"
	assert_equal "$(nm allow list)" ""
	# a listing reads back into its own list, exactly
	nm deny list cgroup "$SB" >"$BATS_TEST_TMPDIR/sb"
	echo "127.0.0.9 port 81" >>"$BATS_TEST_TMPDIR/sb"
	run nm -j deny replace file "$BATS_TEST_TMPDIR/sb" cgroup "$SB"
	assert_success
	jq -e '.added == 1 and .removed == 0' <<<"$output"
	assert_equal "$(nm deny list)" "127.0.0.7"
	probe_in EPERM "$SB" connect tcp 127.0.0.9 81
	# a global flush leaves the scopes' lists be, a scope's flush the global one
	run nm -j deny flush
	jq -e '.removed == 1' <<<"$output"
	assert_equal "$(nm deny list cgroup "$SB" | wc -l)" 2
	probe_in EPERM "$SB" connect tcp 127.0.0.8 80
	nm deny add 127.0.0.7
	run nm -j deny flush cgroup "$SB"
	jq -e '.removed == 2' <<<"$output"
	assert_equal "$(nm deny list)" "127.0.0.7"
	probe_in ECONNREFUSED "$SB" connect tcp 127.0.0.8 80
	probe_in EPERM "$SB" connect tcp 127.0.0.7 80
	# the counts follow every list
	run nm -j status
	jq -se '.[0].rules == 3' <<<"$output"
}

@test "bind in a scope: a dir bind rule, and a default deny for bind" {
	nm deny add 127.0.0.1 port 8081 dir bind cgroup "$SB"
	probe_in EPERM "$SB" bind tcp 127.0.0.1 8081
	probe_in OK "$SB" bind tcp 127.0.0.1 8082
	probe_in OK "$CG" bind tcp 127.0.0.1 8081
	nm policy default deny dir bind cgroup "$KID"
	nm allow add 127.0.0.1 port 9000-9099 dir bind cgroup "$KID"
	probe_in OK "$KID" bind tcp 127.0.0.1 9001
	probe_in EPERM "$KID" bind tcp 127.0.0.1 8082
	probe_in EPERM "$KID" bind tcp 127.0.0.1 8081
	# egress stays allowed there: the default was set for bind only
	probe_in ECONNREFUSED "$KID" connect tcp 127.0.0.4 80
}

@test "ping and raw sockets: a default deny scope refuses them at creation unless allowed everywhere" {
	nm policy default deny cgroup "$SB"
	nm allow add 127.0.0.0/8 cgroup "$SB"
	probe_in EPERM "$SB" socket icmp 127.0.0.2 0
	probe_in EPERM "$SB" socket raw 127.0.0.2 0
	probe_in OK "$CG" socket icmp 127.0.0.2 0
	nm allow add any proto icmp cgroup "$SB"
	probe_in OK "$SB" sendto icmp 127.0.0.2 0
	probe_in EPERM "$SB" socket raw 127.0.0.2 0
	# a scope's rule with no port is said to hold for TCP and UDP only, even
	# where the LSM layer would be attached: it checks the global scope only
	run nm -j deny add 127.0.0.9 cgroup "$SB"
	jq -e '.partly_enforced == 1' <<<"$output"
	run nm deny add 127.0.0.10 cgroup "$SB"
	assert_output --partial "a scope's rules are checked by the cgroup layer"
	run nm -j deny list cgroup "$SB"
	jq -se 'map(select(.enforced == false)) | length == 2' <<<"$output"
	run nm -j status
	jq -se '.[0].partly_enforced == 2' <<<"$output"
}

@test "a cgroup move: sockets keep the scope of the cgroup they were made in, new ones get the new one" {
	local mover
	nm_cgroup_create mover
	nm deny add 127.0.0.4 port 80 cgroup "$SB"
	# the probe waiting at its sync point is the last process started (no pgrep in the VMs)
	move_into_sb() { echo "${NM_PIDS[-1]}" >"$SB/cgroup.procs"; }
	# made outside, moved in before its connect: the socket's cgroup decides
	probe_expect_sync ECONNREFUSED move_into_sb --cgroup "$mover" --newnet connect tcp 127.0.0.4 80
	probe_in EPERM "$SB" connect tcp 127.0.0.4 80
}

@test "events name the scope and the default" {
	local ev="$BATS_TEST_TMPDIR/ev" pid
	nm policy default deny cgroup "$SB"
	nm allow add 127.0.0.2 cgroup "$SB"
	nm deny add 127.0.0.2 port 7777 cgroup "$KID"
	# port 7777 only: the ring buffer may still hold earlier tests' events
	nm -j events count 2 timeout 10 port 7777 >"$ev" &
	pid=$!
	NM_PIDS+=("$pid")
	sleep 0.5
	probe_in EPERM "$SB" connect tcp 127.0.0.4 7777
	probe_in EPERM "$KID" connect tcp 127.0.0.2 7777
	wait "$pid"
	unset 'NM_PIDS[-1]'
	jq -se 'map(.rule) | sort == ["127.0.0.2 port 7777 (scope 2)", "default deny (scope 1)"]' "$ev" ||
		{ cat "$ev" >&2; false; }
	jq -se 'map(select(.rule | startswith("default deny"))) | .[0].daddr == "127.0.0.4"' "$ev"
}

@test "bad input: one line, exit 2, nothing changed" {
	nm deny add 127.0.0.2 cgroup "$SB"
	local before
	before=$(nm -j policy list)
	run nm deny add 127.0.0.3 cgroup "$CG"
	assert_failure 2
	[[ $output == "netmonctl: deny add: cgroup $CG: the cgroup layer is attached here"* ]]
	run nm attach cgroup "$SB"
	assert_failure 2
	[[ $output == "netmonctl: attach: cgroup $SB has a scope"* ]]
	run nm deny add 127.0.0.3 cgroup /nonexistent-nm
	assert_failure 2
	[ "${#lines[@]}" -eq 1 ]
	run nm deny list cgroup "$KID"
	assert_failure 1
	assert_output "netmonctl: deny list: cgroup $KID has no scope: no rule or default was set for it"
	for bad in "" "maybe" "deny dir sideways" "deny cgroup" "allow dir"; do
		# shellcheck disable=SC2086
		run nm policy default $bad
		assert_failure 2
		[ "${#lines[@]}" -eq 1 ]
		[[ ${lines[0]} == "netmonctl: policy default: "* ]]
	done
	run nm policy del "$SB"
	assert_failure 2
	[ "$(nm -j policy list)" = "$before" ]
	[ "$(nm deny list cgroup "$SB")" = "127.0.0.2" ]
	[ "$(ls "$NM_PIN_DIR/scopes" | wc -l)" -eq 7 ]
}

@test "a scope's ingress rule is listed as not enforced without the LSM layer, and counted" {
	run nm deny add 127.0.0.3 dir ingress cgroup "$SB"
	assert_success
	assert_output --partial "1 rule is not enforced: dir ingress needs the LSM layer ('attach lsm')"
	run nm -j deny list cgroup "$SB"
	jq -se 'length == 1 and .[0].enforced == false' <<<"$output"
	run nm -j status
	jq -se '.[0].unenforced == 1' <<<"$output"
	nm deny del 127.0.0.3 dir ingress cgroup "$SB"
	run nm -j status
	jq -se '.[0].unenforced == 0' <<<"$output"
}

@test "a removed cgroup's scope is reported, and policy del reclaims it" {
	local gone
	nm_cgroup_create gone
	nm deny add 127.0.0.2 cgroup "$gone"
	nm allow add 127.0.0.3 cgroup "$gone"
	rmdir "$gone"
	run nm policy list
	assert_output --partial "$gone (cgroup removed: 'policy del')"
	run nm -j policy list
	jq -e --arg g "$gone" '.scopes[] | select(.cgroup == $g) | .cgroup_present == false' <<<"$output"
	run nm -j policy del cgroup "$gone"
	assert_success
	jq -e '.deny_rules == 1 and .allow_rules == 1' <<<"$output"
	[ -z "$(ls "$NM_PIN_DIR/scopes")" ]
	run nm -j status
	jq -se '.[0].rules == 0' <<<"$output"
}

@test "deny test cgroup PATH and pid PID: every scope on the path, each verdict checked by a probe" {
	nm policy default deny cgroup "$SB"
	nm allow add 127.0.0.0/8 port 80 cgroup "$SB"
	nm deny add 127.0.0.3 port 80 cgroup "$KID"
	nm deny add 127.0.0.4 port 80
	nm deny add 127.0.0.0/8 port 90
	nm allow add 127.0.0.5 port 90
	local op addr port want
	while read -r addr port want; do
		run nm -j deny test "$addr" port "$port" proto tcp cgroup "$KID"
		assert_success
		jq -e --arg w "$want" '.verdict == $w' <<<"$output" || { echo "deny test $addr $port: $output" >&2; false; }
		if [ "$want" = deny ]; then
			probe_in EPERM "$KID" connect tcp "$addr" "$port"
		else
			probe_in ECONNREFUSED "$KID" connect tcp "$addr" "$port"
		fi
	done <<-EOT
		127.0.0.2 80 allow
		127.0.0.3 80 deny
		127.0.0.4 80 deny
		127.0.0.2 81 deny
	EOT
	# the global allow list is an exception to the global deny list
	run nm -j deny test 127.0.0.5 port 90 proto tcp
	jq -e '.verdict == "allow" and .global.by == "allow rule" and .global.allow_rules == ["127.0.0.5 port 90"]' <<<"$output"
	probe_in ECONNREFUSED "$CG" connect tcp 127.0.0.5 90
	probe_in EPERM "$CG" connect tcp 127.0.0.6 90
	# why, scope by scope, innermost first
	run nm -j deny test 127.0.0.3 port 80 proto tcp cgroup "$KID"
	jq -e --arg sb "$SB" --arg kid "$KID" '[.scopes[] | [.cgroup, .verdict, .by]]
		== [[$kid, "deny", "deny rule"], [$sb, "allow", "allow rule"]] and .global.verdict == "allow"' <<<"$output"
	run nm deny test 127.0.0.2 port 81 proto tcp cgroup "$KID"
	assert_output --partial "scope 1 ($SB): denied, by default deny"
	# pid: the process's cgroup
	sleep 30 &
	local pid=$!
	NM_PIDS+=("$pid")
	echo "$pid" >"$KID/cgroup.procs"
	run nm -j deny test 127.0.0.3 port 80 proto tcp pid "$pid"
	jq -e '.verdict == "deny" and (.scopes | length) == 2' <<<"$output"
	nm_kill_started
	run nm deny test 127.0.0.3 pid 0
	assert_failure 2
}

@test "per-rule hit counts: deny and allow rules, port sets, any; -d and -j show them; a rule added again starts at 0" {
	nm deny add 127.0.0.5 port 80
	nm deny add 127.0.0.7 port 1,2,3,4,5,6,7,8,9 proto tcp # a port set
	nm deny add any port 99 proto tcp
	nm policy default deny cgroup "$SB"
	nm allow add 127.0.0.6 cgroup "$SB"
	local i
	for i in 1 2 3; do probe_in EPERM "$CG" connect tcp 127.0.0.5 80; done
	probe_in EPERM "$CG" connect tcp 127.0.0.7 4
	probe_in EPERM "$CG" connect tcp 127.0.0.7 4
	probe_in EPERM "$CG" connect tcp 127.0.0.9 99
	probe_in ECONNREFUSED "$SB" connect tcp 127.0.0.6 80
	probe_in ECONNREFUSED "$CG" connect tcp 127.0.0.5 81 # no rule: nothing counted
	run nm -j deny list
	jq -se 'map({(.rule): .hits}) | add | .["127.0.0.5 port 80"] == 3 and .["127.0.0.7 port 4 proto tcp"] == 2
		and .["127.0.0.7 port 5 proto tcp"] == 0 and .["any port 99 proto tcp"] == 1' <<<"$output"
	run nm -j allow list cgroup "$SB"
	jq -se 'map(.hits) == [1]' <<<"$output"
	run nm -d deny list
	assert_line "127.0.0.5 port 80  # hits 3"
	# the -d listing reads back as the same set
	nm -d deny list >"$BATS_TEST_TMPDIR/set"
	run nm -j deny replace file "$BATS_TEST_TMPDIR/set"
	jq -e '.added == 0 and .removed == 0' <<<"$output"
	[ "$(nm -j deny list | jq -s 'map(select(.rule == "127.0.0.5 port 80")) | .[0].hits')" = 3 ]
	nm deny del 127.0.0.5 port 80
	nm deny add 127.0.0.5 port 80
	[ "$(nm -j deny list | jq -s 'map(select(.rule == "127.0.0.5 port 80")) | .[0].hits')" = 0 ]
}
