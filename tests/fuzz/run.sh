#!/usr/bin/env bash
# Build the libFuzzer harnesses (tests/fuzz/fuzz_*.c, with clang and
# -fsanitize=fuzzer,address,undefined) into build-fuzz/ and run each for
# NM_FUZZ_SECONDS (default 20), starting from its committed seed corpus
# tests/fuzz/corpus/<name>/ (new inputs go to build-fuzz/corpus/<name>/,
# never into the source tree). A crash, a sanitizer report, a leak, a
# timeout or a failed check fails the run and prints the reproducer:
#   build-fuzz/fuzz/fuzz_<name> build-fuzz/artifacts/<name>/crash-...
# Ends with `fuzz: N passed, N failed` (one per harness); exit 1 on failure.
#   NM_FUZZ_SECONDS=60 tests/fuzz/run.sh [NAME...]
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
secs=${NM_FUZZ_SECONDS:-20}
out=${NM_FUZZ_BUILD:-build-fuzz}
log=$out/logs

fail_build() { echo "fuzz: build failed: $*"; echo "fuzz: 0 passed, 1 failed"; exit 1; }
command -v clang >/dev/null || fail_build "clang not installed (scripts/deps.sh test)"
cmake -S . -B "$out" -DNM_FUZZ=ON -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	>"$out.cmake.log" 2>&1 || fail_build "cmake: $(tail -n 5 "$out.cmake.log")"
rm -f "$out.cmake.log"
mkdir -p "$log"
cmake --build "$out" -j "$(nproc)" --target fuzz >"$log/build.log" 2>&1 ||
	fail_build "$(grep -E 'error|undefined' "$log/build.log" | head -n 10)"

if [ $# -gt 0 ]; then
	names=("$@")
else
	names=()
	for src in tests/fuzz/fuzz_*.c; do
		n=$(basename "$src" .c)
		names+=("${n#fuzz_}")
	done
fi

passed=0 failed=0
for name in "${names[@]}"; do
	bin=$out/fuzz/fuzz_$name
	seeds=tests/fuzz/corpus/$name
	work=$out/corpus/$name
	art=$out/artifacts/$name
	[ -x "$bin" ] || { echo "fuzz $name: no $bin"; failed=$((failed + 1)); continue; }
	mkdir -p "$work" "$art"
	rm -f "$art"/*
	args=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=8192
		-print_final_stats=1 -artifact_prefix="$art/")
	dict=tests/fuzz/$name.dict
	[ "$name" = rulefile ] && dict=tests/fuzz/rule.dict
	[ -f "$dict" ] && args+=(-dict="$dict")
	start=$(date +%s)
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		"$bin" "${args[@]}" "$work" "$seeds" >"$log/$name.log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log/$name.log")
	cov=$(grep -oE 'cov: [0-9]+' "$log/$name.log" | tail -n 1)
	repro=$(find "$art" -type f | head -n 1)
	if [ "$rc" -ne 0 ] || [ -n "$repro" ]; then
		failed=$((failed + 1))
		echo "fuzz $name: FAILED (exit $rc) after $(($(date +%s) - start)) s; log $log/$name.log"
		grep -E '^(==[0-9]+==ERROR|SUMMARY|fuzz_|.*runtime error)' "$log/$name.log" | head -n 5
		[ -n "$repro" ] && echo "fuzz $name: reproduce with: $bin $repro"
	else
		passed=$((passed + 1))
		echo "fuzz $name: ok, ${execs:-?} runs in $(($(date +%s) - start)) s, ${cov:-cov: ?}, corpus $(find "$work" -type f | wc -l) + $(find "$seeds" -type f | wc -l) seeds"
	fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
