#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# mkinitramfs.sh: build the test initramfs the kernel-matrix VMs boot.
#
#   tests/vm/mkinitramfs.sh OUTPUT.cpio.gz --init SCRIPT [--arch ARCH]
#                           [--file SRC:DEST]... [--bin PATH]...
#
# Contents: busybox-static (applet links made at boot), bash-static as
# /bin/bash (bats needs a real bash), bats-core and the bats-support,
# bats-assert and bats-file libraries at the paths Debian installs them,
# every --file (a file or a directory, copied to DEST inside the image),
# every --bin (a host program, dynamic ones with the libraries ldd names,
# at the same paths: e.g. jq, which the bats helpers use),
# and SCRIPT as /payload. /init is a wrapper written here: it mounts what
# the tests need, runs /payload, prints `NM-VM-EXIT <rc>` and powers off.
# Kernel parameters of the form nm.KEY=VALUE reach the payload as
# environment variables NM_KEY=VALUE (e.g. nm.verbose=1 -> NM_VERBOSE=1).
# --arch (Debian's name; default the host's): for another arch, busybox,
# bash and every --bin come from that arch's Debian packages (apt-get
# download PKG:ARCH, so dpkg must know the arch: scripts/deps.sh cross),
# cached in $NM_VM_CACHE/debs-ARCH (default /var/cache/netmonctl-vm);
# bats is arch-independent shell and comes from the host as always.
set -euo pipefail

log() { printf 'mkinitramfs: %s\n' "$*" >&2; }
die() { log "$*"; exit 2; }

usage() { sed -n '4,23p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

# A static binary runs in an image that has no libc: refuse anything else
# here, where the message is clear, instead of an `not found` in the VM.
need_static() {
	if LC_ALL=C readelf -l "$1" 2>/dev/null | grep -q 'Requesting program interpreter'; then
		die "$1 is dynamically linked; the initramfs has no libc (install ${2:-a static build})"
	fi
}

# Copy a host path into the image root, keeping modes.
put() {
	local src=$1 dest=$2
	mkdir -p "$ROOT/$(dirname "$dest")"
	if [ -d "$src" ]; then
		mkdir -p "$ROOT/$dest"
		cp -a "$src/." "$ROOT/$dest/"
	else
		cp -L "$src" "$ROOT/$dest"
		chmod --reference="$src" "$ROOT/$dest" 2>/dev/null || true
	fi
}

# Files of the installed Debian package(s), minus docs: bats is found where
# the package put it, so a newer Debian layout still works.
put_package_files() {
	local pkg f
	for pkg in "$@"; do
		dpkg -L "$pkg" >/dev/null 2>&1 || die "package $pkg is not installed"
		dpkg -L "$pkg" | while read -r f; do
			case $f in /usr/share/doc/* | /usr/share/man/* | /usr/share/lintian/*) continue ;; esac
			[ -f "$f" ] || continue
			put "$f" "$f"
		done
	done
}

# A host program plus, when dynamic, its loader and libraries.
put_bin() {
	local bin lib
	bin=$(command -v "$1") || die "no such program: $1"
	put "$bin" "$bin"
	LC_ALL=C ldd "$bin" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' |
		while read -r lib; do
			[ -e "$ROOT$lib" ] || put "$lib" "$lib"
		done
}

# ---- another arch: programs from its Debian packages ----

# unpack_debs PKG...: download PKG:$ARCH (cached) and unpack it into $STAGE.
unpack_debs() {
	local pkg deb cache=${NM_VM_CACHE:-/var/cache/netmonctl-vm}/debs-$ARCH
	mkdir -p "$cache"
	for pkg in "$@"; do
		deb=$(find "$cache" -maxdepth 1 -name "${pkg}_*_$ARCH.deb" | head -n1)
		if [ -z "$deb" ]; then
			(cd "$cache" && apt-get download -q -o APT::Sandbox::User=root "$pkg:$ARCH" >/dev/null) ||
				die "apt-get download $pkg:$ARCH failed (dpkg --add-architecture $ARCH; apt-get update)"
			deb=$(find "$cache" -maxdepth 1 -name "${pkg}_*_$ARCH.deb" | head -n1)
		fi
		[ -n "$deb" ] || die "no $pkg .deb for $ARCH in $cache"
		dpkg-deb -x "$deb" "$STAGE"
	done
}

# A package and what it depends on, for $ARCH (libraries of a --bin).
dep_closure() {
	apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
		--no-breaks --no-replaces --no-enhances "$1:$ARCH" |
		sed -n "s/^\([a-z0-9][^ :<]*\):$ARCH\$/\1/p" | sort -u
}

# The staged file a dynamic $ARCH binary asks for by soname.
staged_lib() {
	local d
	for d in "$STAGE"/lib/*-linux-gnu* "$STAGE"/usr/lib/*-linux-gnu* "$STAGE/lib" "$STAGE/usr/lib"; do
		[ -e "$d/$1" ] && { echo "${d#"$STAGE"}/$1"; return 0; }
	done
	return 1
}

# put_staged PATH: a staged $ARCH file into the image, with its program
# interpreter and the libraries it needs (readelf: ldd cannot run it).
put_staged() {
	local path=$1 lib dep
	[ -e "$ROOT$path" ] && return 0
	put "$STAGE$path" "$path"
	dep=$(LC_ALL=C readelf -l "$STAGE$path" 2>/dev/null |
		sed -n 's/.*Requesting program interpreter: \(.*\)]$/\1/p')
	[ -n "$dep" ] && put "$STAGE$dep" "$dep"
	for lib in $(LC_ALL=C readelf -d "$STAGE$path" 2>/dev/null |
		sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'); do
		dep=$(staged_lib "$lib") || die "$path needs $lib: not in its packages for $ARCH"
		put_staged "$dep"
	done
}

# The host's program NAME, as the $ARCH package that owns it has it.
put_bin_cross() {
	local path pkg
	path=$(command -v "$1") || die "no such program: $1"
	path=$(readlink -f "$path")
	pkg=$(dpkg -S "$path" 2>/dev/null | head -n1 | cut -d: -f1)
	[ -n "$pkg" ] || die "$1: no Debian package owns $path"
	# shellcheck disable=SC2046 # package names are words
	unpack_debs $(dep_closure "$pkg")
	[ -e "$STAGE$path" ] || die "$pkg:$ARCH has no $path"
	put_staged "$path"
}

# busybox and bash: the host's own, or its arch's static packages.
put_shells() {
	local src=""
	if [ "$ARCH" != "$HOST_ARCH" ]; then
		unpack_debs busybox-static bash-static
		src=$STAGE
	fi
	need_static "$src/bin/busybox" busybox-static
	put "$src/bin/busybox" /bin/busybox
	need_static "$src/bin/bash-static" bash-static
	put "$src/bin/bash-static" /bin/bash
}

base_system() {
	mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,run,root,etc,mnt}
	chmod 1777 "$ROOT/tmp"
	put_shells
	ln -s bash "$ROOT/bin/sh.bash"
	# The kernel opens /dev/console for PID 1 before devtmpfs is mounted.
	mknod -m 600 "$ROOT/dev/console" c 5 1
	mknod -m 666 "$ROOT/dev/null" c 1 3
	printf 'root:x:0:0:root:/root:/bin/bash\n' >"$ROOT/etc/passwd"
	printf 'root:x:0:\n' >"$ROOT/etc/group"
	printf '127.0.0.1 localhost\n::1 localhost\n' >"$ROOT/etc/hosts"
	put_package_files bats bats-support bats-assert bats-file
}

# /init: PID 1. Written with busybox sh only, since the applet links do
# not exist until it makes them.
write_init() {
	cat >"$ROOT/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TMPDIR=/tmp TERM=dumb LANG=C
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
# bash process substitution (bats uses it) needs /dev/fd.
ln -sf /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr
mkdir -p /dev/pts /dev/shm
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mount -t bpf bpf /sys/fs/bpf
mount -t securityfs securityfs /sys/kernel/security
mount -t cgroup2 cgroup2 /sys/fs/cgroup
# tracefs is only there when the kernel has tracing; its absence is fine.
if grep -qw tracefs /proc/filesystems; then
	mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null ||
		mount -t tracefs tracefs /sys/kernel/debug/tracing 2>/dev/null
fi
ip link set lo up
hostname nm-vm
# nm.KEY=VALUE on the kernel command line -> NM_KEY=VALUE for the payload.
for arg in $(cat /proc/cmdline); do
	case $arg in nm.*=*)
		key=${arg%%=*}; key=NM_$(echo "${key#nm.}" | tr 'a-z.-' 'A-Z__')
		export "$key=${arg#*=}" ;;
	esac
done
echo "NM-VM-START $(uname -r)"
cd /
/payload
rc=$?
# The marker is what boot.sh parses: its own line, nothing after it.
echo "NM-VM-EXIT $rc"
sync
poweroff -f
EOF
	chmod 755 "$ROOT/init"
}

main() {
	local out="" init="" files=() bins=() spec b
	HOST_ARCH=$(dpkg --print-architecture)
	ARCH=$HOST_ARCH
	[ $# -ge 1 ] || usage
	out=$1
	shift
	while [ $# -gt 0 ]; do
		case $1 in
		--init) [ $# -ge 2 ] || usage; init=$2; shift ;;
		--file) [ $# -ge 2 ] || usage; files+=("$2"); shift ;;
		--bin) [ $# -ge 2 ] || usage; bins+=("$2"); shift ;;
		--arch) [ $# -ge 2 ] || usage; ARCH=$2; shift ;;
		-h | --help) usage ;;
		*) die "unexpected argument: $1" ;;
		esac
		shift
	done
	[ -n "$init" ] || die "--init SCRIPT is required"
	[ -f "$init" ] || die "no such payload: $init"
	ROOT=$(mktemp -d "${TMPDIR:-/tmp}/nm-initramfs.XXXXXX")
	STAGE=$(mktemp -d "${TMPDIR:-/tmp}/nm-initramfs-$ARCH.XXXXXX")
	trap 'rm -rf "$ROOT" "$STAGE"' EXIT
	# mktemp makes it 0700, and the image's / keeps that mode: no user but
	# root could reach /bin/bash or run anything as itself.
	chmod 755 "$ROOT"
	base_system
	write_init
	put "$init" /payload
	chmod 755 "$ROOT/payload"
	for spec in ${files[@]+"${files[@]}"}; do
		case $spec in *:/*) ;; *) die "--file wants SRC:/DEST, got $spec" ;; esac
		[ -e "${spec%:*}" ] || die "no such file: ${spec%:*}"
		put "${spec%:*}" "${spec##*:}"
	done
	for b in ${bins[@]+"${bins[@]}"}; do
		if [ "$ARCH" = "$HOST_ARCH" ]; then put_bin "$b"; else put_bin_cross "$b"; fi
	done
	mkdir -p "$(dirname "$out")"
	# newc is the only cpio format the kernel unpacks; gzip -1 because the
	# image is rebuilt on every run and the kernel unpacks it once.
	(cd "$ROOT" && find . -print0 | LC_ALL=C sort -z |
		cpio --null -o -H newc --quiet -R 0:0) | gzip -1 >"$out.tmp"
	mv "$out.tmp" "$out"
}

main "$@"
