#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# boot-test.sh: prove the .deb and its systemd units by a real boot. A
# minimal Debian bookworm with systemd (debootstrap, cached) booted under
# qemu (TCG) from an NVMe disk with the bookworm cloud kernel of the
# matrix cache. Inside, tests/vm/boot-guest.sh installs the .deb of this
# tree with dpkg -i, writes a config, enables the units and reboots;
# after the reboot, with nothing typed, it checks the rules hold, that
# `netmonctl status` shows them, that netmonctl.path applies a changed
# config within 2 s (a change made during an apply too), and that a
# denied connect reaches the journal.
#
#   tests/vm/boot-test.sh
#
# Env (defaults in brackets, paths relative to the repo root):
#   NM_DEB          the package to install   [built by scripts/package.sh]
#   NM_PROBE        static nmprobe           [build-static/nmprobe]
#   NM_BOOT_KERNEL  matrix label             [6.1: bookworm's own kernel]
#   NM_BOOT_TIMEOUT seconds for both boots   [420]
#   NM_VM_CACHE     kernels and rootfs cache [/var/cache/netmonctl-vm]
#   NM_VM_REFRESH=1 ask the mirror again: a new kernel if there is one, and
#                   the rootfs debootstrapped again
#   NM_BOOT_KEEP=1  keep the work dir (disk image, console log) on exit
# Prints `NM-BOOT-CHECK <name> PASS|FAIL ...` per check and ends with
# `boot: N passed, N failed` (a check that never ran is a failure).
# Exit: 0 all passed, 1 a check failed, 2 a prerequisite is missing.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
cd "$REPO"

CACHE=${NM_VM_CACHE:-/var/cache/netmonctl-vm}
KERNEL_LABEL=${NM_BOOT_KERNEL:-6.1}
TIMEOUT=${NM_BOOT_TIMEOUT:-420}
NM_PROBE=${NM_PROBE:-build-static/nmprobe}
SUITE=bookworm
# systemd as PID 1 and journalctl; jq reads `netmonctl -j` and the journal.
INCLUDE=systemd,systemd-sysv,jq
# What boot-guest.sh reports, in order; any of them missing is a failure.
CHECKS=(package baseline rebooted boot-enforced boot-order status path-write path-rename
	events-journal stop-keeps path-race)

log() { printf 'boot-test: %s\n' "$*" >&2; }
# A prerequisite missing: one clear line, and a summary that counts it as
# a failure (never a skip). fd 3 is the script's stdout, so the summary
# gets there from inside $(...) too.
exec 3>&1
die() {
	log "$*"
	echo "boot: 0 passed, 1 failed" >&3
	exit 2
}

WORK="" QEMU_PID=""
cleanup() {
	local rc=$?
	# Every step runs whatever the one before did: errexit off here.
	set +e
	if [ -n "$QEMU_PID" ]; then
		kill "$QEMU_PID" 2>/dev/null && sleep 1
		kill -9 "$QEMU_PID" 2>/dev/null
		wait "$QEMU_PID" 2>/dev/null
	fi
	if [ -n "$WORK" ]; then
		if [ "${NM_BOOT_KEEP:-0}" = 1 ]; then
			log "kept $WORK"
		else
			rm -rf "$WORK"
		fi
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

check_prereqs() {
	local c
	[ "$(id -u)" = 0 ] || die "run as root (debootstrap, the cache in $CACHE)"
	for c in debootstrap qemu-system-x86_64 mkfs.ext4 dpkg-deb flock; do
		command -v "$c" >/dev/null ||
			die "$c missing: install the test dependencies with scripts/deps.sh test"
	done
	[ -f /usr/share/keyrings/debian-archive-keyring.gpg ] ||
		die "/usr/share/keyrings/debian-archive-keyring.gpg missing (debian-archive-keyring)"
	[ -x "$NM_PROBE" ] || die "$NM_PROBE missing: build it with scripts/build.sh --static"
	! LC_ALL=C readelf -l "$NM_PROBE" | grep -q 'Requesting program interpreter' ||
		die "$NM_PROBE is dynamically linked; the guest needs the static build (scripts/build.sh --static)"
}

# The .deb of this tree: NM_DEB, or built now by the package's one command.
package_deb() {
	local deb
	if [ -n "${NM_DEB:-}" ]; then
		[ -f "$NM_DEB" ] || die "NM_DEB=$NM_DEB does not exist"
		echo "$NM_DEB"
		return
	fi
	deb=$(nice -n 10 scripts/package.sh | tail -n 1) || die "scripts/package.sh failed"
	[ -f "$deb" ] || die "scripts/package.sh printed no .deb ($deb)"
	echo "$deb"
}

# The bookworm cloud kernel of the matrix cache (fetched on a cold cache).
matrix_kernel() {
	local label ver img
	read -r label ver img _ < <("$HERE/fetch-kernels.sh" "$KERNEL_LABEL") ||
		die "kernel $KERNEL_LABEL unavailable (tests/vm/fetch-kernels.sh $KERNEL_LABEL failed)"
	[ -s "$img" ] || die "fetch-kernels.sh gave no image for $KERNEL_LABEL"
	log "kernel $label $ver"
	echo "$img"
}

# The mirror the system's apt uses, read the way fetch-kernels.sh reads it.
system_mirror_url() {
	# Sourcing gives only its functions; its `set -e` must not cut the
	# pipeline short when a sources file is absent.
	(. "$HERE/fetch-kernels.sh" && set +e && system_mirror | head -n 1)
}

# The cache key: everything the rootfs is made from. A change of any of
# them (the mirror, the package list, debootstrap's version, this recipe)
# builds a new rootfs; the old one is removed then, so one is kept.
rootfs_key() {
	{
		echo "$SUITE amd64 minbase $INCLUDE $1"
		dpkg-query -W -f='${Version}' debootstrap
		declare -f debootstrap_rootfs
	} | sha256sum | cut -c1-16
}

# debootstrap into DIR, then strip what the host leaked into it and what
# must differ per run (machine id, written at each image build).
debootstrap_rootfs() {
	local dir=$1 mirror=$2
	nice -n 10 debootstrap --variant=minbase --arch=amd64 --include="$INCLUDE" \
		--keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
		"$SUITE" "$dir" "$mirror" >"$dir.log" 2>&1 || {
		tail -n 15 "$dir.log" >&2
		return 1
	}
	rm -rf "$dir/var/cache/apt/archives/"*.deb "$dir/var/lib/apt/lists/"*_Packages
	rm -f "$dir/etc/resolv.conf" "$dir/etc/machine-id"
	echo nm-boot >"$dir/etc/hostname"
}

# Remove a rootfs tree. debootstrap mounts proc and sysfs inside its target
# while it works: a build that was killed can leave them there, and rm must
# never walk into the host's /proc or /sys through them.
remove_tree() {
	local t=$1 m
	[ -e "$t" ] || return 0
	# Deepest first; /proc/mounts escapes spaces as \040, which a rootfs
	# path under $CACHE does not have.
	awk -v t="$t/" 'index($2 "/", t) == 1 { print $2 }' /proc/mounts | sort -r |
		while read -r m; do umount -l "$m" || true; done
	rm -rf --one-file-system "$t"
}

# The pristine rootfs for this key, built when missing (or with
# NM_VM_REFRESH=1, as fetch-kernels.sh); prints its path. flock: two runs
# at once build it once.
cached_rootfs() {
	local mirror key dir old
	mirror=$(system_mirror_url)
	[ -n "$mirror" ] || die "no Debian mirror in /etc/apt/sources.list{,.d} (debootstrap needs one)"
	key=$(rootfs_key "$mirror")
	dir=$CACHE/rootfs/$SUITE-$key
	mkdir -p "$CACHE/rootfs"
	exec 9>"$CACHE/rootfs/.lock"
	flock 9
	if [ ! -f "$dir/.nm-complete" ] || [ "${NM_VM_REFRESH:-0}" = 1 ]; then
		log "building the $SUITE rootfs (debootstrap from $mirror, cache key $key)"
		remove_tree "$dir.new"
		rm -f "$dir.new.log"
		debootstrap_rootfs "$dir.new" "$mirror" ||
			die "debootstrap $SUITE from $mirror failed (log above)"
		date -u +%FT%TZ >"$dir.new/.nm-complete"
		remove_tree "$dir"
		mv "$dir.new" "$dir"
		rm -f "$dir.new.log"
		# The older keys' rootfs are stale now: one is kept.
		for old in "$CACHE/rootfs/$SUITE-"*; do
			[ "$old" = "$dir" ] || remove_tree "$old"
		done
	else
		log "rootfs $SUITE-$key from the cache (built $(cat "$dir/.nm-complete"))"
	fi
	exec 9>&-
	echo "$dir"
}

# The test's own unit: runs boot-guest.sh on every boot once the system is
# up, its output on the serial console the host reads.
write_check_unit() {
	cat >"$1/etc/systemd/system/nm-boot-check.service" <<'EOF'
[Unit]
Description=netmonctl boot test (tests/vm/boot-guest.sh)
After=multi-user.target netmonctl.service netmonctl.path netmonctl-events.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/nm-boot-check
StandardOutput=tty
StandardError=tty
TTYPath=/dev/ttyS0
TTYReset=no
TTYVHangup=no

[Install]
WantedBy=multi-user.target
EOF
	ln -sf ../nm-boot-check.service "$1/etc/systemd/system/multi-user.target.wants/"
}

# The per-run root: a copy of the cached rootfs, the test's files and the
# .deb, which the guest installs with dpkg -i on its running system (so
# the maintainer scripts meet a real systemd, as on an admin's machine).
assemble_root() {
	local root=$1 deb=$2
	cp -a "$3/." "$root/"
	rm -f "$root/.nm-complete"
	mkdir -p "$root/var/lib/nm-boot" "$root/usr/local/sbin" "$root/usr/local/bin"
	cp "$deb" "$root/var/lib/nm-boot/netmonctl.deb"
	dpkg-deb -f "$deb" Version >"$root/var/lib/nm-boot/deb-version"
	install -m 755 "$HERE/boot-guest.sh" "$root/usr/local/sbin/nm-boot-check"
	install -m 755 "$NM_PROBE" "$root/usr/local/bin/nmprobe"
	write_check_unit "$root"
	# The console is the test's: no login prompt on it.
	ln -sf /dev/null "$root/etc/systemd/system/serial-getty@ttyS0.service"
	# A new machine id: with none, systemd would take this for a first
	# boot and systemd-firstboot would prompt on the console.
	tr -d '-' </proc/sys/kernel/random/uuid >"$root/etc/machine-id"
	printf '/dev/nvme0n1 / ext4 rw,errors=remount-ro 0 1\n' >"$root/etc/fstab"
}

# ext4 filled from the directory: no loop device, no mount on the host.
make_disk() {
	mkfs.ext4 -q -F -L nm-root -d "$1" "$2" 1G >/dev/null ||
		die "mkfs.ext4 -d failed for $2"
}

# Boot the disk; the guest reboots itself once and powers off at the end.
# No -no-reboot: the reboot is the guest's own, in the same machine. The
# console goes to $WORK/console.log and, as it comes, to stdout.
run_vm() {
	local kernel=$1 disk=$2 deadline tail_pid
	: >"$WORK/console.log"
	nice -n 10 qemu-system-x86_64 -machine accel=tcg -m 1024 -smp 2 \
		-nographic -monitor none -nodefaults -serial stdio \
		-drive "file=$disk,format=raw,if=none,id=root" -device nvme,drive=root,serial=nmroot \
		-kernel "$kernel" \
		-append "console=ttyS0 root=/dev/nvme0n1 rw rootfstype=ext4 lsm=lockdown,capability,bpf panic=-1 quiet" \
		</dev/null >"$WORK/console.log" 2>&1 &
	QEMU_PID=$!
	tail -s 0.2 -n +1 -f --pid="$QEMU_PID" "$WORK/console.log" |
		sed -u -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1bc//g' -e 's/\r$//' &
	tail_pid=$!
	deadline=$((SECONDS + TIMEOUT))
	while kill -0 "$QEMU_PID" 2>/dev/null; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			log "TIMEOUT after ${TIMEOUT}s: qemu killed"
			break
		fi
		# panic=-1 reboots a panicked kernel: stop at the first panic
		# instead of booting it until the timeout.
		if grep -q 'Kernel panic' "$WORK/console.log"; then
			log "guest kernel panic: qemu killed"
			break
		fi
		sleep 0.5
	done
	kill "$QEMU_PID" 2>/dev/null || true
	wait "$QEMU_PID" 2>/dev/null || true
	QEMU_PID=""
	wait "$tail_pid" 2>/dev/null || true
}

# Count the guest's verdicts. Every expected check must have a line; a
# FAIL line of any name counts.
report() {
	local clean name line passed=0 failed=0
	clean=$(sed -e 's/\r$//' -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' "$WORK/console.log")
	for name in "${CHECKS[@]}"; do
		line=$(grep -E "^NM-BOOT-CHECK $name (PASS|FAIL)" <<<"$clean" | tail -n 1)
		case $line in
		*" PASS"*) passed=$((passed + 1)) ;;
		*" FAIL"*) failed=$((failed + 1)) ;;
		*) failed=$((failed + 1)); echo "NM-BOOT-CHECK $name FAIL never reported (guest stopped before it)" ;;
		esac
	done
	# A FAIL outside the list (an extra guard in the guest) counts too.
	while read -r name; do
		printf '%s\n' "${CHECKS[@]}" | grep -qx "$name" || failed=$((failed + 1))
	done < <(sed -n 's/^NM-BOOT-CHECK \([^ ]*\) FAIL.*/\1/p' <<<"$clean")
	grep -q '^NM-BOOT-DONE ' <<<"$clean" ||
		{ echo "NM-BOOT-CHECK finished FAIL the guest never printed NM-BOOT-DONE"; failed=$((failed + 1)); }
	echo "boot: $passed passed, $failed failed"
	[ "$failed" -eq 0 ]
}

main() {
	local deb kernel base t0=$SECONDS t
	[ $# -eq 0 ] || { sed -n '3,/^# Exit/p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
	check_prereqs
	deb=$(package_deb)
	log "package $deb ($((SECONDS - t0)) s)"; t=$SECONDS
	kernel=$(matrix_kernel)
	base=$(cached_rootfs)
	log "kernel and rootfs ready ($((SECONDS - t)) s)"; t=$SECONDS
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/nm-boot.XXXXXX")
	mkdir "$WORK/root"
	assemble_root "$WORK/root" "$deb" "$base"
	make_disk "$WORK/root" "$WORK/disk.img"
	rm -rf "$WORK/root"
	log "disk image ready ($((SECONDS - t)) s); booting (timeout ${TIMEOUT}s)"; t=$SECONDS
	run_vm "$kernel" "$WORK/disk.img"
	log "VM ran $((SECONDS - t)) s; whole test $((SECONDS - t0)) s"
	report
}

main "$@"
