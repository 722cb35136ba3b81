/* vmm/config_json.c — see config_json.h. */
#include "vmm/config_json.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "block/aio.h"
#include "net/opts.h"

/* An absolute form of p (malloc'd): realpath, or the working directory prepended when the file
 * does not exist (any more). NULL: out of memory, or no working directory. */
static char *abs_path(const char *p)
{
	char *r = realpath(p, NULL), *cwd;

	if (r)
		return r;
	if (p[0] == '/' || !p[0]) /* "" stays "" (no file, in any directory) */
		return strdup(p);
	cwd = getcwd(NULL, 0);
	if (!cwd)
		return NULL;
	if (asprintf(&r, "%s%s%s", cwd, cwd[strlen(cwd) - 1] == '/' ? "" : "/", p) < 0)
		r = NULL;
	free(cwd);
	return r;
}

/* Set key to the formatted string; -ENOMEM. */
KVMM_PRINTF(3, 4) static int put_fmt(json_t *obj, const char *key, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n, e;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	e = json_object_set_new(obj, key, json_string(s)) ? -ENOMEM : 0;
	free(s);
	return e;
}

/* "KEY=VALUE" prefixed by "," appended to an array element being built. */
KVMM_PRINTF(2, 3) static int append(char **s, const char *fmt, ...)
{
	va_list ap;
	char *add, *n;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&add, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	r = asprintf(&n, "%s%s", *s ? *s : "", add);
	free(add);
	if (r < 0)
		return -ENOMEM;
	free(*s);
	*s = n;
	return 0;
}

/* A path option value: made absolute. */
static int put_path(json_t *obj, const char *key, const char *prefix, const char *path)
{
	char *a = abs_path(path);
	int e;

	if (!a)
		return -ENOMEM;
	e = put_fmt(obj, key, "%s%s", prefix, a);
	free(a);
	return e;
}

/* A size as the shortest exact K/M suffix (or B) that parse_size() reads back. */
static void fmt_size(char *buf, size_t len, uint64_t v)
{
	if (v && !(v & ((1ull << 20) - 1)))
		snprintf(buf, len, "%lluM", (unsigned long long)(v >> 20));
	else if (v && !(v & ((1ull << 10) - 1)))
		snprintf(buf, len, "%lluK", (unsigned long long)(v >> 10));
	else
		snprintf(buf, len, "%lluB", (unsigned long long)v);
}

/* "0-3,6" for a CPU set. */
static int fmt_cpu_list(char **s, const cpu_set_t *set)
{
	bool first = true;
	int e = 0;

	for (int i = 0; !e && i < CPU_SETSIZE; i++) {
		int j = i;

		if (!CPU_ISSET(i, set))
			continue;
		while (j + 1 < CPU_SETSIZE && CPU_ISSET(j + 1, set))
			j++;
		e = j > i ? append(s, "%s%d-%d", first ? "" : ",", i, j)
			  : append(s, "%s%d", first ? "" : ",", i);
		first = false;
		i = j;
	}
	return e;
}

/* --cpu-affinity: entries separated by ':' (host lists hold ','). */
static int put_affinity(json_t *obj, const struct vm_config *c)
{
	char *s = NULL;
	int e = 0;

	for (unsigned i = 0; !e && i < c->naffinity; i++) {
		e = append(&s, "%s%u=", i ? ":" : "", c->affinity[i].vcpu);
		if (!e)
			e = fmt_cpu_list(&s, &c->affinity[i].cpus);
	}
	if (!e)
		e = json_object_set_new(obj, "cpu-affinity", json_string(s ? s : "")) ? -ENOMEM : 0;
	free(s);
	return e;
}

static const char *transport_name(enum vm_transport t)
{
	return t == VM_TRANSPORT_MMIO ? "mmio" : "pci";
}

static const char *on_off(bool b)
{
	return b ? "on" : "off";
}

static int put_serial(json_t *obj, const struct vm_config *c)
{
	switch (c->serial) {
	case SERIAL_STDIO:
		return put_fmt(obj, "serial", "stdio");
	case SERIAL_PTY:
		return put_fmt(obj, "serial", "pty");
	case SERIAL_NONE:
		return put_fmt(obj, "serial", "none");
	case SERIAL_FILE:
		return put_path(obj, "serial", "file:", c->serial_path ? c->serial_path : "");
	}
	return -EINVAL;
}

static int put_console(json_t *obj, const struct vm_config *c)
{
	const char *t = transport_name(c->console_transport);
	char *a;
	int e;

	switch (c->console) {
	case CONSOLE_OFF:
		return put_fmt(obj, "console", "off,transport=%s", t);
	case CONSOLE_STDIO:
		return put_fmt(obj, "console", "stdio,transport=%s", t);
	case CONSOLE_PTY:
		return put_fmt(obj, "console", "pty,transport=%s", t);
	case CONSOLE_FILE:
		a = abs_path(c->console_path ? c->console_path : "");
		if (!a)
			return -ENOMEM;
		e = put_fmt(obj, "console", "file:%s,transport=%s", a, t);
		free(a);
		return e;
	}
	return -EINVAL;
}

static int put_rng(json_t *obj, const struct vm_config *c)
{
	char rate[32];

	if (c->rng_rate)
		fmt_size(rate, sizeof(rate), c->rng_rate);
	else
		snprintf(rate, sizeof(rate), "off");
	return put_fmt(obj, "rng", "%s,transport=%s,packed=%s", rate,
		       transport_name(c->rng_transport), on_off(c->rng_packed));
}

/* One --disk value with every key; a value holding ',' cannot be written (the parser splits
 * on it). */
static int fmt_disk(const struct vm_disk_config *d, char **out, char *err, size_t errlen)
{
	char *path = abs_path(d->path ? d->path : "");
	int e;

	if (!path)
		return -ENOMEM;
	if (strchr(path, ',') || (d->format && strchr(d->format, ',')) ||
	    (d->serial && strchr(d->serial, ','))) {
		snprintf(err, errlen, "--disk path=%s: a value with ',' cannot be stored", path);
		free(path);
		return -EINVAL;
	}
	e = append(out, "path=%s", path);
	free(path);
	if (!e && d->format)
		e = append(out, ",format=%s", d->format);
	if (!e && d->serial)
		e = append(out, ",serial=%s", d->serial);
	if (!e)
		e = append(out, ",readonly=%s,discard=%s,packed=%s", on_off(d->readonly),
			   on_off(d->discard), on_off(d->packed));
	if (!e && d->queues)
		e = append(out, ",queues=%u", d->queues);
	if (!e)
		e = append(out, ",transport=%s,cache=%s,aio=%s", transport_name(d->transport),
			   d->cache_none ? "none" : "writeback", aio_engine_name(d->aio));
	return e;
}

static int put_lists(json_t *obj, const struct vm_config *c, char *err, size_t errlen)
{
	json_t *disks = json_array(), *nets = json_array();
	int e = disks && nets ? 0 : -ENOMEM;

	for (unsigned i = 0; !e && i < c->ndisks; i++) {
		char *s = NULL;

		e = fmt_disk(&c->disks[i], &s, err, errlen);
		if (!e && json_array_append_new(disks, json_string(s)))
			e = -ENOMEM;
		free(s);
	}
	for (unsigned i = 0; !e && i < c->nnets; i++) {
		char s[2048];

		e = net_opts_format(&c->nets[i], s, sizeof(s));
		if (e)
			snprintf(err, errlen, "--net %u: cannot be written: %s", i, strerror(-e));
		else if (json_array_append_new(nets, json_string(s)))
			e = -ENOMEM;
	}
	if (!e && c->ndisks && json_object_set(obj, "disk", disks))
		e = -ENOMEM;
	if (!e && c->nnets && json_object_set(obj, "net", nets))
		e = -ENOMEM;
	json_decref(disks);
	json_decref(nets);
	return e;
}

int vm_config_to_json(const struct vm_config *c, char **out, char *err, size_t errlen)
{
	json_t *o = json_object();
	char mem[32];
	int e = o ? 0 : -ENOMEM;

	err[0] = '\0';
	if (!e && c->name)
		e = put_fmt(o, "name", "%s", c->name);
	if (!e && c->kernel)
		e = put_path(o, "kernel", "", c->kernel);
	if (!e && c->initrd)
		e = put_path(o, "initrd", "", c->initrd);
	if (!e && c->cmdline)
		e = put_fmt(o, "cmdline", "%s", c->cmdline);
	fmt_size(mem, sizeof(mem), c->mem_bytes);
	if (!e)
		e = put_fmt(o, "memory", "%s", mem);
	if (!e)
		e = put_fmt(o, "cpus", "%s", c->cpus ? c->cpus : "1");
	if (!e)
		e = put_fmt(o, "cpu", "%s", c->cpu_model ? c->cpu_model : "host");
	if (!e && c->naffinity)
		e = put_affinity(o, c);
	if (!e && (c->serial_set || c->serial != SERIAL_STDIO))
		e = put_serial(o, c);
	if (!e && (c->console != CONSOLE_OFF || c->console_transport != VM_TRANSPORT_PCI))
		e = put_console(o, c);
	if (!e && json_object_set_new(o, "debug-exit", json_boolean(c->debug_exit)))
		e = -ENOMEM;
	if (!e)
		e = put_fmt(o, "on-reboot", "%s",
			    c->on_reboot == ON_REBOOT_RESTART ? "restart" : "exit");
	if (!e)
		e = put_rng(o, c);
	if (!e)
		e = put_lists(o, c, err, errlen);
	if (!e) {
		*out = json_dumps(o, JSON_INDENT(2));
		if (!*out)
			e = -ENOMEM;
	}
	if (e && !err[0])
		snprintf(err, errlen, "cannot write the configuration: %s", strerror(-e));
	json_decref(o);
	return e;
}
