#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Hook cost far from every rule and inside the rule set, an older layout
# (--old N, scripts/build-layout.sh N; default the one before this tree's)
# against this tree's, on the benchmark's 1M-rule set, from the kernel's
# own statistics (bpf_stats: run_time_ns / run_cnt), both stores loaded
# side by side and the variants interleaved round by round. Layout 4 -> 5:
# the buckets gate `hosts` too; 5 -> 6: protocol classes (a mask and two
# compares per port rule). As root:
#
#   tests/bench/gate-bench.sh [--old N | --old-bin PATH] [--rounds N] [--count N] [--size N] [--out FILE]
#
# --old-bin compares this tree with any other build (same layout or not),
# labelled "old" and "new" instead of layout numbers. --also LABEL=PATH
# (repeatable) adds more builds to the same interleaved rounds, each
# printed as a column with its ratio to old.
#
# Variants (UDP connects the rules allow, so the hook does its whole check):
#   far4  127.0.0.1:9   far6  ::1:9   (no rule in their buckets)
#   in4   10.123.45.67:9   in6  2001:db8:1234:5678::9:9   (inside the dense
#         areas: 5 covering prefixes with port rules that do not match)
# Prints ns per call of connect4/connect6 (median of rounds) per layout and
# new/old.
# Touches: /sys/fs/bpf/nmgb{old,new}-<pid>, two scratch cgroups under the
# cgroup2 mount, a network namespace nmgb-<pid>, kernel.bpf_stats_enabled
# (restored), a mktemp dir.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
ROUNDS=7
COUNT=20000
SIZE=1000000
OUT=$SRC/build/gate-bench.json
NEW=$(awk '$2 == "NM_LAYOUT_VERSION" { print $3 }' "$SRC/bpf/netmonctl.h")
OLD=$((NEW - 1))
OLD_BIN=
ALSO=()
while [ $# -gt 0 ]; do
	case $1 in
	--old) OLD=$2; shift ;;
	--old-bin) OLD_BIN=$2; shift ;;
	--also) ALSO+=("$2"); shift ;;
	--rounds) ROUNDS=$2; shift ;;
	--count) COUNT=$2; shift ;;
	--size) SIZE=$2; shift ;;
	--out) OUT=$2; shift ;;
	*) sed -n '3,29p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2 ;;
	esac
	shift
done

if [ -n "$OLD_BIN" ]; then
	OLD=old NEW=new
	declare -A NMBIN=([old]=$OLD_BIN [new]=${NETMONCTL:-$SRC/build/netmonctl})
else
	declare -A NMBIN=([$OLD]=$("$SRC/scripts/build-layout.sh" "$OLD") [$NEW]=${NETMONCTL:-$SRC/build/netmonctl})
fi
LABELS=("$OLD" "$NEW")
for a in "${ALSO[@]}"; do
	NMBIN[${a%%=*}]=${a#*=}
	LABELS+=("${a%%=*}")
done
PROBE=${NMPROBE:-$SRC/build/nmprobe}
CGROOT=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
NS=nmgb-$$
WORK=$(mktemp -d)
STATS_WAS=$(sysctl -n kernel.bpf_stats_enabled)
declare -A ADDR=([far4]=127.0.0.1 [far6]=::1 [in4]=10.123.45.67 [in6]=2001:db8:1234:5678::9)
declare -A HOOK=([far4]=connect4 [far6]=connect6 [in4]=connect4 [in6]=connect6)
VARIANTS=(far4 far6 in4 in6)

cleanup() {
	local l
	sysctl -qw kernel.bpf_stats_enabled="$STATS_WAS"
	for l in "${LABELS[@]}"; do
		"${NMBIN[$l]}" --pin-dir "/sys/fs/bpf/nmgb$l-$$" unload >/dev/null 2>&1 || true
		rmdir "$CGROOT/nmgb$l-$$" 2>/dev/null || true
	done
	ip netns del "$NS" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" addr add "${ADDR[in4]}/32" dev lo
ip -n "$NS" addr add "${ADDR[in6]}/128" dev lo nodad
python3 "$HERE/genrules.py" --sizes "$SIZE" --outdir "$WORK" --map-path /unused \
	--nft-table unused --hash-map-path /unused >/dev/null
cat "$WORK/walk.txt" "$WORK/rules-$SIZE.txt" >"$WORK/rules"
for l in "${LABELS[@]}"; do
	mkdir "$CGROOT/nmgb$l-$$"
	"${NMBIN[$l]}" --pin-dir "/sys/fs/bpf/nmgb$l-$$" load entries $((2 * SIZE)) >/dev/null
	"${NMBIN[$l]}" --pin-dir "/sys/fs/bpf/nmgb$l-$$" attach cgroup "$CGROOT/nmgb$l-$$" >/dev/null
	"${NMBIN[$l]}" --pin-dir "/sys/fs/bpf/nmgb$l-$$" deny add file "$WORK/rules" >/dev/null
done

# ns per call of the variant's hook in layout $1's store over COUNT connects
one() {
	local id before after
	id=$(bpftool -j prog show pinned "/sys/fs/bpf/nmgb$1-$$/progs/${HOOK[$2]}" | jq .id)
	before=$(bpftool -j prog show id "$id" | jq -r '[.run_time_ns, .run_cnt] | @tsv')
	nsenter --net="/run/netns/$NS" "$PROBE" --cgroup "$CGROOT/nmgb$1-$$" --count "$COUNT" \
		connect udp "${ADDR[$2]}" 9 >"$WORK/probe" ||
		{ echo "gate-bench: layout $1 $2: $(cat "$WORK/probe")" >&2; exit 1; }
	after=$(bpftool -j prog show id "$id" | jq -r '[.run_time_ns, .run_cnt] | @tsv')
	awk -v b="$before" -v a="$after" 'BEGIN { split(b, x, "\t"); split(a, y, "\t");
		printf "%.1f\n", (y[1] - x[1]) / (y[2] - x[2]) }'
}

sysctl -qw kernel.bpf_stats_enabled=1
: >"$WORK/samples"
for ((r = 1; r <= ROUNDS; r++)); do
	for lv in $(for v in "${VARIANTS[@]}"; do for l in "${LABELS[@]}"; do echo "$l:$v"; done; done | shuf --random-source=<(yes "$r")); do
		ns=$(one "${lv%%:*}" "${lv#*:}") # set -e: a failed probe ends the run
		echo "${lv%%:*} ${lv#*:} $ns" >>"$WORK/samples"
	done
done
python3 - "$WORK/samples" "$OUT" "$ROUNDS" "$COUNT" "$SIZE" ${LABELS[*]} <<'PY'
import json, statistics, sys
ns = {}
for line in open(sys.argv[1]):
    layout, v, x = line.split()
    ns.setdefault(v, {}).setdefault(layout, []).append(float(x))
med = {v: {l: statistics.median(x) for l, x in d.items()} for v, d in ns.items()}
old, new, extra = sys.argv[6], sys.argv[7], sys.argv[8:]
label = lambda l: l if not l.isdigit() else "layout " + l
print("%-6s %10s %10s %8s" % ("target", label(old), label(new), "new/old")
      + "".join(" %10s %8s" % (l, l + "/old") for l in extra))
for v in ("far4", "far6", "in4", "in6"):
    print("%-6s %10.1f %10.1f %8.2f" % (v, med[v][old], med[v][new], med[v][new] / med[v][old])
          + "".join(" %10.1f %8.2f" % (med[v][l], med[v][l] / med[v][old]) for l in extra))
json.dump({"rounds": int(sys.argv[3]), "count": int(sys.argv[4]), "rules": int(sys.argv[5]),
           "old": old, "new": new,
           "ns_per_call": med, "samples": ns}, open(sys.argv[2], "w"), indent=1)
PY
