#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# fetch-kernels.sh: put one Debian cloud kernel image per suite and arch
# into a cache outside the work tree and print
# `<label> <version> <vmlinuz> <arch>` lines (arch: Debian's name).
#
#   tests/vm/fetch-kernels.sh [--refresh] [--no-install] [LABEL...]
#
# Labels: 5.10 (bullseye), 6.1 (bookworm), 6.12 (trixie), newest (sid), all
# amd64; the same with an `arm64-` prefix (arm64-5.10 ...) are arm64.
# A label already in the cache costs no network at all; --refresh (or
# NM_VM_REFRESH=1) asks the mirror again which image is newest and fetches
# it if it changed. Versions are never written down here: the newest
# cloud-<arch> image of each suite is picked from the package lists.
#
# Env: NM_VM_CACHE (default /var/cache/netmonctl-vm).
# Exit: 0 all requested labels available, 1 at least one missing (each
# missing label is named on stderr with the reason), 2 usage.
set -euo pipefail

CACHE=${NM_VM_CACHE:-/var/cache/netmonctl-vm}
KEYRING_DEFAULT=/usr/share/keyrings/debian-archive-keyring.gpg
# shellcheck source=tests/vm/labels.sh
. "$(dirname "$0")/labels.sh"

# The host tools the VM tests need. Installed only when missing, so a
# prepared machine never touches apt here.
ensure_host_tools() {
	local missing=() want
	command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
	command -v qemu-system-aarch64 >/dev/null || missing+=(qemu-system-arm)
	[ -x /bin/busybox ] && file_is_static /bin/busybox || missing+=(busybox-static)
	[ -x /bin/bash-static ] || missing+=(bash-static)
	command -v cpio >/dev/null || missing+=(cpio)
	for want in bats bats-support bats-assert bats-file; do
		dpkg-query -W -f='${Status}' "$want" 2>/dev/null | grep -q 'ok installed' ||
			missing+=("$want")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "installing host tools: ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" ||
		{ apt-get update && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y --no-install-recommends "${missing[@]}"; }
}

# busybox (dynamic) and busybox-static both own /bin/busybox; only the
# static one runs inside an initramfs without a libc.
file_is_static() {
	! LC_ALL=C readelf -l "$1" 2>/dev/null | grep -q 'Requesting program interpreter'
}

# Print the Debian mirror base URL the system's own apt uses: the first
# `deb` source that is neither security nor updates. Both the one-line
# format and deb822 .sources files are read, so nothing is hard-coded.
system_mirror() {
	local f
	{
		[ -f /etc/apt/sources.list ] && cat /etc/apt/sources.list
		for f in /etc/apt/sources.list.d/*.list; do [ -f "$f" ] && cat "$f"; done
	} 2>/dev/null | sed 's/\[[^]]*\]//' |
		awk '$1 == "deb" && $3 !~ /-(security|updates|backports)$|\/updates$/ &&
		     $2 ~ /\/debian\/?$/ { print $2; exit }'
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		# deb822: stanzas separated by blank lines; field names are
		# case-insensitive; comments start with '#'.
		awk 'function flush() {
			if (types ~ /(^| )deb( |$)/ && suites ~ /(^| )[a-z]+( |$)/ &&
			    uris ~ /\/debian\/?( |$)/ && !done) {
				split(uris, u, " "); for (i in u) if (u[i] ~ /\/debian\/?$/) {
					print u[i]; done = 1; break }
			}
			types = suites = uris = ""
		}
		/^[ \t]*#/ { next }
		/^[ \t]*$/ { flush(); next }
		{ key = tolower($1); sub(/:$/, "", key); $1 = "" ; v = $0; sub(/^ +/, "", v) }
		key == "types" { types = v } key == "suites" { suites = v } key == "uris" { uris = v }
		END { flush() }' "$f"
	done
}

# A private apt configuration per suite and arch (REPO = suite or
# suite-arch, see repo_of): its own sources list, lists and cache under
# $CACHE/apt, so the system's apt state is never read or changed. Each has
# its own sources list and lists directory, so they stay apart when asking
# for the newest image (an update of one would otherwise delete the lists
# of the others).
APT_DIR=$CACHE/apt
# amd64 keeps the suite's bare name, so caches made before arm64 stay valid.
repo_of() {
	local suite arch
	suite=$(suite_of "$1") arch=$(arch_of "$1")
	if [ "$arch" = amd64 ]; then echo "$suite"; else echo "$suite-$arch"; fi
}
arch_of_repo() {
	case $1 in *-*) echo "${1#*-}" ;; *) echo amd64 ;; esac
}
suite_of_repo() { echo "${1%%-*}"; }
apt_opts() {
	local arch
	arch=$(arch_of_repo "$1")
	printf '%s\n' -o "Dir::Etc::sourcelist=$APT_DIR/sources-$1.list" \
		-o "Dir::Etc::sourceparts=$APT_DIR/empty.d" \
		-o "Dir::Etc::preferencesparts=$APT_DIR/empty.d" \
		-o "Dir::State::Lists=$APT_DIR/lists-$1" -o "Dir::Cache=$APT_DIR/cache" \
		-o APT::Sandbox::User=root \
		-o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= \
		-o Dir::State::status=/dev/null \
		-o "APT::Architecture=$arch" -o "APT::Architectures=$arch" \
		-o Acquire::Languages=none -o Acquire::Retries=3
}
apt_private() {
	local repo=$1 opts
	shift
	mapfile -t opts < <(apt_opts "$repo")
	apt-get -q "${opts[@]}" "$@"
}
apt_cache_private() {
	local repo=$1 opts
	shift
	mapfile -t opts < <(apt_opts "$repo")
	apt-cache "${opts[@]}" "$@"
}

# Write a private sources list per repo (suite-arch) and refresh it. One
# that fails (sid mid-transition, a mirror hiccup) is reported and left
# out, and the others stay usable.
APT_READY=""
apt_update_repos() {
	local mirror keyring repo
	mirror=$(system_mirror | head -n1)
	[ -n "$mirror" ] || die "no Debian mirror found in /etc/apt/sources.list{,.d}"
	keyring=$KEYRING_DEFAULT
	[ -f "$keyring" ] || die "$keyring missing (install debian-archive-keyring)"
	mkdir -p "$APT_DIR/empty.d" "$APT_DIR/cache/archives/partial"
	APT_READY=" "
	for repo in "$@"; do
		mkdir -p "$APT_DIR/lists-$repo/partial"
		echo "deb [signed-by=$keyring] $mirror $(suite_of_repo "$repo") main" \
			>"$APT_DIR/sources-$repo.list"
		# apt-get update exits 0 on some fetch failures: its W:/E: lines
		# are the real verdict.
		if apt_private "$repo" update >"$APT_DIR/update-$repo.log" 2>&1 &&
			! grep -qE '^(W|E): ' "$APT_DIR/update-$repo.log"; then
			APT_READY+="$repo "
		else
			log "$repo: apt-get update failed:"
			grep -E '^(W|E): ' "$APT_DIR/update-$repo.log" | head -n 5 | sed 's/^/    /' >&2
		fi
	done
}

# Newest cloud image package of REPO (suite-arch): prints `<pkg> <version>`.
# sid ships the image in linux-binary-*, with linux-image-* only a meta
# package; older suites have it in the signed linux-image-*.
newest_image_pkg() {
	local repo=$1 flavour abi pkg ver
	flavour=cloud-$(arch_of_repo "$repo")
	abi=$(apt_cache_private "$repo" pkgnames linux- 2>/dev/null |
		grep -E "^linux-(image|binary)-[0-9][^ ]*-$flavour\$" |
		sed -E "s/^linux-(image|binary)-//; s/-$flavour\$//" | sort -Vu | tail -n1)
	[ -n "$abi" ] || return 1
	for pkg in "linux-binary-$abi-$flavour" "linux-image-$abi-$flavour"; do
		ver=$(apt_cache_private "$repo" show "$pkg" 2>/dev/null |
			awk '/^Version:/ { print $2; exit }')
		if [ -n "$ver" ]; then
			printf '%s %s\n' "$pkg" "$ver"
			return 0
		fi
	done
	return 1
}

# Download PKG (of repo $4) and keep only its vmlinuz (and config, for the record).
fetch_image() {
	local label=$1 pkg=$2 ver=$3 dst=$CACHE/kernels/$1 tmp img release
	tmp=$(mktemp -d "$CACHE/tmp.XXXXXX")
	(cd "$tmp" && apt_private "$4" download "$pkg" >/dev/null) || { rm -rf "$tmp"; return 1; }
	dpkg-deb -x "$tmp"/*.deb "$tmp/x"
	# bullseye..trixie: /boot/vmlinuz-<rel>; sid: /usr/lib/modules/<rel>/vmlinuz
	img=$(find "$tmp/x" \( -path '*/boot/vmlinuz-*' -o -path '*/lib/modules/*/vmlinuz' \) \
		-type f | head -n1)
	[ -n "$img" ] || { log "$pkg has no vmlinuz"; rm -rf "$tmp"; return 1; }
	rm -rf "$dst.new"
	mkdir -p "$dst.new"
	cp "$img" "$dst.new/vmlinuz"
	find "$tmp/x" \( -path '*/boot/config-*' -o -path '*/lib/modules/*/config' \) -type f -exec cp {} "$dst.new/config" \; -quit
	release=$(basename "$(dirname "$img")")
	case $img in */boot/vmlinuz-*) release=${img##*/vmlinuz-} ;; esac
	printf 'package=%s\nversion=%s\nrelease=%s\n' "$pkg" "$ver" "$release" >"$dst.new/info"
	rm -rf "$dst" && mv "$dst.new" "$dst"
	rm -rf "$tmp"
}

info_get() { sed -n "s/^$2=//p" "$CACHE/kernels/$1/info" 2>/dev/null; }

cached() { [ -s "$CACHE/kernels/$1/vmlinuz" ] && [ -s "$CACHE/kernels/$1/info" ]; }

# Resolve and fetch one label; the cache wins unless refreshing.
resolve_label() {
	local label=$1 repo refresh=$2 pv pkg ver
	repo=$(repo_of "$label")
	if cached "$label" && [ "$refresh" = 0 ]; then
		return 0
	fi
	if [ -z "$APT_READY" ]; then
		apt_update_repos "${NEED_REPOS[@]}"
	fi
	case $APT_READY in *" $repo "*) ;; *)
		log "$label: $repo unavailable from the mirror right now"
		cached "$label" && { log "$label: keeping cached $(info_get "$label" version)"; return 0; }
		return 1 ;;
	esac
	if ! pv=$(newest_image_pkg "$repo"); then
		log "$label: no cloud-$(arch_of "$label") kernel image found in $repo"
		cached "$label" && return 0
		return 1
	fi
	read -r pkg ver <<<"$pv"
	if cached "$label" && [ "$(info_get "$label" package)" = "$pkg" ] &&
		[ "$(info_get "$label" version)" = "$ver" ]; then
		return 0
	fi
	log "$label: fetching $pkg $ver from $repo"
	fetch_image "$label" "$pkg" "$ver" "$repo" || {
		log "$label: download of $pkg failed"
		cached "$label" && return 0
		return 1
	}
}

main() {
	local refresh=${NM_VM_REFRESH:-0} install=1 labels=() label rc=0
	while [ $# -gt 0 ]; do
		case $1 in
		--refresh) refresh=1 ;;
		--no-install) install=0 ;;
		-h | --help) sed -n '3,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
		-*) log "unknown option $1"; exit 2 ;;
		*) suite_of "$1" >/dev/null || { log "unknown label $1"; exit 2; }
		   labels+=("$1") ;;
		esac
		shift
	done
	[ ${#labels[@]} -gt 0 ] || labels=("${ALL_LABELS[@]}")
	[ "$(id -u)" = 0 ] || die "run as root (apt and the cache in $CACHE need it)"
	[ "$install" = 1 ] && ensure_host_tools
	mkdir -p "$CACHE/kernels"
	NEED_REPOS=()
	for label in "${labels[@]}"; do
		if ! cached "$label" || [ "$refresh" = 1 ]; then
			NEED_REPOS+=("$(repo_of "$label")")
		fi
	done
	for label in "${labels[@]}"; do
		if resolve_label "$label" "$refresh"; then
			printf '%s %s %s %s\n' "$label" "$(info_get "$label" version)" \
				"$CACHE/kernels/$label/vmlinuz" "$(arch_of "$label")"
		else
			log "$label: NOT AVAILABLE"
			rc=1
		fi
	done
	return $rc
}

# Sourced (tests/vm/boot-test.sh takes system_mirror from here): only
# the functions, nothing runs.
[ "${BASH_SOURCE[0]}" != "$0" ] || main "$@"
