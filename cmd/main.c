// SPDX-License-Identifier: GPL-2.0
/* netmonctl: global options and the command table. */
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cmds.h"

static int do_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr,
		"Usage: netmonctl [OPTIONS] COMMAND [ARGS]\n"
		"\n"
		"Commands:\n"
		"  load [ringbuf BYTES] [entries N]   load and pin the programs (upgrades in place)\n"
		"  attach [cgroup PATH] [lsm]          attach; bare = every layer, system-wide\n"
		"  detach [cgroup PATH] [lsm]          reverse of attach\n"
		"  pin { prog | map | link } NAME PATH pin one object at another bpffs path\n"
		"  unload                              detach and remove everything\n"
		"  deny { add | del } RULE             edit the deny list\n"
		"  deny { add | del | replace } file { FILE | - }\n"
		"                                      add, delete or replace many rules, all or nothing\n"
		"  deny { list | flush }\n"
		"  deny test ADDR [port N] [proto P] [dir D]  which rules hold for one operation\n"
		"  mode [ enforce | audit ]            show or set the mode\n"
		"  events [count N] [timeout SEC] [FILTER...]  stream blocked operations\n"
		"  status                              what is loaded, attached, counted\n"
		"  save [ FILE | - ]                   the whole state: load sizes, mode, attachments, rules\n"
		"  restore { FILE | - }                make the kernel match a saved state, in one switch\n"
		"  help\n"
		"\n"
		NM_HELP_RULE
		"FILTER := hook HOOK | verdict { deny | audit } | pid PID | comm NAME |\n"
		"          cgroup PATH | addr ADDR[/LEN] | port { N | N-M }\n"
		"\n"
		"Options:\n"
		"  -j, --json        JSON output        -p, --pretty   pretty JSON (implies -j)\n"
		"  -d, --debug       libbpf and verifier logs\n"
		"  -q, --quiet       no success lines (data, warnings and errors still print)\n"
		"  --pin-dir DIR     pins (default %s, env NETMONCTL_PIN_DIR)\n"
		"  --nomount         do not mount bpffs when it is missing\n"
		"  -V, --version     -h, --help\n"
		"\n"
		"Exit status: 0 success, 1 runtime error, 2 usage error (nothing changed).\n"
		"Commands and keywords may be abbreviated to any unique prefix\n"
		"(but unload, deny flush and deny replace only in full). Options may come after\n"
		"the command.\n",
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

static const struct nm_cmd nm_commands[] = {
	{ "help", do_help },	 { "load", do_load },	  { "pin", do_pin },
	{ "attach", do_attach }, { "detach", do_detach }, { "unload", do_unload, true },
	{ "deny", do_deny },	 { "mode", do_mode },	  { "events", do_events },
	{ "status", do_status }, { "save", do_save },	  { "restore", do_restore },
	{ "version", do_version }, { NULL, NULL },
};

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

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },	   { "pretty", no_argument, NULL, 'p' },
		{ "debug", no_argument, NULL, 'd' },	   { "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },	   { "pin-dir", required_argument, NULL, 'P' },
		{ "nomount", no_argument, NULL, 'N' },	   { "quiet", no_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 },
	};
	const char *env = getenv("NETMONCTL_PIN_DIR");
	char *help_argv[3];
	bool want_help = false;
	int opt;

	/* A fixed threshold (no dynamic raise after a free) keeps every big
	 * array in its own mapping, which nm_advise_huge() relies on. */
	mallopt(M_MMAP_THRESHOLD, NM_HUGE_MIN / 2);
	if (env && *env)
		nm_opts.pin_dir = env;
	opterr = 0; /* one error line, from nm_exit() */
	/* Options anywhere (GNU getopt permutes): `netmonctl status -j` too.
	 * Nothing a command takes starts with '-' but `-` (stdin) itself. */
	while ((opt = getopt_long(argc, argv, "jpdqVh", longopts, NULL)) != -1) {
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
