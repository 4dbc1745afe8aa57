#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# netmonctl benchmarks (docs/benchmarks.md). One command, as root:
#
#   tests/bench/run.sh [--quick] [--rev REV] [--rounds N] [--seed N]
#                      [--nft-timeout SEC] [--out FILE] [--keep-work]
#
# Prints a table and writes the same figures as JSON (default build/bench.json).
# Full run: ~10-20 minutes; --quick: 0/1k/100k rules only, ~2 minutes.
# netmonctl and nmprobe are built first into a private directory, from the
# work tree or, with --rev, from that git revision (git archive), so a
# rebuild of build/ during the run cannot change what is measured; set
# NETMONCTL and NMPROBE to measure given binaries instead.
#
# Groups: 1 hook cost per call (kernel accounting, bpf_stats), 2 syscall
# overhead seen by a user, 3 bulk load, 4 command latency, 5 events
# (tests/bench/events-bench.sh when present), 6 kernel memory.
#
# What it touches, all created here and removed on exit (trap), even on failure:
#   scratch cgroups   <cgroup2 mount>/nmbench-<pid>/*   (never the cgroup2 root)
#   network ns        nmbench-<pid>-a (netmonctl, references, no program),
#                     nmbench-<pid>-b (nftables), nmbench-<pid>-n<R>-<N> (bulk nft)
#   nft tables        inet nmbench_<pid>, only inside those namespaces
#   bpffs             /sys/fs/bpf/nmbench-<pid>/ (netmonctl pin dirs, references)
#   files             a mktemp dir under ${TMPDIR:-/tmp} (rule sets: ~700 MB full)
#   sysctl            kernel.bpf_stats_enabled=1 during group 1, old value restored
# Traffic: only to 127.0.0.1/::1 and to two addresses put on lo inside
# nmbench-<pid>-a/-b (10.123.45.67, 2001:db8:1234:5678::9), closed port 9.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
BUILD=${NM_BUILD_DIR:-$SRC/build}
NETMONCTL=${NETMONCTL:-}
NMPROBE=${NMPROBE:-}
OUT=$BUILD/bench.json
REV=
QUICK=0
ROUNDS=
SEED=5
NFT_TIMEOUT=
KEEP_WORK=0

usage() {
	sed -n '3,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
	exit "${1:-0}"
}

while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1 ;;
	--rev) REV=$2; shift ;;
	--rounds) ROUNDS=$2; shift ;;
	--seed) SEED=$2; shift ;;
	--nft-timeout) NFT_TIMEOUT=$2; shift ;;
	--out) OUT=$2; shift ;;
	--keep-work) KEEP_WORK=1 ;;
	-h | --help) usage 0 ;;
	*) echo "run.sh: unknown argument '$1'" >&2; usage 2 ;;
	esac
	shift
done

if [ "$QUICK" = 1 ]; then
	SIZES="1000 100000"         # rule sets of group 1 (plus 0)
	BULK_SIZES="100000"         # group 3
	BULK_ROUNDS=1
	H_ROUNDS=${ROUNDS:-3}       # group 1
	S_ROUNDS=${ROUNDS:-5}       # group 2
	LAT_RUNS=10                 # group 4
	NFT_TIMEOUT=${NFT_TIMEOUT:-60}
else
	SIZES="1000 100000 1000000"
	BULK_SIZES="100000 1000000"
	BULK_ROUNDS=${ROUNDS:-3}
	H_ROUNDS=${ROUNDS:-7}
	S_ROUNDS=${ROUNDS:-21}
	LAT_RUNS=30
	NFT_TIMEOUT=${NFT_TIMEOUT:-120}
fi
MAX_SIZE=${SIZES##* }
GROUP2_SIZE=100000

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---- preconditions ----
[ "$(id -u)" = 0 ] || die "run as root (BPF, cgroups, namespaces)"
for tool in bpftool clang python3 ip nsenter timeout gcc; do
	command -v $tool >/dev/null || die "$tool not found"
done
if ! command -v nft >/dev/null; then
	log "nft not found: apt-get install -y nftables"
	apt-get install -y nftables >/dev/null || die "cannot install nftables"
fi
CG2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
[ -n "$CG2" ] || die "no cgroup2 mount in /proc/mounts"
mountpoint -q /sys/fs/bpf || die "/sys/fs/bpf is not a bpffs mount"

TAG=nmbench-$$
NFT_TABLE=nmbench_$$
CGROOT=$CG2/$TAG
PINROOT=/sys/fs/bpf/$TAG
NS_A=$TAG-a
NS_B=$TAG-b
WORK=$(mktemp -d "${TMPDIR:-/tmp}/$TAG.XXXXXX")
SAMPLES=$WORK/samples.jsonl
STATS_OLD=$(sysctl -n kernel.bpf_stats_enabled)
IN4=10.123.45.67
IN6=2001:db8:1234:5678::9

NM_DIRS=()      # netmonctl pin dirs (unloaded on exit)
NETNSES=()      # namespaces we created
CGROUPS=()      # cgroups we created, in creation order
REF_ATTACHED=() # "cgroup|attach-type|pinned-prog" attached with bpftool
PIDS=()         # background processes we started

cleanup() {
	local rc=$? i d e cg
	trap - EXIT INT TERM
	set +e
	for e in "${PIDS[@]}"; do kill "$e" 2>/dev/null; wait "$e" 2>/dev/null; done
	sysctl -q -w kernel.bpf_stats_enabled="$STATS_OLD" >/dev/null
	for d in "${NM_DIRS[@]}"; do
		[ -e "$d" ] && "$NETMONCTL" --pin-dir "$d" unload >/dev/null
	done
	for e in "${REF_ATTACHED[@]}"; do
		IFS='|' read -r cg type prog <<<"$e"
		[ -d "$cg" ] && bpftool cgroup detach "$cg" "$type" pinned "$prog" 2>/dev/null
	done
	case $PINROOT in /sys/fs/bpf/nmbench-*) rm -rf "$PINROOT" ;; esac
	for ((i = ${#CGROUPS[@]} - 1; i >= 0; i--)); do
		cg=${CGROUPS[i]}
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			[ -d "$cg" ] || break
			rmdir "$cg" 2>/dev/null && break
			sleep 0.2
		done
		[ -d "$cg" ] && log "could not remove cgroup $cg"
	done
	for e in "${NETNSES[@]}"; do ip netns del "$e" 2>/dev/null; done
	if [ "$KEEP_WORK" = 1 ]; then
		log "work files kept in $WORK"
	else
		rm -rf "$WORK"
	fi
	[ $rc -ne 0 ] && log "benchmark failed (exit $rc); everything it created is removed"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- helpers ----
nm() { "$NETMONCTL" --pin-dir "$@"; }

cg_new() { # cg_new NAME: make $CGROOT/NAME, path in $cg (no subshell: CGROUPS must see it)
	cg=$CGROOT/$1
	mkdir "$cg"
	CGROUPS+=("$cg")
}

netns_new() { # netns_new NAME: lo up, the in-set targets local
	ip netns add "$1"
	NETNSES+=("$1")
	ip -n "$1" link set lo up
	ip -n "$1" addr add "$IN4/32" dev lo
	ip -n "$1" addr add "$IN6/128" dev lo nodad
}

# sample GROUP NAME VARIANT ROUND VALUE [UNIT]: one measurement, JSON line.
sample() {
	printf '{"group":"%s","name":"%s","variant":"%s","round":%s,"value":%s,"unit":"%s"}\n' \
		"$1" "$2" "$3" "$4" "$5" "${6:-ns}" >>"$SAMPLES"
}

sunreclaim_kb() { awk '/^SUnreclaim:/ { print $2 }' /proc/meminfo; }

# ---- the binaries measured: a private build, fixed for the whole run ----
SRC_DESC=$(git -C "$SRC" describe --always --dirty 2>/dev/null || echo unknown)
if [ -z "$NETMONCTL" ] || [ -z "$NMPROBE" ]; then
	tree=$SRC
	if [ -n "$REV" ]; then
		tree=$WORK/src
		mkdir "$tree"
		git -C "$SRC" archive "$REV" | tar -x -C "$tree" || die "git archive $REV failed"
		SRC_DESC=$(git -C "$SRC" rev-parse --short "$REV")
	fi
	log "building netmonctl and nmprobe from ${REV:-the work tree} ($SRC_DESC)"
	{ cmake -S "$tree" -B "$WORK/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
		cmake --build "$WORK/build" -j2; } >"$WORK/build.log" 2>&1 ||
		die "build failed: $(tail -5 "$WORK/build.log")"
	NETMONCTL=$WORK/build/netmonctl
	NMPROBE=$WORK/build/nmprobe
	[ -n "$REV" ] || SRC_DESC="$SRC_DESC (work tree at $(date -u +%H:%M:%SZ))"
fi
[ -x "$NETMONCTL" ] && [ -x "$NMPROBE" ] || die "no netmonctl/nmprobe"

NBTIME=$WORK/nbtime
gcc -O2 -Wall -o "$NBTIME" "$HERE/nbtime.c"
: >"$SAMPLES"

# ---- machine description ----
python3 - "$WORK/machine.json" "$QUICK" "$SEED" "$SRC_DESC" <<'EOF'
import json, os, platform, subprocess, sys
def out(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:
        return ""
cpu = ""
for line in open("/proc/cpuinfo"):
    if line.startswith("model name"):
        cpu = line.split(":", 1)[1].strip()
        break
mem = int(open("/proc/meminfo").readline().split()[1]) // 1024
virt = ""
for l in out("dmesg").split("\n"):
    if "Hypervisor detected" in l:
        virt = l.split("Hypervisor detected:", 1)[1].strip()
json.dump({
    "kernel": platform.release(), "cpu": cpu, "hypervisor": virt, "cpus": os.cpu_count(), "mem_mib": mem,
    "bpftool": out("bpftool", "version").split("\n")[0],
    "clang": out("clang", "--version").split("\n")[0],
    "nft": out("nft", "--version"), "loadavg_start": open("/proc/loadavg").read().split()[:3],
    "mode": "quick" if sys.argv[2] == "1" else "full", "seed": int(sys.argv[3]),
    "date": out("date", "-u", "+%Y-%m-%dT%H:%M:%SZ"),
    "netmonctl_source": sys.argv[4],
}, open(sys.argv[1], "w"))
EOF

mkdir -p "$CGROOT" && CGROUPS+=("$CGROOT")
mkdir -p "$PINROOT"
netns_new "$NS_A"
netns_new "$NS_B"

# ---- rule sets ----
log "generating rule sets (seed $SEED): 0 $SIZES"
LPM_LOADING=$PINROOT/lpm-loading
HASH_PIN=$PINROOT/ref/maps/ref_hash
python3 "$HERE/genrules.py" --seed "$SEED" --sizes "${SIZES// /,}" --outdir "$WORK" \
	--map-path "$LPM_LOADING" --nft-table "$NFT_TABLE" --hash-map-path "$HASH_PIN" >"$WORK/gen.log"
sed 's/^/    /' "$WORK/gen.log" >&2
: >"$WORK/empty.txt"

# ---- group 3: bulk load (also builds the instances the other groups use) ----
declare -A NM_OF   # size -> netmonctl pin dir
LPM_REF=           # the bpftool-filled trie the lpm reference program reads
log "group 3: bulk load of $BULK_SIZES rules, $BULK_ROUNDS round(s)"

bulk_nm() { # bulk_nm ROUND SIZE
	local d=$PINROOT/nm-bulk-$1-$2 t k0 k1
	NM_DIRS+=("$d")
	nm "$d" load >/dev/null
	k0=$(sunreclaim_kb)
	t=$("$NBTIME" "$NETMONCTL" --pin-dir "$d" deny add file "$WORK/rules-$2.txt")
	k1=$(sunreclaim_kb)
	sample bulk netmonctl "$2" "$1" "${t% *}"
	sample bulk netmonctl_cpu "$2" "$1" "${t#* }"
	sample memory slab_delta_netmonctl "$2" "$1" $(((k1 - k0) * 1024)) bytes
	if [ "$1" = 1 ] && [[ " $SIZES " == *" $2 "* ]]; then
		NM_OF[$2]=$d # kept for groups 1, 2, 4, 6
	else
		nm "$d" unload >/dev/null
	fi
}

bulk_bpftool() { # bulk_bpftool ROUND SIZE
	local t k0 k1 keep=$PINROOT/lpm-$1-$2
	bpftool map create "$LPM_LOADING" type lpm_trie key 24 value 52 entries 2097152 \
		name nmb_lpm flags 1
	k0=$(sunreclaim_kb)
	t=$("$NBTIME" bpftool batch file "$WORK/batch-$2.txt")
	k1=$(sunreclaim_kb)
	sample bulk bpftool "$2" "$1" "${t% *}"
	sample bulk bpftool_cpu "$2" "$1" "${t#* }"
	sample memory slab_delta_bpftool "$2" "$1" $(((k1 - k0) * 1024)) bytes
	mv "$LPM_LOADING" "$keep"
	if [ "$1" = 1 ] && [ "$2" = "$MAX_SIZE" ]; then
		LPM_REF=$keep
	else
		rm -f "$keep"
	fi
}

bulk_nft() { # bulk_nft ROUND SIZE
	local ns t k0 k1 rc=0
	if [ "$1" != 1 ] && [ "$2" -gt 100000 ]; then
		return 0 # a million-element nft load takes minutes: round 1 only
	fi
	if [ "$1" = 1 ] && [ "$2" = "$GROUP2_SIZE" ]; then
		ns=$NS_B # kept: group 2's nftables variant
	else
		ns=$TAG-n$1-$2
		ip netns add "$ns"
		NETNSES+=("$ns")
	fi
	k0=$(sunreclaim_kb)
	t=$("$NBTIME" timeout "$NFT_TIMEOUT" nsenter --net="/run/netns/$ns" nft -f "$WORK/nft-$2.nft" 2>"$WORK/nft.err") || rc=$?
	k1=$(sunreclaim_kb)
	if [ $rc -eq 0 ]; then
		sample bulk nft "$2" "$1" "${t% *}"
		sample bulk nft_cpu "$2" "$1" "${t#* }"
		sample memory slab_delta_nft "$2" "$1" $(((k1 - k0) * 1024)) bytes
	elif grep -q 'exit status 124' "$WORK/nft.err"; then
		log "nft -f of $2 rules: not done after ${NFT_TIMEOUT}s, stopped"
		sample bulk nft_timeout "$2" "$1" "$((NFT_TIMEOUT * 1000000000))"
	else
		die "nft -f failed: $(head -3 "$WORK/nft.err")"
	fi
	if [ "$ns" != "$NS_B" ]; then
		ip netns del "$ns"
	fi
}

for ((r = 1; r <= BULK_ROUNDS; r++)); do
	for size in $BULK_SIZES; do
		case $(((r + ${#size}) % 3)) in # rotate the order between rounds
		0) order="nm bpftool nft" ;;
		1) order="bpftool nft nm" ;;
		*) order="nft nm bpftool" ;;
		esac
		for m in $order; do
			log "  round $r: $m, $size rules"
			"bulk_$m" "$r" "$size"
		done
	done
done
# Group 2 needs the nft table even when group 3 did not load that size.
if ! nsenter --net="/run/netns/$NS_B" nft list table inet "$NFT_TABLE" >/dev/null 2>&1; then
	nsenter --net="/run/netns/$NS_B" nft -f "$WORK/nft-$GROUP2_SIZE.nft"
fi

# bpf() syscalls per rule of a bulk add (strace counts them)
if command -v strace >/dev/null; then
	d=$PINROOT/nm-strace
	NM_DIRS+=("$d")
	nm "$d" load >/dev/null
	strace -f -c -e trace=bpf -o "$WORK/strace-add.txt" \
		"$NETMONCTL" --pin-dir "$d" deny add file "$WORK/rules-100000.txt" >/dev/null
	calls=$(awk '$NF == "bpf" { print $4 }' "$WORK/strace-add.txt")
	sample bulk bpf_syscalls_per_rule 100000 1 "$(python3 -c "print(${calls:-0} / 100000)")" count
	strace -f -c -e trace=bpf -o "$WORK/strace-status.txt" \
		"$NETMONCTL" --pin-dir "$d" -j status >/dev/null
	calls=$(awk '$NF == "bpf" { print $4 }' "$WORK/strace-status.txt")
	sample latency bpf_syscalls_status 100000 1 "${calls:-0}" count
	nm "$d" unload >/dev/null
fi

# ---- instances for groups 1, 2, 4 ----
log "loading netmonctl instances: 0 $SIZES, and a walk set on $MAX_SIZE"
for size in 0 $SIZES walk; do
	[ -n "${NM_OF[$size]:-}" ] && continue
	d=$PINROOT/nm-$size
	NM_DIRS+=("$d")
	nm "$d" load >/dev/null
	case $size in
	0) ;;
	walk)
		nm "$d" deny add file "$WORK/rules-$MAX_SIZE.txt" >/dev/null
		nm "$d" deny add file "$WORK/walk.txt" >/dev/null
		;;
	*) nm "$d" deny add file "$WORK/rules-$size.txt" >/dev/null ;;
	esac
	NM_OF[$size]=$d
done
if [ -z "$LPM_REF" ]; then # group 3 did not build a trie of MAX_SIZE
	bpftool map create "$LPM_LOADING" type lpm_trie key 24 value 52 entries 2097152 \
		name nmb_lpm flags 1
	bpftool batch file "$WORK/batch-$MAX_SIZE.txt" >/dev/null
	LPM_REF=$PINROOT/lpm-ref
	mv "$LPM_LOADING" "$LPM_REF"
fi

log "building and loading the reference programs (tests/bench/ref.bpf.c)"
clang -g -O2 -Wall -target bpf -I"/usr/include/$(gcc -print-multiarch)" \
	-c "$HERE/ref.bpf.c" -o "$WORK/ref.bpf.o"
mkdir -p "$PINROOT/ref"
bpftool prog loadall "$WORK/ref.bpf.o" "$PINROOT/ref/progs" \
	map name ref_lpm pinned "$LPM_REF" pinmaps "$PINROOT/ref/maps"
bpftool batch file "$WORK/hash-batch.txt" >/dev/null

# One cgroup per variant; every variant has the four hooks.
CFG=$WORK/config.json
{
	printf '{"nmprobe":"%s","netmonctl":"%s","nbtime":"%s","ns_a":"%s","ns_b":"%s",' \
		"$NMPROBE" "$NETMONCTL" "$NBTIME" "$NS_A" "$NS_B"
	printf '"in4":"%s","in6":"%s","quick":%s,"max_size":%s,"group2_size":%s,' \
		"$IN4" "$IN6" "$QUICK" "$MAX_SIZE" "$GROUP2_SIZE"
	printf '"h_rounds":%s,"s_rounds":%s,"lat_runs":%s,"variants":{' \
		"$H_ROUNDS" "$S_ROUNDS" "$LAT_RUNS"
} >"$CFG"
sep=
cg_new none
printf '%s"none":{"cgroup":"%s","progs":{}}' "$sep" "$cg" >>"$CFG"
sep=,
for ref in empty hash lpm; do
	cg_new "$ref"
	printf '%s"%s":{"cgroup":"%s","progs":{' "$sep" "$ref" "$cg" >>"$CFG"
	psep=
	for hook in connect4:c4 sendmsg4:s4 connect6:c6 sendmsg6:s6; do
		prog=$PINROOT/ref/progs/ref_${ref}_${hook#*:}
		bpftool cgroup attach "$cg" "${hook%:*}" pinned "$prog"
		REF_ATTACHED+=("$cg|${hook%:*}|$prog")
		printf '%s"%s":"%s"' "$psep" "${hook%:*}" "$prog" >>"$CFG"
		psep=,
	done
	printf '}}' >>"$CFG"
done
for size in 0 $SIZES walk; do
	cg_new "nm-$size"
	d=${NM_OF[$size]}
	nm "$d" attach cgroup "$cg" >/dev/null
	printf '%s"nm-%s":{"cgroup":"%s","pin_dir":"%s","progs":{' "$sep" "$size" "$cg" "$d" >>"$CFG"
	psep=
	for hook in connect4 sendmsg4 connect6 sendmsg6; do
		printf '%s"%s":"%s/progs/%s"' "$psep" "$hook" "$d" "$hook" >>"$CFG"
		psep=,
	done
	printf '}}' >>"$CFG"
done
printf '}}\n' >>"$CFG"
python3 -c "import json,sys; json.load(open(sys.argv[1]))" "$CFG" || die "bad $CFG"

# ---- group 1: hook cost per call, kernel accounting ----
log "group 1: hook cost per call (bpf_stats on), $H_ROUNDS rounds"
sysctl -q -w kernel.bpf_stats_enabled=1
python3 "$HERE/bench.py" hooks "$CFG" >>"$SAMPLES"
sysctl -q -w kernel.bpf_stats_enabled="$STATS_OLD"

# ---- group 2: syscall overhead as a user sees it ----
log "group 2: syscall loops (bpf_stats as before: $STATS_OLD), $S_ROUNDS rounds"
python3 "$HERE/bench.py" syscalls "$CFG" >>"$SAMPLES"

# ---- group 6: kernel memory (before group 4 adds rules) ----
for size in 0 $SIZES walk; do
	nm "${NM_OF[$size]}" -j status >"$WORK/status-$size.json"
done
bpftool map show pinned "$LPM_REF" -j >"$WORK/lpm-ref.json"

# ---- group 4: command latency ----
log "group 4: command latency, $LAT_RUNS runs each"
python3 "$HERE/bench.py" latency "$CFG" >>"$SAMPLES"

# ---- group 5: events (tests/bench/events-bench.sh, written separately) ----
# Its stdout table is kept; a JSON file it writes to $NM_BENCH_EVENTS_JSON,
# if it does, goes into the report as is.
EVENTS_JSON=$WORK/events.json
if [ -f "$HERE/events-bench.sh" ]; then
	log "group 5: tests/bench/events-bench.sh"
	ev_env=(NETMONCTL="$NETMONCTL" NMPROBE="$NMPROBE" NM_BENCH_EVENTS_JSON="$EVENTS_JSON")
	[ "$QUICK" = 1 ] && ev_env+=(EVENTS=300000 DRAIN_EVENTS=300000 NM_BENCH_QUICK=1)
	if env "${ev_env[@]}" bash "$HERE/events-bench.sh" >"$WORK/events.out" 2>&1; then
		echo ok >"$WORK/events.status"
	else
		echo "failed (exit $?)" >"$WORK/events.status"
	fi
	sed 's/^/    /' "$WORK/events.out" >&2
else
	echo "not measured (tests/bench/events-bench.sh not present)" >"$WORK/events.status"
fi

# ---- LPM trie nodes one lookup visits (model of kernel/bpf/lpm_trie.c) ----
log "trie depth of the probe targets (tests/bench/triedepth.py)"
for size in $SIZES; do
	python3 "$HERE/triedepth.py" "$WORK/rules-$size.txt" 127.0.0.1 "$IN4" ::1 "$IN6" >"$WORK/depth-$size.json"
done
python3 "$HERE/triedepth.py" --cidr-only "$WORK/rules-$MAX_SIZE.txt" 127.0.0.1 "$IN4" ::1 "$IN6" \
	>"$WORK/depth-cidr.json"
cat "$WORK/rules-$MAX_SIZE.txt" "$WORK/walk.txt" >"$WORK/rules-walk.txt"
python3 "$HERE/triedepth.py" "$WORK/rules-walk.txt" "$IN4" "$IN6" >"$WORK/depth-walk.json"

# ---- report ----
mkdir -p "$(dirname "$OUT")"
python3 "$HERE/bench.py" report "$CFG" "$SAMPLES" "$WORK" "$OUT"
log "JSON written to $OUT"
