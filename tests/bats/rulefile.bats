#!/usr/bin/env bats
# Rules files and numbers: `deny add file` reads the whole input or applies
# nothing (exit 1 for a read error, 2 for bad content, one line
# `netmonctl: <what>: <why>`), and every number is decimal digits only.
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
	check_bad "$want" "$before" "$after" "$*"
}

# check_bad EXIT BEFORE AFTER WHAT: judge the last `run --separate-stderr`.
check_bad() {
	[ "$status" -eq "$1" ] || { echo "netmonctl $4: exit $status, want $1: $stderr" >&2; return 1; }
	[ -z "$output" ] || { echo "netmonctl $4: stdout not empty: $output" >&2; return 1; }
	[ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ] || { echo "not one line: $stderr" >&2; return 1; }
	[[ $stderr == "netmonctl: "*": "* ]] || { echo "not 'netmonctl: what: why': $stderr" >&2; return 1; }
	[ "$2" = "$3" ] || { echo "netmonctl $4 changed state" >&2; return 1; }
}

# bad_file EXIT MESSAGE-PART: `deny add file` of $BATS_TEST_TMPDIR/f.
bad_file() {
	bad "$1" deny add file "$BATS_TEST_TMPDIR/f"
	[[ $stderr == "netmonctl: deny add file: "*"$2"* ]] || { echo "message lacks '$2': $stderr" >&2; return 1; }
}

# nonblocking_stdin FIRST LATER: run `deny add file -` on a pipe whose read
# end is O_NONBLOCK (as a shell or a parent process can hand it over); the
# writer sends FIRST, waits, then sends LATER and closes.
nonblocking_stdin() {
	python3 - "$1" "$2" "$NETMONCTL" --pin-dir "$NM_PIN_DIR" deny add file - <<-'EOF'
		import fcntl, os, subprocess, sys, time
		first, later, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
		r, w = os.pipe()
		fcntl.fcntl(r, fcntl.F_SETFL, fcntl.fcntl(r, fcntl.F_GETFL) | os.O_NONBLOCK)
		p = subprocess.Popen(cmd, stdin=r)
		os.close(r)
		os.write(w, first.encode())
		time.sleep(0.7)  # netmonctl has read FIRST and found the pipe empty
		os.write(w, later.encode())
		os.close(w)
		sys.exit(p.wait())
	EOF
}

@test "a directory given as the rules file is a read error" {
	bad 1 deny add file "$BATS_TEST_TMPDIR"
	[[ $stderr == *"Is a directory"* ]]
}

@test "non-blocking stdin: waits for the writer and sees a bad line that comes later" {
	local before
	before=$(nm deny list)
	run --separate-stderr nonblocking_stdin $'192.0.2.30\n192.0.2.31 port 80\n' $'192.0.2.32 port 99999\n'
	check_bad 2 "$before" "$(nm deny list)" "deny add file - (non-blocking)"
	[[ $stderr == *"<stdin>:3: port 99999"* ]]
}

@test "non-blocking stdin: every line is applied, none dropped" {
	run --separate-stderr nonblocking_stdin $'192.0.2.40\n' $'192.0.2.41 port 80\n192.0.2.42\n'
	assert_success
	[ "$output" = "added 3 rules" ]
	nm deny list | grep -qx "192.0.2.41 port 80"
	nm deny list | grep -qx "192.0.2.42"
	nm deny del 192.0.2.40
	nm deny del 192.0.2.41 port 80
	nm deny del 192.0.2.42
}

@test "CR-only line endings are an error, not one rule" {
	printf '192.0.2.50\r192.0.2.51\r192.0.2.52\r' >"$BATS_TEST_TMPDIR/f"
	bad_file 2 "f:1: column 11: byte 0x0d: carriage return"
	printf '# made on a classic Mac\r192.0.2.50\r' >"$BATS_TEST_TMPDIR/f"
	bad_file 2 "f:1: column 24: byte 0x0d"
}

@test "CRLF line endings are accepted" {
	printf '192.0.2.60 port 80\r\n# note\r\n\r\n192.0.2.61\r\n' >"$BATS_TEST_TMPDIR/f"
	run --separate-stderr nm deny add file "$BATS_TEST_TMPDIR/f"
	assert_success
	[ "$output" = "added 2 rules" ]
	nm deny del 192.0.2.60 port 80
	nm deny del 192.0.2.61
}

@test "a NUL byte is an error, not the end of the line" {
	printf '192.0.2.70\n192.0.2.20\0 port 80\n' >"$BATS_TEST_TMPDIR/f"
	bad_file 2 "f:2: column 11: byte 0x00: NUL byte"
}

@test "control characters and non-ASCII bytes outside comments are errors, never echoed" {
	printf '192.0.2.\033[31m9\n' >"$BATS_TEST_TMPDIR/f"
	bad_file 2 "f:1: column 9: byte 0x1b: control character"
	[[ $stderr != *$'\033'* ]]
	printf '192.0.2.9 port 8\xc3\xa90\n' >"$BATS_TEST_TMPDIR/f"
	bad_file 2 "f:1: column 17: byte 0xc3: non-ASCII byte"
	# Comments may be UTF-8.
	printf '# Zürich office\n192.0.2.80 # café\n' >"$BATS_TEST_TMPDIR/f"
	run nm deny add file "$BATS_TEST_TMPDIR/f"
	assert_success
	nm deny del 192.0.2.80
}

@test "a line longer than 4096 bytes is an error naming it" {
	{
		echo 192.0.2.90
		printf '192.0.2.91 %4100s\n' "# padding"
	} >"$BATS_TEST_TMPDIR/f"
	bad_file 2 "f:2: line longer than 4096 bytes"
	# No newline at all: the cap holds too (no unbounded allocation).
	head -c 100000 /dev/zero | tr '\0' ' ' >"$BATS_TEST_TMPDIR/f"
	bad_file 2 "f:1: line longer than 4096 bytes"
	printf '192.0.2.92 %4080s\n' "# just under" >"$BATS_TEST_TMPDIR/f"
	run nm deny add file "$BATS_TEST_TMPDIR/f"
	assert_success
	nm deny del 192.0.2.92
}

@test "an unterminated last line is a line" {
	printf '192.0.2.95\n192.0.2.96 port 9' >"$BATS_TEST_TMPDIR/f"
	run --separate-stderr nm deny add file "$BATS_TEST_TMPDIR/f"
	assert_success
	[ "$output" = "added 2 rules" ]
	nm deny del 192.0.2.95
	nm deny del 192.0.2.96 port 9
}

@test "numbers are digits only: no blanks, signs or empty strings" {
	bad 2 deny add 192.0.2.5 port ' 80'
	bad 2 deny add 192.0.2.5 port '80 '
	bad 2 deny add 192.0.2.5 port +80
	bad 2 deny add 192.0.2.5 port -0
	bad 2 deny add 192.0.2.5 port '80- 90'
	bad 2 deny add 192.0.2.5 port 80-+90
	bad 2 deny add 192.0.2.5 port 0x50
	bad 2 deny add '10.0.0.0/ 8'
	bad 2 deny add 10.0.0.0/+8
	bad 2 deny add 10.0.0.0/-0
	bad 2 deny add 10.0.0.0/18446744073709551624 # 2^64 + 8
	bad 2 deny add 192.0.2.5 port 18446744073709551696 # 2^64 + 80
	bad 2 load entries ' 5'
	bad 2 load entries +5
	bad 2 load ringbuf ' 4M'
	bad 2 events count ' 3'
	bad 2 events count -1
	bad 2 events pid +1
	bad 2 events port ' 80'
	bad 2 events timeout ' 5'
	bad 2 events timeout +5
	bad 2 events timeout 1e3
	bad 2 events timeout 0x10
}
