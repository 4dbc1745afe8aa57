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
# Env: NM_VM_APPEND   extra kernel parameters (e.g. nm.verbose=1)
#      NM_VM_MEM      guest memory in MiB (default 1024)
#      NM_VM_SMP      guest CPUs (default 2)
set -uo pipefail

EXIT_TIMEOUT=124
EXIT_NO_MARKER=125

usage() { sed -n '4,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

[ $# -ge 2 ] && [ $# -le 3 ] || usage
KERNEL=$1 INITRD=$2 TIMEOUT=${3:-300}
[ -r "$KERNEL" ] || { echo "boot.sh: no kernel $KERNEL" >&2; exit 2; }
[ -r "$INITRD" ] || { echo "boot.sh: no initrd $INITRD" >&2; exit 2; }

CONSOLE=$(mktemp "${TMPDIR:-/tmp}/nm-console.XXXXXX")
QEMU_PID=""
cleanup() {
	[ -n "$QEMU_PID" ] && kill "$QEMU_PID" 2>/dev/null
	rm -f "$CONSOLE"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# -serial stdio via -nographic; the monitor is off so that nothing the
# guest prints (or a stray ^A) talks to qemu. stdin is /dev/null: CI has
# none, and a terminal's keystrokes must not reach the guest.
qemu-system-x86_64 -machine accel=tcg -m "${NM_VM_MEM:-1024}" -smp "${NM_VM_SMP:-2}" \
	-nographic -monitor none -no-reboot -nodefaults -serial stdio \
	-kernel "$KERNEL" -initrd "$INITRD" \
	-append "console=ttyS0 panic=-1 lsm=lockdown,capability,bpf quiet ${NM_VM_APPEND:-}" \
	</dev/null >"$CONSOLE" 2>&1 &
QEMU_PID=$!

# Stream the console while waiting, so a human (or CI log) sees progress.
# SeaBIOS's terminal escapes are dropped from that copy only.
tail -s 0.2 -n +1 -f --pid="$QEMU_PID" "$CONSOLE" |
	sed -u -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1bc//g' -e 's/\r$//' &
TAIL_PID=$!

timed_out=0
deadline=$((SECONDS + TIMEOUT))
while kill -0 "$QEMU_PID" 2>/dev/null; do
	if [ "$SECONDS" -ge "$deadline" ]; then
		timed_out=1
		kill "$QEMU_PID" 2>/dev/null
		sleep 1
		kill -9 "$QEMU_PID" 2>/dev/null
		break
	fi
	sleep 0.2
done
wait "$QEMU_PID" 2>/dev/null
QEMU_PID=""
wait "$TAIL_PID" 2>/dev/null

# The serial line ends in \r\n; the last marker wins (a payload could echo
# the string itself earlier).
rc=$(tr -d '\r' <"$CONSOLE" | sed -n 's/^NM-VM-EXIT \([0-9]\{1,3\}\)$/\1/p' | tail -n1)
if [ -n "$rc" ]; then
	exit "$rc"
fi
if [ "$timed_out" = 1 ]; then
	echo "boot.sh: TIMEOUT after ${TIMEOUT}s, qemu killed (no NM-VM-EXIT marker)" >&2
	exit $EXIT_TIMEOUT
fi
echo "boot.sh: guest stopped without an NM-VM-EXIT marker (kernel panic or init crash)" >&2
exit $EXIT_NO_MARKER
