// SPDX-License-Identifier: GPL-2.0
/*
 * Errno names and the BPF-LSM refusal messages. The kernel matrix reads
 * the errno of a refused LSM program from the parenthesized name in
 * nm_lsm_reason()'s message (guest-matrix.sh errno_of), and its baseline
 * expects ENOTSUPP on arm64 before 6.4: these keep that contract.
 */
#include <errno.h>
#include "nm.h"
#include "unit.h"

static void test_errno_names(void)
{
	CHECK_STR(nm_errno_name(-EPERM), "EPERM");
	CHECK_STR(nm_errno_name(EPERM), "EPERM");
	/* 524 is the kernel's own; libc's ENOTSUP (95) is another errno */
	CHECK_STR(nm_errno_name(-NM_ENOTSUPP), "ENOTSUPP");
	CHECK_STR(nm_errno_name(-ENOTSUP), "ENOTSUP");
	CHECK_STR(nm_errno_name(-12345), "errno");
}

static void test_lsm_reason_names_errno(void)
{
	CHECK(strstr(nm_lsm_reason(-NM_ENOTSUPP), "(ENOTSUPP)") != NULL);
	CHECK(strstr(nm_lsm_reason(-NM_ENOTSUPP), "trampoline") != NULL);
	CHECK(strstr(nm_lsm_reason(-NM_ENOTSUPP), "Unknown error") == NULL);
	CHECK(strstr(nm_lsm_reason(-EPERM), "(EPERM)") != NULL);
	CHECK(strstr(nm_lsm_reason(-EINVAL), "(EINVAL)") != NULL);
}

int main(void)
{
	RUN(test_errno_names);
	RUN(test_lsm_reason_names_errno);
	return unit_done("errno");
}
