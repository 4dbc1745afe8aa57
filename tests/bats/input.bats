#!/usr/bin/env bats
# Bad input: one clear line `netmonctl: <what>: <why>`, exit 2 for usage
# errors, and nothing changed (the rule list and the pins stay as they were).
load helpers

setup_file() {
	nm_file_setup
	nm deny add 192.0.2.1 port 53
}

teardown_file() {
	nm_file_teardown
}

# bad EXIT ARGS...: one line on stderr, the given exit code, nothing changed.
bad() {
	local want=$1 before after
	shift
	before=$(nm deny list; ls -R "$NM_PIN_DIR")
	run --separate-stderr nm "$@"
	after=$(nm deny list; ls -R "$NM_PIN_DIR")
	[ "$status" -eq "$want" ] || { echo "netmonctl $*: exit $status, want $want: $stderr" >&2; return 1; }
	[ -z "$output" ] || { echo "netmonctl $*: stdout not empty: $output" >&2; return 1; }
	[ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ] || { echo "not one line: $stderr" >&2; return 1; }
	[[ $stderr == "netmonctl: "*": "* ]] || { echo "not 'netmonctl: what: why': $stderr" >&2; return 1; }
	[ "$before" = "$after" ] || { echo "netmonctl $* changed state" >&2; return 1; }
}

@test "malformed addresses" {
	bad 2 deny add 10.0.0.256
	bad 2 deny add 10.0.0
	bad 2 deny add 1.2.3.4.5
	bad 2 deny add 2001:db8:::1
	bad 2 deny add host.example
	bad 2 deny add ""
	bad 2 deny add
}

@test "malformed prefixes" {
	bad 2 deny add 10.0.0.0/33
	bad 2 deny add 10.0.0.0/-1
	bad 2 deny add 10.0.0.0/
	bad 2 deny add 10.0.0.0/8x
	bad 2 deny add 2001:db8::/129
	bad 2 deny add 10.1.2.3/8 # host bits set
	bad 2 deny add 2001:db8::1/32
}

@test "malformed ports and ranges" {
	bad 2 deny add 10.0.0.1 port 65536
	bad 2 deny add 10.0.0.1 port -1
	bad 2 deny add 10.0.0.1 port 80-
	bad 2 deny add 10.0.0.1 port 90-80
	bad 2 deny add 10.0.0.1 port nosuchservice # `port http` is 80/tcp (/etc/services)
	bad 2 deny add 10.0.0.1 port
	bad 2 deny add 10.0.0.1 port 1 port 2
}

@test "malformed port lists and service names" {
	bad 2 deny add 10.0.0.1 port 80,,81
	bad 2 deny add 10.0.0.1 port ,80
	bad 2 deny add 10.0.0.1 port 80,
	bad 2 deny add 10.0.0.1 port 80,nosuchservice
	bad 2 deny add 10.0.0.1 port ssh proto udp # ssh has no udp entry
	bad 2 deny add 10.0.0.1 port 80-ssh        # ranges take numbers only
	bad 2 deny add 10.0.0.1 port "80, 81"
	bad 2 deny add 10.0.0.1 port "$(seq -s, 1 65)" # at most 64 elements
	bad 2 deny del 10.0.0.1 port 80,,81
}

@test "malformed keywords" {
	bad 2 deny add 10.0.0.1 proto gre
	bad 2 deny add 10.0.0.1 dir sideways
	bad 2 deny add 10.0.0.1 colour red
	bad 2 deny add 10.0.0.1 p 80 # ambiguous: port or proto
	bad 2 deny frobnicate
	bad 2 frobnicate
	bad 2 de # ambiguous: deny or detach
	bad 2 mode maybe
	bad 2 load ringbuf 3000
	bad 2 load ringbuf 4M entries 0
	bad 2 load bogus 1
	bad 2 attach cgroup /tmp
	bad 2 attach cgroup
	bad 2 pin prog connect4
	bad 2 status extra
}

@test "malformed rule files" {
	printf '10.0.0.1\nnonsense here\n' >"$BATS_TEST_TMPDIR/f"
	bad 2 deny add file "$BATS_TEST_TMPDIR/f"
	bad 2 deny add file "$BATS_TEST_TMPDIR/does-not-exist"
	bad 2 deny add file
}

@test "deleting a rule that is not there is a runtime error" {
	bad 1 deny del 192.0.2.1 port 54
	bad 1 deny del 192.0.2.0/24 port 53
}

@test "keywords may be abbreviated to a unique prefix" {
	nm deny a 192.0.2.9 po 7 pr tcp d bind
	run nm deny l
	assert_output --partial "192.0.2.9 port 7 proto tcp dir bind"
	nm deny del 192.0.2.9 port 7 proto tcp dir bind
	run nm st
	assert_success
}

@test "not root: says exactly that" {
	run --separate-stderr setpriv --reuid 65534 --regid 65534 --clear-groups --inh-caps=-all "$NETMONCTL" --pin-dir "$NM_PIN_DIR" status
	assert_failure 1
	[[ $stderr == *"needs root (CAP_BPF and CAP_NET_ADMIN)"* ]]
}

@test "commands: a suggestion for a typo, the matches of an ambiguous prefix, unload and flush only in full" {
	bad 2 stauts
	[ "$stderr" = "netmonctl: stauts: unknown command; did you mean 'status'? (see 'netmonctl help')" ]
	bad 2 frobnicate
	[ "$stderr" = "netmonctl: frobnicate: unknown command; see 'netmonctl help'" ]
	bad 2 de
	[ "$stderr" = "netmonctl: de: ambiguous: detach, deny" ]
	bad 2 u
	[ "$stderr" = "netmonctl: u: 'unload' is spelled out in full: it can remove everything" ]
	bad 2 unl
	bad 2 deny f
	[ "$stderr" = "netmonctl: deny f: 'flush' is spelled out in full: it can remove everything" ]
	bad 2 deny fl
	bad 2 deny rep file /dev/null
	bad 2 deny lsit
	[ "$stderr" = "netmonctl: deny lsit: unknown command; did you mean 'list'? (see 'netmonctl deny help')" ]
	[ "$(nm deny list)" = "192.0.2.1 port 53" ] # still there
	run nm st # a prefix of a command that changes nothing is fine
	assert_success
}

@test "options after the command, and -h after a command shows its help" {
	run nm status -j
	assert_success
	[ "$(jq -r .loaded <<<"$output")" = true ]
	run nm deny list -j
	[ "$(jq -r .rule <<<"$output")" = "192.0.2.1 port 53" ]
	run --separate-stderr nm deny -h
	assert_success
	[[ $stderr == "Usage: netmonctl deny "* ]]
	run --separate-stderr nm restore --help
	assert_success
	[ "$stderr" = "Usage: netmonctl restore { FILE | - }" ]
	printf '192.0.2.1 port 53\n' | nm deny add file - -j >"$BATS_TEST_TMPDIR/out" # `-` is stdin, not an option
	[ "$(jq -c '[.added, .present]' "$BATS_TEST_TMPDIR/out")" = "[0,1]" ]
}

@test "-q: no success lines; data, warnings and errors still print" {
	run --separate-stderr nm -q deny add 192.0.2.9
	assert_success
	[ -z "$output" ]
	[[ $stderr == *"not enforced"* ]] # nothing is attached in this file: the warning stays
	run --separate-stderr nm deny del 192.0.2.9 -q
	[ -z "$output" ]
	run nm -q deny list
	[ "$output" = "192.0.2.1 port 53" ]
	run nm -q mode
	[ "$output" = enforce ]
	bad 2 -q deny add 192.0.2.300
}
