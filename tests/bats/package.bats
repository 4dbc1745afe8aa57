#!/usr/bin/env bats
# The Debian package (scripts/package.sh): what it holds, that lintian
# finds nothing it does not justify (packaging/lintian-overrides), and that
# the packaged binary and state file work. It is unpacked into a scratch
# directory, never installed on this machine.
load helpers

setup_file() {
	export NM_PACKAGE_BUILD=$BATS_FILE_TMPDIR/deb
	DEB=$("$NM_SRC_ROOT/scripts/package.sh")
	export DEB
}

teardown() {
	if [ -e "${NM_PIN_DIR:-/nonexistent}/maps/config" ]; then nm unload >/dev/null; fi
	[ -z "${NM_PIN_DIR:-}" ] || rm -rf "$NM_PIN_DIR"
}

@test "the package is netmonctl_<version>_<arch>.deb with the binary, man page, completion, units and a conffile" {
	local version arch
	version=$(sed -n 's/^#define NM_VERSION "\(.*\)"/\1/p' "$NM_SRC_ROOT/src/nm.h")
	arch=$(dpkg --print-architecture)
	[ "$(basename "$DEB")" = "netmonctl_${version}_${arch}.deb" ]
	run dpkg-deb -c "$DEB"
	local f
	for f in ./usr/sbin/netmonctl ./usr/share/man/man8/netmonctl.8.gz \
		./usr/share/bash-completion/completions/netmonctl ./usr/lib/systemd/system/netmonctl.service \
		./usr/lib/systemd/system/netmonctl.path ./usr/lib/systemd/system/netmonctl-apply.service \
		./usr/lib/systemd/system/netmonctl-events.service ./etc/netmonctl/netmonctl.conf \
		./usr/share/doc/netmonctl/copyright; do
		grep -q " $f\$" <<<"$output" || { echo "the package lacks $f" >&2; return 1; }
	done
	[ "$(dpkg-deb -f "$DEB" Package Version Architecture | tr '\n' ' ')" = "Package: netmonctl Version: $version Architecture: $arch " ]
	[ "$(dpkg-deb --ctrl-tarfile "$DEB" | tar -xO ./conffiles)" = /etc/netmonctl/netmonctl.conf ]
}

@test "lintian: nothing but the tags packaging/lintian-overrides justifies" {
	run lintian --fail-on error,warning "$DEB"
	assert_success
	[ -z "$(grep -v 'running with root privileges is not recommended' <<<"$output")" ] || { echo "$output" >&2; return 1; }
}

@test "the packaged binary is static, and restores the packaged state file" {
	local root=$BATS_TEST_TMPDIR/root
	dpkg-deb -x "$DEB" "$root"
	run file "$root/usr/sbin/netmonctl"
	assert_output --partial "statically linked"
	export NM_PIN_DIR="/sys/fs/bpf/nmtest-$NM_TAG"
	NETMONCTL=$root/usr/sbin/netmonctl
	run nm restore "$root/etc/netmonctl/netmonctl.conf"
	assert_success
	[ "$(nm -j status | jq -c '[.loaded, .rules, (.links | length)]')" = '[true,0,0]' ]
}
