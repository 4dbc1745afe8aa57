/* SPDX-License-Identifier: GPL-2.0 */
/* One handler per command; each lives in cmd/<command>.c. */
#ifndef NM_CMDS_H
#define NM_CMDS_H

#include "nm.h"

int do_load(int argc, char **argv);
int do_pin(int argc, char **argv);
int do_attach(int argc, char **argv);
int do_detach(int argc, char **argv);
int do_unload(int argc, char **argv);
int do_deny(int argc, char **argv);
int do_allow(int argc, char **argv);
int do_policy(int argc, char **argv);
int deny_test(int argc, char **argv); /* deny_test.c */
int do_mode(int argc, char **argv);
int do_events(int argc, char **argv);
int do_status(int argc, char **argv);
int do_save(int argc, char **argv);
int do_restore(int argc, char **argv);

/* The command tables (main.c, deny.c): the one source of usage lines. */
extern const struct nm_cmd nm_commands[];
extern const struct nm_cmd nm_deny_cmds[];
extern const struct nm_cmd nm_allow_cmds[];
extern const struct nm_cmd nm_policy_cmds[];
/* "Usage: netmonctl PATH NAME ARGS" for each command of a table (PATH:
 * "deny"), or for the one named NAME of the top table (nm_help_one). */
void nm_help_usage(const char *path, const struct nm_cmd *cmds);
int nm_help_one(const char *name);

/* The RULE grammar, for `help` and `deny help` (man/netmonctl.8 and
 * README.md say the same; tests/bats/docs.bats checks). */
/* The grammar alone (what `help -j` gives), then the help's note on NAME. */
#define NM_HELP_RULE_GRAMMAR                                                          \
	"RULE := { ADDR[/LEN] | any } [port PORTS] [proto PROTO]\n"                   \
	"        [dir { egress | ingress | bind }] [comment TEXT]\n"                   \
	"PROTO := { tcp | udp | sctp | icmp | icmpv6 | raw | any | NUMBER }\n"         \
	"PORTS := { N | N-M | NAME }[,...]"
#define NM_HELP_RULE                                                                  \
	NM_HELP_RULE_GRAMMAR "  NAME: a service name (/etc/services)\n"                \
	"TEXT: up to 63 printable ASCII characters, no \" or \\\n"
#define NM_HELP_FILTER                                                                \
	"FILTER := hook HOOK | verdict { deny | audit } | pid PID | comm NAME |\n"     \
	"          cgroup PATH | addr ADDR[/LEN] | port { N | N-M }\n"

/* Print a command's JSON report, or drop it in text mode. */
int nm_finish(json_t *report, int err);
/* `attach`/`detach` share their grammar: [cgroup PATH] [lsm]. */
struct nm_target {
	const char *cgroup; /* NULL: none given */
	bool lsm;
	bool bare;
};
int nm_parse_target(const char *cmd, int argc, char **argv, struct nm_target *t);
int nm_bare_root(const char *cmd, char *buf, size_t len);
int nm_target_cmd(const char *cmd, int argc, char **argv, bool attach);
/* Fail unless netmonctl is loaded at the pin dir. */
int nm_require_loaded(const char *cmd);
/* bpffs mounted, the pin dir made, its lock taken: what `load` needs. */
int nm_lock_for_load(int *lock);
/* Loaded, with the pin-dir lock held (*lock: close it when done). */
int nm_lock_loaded(const char *cmd, int *lock);

#endif
