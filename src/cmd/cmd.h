/* cmd/cmd.h — the subcommands of the kvmm binary. Each parses its own argv (argv[0] is the
 * subcommand name) and returns the process exit status. Main thread only. */
#pragma once

int cmd_run(int argc, char **argv);
int cmd_img(int argc, char **argv);
int cmd_net(int argc, char **argv);
int cmd_ctl(int argc, char **argv);
