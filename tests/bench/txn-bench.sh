#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Write cost of the rule store: layout 2 (the last layout-2 commit, built by
# scripts/build-layout.sh 2) against this tree's layout, interleaved round
# by round in one run so that machine noise hits both alike. As root:
#
#   tests/bench/txn-bench.sh [--sizes "100000 1000000"] [--rounds N] [--out FILE]
#   (NM_OLD_BIN=PATH: compare with that binary instead of layout 2)
#
# Per size N and binary, each round in its own pin dir:
#   add      `deny add file` of N rules into an empty store
#   add_half `deny add file` of N/2 more into that store of N
#   replace  `deny replace file` of the N+N/2 by another N, half shared
#            (layout 2 has no replace: flush + add file, which lifts every
#            rule for as long as the add takes)
#   one_add  one `deny add` into the store of N (fork to exit)
#   start    `netmonctl --version` measured the same way: one_add - start
#            is the cost of one add above starting the process
#   flush    `deny flush` of the N
# Prints a table of medians (seconds) and the ratio new/old; JSON to --out.
# Touches: /sys/fs/bpf/nmtxn-<pid>-* (removed on exit), a mktemp dir.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
SIZES="100000 1000000"
ROUNDS=3
OUT=$SRC/build/txn-bench.json
while [ $# -gt 0 ]; do
	case $1 in
	--sizes) SIZES=$2; shift ;;
	--rounds) ROUNDS=$2; shift ;;
	--out) OUT=$2; shift ;;
	*) sed -n '3,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2 ;;
	esac
	shift
done

# NM_OLD_BIN: another netmonctl to compare with (a build of any commit).
OLD=${NM_OLD_BIN:-$("$SRC/scripts/build-layout.sh" 2)}
NEW=${NETMONCTL:-$SRC/build/netmonctl}
[ -x "$NEW" ] || { echo "txn-bench: no $NEW (build first)" >&2; exit 2; }
WORK=$(mktemp -d)
PINS=()
cleanup() {
	local p
	for p in "${PINS[@]}"; do
		[ -d "$p" ] && { "$NEW" --pin-dir "$p" unload >/dev/null 2>&1 || "$OLD" --pin-dir "$p" unload >/dev/null 2>&1 || true; }
	done
	rm -rf "$WORK"
}
trap cleanup EXIT

# N rules (tests/ruleset.py) in $WORK/N/: A (N), more (N/2 others),
# B (N: half of A, half new).
gen() {
	mkdir -p "$WORK/$1"
	python3 "$SRC/tests/ruleset.py" sets "$1" "$1" "$WORK/$1"
}

# secs CMD...: wall seconds of one command (stdout dropped); a failed
# command ends the run, so it is never timed as a fast one.
secs() {
	local t0 t1
	t0=$(date +%s%N)
	"$@" >/dev/null 2>"$WORK/err" || { echo "txn-bench: $* failed: $(cat "$WORK/err")" >&2; exit 1; }
	t1=$(date +%s%N)
	python3 -c "print(($t1 - $t0) / 1e9)"
}

SAMPLES=$WORK/samples
: >"$SAMPLES"
one_round() { # one_round BIN LABEL SIZE ROUND
	local bin=$1 label=$2 n=$3 r=$4 p f=$WORK/$3
	p=/sys/fs/bpf/nmtxn-$$-$label-$n-$r
	PINS+=("$p")
	# Room for N + N/2 rules and, while a replace runs, for the new ones too.
	"$bin" --pin-dir "$p" load entries $((n * 2 > 1048576 ? n * 2 : 1048576)) >/dev/null
	echo "$label $n add $(secs "$bin" --pin-dir "$p" deny add file "$f/A")" >>"$SAMPLES"
	echo "$label $n start $(secs "$bin" --version)" >>"$SAMPLES" # process start, for one_add
	echo "$label $n one_add $(secs "$bin" --pin-dir "$p" deny add 192.0.2.1 port 1)" >>"$SAMPLES"
	"$bin" --pin-dir "$p" deny del 192.0.2.1 port 1 >/dev/null
	echo "$label $n add_half $(secs "$bin" --pin-dir "$p" deny add file "$f/more")" >>"$SAMPLES"
	if ! "$bin" deny help 2>&1 | grep -q 'deny replace'; then
		echo "$label $n replace $(secs sh -c "'$bin' --pin-dir '$p' deny flush && '$bin' --pin-dir '$p' deny add file '$f/B'")" >>"$SAMPLES"
	else
		echo "$label $n replace $(secs "$bin" --pin-dir "$p" deny replace file "$f/B")" >>"$SAMPLES"
	fi
	echo "$label $n flush $(secs "$bin" --pin-dir "$p" deny flush)" >>"$SAMPLES"
	"$bin" --pin-dir "$p" unload >/dev/null
}

echo "txn-bench: $(uname -r), $(nproc) CPUs; sizes $SIZES, $ROUNDS rounds, old = $OLD"
for n in $SIZES; do
	gen "$n"
	for ((r = 1; r <= ROUNDS; r++)); do
		# Alternate which goes first, so neither always runs on a warmer machine.
		if ((r % 2)); then
			one_round "$OLD" old "$n" "$r"
			one_round "$NEW" new "$n" "$r"
		else
			one_round "$NEW" new "$n" "$r"
			one_round "$OLD" old "$n" "$r"
		fi
	done
done

python3 - "$SAMPLES" "$OUT" <<-'PY'
	import json, statistics, sys
	rows = {}
	for line in open(sys.argv[1]):
	    label, n, op, s = line.split()
	    rows.setdefault((int(n), op), {}).setdefault(label, []).append(float(s))
	out = []
	print("%-8s %-9s %12s %12s %8s" % ("rules", "op", "layout 2 s", "this tree s", "new/old"))
	for (n, op), v in sorted(rows.items()):
	    o, w = statistics.median(v["old"]), statistics.median(v["new"])
	    print("%-8d %-9s %12.3f %12.3f %8.2f" % (n, op, o, w, w / o if o else 0))
	    out.append({"rules": n, "op": op, "old_s": v["old"], "new_s": v["new"]})
	json.dump(out, open(sys.argv[2], "w"), indent=1)
PY
echo "txn-bench: samples in $OUT"
