#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# boot-guest.sh: the checks inside the Debian guest of tests/vm/boot-test.sh.
# Installed as /usr/local/sbin/nm-boot-check and run by nm-boot-check.service
# once the guest reached multi-user.target, on every boot:
#
#   boot 1: what an admin does: `dpkg -i` the package on the running
#           system, check that nothing is enforced yet, write
#           /etc/netmonctl/netmonctl.conf, enable the units, reboot.
#   boot 2: nothing is typed any more: check that the rules came back with
#           the boot (before network-pre.target), that `netmonctl status`
#           shows them, that the path unit applies a changed file within
#           2 seconds, that a denied connect reached the journal, that
#           stopping netmonctl.service lifts nothing, and that a change
#           written during an apply is not lost; then power off.
#
# Every check prints one console line the host parses:
#   NM-BOOT-CHECK <name> PASS|FAIL <detail>
# and the guest ends with `NM-BOOT-DONE <passed> <failed>` before powering
# off. Anything else on the console is for a human reading a failure.
set -uo pipefail

STATE=/var/lib/nm-boot
CONF=/etc/netmonctl/netmonctl.conf
PROBE=/usr/local/bin/nmprobe
CG=/sys/fs/cgroup          # the guest's own cgroup2 root: this is a VM
BOOT_PORT=7001             # denied by the config written in boot 1
PATH_PORT=7002             # denied by the changed config in boot 2
RENAME_PORT=7003           # denied by the config renamed into place
RACE_PORTS=(7004 7005)     # two changes, the second while the first applies
PATH_LIMIT_MS=2000
passed=0 failed=0

# The console is ttyS0 (console=ttyS0); the unit sends stdout there too.
say() { printf '%s\n' "$*"; }
check() { # check NAME PASS|FAIL DETAIL...
	local name=$1 verdict=$2
	shift 2
	say "NM-BOOT-CHECK $name $verdict $*"
	if [ "$verdict" = PASS ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
}

# One TCP connect to 127.0.0.1:PORT with a listener there (--serve), so an
# allowed connect prints OK and a denied one EPERM: never ECONNREFUSED.
probe() { "$PROBE" --serve connect tcp 127.0.0.1 "$1" 2>&1; }

# CLOCK_MONOTONIC in microseconds, the clock of systemd's *Monotonic
# timestamps (/proc/uptime is CLOCK_BOOTTIME: the same in a VM that never
# suspends, to 10 ms).
mono_us() { awk '{ printf "%d\n", $1 * 1000000 }' /proc/uptime; }

# Wait until netmonctl-apply.service ran to its end after monotonic time
# SINCE_US; prints the ms from SINCE_US to that end (systemd's own
# timestamp: the probe's time, slow under TCG on a busy host, is not in
# it). Fails after 10 s, or when the apply failed.
apply_ms() { # apply_ms SINCE_US
	local end res
	for _ in $(seq 1 200); do
		end=$(systemctl show -p ExecMainExitTimestampMonotonic --value netmonctl-apply.service)
		if [ "${end:-0}" -gt "$1" ]; then
			res=$(systemctl show -p Result --value netmonctl-apply.service)
			echo $(((end - $1) / 1000))
			[ "$res" = success ]
			return
		fi
		sleep 0.05
	done
	echo never
	return 1
}

# What a failure needs to be understood, on the console.
diagnose() {
	say "---- diagnostics ----"
	systemctl --no-pager status netmonctl.service netmonctl.path \
		netmonctl-apply.service netmonctl-events.service 2>&1 | head -n 60
	journalctl -b --no-pager -o short-monotonic -u 'netmonctl*' 2>&1 | tail -n 40
	netmonctl status 2>&1 | head -n 40
	say "---- end of diagnostics ----"
}

# The state file of boot 1: the rule and the attachment to the guest's own
# cgroup root, so every process of the guest is covered.
write_boot_conf() {
	cat >"$CONF" <<EOF
# written by nm-boot-check in boot 1, restored by netmonctl.service in boot 2
mode enforce
attach cgroup $CG
deny 127.0.0.1 port $BOOT_PORT proto tcp
EOF
}

# The install an admin does on a running system: dpkg -i, maintainer
# scripts and all. After it systemd knows the units (postinst reloads it)
# and none is enabled: the package ships no rule, what runs is the admin's
# choice.
install_package() {
	local out got load enabled
	out=$(dpkg -i "$STATE/netmonctl.deb" 2>&1) || say "$out"
	got=$(dpkg-query -W -f='${Status} ${Version}' netmonctl 2>&1)
	load=$(systemctl show -p LoadState --value netmonctl.service)/$(systemctl show -p NeedDaemonReload --value netmonctl.service)
	enabled=$(systemctl is-enabled netmonctl.service netmonctl.path netmonctl-events.service 2>&1 | paste -sd,)
	if [ "$got" = "install ok installed $(cat "$STATE/deb-version")" ] &&
		[ "$load" = loaded/no ] && [ "$enabled" = disabled,disabled,disabled ]; then
		check package PASS "dpkg -i: netmonctl $got; netmonctl.service LoadState/NeedDaemonReload $load; enabled: $enabled"
	else
		check package FAIL "dpkg -i: '$got' (want version $(cat "$STATE/deb-version")); netmonctl.service $load (want loaded/no); enabled: $enabled (want disabled x3)"
	fi
}

boot1() {
	local got
	install_package
	# The control for boot 2's EPERM: the same connect works without rules.
	got=$(probe "$BOOT_PORT")
	if [ "$got" = OK ]; then
		check baseline PASS "connect 127.0.0.1:$BOOT_PORT before any config: OK"
	else
		check baseline FAIL "connect 127.0.0.1:$BOOT_PORT before any config: $got"
	fi
	write_boot_conf
	systemctl enable netmonctl.service netmonctl.path netmonctl-events.service 2>&1
	cat /proc/sys/kernel/random/boot_id >"$STATE/boot1-id"
	echo 2 >"$STATE/stage"
	sync
	say "NM-BOOT-STAGE reboot, up $(cut -d' ' -f1 /proc/uptime) s"
	systemctl reboot
}

check_reboot() {
	local b1 b2
	b1=$(cat "$STATE/boot1-id" 2>/dev/null) b2=$(cat /proc/sys/kernel/random/boot_id)
	if [ -n "$b1" ] && [ "$b1" != "$b2" ]; then
		check rebooted PASS "boot id $b1 -> $b2"
	else
		check rebooted FAIL "boot id '$b1' -> '$b2'"
	fi
}

# The rules hold after the boot with nothing typed: netmonctl.service ran
# and succeeded, the connect of the rule gets EPERM, another port does not.
check_enforced() {
	local state deny other
	state=$(systemctl show -p ActiveState --value netmonctl.service)/$(systemctl show -p Result --value netmonctl.service)
	deny=$(probe "$BOOT_PORT") other=$(probe "$PATH_PORT")
	if [ "$state" = active/success ] && [ "$deny" = EPERM ] && [ "$other" = OK ]; then
		check boot-enforced PASS "netmonctl.service $state; 127.0.0.1:$BOOT_PORT $deny, :$PATH_PORT $other"
	else
		check boot-enforced FAIL "netmonctl.service $state; 127.0.0.1:$BOOT_PORT $deny (want EPERM), :$PATH_PORT $other (want OK)"
	fi
}

# `netmonctl status` (text, as an admin reads it, and -j) shows the rule
# count, the mode and the attachment to the guest's cgroup root.
check_status() {
	local text json rules mode att
	text=$(netmonctl status 2>&1)
	say "$text" | sed 's/^/    status: /'
	json=$(netmonctl -j status 2>&1)
	rules=$(jq -r '.rules' <<<"$json" 2>/dev/null)
	mode=$(jq -r '.mode' <<<"$json" 2>/dev/null)
	att=$(jq -r --arg cg "$CG" '[.programs[] | select(.attached | index($cg))] | length' \
		<<<"$json" 2>/dev/null)
	if [ "$rules" = 1 ] && [ "$mode" = enforce ] && [ "${att:-0}" -gt 0 ] &&
		grep -q "$CG" <<<"$text"; then
		check status PASS "rules=$rules mode=$mode, $att programs attached to $CG"
	else
		check status FAIL "rules=$rules mode=$mode attached-to-$CG=$att (want 1 enforce >0)"
	fi
}

# netmonctl.path: a changed file is applied (a restore) within 2 s: from
# the change to the end of netmonctl-apply.service, then the probes show
# the new rule set in force. First written in place, as an editor or
# `netmonctl save` does, then renamed into place, as Ansible, Salt and
# Puppet do.
path_change() { # path_change NAME HOW DENIED FREED
	local name=$1 how=$2 denied=$3 freed=$4 t0 ms d f
	t0=$(mono_us)
	if [ "$how" = write ]; then
		path_conf "$denied" >"$CONF"
	else
		path_conf "$denied" >"$CONF.tmp"
		mv "$CONF.tmp" "$CONF"
	fi
	ms=$(apply_ms "$t0")
	d=$(probe "$denied") f=$(probe "$freed")
	if [ "$ms" != never ] && [ "$ms" -le "$PATH_LIMIT_MS" ] && [ "$d" = EPERM ] && [ "$f" = OK ]; then
		check "$name" PASS "$how: applied by netmonctl-apply.service $ms ms after the change; :$denied $d, :$freed $f"
	else
		check "$name" FAIL "$how: netmonctl-apply.service done after ${ms} ms (limit $PATH_LIMIT_MS, result $(systemctl show -p Result --value netmonctl-apply.service)); :$denied $d (want EPERM), :$freed $f (want OK)"
	fi
}

path_conf() {
	cat <<EOF
# changed in boot 2 by nm-boot-check: only port $1 is denied now
mode enforce
attach cgroup $CG
deny 127.0.0.1 port $1 proto tcp
EOF
}

check_path() {
	path_change path-write write "$PATH_PORT" "$BOOT_PORT"
	path_change path-rename rename "$RENAME_PORT" "$PATH_PORT"
}

# netmonctl-events.service: a denied connect appears in the journal as an
# entry of that unit whose NETMONCTL_ fields name the port and the program
# that denied it, found by those fields (what "searchable" means).
check_events() {
	local hit="" got since
	# Only an event of this connect counts, not one of the path checks:
	# the JSON times are RFC 3339 UTC with nanoseconds, so they compare as text.
	since=$(date -u +%FT%T.%NZ)
	got=$(probe "$RENAME_PORT")
	for _ in $(seq 1 50); do
		# Matched by the journal itself: the tag, the unit (a trusted
		# field journald sets from the sender's cgroup, so not anyone who
		# took the tag with logger -t), and the event's own fields.
		hit=$(journalctl -b -t netmonctl-events _SYSTEMD_UNIT=netmonctl-events.service \
			NETMONCTL_VERDICT=deny NETMONCTL_DPORT="$RENAME_PORT" NETMONCTL_DADDR=127.0.0.1 \
			NETMONCTL_COMM=nmprobe -o json --no-pager 2>/dev/null |
			jq -c --arg t "$since" 'select(.NETMONCTL_TIME >= $t) |
				{MESSAGE, PRIORITY, NETMONCTL_HOOK, NETMONCTL_RULE}' 2>/dev/null | tail -n 1)
		[ -n "$hit" ] && break
		sleep 0.1
	done
	if [ "$got" = EPERM ] && [ -n "$hit" ]; then
		check events-journal PASS "journalctl -t netmonctl-events NETMONCTL_DPORT=$RENAME_PORT ...: $hit"
	else
		check events-journal FAIL "connect :$RENAME_PORT $got; no entry with NETMONCTL_DPORT=$RENAME_PORT from netmonctl-events.service"
		journalctl -b -u netmonctl-events.service -o cat --no-pager 2>&1 | tail -n 10
	fi
}

# netmonctl.service is done before network-pre.target is reached: the
# rules hold before any network is configured.
check_order() {
	local svc net
	svc=$(systemctl show -p ActiveEnterTimestampMonotonic --value netmonctl.service)
	net=$(systemctl show -p ActiveEnterTimestampMonotonic --value network-pre.target)
	if [ "${svc:-0}" -gt 0 ] && [ "${net:-0}" -gt 0 ] && [ "$svc" -le "$net" ]; then
		check boot-order PASS "netmonctl.service done at $((svc / 1000)) ms, network-pre.target at $((net / 1000)) ms"
	else
		check boot-order FAIL "netmonctl.service done at '$svc' us, network-pre.target at '$net' us (want 0 < svc <= net)"
	fi
}

# `systemctl stop netmonctl` lifts nothing: the rules live in the pinned
# objects, and a stop at shutdown must not open the network (man page,
# FILES).
check_stop() {
	local state got
	systemctl stop netmonctl.service
	state=$(systemctl show -p ActiveState --value netmonctl.service)
	got=$(probe "$RENAME_PORT")
	if [ "$state" = inactive ] && [ "$got" = EPERM ]; then
		check stop-keeps PASS "netmonctl.service $state, 127.0.0.1:$RENAME_PORT still $got"
	else
		check stop-keeps FAIL "netmonctl.service $state (want inactive), 127.0.0.1:$RENAME_PORT $got (want EPERM)"
	fi
}

# Where a boot's time went, for whoever makes this test faster: TCG
# emulates every instruction, and the BPF verifier is most of
# netmonctl.service.
# (systemd-analyze would refuse: this unit is part of the boot, which is
# not finished while it runs.)
boot_times() {
	local sysd start end mu
	sysd=$(systemctl show -p UserspaceTimestampMonotonic --value)
	start=$(systemctl show -p InactiveExitTimestampMonotonic --value netmonctl.service)
	end=$(systemctl show -p ActiveEnterTimestampMonotonic --value netmonctl.service)
	mu=$(systemctl show -p ActiveEnterTimestampMonotonic --value multi-user.target)
	say "    boot times (ms since the kernel started): systemd $((sysd / 1000))," \
		"netmonctl.service $((start / 1000))-$((end / 1000)), multi-user.target $((mu / 1000))"
}

# A change made while netmonctl-apply.service is still applying the one
# before must not be lost: whatever writes the file last must win, or a
# fleet stays on a config its management tool already replaced. Made
# certain, not left to timing: restore reads the file, then takes the pin
# dir's lock (flock), so while this test holds that lock the apply of the
# first change has read it and waits; the second change is written then,
# and the lock let go.
check_path_race() {
	local first=${RACE_PORTS[0]} second=${RACE_PORTS[1]} fd during=no d f
	exec {fd}</sys/fs/bpf/netmonctl
	flock -x "$fd"
	path_conf "$first" >"$CONF"
	for _ in $(seq 1 100); do
		[ "$(systemctl show -p ActiveState --value netmonctl-apply.service)" = activating ] &&
			{ during=yes; break; }
		sleep 0.05
	done
	# It read the file at once; the lock is what it waits for now.
	sleep 1
	path_conf "$second" >"$CONF"
	flock -u "$fd"
	exec {fd}<&-
	for _ in $(seq 1 50); do
		[ "$(probe "$second")" = EPERM ] && break
		sleep 0.1
	done
	d=$(probe "$second") f=$(probe "$first")
	if [ "$during" = yes ] && [ "$d" = EPERM ] && [ "$f" = OK ]; then
		check path-race PASS "second change written while the first apply waited: the last file won: :$second $d, :$first $f"
	else
		check path-race FAIL "first apply seen waiting: $during; 5 s later :$second $d (want EPERM), :$first $f (want OK): the second change was lost"
	fi
}

boot2() {
	boot_times
	check_reboot
	check_enforced
	check_order
	check_status
	check_path
	check_events
	check_stop
	check_path_race
	echo finished >"$STATE/stage"
}

main() {
	local stage
	stage=$(cat "$STATE/stage" 2>/dev/null || echo 1)
	say "NM-BOOT-STAGE $stage kernel $(uname -r), up $(cut -d' ' -f1 /proc/uptime) s"
	case $stage in
	1) boot1 ;;
	2) boot2 ;;
	*) check stage FAIL "unexpected stage '$stage' (booted again after the test?)" ;;
	esac
	[ "$failed" -eq 0 ] || diagnose
	if [ "$stage" != 1 ]; then
		say "NM-BOOT-DONE $passed $failed, up $(cut -d' ' -f1 /proc/uptime) s"
		systemctl poweroff
	fi
}

main "$@"
