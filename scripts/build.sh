#!/usr/bin/env bash
# Build build/netmonctl (+ build/nmprobe) and, with --static, build-static/ too.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$jobs" >/dev/null
if [ "${1:-}" = "--static" ]; then
	cmake -S . -B build-static -DNM_STATIC=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build build-static -j "$jobs" >/dev/null
fi
