/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Unit tests: pure functions of src/, no root, no kernel, milliseconds.
 * Each tests/unit/test_<area>.c has its own main() and builds as
 * unit/unit_<area>; tests/unit/run.sh runs every one of them.
 *
 *   static void test_something(void) { CHECK(x); CHECK_INT(a, b); CHECK_STR(s, "t"); }
 *   int main(void) { RUN(test_something); return unit_done("area"); }
 *
 * A test passes when none of its checks failed; each failed check prints
 * file:line and the values. unit_done() prints `unit <area>: N passed,
 * N failed` (the line run.sh adds up) and gives the exit status.
 */
#ifndef NM_UNIT_H
#define NM_UNIT_H

#include <stdio.h>
#include <string.h>

static const char *unit_test __attribute__((unused)) = "";
static int unit_bad __attribute__((unused));  /* failed checks in the current test */
static int unit_passed __attribute__((unused)), unit_failed __attribute__((unused));

#define UNIT_FAIL(...)                                                            \
	do {                                                                      \
		unit_bad++;                                                       \
		fprintf(stderr, "%s:%d: %s: ", __FILE__, __LINE__, unit_test);    \
		fprintf(stderr, __VA_ARGS__);                                     \
		fputc('\n', stderr);                                              \
	} while (0)

#define CHECK(cond)                                                               \
	do {                                                                      \
		if (!(cond))                                                      \
			UNIT_FAIL("CHECK(%s) failed", #cond);                     \
	} while (0)

/* CHECK with a printf-style note (the input that failed, say). */
#define CHECK_MSG(cond, ...)                                                      \
	do {                                                                      \
		if (!(cond)) {                                                    \
			UNIT_FAIL("CHECK(%s) failed", #cond);                     \
			fprintf(stderr, "    ");                                  \
			fprintf(stderr, __VA_ARGS__);                             \
			fputc('\n', stderr);                                      \
		}                                                                 \
	} while (0)

#define CHECK_INT(a, b)                                                           \
	do {                                                                      \
		long long unit_a_ = (long long)(a), unit_b_ = (long long)(b);     \
		if (unit_a_ != unit_b_)                                           \
			UNIT_FAIL("%s == %s: %lld != %lld", #a, #b, unit_a_, unit_b_); \
	} while (0)

#define CHECK_STR(a, b)                                                           \
	do {                                                                      \
		const char *unit_a_ = (a), *unit_b_ = (b);                        \
		if (!unit_a_ || !unit_b_ || strcmp(unit_a_, unit_b_))             \
			UNIT_FAIL("%s == %s: \"%s\" != \"%s\"", #a, #b,           \
				  unit_a_ ? unit_a_ : "(null)", unit_b_ ? unit_b_ : "(null)"); \
	} while (0)

#define RUN(fn) unit_run(#fn, fn)

static inline void unit_run(const char *name, void (*fn)(void))
{
	unit_test = name;
	unit_bad = 0;
	fn();
	if (unit_bad) {
		unit_failed++;
		fprintf(stderr, "FAIL %s (%d check%s)\n", name, unit_bad, unit_bad == 1 ? "" : "s");
	} else {
		unit_passed++;
	}
}

static inline int unit_done(const char *area)
{
	printf("unit %s: %d passed, %d failed\n", area, unit_passed, unit_failed);
	return unit_failed ? 1 : 0;
}

#endif
