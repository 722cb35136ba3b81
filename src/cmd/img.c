/* cmd/img.c — `kvmm img`: the subcommand table and the helpers the img_*.c files share.
 * Mirrors qemu-img's subcommands, options, messages and exit codes. */
#include "cmd/cmd.h"
#include "cmd/img.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/ckd.h"
#include "block/disk.h"
#include "block/qcow2.h"

void img_err(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "kvmm img: %s\n", buf);
}

int img_parse_size(const char *s, uint64_t *out)
{
	static const char sfx[] = "bkmgtpe";
	const char *p;
	char *end;
	double v, mul = 1;
	unsigned shift = 0;

	if (!s || !*s || *s == '-' || *s == '+')
		return -EINVAL;
	for (p = s; *p; p++)
		if (!strchr("0123456789.", *p))
			break;
	if (p == s)
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end != p)
		return -EINVAL;
	if (*p) {
		const char *k = strchr(sfx, *p | 0x20);

		if (!k || p[1])
			return -EINVAL;
		shift = (unsigned)(k - sfx) * 10;
	}
	mul = ldexp(1.0, (int)shift);
	v *= mul;
	if (!isfinite(v) || v >= 18446744073709551616.0 || (v != floor(v) && !*p))
		return -EINVAL;
	if (v != floor(v))
		v = floor(v);
	*out = (uint64_t)v;
	return 0;
}

int img_parse_image_size(const char *s, uint64_t *out)
{
	if (!img_parse_size(s, out) && *out <= INT64_MAX)
		return 0;
	img_err("Invalid image size specified. You may use k, M, G, T, P or E suffixes for");
	img_err("kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.");
	return -EINVAL;
}

void img_human_size(uint64_t val, char *buf, size_t len)
{
	static const char *const sfx[] = {"", "K", "M", "G", "T", "P", "E"};
	int e;
	unsigned i;

	frexp((double)val / (1000.0 / 1024.0), &e);
	i = e > 0 ? (unsigned)(e - 1) / 10 : 0;
	if (i >= ARRAY_SIZE(sfx))
		i = ARRAY_SIZE(sfx) - 1;
	snprintf(buf, len, "%0.3g %s%s", (double)val / (double)(1ull << (i * 10)), sfx[i],
		 i ? "iB" : "B");
}

/* Record one "key[=value]" pair that ends at a NUL. */
static int img_opts_push(struct img_opts *o, char *key)
{
	char *eq = strchr(key, '=');

	if (!*key)
		return 0;
	if (o->n >= IMG_MAX_OPTS)
		return -EINVAL;
	if (eq)
		*eq = 0;
	o->key[o->n] = key;
	o->val[o->n] = eq ? eq + 1 : NULL;
	o->used[o->n++] = false;
	return 0;
}

int img_opts_add(struct img_opts *o, const char *arg)
{
	char *s, *r, *w, *key;

	if (o->nstorage >= IMG_MAX_OPTS)
		return -EINVAL;
	s = strdup(arg);
	if (!s)
		return -ENOMEM;
	o->storage[o->nstorage++] = s;
	/* Split at single commas, turning ",," into ","; w never passes r. */
	for (r = w = key = s;;) {
		if (r[0] == ',' && r[1] == ',') {
			*w++ = ',';
			r += 2;
		} else if (*r == ',' || !*r) {
			bool last = !*r;

			*w = 0;
			if (img_opts_push(o, key))
				return -EINVAL;
			if (last)
				return 0;
			key = ++w;
			r++;
		} else {
			*w++ = *r++;
		}
	}
}

const char *img_opts_get(struct img_opts *o, const char *key)
{
	const char *v = NULL;

	for (unsigned i = 0; i < o->n; i++)
		if (!strcmp(o->key[i], key)) {
			o->used[i] = true;
			v = o->val[i] ? o->val[i] : "on";
		}
	return v;
}

bool img_opts_has(const struct img_opts *o, const char *key)
{
	for (unsigned i = 0; i < o->n; i++)
		if (!strcmp(o->key[i], key))
			return true;
	return false;
}

const char *img_opts_unused(const struct img_opts *o)
{
	for (unsigned i = 0; i < o->n; i++)
		if (!o->used[i])
			return o->key[i];
	return NULL;
}

void img_opts_free(struct img_opts *o)
{
	for (unsigned i = 0; i < o->nstorage; i++)
		free(o->storage[i]);
	o->n = o->nstorage = 0;
}

int img_parse_bool(const char *s, bool *out)
{
	if (!strcmp(s, "on") || !strcmp(s, "true") || !strcmp(s, "yes")) {
		*out = true;
		return 0;
	}
	if (!strcmp(s, "off") || !strcmp(s, "false") || !strcmp(s, "no")) {
		*out = false;
		return 0;
	}
	return -EINVAL;
}

int img_open(const char *path, const char *fmt, unsigned flags, struct disk **out)
{
	struct disk_open_opts o = {.format = fmt, .flags = flags};
	int err = disk_open(path, &o, out);

	if (err == -EINVAL && fmt && strcmp(fmt, "raw") && strcmp(fmt, "qcow2") &&
	    strcmp(fmt, "vmdk") && strcmp(fmt, "vdi") && strcmp(fmt, "vpc") &&
	    strcmp(fmt, "vhdx") && strcmp(fmt, "auto"))
		img_err("Could not open '%s': Unknown driver '%s'", path, fmt);
	else if (err == -ELOOP)
		img_err("Could not open '%s': backing chain deeper than %d or looping", path,
			DISK_MAX_CHAIN_DEPTH);
	else if (err)
		img_err("Could not open '%s': %s", path, strerror(-err));
	return err;
}

bool img_is_zero(const void *buf, size_t len)
{
	const unsigned char *p = buf;

	if (!len)
		return true;
	return p[0] == 0 && !memcmp(p, p + 1, len - 1);
}

uint64_t img_file_actual_size(const char *path)
{
	struct stat st;

	return stat(path, &st) ? 0 : (uint64_t)st.st_blocks * 512;
}

struct img_subcmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *usage;
};

static const struct img_subcmd img_subcmds[] = {
    {"amend", img_cmd_amend, "amend [-f fmt] -o options filename"},
    {"bench", img_cmd_bench,
     "bench [-c count] [-d depth] [-f fmt] [-n] [-o offset] [-s buffer_size] [-S step_size] "
     "[-t cache] [-w] [--pattern=pattern] filename"},
    {"check", img_cmd_check, "check [--output=ofmt] [-r [leaks | all]] [-f fmt] filename"},
    {"commit", img_cmd_commit, "commit [-f fmt] [-d] [-b base] [-p] filename"},
    {"compare", img_cmd_compare, "compare [-f fmt] [-F fmt] [-p] [-s] filename1 filename2"},
    {"convert", img_cmd_convert,
     "convert [-c] [-p] [-n] [-f fmt] [-O output_fmt] [-B backing_file] [-o options] "
     "[-S sparse_size] filename output_filename"},
    {"create", img_cmd_create,
     "create [-f fmt] [-b backing_file [-F backing_fmt]] [-u] [-o options] filename [size]"},
    {"info", img_cmd_info, "info [-f fmt] [--output=ofmt] [--backing-chain] filename"},
    {"map", img_cmd_map,
     "map [-f fmt] [--output=ofmt] [--start-offset=OFFSET] "
     "[--max-length=LEN] filename"},
    {"measure", img_cmd_measure,
     "measure [--output=ofmt] [-O output_fmt] [-o options] "
     "[--size N | [-f fmt] filename]"},
    {"rebase", img_cmd_rebase,
     "rebase [-f fmt] [-p] [-u] -b backing_file [-F backing_fmt] "
     "filename"},
    {"resize", img_cmd_resize, "resize [-f fmt] [--shrink] filename [+ | -]size"},
    {"snapshot", img_cmd_snapshot,
     "snapshot [-l | -a snapshot | -c snapshot | -d snapshot] filename"},
};

static int img_help(void)
{
	printf("usage: kvmm img [standard options] command [command options]\n"
	       "kvmm disk image utility (qemu-img compatible)\n\n"
	       "Command syntax:\n");
	for (size_t i = 0; i < ARRAY_SIZE(img_subcmds); i++)
		printf("  %s\n", img_subcmds[i].usage);
	printf("\nSupported formats: raw qcow2 (read-write); vmdk vdi vpc vhdx (read-only)\n"
	       "See docs/img.md.\n");
	return 0;
}

int cmd_img(int argc, char **argv)
{
	if (argc < 2) {
		img_err("Not enough arguments");
		img_err("Try 'kvmm img --help' for more information");
		return 1;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help"))
		return img_help();
	for (size_t i = 0; i < ARRAY_SIZE(img_subcmds); i++)
		if (!strcmp(argv[1], img_subcmds[i].name))
			return img_subcmds[i].fn(argc - 1, argv + 1);
	img_err("Command not found: %s", argv[1]);
	return 1;
}
