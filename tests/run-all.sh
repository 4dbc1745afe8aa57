#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine, as root, in this order:
#   1. deps         scripts/deps.sh test
#   2. build        build/ (dynamic, with the unit tests), build-static/ and
#                   build-static-arm64/ (the cross build the arm64 VMs run)
#   3. unit         tests/unit/run.sh: pure functions, no root, < 1 s
#                   (counted per test function)
#   4. host bats    tests/bats against this machine's kernel (per test)
#   5. fuzz         tests/fuzz/run.sh: each libFuzzer harness for
#                   NM_FUZZ_SECONDS (default 20) s (counted per harness)
#   6. ASan bats    tests/asan/run.sh: the bats suite but the layout 2-5
#                   migrations (or the files in
#                   NM_ASAN_BATS) against an ASan+UBSan build (per test;
#                   every sanitizer report is one more failure)
#   7. VM matrix    tests/vm/run-matrix.sh: Debian's kernels in qemu, amd64
#                   and arm64 (one)
#   8. boot         tests/vm/boot-test.sh: the .deb in a Debian guest booted
#                   under qemu, its units proven across a reboot (per check)
# Ends with one line `tests: N passed, N failed, N skipped`; a skip always
# says why and is never counted as a pass.
# NM_SKIP_FUZZ=1, NM_SKIP_ASAN=1, NM_SKIP_MATRIX=1, NM_SKIP_BOOT=1 leave a
# part out (and say so).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

die() { echo "run-all: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "must run as root (real kernel, real cgroups)"
t0=$SECONDS
phase() { # phase NAME: the time the last part took
	echo "run-all: $1 took $((SECONDS - t0)) s"
	t0=$SECONDS
}
scripts/deps.sh test || die "installing dependencies failed"
scripts/build.sh --static || die "build failed"
scripts/build.sh --arch arm64 || die "arm64 cross build failed"
phase "deps and build"

passed=0 failed=0 skipped=0

# add_summary PART LOG: add `PART: N passed, N failed[, N skipped]` (the last
# such line of LOG) to the totals; no such line counts as one failure.
add_summary() {
	local line p f s
	line=$(grep -E "^$1: [0-9]+ passed, [0-9]+ failed" "$2" | tail -n 1)
	if [ -z "$line" ]; then
		echo "run-all: $1 printed no summary: counted as 1 failed"
		failed=$((failed + 1))
		return
	fi
	p=$(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$line")
	f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
	s=0
	[[ $line == *skipped* ]] && s=$(sed -E 's/.* ([0-9]+) skipped.*/\1/' <<<"$line")
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
}

log=$(mktemp)
tap=$(mktemp)
trap 'rm -f "$log" "$tap"' EXIT

# ---- unit tests: first, they take milliseconds ----
tests/unit/run.sh build | tee "$log"
add_summary unit "$log"
phase "unit tests"

# ---- host bats: TAP counted here so skips are never reported as passes ----
bats --tap tests/bats | tee "$tap"
bats_rc=${PIPESTATUS[0]}
b_passed=$(grep -cE '^ok [0-9]+ ' "$tap")
b_skipped=$(grep -cE '^ok [0-9]+ .*# skip' "$tap")
b_passed=$((b_passed - b_skipped))
b_failed=$(grep -cE '^not ok ' "$tap")
[ "$bats_rc" -eq 0 ] || [ "$b_failed" -gt 0 ] || b_failed=$((b_failed + 1))
echo "bats (host kernel $(uname -r)): $b_passed passed, $b_failed failed, $b_skipped skipped"
passed=$((passed + b_passed)) failed=$((failed + b_failed)) skipped=$((skipped + b_skipped))
phase "host bats"

# ---- fuzzing ----
if [ "${NM_SKIP_FUZZ:-0}" != 1 ]; then
	tests/fuzz/run.sh | tee "$log"
	add_summary fuzz "$log"
	phase "fuzz"
else
	echo "fuzz: skipped (NM_SKIP_FUZZ=1)"
	skipped=$((skipped + 1))
fi

# ---- the bats suite again, under ASan + UBSan ----
if [ "${NM_SKIP_ASAN:-0}" != 1 ]; then
	# The suite but the old-layout migrations (tests/asan/run.sh says
	# why), or the files in NM_ASAN_BATS; timings in the README.
	tests/asan/run.sh | tee "$log"
	add_summary "asan bats" "$log"
	phase "ASan bats"
else
	echo "asan bats: skipped (NM_SKIP_ASAN=1)"
	skipped=$((skipped + 1))
fi

# ---- the kernel matrix ----
if [ -x tests/vm/run-matrix.sh ] && [ "${NM_SKIP_MATRIX:-0}" != 1 ]; then
	if tests/vm/run-matrix.sh; then
		passed=$((passed + 1))
		echo "kernel matrix: passed"
	else
		failed=$((failed + 1))
		echo "kernel matrix: FAILED"
	fi
	phase "kernel matrix"
fi
# ---- the .deb and its systemd units, proven by a real boot ----
if [ "${NM_SKIP_BOOT:-0}" != 1 ]; then
	# stderr too: a missing prerequisite is one line there, and the
	# summary is on stdout either way.
	tests/vm/boot-test.sh 2>&1 | tee "$log"
	add_summary boot "$log"
	phase "boot test"
else
	echo "boot: skipped (NM_SKIP_BOOT=1)"
	skipped=$((skipped + 1))
fi
echo "tests: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
