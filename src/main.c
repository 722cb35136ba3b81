/* main.c — `kvmm run|img|net|ctl|version|help`: dispatch argv[1] to a subcommand. */
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "base/compiler.h"
#include "base/version.h"

struct subcommand {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
};

static int cmd_version(int argc, char **argv)
{
	printf("kvmm %s\n", KVMM_VERSION);
	return 0;
}

static int cmd_help(int argc, char **argv);

static const struct subcommand subcommands[] = {
    {"run", cmd_run, "run a virtual machine (kvmm run --help)"},
    {"img", cmd_img, "create, inspect and convert disk images (kvmm img --help)"},
    {"net", cmd_net, "host-side NAT networks for VMs (kvmm net --help)"},
    {"ctl", cmd_ctl, "talk to a running VM over its QMP socket (kvmm ctl --help)"},
    {"version", cmd_version, "print the version"},
    {"help", cmd_help, "this help"},
};

static int cmd_help(int argc, char **argv)
{
	printf("usage: kvmm COMMAND [OPTIONS]\n\ncommands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(subcommands); i++)
		printf("  %-8s %s\n", subcommands[i].name, subcommands[i].help);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		cmd_help(argc, argv);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return cmd_help(argc, argv);
	if (!strcmp(argv[1], "--version"))
		return cmd_version(argc, argv);
	for (size_t i = 0; i < ARRAY_SIZE(subcommands); i++)
		if (!strcmp(argv[1], subcommands[i].name))
			return subcommands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "kvmm: unknown command '%s' (try 'kvmm help')\n", argv[1]);
	return 2;
}
