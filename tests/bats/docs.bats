#!/usr/bin/env bats
# One definition per fact: `netmonctl help`, netmonctl(8) and the bash
# completion list the same commands and keywords.
load helpers

ROOT=$NM_SRC_ROOT

help_text() { "$NETMONCTL" help 2>&1; }

# The binary's own tables (`help -j`): commands, options, hooks, grammar.
tables() { "$NETMONCTL" -j help; }
# Keywords: the lower-case words of every usage line and of the RULE and
# FILTER grammar (upper case is a metavariable; numbers and punctuation go).
keywords() {
	tables | jq -r '(.commands[] | .command, .args), .rule, .filter' |
		tr -c 'a-z0-9_-' '\n' | grep -E '^[a-z][a-z0-9_-]+$' | sort -u
}
man_text() { MANWIDTH=200 man -l "$ROOT/man/netmonctl.8" 2>/dev/null | col -b; }
completion_commands() { sed -n 's/^ *local commands="\(.*\)"/\1/p' "$ROOT/completions/netmonctl"; }
# The sub-commands the completion offers after deny, allow or policy.
completion_subs() { sed -n "s/^ *local $1_commands=\"\(.*\)\"/\1/p" "$ROOT/completions/netmonctl"; }

# Only the completion test of live state loads and makes a cgroup.
teardown() {
	if [ -n "${NM_PIN_DIR:-}" ]; then
		[ ! -e "$NM_PIN_DIR/maps/config" ] || nm unload >/dev/null
		rm -rf "$NM_PIN_DIR"
	fi
	nm_cgroups_destroy
}

@test "every command of the binary's tables is in help, the man page and the completion, and nothing else" {
	local c top sub
	while read -r c; do
		top=${c%% *}
		help_text | grep -q "^  $c" || { echo "help lacks $c" >&2; return 1; }
		if [ "$top" = "$c" ]; then
			grep -q "^\\\\fBnetmonctl $c\\\\fR" "$ROOT/man/netmonctl.8" || { echo "man SYNOPSIS lacks $c" >&2; return 1; }
			grep -qw -- "$c" <<<"$(completion_commands)" || { echo "completion lacks $c" >&2; return 1; }
		else
			sub=${c#* }
			grep -qE "^\.B $c( |$)|^\\\\fBnetmonctl $top\\\\fR.*\\\\fB$sub\\\\fR" "$ROOT/man/netmonctl.8" ||
				{ echo "man lacks $c" >&2; return 1; }
			grep -qw -- "$sub" <<<"$(completion_subs "$top")" || { echo "completion lacks $c" >&2; return 1; }
		fi
	done < <(tables | jq -r '.commands[].command' | grep -vE '^(deny|allow|policy) help$')
	for c in $(completion_commands); do
		tables | jq -e --arg c "$c" '[.commands[].command | split(" ")[0]] | index($c)' >/dev/null ||
			{ echo "completion offers $c, which the binary does not take" >&2; return 1; }
	done
	for top in deny allow policy; do
		[ -n "$(completion_subs "$top")" ] || { echo "completion has no $top sub-commands" >&2; return 1; }
		for c in $(completion_subs "$top"); do
			tables | jq -e --arg c "$top $c" '[.commands[].command] | index($c)' >/dev/null ||
				{ echo "completion offers $top $c, which the binary does not take" >&2; return 1; }
		done
	done
}

@test "every keyword, option and hook of the binary is in the man page and the completion" {
	local k man
	man=$(man_text)
	for k in $(keywords) $(tables | jq -r '.hooks[]'); do
		grep -qw -- "$k" <<<"$man" || { echo "man lacks $k" >&2; return 1; }
		grep -qw -- "$k" "$ROOT/completions/netmonctl" || { echo "completion lacks $k" >&2; return 1; }
	done
	for k in $(tables | jq -r '.options[] | "--" + .long, (select(.short != "") | "-" + .short)'); do
		grep -q -- "$k" <<<"$man" || { echo "man lacks option $k" >&2; return 1; }
		grep -q -- " $k[ |)\"]" "$ROOT/completions/netmonctl" || { echo "completion lacks option $k" >&2; return 1; }
	done
	for k in $(grep -o 'compgen -W "-j [^"]*"' "$ROOT/completions/netmonctl" | sed 's/compgen -W "\(.*\)"/\1/'); do
		tables | jq -e --arg k "${k#-}" --arg l "${k#--}" '[.options[] | .short, .long] | (index($k) // index($l))' >/dev/null ||
			{ echo "completion offers option $k, which the binary does not take" >&2; return 1; }
	done
}

@test "the tables' words are real: help -j lists what the dispatcher runs" {
	# a word from the tables dispatches (help as the argument: no side effect)
	local c
	while read -r c; do
		# shellcheck disable=SC2086 # the command's words
		run "$NETMONCTL" $c -h
		[ "$status" -eq 0 ] || { echo "netmonctl $c help: exit $status: $output" >&2; return 1; }
	done < <(tables | jq -r '.commands[].command' | grep -vE '^(help|version|deny help)$')
}

# completes LINE: what bash completion offers with the cursor at the end of LINE.
completes() {
	bash -c '
		source /usr/share/bash-completion/bash_completion
		source "$1/completions/netmonctl"
		COMP_LINE=$2 COMP_POINT=${#2}
		read -ra COMP_WORDS <<<"$2"
		[[ $2 == *" " ]] && COMP_WORDS+=("")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		_netmonctl
		echo "${COMPREPLY[*]}"' _ "$ROOT" "$1"
}

@test "the man page renders without warnings" {
	run bash -c "LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l '$ROOT/man/netmonctl.8' 2>&1 >/dev/null"
	assert_output ""
}

@test "the completion completes commands and rule keywords in bash" {
	run bash -c '
		source /usr/share/bash-completion/bash_completion
		source "$1/completions/netmonctl"
		# complete LINE: what bash offers with the cursor at the end of LINE.
		complete_line() {
			COMP_LINE=$1 COMP_POINT=${#1}
			read -ra COMP_WORDS <<<"$1"
			[[ $1 == *" " ]] && COMP_WORDS+=("")
			COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
			_netmonctl
			echo "${COMPREPLY[*]}"
		}
		complete_line "netmonctl de"
		complete_line "netmonctl deny add 10.0.0.1 pro"
		complete_line "netmonctl deny add 10.0.0.1 proto "
		complete_line "netmonctl mode "' _ "$ROOT"
	assert_success
	[ "${lines[0]}" = "detach deny" ]
	[ "${lines[1]}" = "proto" ]
	[ "${lines[2]}" = "tcp udp sctp icmp icmpv6 raw any" ]
	[ "${lines[3]}" = "enforce audit" ]
}

@test "deny del file and deny replace file are in help, deny help, the man page, the README and the completion" {
	help_text | grep -q '^  deny add { RULE | file { FILE | - } } \[cgroup PATH\]$'
	help_text | grep -q '^  deny del { RULE | file { FILE | - } } \[cgroup PATH\]$'
	help_text | grep -q '^  deny replace file { FILE | - } '
	"$NETMONCTL" deny help 2>&1 | grep -q 'netmonctl deny replace file { FILE | - } \[cgroup PATH\]$'
	grep -q '^\.B deny del file ' "$ROOT/man/netmonctl.8"
	grep -q '^\.B deny replace file ' "$ROOT/man/netmonctl.8"
	grep -q '^netmonctl deny del file ' "$ROOT/README.md"
	grep -q '^netmonctl deny replace file ' "$ROOT/README.md"
	# (nothing loaded at that pin dir: no rules to offer)
	run completes "netmonctl --pin-dir /nonexistent deny del "
	assert_success
	assert_output "file"
	run completes "netmonctl deny replace "
	assert_success
	assert_output "file"
}

@test "allow, policy and cgroup PATH are in help, the man page's SCOPES, the README and the completion" {
	help_text | grep -q '^  allow add { RULE | file { FILE | - } } \[cgroup PATH\]$'
	help_text | grep -q '^  policy default { allow | deny } \[dir { egress | bind | ingress }\] \[cgroup PATH\]$'
	help_text | grep -q '^  policy del cgroup PATH'
	[ -z "$(help_text | grep '^  allow test')" ] # deny test checks the global deny list only
	grep -q '^\.SH SCOPES$' "$ROOT/man/netmonctl.8"
	grep -q '^\.B policy del cgroup ' "$ROOT/man/netmonctl.8"
	man_text | grep -q 'default deny (scope ID)'
	grep -q '^### Scopes: per-cgroup policy$' "$ROOT/README.md"
	grep -q '^netmonctl policy default deny cgroup ' "$ROOT/README.md"
	grep -q '^netmonctl allow add .* cgroup ' "$ROOT/README.md"
	run completes "netmonctl allow "
	assert_output "add del replace list flush help"
	run completes "netmonctl policy "
	assert_output "default list del help"
	run completes "netmonctl policy default deny "
	assert_output "dir cgroup"
	run completes "netmonctl policy default deny cgroup /nonexistent dir "
	assert_output "egress bind" # ingress: the global scope only
	run completes "netmonctl policy del "
	assert_output "cgroup"
	run completes "netmonctl allow add 10.0.0.0/8 port 443 "
	assert_output "port proto dir comment cgroup"
	run completes "netmonctl deny list "
	assert_output "cgroup"
	run completes "netmonctl deny test 10.0.0.1 "
	assert_output "port proto dir cgroup pid"
}

@test "the rule keywords of the source (rule_kw) are in help, the man page, the README and the completion" {
	local kws kw
	kws=$(sed -n 's/^static const char \*const rule_kw\[\] = { \(.*\), NULL };/\1/p' "$ROOT/src/rule.c" | tr -d '",')
	[ "$(wc -w <<<"$kws")" -ge 4 ] # port proto dir comment: the pattern still matches
	run completes "netmonctl deny add 10.0.0.1 "
	for kw in $kws; do
		help_text | grep -qE "\\[$kw " || { echo "help lacks [$kw" >&2; return 1; }
		grep -qE "\\[\\\\fB$kw\\\\fR" "$ROOT/man/netmonctl.8" || { echo "man lacks [$kw" >&2; return 1; }
		grep -qE "\\[$kw " "$ROOT/README.md" || { echo "README lacks [$kw" >&2; return 1; }
		[[ " $output " == *" $kw "* ]] || { echo "completion lacks $kw: $output" >&2; return 1; }
	done
}

@test "port lists and service names: one grammar in help, deny help, the man page and the README" {
	local grammar='PORTS := { N | N-M | NAME }[,...]'
	help_text | grep -qF 'RULE := { ADDR[/LEN] | any } [port PORTS]'
	help_text | grep -qF "$grammar"
	"$NETMONCTL" deny help 2>&1 | grep -qF "$grammar"
	grep -qF "$grammar" "$ROOT/README.md"
	MANWIDTH=200 man -l "$ROOT/man/netmonctl.8" 2>/dev/null | col -b | grep -qF "$grammar"
	grep -q '^\.B port \\fIPORTS\\fR$' "$ROOT/man/netmonctl.8"
	run grep -F 'port { N | N-M }]' "$ROOT/README.md" "$ROOT/cmd/main.c" "$ROOT/cmd/deny.c" \
		"$ROOT/cmd/cmds.h"
	assert_failure 1 # the old grammar is gone everywhere
}

@test "the completion offers service names after port, for the last element of a list" {
	run bash -c '
		source /usr/share/bash-completion/bash_completion
		source "$1/completions/netmonctl"
		COMP_LINE="netmonctl deny add 10.0.0.1 port 80,8000-8999,ss" COMP_POINT=${#COMP_LINE}
		COMP_WORDS=(netmonctl deny add 10.0.0.1 port 80,8000-8999,ss) COMP_CWORD=5
		_netmonctl
		echo "${COMPREPLY[*]}"' _ "$ROOT"
	assert_success
	assert_output --partial "80,8000-8999,ssh"
	[[ $output != *" 80,8000-8999,ssh "*" 80,8000-8999,ssh "* ]] # no name twice
}

@test "the completion offers the rules there are after deny del, the attached cgroups after detach cgroup" {
	export NM_PIN_DIR="/sys/fs/bpf/nmtest-$NM_TAG"
	nm load >/dev/null
	nm_cgroup_create CG
	nm attach cgroup "$CG" >/dev/null
	nm deny add 10.1.2.3 port 80 >/dev/null
	nm deny add 2001:db8::/32 >/dev/null 2>&1
	local out rc=0
	out=$(completes "$NETMONCTL --pin-dir $NM_PIN_DIR deny del ")
	[ "$out" = "file 10.1.2.3 2001:db8::/32" ] || { echo "deny del offers: $out" >&2; rc=1; }
	out=$(completes "$NETMONCTL --pin-dir $NM_PIN_DIR detach cgroup ")
	[ "$out" = "$CG" ] || { echo "detach cgroup offers: $out" >&2; rc=1; }
	return $rc
}
