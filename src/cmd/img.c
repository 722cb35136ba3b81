/* cmd/img.c — `kvmm img`: placeholder until the block layer lands (issue 3). */
#include "cmd/cmd.h"

#include <stdio.h>

int cmd_img(int argc, char **argv)
{
	fprintf(stderr, "kvmm img: not built yet\n");
	return 1;
}
