/* cmd/img_bench.c — `kvmm img bench`: qemu-img bench's request pattern (count requests of
 * buffer_size bytes, starting at offset, advancing by step, wrapping at the end of the image),
 * issued by `depth` threads in parallel. Prints the same two lines as qemu-img bench. */
#include "cmd/img.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "block/disk.h"

#define IMG_BENCH_MAX_THREADS 64

struct img_bench {
	struct disk *d;
	uint64_t count, bufsize, offset, step, size;
	bool write;
	int pattern;
	atomic_uint_least64_t next;
	atomic_int err;
};

static void *img_bench_worker(void *arg)
{
	struct img_bench *b = arg;
	uint8_t *buf = malloc(b->bufsize);

	if (!buf) {
		atomic_store(&b->err, -ENOMEM);
		return NULL;
	}
	memset(buf, b->pattern, b->bufsize);
	for (;;) {
		uint64_t i = atomic_fetch_add(&b->next, 1), span = b->size - b->bufsize + 1;
		uint64_t off;
		int err;

		if (i >= b->count || atomic_load(&b->err))
			break;
		/* offset + i * step modulo the usable span (no overflow: 128-bit product). */
		off = (uint64_t)(((unsigned __int128)i * b->step + b->offset) % span);
		err = b->write ? disk_pwrite(b->d, buf, b->bufsize, off)
			       : disk_pread(b->d, buf, b->bufsize, off);
		if (err) {
			atomic_store(&b->err, err);
			break;
		}
	}
	free(buf);
	return NULL;
}

static int img_bench_run(struct img_bench *b, unsigned depth, bool quiet)
{
	pthread_t th[IMG_BENCH_MAX_THREADS];
	struct timespec t0, t1;
	unsigned started = 0;
	int err;

	if (!quiet)
		printf(
		    "Sending %llu %s requests, %llu bytes each, %u in parallel (starting at offset "
		    "%llu, step size %llu)\n",
		    (unsigned long long)b->count, b->write ? "write" : "read",
		    (unsigned long long)b->bufsize, depth, (unsigned long long)b->offset,
		    (unsigned long long)b->step);
	fflush(stdout);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (; started < KVMM_MIN(depth, IMG_BENCH_MAX_THREADS); started++)
		if (pthread_create(&th[started], NULL, img_bench_worker, b))
			break;
	if (!started)
		atomic_store(&b->err, -EAGAIN);
	for (unsigned i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	err = atomic_load(&b->err);
	if (!err && b->write)
		err = disk_flush(b->d);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (err) {
		img_err("Failed request: %s", strerror(-err));
		return err;
	}
	if (!quiet)
		printf("Run completed in %.3f seconds.\n",
		       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	return 0;
}

int img_cmd_bench(int argc, char **argv)
{
	static const struct option lo[] = {{"pattern", required_argument, NULL, 'P'},
					   {"flush-interval", required_argument, NULL, 'I'},
					   {"no-drain", no_argument, NULL, 'D'},
					   {"force-share", no_argument, NULL, 'U'},
					   {"help", no_argument, NULL, 'h'},
					   {0}};
	struct img_bench b = {.count = 75000, .bufsize = 4096};
	const char *fmt = NULL;
	unsigned depth = 64, flags = DISK_O_RDONLY;
	bool quiet = false, have_step = false;
	uint64_t v;
	int c, ret = 1;

	optind = 0;
	while ((c = getopt_long(argc, argv, "hc:d:f:no:qs:S:t:wi:U", lo, NULL)) != -1) {
		switch (c) {
		case 'f':
			fmt = optarg;
			break;
		case 'n':
			flags |= DISK_O_DIRECT;
			break;
		case 'q':
			quiet = true;
			break;
		case 'w':
			b.write = true;
			break;
		case 'c':
		case 'd':
		case 'o':
		case 's':
		case 'S':
		case 'P':
			if ((c == 'c' || c == 'd' || c == 'P')
				? img_parse_size(optarg, &v) || strpbrk(optarg, "kKmMgGtTpPeE.")
				: img_parse_size(optarg, &v)) {
				img_err("Invalid value '%s' for -%c", optarg, c);
				return 1;
			}
			if ((c == 'd' && (v == 0 || v > 65536)) ||
			    (c == 's' && (v == 0 || v > (1u << 30))) || (c == 'P' && v > 255)) {
				img_err("Invalid value '%s' for -%c", optarg, c);
				return 1;
			}
			if (c == 'c')
				b.count = v;
			else if (c == 'd')
				depth = (unsigned)v;
			else if (c == 'o')
				b.offset = v;
			else if (c == 's')
				b.bufsize = v;
			else if (c == 'S')
				b.step = v, have_step = true;
			else
				b.pattern = (int)v;
			break;
		case 't':
			if (!strcmp(optarg, "none") || !strcmp(optarg, "directsync"))
				flags |= DISK_O_DIRECT;
			break;
		case 'i':
		case 'I':
		case 'D':
		case 'U':
			break;
		case 'h':
			printf("usage: kvmm img bench [-c count] [-d depth] [-f fmt] [-n] "
			       "[-o offset] [-s buffer_size] [-S step_size] [-t cache] [-w] "
			       "[--pattern=pattern] filename\n");
			return 0;
		default:
			return 1;
		}
	}
	if (optind != argc - 1) {
		img_err("Expecting one image file name");
		return 1;
	}
	if (!have_step)
		b.step = b.bufsize;
	if (b.write)
		flags &= ~DISK_O_RDONLY;
	if (img_open(argv[optind], fmt, flags, &b.d))
		return 1;
	b.size = disk_size(b.d);
	if (b.size < b.bufsize) {
		img_err("Image is smaller than the buffer size");
		goto out;
	}
	ret = img_bench_run(&b, depth, quiet) ? 1 : 0;
out:
	disk_close(b.d);
	return ret;
}
