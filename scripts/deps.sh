#!/usr/bin/env bash
# Install what netmonctl needs on Debian 12, as root. Idempotent: apt is
# only asked when a package is missing.
#   scripts/deps.sh build   compiler, libbpf, bpftool, jansson, cmake, netbase (/etc/services:
#                           service names in `port`, and the unit tests that read them)
#   scripts/deps.sh cross   build + the arm64 cross build (scripts/build.sh --arch arm64):
#                           Debian's aarch64 cross gcc and, with arm64 added to dpkg's
#                           architectures (multiarch), the arm64 libraries
#   scripts/deps.sh test    cross + bats, jq, iproute2, qemu (x86-64 and aarch64) and friends
#                           for the kernel matrix, python3 (test helpers), clang's runtimes
#                           (libFuzzer, ASan) and llvm-symbolizer (readable sanitizer reports),
#                           systemd (systemd-analyze verify on the units), lintian (the .deb),
#                           debootstrap and e2fsprogs (the boot test's Debian guest and its disk image)
#   scripts/deps.sh bench   test + nftables
set -euo pipefail

build_pkgs=(clang gcc make cmake pkg-config libbpf-dev bpftool libelf-dev zlib1g-dev
	libzstd-dev libjansson-dev linux-libc-dev netbase)
cross_pkgs=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross libbpf-dev:arm64 libelf-dev:arm64
	zlib1g-dev:arm64 libzstd-dev:arm64 libjansson-dev:arm64 linux-libc-dev:arm64)
test_pkgs=(bats bats-assert bats-support bats-file jq iproute2 procps qemu-system-x86 qemu-system-arm
	busybox-static bash-static cpio man-db groff-base bash-completion util-linux python3
	libclang-rt-dev llvm systemd lintian file debootstrap e2fsprogs)
bench_pkgs=(nftables)

want=("${build_pkgs[@]}")
case "${1:-build}" in
build) ;;
cross) want+=("${cross_pkgs[@]}") ;;
test) want+=("${cross_pkgs[@]}" "${test_pkgs[@]}") ;;
bench) want+=("${cross_pkgs[@]}" "${test_pkgs[@]}" "${bench_pkgs[@]}") ;;
*) echo "usage: $0 {build|cross|test|bench}" >&2; exit 2 ;;
esac

# Packages named PKG:arm64 need dpkg to know the arch (and apt its lists,
# which the update below fetches).
foreign=0
for p in "${want[@]}"; do [[ $p == *:arm64 ]] && foreign=1; done
if [ "$foreign" = 1 ] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
	[ "$(id -u)" -eq 0 ] || { echo "deps.sh: adding arch arm64 needs root" >&2; exit 1; }
	dpkg --add-architecture arm64
fi

missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	[ "$(id -u)" -eq 0 ] || { echo "deps.sh: installing ${missing[*]} needs root" >&2; exit 1; }
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
