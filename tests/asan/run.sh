#!/usr/bin/env bash
# The host bats suite against an AddressSanitizer + UndefinedBehaviorSanitizer
# build of netmonctl (build-asan/, cmake -DNM_SANITIZE=ON: every report is
# fatal, -fno-sanitize-recover=all). Root, like the suite itself.
#
# A report fails the run twice over: the binary exits 86 (so the test
# around it fails, unless it expected some failure), and every report is
# also written to a log file here, each one counted as a failed test and
# printed, so a report from a command whose failure a test expected is not
# lost. LeakSanitizer is on: netmonctl frees what it allocates, and leaks
# inside libbpf/jansson would show up as reports too (none seen).
#
# nmprobe stays the regular static build (build/nmprobe): it is the test's
# tool, not the code under test, and ASan cannot link statically.
# NM_ASAN_BATS: bats files to run (default: every tests/bats/*.bats but the
# migrations from layouts 2-5: they run old binaries, and the new one's
# migration code is the same for every old layout, which migrate6.bats
# covers; they took ~90 s of the suite's ~500).
# Ends with `asan bats: N passed, N failed, N skipped`; exit 1 on failure.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
out=${NM_ASAN_BUILD:-build-asan}
probe=${NMPROBE:-build/nmprobe}

fail_build() { echo "asan: build failed: $*"; echo "asan bats: 0 passed, 1 failed, 0 skipped"; exit 1; }
cmake -S . -B "$out" -DNM_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null 2>&1 ||
	fail_build "cmake -DNM_SANITIZE=ON"
cmake --build "$out" -j "$(nproc)" --target netmonctl >"$out/build.log" 2>&1 ||
	fail_build "$(grep -E 'error' "$out/build.log" | head -n 10)"
[ -x "$probe" ] || fail_build "no $probe (build it first: scripts/build.sh)"

reports=$(mktemp -d /tmp/nm-asan.XXXXXX)
chmod 1777 "$reports" # the suite also runs netmonctl as uid 65534
tap=$(mktemp)
trap 'rm -rf "$reports" "$tap"' EXIT
export ASAN_OPTIONS="halt_on_error=1:exitcode=86:detect_leaks=1:abort_on_error=0:log_path=$reports/asan:log_exe_name=1"
export UBSAN_OPTIONS="halt_on_error=1:exitcode=86:print_stacktrace=1:log_path=$reports/ubsan:log_exe_name=1"
export LSAN_OPTIONS="exitcode=86"

if [ -n "${NM_ASAN_BATS:-}" ]; then
	read -ra files <<<"$NM_ASAN_BATS"
else
	files=()
	for f in tests/bats/*.bats; do
		[[ $f == */migrate.bats || $f == */migrate[345].bats ]] || files+=("$f")
	done
fi
# txn.bats kills 300k-rule edits 20 times each on the regular build; here a
# few rounds take the same paths (build, switch, settle, repair) under ASan.
NETMONCTL=$PWD/$out/netmonctl NMPROBE=$PWD/$probe NM_ASAN=1 NM_KILL_ROUNDS=${NM_KILL_ROUNDS:-6} \
	bats --tap "${files[@]}" | tee "$tap"
bats_rc=${PIPESTATUS[0]}
passed=$(grep -cE '^ok [0-9]+ ' "$tap")
skipped=$(grep -cE '^ok [0-9]+ .*# skip' "$tap")
passed=$((passed - skipped))
failed=$(grep -cE '^not ok ' "$tap")
[ "$bats_rc" -eq 0 ] || [ "$failed" -gt 0 ] || failed=$((failed + 1))
nrep=0
for f in "$reports"/*; do
	[ -f "$f" ] || continue
	nrep=$((nrep + 1))
	echo "asan: sanitizer report $(basename "$f"):"
	head -n 40 "$f"
done
[ "$nrep" -eq 0 ] || echo "asan: $nrep sanitizer report(s): each counted as a failed test"
failed=$((failed + nrep))
echo "asan bats: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
