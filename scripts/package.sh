#!/usr/bin/env bash
# Build the Debian package: a static Release build of netmonctl installed
# under /usr (units, completion, gzipped man page, a commented
# /etc/netmonctl/netmonctl.conf as a conffile), packed by CPack. Prints the
# .deb's path: build-deb/netmonctl_<version>_<arch>.deb.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${NM_PACKAGE_BUILD:-build-deb}
case $out in /*) ;; *) out=$PWD/$out ;; esac
cmake -S . -B "$out" -DNM_STATIC=ON -DNM_PACKAGE=ON -DCMAKE_BUILD_TYPE=Release \
	-DCMAKE_INSTALL_PREFIX=/usr >/dev/null
cmake --build "$out" -j "$(nproc)" --target netmonctl nm_package_files >"$out/build.log" 2>&1 ||
	{ tail -n 20 "$out/build.log" >&2; exit 1; }
# the binary carries no debug symbols in the package (lintian: unstripped)
(cd "$out" && cpack -G DEB -D CPACK_STRIP_FILES=ON >"cpack.log" 2>&1) || { tail -n 20 "$out/cpack.log" >&2; exit 1; }
ls "$out"/netmonctl_*.deb
