#!/usr/bin/env bats
# Rule comments (`comment TEXT`): kept with a rule in the map rule_notes,
# listed after it, read back by `deny add file` / `deny replace file` /
# `restore`, dropped with the rule. No layer needs to be attached: a
# comment names no condition, so nothing here probes the network.
load helpers

setup_file() {
	nm_file_setup
}

teardown_file() {
	nm_file_teardown
}

teardown() {
	local rc=0
	nm deny flush >/dev/null || rc=1
	nm allow flush >/dev/null || rc=1
	return $rc
}

notes_map() { echo "$NM_PIN_DIR/maps/rule_notes"; }

# The listing in a fixed order: the maps' own order is a hash's.
sorted_list() { nm deny list "$@" | sort; }

# The comment `deny list -j` shows for RULE ("" for none).
comment_of() {
	nm -j deny list | jq -r --arg r "$1" 'select(.rule == $r) | .comment // ""'
}

@test "a comment is listed after its rule (text, -d, -j), kept by an add without one, changed by one with one" {
	[ ! -e "$(notes_map)" ] # made at the first comment, not before
	nm deny add 192.0.2.1 port 22,80 comment "jump host #1"
	nm deny add 192.0.2.2
	[ -e "$(notes_map)" ]
	run sorted_list
	assert_output "$(printf '%s\n' '192.0.2.1 port 22 comment "jump host #1"' \
		'192.0.2.1 port 80 comment "jump host #1"' '192.0.2.2')"
	run nm -d deny list
	assert_line '192.0.2.1 port 22 comment "jump host #1"  # hits 0'
	# -j: "rule" without it, "comment" beside it, only where there is one
	[ "$(nm -j deny list | jq -sc '[.[] | [.rule, .comment]] | sort')" = \
		'[["192.0.2.1 port 22","jump host #1"],["192.0.2.1 port 80","jump host #1"],["192.0.2.2",null]]' ]
	nm deny add 192.0.2.1 port 22 # present already: the comment stays
	[ "$(comment_of '192.0.2.1 port 22')" = "jump host #1" ]
	nm deny add 192.0.2.1 port 22 comment other
	[ "$(comment_of '192.0.2.1 port 22')" = other ]
	[ "$(comment_of '192.0.2.1 port 80')" = "jump host #1" ]
	[ "$(nm -j status | jq .rules)" -eq 3 ] # the same rule with another comment is the same rule
	# deny test names each rule that decided with its comment
	run nm deny test 192.0.2.1 port 22 proto tcp
	assert_line '  192.0.2.1 port 22 comment "other"'
	[ "$(nm -j deny test 192.0.2.1 port 80 proto tcp | jq -r '.rules[0].comment')" = "jump host #1" ]
}

@test "listings read back: deny list and deny list -j restore every comment through replace file; replace drops the rest" {
	nm deny add 192.0.2.1 port 22 comment "a b  c"
	nm deny add 2001:db8::/32 dir bind comment 'x#y'
	nm deny add 192.0.2.3
	nm deny list >"$BATS_TEST_TMPDIR/text"
	nm -j deny list >"$BATS_TEST_TMPDIR/json"
	before=$(sorted_list)
	# a replace by a file without comments drops them, the rules stay
	sorted_list | sed 's/ comment .*//' >"$BATS_TEST_TMPDIR/bare"
	run nm deny replace file "$BATS_TEST_TMPDIR/bare"
	assert_output --partial "added 0 rules, removed 0"
	[ "$(sorted_list)" = "$(cat "$BATS_TEST_TMPDIR/bare")" ]
	[ "$(bpftool map dump pinned "$(notes_map)" -j | jq length)" -eq 0 ]
	nm deny replace file "$BATS_TEST_TMPDIR/text"
	[ "$(sorted_list)" = "$before" ]
	nm deny replace file "$BATS_TEST_TMPDIR/bare"
	nm deny replace file "$BATS_TEST_TMPDIR/json"
	[ "$(sorted_list)" = "$before" ]
	# and add file reads them too, into an empty list
	nm deny flush
	nm deny add file "$BATS_TEST_TMPDIR/text"
	[ "$(sorted_list)" = "$before" ]
}

@test "a deleted rule's comment goes with it; a flush drops its own list's only" {
	nm deny add 192.0.2.1 port 22 comment ssh
	nm deny add 192.0.2.1 port 23 comment telnet
	nm allow add 192.0.2.9 comment exception
	nm deny del 192.0.2.1 port 22 comment whatever # a comment does not pick the rule
	nm deny add 192.0.2.1 port 22
	[ "$(comment_of '192.0.2.1 port 22')" = "" ] # added again: none
	[ "$(comment_of '192.0.2.1 port 23')" = telnet ]
	nm deny flush
	run nm allow list
	assert_output '192.0.2.9 comment "exception"'
	[ "$(bpftool map dump pinned "$(notes_map)" -j | jq length)" -eq 1 ]
}

@test "port sets: more than 7 port rules on one prefix keep each its comment, through deletes" {
	for p in 1 2 3 4 5 6 7 8 9 10; do
		nm deny add 192.0.2.7 port $p comment "port $p"
	done
	nm deny del 192.0.2.7 port 4
	nm deny list >"$BATS_TEST_TMPDIR/l"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/l")" -eq 9 ]
	for p in 1 2 3 5 6 7 8 9 10; do
		grep -qx "192.0.2.7 port $p comment \"port $p\"" "$BATS_TEST_TMPDIR/l"
	done
	[ "$(bpftool map dump pinned "$(notes_map)" -j | jq length)" -eq 9 ]
}

@test "save writes comments, restore reads them back" {
	nm deny add 192.0.2.1 port 443 comment "web front"
	nm deny add 192.0.2.2
	nm save "$BATS_TEST_TMPDIR/state"
	grep -qx 'deny 192.0.2.1 port 443 comment "web front"' "$BATS_TEST_TMPDIR/state"
	before=$(sorted_list)
	nm deny flush
	nm restore "$BATS_TEST_TMPDIR/state"
	[ "$(sorted_list)" = "$before" ]
}

@test "bad comments: one line, exit 2, nothing changed" {
	local long
	long=$(printf 'x%.0s' {1..64})
	before=$(nm deny list; ls -R "$NM_PIN_DIR")
	for text in 'a"b' 'a\b' "$long" "" "$(printf 'tab\there')" "café"; do
		run --separate-stderr nm deny add 192.0.2.1 comment "$text"
		[ "$status" -eq 2 ] || { echo "'$text': exit $status: $stderr" >&2; return 1; }
		[[ $stderr == "netmonctl: deny add: comment: "* ]] || { echo "'$text': $stderr" >&2; return 1; }
		[ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ]
	done
	for line in '192.0.2.1 comment "unterminated' '192.0.2.1 comment "a"b' \
		"$(printf '192.0.2.1 comment "a\tb"')" '192.0.2.1 comment "a \"'; do
		printf '%s\n' "$line" >"$BATS_TEST_TMPDIR/f"
		run --separate-stderr nm deny add file "$BATS_TEST_TMPDIR/f"
		[ "$status" -eq 2 ] || { echo "'$line': exit $status: $stderr" >&2; return 1; }
		[[ $stderr == "netmonctl: deny add file: $BATS_TEST_TMPDIR/f:1: "* ]] || { echo "$stderr" >&2; return 1; }
	done
	[ "$before" = "$(nm deny list; ls -R "$NM_PIN_DIR")" ] # no rule, no map made
}

@test "at most 65,536 rules have a comment: past that a command is refused whole" {
	# 65,536 commented rules (one file, one switch), then one more is refused
	python3 -c '
for i in range(65536):
    print("10.%d.%d.1 comment c%d" % (i >> 8, i & 255, i))' >"$BATS_TEST_TMPDIR/full"
	nm deny add file "$BATS_TEST_TMPDIR/full"
	[ "$(bpftool map dump pinned "$(notes_map)" -j | jq length)" -eq 65536 ]
	run --separate-stderr nm deny add 192.0.2.1 port 1,2 comment more
	[ "$status" -eq 1 ]
	assert_equal "$stderr" "netmonctl: deny add: comment: more than 65536 rules would have one"
	[ "$(nm -j status | jq .rules)" -eq 65536 ]
	# a rule without one still goes in, and a comment can still change
	nm deny add 192.0.2.1 port 1
	nm deny add 10.0.0.1 comment changed
	[ "$(comment_of 10.0.0.1)" = changed ]
	nm deny flush
	[ "$(bpftool map dump pinned "$(notes_map)" -j | jq length)" -eq 0 ]
}
