# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# labels.sh: what a kernel-matrix label means, sourced by fetch-kernels.sh
# and run-matrix.sh. A label is a Debian suite's kernel by its version
# (newest = sid's), amd64 unless prefixed `arm64-`.

# shellcheck disable=SC2034 # used by the scripts that source this
ALL_LABELS=(5.10 6.1 6.12 newest arm64-5.10 arm64-6.1 arm64-6.12 arm64-newest)

# The label's arch, Debian's name.
arch_of() {
	case $1 in
	arm64-*) echo arm64 ;;
	*) echo amd64 ;;
	esac
}

# The label's suite; fails for an unknown label.
suite_of() {
	case ${1#arm64-} in
	5.10) echo bullseye ;;
	6.1) echo bookworm ;;
	6.12) echo trixie ;;
	newest) echo sid ;;
	*) return 1 ;;
	esac
}
