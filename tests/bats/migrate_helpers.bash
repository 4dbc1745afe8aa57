# shellcheck shell=bash
# Shared by the migration tests: the netmonctl of the last commit that
# writes layout $NM_OLD_LAYOUT (scripts/build-layout.sh) makes the pins,
# this tree's netmonctl migrates them. Set NM_OLD_LAYOUT, then load this.

setup_file() {
	nm_require_env
	OLD=$("$NM_SRC_ROOT/scripts/build-layout.sh" "$NM_OLD_LAYOUT")
	export OLD
	export NM_PIN_DIR="/sys/fs/bpf/nmtest-$NM_TAG"
	nm_net_create
	python3 "$NM_SRC_ROOT/tests/ruleset.py" bulk 300000 5 >"$BATS_FILE_TMPDIR/bulk"
}

teardown_file() {
	nm_net_destroy
}

setup() {
	nm_cgroup_create CG
	old load >/dev/null
	old attach cgroup "$CG" >/dev/null
}

# Whichever netmonctl the state is of takes it all down.
teardown() {
	local rc=0
	nm_kill_started
	nm unload >/dev/null 2>&1 || old unload >/dev/null || rc=1
	[ ! -e "$NM_PIN_DIR" ] || { echo "$NM_PIN_DIR is still there" >&2; rc=1; }
	nm_cgroups_destroy || rc=1
	return $rc
}

old() { "$OLD" --pin-dir "$NM_PIN_DIR" "$@"; }
jq_status() { nm -j status | jq -r "$1"; }
udp() { nm_in_net "$NMPROBE" --cgroup "$CG" connect udp "$1" "$2" 2>&1 || true; }

# Denied connects at full speed from before `nm load` starts until after
# it has ended, to the first rule of the bulk set: none may get through.
connects_through_load() {
	local a p out bursts=0 loader
	read -r a _ p <"$BATS_FILE_TMPDIR/bulk"
	[ "$(udp "$a" "$p")" = EPERM ]
	nm load >/dev/null &
	loader=$!
	NM_PIDS+=("$loader")
	while [ "$bursts" -lt 3 ] || kill -0 "$loader" 2>/dev/null; do
		out=$(nm_in_net "$NMPROBE" --cgroup "$CG" --count 2000 connect udp "$a" "$p" 2>&1) || true
		[[ $out == *"count=2000 "*"failures=2000"* ]] ||
			{ echo "a connect to $a port $p got through: $out" >&2; return 1; }
		bursts=$((bursts + 1))
		[ "$bursts" -lt 1000 ] || break
	done
	wait "$loader"
	echo "$bursts bursts of 2000 connects, 0 allowed" >&3
}
