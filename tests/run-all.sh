#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine, as root:
# installs what the tests need, builds (dynamic and static), runs the bats
# suite against the host kernel, then the cross-kernel VM matrix.
# Ends with one line `tests: N passed, N failed, N skipped`.
set -uo pipefail
cd "$(dirname "$0")/.."

die() { echo "run-all: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "must run as root (real kernel, real cgroups)"
scripts/deps.sh test || die "installing dependencies failed"
scripts/build.sh --static || die "build failed"

passed=0 failed=0 skipped=0
# bats prints TAP; count it here so skips are never reported as passes.
tap=$(mktemp)
trap 'rm -f "$tap"' EXIT
bats --tap tests/bats | tee "$tap"
bats_rc=${PIPESTATUS[0]}
passed=$(grep -cE '^ok [0-9]+ ' "$tap" | tr -d ' ')
skipped=$(grep -cE '^ok [0-9]+ .*# skip' "$tap" | tr -d ' ')
passed=$((passed - skipped))
failed=$(grep -cE '^not ok ' "$tap" | tr -d ' ')
[ "$bats_rc" -eq 0 ] || [ "$failed" -gt 0 ] || failed=$((failed + 1))
echo "bats (host kernel $(uname -r)): $passed passed, $failed failed, $skipped skipped"

if [ -x tests/vm/run-matrix.sh ] && [ "${NM_SKIP_MATRIX:-0}" != 1 ]; then
	if tests/vm/run-matrix.sh; then
		passed=$((passed + 1))
		echo "kernel matrix: passed"
	else
		failed=$((failed + 1))
		echo "kernel matrix: FAILED"
	fi
fi
echo "tests: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
