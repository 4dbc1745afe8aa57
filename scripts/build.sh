#!/usr/bin/env bash
# Build build/netmonctl (+ build/nmprobe); with --static, build-static/ too;
# with --arch ARCH (Debian's arch name, e.g. arm64), only the static cross
# build build-static-ARCH/ with cmake/toolchain-ARCH.cmake (the kernel
# matrix's ARCH columns boot it).
#   scripts/build.sh [--static] [--arch ARCH]
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
static=0 arch=""
while [ $# -gt 0 ]; do
	case $1 in
	--static) static=1 ;;
	--arch) arch=${2:?--arch wants an arch}; shift ;;
	*) echo "usage: $0 [--static] [--arch ARCH]" >&2; exit 2 ;;
	esac
	shift
done

# configure_build DIR CMAKE-ARGS...: configure (quietly) and build DIR.
configure_build() {
	local dir=$1
	shift
	cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
	cmake --build "$dir" -j "$jobs" >/dev/null
}

if [ -n "$arch" ]; then
	toolchain=cmake/toolchain-$arch.cmake
	[ -f "$toolchain" ] || { echo "build.sh: no $toolchain: arch $arch is not supported" >&2; exit 2; }
	configure_build "build-static-$arch" -DNM_STATIC=ON -DCMAKE_TOOLCHAIN_FILE="$PWD/$toolchain"
	exit 0
fi
configure_build build
[ "$static" = 1 ] && configure_build build-static -DNM_STATIC=ON
exit 0
