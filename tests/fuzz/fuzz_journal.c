// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer: `events output journal`, the NDJSON -> journal entry step
 * (src/events_journal.c). The input is the output buffer as the reader
 * would hand it over (lines of our own JSON in real use; anything here),
 * flushed to one end of a datagram socket pair. Every datagram that comes
 * out must be a well-formed native-protocol entry: fields named with
 * A-Z, 0-9 and _ only, each either NAME=value (no newline in the value) or
 * NAME, newline, a 64-bit little-endian length, that many bytes, newline;
 * and MESSAGE, PRIORITY and SYSLOG_IDENTIFIER first.
 *
 * Uses only src/events.h. Links nm_core.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "events.h"
#include "fuzz.h"

static int pair[2] = { -1, -1 };

static int name_ok(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!((p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= '0' && p[i] <= '9') || p[i] == '_'))
			return 0;
	return n > 0;
}

/* One datagram: a sequence of well-formed fields. */
static void check_entry(const char *p, size_t len)
{
	static const char *const first[] = { "MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER" };
	size_t off = 0, k = 0;

	while (off < len) {
		const char *line = p + off;
		const char *eq = memchr(line, '=', len - off), *nl = memchr(line, '\n', len - off);
		size_t name_len;

		FUZZ_ASSERT(nl);
		if (eq && eq < nl) { /* NAME=value\n */
			name_len = eq - line;
			off = nl - p + 1;
		} else { /* NAME\n<u64 le><bytes>\n */
			uint64_t vlen = 0;
			int i;

			name_len = nl - line;
			off = nl - p + 1;
			FUZZ_ASSERT(len - off >= 8);
			for (i = 7; i >= 0; i--)
				vlen = vlen << 8 | (uint8_t)p[off + i];
			off += 8;
			FUZZ_ASSERT(vlen < len - off && p[off + vlen] == '\n');
			off += vlen + 1;
		}
		FUZZ_ASSERT(name_ok(line, name_len));
		if (k < 3)
			FUZZ_ASSERT(name_len == strlen(first[k]) && !memcmp(line, first[k], name_len));
		k++;
	}
	FUZZ_ASSERT(k >= 3);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char dgram[1 << 16];
	struct nm_ev_buf b;
	ssize_t n;

	if (pair[0] < 0)
		FUZZ_ASSERT(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, pair) == 0);
	FUZZ_ASSERT(nm_ev_buf_init(&b, pair[0]) == 0);
	b.journal = true;
	if (size > NM_EV_BUF_SIZE - 1)
		size = NM_EV_BUF_SIZE - 1;
	memcpy(b.p, data, size);
	b.len = size;
	nm_ev_flush(&b); /* a malformed line is an error; a full socket EAGAIN */
	FUZZ_ASSERT(b.len == 0);
	while ((n = recv(pair[1], dgram, sizeof(dgram), 0)) > 0)
		check_entry(dgram, (size_t)n);
	FUZZ_ASSERT(n < 0 && errno == EAGAIN);
	nm_ev_buf_free(&b);
	return 0;
}
