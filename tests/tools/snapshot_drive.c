/* tests/tools/snapshot_drive.c — test driver for snapshot/restore (tests/guest/run.sh, case
 * snapshot; also bench/snapshot). It runs a VM like `kvmm run`, waits until the guest's serial
 * output (which must go to --serial file:PATH) contains PATTERN, snapshots the VM into DIR
 * with vm_snapshot_save() and then ends the process at once with _exit(), as `kill -9` would:
 *
 *   snapshot-drive DIR PATTERN --kernel payload.elf --serial file:PATH [kvmm run options]
 *
 * Options are `--key value` pairs with `kvmm run`'s names (`--debug-exit` takes no value).
 * Exit status: 0 saved, 1 the guest stopped or never printed PATTERN (120 s), 2 usage or
 * set-up error, 3 the snapshot failed. Prints the save time in ms on stdout ("saved in N ms").
 * This is the test-only trigger; kvmm itself saves through its control socket. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vmm/config.h"
#include "vmm/vm.h"

struct drive {
	struct vm *vm;
	struct vm_result res;
	volatile int done;
};

static void *drive_run(void *p)
{
	struct drive *d = p;

	if (vm_run(d->vm, &d->res))
		d->res.kind = VM_EXIT_FATAL;
	__atomic_store_n(&d->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static bool file_has(const char *path, const char *pat)
{
	static char buf[1 << 20];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	return strstr(buf, pat) != NULL;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int drive_config(struct vm_config *c, int argc, char **argv)
{
	char err[VM_CONFIG_ERRLEN];

	for (int i = 3; i < argc; i++) {
		const char *key = argv[i] + 2, *val = "on";

		if (strncmp(argv[i], "--", 2)) {
			fprintf(stderr, "snapshot-drive: unexpected '%s'\n", argv[i]);
			return -1;
		}
		if (strcmp(key, "debug-exit")) {
			if (i + 1 >= argc) {
				fprintf(stderr, "snapshot-drive: %s needs a value\n", argv[i]);
				return -1;
			}
			val = argv[++i];
		}
		if (vm_config_set(c, key, val, err, sizeof(err))) {
			fprintf(stderr, "snapshot-drive: %s\n", err);
			return -1;
		}
	}
	if (c->serial != SERIAL_FILE || !c->serial_path || !c->kernel) {
		fprintf(stderr, "snapshot-drive: needs --kernel and --serial file:PATH\n");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct vm_config cfg;
	struct drive d = {0};
	char err[VM_CONFIG_ERRLEN] = "";
	pthread_t t;
	double t0;

	if (argc < 4 || vm_config_init(&cfg)) {
		fprintf(stderr,
			"usage: snapshot-drive DIR PATTERN --kernel K --serial file:P ...\n");
		return 2;
	}
	if (drive_config(&cfg, argc, argv))
		return 2;
	if (vm_create(&cfg, &d.vm, err, sizeof(err))) {
		fprintf(stderr, "snapshot-drive: %s\n", err);
		return 2;
	}
	if (pthread_create(&t, NULL, drive_run, &d))
		return 2;
	t0 = now_ms();
	while (!file_has(cfg.serial_path, argv[2])) {
		if (__atomic_load_n(&d.done, __ATOMIC_ACQUIRE) || now_ms() - t0 > 120000) {
			if (d.done)
				fprintf(stderr,
					"snapshot-drive: the guest stopped (exit kind %d, code %d) "
					"before printing '%s'\n",
					(int)d.res.kind, d.res.code, argv[2]);
			else
				fprintf(stderr,
					"snapshot-drive: the guest took too long before printing "
					"'%s'\n",
					argv[2]);
			_exit(1);
		}
		usleep(2000);
	}
	t0 = now_ms();
	if (vm_snapshot_save(d.vm, argv[1], false, err, sizeof(err))) {
		fprintf(stderr, "snapshot-drive: %s\n", err);
		_exit(3);
	}
	printf("saved in %.1f ms\n", now_ms() - t0);
	fflush(stdout);
	_exit(0);
}
