// SPDX-License-Identifier: MIT
/*
 * bench/startup-probe — the measuring half of bench/startup as a small static C program, so
 * that it runs where there is no Python (the nested-KVM initramfs of bench/nested-startup.sh)
 * and so that the sampler itself costs little CPU next to the VMM it measures.
 *
 *   startup-probe [--runs N] [--warmup N] [--guest-mib M] [--sample-ms MS] [--timeout SECS]
 *                 --vmm NAME CMD [ARG...] [--vmm NAME CMD [ARG...]]...
 *
 * Runs every command N times, interleaved (run 1 of each VMM, then run 2 of each, ...), after
 * --warmup discarded runs of each (default 1). For each run it measures
 *   first_ms     exec -> first byte the command writes to stdout (the guest's serial port)
 *   exit_ms      exec -> the command has exited and been reaped
 *   overhead_kib peak of (RSS of the process - RSS of the mappings at least as large as the
 *                guest RAM), sampled from /proc/PID/smaps at every output event and at least
 *                every --sample-ms milliseconds (default 1; 0 = no sampling, overhead -1)
 *   maxrss_kib   ru_maxrss from wait4 (peak RSS including guest RAM touched)
 * "exec" is the moment just before fork(). stdin is /dev/null, stderr is discarded.
 * Prints one "RUN" line per measured run and one "MEDIAN" line per VMM:
 *   RUN NAME I first_ms=F exit_ms=E overhead_kib=O maxrss_kib=R status=S
 *   MEDIAN NAME runs=N first_ms=F exit_ms=E overhead_kib=O maxrss_kib=R statuses=S,S
 * status is the exit status, or 128+signal. Exits 0 when every run was measured, 1 on a
 * set-up error (fork, pipe), 2 on a usage error. Single-threaded; Linux only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROBE_MAX_VMMS 8
#define PROBE_MAX_RUNS 1000

struct probe_vmm {
	const char *name;
	char **argv; /* NULL-terminated, points into main's argv */
	double first_ms[PROBE_MAX_RUNS];
	double exit_ms[PROBE_MAX_RUNS];
	double overhead_kib[PROBE_MAX_RUNS];
	double maxrss_kib[PROBE_MAX_RUNS];
	int status[PROBE_MAX_RUNS];
};

struct probe_result {
	double first_ms; /* < 0: no output at all */
	double exit_ms;
	long overhead_kib; /* < 0: never sampled */
	long maxrss_kib;
	int status;
};

static double probe_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* RSS of @pid outside the mappings of at least @guest_kib KiB, in KiB; -1 if smaps is gone. */
static long probe_overhead_kib(pid_t pid, long guest_kib)
{
	char path[64], line[512];
	long total = 0, guest = 0, size = 0, rss = 0, v;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "Size: %ld kB", &v) == 1) {
			size = v;
		} else if (sscanf(line, "Rss: %ld kB", &v) == 1) {
			rss = v;
			/* Rss follows Size within one mapping's block: account it here. */
			total += rss;
			if (size >= guest_kib)
				guest += rss;
		}
	}
	fclose(f);
	/* An empty smaps (zombie, or exec not done yet) says nothing. */
	if (total == 0)
		return -1;
	return total - guest;
}

/*
 * Runs @argv once and fills @r. @sample_ms: smaps sampling period (0: do not sample, so that the
 * times are not perturbed by the sampler; overhead_kib stays -1).
 */
static int probe_run(char **argv, long guest_kib, int sample_ms, double timeout_ms,
		     struct probe_result *r)
{
	int pfd[2], xfd[2], devnull, wstatus = 0, xerr = 0;
	bool eof = false, killed = false;
	struct rusage ru;
	int err;
	double t0;
	pid_t pid;

	memset(r, 0, sizeof(*r));
	r->first_ms = -1;
	r->overhead_kib = -1;
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	/* xfd: closed by a successful exec (O_CLOEXEC), or carries errno if exec failed. */
	if (pipe2(xfd, O_CLOEXEC) < 0) {
		err = -errno;
		goto err_close_pipe;
	}
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0) {
		err = -errno;
		goto err_close_xpipe;
	}
	t0 = probe_now_ms();
	pid = fork();
	if (pid < 0) {
		err = -errno;
		goto err_close_devnull;
	}
	if (pid == 0) {
		int e;

		dup2(devnull, 0);
		dup2(pfd[1], 1);
		dup2(devnull, 2);
		execvp(argv[0], argv);
		e = errno;
		if (write(xfd[1], &e, sizeof(e)) < 0)
			_exit(126);
		_exit(127);
	}
	close(pfd[1]);
	close(xfd[1]);
	close(devnull);
	/* Sample only after the exec: before it, the child is a copy of this program. */
	while (read(xfd[0], &xerr, sizeof(xerr)) < 0 && errno == EINTR)
		;
	close(xfd[0]);
	if (xerr)
		fprintf(stderr, "startup-probe: exec %s: %s\n", argv[0], strerror(xerr));

	while (!eof) {
		struct pollfd p = {.fd = pfd[0], .events = POLLIN};
		char buf[65536];
		long ov;
		int n = poll(&p, 1, sample_ms ? sample_ms : 100);

		if (n > 0) {
			ssize_t got = read(pfd[0], buf, sizeof(buf));

			if (got > 0 && r->first_ms < 0)
				r->first_ms = probe_now_ms() - t0;
			if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN))
				eof = true;
		}
		if (sample_ms) {
			ov = probe_overhead_kib(pid, guest_kib);
			if (ov > r->overhead_kib)
				r->overhead_kib = ov;
		}
		if (!killed && probe_now_ms() - t0 > timeout_ms) {
			kill(pid, SIGKILL);
			killed = true;
		}
	}
	close(pfd[0]);
	while (wait4(pid, &wstatus, 0, &ru) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	r->exit_ms = probe_now_ms() - t0;
	r->maxrss_kib = ru.ru_maxrss;
	if (WIFEXITED(wstatus))
		r->status = WEXITSTATUS(wstatus);
	else
		r->status = 128 + WTERMSIG(wstatus);
	return 0;

err_close_devnull:
	close(devnull);
err_close_xpipe:
	close(xfd[0]);
	close(xfd[1]);
err_close_pipe:
	close(pfd[0]);
	close(pfd[1]);
	return err;
}

static int probe_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Median of the non-negative values of @v[0..n); -1 if there are none. */
static double probe_median(const double *v, int n)
{
	double tmp[PROBE_MAX_RUNS];
	int i, m = 0;

	for (i = 0; i < n; i++)
		if (v[i] >= 0)
			tmp[m++] = v[i];
	if (m == 0)
		return -1;
	qsort(tmp, (size_t)m, sizeof(tmp[0]), probe_cmp_double);
	return m % 2 ? tmp[m / 2] : (tmp[m / 2 - 1] + tmp[m / 2]) / 2;
}

static void probe_usage(void)
{
	fprintf(stderr, "usage: startup-probe [--runs N] [--warmup N] [--guest-mib M] "
			"[--sample-ms MS] [--timeout SECS] --vmm NAME CMD [ARG...] [--vmm NAME CMD "
			"[ARG...]]...\n");
}

static int probe_parse_int(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	static struct probe_vmm vmms[PROBE_MAX_VMMS];
	long runs = 10, warmup = 1, guest_mib = 128, timeout_s = 30, sample_ms = 1;
	int nvmm = 0, i, v, err;

	signal(SIGPIPE, SIG_IGN);
	i = 1;
	while (i < argc) {
		long *dst = NULL, hi = 0;

		if (!strcmp(argv[i], "--vmm"))
			break;
		if (!strcmp(argv[i], "--runs")) {
			dst = &runs;
			hi = PROBE_MAX_RUNS;
		} else if (!strcmp(argv[i], "--warmup")) {
			dst = &warmup;
			hi = 100;
		} else if (!strcmp(argv[i], "--guest-mib")) {
			dst = &guest_mib;
			hi = 1L << 30;
		} else if (!strcmp(argv[i], "--sample-ms")) {
			dst = &sample_ms;
			hi = 1000;
		} else if (!strcmp(argv[i], "--timeout")) {
			dst = &timeout_s;
			hi = 3600;
		}
		if (!dst || i + 1 >= argc ||
		    probe_parse_int(argv[i + 1], (dst == &warmup || dst == &sample_ms) ? 0 : 1, hi,
				    dst) < 0) {
			probe_usage();
			return 2;
		}
		i += 2;
	}
	/* --vmm NAME CMD...: the command runs up to the next --vmm; each gets its own copy. */
	while (i < argc) {
		int start, n;
		char **copy;

		if (strcmp(argv[i], "--vmm") || i + 2 >= argc || nvmm == PROBE_MAX_VMMS) {
			probe_usage();
			return 2;
		}
		vmms[nvmm].name = argv[i + 1];
		start = i + 2;
		for (i = start; i < argc && strcmp(argv[i], "--vmm"); i++)
			;
		n = i - start;
		copy = calloc((size_t)n + 1, sizeof(*copy));
		if (!copy)
			return 1;
		memcpy(copy, &argv[start], (size_t)n * sizeof(*copy));
		vmms[nvmm++].argv = copy;
	}
	if (nvmm == 0) {
		probe_usage();
		return 2;
	}

	for (i = -(int)warmup; i < runs; i++) {
		for (v = 0; v < nvmm; v++) {
			struct probe_result r;

			err = probe_run(vmms[v].argv, guest_mib * 1024, (int)sample_ms,
					(double)timeout_s * 1e3, &r);
			if (err < 0) {
				fprintf(stderr, "startup-probe: %s: %s\n", vmms[v].name,
					strerror(-err));
				return 1;
			}
			printf(
			    "%s %s %d first_ms=%.2f exit_ms=%.2f overhead_kib=%ld maxrss_kib=%ld "
			    "status=%d\n",
			    i < 0 ? "WARMUP" : "RUN", vmms[v].name, i < 0 ? -i : i + 1, r.first_ms,
			    r.exit_ms, r.overhead_kib, r.maxrss_kib, r.status);
			fflush(stdout);
			if (i < 0)
				continue;
			vmms[v].first_ms[i] = r.first_ms;
			vmms[v].exit_ms[i] = r.exit_ms;
			vmms[v].overhead_kib[i] = (double)r.overhead_kib;
			vmms[v].maxrss_kib[i] = (double)r.maxrss_kib;
			vmms[v].status[i] = r.status;
		}
	}
	for (v = 0; v < nvmm; v++) {
		struct probe_vmm *m = &vmms[v];
		bool seen[256 + 128] = {false};
		const char *sep = "";

		printf("MEDIAN %s runs=%ld first_ms=%.2f exit_ms=%.2f overhead_kib=%.0f "
		       "maxrss_kib=%.0f statuses=",
		       m->name, runs, probe_median(m->first_ms, (int)runs),
		       probe_median(m->exit_ms, (int)runs),
		       probe_median(m->overhead_kib, (int)runs),
		       probe_median(m->maxrss_kib, (int)runs));
		for (i = 0; i < runs; i++) {
			int s = m->status[i];

			if (s >= 0 && s < (int)(sizeof(seen) / sizeof(seen[0])) && !seen[s]) {
				seen[s] = true;
				printf("%s%d", sep, s);
				sep = ",";
			}
		}
		printf("\n");
	}
	return 0;
}
