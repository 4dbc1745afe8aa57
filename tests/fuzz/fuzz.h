/* SPDX-License-Identifier: GPL-2.0 */
/* What every libFuzzer harness here shares: a check that, beyond the
 * sanitizers, turns a broken invariant into a crash libFuzzer records. */
#ifndef NM_FUZZ_H
#define NM_FUZZ_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nm.h"

#define FUZZ_ASSERT(c)                                                          \
	do {                                                                    \
		if (!(c)) {                                                     \
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c); \
			abort();                                                \
		}                                                               \
	} while (0)

/* Rules read back are the same rules with the same comments; a comment's
 * id is this process's, so texts are compared. */
static inline bool fuzz_same_rules(const struct nm_rule *a, const struct nm_rule *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		struct nm_rule x = a[i], y = b[i];
		const char *tx = nm_note_text(x.note), *ty = nm_note_text(y.note);

		x.note = y.note = 0;
		if (memcmp(&x, &y, sizeof(x)) || !tx != !ty || (tx && strcmp(tx, ty)))
			return false;
	}
	return true;
}

#endif
