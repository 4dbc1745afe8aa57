#!/usr/bin/env bash
# Install what netmonctl needs on Debian 12, as root. Idempotent: apt is
# only asked when a package is missing.
#   scripts/deps.sh build   compiler, libbpf, bpftool, jansson, cmake, netbase (/etc/services:
#                           service names in `port`, and the unit tests that read them)
#   scripts/deps.sh test    build + bats, jq, iproute2, qemu and friends for the kernel matrix,
#                           python3 (test helpers), clang's runtimes (libFuzzer, ASan) and
#                           llvm-symbolizer (readable sanitizer reports), systemd (systemd-analyze
#                           verify on the units), lintian (the .deb), debootstrap and e2fsprogs
#                           (the boot test's Debian guest and its disk image)
#   scripts/deps.sh bench   test + nftables
set -euo pipefail

build_pkgs=(clang gcc make cmake pkg-config libbpf-dev bpftool libelf-dev zlib1g-dev
	libzstd-dev libjansson-dev linux-libc-dev netbase)
test_pkgs=(bats bats-assert bats-support bats-file jq iproute2 procps qemu-system-x86
	busybox-static bash-static cpio man-db groff-base bash-completion util-linux python3
	libclang-rt-dev llvm systemd lintian file debootstrap e2fsprogs)
bench_pkgs=(nftables)

want=("${build_pkgs[@]}")
case "${1:-build}" in
build) ;;
test) want+=("${test_pkgs[@]}") ;;
bench) want+=("${test_pkgs[@]}" "${bench_pkgs[@]}") ;;
*) echo "usage: $0 {build|test|bench}" >&2; exit 2 ;;
esac

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
