#!/usr/bin/env bash
# build-layout.sh N: build the netmonctl of the last commit that writes
# layout N into build-layoutN/, for the migration tests (tests/bats/migrate*.bats):
# `load` of this tree over pins that binary made must migrate them in
# place. The source comes from this repository's own history (git
# archive), so a clone with full history is needed; the build is kept
# while the commit stays the same. Prints the binary's path.
set -euo pipefail
cd "$(dirname "$0")/.."
case ${1:-} in
2) commit=a86060f ;; # main before layout 3
3) commit=9ff8174 ;; # main before layout 4 (port sets)
4) commit=51576df ;; # main before layout 5 (host rules in the buckets)
5) commit=2ccdf55 ;; # main before layout 6 (protocol classes, sock_create)
6) commit=63cd7d1 ;; # main before layout 7 (scopes: rule lists, cgroup storage)
*) echo "usage: build-layout.sh { 2 | 3 | 4 | 5 | 6 }" >&2; exit 2 ;;
esac
out=build-layout$1
bin=$out/build/netmonctl
if [ -x "$bin" ] && [ "$(cat "$out/commit" 2>/dev/null)" = "$commit" ]; then
	echo "$PWD/$bin"
	exit 0
fi
if ! git cat-file -e "$commit^{commit}" 2>/dev/null; then
	echo "build-layout $1: commit $commit is not in this clone$(
		[ "$(git rev-parse --is-shallow-repository 2>/dev/null)" = true ] && echo " (a shallow clone: fetch its history)")" >&2
	exit 1
fi
rm -rf "$out"
mkdir -p "$out/src"
git archive "$commit" | tar -x -C "$out/src"
cmake -S "$out/src" -B "$out/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$out/build" -j "$(nproc)" --target netmonctl >"$out/build.log" 2>&1 ||
	{ tail -n 20 "$out/build.log" >&2; exit 1; }
echo "$commit" >"$out/commit"
echo "$PWD/$bin"
