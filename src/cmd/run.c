/* cmd/run.c — `kvmm run`: parse options (and --config JSON) into a vm_config, create the VM,
 * run it, and turn the result into the process exit status (documented in docs/run.md):
 *   0   guest powered off, or reset with --on-reboot exit, or stopped by signal / Ctrl-A x
 *   odd (v << 1) | 1 after the guest wrote v to the debug-exit port (--debug-exit)
 *   2   bad usage or configuration, or the VM could not be created
 *   4   a vCPU stopped on an unrecoverable exit (diagnostic on stderr) */
#include "cmd/cmd.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/steptime.h"
#include "cmd/demo_guest.h"
#include "vmm/config.h"
#include "vmm/qmp_server.h"
#include "vmm/vm.h"
#include "vmm/vm_qmp.h"

#define RUN_EXIT_USAGE 2
#define RUN_EXIT_FATAL 4

static const char run_usage[] =
    "usage: kvmm run [OPTIONS]\n"
    "\n"
    "Boot a virtual machine on /dev/kvm. With no --kernel, boots the built-in demo guest.\n"
    "\n"
    "  --kernel PATH        bzImage, ELF vmlinux, ELF with a PVH note, or multiboot v1 ELF\n"
    "  --initrd PATH        initial ramdisk (multiboot: the first module)\n"
    "  --cmdline STR        kernel command line\n"
    "  --memory SIZE        guest RAM, e.g. 512M, 2G (default 256M; a bare number is MiB)\n"
    "  --cpus N[,sockets=S,cores=C,threads=T]\n"
    "                       number of vCPUs and their topology (default 1)\n"
    "  --cpu MODEL[,+feat,-feat...]\n"
    "                       CPU model: host (default), x86-64-v1, x86-64-v2, x86-64-v3,\n"
    "                       x86-64-v4; features by /proc/cpuinfo name\n"
    "  --cpu-affinity VCPU=HOSTCPUS[,VCPU=HOSTCPUS...]\n"
    "                       pin vCPU threads, e.g. 0=2,1=3 or 0=0-3:1=4-7\n"
    "  --serial stdio|file:PATH|pty|none\n"
    "                       where COM1 goes (default stdio, none with --console stdio;\n"
    "                       Ctrl-A x quits, Ctrl-A h help)\n"
    "  --console off|stdio|pty|file:PATH[,transport=pci|mmio]\n"
    "                       virtio console (hvc0, on PCI by default; default off); stdio\n"
    "                       cannot be shared with an explicit --serial stdio\n"
    "  --disk path=FILE[,format=raw|qcow2|auto][,readonly=on][,serial=ID][,discard=on]\n"
    "         [,queues=N][,transport=pci|mmio][,packed=on][,cache=none|writeback]\n"
    "         [,aio=io_uring|threads]\n"
    "                       a virtio-blk disk, on PCI by default (repeatable, up to 8)\n"
    "  --rng on|off|RATE[,transport=pci|mmio][,packed=on]\n"
    "                       virtio-rng fed by getrandom, limited to RATE bytes/s\n"
    "                       (default 1M/s when on), on PCI by default\n"
    "  --net user[,net=A.B.C.D/N][,hostfwd=tcp|udp:[HADDR]:HPORT-[GADDR]:GPORT]...\n"
    "         [,restrict=on][,mac=M]  virtio-net on user-mode networking (libslirp)\n"
    "  --net tap,ifname=NAME[,queues=N][,mac=M]  virtio-net on a tap device\n"
    "  --net bridge,br=NAME[,ifname=TAP][,mac=M] a new tap attached to a bridge\n"
    "                       every --net takes [,transport=pci|mmio] (PCI by default)\n"
    "                       (repeatable, up to 4; see docs/net.md)\n"
    "  --restore DIR        start from the snapshot in DIR instead of booting, with the\n"
    "                       configuration saved in it; options given override it (a\n"
    "                       --disk or --net list replaces the saved one)\n"
    "  --debug-exit         isa-debug-exit at port 0xf4: writing v exits with (v<<1)|1\n"
    "  --on-reboot exit|restart\n"
    "                       what a guest reset does (default exit)\n"
    "  --qmp unix:PATH[,server]\n"
    "                       QMP control socket (mode 0600); see kvmm ctl --help\n"
    "  --name NAME          a name for the VM (logs, thread names)\n"
    "  --config FILE        JSON object with the same fields, e.g. {\"memory\": \"1G\",\n"
    "                       \"cpus\": 2, \"debug_exit\": true}; command-line options win\n"
    "  -v, --verbose        more log output (repeat for debug)\n"
    "  -h, --help           this help\n"
    "\n"
    "Exit status: 0 powered off/reset/quit, (v<<1)|1 debug-exit, 2 usage or set-up error,\n"
    "4 guest crashed (fatal vCPU exit).\n";

/* In the same order as run_options[]: run_parse() maps one to the other by index. */
enum {
	OPT_KERNEL = 256,
	OPT_INITRD,
	OPT_CMDLINE,
	OPT_MEMORY,
	OPT_CPUS,
	OPT_CPU,
	OPT_AFFINITY,
	OPT_SERIAL,
	OPT_DEBUG_EXIT,
	OPT_ON_REBOOT,
	OPT_NAME,
	OPT_CONFIG,
	OPT_KVM_DEVICE,
	OPT_RNG,
	OPT_DISK,
	OPT_CONSOLE,
	OPT_NET,
	OPT_RESTORE,
	OPT_QMP
};

static const struct option run_options[] = {
    {"kernel", required_argument, NULL, OPT_KERNEL},
    {"initrd", required_argument, NULL, OPT_INITRD},
    {"cmdline", required_argument, NULL, OPT_CMDLINE},
    {"memory", required_argument, NULL, OPT_MEMORY},
    {"cpus", required_argument, NULL, OPT_CPUS},
    {"cpu", required_argument, NULL, OPT_CPU},
    {"cpu-affinity", required_argument, NULL, OPT_AFFINITY},
    {"serial", required_argument, NULL, OPT_SERIAL},
    {"debug-exit", no_argument, NULL, OPT_DEBUG_EXIT},
    {"on-reboot", required_argument, NULL, OPT_ON_REBOOT},
    {"name", required_argument, NULL, OPT_NAME},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"kvm-device", required_argument, NULL, OPT_KVM_DEVICE},
    {"rng", required_argument, NULL, OPT_RNG},
    {"disk", required_argument, NULL, OPT_DISK},
    {"console", required_argument, NULL, OPT_CONSOLE},
    {"net", required_argument, NULL, OPT_NET},
    {"restore", required_argument, NULL, OPT_RESTORE},
    {"qmp", required_argument, NULL, OPT_QMP},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Find --config first so the file's values are the defaults the other options override. */
static int run_load_config_file(struct vm_config *c, int argc, char **argv, char *err, size_t n)
{
	for (int i = 1; i < argc; i++) {
		const char *path = NULL;

		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "--config") && i + 1 < argc)
			path = argv[i + 1];
		else if (!strncmp(argv[i], "--config=", 9))
			path = argv[i] + 9;
		if (path)
			return vm_config_load_json(c, path, err, n);
	}
	return 0;
}

static int run_parse(struct vm_config *c, int argc, char **argv, bool *help)
{
	char err[VM_CONFIG_ERRLEN] = "";
	int opt, verbose = 0;

	if (run_load_config_file(c, argc, argv, err, sizeof(err))) {
		fprintf(stderr, "kvmm run: %s\n", err);
		return -EINVAL;
	}
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":vh", run_options, NULL)) != -1) {
		const char *key = NULL;
		const char *val = optarg;

		switch (opt) {
		case 'h':
			*help = true;
			return 0;
		case 'v':
			verbose++;
			continue;
		case OPT_CONFIG:
			continue;
		case OPT_DEBUG_EXIT:
			key = "debug-exit";
			val = "on";
			break;
		case ':':
			fprintf(stderr,
				"kvmm run: option '%s' needs a value (see kvmm run --help)\n",
				argv[optind - 1]);
			return -EINVAL;
		case '?':
			fprintf(stderr, "kvmm run: unknown option '%s' (see kvmm run --help)\n",
				argv[optind - 1]);
			return -EINVAL;
		default:
			key = run_options[opt - OPT_KERNEL].name;
			break;
		}
		if (vm_config_set(c, key, val, err, sizeof(err))) {
			fprintf(stderr, "kvmm run: %s\n", err);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "kvmm run: unexpected argument '%s' (see kvmm run --help)\n",
			argv[optind]);
		return -EINVAL;
	}
	log_set_level(verbose >= 2 ? LOG_DEBUG : verbose ? LOG_INFO : LOG_WARN);
	return 0;
}

/* --restore DIR: the configuration saved in the snapshot is the base that the options (and a
 * --config file) override, as options override a --config file; a --disk or --net given again
 * replaces the saved list as a whole. vm_create() then checks the result fits the snapshot. */
static int run_restore_config(struct vm_config *c, int argc, char **argv)
{
	struct vm_disk_config disks[VM_MAX_DISKS];
	struct net_opts nets[VM_MAX_NETS];
	char err[VM_CONFIG_ERRLEN] = "";
	char *dir = strdup(c->restore);
	unsigned nd, nn;
	bool help = false;
	uint64_t t0;
	int e;

	vm_config_fini(c);
	if (!dir || vm_config_init(c)) {
		free(dir);
		fprintf(stderr, "kvmm run: out of memory\n");
		return -ENOMEM;
	}
	t0 = steptime_now_ns();
	e = vm_snapshot_read_config(dir, c, err, sizeof(err));
	free(dir);
	if (e) {
		fprintf(stderr, "kvmm run: %s\n", err);
		return e;
	}
	log_info("restore: saved configuration read in %.2f ms",
		 (double)(steptime_now_ns() - t0) / 1e6);
	nd = c->ndisks;
	nn = c->nnets;
	memcpy(disks, c->disks, sizeof(disks));
	memcpy(nets, c->nets, sizeof(nets));
	c->ndisks = c->nnets = 0;
	e = run_parse(c, argc, argv, &help);
	if (!c->ndisks) {
		memcpy(c->disks, disks, sizeof(disks));
		c->ndisks = nd;
	} else {
		for (unsigned i = 0; i < nd; i++) {
			free(disks[i].path);
			free(disks[i].format);
			free(disks[i].serial);
		}
	}
	if (!c->nnets) {
		memcpy(c->nets, nets, sizeof(nets));
		c->nnets = nn;
	}
	return e;
}

static int run_status(const struct vm_result *r)
{
	switch (r->kind) {
	case VM_EXIT_POWEROFF:
	case VM_EXIT_RESET:
	case VM_EXIT_SIGNAL:
		return 0;
	case VM_EXIT_DEBUG_EXIT:
		return r->code;
	case VM_EXIT_FATAL:
		return RUN_EXIT_FATAL;
	}
	return RUN_EXIT_FATAL;
}

int cmd_run(int argc, char **argv)
{
	struct vm_config cfg;
	struct vm_result res = {VM_EXIT_FATAL, 0, false};
	struct qmp_server *qmp = NULL;
	char err[VM_CONFIG_ERRLEN];
	bool help = false;
	int status = RUN_EXIT_USAGE;

	if (vm_config_init(&cfg)) {
		fprintf(stderr, "kvmm run: out of memory\n");
		return RUN_EXIT_USAGE;
	}
	if (run_parse(&cfg, argc, argv, &help))
		goto out;
	if (help) {
		fputs(run_usage, stdout);
		status = 0;
		goto out;
	}
	if (cfg.restore && run_restore_config(&cfg, argc, argv))
		goto out;
	/* A closed serial pipe must not kill the VMM: the UART counts the failed write. */
	signal(SIGPIPE, SIG_IGN);
	if (!cfg.kernel) {
		cfg.kernel_data = demo_guest_start();
		cfg.kernel_data_len = demo_guest_size();
		cfg.kernel_data_name = "kvmm-demo";
	}
	if (cfg.qmp && qmp_server_create(&qmp, cfg.qmp, err, sizeof(err))) {
		fprintf(stderr, "kvmm run: %s\n", err);
		goto out;
	}
	for (;;) {
		struct vm *vm = NULL;
		bool restart;

		err[0] = '\0';
		if (vm_create(&cfg, &vm, err, sizeof(err))) {
			fprintf(stderr, "kvmm run: %s\n", err);
			status = RUN_EXIT_USAGE;
			break;
		}
		if (qmp && vm_qmp_attach(vm, qmp)) {
			fprintf(stderr, "kvmm run: cannot serve the QMP socket\n");
			vm_destroy(vm);
			status = RUN_EXIT_USAGE;
			break;
		}
		if (vm_run(vm, &res)) {
			res.kind = VM_EXIT_FATAL;
		}
		if (qmp)
			vm_qmp_detach(vm, qmp);
		vm_destroy(vm);
		status = run_status(&res);
		restart = res.kind == VM_EXIT_RESET && cfg.on_reboot == ON_REBOOT_RESTART;
		if (qmp)
			vm_qmp_report_stop(qmp, &res, restart);
		if (!restart)
			break;
		log_info("guest reset: restarting");
		/* A restored guest that resets boots the configured kernel, not the snapshot. */
		free(cfg.restore);
		cfg.restore = NULL;
	}
	qmp_server_destroy(qmp);
out:
	vm_config_fini(&cfg);
	return status;
}
