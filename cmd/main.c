// SPDX-License-Identifier: GPL-2.0
/* netmonctl: global options and the command table. */
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include "cmds.h"

static int do_help(int argc, char **argv);
static int do_version(int argc, char **argv);

const struct nm_cmd nm_commands[] = {
	{ "help", do_help, false, "", "this help (-j: the command tables, for tests and tools)" },
	{ "load", do_load, false, "[ringbuf BYTES] [entries N]", "load and pin the programs (upgrades in place)" },
	{ "pin", do_pin, false, "{ prog | map | link } NAME PATH", "pin one object at another bpffs path" },
	{ "attach", do_attach, false, "[cgroup PATH] [lsm]", "attach; bare = every layer, system-wide" },
	{ "detach", do_detach, false, "[cgroup PATH] [lsm]", "reverse of attach" },
	{ "unload", do_unload, true, "", "detach and remove everything" },
	{ "deny", do_deny, false, "COMMAND", "the deny lists:", nm_deny_cmds },
	{ "allow", do_allow, false, "COMMAND", "the allow lists (exceptions inside a scope):", nm_allow_cmds },
	{ "policy", do_policy, false, "COMMAND", "scopes and their defaults:", nm_policy_cmds },
	{ "mode", do_mode, false, "[ enforce | audit ]", "show or set the mode" },
	{ "events", do_events, false, "[count N] [timeout SEC] [output {text|json|journal}] [FILTER...]", "stream blocked operations" },
	{ "status", do_status, false, "", "what is loaded, attached, counted" },
	{ "save", do_save, false, "[ FILE | - ]", "the whole state: load sizes, mode, attachments, scopes, rules" },
	{ "restore", do_restore, false, "{ FILE | - }", "make the kernel match a saved state, each list in one switch" },
	{ "version", do_version, false, "", "the version and the layout it writes" },
	{ NULL, NULL, false, NULL, NULL },
};

static const char nm_shortopts[] = "+jpdqVh"; /* +: stop at the command */
static const struct option nm_longopts[] = {
	{ "json", no_argument, NULL, 'j' },	   { "pretty", no_argument, NULL, 'p' },
	{ "debug", no_argument, NULL, 'd' },	   { "version", no_argument, NULL, 'V' },
	{ "help", no_argument, NULL, 'h' },	   { "pin-dir", required_argument, NULL, 'P' },
	{ "nomount", no_argument, NULL, 'N' },	   { "quiet", no_argument, NULL, 'q' },
	{ NULL, 0, NULL, 0 },
};

void nm_help_usage(const char *path, const struct nm_cmd *cmds)
{
	const struct nm_cmd *c;

	for (c = cmds; c->name; c++)
		fprintf(stderr, "%s netmonctl %s%s%s%s%s\n", c == cmds ? "Usage:" : "      ", path ? path : "",
			path ? " " : "", c->name, *c->args ? " " : "", c->args);
}

int nm_help_one(const char *name)
{
	const struct nm_cmd *c;

	for (c = nm_commands; c->name && strcmp(c->name, name); c++)
		;
	if (c->name)
		fprintf(stderr, "Usage: netmonctl %s%s%s\n", c->name, *c->args ? " " : "", c->args);
	return 0;
}

/* One command line of `help`: its name and arguments, then its summary. */
static void help_line(const char *path, const struct nm_cmd *c)
{
	char head[160];

	snprintf(head, sizeof(head), "%s%s%s%s%s", path ? path : "", path ? " " : "", c->name,
		 *c->args ? " " : "", c->args);
	if (strlen(head) <= 34)
		fprintf(stderr, "  %-34s  %s\n", head, c->summary);
	else
		fprintf(stderr, "  %s\n  %-34s  %s\n", head, "", c->summary);
}

/* `help -j`: the tables themselves, so a test checks the man page and the
 * completion against what the binary takes (tests/bats/docs.bats). */
static int help_json(void)
{
	json_t *cmds = json_array(), *opts = json_array(), *hooks = json_array();
	const struct nm_cmd *c, *d;
	const struct option *o;
	char name[64];
	int i;

	for (c = nm_commands; c->name; c++) {
		for (d = c->sub ? c->sub : c; d->name; d++) {
			snprintf(name, sizeof(name), "%s%s%s", c->sub ? c->name : "", c->sub ? " " : "", d->name);
			json_array_append_new(cmds, json_pack("{s:s, s:s, s:s, s:b}", "command", name, "args",
							      d->args, "summary", d->summary, "whole", d->whole));
			if (!c->sub)
				break;
		}
	}
	for (o = nm_longopts; o->name; o++)
		json_array_append_new(opts, json_pack("{s:s, s:s%}", "long", o->name, "short",
						      (char[]){ (char)o->val, 0 },
						      (size_t)(strchr(nm_shortopts, o->val) ? 1 : 0)));
	for (i = 0; nm_events_hook_words[i]; i++)
		json_array_append_new(hooks, json_string(nm_events_hook_words[i]));
	nm_json_print(json_pack("{s:o, s:o, s:o, s:s, s:s}", "commands", cmds, "options", opts, "hooks", hooks,
				"rule", NM_HELP_RULE_GRAMMAR, "filter", NM_HELP_FILTER));
	return 0;
}

static int do_help(int argc, char **argv)
{
	const struct nm_cmd *c, *d;

	(void)argv;
	if (nm_opts.json && argc >= 0)
		return help_json();
	fprintf(stderr, "Usage: netmonctl [OPTIONS] COMMAND [ARGS]\n\nCommands:\n");
	for (c = nm_commands; c->name; c++) {
		if (!c->sub) {
			help_line(NULL, c);
			continue;
		}
		for (d = c->sub; d->name; d++)
			if (strcmp(d->name, "help"))
				help_line(c->name, d);
	}
	fprintf(stderr,
		"\n"
		NM_HELP_RULE
		NM_HELP_FILTER
		"\n"
		"Options:\n"
		"  -j, --json        JSON output        -p, --pretty   pretty JSON (implies -j)\n"
		"  -d, --debug       libbpf's log, the verifier's statistics and errors\n"
		"  -q, --quiet       no success lines (data, warnings and errors still print)\n"
		"  --pin-dir DIR     pins (default %s, env NETMONCTL_PIN_DIR)\n"
		"  --nomount         do not mount bpffs when it is missing\n"
		"  -V, --version     -h, --help\n"
		"\n"
		"Exit status: 0 success, 1 runtime error, 2 usage error (nothing changed).\n"
		"Commands and keywords may be abbreviated to any unique prefix\n"
		"(but unload, deny|allow flush, deny|allow replace and policy del only in\n"
		"full). Options may come after the command.\n",
		NM_DEFAULT_PIN_DIR);
	return argc < 0 ? nm_usage("usage", "expected a command; see 'netmonctl help'") : 0;
}

static int do_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	if (nm_opts.json)
		nm_json_print(json_pack("{s:s, s:i}", "version", NM_VERSION, "layout_version",
					NM_LAYOUT_VERSION));
	else
		printf("netmonctl %s (layout %d)\n", NM_VERSION, NM_LAYOUT_VERSION);
	return 0;
}

/*
 * Global options after the command (`netmonctl status -j`): taken out of
 * argv wherever they stand, exact words only, so that what a command takes
 * that starts with '-' (a `-` for stdin, `timeout -1`, which it then
 * rejects itself) still reaches it. `--` ends them. Returns the new argc.
 */
static int nm_take_options(int argc, char **argv, bool *want_help)
{
	int i, out = 0;
	bool done = false;

	for (i = 0; i < argc; i++) {
		const char *a = argv[i];

		if (done || i == 0 || a[0] != '-' || !a[1]) {
			argv[out++] = argv[i];
			continue;
		}
		if (!strcmp(a, "--"))
			done = true;
		else if (!strcmp(a, "-j") || !strcmp(a, "--json"))
			nm_opts.json = true;
		else if (!strcmp(a, "-p") || !strcmp(a, "--pretty"))
			nm_opts.json = nm_opts.pretty = true;
		else if (!strcmp(a, "-d") || !strcmp(a, "--debug"))
			nm_opts.debug = true;
		else if (!strcmp(a, "-q") || !strcmp(a, "--quiet"))
			nm_opts.quiet = true;
		else if (!strcmp(a, "--nomount"))
			nm_opts.nomount = true;
		else if (!strcmp(a, "-h") || !strcmp(a, "--help"))
			*want_help = true;
		else if (!strcmp(a, "--pin-dir") && i + 1 < argc)
			nm_opts.pin_dir = argv[++i];
		else
			argv[out++] = argv[i];
	}
	argv[out] = NULL;
	return out;
}

int nm_finish(json_t *report, int err)
{
	if (nm_opts.json && !err)
		nm_json_print(report);
	else
		json_decref(report);
	return err;
}

/*
 * Every error is printed here, once, after the command returned: src/ and
 * the handlers only record it (nm_fail). The exit status is the recorded
 * code, so `-j` output's "exit" is the process's; a failure nobody recorded
 * still gets a line.
 */
static int nm_exit(const char *cmd, int rc)
{
	if (rc == 0)
		return 0;
	if (!nm_error_code() && rc == NM_EXIT_USAGE)
		nm_usage(cmd, "usage error; see 'netmonctl help'");
	else if (!nm_error_code())
		nm_fail(rc, cmd, "failed (exit %d)", rc);
	nm_error_print();
	return nm_error_code();
}

/* Capabilities are checked once, here, so the message is exact. */
static bool nm_have_caps(void)
{
	char line[256];
	unsigned long long eff = 0;
	FILE *f;

	if (geteuid() == 0)
		return true;
	f = fopen("/proc/self/status", "re");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &eff) == 1)
			break;
	fclose(f);
	/* CAP_BPF (39) and CAP_NET_ADMIN (12), or CAP_SYS_ADMIN (21). */
	return (eff & (1ull << 21)) || ((eff & (1ull << 39)) && (eff & (1ull << 12)));
}

/*
 * Before 5.11 the kernel charges BPF memory to RLIMIT_MEMLOCK, counted for
 * the user across every map it owns, and against the limit of the task
 * asking now: attaching a program that has cgroup storage (the cgroup
 * layer, a scope) allocates some, and on 5.10 failed with ENOMEM from any
 * command but `load` (libbpf raises the limit only around its own map and
 * program creation). Raised once for every command, as bpftool does; a
 * user not allowed to raise it keeps the one it has.
 */
static void nm_memlock_unlimited(void)
{
	struct rlimit r = { RLIM_INFINITY, RLIM_INFINITY };

	setrlimit(RLIMIT_MEMLOCK, &r);
}

int main(int argc, char **argv)
{
	const char *env = getenv("NETMONCTL_PIN_DIR");
	char *help_argv[3];
	bool want_help = false;
	int opt;

	/* A fixed threshold (no dynamic raise after a free) keeps every big
	 * array in its own mapping, which nm_advise_huge() relies on. */
	mallopt(M_MMAP_THRESHOLD, NM_HUGE_MIN / 2);
	nm_memlock_unlimited();
	if (env && *env)
		nm_opts.pin_dir = env;
	opterr = 0; /* one error line, from nm_exit() */
	/* Options before the command here; after it, nm_take_options(). */
	while ((opt = getopt_long(argc, argv, nm_shortopts, nm_longopts, NULL)) != -1) {
		switch (opt) {
		case 'j': nm_opts.json = true; break;
		case 'p': nm_opts.json = nm_opts.pretty = true; break;
		case 'd': nm_opts.debug = true; break;
		case 'q': nm_opts.quiet = true; break;
		case 'V': return do_version(0, NULL);
		case 'h': want_help = true; break;
		case 'P': nm_opts.pin_dir = optarg; break;
		case 'N': nm_opts.nomount = true; break;
		default:
			return nm_exit("netmonctl", nm_usage(argv[optind - 1], "unknown option or missing "
							      "value; see 'netmonctl help'"));
		}
	}
	argc -= optind;
	argv += optind;
	argc = nm_take_options(argc, argv, &want_help);
	if (want_help && argc < 1)
		return do_help(0, NULL);
	if (want_help) { /* `netmonctl deny -h`: that command's help */
		help_argv[0] = argv[0];
		help_argv[1] = "help";
		help_argv[2] = NULL;
		argc = 2;
		argv = help_argv;
	}
	if (argc < 1)
		return nm_exit("netmonctl", do_help(-1, NULL));
	if (strcmp(argv[0], "help") && strcmp(argv[0], "version") && !nm_is_prefix(argv[0], "help") &&
	    !nm_have_caps())
		return nm_exit(argv[0], nm_fail(NM_EXIT_RUNTIME, argv[0],
						"needs root (CAP_BPF and CAP_NET_ADMIN); uid %u has neither",
						geteuid()));
	return nm_exit(argv[0], nm_dispatch("netmonctl", nm_commands, argc, argv, do_help));
}
