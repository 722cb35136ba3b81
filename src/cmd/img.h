/* cmd/img.h — private to the `kvmm img` sources (cmd/img*.c): the subcommands and the helpers
 * they share (messages, size parsing, -o option lists, opening images, human sizes).
 * Main thread only. Every img_cmd_* takes argv with argv[0] = the subcommand name and returns
 * the process exit status, with qemu-img's meanings. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"

struct disk;
struct qcow2_create_opts;

/* Print "kvmm img: <message>" on one line to stderr. */
void img_err(const char *fmt, ...) KVMM_PRINTF(1, 2);

/* Parse a size with an optional k/K/M/G/T/P/E suffix (powers of 1024; a bare number is bytes;
 * a fraction such as 1.5G is allowed). 0 or -EINVAL (syntax, negative, overflow). */
int img_parse_size(const char *s, uint64_t *out) KVMM_MUST_CHECK;
/* Like img_parse_size() but print qemu-img's "Invalid image size" message on failure. */
int img_parse_image_size(const char *s, uint64_t *out) KVMM_MUST_CHECK;

/* Format val in qemu's human form ("1.25 MiB", "64 KiB", "0 B") into buf. */
void img_human_size(uint64_t val, char *buf, size_t len);

/* A parsed "-o key=value,key2=value2" list (values may be NULL for bare keys). */
#define IMG_MAX_OPTS 32
struct img_opts {
	unsigned n;
	char *key[IMG_MAX_OPTS];
	char *val[IMG_MAX_OPTS];
	bool used[IMG_MAX_OPTS];
	char *storage[IMG_MAX_OPTS]; /* strdup'ed -o arguments */
	unsigned nstorage;
};
/* Append the pairs of one -o argument (",," is a literal comma). -EINVAL if too many. */
int img_opts_add(struct img_opts *o, const char *arg) KVMM_MUST_CHECK;
/* Value of key (marking it used) or NULL; the last occurrence wins. */
const char *img_opts_get(struct img_opts *o, const char *key);
bool img_opts_has(const struct img_opts *o, const char *key);
/* The first key not marked used, or NULL. */
const char *img_opts_unused(const struct img_opts *o);
void img_opts_free(struct img_opts *o);
/* Parse "on/off/true/false/yes/no" (-EINVAL otherwise). */
int img_parse_bool(const char *s, bool *out) KVMM_MUST_CHECK;

/* Open an image; on failure print "Could not open 'path': <reason>" and return -errno.
 * fmt NULL = probe; flags DISK_O_*. */
int img_open(const char *path, const char *fmt, unsigned flags, struct disk **out) KVMM_MUST_CHECK;

/* Build qcow2 create options from -o pairs (size/backing handled by the caller if set in o).
 * Prints the error and returns -EINVAL for a bad value. */
int img_qcow2_opts(struct img_opts *o, struct qcow2_create_opts *q) KVMM_MUST_CHECK;

/* Create an image of format fmt ("raw" or "qcow2") at path with options o (size in q->size,
 * backing in q->backing_file/backing_fmt). quiet suppresses the "Formatting" line. */
int img_create_image(const char *path, const char *fmt, struct qcow2_create_opts *q,
		     const char *raw_prealloc, bool quiet) KVMM_MUST_CHECK;

/* True if all len bytes of buf are zero. */
bool img_is_zero(const void *buf, size_t len);

/* Allocated bytes of the file at path (st_blocks * 512), or 0. */
uint64_t img_file_actual_size(const char *path);

int img_cmd_create(int argc, char **argv);
int img_cmd_info(int argc, char **argv);
int img_cmd_convert(int argc, char **argv);
int img_cmd_check(int argc, char **argv);
int img_cmd_map(int argc, char **argv);
int img_cmd_compare(int argc, char **argv);
int img_cmd_resize(int argc, char **argv);
int img_cmd_snapshot(int argc, char **argv);
int img_cmd_rebase(int argc, char **argv);
int img_cmd_commit(int argc, char **argv);
int img_cmd_amend(int argc, char **argv);
int img_cmd_measure(int argc, char **argv);
int img_cmd_bench(int argc, char **argv);

struct qcow2_snapshot_info;
/* Print qemu's snapshot table header, or one row for s (qemu-img snapshot -l / info). */
void img_snapshot_dump(const struct qcow2_snapshot_info *s);

/* Output format of --output=human|json: 0 human, 1 json, -1 invalid (message printed). */
int img_parse_output(const char *s);

/* Resolve a backing name against the directory of the image path (like the block layer).
 * Returns a malloc'ed string or NULL. */
char *img_backing_path(const char *image, const char *backing);
