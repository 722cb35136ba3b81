/* cmd/run.c — `kvmm run`. */
#include "cmd/cmd.h"

#include <stdio.h>

int cmd_run(int argc, char **argv)
{
	fprintf(stderr, "kvmm run: not built yet\n");
	return 1;
}
