#!/usr/bin/env bats
# netmonctl events: blocked operations read back from the pinned ring buffer.
# Every test loads into its own pin dir (/sys/fs/bpf/nmtest-...-N), attaches
# the cgroup layer to its own scratch cgroup and denies loopback addresses
# there (127.0.0.2:9 and friends): nothing outside the scratch cgroup is
# affected, and a denied connect never leaves the host.

load helpers
load events_helpers

setup_file() {
	nm_require_env
	command -v jq >/dev/null || skip "events tests need jq"
}

setup() {
	export NM_PIN_DIR="/sys/fs/bpf/nmtest-$NM_TAG-$BATS_TEST_NUMBER"
	export NETMONCTL_PIN_DIR=$NM_PIN_DIR
	OUT=$BATS_TEST_TMPDIR/events.out
	nm_cgroup_create CG
}

teardown() {
	local rc=0
	nm_kill_started
	if [ -e "$NM_PIN_DIR" ]; then
		nm mode enforce >/dev/null 2>&1 || true
		nm unload >/dev/null || rc=1
	fi
	case $NM_PIN_DIR in
	/sys/fs/bpf/nmtest-*) [ ! -e "$NM_PIN_DIR" ] || rm -rf "$NM_PIN_DIR" ;;
	esac
	if [ -e "$NM_PIN_DIR-b" ]; then
		"$NETMONCTL" --pin-dir "$NM_PIN_DIR-b" unload >/dev/null || rc=1
	fi
	[ -z "${EV_NET:-}" ] || nm_net_destroy || rc=1
	nm_cgroups_destroy || rc=1
	return $rc
}

rb_drops() {
	nm -j status | jq -e '.totals.rb_drops'
}

# ---- what an event says ----

@test "text: blocked connects made before the reader starts are shown with every field" {
	up
	blocked connect tcp 127.0.0.2 9
	local p1=$PID
	blocked connect tcp 127.0.0.2 9
	local p2=$PID
	run nm events count 2 timeout 5
	assert_success
	[ "${#lines[@]}" -eq 2 ]
	# TIME(date time) VERDICT HOOK PID COMM CGROUP PROTO LOCAL REMOTE RULE...
	read -r d t verdict hook pid comm cg proto local remote rule <<<"${lines[0]}"
	[[ $d =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}$ ]]
	[[ $t =~ ^[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}[+-][0-9]{4}$ ]]
	assert_equal "$verdict" deny
	assert_equal "$hook" connect4
	assert_equal "$pid" "$p1"
	assert_equal "$comm" nmprobe
	assert_equal "$cg" "$CG"
	assert_equal "$proto" tcp
	assert_equal "$local" -
	assert_equal "$remote" 127.0.0.2:9
	assert_equal "$rule" "127.0.0.2 port 9"
	read -r _ _ _ _ pid _ <<<"${lines[1]}"
	assert_equal "$pid" "$p2"
	# The time is now (local time, to the minute).
	now=$(date +%s)
	ev=$(date -d "$d $t" +%s)
	[ $((now - ev)) -ge 0 ] && [ $((now - ev)) -lt 60 ]
}

@test "json: one object per line, every field present with its documented type" {
	up
	blocked connect tcp 127.0.0.2 9
	local p1=$PID
	run nm -j events count 1 timeout 5
	assert_success
	[ "${#lines[@]}" -eq 1 ]
	jq -e . <<<"$output" >/dev/null
	keys=$(jq -c 'keys_unsorted' <<<"$output")
	assert_equal "$keys" '["type","time","ts_ns","verdict","hook","pid","tid","uid","comm","cgroup_id","cgroup","family","proto","saddr","sport","daddr","dport","dir","rule"]'
	jq -e --arg pid "$p1" --arg cg "$CG" --argjson cgid "$(stat -c %i "$CG")" '
		.type == "event" and .verdict == "deny" and .hook == "connect4" and
		.pid == ($pid | tonumber) and .tid == .pid and .uid == 0 and .comm == "nmprobe" and
		.cgroup == $cg and .cgroup_id == $cgid and .family == "ipv4" and .proto == "tcp" and
		.saddr == "" and .sport == 0 and .daddr == "127.0.0.2" and .dport == 9 and
		.dir == "egress" and .rule == "127.0.0.2 port 9" and
		(.ts_ns | type) == "number" and
		(.time | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{9}Z$"))' <<<"$output"
	# RFC 3339 time is the real time of the block, from the monotonic stamp.
	ev=$(jq -r '.time | sub("\\.[0-9]+Z$"; "Z") | fromdateiso8601' <<<"$output")
	now=$(date +%s)
	[ $((now - ev)) -ge 0 ] && [ $((now - ev)) -lt 60 ]
	mono=$(jq -r .ts_ns <<<"$output")
	up_ns=$(awk '{ printf "%.0f", $1 * 1e9 }' /proc/uptime)
	[ "$mono" -le "$((up_ns + 1000000000))" ]
}

@test "json: IPv6, UDP sendmsg, CIDR, port-range and 'any' rules are named as they match" {
	up
	nm deny add ::1 port 9 proto udp >/dev/null
	nm deny add 127.0.1.0/24 port 7-8 >/dev/null
	nm deny add any port 5 proto tcp >/dev/null
	blocked sendto udp ::1 9
	blocked connect udp 127.0.0.2 9
	blocked connect tcp 127.0.1.77 8
	blocked connect tcp ::1 5
	blocked sendmsg udp 127.0.0.2 9
	run nm -j events count 5 timeout 5
	assert_success
	got=$(jq -r '[.hook, .family, .proto, .daddr, .dport, .rule] | join("|")' <<<"$output")
	want="sendmsg6|ipv6|udp|::1|9|::1 port 9 proto udp
connect4|ipv4|udp|127.0.0.2|9|127.0.0.2 port 9
connect4|ipv4|tcp|127.0.1.77|8|127.0.1.0/24 port 7-8
connect6|ipv6|tcp|::1|5|any port 5 proto tcp
sendmsg4|ipv4|udp|127.0.0.2|9|127.0.0.2 port 9"
	assert_equal "$got" "$want"
}

@test "real clients: curl and python appear with their own pid and comm" {
	up
	local ran=0
	if command -v curl >/dev/null; then
		sh -c 'echo $$ >"$1/cgroup.procs"; exec curl -s --max-time 3 http://127.0.0.2:9/' sh "$CG" &
		cpid=$!
		wait "$cpid" || true
		run nm -j events count 1 timeout 5
		assert_success
		jq -e --argjson pid "$cpid" '.pid == $pid and .comm == "curl" and .hook == "connect4" and
			.daddr == "127.0.0.2" and .dport == 9' <<<"$output"
		ran=1
	fi
	py=$(command -v python3 || true)
	[ -x /usr/bin/python3 ] && py=/usr/bin/python3
	if [ -n "$py" ]; then
		"$py" -c '
import os, socket, sys
open(sys.argv[1] + "/cgroup.procs", "w").write(str(os.getpid()))
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
try:
    s.sendto(b"x", ("::ffff:127.0.0.2", 9))
except PermissionError:
    sys.exit(0)
sys.exit(1)' "$CG" &
		ppid=$!
		wait "$ppid"
		run nm -j events count 1 timeout 5
		assert_success
		# a v6 socket to a v4-mapped address is checked (and shown) as IPv4;
		# the kernel takes the IPv4 path for it (sendmsg4), or the v6 hook unmaps
		jq -e --argjson pid "$ppid" '.pid == $pid and (.comm | startswith("python")) and
			(.hook == "sendmsg4" or .hook == "sendmsg6") and .family == "ipv4" and .daddr == "127.0.0.2" and
			.proto == "udp" and .rule == "127.0.0.2 port 9"' <<<"$output"
		ran=1
	fi
	[ "$ran" = 1 ] || skip "neither curl nor python3 is installed"
}

@test "comm is escaped: JSON keeps it exactly, text cannot be split or forged" {
	up
	name=$'we"ird\\n\name'
	blocked --as "$name" connect tcp 127.0.0.2 9
	blocked --as "$name" connect tcp 127.0.0.2 9
	run nm -j events count 1 timeout 5
	assert_success
	[ "${#lines[@]}" -eq 1 ]
	assert_equal "$(jq -r .comm <<<"$output")" "${name:0:15}"
	run nm events count 1 timeout 5
	assert_success
	[ "${#lines[@]}" -eq 1 ]
	assert_output --partial 'we"ird\\n\x0aame'
}

@test "the cgroup path is resolved for child cgroups too (and cached per id)" {
	up
	nm_cgroup_create CHILD "$CG"
	blocked --cg "$CHILD" connect tcp 127.0.0.2 9
	blocked connect tcp 127.0.0.2 9
	blocked --cg "$CHILD" connect tcp 127.0.0.2 9
	run nm -j events count 3 timeout 5
	assert_success
	got=$(jq -r .cgroup <<<"$output" | tr '\n' ' ')
	assert_equal "$got" "$CHILD $CG $CHILD "
}

# ---- delivery ----

@test "events queued while nobody reads are delivered once, then consumed" {
	up
	for _ in 1 2 3; do blocked connect tcp 127.0.0.2 9; done
	run nm -j events timeout 0
	assert_success
	[ "${#lines[@]}" -eq 3 ]
	run nm -j events timeout 0.3
	assert_success
	assert_output ""
}

@test "a live reader shows each event as it happens (flushed per event)" {
	up
	reader_start "$OUT" -j events
	blocked connect tcp 127.0.0.2 9
	wait_lines "$OUT" 1
	jq -e --argjson pid "$PID" '.pid == $pid' "$OUT"
	blocked connect tcp 127.0.0.2 9
	wait_lines "$OUT" 2
	kill -INT "$READER"
	reader_wait
	assert_equal "$READER_RC" 0
}

@test "a live reader piped into jq works line by line" {
	up
	nm -j events | jq --unbuffered -c 'select(.dport == 9) | .pid' >"$OUT" &
	NM_PIDS+=("$!")
	local lock
	lock=/run/netmonctl/events-$(events_map_id).lock
	for _ in $(seq 250); do [ -s "$lock" ] && break; sleep 0.02; done
	blocked connect tcp 127.0.0.2 9
	wait_lines "$OUT" 1
	assert_equal "$(cat "$OUT")" "$PID"
	kill -INT "$(cat "$lock")"
}

@test "count N stops after N events; the rest stay queued" {
	up
	for _ in 1 2 3 4 5; do blocked connect tcp 127.0.0.2 9; done
	run nm -j events count 3
	assert_success
	[ "${#lines[@]}" -eq 3 ]
	run nm -j events count 2
	assert_success
	[ "${#lines[@]}" -eq 2 ]
}

@test "timeout SEC stops after SEC seconds with status 0" {
	up
	start=$(date +%s%N)
	run nm events timeout 1
	end=$(date +%s%N)
	assert_success
	assert_output ""
	ms=$(((end - start) / 1000000))
	[ "$ms" -ge 950 ] && [ "$ms" -lt 3000 ] || fail "timeout 1 took ${ms} ms"
	# count and timeout together: whichever comes first
	blocked connect tcp 127.0.0.2 9
	run nm -j events count 5 timeout 0.5
	assert_success
	[ "${#lines[@]}" -eq 1 ]
}

@test "| head -n1 ends the reader at once, busy or idle, with status 0" {
	up
	blocked connect tcp 127.0.0.2 9
	# One queued event: head exits after it; the reader is idle, not writing.
	start=$(date +%s%N)
	run timeout 5 bash -c '"$1" --pin-dir "$2" -j events | head -n1; echo "rc=${PIPESTATUS[0]}"' \
		sh "$NETMONCTL" "$NM_PIN_DIR"
	end=$(date +%s%N)
	assert_success
	[ "${#lines[@]}" -eq 2 ]
	jq -e . <<<"${lines[0]}" >/dev/null
	assert_equal "${lines[1]}" "rc=0"
	[ $(((end - start) / 1000000)) -lt 2000 ]
	# Busy: many queued events, text mode.
	"$NMPROBE" --cgroup "$CG" --count 500 connect tcp 127.0.0.2 9 >/dev/null || true
	run timeout 5 bash -c '"$1" --pin-dir "$2" events | head -n1; echo "rc=${PIPESTATUS[0]}"' \
		sh "$NETMONCTL" "$NM_PIN_DIR"
	assert_success
	assert_equal "${lines[1]}" "rc=0"
	[[ ${lines[0]} == *" deny "*connect4* ]]
}

@test "SIGINT and SIGTERM end a following reader at once with status 0, lines whole" {
	up
	for sig in INT TERM; do
		reader_start "$OUT" -j events
		blocked connect tcp 127.0.0.2 9
		wait_lines "$OUT" 1
		start=$(date +%s%N)
		kill -"$sig" "$READER"
		reader_wait
		end=$(date +%s%N)
		assert_equal "$READER_RC" 0
		[ $(((end - start) / 1000000)) -lt 1000 ]
		[ -z "$(cat "$OUT.err")" ] || fail "stderr: $(cat "$OUT.err")"
		jq -e . "$OUT" >/dev/null
		[ "$(tail -c1 "$OUT" | od -An -c | tr -d ' ')" = '\n' ]
	done
	# also in the middle of a burst
	"$NMPROBE" --cgroup "$CG" --count 3000 connect tcp 127.0.0.2 9 >/dev/null || true
	reader_start "$OUT" events
	kill -INT "$READER"
	reader_wait
	assert_equal "$READER_RC" 0
	[ ! -s "$OUT" ] || [ "$(tail -c1 "$OUT" | od -An -c | tr -d ' ')" = '\n' ]
}

# ---- filters ----

# A mixed set (make_set_fresh): A connect4 127.0.0.2:9 in CG; B connect4
# 127.0.0.3:9 in a child cgroup; C sendmsg4 127.0.0.2:9; D connect4
# 127.0.0.4:10 as comm "othercomm"; E connect4 127.0.0.5:11 audited (allowed).
# Sets PA..PE.
# filtered ARGS...: regenerate the set, drain it through the filter, print
# the letters of what came out.
filtered() {
	local pids
	make_set_fresh
	pids=$(nm -j events timeout 0 "$@" | jq -r .pid) || return 1
	for p in $pids; do
		case $p in
		"$PA") printf A ;; "$PB") printf B ;; "$PC") printf C ;; "$PD") printf D ;;
		"$PE") printf E ;; *) printf '?' ;;
		esac
	done
	echo
}

make_set_fresh() {
	blocked connect tcp 127.0.0.2 9
	PA=$PID
	blocked --cg "$CHILD" connect tcp 127.0.0.3 9
	PB=$PID
	blocked sendto udp 127.0.0.2 9
	PC=$PID
	blocked --as othercomm connect tcp 127.0.0.4 10
	PD=$PID
	nm mode audit >/dev/null
	"$NMPROBE" --cgroup "$CG" connect tcp 127.0.0.5 11 >/dev/null 2>&1 &
	PE=$!
	wait "$PE" || true # allowed (audit): ECONNREFUSED
	nm mode enforce >/dev/null
}

@test "filters: hook, verdict, pid, comm, cgroup, addr, port; kinds AND, repeats OR" {
	up
	nm_cgroup_create CHILD "$CG"
	nm deny add 127.0.0.3 port 9 >/dev/null
	nm deny add 127.0.0.4 port 10 >/dev/null
	nm deny add 127.0.0.5 port 11 >/dev/null
	assert_equal "$(filtered)" ABCDE
	assert_equal "$(filtered hook connect4)" ABDE
	assert_equal "$(filtered hook sendmsg4)" C
	assert_equal "$(filtered hook connect)" ABDE
	assert_equal "$(filtered hook sendmsg)" C
	assert_equal "$(filtered hook lsm_connect)" ""
	assert_equal "$(filtered verdict audit)" E
	assert_equal "$(filtered verdict deny)" ABCD
	assert_equal "$(filtered verdict deny verdict audit)" ABCDE
	make_set_fresh
	local pa=$PA pd=$PD
	run nm -j events timeout 0 pid "$pa"
	assert_equal "$(jq -r .pid <<<"$output")" "$pa"
	make_set_fresh
	pa=$PA pd=$PD
	run nm -j events timeout 0 pid "$pa" pid "$pd"
	assert_equal "$(jq -r .pid <<<"$output" | tr '\n' ' ')" "$pa $pd "
	assert_equal "$(filtered comm othercomm)" D
	assert_equal "$(filtered comm nmprobe)" ABCE
	assert_equal "$(filtered cgroup "$CG")" ABCDE
	assert_equal "$(filtered cgroup "$CHILD")" B
	assert_equal "$(filtered addr 127.0.0.3)" B
	assert_equal "$(filtered addr 127.0.0.0/30)" ABC
	assert_equal "$(filtered addr ::1)" ""
	assert_equal "$(filtered port 10)" D
	assert_equal "$(filtered port 10-11)" DE
	assert_equal "$(filtered hook connect4 port 9)" AB
	assert_equal "$(filtered comm nmprobe addr 127.0.0.2 hook connect4)" A
	# count counts matching events only
	make_set_fresh
	run nm -j events count 1 timeout 5 hook sendmsg4
	assert_success
	assert_equal "$(jq -r .hook <<<"$output")" sendmsg4
}

@test "bad arguments are usage errors (2); not loaded is a runtime error (1)" {
	run nm events
	assert_failure 1
	assert_output --partial "not loaded"
	up
	for args in "count 0" "count x" "timeout -1" "timeout" "bogus 1" "c 1" "hook nope" \
		"hook conn" "verdict allow" "pid 0" "port 70000" "port 9-1" "addr 1.2.3.4/33" \
		"addr nonsense" "cgroup /tmp" "cgroup /nonexistent"; do
		# shellcheck disable=SC2086
		run nm events $args
		[ "$status" -eq 2 ] || fail "events $args: expected 2, got $status: $output"
		[[ $output == "netmonctl: events: "* ]] || fail "events $args: $output"
	done
	run nm -j events count 0
	assert_failure 2
	jq -e '.exit == 2 and (.error | startswith("events: "))' <<<"$output"
	run nm events help
	assert_success
}

# ---- one reader per ring ----

@test "a second reader is refused, naming the running one; the lock dies with it" {
	up
	reader_start "$OUT" -j events count 100
	run nm events timeout 1
	assert_failure 1
	assert_output --partial "another reader is running: pid $READER ("
	assert_output --partial "events count 100)"
	run nm -j events timeout 1
	assert_failure 1
	jq -e --arg pid "$READER" '.error | contains("pid " + $pid)' <<<"$output"
	# The first reader still gets the events the second never touched.
	blocked connect tcp 127.0.0.2 9
	wait_lines "$OUT" 1
	# Killed outright: the kernel drops its lock; the next reader is fine.
	kill -KILL "$READER"
	reader_wait
	run nm events timeout 0.2
	assert_success
}

@test "readers of different pin dirs do not exclude each other" {
	up
	reader_start "$OUT" events
	local first=$READER
	local other=$NM_PIN_DIR-b
	"$NETMONCTL" --pin-dir "$other" load >/dev/null
	run "$NETMONCTL" --pin-dir "$other" events timeout 0.2
	"$NETMONCTL" --pin-dir "$other" unload >/dev/null
	assert_success
	kill -INT "$first"
	READER=$first
	reader_wait
}

@test "unload under a running reader stops it with an error" {
	up
	reader_start "$OUT" events
	nm unload >/dev/null
	for _ in $(seq 150); do kill -0 "$READER" 2>/dev/null || break; sleep 0.02; done
	reader_wait
	assert_equal "$READER_RC" 1
	[[ $(cat "$OUT.err") == *"unloaded"* ]]
}

# ---- overflow ----

@test "a full ring still denies every connection and the drop count is exact" {
	up ringbuf 4096
	run "$NMPROBE" --cgroup "$CG" --count 300 connect tcp 127.0.0.2 9
	assert_equal "${lines[1]%% *}" "count=300"
	[[ ${lines[1]} == *"failures=300" ]] || fail "not every connect was denied: $output"
	[ "$(nm -j status | jq -e .totals.denied)" -eq 300 ]
	drops=$(rb_drops)
	[ "$drops" -gt 0 ]
	run nm -j events timeout 0.5
	assert_success
	n_ev=$(jq -r 'select(.type == "event") | .pid' <<<"$output" | wc -l)
	[ "$n_ev" -gt 0 ]
	# exactly one drops line, last, with the exact count
	[ "$(jq -c 'select(.type == "drops")' <<<"$output" | wc -l)" -eq 1 ]
	jq -e --argjson d "$drops" 'select(.type == "drops") | .drops == $d and .drops_total == $d' \
		<<<"${lines[-1]}"
	[ $((n_ev + drops)) -eq 300 ]
	# Reported once: the next reader has nothing to say.
	run nm -j events timeout 0.3
	assert_success
	assert_output ""
	# More overflow: only the new drops are reported (text: on stderr).
	"$NMPROBE" --cgroup "$CG" --count 100 connect tcp 127.0.0.2 9 >/dev/null || true
	total=$(rb_drops)
	new=$((total - drops))
	run --separate-stderr nm events timeout 0.5
	assert_success
	[ $((${#lines[@]} + new)) -eq 100 ]
	[[ $stderr == *"$new events lost"*"$total lost since load"* ]] || fail "stderr: $stderr"
}

@test "drops that happen while a reader is running are reported by it" {
	up ringbuf 4096
	reader_start "$OUT" -j events
	kill -STOP "$READER" # a stalled reader: the ring fills up
	"$NMPROBE" --cgroup "$CG" --count 300 connect tcp 127.0.0.2 9 >/dev/null || true
	kill -CONT "$READER"
	drops=$(rb_drops)
	[ "$drops" -gt 0 ]
	for _ in $(seq 100); do grep -q '"drops"' "$OUT" && break; sleep 0.05; done
	kill -INT "$READER"
	reader_wait
	assert_equal "$READER_RC" 0
	n_ev=$(jq -r 'select(.type == "event") | .pid' "$OUT" | wc -l)
	[ "$(jq -r 'select(.type == "drops") | .drops' "$OUT")" -eq "$drops" ]
	[ $((n_ev + drops)) -eq 300 ]
}

# ---- LSM layer (skips where BPF-LSM cannot load) ----

@test "lsm: a denied bind is shown with the local address it tried" {
	up
	nm_lsm_loadable || skip "$NM_LSM_WHY"
	nm_net_create 192.0.2.1/32
	EV_NET=1
	nm deny add 192.0.2.1 port 8080 dir bind >/dev/null
	nm attach lsm >/dev/null
	run nm_in_net "$NMPROBE" --cgroup "$CG" bind tcp 192.0.2.1 8080
	nm detach lsm >/dev/null
	assert_equal "$output" EPERM
	run nm -j events timeout 0.5 hook bind
	assert_success
	jq -e --arg cg "$CG" '.hook == "lsm_bind" and .dir == "bind" and .saddr == "192.0.2.1" and
		.sport == 8080 and .daddr == "" and .dport == 0 and .cgroup == $cg and
		.rule == "192.0.2.1 port 8080 dir bind"' <<<"${lines[0]}"
}

# ---- reader state under /run: nothing planted there is written through ----

# in_private_run SCRIPT [ARG...]: run bash SCRIPT (its $1... the ARGs) in a
# private mount namespace where /run is a fresh tmpfs. What it plants there, and what netmonctl makes
# there, nobody else sees, and it is all gone when SCRIPT ends (so the
# machine's /run/netmonctl, and readers using it meanwhile, are untouched).
in_private_run() {
	# shellcheck disable=SC2016 # for the inner shell
	unshare --mount --propagation private \
		bash -c 'mount -t tmpfs -o mode=0755 nmtest-run /run || exit 90; s=$1; shift; eval "$s"' \
		sh "$@"
}

private_run_ok() {
	command -v unshare >/dev/null || { NM_WHY="needs unshare (util-linux)"; return 1; }
	unshare --mount --propagation private true 2>/dev/null ||
		{ NM_WHY="cannot make a private mount namespace here"; return 1; }
}

map_id() {
	nm -j status | jq -e --arg n "$1" '.maps[] | select(.name == $n) | .id'
}

@test "drops state: a hard link or symlink planted at events-ID.drops.new is never written through" {
	private_run_ok || skip "$NM_WHY"
	up ringbuf 4096
	"$NMPROBE" --cgroup "$CG" --count 300 connect tcp 127.0.0.2 9 >/dev/null || true
	export ID CID NETMONCTL NMPROBE CG
	ID=$(events_map_id)
	CID=$(map_id counters)
	[ "$(rb_drops)" -gt 0 ]
	# shellcheck disable=SC2016 # expanded by the inner shell
	run in_private_run '
		set -u
		fail() { echo "$*"; exit 1; }
		ev() { "$NETMONCTL" --pin-dir "$NM_PIN_DIR" -j events timeout 0.3; }
		total() { "$NETMONCTL" --pin-dir "$NM_PIN_DIR" -j status | jq -e .totals.rb_drops; }
		mkdir -m 0700 /run/netmonctl
		state=/run/netmonctl/events-$ID.drops
		echo precious >/run/scratch # the test'"'"'s own file, on the same filesystem
		# 1. a hard link at .drops.new
		ln /run/scratch "$state.new"
		ev >/run/out1 || fail "reader 1 failed: $(cat /run/out1)"
		[ "$(cat /run/scratch)" = precious ] || fail "written through the hard link: $(cat /run/scratch)"
		[ "$(stat -c %h /run/scratch)" = 1 ] || fail "the hard link was kept as the state"
		jq -e --argjson d "$(total)" "select(.type == \"drops\") | .drops == \$d" /run/out1 >/dev/null ||
			fail "drops not reported: $(cat /run/out1)"
		# 2. a symlink at .drops.new, and new drops to save
		ln -s /run/scratch "$state.new"
		"$NMPROBE" --cgroup "$CG" --count 100 connect tcp 127.0.0.2 9 >/dev/null
		ev >/run/out2 || fail "reader 2 failed: $(cat /run/out2)"
		[ "$(cat /run/scratch)" = precious ] || fail "written through the symlink: $(cat /run/scratch)"
		grep -q "\"type\":\"drops\"" /run/out2 || fail "new drops not reported: $(cat /run/out2)"
		# ... and saved: the next reader has nothing to say
		ev >/run/out3 || fail "reader 3 failed"
		[ ! -s /run/out3 ] || fail "drops reported twice (the state was not saved): $(cat /run/out3)"
		[ -f "$state" ] && [ ! -L "$state" ] && [ "$(stat -c %h "$state")" = 1 ] ||
			fail "state is not a plain file: $(ls -l /run/netmonctl)"
		[ "$(cat "$state")" = "counters $CID reported $(total)" ] || fail "state: $(cat "$state")"
		# 3. a planted state claiming everything was reported is not believed
		echo "counters $CID reported 999999999" >/run/lie
		for how in "ln -s" ln; do
			rm -f "$state"
			$how /run/lie "$state"
			ev >/run/out4 || fail "reader 4 ($how) failed"
			jq -e --argjson d "$(total)" "select(.type == \"drops\") | .drops == \$d" /run/out4 \
				>/dev/null || fail "drops hidden by a planted state ($how): $(cat /run/out4)"
			[ "$(cat /run/lie)" = "counters $CID reported 999999999" ] || fail "written through ($how)"
		done
		echo ok'
	[ "$status" -eq 0 ] && [ "${lines[-1]}" = ok ] || fail "status $status: $output"
}

@test "lock file: a hard link or symlink planted at events-ID.lock is never written through" {
	private_run_ok || skip "$NM_WHY"
	up
	export ID NETMONCTL
	ID=$(events_map_id)
	# shellcheck disable=SC2016
	run in_private_run '
		fail() { echo "$*"; exit 1; }
		mkdir -m 0700 /run/netmonctl
		lock=/run/netmonctl/events-$ID.lock
		echo precious >/run/scratch
		for how in ln "ln -s"; do
			rm -f "$lock"
			$how /run/scratch "$lock"
			"$NETMONCTL" --pin-dir "$NM_PIN_DIR" events timeout 0.1 || fail "reader failed ($how)"
			[ "$(cat /run/scratch)" = precious ] || fail "written through ($how): $(cat /run/scratch)"
			[ -f "$lock" ] && [ ! -L "$lock" ] && [ "$(stat -c %h "$lock")" = 1 ] ||
				fail "lock is not a plain file ($how): $(ls -l /run/netmonctl)"
		done
		echo ok'
	[ "$status" -eq 0 ] && [ "${lines[-1]}" = ok ] || fail "status $status: $output"
}

@test "a /run/netmonctl others could write to (or not a directory of root's) is refused with one line" {
	private_run_ok || skip "$NM_WHY"
	up
	export NETMONCTL
	local how
	for how in "mkdir -m 0777" "mkdir -m 0770" "mkdir -m 0702" "mkdir -m 1777" "mkdir -m 0700 -p" \
		"ln -s" "touch"; do
		# shellcheck disable=SC2016
		run in_private_run '
			case $1 in
			"mkdir -m 0700 -p") mkdir -m 0700 /run/netmonctl && chown 65534 /run/netmonctl ;;
			"ln -s") mkdir -m 0700 /run/real && ln -s /run/real /run/netmonctl ;;
			touch) touch /run/netmonctl ;;
			*) $1 /run/netmonctl && chmod "${1#mkdir -m }" /run/netmonctl ;; # past the umask
			esac || exit 91
			"$NETMONCTL" --pin-dir "$NM_PIN_DIR" events timeout 0 2>&1
			rc=$?
			# nothing was made in it (or beside it)
			[ ! -d /run/netmonctl ] || [ -z "$(ls -A /run/netmonctl)" ] || echo "files made: $(ls -A /run/netmonctl)"
			[ ! -d /run/real ] || [ -z "$(ls -A /run/real)" ] || echo "files made: $(ls -A /run/real)"
			exit $rc' "$how"
		[ "$status" -eq 1 ] || fail "$how: expected status 1, got $status: $output"
		[ "${#lines[@]}" -eq 1 ] || fail "$how: expected one line: $output"
		[[ ${lines[0]} == "netmonctl: events: /run/netmonctl "* ]] || fail "$how: $output"
	done
	# the JSON error says the same
	# shellcheck disable=SC2016
	run in_private_run 'mkdir -m 0777 /run/netmonctl; chmod 0777 /run/netmonctl
		"$NETMONCTL" --pin-dir "$NM_PIN_DIR" -j events timeout 0 2>&1'
	assert_failure 1
	jq -e '.exit == 1 and (.error | startswith("events: /run/netmonctl is writable by group or others"))' \
		<<<"$output"
}
