/* SPDX-License-Identifier: GPL-2.0 */
/* What every libFuzzer harness here shares: a check that, beyond the
 * sanitizers, turns a broken invariant into a crash libFuzzer records. */
#ifndef NM_FUZZ_H
#define NM_FUZZ_H

#include <stdio.h>
#include <stdlib.h>

#define FUZZ_ASSERT(c)                                                          \
	do {                                                                    \
		if (!(c)) {                                                     \
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c); \
			abort();                                                \
		}                                                               \
	} while (0)

#endif
