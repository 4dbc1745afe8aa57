#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# boot.sh: boot a kernel with a test initramfs in qemu (TCG: no KVM here)
# and exit with the guest payload's exit code.
#
#   tests/vm/boot.sh VMLINUZ INITRD [TIMEOUT_S]
#
# The serial console goes to stdout. The exit code is the N of the guest's
# `NM-VM-EXIT N` line; without that line the VM crashed, hung or never ran
# the payload, and the exit code is 124 (timeout) or 125 (no marker).
# Env: NM_VM_ARCH     the kernel's arch, Debian's name: amd64 (default) or
#                     arm64 (qemu-system-aarch64 -M virt)
#      NM_VM_APPEND   extra kernel parameters (e.g. nm.verbose=1)
#      NM_VM_MEM      guest memory in MiB (default 1024)
#      NM_VM_SMP      guest CPUs (default 2)
#      NM_VM_BOOT_RETRIES  boots again when the kernel dies before the
#                     payload started (default 2; see below)
set -uo pipefail

EXIT_TIMEOUT=124
EXIT_NO_MARKER=125

usage() { sed -n '4,18p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

if [ $# -lt 2 ] || [ $# -gt 3 ]; then usage; fi
KERNEL=$1 INITRD=$2 TIMEOUT=${3:-300}
RETRIES=${NM_VM_BOOT_RETRIES:-2}
[ -r "$KERNEL" ] || { echo "boot.sh: no kernel $KERNEL" >&2; exit 2; }
[ -r "$INITRD" ] || { echo "boot.sh: no initrd $INITRD" >&2; exit 2; }

# QEMU (the emulator and its machine) and the serial console's name, per
# arch. arm64: the `virt` board, whose PL011 UART is ttyAMA0; -cpu max for
# every feature a Debian kernel may use, with the implementation-defined
# pointer-authentication algorithm, which TCG computes far faster than
# the architected QARMA (guests cannot tell the difference).
# shellcheck disable=SC2054 # the commas are qemu's
case ${NM_VM_ARCH:-amd64} in
amd64) QEMU=(qemu-system-x86_64 -machine accel=tcg) TTY=ttyS0 ;;
arm64) QEMU=(qemu-system-aarch64 -machine virt,accel=tcg -cpu max,pauth-impdef=on) TTY=ttyAMA0 ;;
*) echo "boot.sh: NM_VM_ARCH=$NM_VM_ARCH: no qemu known for it" >&2; exit 2 ;;
esac

CONSOLE=$(mktemp "${TMPDIR:-/tmp}/nm-console.XXXXXX")
QEMU_PID=""
cleanup() {
	[ -n "$QEMU_PID" ] && kill "$QEMU_PID" 2>/dev/null
	rm -f "$CONSOLE"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# One boot. Sets TIMED_OUT. The console is copied to stdout as it comes.
boot_once() {
	local deadline tail_pid
	: >"$CONSOLE"
	TIMED_OUT=0
	# -nographic with the monitor off: nothing the guest prints (or a
	# stray ^A) talks to qemu. stdin is /dev/null: CI has none, and a
	# terminal's keystrokes must not reach the guest.
	"${QEMU[@]}" -m "${NM_VM_MEM:-1024}" -smp "${NM_VM_SMP:-2}" \
		-nographic -monitor none -no-reboot -nodefaults -serial stdio \
		-kernel "$KERNEL" -initrd "$INITRD" \
		-append "console=$TTY panic=-1 lsm=lockdown,capability,bpf quiet ${NM_VM_APPEND:-}" \
		</dev/null >"$CONSOLE" 2>&1 &
	QEMU_PID=$!
	# SeaBIOS's terminal escapes are dropped from the copy only.
	tail -s 0.2 -n +1 -f --pid="$QEMU_PID" "$CONSOLE" |
		sed -u -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1bc//g' -e 's/\r$//' &
	tail_pid=$!
	deadline=$((SECONDS + TIMEOUT))
	while kill -0 "$QEMU_PID" 2>/dev/null; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			TIMED_OUT=1
			kill "$QEMU_PID" 2>/dev/null
			sleep 1
			kill -9 "$QEMU_PID" 2>/dev/null
			break
		fi
		sleep 0.2
	done
	wait "$QEMU_PID" 2>/dev/null
	QEMU_PID=""
	wait "$tail_pid" 2>/dev/null
}

# The value of the last `MARKER value` line; SeaBIOS leaves escapes
# (\ec\e[?7l\e[2J) at the start of the guest's first line.
marker() {
	sed -e 's/\r$//' -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1bc//g' "$CONSOLE" |
		sed -n "s/^$1\$/\\1/p" | tail -n1
}

# A kernel that dies before /init printed NM-VM-START never ran our code:
# that is the emulator (TCG occasionally trips over the kernel patching
# its own text on another vCPU: an int3 Oops in early boot, seen ~1 in 20
# boots of the newest kernel), so it is booted again, saying so. A crash
# after the payload started is a result and is never retried.
attempt=1
while :; do
	boot_once
	rc=$(marker 'NM-VM-EXIT \([0-9]\{1,3\}\)')
	[ -n "$rc" ] && exit "$rc"
	if [ "$TIMED_OUT" = 1 ]; then
		echo "boot.sh: TIMEOUT after ${TIMEOUT}s, qemu killed (no NM-VM-EXIT marker)" >&2
		exit $EXIT_TIMEOUT
	fi
	if [ -z "$(marker 'NM-VM-START \(.*\)')" ] && [ "$attempt" -le "$RETRIES" ]; then
		echo "boot.sh: kernel died before the payload started (attempt $attempt); booting again" >&2
		attempt=$((attempt + 1))
		continue
	fi
	echo "boot.sh: guest stopped without an NM-VM-EXIT marker (kernel panic or init crash)" >&2
	exit $EXIT_NO_MARKER
done
