#!/usr/bin/env bats
# shellcheck disable=SC2154 # bats' run sets status, output, stderr
# `deny del file { FILE | - }`: many rules go, all or nothing. A missing
# rule is what `deny del RULE` reports (exit 1), a bad line a usage error
# (exit 2); either way nothing changes. Prefixes losing some of their port
# rules are updated, prefixes losing all are deleted with their bucket
# counts, and the kernel enforces exactly what is left.
ADDRS=(10.1.2.3/32 10.1.3.3/32 10.2.0.5/32 10.3.0.5/32 10.101.0.7/32 2001:db8:2:5::1/128)

load helpers

# 500 rules to delete ($DEL) and 500 to keep ($KEEP), sharing prefixes:
# 10.102.I.0/24 and 2001:db8:2:I::/64 and 10.101.0.I keep some of their
# ports, 10.103.I.0/24 (two ports) and the portless ones go entirely.
gen_rules() {
	local i
	{
		echo 10.1.2.3
		echo 10.2.0.0/16
		for i in $(seq 0 49); do
			echo "10.102.$i.0/24 port 1"
			echo "10.102.$i.0/24 port 2"
			echo "10.103.$i.0/24 port 1"
			echo "10.103.$i.0/24 port 2 proto tcp"
			echo "2001:db8:2:$i::/64 port 53 proto udp"
			echo "10.101.0.$i port 80"
			echo "2001:db8:1::$((i + 1))"
			echo "10.104.$i.0/24"
		done
		for i in $(seq 0 97); do echo "10.100.0.$i"; done
	} >"$DEL"
	{
		echo 10.1.3.3
		echo 10.3.0.0/16
		for i in $(seq 0 49); do
			echo "10.102.$i.0/24 port 3"
			echo "10.102.$i.0/24 port 4 proto udp"
			echo "2001:db8:2:$i::/64 port 80"
			echo "10.101.0.$i port 443"
			echo "2001:db8:1::$((i + 101))"
			echo "10.105.$i.0/24"
		done
		for i in $(seq 0 197); do echo "10.100.1.$i"; done
	} >"$KEEP"
	cat "$DEL" "$KEEP" | shuf >"$ALL"
}

setup_file() {
	nm_file_setup "${ADDRS[@]}"
	export DEL="$BATS_FILE_TMPDIR/del" KEEP="$BATS_FILE_TMPDIR/keep" ALL="$BATS_FILE_TMPDIR/all"
	export KEPT="$BATS_FILE_TMPDIR/kept.list"
	gen_rules
	# What `deny list` prints for the kept half alone.
	nm deny add file "$KEEP" >/dev/null
	nm deny list | sort >"$KEPT"
	nm_buckets >"$KEPT.buckets"
	nm deny flush >/dev/null
}

teardown_file() {
	nm_file_teardown
}

setup() {
	nm_cgroup_create CG
	nm attach cgroup "$CG"
	run --separate-stderr nm deny add file "$ALL"
	assert_output "added 1000 rules"
	# the ones with no port: the cgroup layer holds those for TCP and UDP only
	[[ $stderr == "netmonctl: deny add: warning: $(grep -vc port "$ALL") rules are enforced for TCP and UDP only"* ]]
}

teardown() {
	local rc=0
	nm_kill_started
	nm detach cgroup "$CG" >/dev/null 2>&1 || true
	nm deny flush >/dev/null || rc=1
	nm_cgroups_destroy || rc=1
	return $rc
}

tcp() { probe_expect "$1" --cgroup "$CG" --serve connect tcp "$2" "$3"; }
udp() { probe_expect "$1" --cgroup "$CG" sendto udp "$2" "$3"; }

# status's rule count equals what `deny list` prints, which is N rules.
counts_are() {
	local listed counted
	listed=$(nm deny list | wc -l)
	counted=$(nm -j status | jq .rules)
	[ "$listed" -eq "$1" ] || { echo "deny list: $listed rules, want $1" >&2; return 1; }
	[ "$counted" -eq "$1" ] || { echo "status: $counted rules, want $1" >&2; return 1; }
}

# del_unchanged EXIT MESSAGE-PART ARGS...: `deny del file` fails, one line, nothing changed.
del_unchanged() {
	local want=$1 part=$2 before after
	shift 2
	before=$(nm deny list)
	run --separate-stderr nm deny del file "$@"
	after=$(nm deny list)
	[ "$status" -eq "$want" ] || { echo "exit $status, want $want: $stderr" >&2; return 1; }
	[ -z "$output" ] || { echo "stdout not empty: $output" >&2; return 1; }
	[[ $stderr == "netmonctl: deny del file: "*"$part"* ]] || { echo "message lacks '$part': $stderr" >&2; return 1; }
	[ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ] || { echo "not one line: $stderr" >&2; return 1; }
	[ "$before" = "$after" ] || { echo "deny del file changed the rules" >&2; return 1; }
	counts_are 1000
}

@test "del file: half of 1000 rules go, exactly the other half stays and holds" {
	[ "$(wc -l <"$DEL")" -eq 500 ] && [ "$(wc -l <"$KEEP")" -eq 500 ]
	tcp EPERM 10.1.2.3 80
	run nm deny del file "$DEL"
	assert_success
	assert_output "removed 500 rules"
	[ "$(nm deny list | sort)" = "$(cat "$KEPT")" ]
	counts_are 500
	[ "$(nm -j status | jq .prefixes)" -eq $((2 + 50 * 5 + 198)) ]
	[ "$(nm_buckets)" = "$(cat "$KEPT.buckets")" ] # as if only the kept half had been added
	tcp OK 10.1.2.3 80       # host gone
	tcp EPERM 10.1.3.3 80    # host kept
	tcp OK 10.2.0.5 80       # /16 gone
	tcp EPERM 10.3.0.5 80    # /16 kept
	tcp OK 10.101.0.7 80     # host lost port 80 ...
	tcp EPERM 10.101.0.7 443 # ... kept 443
	udp OK 2001:db8:2:5::1 53    # /64 lost port 53 udp ...
	tcp EPERM 2001:db8:2:5::1 80 # ... kept port 80
}

@test "del file: the rest goes too, and every bucket count is back to zero" {
	nm deny del file "$DEL"
	run nm -j deny del file "$KEEP"
	assert_success
	assert_output '{"removed":500}'
	counts_are 0
	[ "$(nm -j status | jq .prefixes)" -eq 0 ]
	[ "$(nm_buckets)" = "0 0" ]
	tcp OK 10.3.0.5 80
}

@test "del file: a missing rule changes nothing (exit 1, the rule named)" {
	{ head -n 200 "$DEL"; echo "10.77.0.1 port 9"; tail -n +201 "$DEL"; } >"$BATS_TEST_TMPDIR/f"
	del_unchanged 1 "$BATS_TEST_TMPDIR/f: 10.77.0.1 port 9: no such rule; nothing changed" "$BATS_TEST_TMPDIR/f"
	# A prefix that exists, with a port rule it does not have.
	{ cat "$DEL"; echo "10.102.3.0/24 port 9"; } >"$BATS_TEST_TMPDIR/f"
	del_unchanged 1 "10.102.3.0/24 port 9: no such rule" "$BATS_TEST_TMPDIR/f"
	tcp EPERM 10.1.2.3 80
}

@test "del file: a bad line changes nothing (exit 2, file:line named)" {
	{ head -n 300 "$DEL"; echo "10.0.0.300"; tail -n +301 "$DEL"; } >"$BATS_TEST_TMPDIR/f"
	del_unchanged 2 "$BATS_TEST_TMPDIR/f:301: " "$BATS_TEST_TMPDIR/f"
	del_unchanged 2 "$BATS_TEST_TMPDIR/nonexistent" "$BATS_TEST_TMPDIR/nonexistent"
	run nm deny del file
	assert_failure 2
	run nm deny del file "$DEL" extra
	assert_failure 2
}

@test "del file: - reads stdin" {
	run nm deny del file - <"$DEL"
	assert_success
	assert_output "removed 500 rules"
	[ "$(nm deny list | sort)" = "$(cat "$KEPT")" ]
	counts_are 500
	printf '10.77.0.1\n' >"$BATS_TEST_TMPDIR/f"
	run --separate-stderr nm deny del file - <"$BATS_TEST_TMPDIR/f"
	assert_failure 1
	[[ $stderr == *"<stdin>: 10.77.0.1: no such rule"* ]]
}

@test "del file: a rule given twice counts once; comments, blank lines and port lists are fine" {
	printf '# dup\n10.1.2.3\n\n10.1.2.3/32\n10.101.0.7 port 80\n10.101.0.7 port 80 proto any\n' >"$BATS_TEST_TMPDIR/f"
	run nm deny del file "$BATS_TEST_TMPDIR/f"
	assert_success
	assert_output "removed 2 rules"
	counts_are 998
	printf '10.101.0.8 port 80\n' | nm deny del file - | grep -qx "removed 1 rule"
	printf '' | nm deny del file - | grep -qx "removed 0 rules"
	counts_are 997
	# A port list on a line stands for one rule per element.
	printf '10.102.4.0/24 port 1,2,3\n' | nm deny del file - | grep -qx "removed 3 rules"
	counts_are 994
}
