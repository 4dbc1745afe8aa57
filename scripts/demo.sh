#!/usr/bin/env bash
# The main job in one command, on a fresh Debian 12 machine as root:
# install, build, load, attach to a scratch cgroup, deny an address, show a
# blocked connect and `status`. Everything it creates is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build
scripts/build.sh

nm=build/netmonctl
probe=build/nmprobe
export NETMONCTL_PIN_DIR=/sys/fs/bpf/netmonctl-demo
cg2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
[ -n "$cg2" ] || { echo "demo: no cgroup2 mount in /proc/mounts" >&2; exit 1; }
cg=$cg2/netmonctl-demo-$$

cleanup() {
	"$nm" unload >/dev/null 2>&1 || true
	rmdir "$cg" 2>/dev/null || true
}
trap cleanup EXIT

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }
in_cgroup() { "$probe" --cgroup "$cg" --serve connect tcp 127.0.0.1 8080 || true; }

mkdir "$cg"
step "$nm" load
step "$nm" attach cgroup "$cg"
printf '\nconnect from the scratch cgroup to 127.0.0.1:8080 before the rule: '; in_cgroup
step "$nm" deny add 127.0.0.1 port 8080 proto tcp
printf '\nconnect from the scratch cgroup to 127.0.0.1:8080 after the rule:  '; in_cgroup
printf 'connect from outside the cgroup to 127.0.0.1:8080:                 '
"$probe" --serve connect tcp 127.0.0.1 8080 || true
step "$nm" deny list
step "$nm" status
