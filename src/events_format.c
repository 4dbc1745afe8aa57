// SPDX-License-Identifier: GPL-2.0
/*
 * netmonctl events, output: one big buffer written in chunks, and the
 * NDJSON and aligned-text lines formatted straight into it.
 *
 * The hot path does no heap allocation and no stdio: records are formatted
 * with the small emitters of events_internal.h. What is expensive and
 * repeats is cached (events_ctx.c): cgroup id -> path (escaped once per
 * cgroup), matched rule -> text, the date/time prefix per second.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "events_internal.h"

/* ------------------------------------------------------------------ */
/* output buffer                                                       */

int nm_ev_buf_init(struct nm_ev_buf *b, int fd)
{
	b->p = malloc(NM_EV_BUF_SIZE);
	b->len = 0;
	b->fd = fd;
	b->err = 0;
	return b->p ? 0 : -ENOMEM;
}

void nm_ev_buf_free(struct nm_ev_buf *b)
{
	free(b->p);
	b->p = NULL;
}

/* Set by nm_ev_interrupt() (a signal handler): a write interrupted by it
 * finishes the line it is in (never a torn line) and then gives up. */
volatile int nm_ev_interrupted;

int nm_ev_flush(struct nm_ev_buf *b)
{
	size_t off = 0, stop = b->len;
	bool finishing = false;

	if (b->err) {
		b->len = 0;
		return -b->err;
	}
	if (b->journal)
		return nm_ev_journal_flush(b);
	while (off < stop) {
		ssize_t n = write(b->fd, b->p + off, stop - off);

		if (n > 0) {
			off += n;
			continue;
		}
		if (n < 0 && errno == EINTR) {
			if (nm_ev_interrupted && !finishing) {
				char *nl = memchr(b->p + off, '\n', stop - off);

				/* Complete the current line, drop the rest. */
				finishing = true;
				if (off == 0 || b->p[off - 1] == '\n')
					break;
				stop = nl ? (size_t)(nl - b->p) + 1 : stop;
			} else if (nm_ev_interrupted && finishing) {
				break; /* a second signal: give up on that line too */
			}
			continue;
		}
		if (n < 0 && errno == EAGAIN) { /* stdout inherited non-blocking */
			struct pollfd p = { .fd = b->fd, .events = POLLOUT };

			poll(&p, 1, -1);
			continue;
		}
		b->err = n < 0 ? errno : EIO;
		break;
	}
	b->len = 0;
	return b->err ? -b->err : 0;
}

/* ------------------------------------------------------------------ */
/* names                                                               */

static const char *ev_hook_name(uint8_t h)
{
	return h < NM_HOOK_MAX ? nm_progs[h].name : "unknown";
}

static const char *ev_verdict_name(uint8_t v)
{
	switch (v) {
	case NM_VERDICT_DENY: return "deny";
	case NM_VERDICT_AUDIT: return "audit";
	case NM_VERDICT_ALLOW: return "allow";
	default: return "unknown";
	}
}

static char *put_proto(char *o, uint8_t p)
{
	if (p == 6)
		return PUT_LIT(o, "tcp");
	if (p == 17)
		return PUT_LIT(o, "udp");
	if (p == 1)
		return PUT_LIT(o, "icmp");
	if (p == 58)
		return PUT_LIT(o, "icmpv6");
	if (p == 132)
		return PUT_LIT(o, "sctp");
	return put_u64(o, p);
}

static const char *ev_dir_name(uint8_t d)
{
	return d < NM_DIR_MAX ? nm_dir_names[d] : "unknown";
}

/* ------------------------------------------------------------------ */
/* lines                                                               */

static char *ev_reserve(struct nm_ev_buf *b)
{
	if (b->len > NM_EV_BUF_SIZE - NM_EV_BUF_ROOM - CG_ESC_MAX)
		nm_ev_flush(b);
	return b->p + b->len;
}

void nm_ev_json(struct nm_ev_ctx *c, struct nm_ev_buf *b, const struct nm_event *e)
{
	const struct nm_ev_cg *cg = ev_cg_get(c, e->cgroup_id);
	const struct nm_ev_rule *rule = ev_rule_get(c, e);
	char *o = ev_reserve(b);
	struct ev_ends x;

	ev_ends(e, &x);
	o = PUT_LIT(o, "{\"type\":\"event\",\"time\":\"");
	o = put_time_json(c, o, e->ts_ns);
	o = PUT_LIT(o, "\",\"ts_ns\":");
	o = put_u64(o, e->ts_ns);
	o = PUT_LIT(o, ",\"verdict\":\"");
	o = put_str(o, ev_verdict_name(e->verdict));
	o = PUT_LIT(o, "\",\"hook\":\"");
	o = put_str(o, ev_hook_name(e->hook));
	o = PUT_LIT(o, "\",\"pid\":");
	o = put_u64(o, e->pid);
	o = PUT_LIT(o, ",\"tid\":");
	o = put_u64(o, e->tid);
	o = PUT_LIT(o, ",\"uid\":");
	o = put_u64(o, e->uid);
	o = PUT_LIT(o, ",\"comm\":\"");
	o = put_json_esc(o, e->comm, strnlen(e->comm, NM_COMM_LEN));
	o = PUT_LIT(o, "\",\"cgroup_id\":");
	o = put_u64(o, e->cgroup_id);
	o = PUT_LIT(o, ",\"cgroup\":\"");
	if (cg)
		o = put_mem(o, cg->json, cg->jlen);
	o = PUT_LIT(o, "\",\"family\":\"");
	o = e->family == NM_FAM_V6 ? PUT_LIT(o, "ipv6") : PUT_LIT(o, "ipv4");
	o = PUT_LIT(o, "\",\"proto\":\"");
	o = put_proto(o, e->protocol);
	o = PUT_LIT(o, "\",\"saddr\":\"");
	if (x.lknown)
		o = put_addr(o, e->family, x.laddr);
	o = PUT_LIT(o, "\",\"sport\":");
	o = put_u64(o, x.lport);
	o = PUT_LIT(o, ",\"daddr\":\"");
	if (x.rknown)
		o = put_addr(o, e->family, x.raddr);
	o = PUT_LIT(o, "\",\"dport\":");
	o = put_u64(o, x.rport);
	o = PUT_LIT(o, ",\"dir\":\"");
	o = put_str(o, ev_dir_name(e->dir));
	o = PUT_LIT(o, "\",\"rule\":\"");
	o = put_mem(o, rule->text, rule->len);
	o = PUT_LIT(o, "\"}\n");
	b->len = o - b->p;
}

void nm_ev_json_drops(struct nm_ev_ctx *c, struct nm_ev_buf *b, uint64_t lost, uint64_t total)
{
	char *o = ev_reserve(b);
	int64_t now = nm_ev_now_mono();

	o = PUT_LIT(o, "{\"type\":\"drops\",\"time\":\"");
	o = put_time_json(c, o, now);
	o = PUT_LIT(o, "\",\"ts_ns\":");
	o = put_u64(o, now);
	o = PUT_LIT(o, ",\"drops\":");
	o = put_u64(o, lost);
	o = PUT_LIT(o, ",\"drops_total\":");
	o = put_u64(o, total);
	o = PUT_LIT(o, "}\n");
	b->len = o - b->p;
}

static char *put_endpoint(char *o, uint8_t family, const uint8_t *a, uint16_t port, bool known)
{
	if (!known)
		return PUT_LIT(o, "-");
	if (family == NM_FAM_V6)
		*o++ = '[';
	o = put_addr(o, family, a);
	if (family == NM_FAM_V6)
		*o++ = ']';
	*o++ = ':';
	return put_u64(o, port);
}

/* Column widths of the text line (values that are longer push the rest). */
#define W_TIME 31
#define W_VERDICT 7
#define W_HOOK 11
#define W_PID 7
#define W_COMM 15
#define W_CGROUP 32
#define W_PROTO 5
#define W_ADDR 21

void nm_ev_text_header(struct nm_ev_buf *b)
{
	char *o = b->p + b->len;

	o += sprintf(o, "%-*s %-*s %-*s %*s %-*s %-*s %-*s %-*s %-*s %s\n", W_TIME, "TIME", W_VERDICT,
		     "VERDICT", W_HOOK, "HOOK", W_PID, "PID", W_COMM, "COMM", W_CGROUP, "CGROUP",
		     W_PROTO, "PROTO", W_ADDR, "LOCAL", W_ADDR, "REMOTE", "RULE");
	b->len = o - b->p;
}

void nm_ev_text(struct nm_ev_ctx *c, struct nm_ev_buf *b, const struct nm_event *e)
{
	const struct nm_ev_cg *cg = ev_cg_get(c, e->cgroup_id);
	const struct nm_ev_rule *rule = ev_rule_get(c, e);
	char *o = ev_reserve(b), *start, num[24];
	struct ev_ends x;
	size_t n;

	ev_ends(e, &x);
	start = o;
	o = put_time_text(c, o, e->ts_ns);
	o = put_pad(o, start, W_TIME);
	start = o;
	o = put_str(o, ev_verdict_name(e->verdict));
	o = put_pad(o, start, W_VERDICT);
	start = o;
	o = put_str(o, ev_hook_name(e->hook));
	o = put_pad(o, start, W_HOOK);
	/* pid, right aligned; "-" when the hook cannot know it */
	if (e->pid) {
		n = put_u64(num, e->pid) - num;
	} else {
		num[0] = '-';
		n = 1;
	}
	if (n < W_PID) {
		memset(o, ' ', W_PID - n);
		o += W_PID - n;
	}
	o = put_mem(o, num, n);
	*o++ = ' ';
	start = o;
	n = strnlen(e->comm, NM_COMM_LEN);
	o = n ? put_text_esc(o, e->comm, n) : PUT_LIT(o, "-");
	o = put_pad(o, start, W_COMM);
	start = o;
	if (cg && cg->tlen)
		o = put_mem(o, cg->text, cg->tlen);
	else if (e->cgroup_id)
		o = put_u64(PUT_LIT(o, "id:"), e->cgroup_id);
	else
		o = PUT_LIT(o, "-");
	o = put_pad(o, start, W_CGROUP);
	start = o;
	o = put_proto(o, e->protocol);
	o = put_pad(o, start, W_PROTO);
	start = o;
	o = put_endpoint(o, e->family, x.laddr, x.lport, x.lknown);
	o = put_pad(o, start, W_ADDR);
	start = o;
	o = put_endpoint(o, e->family, x.raddr, x.rport, x.rknown);
	o = put_pad(o, start, W_ADDR);
	o = put_mem(o, rule->text, rule->len);
	*o++ = '\n';
	b->len = o - b->p;
}
