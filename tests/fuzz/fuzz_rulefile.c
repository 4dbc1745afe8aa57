// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer: the rules-file reader (nm_rulefile_read) on a memfd.
 * Input: byte 0 picks the largest read(2) (1-255 bytes, or 0: 64 KiB), so
 * lines get cut across reads; the rest is the file.
 * Checks, beyond the sanitizers: all or nothing (a failed read leaves the
 * rule array as it was); an error message is one line of printable text;
 * every rule read formats to text that reads back to the same rule (a
 * line with a port list stands for several rules; each is listed alone).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include "nm.h"
#include "fuzz.h"

static int fuzz_fd = -1;

/* Read `size` bytes as a rules file through one reused memfd. */
static int read_rules(const uint8_t *data, size_t size, size_t chunk, struct nm_rules *rs,
		      char *err, size_t errlen)
{
	if (fuzz_fd < 0)
		fuzz_fd = memfd_create("fuzz", MFD_CLOEXEC);
	FUZZ_ASSERT(fuzz_fd >= 0);
	FUZZ_ASSERT(ftruncate(fuzz_fd, 0) == 0 && lseek(fuzz_fd, 0, SEEK_SET) == 0);
	FUZZ_ASSERT(write(fuzz_fd, data, size) == (ssize_t)size);
	FUZZ_ASSERT(lseek(fuzz_fd, 0, SEEK_SET) == 0);
	nm_rulefile_chunk = chunk;
	return nm_rulefile_read(fuzz_fd, "fuzz", rs, err, errlen);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nm_rules rs = {}, back = {};
	char err[600] = "", *text;
	size_t chunk, i, len = 0;
	int rc;

	if (size < 1)
		return 0;
	chunk = data[0] ? data[0] : 64 << 10;
	rc = read_rules(data + 1, size - 1, chunk, &rs, err, sizeof(err));
	if (rc) {
		FUZZ_ASSERT(rc == -EINVAL); /* a memfd does not fail to read */
		FUZZ_ASSERT(rs.n == 0);
		FUZZ_ASSERT(!strncmp(err, "fuzz:", 5));
		for (i = 0; err[i]; i++)
			FUZZ_ASSERT((unsigned char)err[i] >= 0x20 && err[i] != 0x7f);
		nm_rules_free(&rs);
		nm_note_pool_free();
		return 0;
	}
	/* What was read, written out the way `deny list` does, reads back the same. */
	text = malloc(rs.n * NM_RULE_TEXT_MAX + 1);
	FUZZ_ASSERT(text);
	for (i = 0; i < rs.n; i++) {
		nm_rule_format(&rs.v[i], text + len, NM_RULE_TEXT_MAX);
		len += strlen(text + len);
		text[len++] = '\n';
	}
	FUZZ_ASSERT(read_rules((const uint8_t *)text, len, 64 << 10, &back, err, sizeof(err)) == 0);
	FUZZ_ASSERT(back.n == rs.n);
	FUZZ_ASSERT(fuzz_same_rules(back.v, rs.v, rs.n));
	free(text);
	nm_rules_free(&rs);
	nm_rules_free(&back);
	nm_note_pool_free();
	return 0;
}
