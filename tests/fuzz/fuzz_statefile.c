// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer: the state-file reader (nm_statefile_read, what `restore`
 * reads) on a memfd. Checks, beyond the sanitizers: a failed read leaves
 * nothing allocated and says why in one line of printable text naming the
 * file; a state read writes out the way `save` does and reads back the
 * same (mode, lsm, cgroups, rules).
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

static int read_state(const void *data, size_t size, struct nm_state *st, char *err, size_t errlen)
{
	if (fuzz_fd < 0)
		fuzz_fd = memfd_create("fuzz", MFD_CLOEXEC);
	FUZZ_ASSERT(fuzz_fd >= 0);
	FUZZ_ASSERT(ftruncate(fuzz_fd, 0) == 0 && lseek(fuzz_fd, 0, SEEK_SET) == 0);
	FUZZ_ASSERT(write(fuzz_fd, data, size) == (ssize_t)size);
	FUZZ_ASSERT(lseek(fuzz_fd, 0, SEEK_SET) == 0);
	return nm_statefile_read(fuzz_fd, "fuzz", st, err, errlen);
}

/* " cgroup PATH" of a list's scope, "" for the global one. */
static const char *scope_words(const struct nm_state *st, uint16_t list, char *buf, size_t len)
{
	char word[NM_PATH_MAX + 2];
	uint32_t scope = list / 2;

	if (!scope)
		return "";
	snprintf(buf, len, " cgroup %s", nm_word_format(st->scopes[scope - 1].cgroup, word, sizeof(word)));
	return buf;
}

/* A default: one line per dir it denies; a scope is named in any case, so
 * a reader numbers the scopes in the same order. */
static void write_default(FILE *f, uint8_t mask, const char *where)
{
	int dir;

	if (*where)
		fprintf(f, "policy default allow%s\n", where);
	for (dir = 0; dir < NM_DIR_MAX; dir++)
		if (mask & (1u << dir))
			fprintf(f, "policy default deny dir %s%s\n", nm_dir_names[dir], where);
}

/* The state as `save` writes it (the load line too, when given). */
static char *write_state(const struct nm_state *st, size_t *len)
{
	char *buf = NULL, rule[NM_RULE_TEXT_MAX], word[NM_PATH_MAX + 2], where[NM_PATH_MAX + 16];
	FILE *f = open_memstream(&buf, len);
	size_t i;

	FUZZ_ASSERT(f);
	if (st->load_set)
		fprintf(f, "load%s%.0u%s%.0u\n", st->load.ringbuf_set ? " ringbuf " : "", st->load.ringbuf,
			st->load.entries_set ? " entries " : "", st->load.entries);
	if (st->mode >= 0)
		fprintf(f, "mode %s\n", st->mode == NM_MODE_AUDIT ? "audit" : "enforce");
	for (i = 0; i < st->n_cgroups; i++)
		fprintf(f, "attach cgroup %s\n", nm_word_format(st->cgroups[i], word, sizeof(word)));
	if (st->lsm)
		fprintf(f, "attach lsm\n");
	write_default(f, st->default_deny, "");
	for (i = 0; i < st->n_scopes; i++)
		write_default(f, st->scopes[i].default_deny, scope_words(st, nm_list_id(i + 1, 0), where, sizeof(where)));
	for (i = 0; i < st->rules.n; i++) {
		const struct nm_rule *r = &st->rules.v[i];

		nm_rule_format(r, rule, sizeof(rule));
		fprintf(f, "%s %s%s\n", r->list & 1 ? "allow" : "deny", rule, scope_words(st, r->list, where, sizeof(where)));
	}
	FUZZ_ASSERT(fclose(f) == 0);
	return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nm_state st, back;
	char err[600] = "", *text;
	size_t len, i;
	int rc = read_state(data, size, &st, err, sizeof(err));

	if (rc) {
		FUZZ_ASSERT(rc == -EINVAL);
		FUZZ_ASSERT(st.rules.n == 0 && st.n_cgroups == 0 && !st.cgroups && !st.n_scopes && !st.scopes);
		FUZZ_ASSERT(!strncmp(err, "fuzz:", 5));
		for (i = 0; err[i]; i++)
			FUZZ_ASSERT((unsigned char)err[i] >= 0x20 && err[i] != 0x7f);
		nm_note_pool_free();
		return 0;
	}
	text = write_state(&st, &len);
	FUZZ_ASSERT(read_state(text, len, &back, err, sizeof(err)) == 0);
	FUZZ_ASSERT(back.mode == st.mode && back.lsm == st.lsm && back.load_set == st.load_set);
	FUZZ_ASSERT(!memcmp(&back.load, &st.load, sizeof(st.load)));
	FUZZ_ASSERT(back.n_cgroups == st.n_cgroups);
	for (i = 0; i < st.n_cgroups; i++)
		FUZZ_ASSERT(!strcmp(back.cgroups[i], st.cgroups[i]));
	FUZZ_ASSERT(back.default_deny == st.default_deny && back.n_scopes == st.n_scopes);
	for (i = 0; i < st.n_scopes; i++)
		FUZZ_ASSERT(!strcmp(back.scopes[i].cgroup, st.scopes[i].cgroup) &&
			    back.scopes[i].default_deny == st.scopes[i].default_deny);
	FUZZ_ASSERT(back.rules.n == st.rules.n);
	FUZZ_ASSERT(fuzz_same_rules(back.rules.v, st.rules.v, st.rules.n));
	free(text);
	nm_state_free(&st);
	nm_state_free(&back);
	nm_note_pool_free();
	return 0;
}
