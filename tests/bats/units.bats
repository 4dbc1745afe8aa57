#!/usr/bin/env bats
# The systemd units and the default state file that `cmake --install`
# installs: units systemd accepts, naming the installed binary and
# /etc/netmonctl/netmonctl.conf, and a default file that restores.
# A real boot with them is not run here (this host's PID 1 is not systemd).
load helpers

BUILD=$(dirname "$NETMONCTL")

setup() {
	T=$BATS_TEST_TMPDIR/root
	DESTDIR=$T cmake --install "$BUILD" --prefix /usr >/dev/null
	UNITS=$T/usr/lib/systemd/system
}

teardown() {
	if [ -e "${NM_PIN_DIR:-/nonexistent}/maps/config" ]; then nm unload >/dev/null; fi
	[ -z "${NM_PIN_DIR:-}" ] || rm -rf "$NM_PIN_DIR"
}

@test "install puts the binary, the man page, the completion, four units and the state file in place" {
	local f
	for f in usr/sbin/netmonctl usr/share/man/man8/netmonctl.8 usr/share/bash-completion/completions/netmonctl \
		etc/netmonctl/netmonctl.conf; do
		[ -f "$T/$f" ] || { echo "missing $f" >&2; return 1; }
	done
	[ "$(cd "$UNITS" && ls | tr '\n' ' ')" = "netmonctl-apply.service netmonctl-events.service netmonctl.path netmonctl.service " ]
	grep -qx "ExecStart=$(cmake -L -N "$BUILD" | sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p')/sbin/netmonctl restore /etc/netmonctl/netmonctl.conf" \
		"$UNITS/netmonctl.service"
	grep -qx "PathChanged=/etc/netmonctl/netmonctl.conf" "$UNITS/netmonctl.path"
	grep -qx "Unit=netmonctl-apply.service" "$UNITS/netmonctl.path"
	# a second install keeps the admin's state file
	echo "mode audit" >"$T/etc/netmonctl/netmonctl.conf"
	DESTDIR=$T cmake --install "$BUILD" --prefix /usr >/dev/null
	[ "$(cat "$T/etc/netmonctl/netmonctl.conf")" = "mode audit" ]
}

@test "systemd-analyze verify accepts every unit" {
	command -v systemd-analyze >/dev/null || skip "no systemd-analyze on this machine"
	local u
	mkdir "$T/check"
	# the units name the installed binary; verify checks it is executable
	for u in "$UNITS"/*; do
		sed -E "s#^(Exec[A-Za-z]+=)[^ ]*/netmonctl#\\1$NETMONCTL#" "$u" >"$T/check/$(basename "$u")"
	done
	run systemd-analyze verify --man=no "$T/check"/*
	assert_success
	assert_output ""
}

@test "the default state file restores: loaded, no rule, nothing attached" {
	export NM_PIN_DIR="/sys/fs/bpf/nmtest-$NM_TAG"
	run nm restore "$T/etc/netmonctl/netmonctl.conf"
	assert_success
	[ "$(nm -j status | jq -c '[.loaded, .rules, .mode, (.links | length)]')" = '[true,0,"enforce",0]' ]
}
