/* SPDX-License-Identifier: GPL-2.0 */
/* netmonctl core: what the commands in cmd/ build on. */
#ifndef NM_H
#define NM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <linux/bpf.h>
#include "netmonctl.h"

#define NM_VERSION "0.1.0"
#define NM_VERSION_CODE ((0u << 16) | (1u << 8) | 0u)
#define NM_DEFAULT_PIN_DIR "/sys/fs/bpf/netmonctl"
#define NM_DEFAULT_RINGBUF (4u << 20)
#define NM_DEFAULT_ENTRIES (1u << 20) /* per store: hosts and nets */

/* Exit codes (documented in netmonctl(8)). */
enum nm_exit {
	NM_EXIT_OK = 0,
	NM_EXIT_RUNTIME = 1, /* the kernel or the system said no */
	NM_EXIT_USAGE = 2,   /* bad command line or rule: nothing changed */
};

/* ---- global options (cmd/main.c) ---- */
struct nm_opts {
	const char *pin_dir;
	bool json;
	bool pretty;
	bool debug;
	bool nomount;
	bool quiet; /* -q: no success lines (nm_info); data and errors still print */
};
extern struct nm_opts nm_opts;

/* ---- util.c: errors, keywords, numbers ---- */
/* Record `<what>: <why>` with its exit code, return the code. Nothing is
 * printed here: main() prints the recorded error once when the command
 * fails. The first error recorded wins (it is the most specific). */
int nm_fail(int code, const char *what, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int nm_usage(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int nm_sys(const char *what, int err); /* runtime error from a negative errno */
int nm_error_code(void); /* the recorded exit code, 0 when none */
void nm_error_clear(void); /* a failure handled and recovered from */
void nm_error_print(void); /* main() only */
/* A success line on stdout: not in JSON mode, not with -q. */
void nm_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *nm_errno_name(int err);
/* The kernel's internal "operation not supported" (include/linux/errno.h),
 * which BPF hands to user space as is; libc has no name for it. */
#define NM_ENOTSUPP 524
bool nm_is_prefix(const char *arg, const char *keyword);
/* Index of the keyword `arg` abbreviates uniquely in NULL-terminated `kw`; -1 none, -2 ambiguous. */
int nm_keyword(const char *arg, const char *const *kw);
/* Decimal digits only (no blank, sign or empty string), at most max: 0 or -EINVAL. */
int nm_parse_u64(const char *s, uint64_t max, uint64_t *out);
int nm_parse_size(const char *s, uint64_t *out); /* N, NK, NM, NG */
/* Seconds as SEC[.FRACTION] (at most 9 fraction digits), at most max: nanoseconds. */
int nm_parse_port_range(const char *s, size_t len, uint16_t *lo, uint16_t *hi); /* N or N-M */
int nm_parse_seconds(const char *s, uint64_t max, uint64_t *ns);
/* Big arrays of bulk edits: calloc that asks for transparent huge pages. */
#define NM_HUGE_MIN (2u << 20)
void nm_advise_huge(void *p, size_t bytes);
void *nm_calloc_big(size_t n, size_t size);
/* *pv (an array of elements of size bytes, *cap of them) made room for at
 * least want, doubling from 16: 0, or -ENOMEM with *pv unchanged. */
int nm_array_grow(void *pv, size_t *cap, size_t want, size_t size);

/* Dispatch helper: run the handler whose keyword argv[0] abbreviates. */
/* A command table entry: also the one source of its usage line (help,
 * CMD help, `help -j`, and through that the docs test). */
struct nm_cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	bool whole;          /* takes no abbreviation: it can remove everything (unload, flush, replace) */
	const char *args;    /* its arguments, in the grammar of the man page */
	const char *summary; /* one line for `help` */
	const struct nm_cmd *sub; /* its own commands (deny), or NULL */
};
/* events_filter.c: what `events hook` takes (program names, then operations) */
extern const char *const nm_events_hook_words[];
int nm_dispatch(const char *what, const struct nm_cmd *cmds, int argc, char **argv,
		int (*help)(int argc, char **argv));

/* ---- output.c ---- */
void nm_json_print(json_t *root); /* steals root */
json_t *nm_json_counters(const struct nm_counters *c);

/* ---- bpffs.c: pin directory ---- */
#define NM_PATH_MAX 512
int nm_pin_path(char *buf, size_t len, const char *sub, const char *name);
int nm_pin_dir_check(void);  /* absolute, no . or .. (usage error) */
int nm_bpffs_prepare(void);  /* load only: mount bpffs where allowed, make the pin dir */
bool nm_pin_dir_tidy(void);  /* rmdir what netmonctl made, if empty; true: pin dir gone */
bool nm_on_bpffs(const char *path);
bool nm_bpffs_present(void); /* the pin dir's nearest existing ancestor is on bpffs */
bool nm_is_loaded(void);
int nm_lock(void); /* exclusive lock on the pin dir; fd or -errno */
int nm_lock_shared(void); /* the same, shared: readers that walk the maps */
int nm_lock_try_shared(void); /* shared, or -EWOULDBLOCK while a command holds it */
int nm_unpin(const char *path);

/* ---- cgroup.c ---- */
int nm_cgroup2_mount(char *buf, size_t len);
int nm_cgroup_id(const char *path, uint64_t *id);
int nm_cgroup_path(uint64_t id, char *buf, size_t len); /* search the cgroup2 tree */
int nm_cgroup_resolve(const char *arg, char *buf, size_t len); /* absolute, on cgroup2 */

/* ---- objects.c: the programs and maps netmonctl owns ---- */
enum nm_layer { NM_LAYER_CGROUP, NM_LAYER_LSM };
struct nm_prog_desc {
	const char *name;    /* pin name, also `status` name */
	const char *section; /* what a person knows it as */
	enum nm_hook hook;
	enum bpf_attach_type attach_type;
	enum nm_layer layer;
};
extern const struct nm_prog_desc nm_progs[NM_HOOK_MAX];
extern const char *const nm_map_names[];
const struct nm_prog_desc *nm_prog_by_name(const char *name);
int nm_open_map(const char *name); /* fd or -errno */
int nm_open_prog(const char *name);
int nm_map_check(int fd, const char *name, uint32_t key_size, uint32_t value_size);
int nm_unpin_objects(void); /* unlink the prog and map pins netmonctl names */
int nm_config_read(struct nm_config *cfg);
int nm_config_write(const struct nm_config *cfg);
int nm_meta_read(struct nm_meta *m, uint32_t *gen); /* the active generation's */
int nm_meta_read_gen(uint32_t gen, struct nm_meta *m);
int nm_meta_write_gen(uint32_t gen, const struct nm_meta *m);
/* The layout that wrote the pinned state (config's first field). */
int nm_pinned_layout(uint32_t *version);
/* Entry key of a pinned array, its first size bytes, whatever its value size. */
int nm_array_read_raw(const char *name, uint32_t key, void *out, size_t size);
int nm_unpin_old_meta(void);
#define NM_LAYOUT_MIGRATES_FROM 2 /* `load` upgrades pins of this layout and newer in place */
int nm_counters_read(struct nm_counters out[NM_HOOK_MAX]);
const char *nm_layer_name(enum nm_layer l);

/* ---- probe.c: what the kernel can do ---- */
struct nm_kernel {
	char release[128];
	bool btf;
	bool bpffs;
	char cgroup2[NM_PATH_MAX];
	int lsm_active; /* 1 yes, 0 no, -1 unknown (securityfs not readable) */
	bool lsm_loadable;
	int lsm_errno;  /* why not, when !lsm_loadable */
	char lsm_list[256];
	uint32_t ctx_helpers; /* NM_HELPER_* available to cgroup sock_addr hooks */
};
/* loaded: the config of a loaded netmonctl, whose probe results are reused; or NULL. */
void nm_probe_kernel(struct nm_kernel *k, const struct nm_config *loaded);
int nm_probe_lsm(void);              /* 0 loadable, else -errno */
uint32_t nm_probe_ctx_helpers(void); /* NM_HELPER_* bits */
const char *nm_lsm_reason(int err);

/* ---- rule.c: text <-> rule ---- */
struct nm_rule {
	uint8_t dir;
	uint8_t family; /* NM_FAM_* (ANY for `any`) */
	uint8_t plen;   /* address prefix length, 0 for any */
	uint8_t addr[16];
	struct nm_port_rule port;
	uint16_t list; /* nm_list_id(): 0 the global deny list; not in a rule's text */
	uint32_t note; /* its `comment TEXT`: nm_note_text(note); 0 none */
};
#define NM_RULE_TEXT_MAX 256 /* nm_rule_format() with a comment */
#define NM_PORT_LIST_MAX 64 /* elements of one `port` list */
/* Rules one RULE can stand for: a service name may give one per protocol. */
#define NM_RULE_SPLIT_MAX (2 * NM_PORT_LIST_MAX)
/* Parse argv words into the rules they stand for (one per port list
 * element and protocol, duplicates folded) in out[0..max-1]; returns how
 * many (>= 1), or -EINVAL with a message in err. */
int nm_rule_parse(int argc, char **argv, struct nm_rule *out, int max, char *err, size_t errlen);
/* The same for a rules file line: 0 for a blank or comment line. */
int nm_rule_parse_line(char *line, struct nm_rule *out, int max, char *err, size_t errlen);
/* The words of a line, in place: blanks separate them, "a quoted word"
 * may hold blanks and `#`, an unquoted `#` ends the line. Returns how
 * many (<= max), or -EINVAL with a message in err. */
int nm_line_words(char *line, char **w, int max, char *err, size_t errlen);
/* A word as nm_line_words() reads it back: quoted when it holds a blank or
 * a `#` (a word with a `"` cannot hold those). Returns buf or w. */
const char *nm_word_format(const char *w, char *buf, size_t len);
const char *nm_proto_name(uint8_t protos, uint8_t family); /* a class, as `proto` reads it */
void nm_rule_format(const struct nm_rule *r, char *buf, size_t len);
/* ` comment "TEXT"` after a rule's text (nm_note_check() keeps quotes out
 * of TEXT), into buf; "" for no note. Returns buf. */
const char *nm_note_format(const char *note, char *buf, size_t len);
void nm_rule_key(const struct nm_rule *r, struct nm_rule_key *k);
void nm_rule_from_key(const struct nm_rule_key *k, const struct nm_port_rule *p, struct nm_rule *r);
void nm_addr_format(uint8_t family, const uint8_t *addr, char *buf, size_t len);
#define NM_RULE_JSON_MAX 640
/* How the attached layers enforce a rule (nm_rule_enforced). */
enum nm_enforced {
	NM_ENF_NO = 0,     /* no attached layer sees its direction */
	NM_ENF_YES = 1,
	NM_ENF_PARTLY = 2, /* TCP and UDP yes, its port-less classes only under LSM */
};
enum nm_enforced nm_rule_enforced(const struct nm_rule *r, unsigned dirs);
size_t nm_rule_json_line(const struct nm_rule *r, int enforced, char *buf, size_t size);
json_t *nm_rule_json(const struct nm_rule *r, int enforced);
extern const char *const nm_dir_names[NM_DIR_MAX];
extern const char *const nm_dir_keywords[NM_DIR_MAX + 1]; /* the same, NULL-terminated, for nm_keyword */

/* ---- cmdargs.c: command arguments, argv -> struct (nothing printed) ----
 * Each returns 0, or -EINVAL with the reason in err; the command reports
 * it as `<command>: <err>` (exit 2). Strings point into argv. */
struct nm_default_args { /* policy default { allow | deny } [dir DIR]... [cgroup PATH] */
	bool deny;
	uint8_t dirs;       /* 1 << NM_DIR_* of each dir given; 0 none (nm_default_apply) */
	const char *cgroup; /* NULL: the global scope */
};
int nm_default_args_parse(int argc, char **argv, struct nm_default_args *a, char *err, size_t errlen);
enum nm_where { NM_WHERE_NONE, NM_WHERE_CGROUP, NM_WHERE_PID };
struct nm_query_args { /* deny test ADDR [port N] [proto P] [dir D] [cgroup PATH | pid PID] */
	struct nm_rule op;     /* one address (full prefix length); one port, or 0-65535 */
	bool any_port;         /* no port given */
	enum nm_where where;
	const char *where_arg; /* the PATH or PID word; NULL for NM_WHERE_NONE */
	uint64_t pid;          /* NM_WHERE_PID: 1..INT_MAX */
};
/* Takes a trailing `cgroup PATH` or `pid PID` off the words (*argc - 2). */
int nm_query_where_parse(int *argc, char **argv, struct nm_query_args *q, char *err, size_t errlen);
/* The words before it; err as nm_rule_parse() writes it. */
int nm_query_parse(int argc, char **argv, struct nm_query_args *q, char *err, size_t errlen);

/* ---- rulefile.c: rules files, all or nothing ---- */
#define NM_RULEFILE_LINE_MAX 4096 /* bytes of one line, without its LF */
struct nm_rules {
	struct nm_rule *v;
	size_t n, cap;
};
int nm_rules_reserve(struct nm_rules *rs, size_t cap);
int nm_rules_push(struct nm_rules *rs, const struct nm_rule *r);
void nm_rules_free(struct nm_rules *rs);
/* Rules from..n go into list: outside the global deny list `any` becomes
 * 0.0.0.0/0 and ::/0 (the second appended). 0 or -ENOMEM. */
int nm_rules_set_list(struct nm_rules *rs, size_t from, uint16_t list);
/* Append every rule read from fd to rs; on error rs is as it was. Returns 0,
 * -EINVAL for bad content ("NAME:LINE: why" in err), -ENOMEM, or the -errno
 * of a failed read ("NAME: why"). Waits with poll() on a non-blocking fd. */
int nm_rulefile_read(int fd, const char *name, struct nm_rules *rs, char *err, size_t errlen);
/* The same reading and byte checks for any line file: fn gets each line
 * (NUL-terminated, no LF), returns 0 or -errno with a message in msg. */
typedef int (*nm_line_fn)(void *arg, char *line, char *msg, size_t msglen);
int nm_linefile_read(int fd, const char *name, nm_line_fn fn, void *arg, char *err, size_t errlen);
extern size_t nm_rulefile_chunk; /* largest read(2), for tests: default 64 KiB */

/* ---- statefile.c: the desired state `restore` reads, all or nothing ---- */
struct nm_load_opts { /* `load` arguments (loader.c) */
	uint32_t ringbuf;
	uint32_t entries;
	bool ringbuf_set, entries_set;
};
struct nm_state {
	bool load_set;
	struct nm_load_opts load; /* when nothing is loaded yet */
	int mode;                 /* NM_MODE_*, or -1: not given (left as it is) */
	bool lsm;                 /* attach lsm */
	char **cgroups;           /* attach cgroup PATH */
	size_t n_cgroups;
	/* deny|allow RULE [cgroup PATH]: every list's rules; r->list is
	 * nm_list_id(0, allow) globally, nm_list_id(1 + i, allow) for scopes[i]
	 * (numbers of this file, not scope ids) */
	struct nm_rules rules;
	uint8_t default_deny; /* policy default ...: the global scope's dirs */
	struct nm_state_scope {
		char *cgroup; /* as the file names it */
		uint8_t default_deny;
	} *scopes;
	size_t n_scopes;
};
int nm_statefile_read(int fd, const char *name, struct nm_state *st, char *err, size_t errlen);
void nm_state_free(struct nm_state *st);
/* st->rules grouped by list, each list's rules in the file's order: list l
 * is rules.v[at[l]] .. rules.v[at[l + 1] - 1]. 0; -ENOMEM or -EINVAL (a
 * list >= NM_LISTS) with st as it was. */
int nm_state_group(struct nm_state *st, size_t at[NM_LISTS + 1]);

/* ---- store.c: the rule store in the pinned maps ----
 * Every edit is all or nothing as the hooks see it, however the command
 * ends: error, signal or SIGKILL (store_txn.c). The caller holds nm_lock(). */
/* *added gets the number of rules that were new. */
int nm_store_add(const struct nm_rule *rules, size_t n, size_t *added, char *err, size_t errlen);
/* Delete n rules: every rule must exist (else -ENOENT, the first missing
 * one named in err, nothing changed); a rule given twice counts once. */
int nm_store_del_many(const struct nm_rule *rules, size_t n, size_t *removed, char *err, size_t errlen);
/* Make the rule set exactly these rules, in one switch: a rule in both the
 * old and the new set is never lifted. *added, *removed: rules that came, went. */
int nm_store_replace(uint16_t list, const struct nm_rule *rules, size_t n, size_t *added, size_t *removed,
		     char *err, size_t errlen);
int nm_store_flush(uint16_t list, uint64_t *removed, char *err, size_t errlen);
/* The active generation's rules; the caller holds nm_lock_shared() or nm_lock(). */
typedef int (*nm_rule_cb)(const struct nm_rule *r, void *arg);
int nm_store_walk(int list, nm_rule_cb cb, void *arg); /* list -1: every list */
/* The rules of the active generation that hold for one operation: q is a
 * host address, its dir, protos and port (any port when any_port). */
int nm_store_test(const struct nm_rule *q, bool any_port, nm_rule_cb cb, void *arg);
/* Below maps/ while an edit writes: found by a later command, the edit was
 * killed, and that command repairs the counts first (store_repair.c). */
#define NM_EDIT_MARK "edit_in_progress"
bool nm_store_interrupted(void);
struct nm_repair {
	bool done;
	uint32_t gen;                       /* the active generation, which it kept */
	uint64_t rules_before, rules_after; /* meta's count, and what the maps hold */
	uint64_t dropped;                   /* rules of the killed edit taken back */
	uint64_t slots;                     /* bucket slots corrected */
	uint64_t sets;                      /* port sets no value named, removed */
};
extern struct nm_repair nm_store_last_repair; /* what this process repaired, for -d */
/* meta counted from the pinned maps, the rules of generation gen */
int nm_store_recount(uint32_t gen, bool with_sets, struct nm_meta *m);
int nm_store_class_sets(uint64_t *remade); /* load: sets of layouts 4-5 get their classes */
/* Every bucket slot of the array at buckets_fd counted from the pinned
 * rule maps (a migration fills its new array); *written: slots changed. */
int nm_store_recount_buckets(int buckets_fd, uint64_t *written);

/* ---- loader.c ---- */
int nm_load(const struct nm_load_opts *o, json_t *report); /* caller holds nm_lock() */
int nm_load_opts_parse(int argc, char **argv, struct nm_load_opts *o, char *err, size_t errlen);

/* ---- attach.c: the caller holds nm_lock() ---- */
int nm_attach_cgroup(const char *cg_path, json_t *report);
int nm_detach_cgroup(const char *cg_path, json_t *report);
int nm_attach_lsm(json_t *report);
int nm_attach_complete(json_t *report, int *completed); /* after an upgrade */
int nm_detach_lsm(json_t *report);
int nm_detach_all(void);
int nm_detach_cgroup_id(uint64_t cgid, json_t *report); /* also of a cgroup removed since */
/* What is attached: the cgroup ids (sorted, each once; *ids malloc'd) and
 * whether the LSM layer is attached and switched on. */
int nm_attached(uint64_t **ids, size_t *n, bool *lsm);
/* Call cb for each pinned link: name (below links/), link fd. */
typedef int (*nm_link_cb)(const char *name, int fd, void *arg);
int nm_links_walk(nm_link_cb cb, void *arg);
int nm_link_pins_walk(const char *sub, nm_link_cb cb, void *arg); /* links/ or scopes/ */
/* Rule directions the attached layers enforce: bits 1 << NM_DIR_*, and
 * NM_DIRS_LSM_SCOPES when the LSM layer checks scopes too (bpf_loop). */
#define NM_DIRS_LSM_SCOPES (1u << 8)
unsigned nm_enforced_dirs(void);
/* The program a link pin name of netmonctl's names, or NULL: not ours. */
const struct nm_prog_desc *nm_link_desc(const char *name);
int nm_link_release(const char *path); /* unpin and detach now */
bool nm_cgroup_layer_at(uint64_t cgid);

/* ---- hits.c: per-rule hit counts ---- */
struct nm_hit {
	struct nm_hit_key k;
	uint64_t n;
};
struct nm_hits {
	struct nm_hit *v; /* sorted by key */
	size_t n;
	bool full; /* the map is full: later first hits were not counted */
};
int nm_hits_load(struct nm_hits *h);
uint64_t nm_hits_of(const struct nm_hits *h, const struct nm_rule *r);
void nm_hits_free(struct nm_hits *h);
int nm_hits_prune(void); /* after an edit that removed rules; the caller holds the lock */
void nm_rule_hit_key(const struct nm_rule *r, struct nm_hit_key *hk); /* a rule's identity */

/* ---- notes.c: rule comments (`comment TEXT`, the `rule_notes` map) ---- */
/* The texts of this process, by id (1, 2, ...; 0 is none); NULL for 0. */
uint32_t nm_note_intern(const char *text); /* 0: out of memory */
const char *nm_note_text(uint32_t id);
void nm_note_pool_free(void);
/* Is text a comment netmonctl can store and print back? 0 or -EINVAL. */
int nm_note_check(const char *text, char *err, size_t errlen);
struct nm_note_ent {
	struct nm_hit_key k;
	uint32_t id;
};
struct nm_notes {
	struct nm_note_ent *v; /* sorted by key */
	size_t n;
};
int nm_notes_load(struct nm_notes *t); /* no map: an empty table */
void nm_notes_free(struct nm_notes *t);
uint32_t nm_notes_of(const struct nm_notes *t, const struct nm_rule *r);
/* What an add or replace of rules does to the stored comments (an add
 * without a comment keeps the rule's, a replace does not): worked
 * out before the rules switch (so a full table refuses the command), then
 * written after it. The caller holds the lock. */
struct nm_notes_edit {
	struct nm_note_ent *v; /* id 0: delete */
	size_t n;
};
int nm_notes_plan(const struct nm_rule *rules, size_t n, bool replace, struct nm_notes_edit *e, char *err,
		  size_t errlen);
int nm_notes_apply(const struct nm_notes_edit *e);
void nm_notes_edit_free(struct nm_notes_edit *e);
int nm_notes_prune(uint16_t list); /* after an edit that removed rules of list */

/* ---- scope.c: a cgroup subtree's own lists and default ---- */
/* A default's dir mask after `policy default {allow|deny}` for dirs (0: NM_DEFAULT_DIRS). */
uint8_t nm_default_apply(uint8_t mask, bool deny, uint8_t dirs);
int nm_scope_read(uint32_t id, struct nm_scope *rec);
int nm_scope_write(uint32_t id, const struct nm_scope *rec);
typedef int (*nm_scope_cb)(uint32_t id, const struct nm_scope *rec, void *arg);
int nm_scopes_walk(nm_scope_cb cb, void *arg); /* stops at a non-zero return */
bool nm_cgroup_has_scope(uint64_t cgid);
int nm_scope_of(uint64_t cgid, uint32_t *id, struct nm_scope *rec); /* 0, or -ENOENT: none */
int nm_scope_get(const char *what, const char *arg, bool create, uint32_t *id, struct nm_scope *rec);
int nm_scope_sync(uint32_t id, const struct nm_scope *rec);
int nm_scope_attached(uint32_t id);
int nm_scope_links_walk(nm_link_cb cb, void *arg);
int nm_scope_remove(uint32_t id);
/* Both lists emptied (each in one switch), then nm_scope_remove:
 * gone[allow] gets how many rules each held. 0, or -errno with err set. */
int nm_scope_drop(uint32_t id, uint64_t gone[2], char *err, size_t errlen);
int nm_scopes_detach_all(void);

#endif
