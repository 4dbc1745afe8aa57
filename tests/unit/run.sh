#!/usr/bin/env bash
# Run every built unit test (BUILD_DIR/unit/unit_*, default build/): no root,
# no kernel, well under a second. Each binary prints `unit <area>: N passed,
# N failed` (one count per test function); a binary that dies without that
# line counts as one failed test. Ends with `unit: N passed, N failed`;
# exit 1 when anything failed or no unit test was built.
#   tests/unit/run.sh [BUILD_DIR]
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
dir=${1:-build}/unit

passed=0 failed=0 found=0
for t in "$dir"/unit_*; do
	if [ ! -f "$t" ] || [ ! -x "$t" ]; then continue; fi
	found=$((found + 1))
	out=$("$t")
	rc=$?
	line=$(grep -E '^unit [a-z0-9_]+: [0-9]+ passed, [0-9]+ failed$' <<<"$out" | tail -n 1)
	printf '%s\n' "$out"
	if [ -z "$line" ]; then
		echo "$(basename "$t"): exit $rc without a summary line: counted as 1 failed"
		failed=$((failed + 1))
		continue
	fi
	read -r p f < <(sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed/\1 \2/' <<<"$line")
	passed=$((passed + p))
	failed=$((failed + f))
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "$(basename "$t"): exit $rc with no failed test: counted as 1 failed"
		failed=$((failed + 1))
	fi
done
if [ "$found" -eq 0 ]; then
	echo "unit: no unit_* binaries in $dir (build first)"
	failed=$((failed + 1))
fi
echo "unit: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
