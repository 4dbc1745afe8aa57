#!/usr/bin/env bats
# The pin dir and bpffs: netmonctl removes only what it created, by name, and
# mounts a bpffs only where it hides nothing, and only for `load`.
#
# Every pin dir here is /sys/fs/bpf/nmtest-<pid>-pindir-*, made by this file
# and removed in teardown whatever happened. The mount tests run in a private
# mount namespace with bpffs unmounted inside it: the host's mounts are never
# touched, and whatever a command pinned in the namespace's own bpffs goes
# with the namespace.
ADDRS=(10.1.2.3/32)

load helpers

setup_file() {
	nm_require_env
	nm_net_create "${ADDRS[@]}"
}

teardown_file() {
	nm_net_destroy
}

setup() {
	PIN_DIRS=() # removed (unloaded first) in teardown, innermost first
}

teardown() {
	local rc=0 i d
	nm_kill_started
	for ((i = ${#PIN_DIRS[@]} - 1; i >= 0; i--)); do
		d=${PIN_DIRS[i]}
		case $d in /sys/fs/bpf/nmtest-"$NM_TAG"-*) ;; *) continue ;; esac
		[ -e "$d/maps/config" ] && { "$NETMONCTL" --pin-dir "$d" unload >/dev/null 2>&1 || rc=1; }
		[ ! -e "$d" ] || rm -rf "$d" || rc=1
	done
	nm_cgroups_destroy || rc=1
	return $rc
}

# pindir VAR NAME: a pin dir path of this test (not created), cleaned up in teardown.
pindir() {
	local path="/sys/fs/bpf/nmtest-$NM_TAG-$BATS_TEST_NUMBER-$2"
	PIN_DIRS+=("$path")
	printf -v "$1" '%s' "$path"
}

nmd() { # nmd DIR ARGS...: netmonctl on pin dir DIR
	local d=$1
	shift
	"$NETMONCTL" --pin-dir "$d" "$@"
}

# ---- ownership: unload and a failed first load remove only what netmonctl made ----

@test "unload leaves other tools' pins in the pin dir, and the dir holding them" {
	local dir
	pindir dir own
	nmd "$dir" load >/dev/null
	bpftool map create "$dir/foreign" type array key 4 value 4 entries 1 name nmt_foreign
	bpftool map create "$dir/maps/theirs" type array key 4 value 4 entries 1 name nmt_theirs
	nmd "$dir" pin map nets "$dir/nets_copy" >/dev/null # one of ours, under a name not ours
	run nmd "$dir" unload
	assert_success
	assert_output --partial "directory kept"
	bpftool map show pinned "$dir/foreign" | grep -q nmt_foreign
	bpftool map show pinned "$dir/maps/theirs" | grep -q nmt_theirs
	bpftool map show pinned "$dir/nets_copy" | grep -q lpm_trie
	# Everything netmonctl named is gone; so are its empty subdirectories.
	[ ! -e "$dir/maps/config" ] && [ ! -e "$dir/maps/hosts" ] && [ ! -e "$dir/progs" ] && [ ! -e "$dir/links" ]
	run nmd "$dir" status
	assert_output --partial "loaded: no"
}

@test "a nested netmonctl keeps enforcing when the outer one unloads" {
	local outer inner cg
	pindir outer outer
	inner="$outer/inner"
	PIN_DIRS+=("$inner")
	nm_cgroup_create cg
	nmd "$outer" load >/dev/null
	nmd "$inner" load >/dev/null
	nmd "$inner" deny add 10.1.2.3 port 80 >/dev/null
	nmd "$inner" attach cgroup "$cg" >/dev/null
	probe_expect EPERM --cgroup "$cg" --serve connect tcp 10.1.2.3 80
	nmd "$outer" unload >/dev/null
	probe_expect EPERM --cgroup "$cg" --serve connect tcp 10.1.2.3 80
	[ -e "$inner/links/cg$(stat -c %i "$cg")_connect4" ]
	[ "$(nmd "$inner" -j status | jq -r .loaded)" = true ]
	[ "$(nmd "$inner" deny list)" = "10.1.2.3 port 80" ]
	nmd "$inner" unload >/dev/null
	[ ! -e "$inner" ]
	probe_expect OK --cgroup "$cg" --serve connect tcp 10.1.2.3 80
}

@test "a pin dir the admin made stays after unload" {
	local dir
	pindir dir admin
	mkdir "$dir"
	nmd "$dir" load >/dev/null
	run nmd "$dir" unload
	assert_success
	[ -d "$dir" ]
	[ -z "$(ls -A "$dir")" ]
}

@test "a pin dir netmonctl made goes with unload once nothing else is in it" {
	local dir
	pindir dir made
	nmd "$dir" load >/dev/null
	[ -d "$dir/created_by_netmonctl" ]
	nmd "$dir" load >/dev/null # an upgrade keeps the marker
	run nmd "$dir" -j unload
	assert_success
	[ "$(jq -r .pin_dir_removed <<<"$output")" = true ]
	[ ! -e "$dir" ]
}

@test "a failed first load leaves what was in the pin dir before" {
	local dir
	pindir dir failed
	mkdir -p "$dir/progs/connect4" # in the way of a program pin: load fails after pinning its maps
	bpftool map create "$dir/foreign" type array key 4 value 4 entries 1 name nmt_foreign
	run nmd "$dir" load
	assert_failure 1
	bpftool map show pinned "$dir/foreign" | grep -q nmt_foreign
	[ -d "$dir/progs/connect4" ]
	# ... and takes back what it pinned itself.
	[ ! -e "$dir/maps/config" ] && [ ! -e "$dir/maps/hosts" ] && [ ! -e "$dir/progs/connect6" ]
	[ ! -e "$dir/created_by_netmonctl" ]
	run nmd "$dir" -j status
	[ "$(jq -r .loaded <<<"$output")" = false ]
}

# ---- mounting: only `load`, only at /sys/fs/bpf or on an empty named parent ----

need_unshare() {
	command -v unshare >/dev/null || skip "unshare (util-linux) is not installed"
}

# in_mntns SCRIPT: run bash SCRIPT in a private mount namespace where
# /sys/fs/bpf is not a bpffs. mounts() prints its mount points and types.
in_mntns() {
	N=$NETMONCTL CG=${CG:-} unshare -m --propagation private bash -euo pipefail -c '
		mounts() { awk "{ for (i = 7; \$i != \"-\"; i++); print \$5, \$(i + 1) }" /proc/self/mountinfo | sort; }
		while awk "\$2 == \"/sys/fs/bpf\" { f = 1 } END { exit !f }" /proc/mounts; do umount -l /sys/fs/bpf; done
		'"$1"
}

@test "commands other than load never mount bpffs" {
	need_unshare
	nm_cgroup_create CG
	run in_mntns '
		trap "umount -l /tmp/nmtest-ro-$$ 2>/dev/null || true; rmdir /tmp/nmtest-ro-$$ 2>/dev/null || true" EXIT
		before=$(mounts)
		for dir in /sys/fs/bpf/nmtest-ro /sys/fs/bpf /etc/nmtest-ro /tmp/nmtest-ro-$$/pins; do
			for args in "deny list" "deny add 10.0.0.1" "deny flush" "mode" "mode audit" "unload" \
				"status" "attach cgroup $CG" "detach cgroup $CG" "pin map nets /sys/fs/bpf/x" \
				"events count 1 timeout 1"; do
				rc=0
				# shellcheck disable=SC2086
				timeout 20 "$N" --pin-dir "$dir" $args >/dev/null 2>&1 || rc=$?
				[ "$(mounts)" = "$before" ] || { echo "mounted by --pin-dir $dir $args"; exit 3; }
				[ "$args" = status ] || [ $rc = 1 ] || [ $rc = 2 ] || { echo "$dir $args: exit $rc"; exit 4; }
			done
		done
		[ ! -e /etc/nmtest-ro ] || { echo "/etc/nmtest-ro was made"; exit 5; }
		"$N" --pin-dir /sys/fs/bpf/nmtest-ro mode 2>&1 || true
	'
	assert_success
	assert_output "netmonctl: mode: netmonctl is not loaded at /sys/fs/bpf/nmtest-ro (no bpffs there; run 'netmonctl load')"
}

@test "load refuses to mount over a non-empty directory, /, or /sys/fs, and changes nothing" {
	need_unshare
	run in_mntns '
		trap "umount -l /tmp/nmtest-missing-$$ 2>/dev/null || true; rmdir /tmp/nmtest-missing-$$ 2>/dev/null || true" EXIT
		before=$(mounts)
		for dir in /etc/nmtest-x /nmtest-x /sys/fs/nmtest-x /sys/nmtest-x /tmp/nmtest-missing-$$/pins; do
			rc=0
			out=$("$N" --pin-dir "$dir" load 2>&1) || rc=$?
			[ "$rc" = 2 ] || { echo "$dir: exit $rc: $out"; exit 3; }
			[ "$(printf "%s\n" "$out" | wc -l)" = 1 ] || { echo "$dir: $out"; exit 4; }
			[ "$(mounts)" = "$before" ] || { echo "$dir: mounted something"; exit 5; }
			[ ! -e "$dir" ] || { echo "$dir was made"; exit 6; }
		done
		"$N" --pin-dir /etc/nmtest-x load 2>&1 || true
	'
	assert_success
	assert_output --partial "netmonctl: /etc/nmtest-x: not on a bpffs, and /etc is not empty"
}

@test "load mounts bpffs at /sys/fs/bpf and nowhere else, for any pin dir below it" {
	need_unshare
	run in_mntns '
		before=$(mounts)
		for dir in /sys/fs/bpf/nmtest-ns /sys/fs/bpf/nmtest-a/b /sys/fs/bpf; do
			"$N" --pin-dir "$dir" load >/dev/null
			diff <(echo "$before") <(mounts) | grep "^[<>]" >/tmp/nmtest-diff-$$ || true
			got=$(cat /tmp/nmtest-diff-$$); rm -f /tmp/nmtest-diff-$$
			[ "$got" = "> /sys/fs/bpf bpf" ] || { echo "$dir: mounts changed: $got"; exit 3; }
			"$N" --pin-dir "$dir" unload >/dev/null
			umount /sys/fs/bpf
		done
		echo ok
	'
	assert_success
	assert_output ok
}

@test "an empty directory named as the pin dir's parent gets the bpffs" {
	need_unshare
	run in_mntns '
		base=$(mktemp -d /tmp/nmtest-parent-XXXXXX)
		trap "while umount -l $base 2>/dev/null; do :; done; rm -rf $base" EXIT
		"$N" --pin-dir "$base/pins" load >/dev/null
		awk -v d="$base" "\$2 == d && \$3 == \"bpf\" { f = 1 } END { exit !f }" /proc/mounts
		"$N" --pin-dir "$base/pins" unload >/dev/null
		umount "$base"
		# Not empty any more: refused.
		touch "$base/file"
		rc=0; "$N" --pin-dir "$base/pins" load 2>/dev/null || rc=$?
		rm -f "$base/file"
		[ $rc = 2 ] || { echo "non-empty parent: exit $rc"; exit 3; }
		echo ok
	'
	assert_success
	assert_output ok
}

@test "--nomount: never mounts; loads where a bpffs already is" {
	need_unshare
	run in_mntns '
		before=$(mounts)
		rc=0; out=$("$N" --nomount --pin-dir /sys/fs/bpf/nmtest-nm load 2>&1) || rc=$?
		[ $rc = 1 ] || { echo "exit $rc: $out"; exit 3; }
		[ "$(mounts)" = "$before" ] || { echo "mounted"; exit 4; }
		mount -t bpf bpf /sys/fs/bpf
		"$N" --nomount --pin-dir /sys/fs/bpf/nmtest-nm load >/dev/null
		"$N" --nomount --pin-dir /sys/fs/bpf/nmtest-nm unload >/dev/null
		echo "$out"
	'
	assert_success
	assert_output --partial "not on a bpffs and --nomount given"
}
