/* tests/tools/qcow2_crash.c — writer and checker for tests/img/crash-kill9.sh (kill -9
 * crash-consistency of qcow2 metadata ordering).
 *
 *   qcow2-crash backing FILE SIZE SEED
 *       write a raw file of SIZE bytes with seeded data (the backing file of some variants)
 *   qcow2-crash run IMG SEED NOPS [c]
 *       open IMG through the block layer and perform NOPS seeded operations (writes across
 *       cluster boundaries, write_zeroes with and without unmap, cluster discards, and with
 *       "c" compressed cluster writes); at seeded points call disk_flush() and, once it has
 *       returned, write "FLUSHED <n>" to stdout with write(2): the first n operations are
 *       durable. Prints "DONE <n>" at the end. Meant to be killed with SIGKILL.
 *   qcow2-crash verify RAW SEED N SIZE CLUSTER [c] [BACKING]
 *       replay the same sequence in memory (starting from BACKING's data or zeroes) and check
 *       RAW (the crashed image converted to raw): every 512-byte sector must hold the content it
 *       had after operation N (the last FLUSHED), or a content it took in a later operation up
 *       to the next flush point after N (the writer prints each FLUSHED line before it starts
 *       the next operation, so none after that point can have run).
 *       Anything else (stale or garbage data) fails. Exit 0 ok, 1 mismatch or error.
 *   qcow2-crash ops SEED N SIZE CLUSTER [c]
 *       print the first N operations, one a line: "index kind offset length [unmap] [flush]".
 *
 * The op sequence depends only on (SEED, SIZE, CLUSTER, c), so run and verify agree. Every
 * written sector's data is unique to (seed, op, sector), so misplaced data is detected. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "block/disk.h"
#include "block/qcow2.h"

#define SECTOR 512u

enum op_kind { OP_WRITE, OP_ZERO, OP_DISCARD, OP_COMPRESSED };

struct op {
	enum op_kind kind;
	uint64_t off, len;
	bool unmap;
	bool flush_after;
};

struct gen {
	uint64_t state;
	uint64_t seed;
	uint64_t size;
	uint64_t cluster;
	bool compressed;
};

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t rnd(struct gen *g, uint64_t n)
{
	return n ? splitmix(&g->state) % n : 0;
}

/* The next operation of the sequence. */
static void gen_next(struct gen *g, struct op *o)
{
	uint64_t r = rnd(g, 100), nsec = g->size / SECTOR, ncl = g->size / g->cluster;
	uint64_t spc = g->cluster / SECTOR;

	memset(o, 0, sizeof(*o));
	if (r < 60 || (r >= 85 && !g->compressed)) {
		uint64_t s = rnd(g, 4) ? rnd(g, nsec) : rnd(g, ncl) * spc;
		uint64_t n = 1 + rnd(g, 3 * spc);

		o->kind = OP_WRITE;
		o->off = s * SECTOR;
		o->len = (n < nsec - s ? n : nsec - s) * SECTOR;
	} else if (r < 72) {
		uint64_t s = rnd(g, nsec), n = 1 + rnd(g, 4 * spc);

		o->kind = OP_ZERO;
		o->off = s * SECTOR;
		o->len = (n < nsec - s ? n : nsec - s) * SECTOR;
		o->unmap = rnd(g, 2);
	} else if (r < 85) {
		uint64_t c = rnd(g, ncl), n = 1 + rnd(g, 4);

		o->kind = OP_DISCARD;
		o->off = c * g->cluster;
		o->len = (n < ncl - c ? n : ncl - c) * g->cluster;
	} else {
		o->kind = OP_COMPRESSED;
		o->off = rnd(g, ncl) * g->cluster;
		o->len = g->cluster;
	}
	o->flush_after = rnd(g, 6) == 0;
}

/* Data of sector `sec` written by operation `opi`: unique per (seed, op, sector). Compressed
 * writes use a tagged, mostly-zero sector so that the cluster actually compresses. */
static void sector_data(const struct gen *g, uint64_t opi, uint64_t sec, bool compressible,
			uint8_t *out)
{
	uint64_t x = g->seed * 0x100000001b3ull ^ (opi << 24) ^ sec, v;

	for (unsigned i = 0; i < SECTOR; i += 8) {
		v = (compressible && i >= 32) ? 0 : splitmix(&x);
		memcpy(out + i, &v, 8);
	}
}

static void fill(const struct gen *g, uint64_t opi, const struct op *o, uint8_t *buf)
{
	for (uint64_t i = 0; i < o->len / SECTOR; i++)
		sector_data(g, opi, o->off / SECTOR + i, o->kind == OP_COMPRESSED,
			    buf + i * SECTOR);
}

static int gen_init(struct gen *g, uint64_t seed, uint64_t size, uint64_t cluster, bool c)
{
	if (!cluster || cluster % SECTOR || size < cluster || size % cluster)
		return -EINVAL;
	g->seed = seed;
	g->state = seed;
	g->size = size;
	g->cluster = cluster;
	g->compressed = c;
	return 0;
}

static int say(const char *what, uint64_t n)
{
	char line[64];
	int len = snprintf(line, sizeof(line), "%s %llu\n", what, (unsigned long long)n);

	return write(1, line, (size_t)len) == len ? 0 : -EIO;
}

static int do_op(struct disk *d, const struct gen *g, uint64_t opi, const struct op *o,
		 uint8_t *buf)
{
	switch (o->kind) {
	case OP_WRITE:
		fill(g, opi, o, buf);
		return disk_pwrite(d, buf, o->len, o->off);
	case OP_COMPRESSED:
		fill(g, opi, o, buf);
		return qcow2_write_compressed(d, o->off, buf, o->len);
	case OP_ZERO:
		return disk_write_zeroes(d, o->off, o->len, o->unmap);
	case OP_DISCARD:
		return disk_discard(d, o->off, o->len);
	}
	return -EINVAL;
}

static int cmd_run(const char *path, uint64_t seed, uint64_t nops, bool c)
{
	struct disk_open_opts oo = {0};
	struct disk *d;
	struct gen g;
	struct op o;
	uint8_t *buf = NULL;
	int err;

	err = disk_open(path, &oo, &d);
	if (err) {
		fprintf(stderr, "qcow2-crash: open %s: %s\n", path, strerror(-err));
		return 1;
	}
	err = gen_init(&g, seed, disk_size(d), qcow2_cluster_size(d), c);
	if (!err) {
		buf = malloc(4 * g.cluster);
		if (!buf)
			err = -ENOMEM;
	}
	for (uint64_t i = 0; !err && i < nops; i++) {
		gen_next(&g, &o);
		err = do_op(d, &g, i, &o, buf);
		if (!err && o.flush_after) {
			err = disk_flush(d);
			if (!err)
				err = say("FLUSHED", i + 1);
		}
		if (err)
			fprintf(stderr, "qcow2-crash: op %llu (%d %llu+%llu): %s\n",
				(unsigned long long)i, o.kind, (unsigned long long)o.off,
				(unsigned long long)o.len, strerror(-err));
	}
	if (!err)
		err = say("DONE", nops);
	disk_close(d);
	free(buf);
	return err ? 1 : 0;
}

/* Per-sector list of acceptable content hashes. */
struct cands {
	uint64_t *h;
	uint8_t n, cap;
};

static uint64_t hash_sector(const uint8_t *p)
{
	uint64_t h = 0xcbf29ce484222325ull, w;

	for (unsigned i = 0; i < SECTOR; i += 8) {
		memcpy(&w, p + i, 8);
		h = (h ^ w) * 0x100000001b3ull;
		h ^= h >> 29;
	}
	return h;
}

static int cand_add(struct cands *c, uint64_t h)
{
	for (unsigned i = 0; i < c->n; i++)
		if (c->h[i] == h)
			return 0;
	if (c->n == c->cap) {
		unsigned cap = c->cap ? c->cap * 2u : 2u;
		uint64_t *nh;

		if (cap > 255)
			return -E2BIG;
		nh = realloc(c->h, cap * sizeof(*nh));
		if (!nh)
			return -ENOMEM;
		c->h = nh;
		c->cap = (uint8_t)cap;
	}
	c->h[c->n++] = h;
	return 0;
}

/* Apply op to the in-memory model; `touched` gets the sector range whose content may change. */
static void model_apply(const struct gen *g, uint64_t opi, const struct op *o, uint8_t *mem,
			uint64_t *first, uint64_t *end)
{
	*first = o->off / SECTOR;
	*end = (o->off + o->len) / SECTOR;
	switch (o->kind) {
	case OP_WRITE:
	case OP_COMPRESSED:
		fill(g, opi, o, mem + o->off);
		break;
	case OP_ZERO:
	case OP_DISCARD:
		/* Discard ranges are whole clusters: they read as zeroes afterwards (v3). */
		memset(mem + o->off, 0, o->len);
		break;
	}
}

static int load_file(const char *path, uint8_t *mem, uint64_t size)
{
	int fd = open(path, O_RDONLY);
	int err = fd < 0 ? -errno : 0;

	for (uint64_t done = 0; !err && done < size;) {
		ssize_t r = pread(fd, mem + done, size - done, (off_t)done);

		if (r < 0)
			err = -errno;
		else if (r == 0)
			break; /* short file reads as zeroes */
		else
			done += (uint64_t)r;
	}
	if (fd >= 0)
		close(fd);
	return err;
}

static bool is_zero(const uint8_t *p)
{
	for (unsigned i = 0; i < SECTOR; i++)
		if (p[i])
			return false;
	return true;
}

static int report(const uint8_t *raw, const struct cands *c, uint64_t nsec)
{
	unsigned bad = 0;

	for (uint64_t s = 0; s < nsec; s++) {
		uint64_t h = hash_sector(raw + s * SECTOR);
		bool ok = false;

		for (unsigned i = 0; i < c[s].n && !ok; i++)
			ok = c[s].h[i] == h;
		if (ok)
			continue;
		if (bad++ < 8)
			fprintf(
			    stderr,
			    "qcow2-crash: sector %llu (byte %llu) holds %s: neither its content "
			    "at the last flush nor one of its %u later versions\n",
			    (unsigned long long)s, (unsigned long long)s * SECTOR,
			    is_zero(raw + s * SECTOR) ? "zeroes" : "other data", c[s].n - 1);
	}
	if (bad)
		fprintf(stderr, "qcow2-crash: %u bad sectors\n", bad);
	return bad ? 1 : 0;
}

static int cmd_verify(const char *rawpath, uint64_t seed, uint64_t n, uint64_t size,
		      uint64_t cluster, bool c, const char *backing)
{
	uint64_t nsec = size / SECTOR, first, end, flushes = 0;
	uint8_t *mem = NULL, *raw = NULL;
	struct cands *cand = NULL;
	struct gen g;
	struct op o;
	int err, rc = 1;

	err = gen_init(&g, seed, size, cluster, c);
	if (err)
		goto out;
	mem = calloc(1, size);
	raw = calloc(1, size);
	cand = calloc(nsec, sizeof(*cand));
	err = !mem || !raw || !cand ? -ENOMEM : 0;
	if (!err && backing)
		err = load_file(backing, mem, size);
	if (!err)
		err = load_file(rawpath, raw, size);
	for (uint64_t i = 0; !err && i < n; i++) {
		gen_next(&g, &o);
		model_apply(&g, i, &o, mem, &first, &end);
	}
	for (uint64_t s = 0; !err && s < nsec; s++)
		err = cand_add(&cand[s], hash_sector(mem + s * SECTOR));
	if (!err) {
		/* The durable state is mem; keep a copy, then add what later ops may have left. */
		uint8_t *later = malloc(size);

		err = later ? 0 : -ENOMEM;
		if (!err)
			memcpy(later, mem, size);
		for (uint64_t i = n; !err && flushes < 1; i++) {
			gen_next(&g, &o);
			model_apply(&g, i, &o, later, &first, &end);
			for (uint64_t s = first; !err && s < end; s++)
				err = cand_add(&cand[s], hash_sector(later + s * SECTOR));
			flushes += o.flush_after;
		}
		free(later);
	}
	if (!err)
		rc = report(raw, cand, nsec);
out:
	if (err)
		fprintf(stderr, "qcow2-crash: verify: %s\n", strerror(-err));
	for (uint64_t s = 0; cand && s < nsec; s++)
		free(cand[s].h);
	free(cand);
	free(raw);
	free(mem);
	return rc;
}

static int cmd_backing(const char *path, uint64_t size, uint64_t seed)
{
	uint8_t sec[SECTOR];
	uint64_t x = seed ^ 0x5bd1e995ull;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644), err = 0;

	if (fd < 0)
		return 1;
	for (uint64_t s = 0; !err && s < size / SECTOR; s++) {
		/* About a quarter of the 64 KiB runs stay zero (a sparse hole). */
		if ((splitmix(&x) & 3) == 0 && (s % 128) == 0) {
			s += 127;
			continue;
		}
		for (unsigned i = 0; i < SECTOR; i += 8) {
			uint64_t v = splitmix(&x);

			memcpy(sec + i, &v, 8);
		}
		if (pwrite(fd, sec, SECTOR, (off_t)(s * SECTOR)) != SECTOR)
			err = -EIO;
	}
	if (!err && ftruncate(fd, (off_t)size))
		err = -errno;
	close(fd);
	return err ? 1 : 0;
}

/* Print the first n operations (for debugging a failure). */
static int cmd_ops(uint64_t seed, uint64_t n, uint64_t size, uint64_t cluster, bool c)
{
	static const char *const names[] = {"write", "zero", "discard", "compressed"};
	struct gen g;
	struct op o;

	if (gen_init(&g, seed, size, cluster, c))
		return 1;
	for (uint64_t i = 0; i < n; i++) {
		gen_next(&g, &o);
		printf("%llu %s %llu %llu%s%s\n", (unsigned long long)i, names[o.kind],
		       (unsigned long long)o.off, (unsigned long long)o.len,
		       o.unmap ? " unmap" : "", o.flush_after ? " flush" : "");
	}
	return 0;
}

static uint64_t num(const char *s)
{
	return strtoull(s, NULL, 0);
}

int main(int argc, char **argv)
{
	log_set_level(LOG_WARN);
	if (argc >= 5 && !strcmp(argv[1], "backing"))
		return cmd_backing(argv[2], num(argv[3]), num(argv[4]));
	if (argc >= 5 && !strcmp(argv[1], "run"))
		return cmd_run(argv[2], num(argv[3]), num(argv[4]),
			       argc > 5 && !strcmp(argv[5], "c"));
	if (argc >= 7 && !strcmp(argv[1], "verify")) {
		bool c = argc > 7 && !strcmp(argv[7], "c");
		int bi = c ? 8 : 7;

		return cmd_verify(argv[2], num(argv[3]), num(argv[4]), num(argv[5]), num(argv[6]),
				  c, argc > bi ? argv[bi] : NULL);
	}
	if (argc >= 6 && !strcmp(argv[1], "ops"))
		return cmd_ops(num(argv[2]), num(argv[3]), num(argv[4]), num(argv[5]),
			       argc > 6 && !strcmp(argv[6], "c"));
	fprintf(stderr, "usage: see tests/tools/qcow2_crash.c\n");
	return 1;
}
