/* vmm/config.c — see config.h. */
#include "vmm/config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "vmm/qmp_server.h"

int vm_config_init(struct vm_config *c)
{
	memset(c, 0, sizeof(*c));
	c->mem_bytes = 256ull << 20;
	c->serial = SERIAL_STDIO;
	c->on_reboot = ON_REBOOT_EXIT;
	c->cpus = strdup("1");
	c->cpu_model = strdup("host");
	c->kvm_path = strdup("/dev/kvm");
	if (!c->cpus || !c->cpu_model || !c->kvm_path) {
		vm_config_fini(c);
		return -ENOMEM;
	}
	return 0;
}

void vm_config_fini(struct vm_config *c)
{
	free(c->name);
	free(c->kernel);
	free(c->initrd);
	free(c->cmdline);
	free(c->cpus);
	free(c->cpu_model);
	free(c->affinity);
	free(c->serial_path);
	free(c->console_path);
	free(c->kvm_path);
	free(c->restore);
	free(c->qmp);
	for (unsigned i = 0; i < c->ndisks; i++) {
		free(c->disks[i].path);
		free(c->disks[i].format);
		free(c->disks[i].serial);
	}
	memset(c, 0, sizeof(*c));
}

int parse_size(const char *s, bool default_mib, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift;

	if (!s || !isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -ERANGE;
	switch (toupper((unsigned char)*end)) {
	case '\0':
		shift = default_mib ? 20 : 0;
		break;
	case 'B':
		shift = 0;
		break;
	case 'K':
		shift = 10;
		break;
	case 'M':
		shift = 20;
		break;
	case 'G':
		shift = 30;
		break;
	case 'T':
		shift = 40;
		break;
	default:
		return -EINVAL;
	}
	if (*end && end[1] &&
	    (shift == 0 || (strcasecmp(end + 1, "B") && strcasecmp(end + 1, "iB"))))
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = (uint64_t)v << shift;
	return 0;
}

int parse_cpu_list(const char *s, cpu_set_t *set)
{
	const char *p = s;

	CPU_ZERO(set);
	if (!*p)
		return -EINVAL;
	while (*p) {
		char *end;
		unsigned long a, b;

		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		a = strtoul(p, &end, 10);
		b = a;
		if (*end == '-') {
			if (!isdigit((unsigned char)end[1]))
				return -EINVAL;
			b = strtoul(end + 1, &end, 10);
		}
		if (b < a || b >= CPU_SETSIZE)
			return -EINVAL;
		for (unsigned long i = a; i <= b; i++)
			CPU_SET(i, set);
		if (*end == ',' && end[1])
			end++;
		else if (*end)
			return -EINVAL;
		p = end;
	}
	return 0;
}

/* "VCPU=HOSTCPUS[:VCPU=HOSTCPUS...]"; entries separated by ':' or ';' since host lists use ','.
 * Also accepts QEMU-style "0=0,1=1" where each entry is a single host CPU. */
static int parse_affinity(struct vm_config *c, const char *v, char *err, size_t errlen)
{
	char *dup = strdup(v), *save = NULL, *tok;
	int r = 0;

	if (!dup)
		return -ENOMEM;
	free(c->affinity);
	c->affinity = NULL;
	c->naffinity = 0;
	/* Split on '=' boundaries: an entry is "N=LIST" where LIST runs until the next ",N=" */
	for (tok = strtok_r(dup, ":;", &save); tok && !r; tok = strtok_r(NULL, ":;", &save)) {
		char *p = tok;

		while (*p && !r) {
			char *eq = strchr(p, '='), *next, *end;
			unsigned long vcpu;
			struct vcpu_affinity *na;

			if (!eq || eq == p) {
				r = -EINVAL;
				break;
			}
			vcpu = strtoul(p, &end, 10);
			if (end != eq || vcpu >= VM_MAX_VCPUS) {
				r = -EINVAL;
				break;
			}
			/* the list ends at the ',' that precedes the next "N=" */
			next = eq + 1;
			for (char *q = eq + 1; *q; q++) {
				if (*q == ',') {
					char *d = q + 1;

					while (isdigit((unsigned char)*d))
						d++;
					if (*d == '=' && d > q + 1) {
						*q = '\0';
						next = q + 1;
						goto have_list;
					}
				}
			}
			next = eq + 1 + strlen(eq + 1);
		have_list:
			na = realloc(c->affinity, (c->naffinity + 1) * sizeof(*na));
			if (!na) {
				r = -ENOMEM;
				break;
			}
			c->affinity = na;
			na[c->naffinity].vcpu = (unsigned)vcpu;
			r = parse_cpu_list(eq + 1, &na[c->naffinity].cpus);
			if (!r)
				c->naffinity++;
			p = next;
		}
	}
	free(dup);
	if (r == -EINVAL)
		snprintf(err, errlen,
			 "--cpu-affinity: '%s' is not VCPU=HOSTCPUS[,VCPU=HOSTCPUS...] "
			 "(e.g. 0=2,1=3 or 0=0-3:1=4-7)",
			 v);
	return r;
}

static int set_string(char **dst, const char *v)
{
	char *d = strdup(v);

	if (!d)
		return -ENOMEM;
	free(*dst);
	*dst = d;
	return 0;
}

static int parse_bool(const char *v, bool *out)
{
	if (!strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1"))
		*out = true;
	else if (!strcmp(v, "off") || !strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0"))
		*out = false;
	else
		return -EINVAL;
	return 0;
}

static int set_serial(struct vm_config *c, const char *v, char *err, size_t errlen)
{
	if (!strcmp(v, "stdio"))
		c->serial = SERIAL_STDIO;
	else if (!strcmp(v, "pty"))
		c->serial = SERIAL_PTY;
	else if (!strcmp(v, "none"))
		c->serial = SERIAL_NONE;
	else if (!strncmp(v, "file:", 5) && v[5]) {
		c->serial = SERIAL_FILE;
		return set_string(&c->serial_path, v + 5);
	} else {
		snprintf(err, errlen, "--serial: '%s' is not stdio, file:PATH, pty or none", v);
		return -EINVAL;
	}
	return 0;
}

/* --console off|none|stdio|pty|file:PATH[,transport=pci|mmio] (the virtio console). The
 * transport is the last comma-separated item, so a file path may itself hold commas. */
static int set_console(struct vm_config *c, const char *arg, char *err, size_t errlen)
{
	const char *comma = strrchr(arg, ',');
	char v[4096];

	if (comma && !strncmp(comma + 1, "transport=", 10)) {
		const char *t = comma + 11;

		if (strcmp(t, "pci") && strcmp(t, "mmio")) {
			snprintf(err, errlen, "--console: transport=%s: pci or mmio", t);
			return -EINVAL;
		}
		c->console_transport = strcmp(t, "pci") ? VM_TRANSPORT_MMIO : VM_TRANSPORT_PCI;
	} else {
		comma = NULL;
		c->console_transport = VM_TRANSPORT_PCI;
	}
	if ((size_t)snprintf(v, sizeof(v), "%.*s", comma ? (int)(comma - arg) : (int)strlen(arg),
			     arg) >= sizeof(v)) {
		snprintf(err, errlen, "--console: value too long");
		return -EINVAL;
	}
	if (!strcmp(v, "off") || !strcmp(v, "none"))
		c->console = CONSOLE_OFF;
	else if (!strcmp(v, "stdio"))
		c->console = CONSOLE_STDIO;
	else if (!strcmp(v, "pty"))
		c->console = CONSOLE_PTY;
	else if (!strncmp(v, "file:", 5) && v[5]) {
		c->console = CONSOLE_FILE;
		return set_string(&c->console_path, v + 5);
	} else {
		snprintf(err, errlen,
			 "--console: '%s' is not off, stdio, pty or file:PATH"
			 "[,transport=pci|mmio]",
			 arg);
		return -EINVAL;
	}
	return 0;
}

static int set_memory(struct vm_config *c, const char *v, char *err, size_t errlen)
{
	uint64_t sz;
	int r = parse_size(v, true, &sz);

	if (r) {
		snprintf(err, errlen, "--memory: '%s' is not a size (use e.g. 512M, 2G)", v);
		return r;
	}
	if (sz < (2ull << 20) || sz > (1ull << 40) || (sz & 0xfff)) {
		snprintf(err, errlen, "--memory: %s is out of range (2 MiB to 1 TiB, page-aligned)",
			 v);
		return -EINVAL;
	}
	c->mem_bytes = sz;
	return 0;
}

static int parse_transport(const char *v, enum vm_transport *t)
{
	if (!strcmp(v, "pci"))
		*t = VM_TRANSPORT_PCI;
	else if (!strcmp(v, "mmio"))
		*t = VM_TRANSPORT_MMIO;
	else
		return -EINVAL;
	return 0;
}

/* "on" (default rate), "off", or a rate in bytes per second with K/M/G suffixes, optionally
 * followed by ",transport=pci|mmio" and ",packed=on|off". */
static int set_rng(struct vm_config *c, const char *arg, char *err, size_t errlen)
{
	char v[64];
	const char *comma = strchr(arg, ',');
	bool on;

	snprintf(v, sizeof(v), "%.*s", comma ? (int)(comma - arg) : (int)strlen(arg), arg);
	while (comma) {
		const char *next = strchr(comma + 1, ',');
		char item[32];

		snprintf(item, sizeof(item), "%.*s",
			 next ? (int)(next - comma - 1) : (int)strlen(comma + 1), comma + 1);
		comma = next;
		if (!strncmp(item, "transport=", 10) &&
		    !parse_transport(item + 10, &c->rng_transport))
			continue;
		if (!strncmp(item, "packed=", 7) && !parse_bool(item + 7, &c->rng_packed))
			continue;
		snprintf(err, errlen,
			 "--rng: '%s': expected RATE[,transport=pci|mmio][,packed=on|off]", arg);
		return -EINVAL;
	}
	if (!parse_bool(v, &on)) {
		c->rng_rate = on ? VM_RNG_DEFAULT_RATE : 0;
		return 0;
	}
	if (parse_size(v, false, &c->rng_rate) || c->rng_rate == 0) {
		snprintf(err, errlen, "--rng: '%s' is not on, off or a rate in bytes/s (e.g. 1M)",
			 v);
		c->rng_rate = 0;
		return -EINVAL;
	}
	return 0;
}

static int disk_set_field(struct vm_disk_config *d, const char *k, const char *v)
{
	unsigned long q;
	char *end;

	if (!strcmp(k, "path"))
		return set_string(&d->path, v);
	if (!strcmp(k, "format"))
		return !strcmp(v, "auto") ? 0 : set_string(&d->format, v);
	if (!strcmp(k, "serial"))
		return strlen(v) > 20 ? -EINVAL : set_string(&d->serial, v);
	if (!strcmp(k, "readonly"))
		return parse_bool(v, &d->readonly);
	if (!strcmp(k, "discard"))
		return parse_bool(v, &d->discard);
	if (!strcmp(k, "packed"))
		return parse_bool(v, &d->packed);
	if (!strcmp(k, "transport"))
		return parse_transport(v, &d->transport);
	if (!strcmp(k, "cache")) {
		if (strcmp(v, "none") && strcmp(v, "writeback"))
			return -EINVAL;
		d->cache_none = !strcmp(v, "none");
		return 0;
	}
	if (!strcmp(k, "aio"))
		return aio_engine_parse(v, &d->aio);
	if (!strcmp(k, "queues")) {
		q = strtoul(v, &end, 10);
		if (!*v || *end || q < 1 || q > 16)
			return -EINVAL;
		d->queues = (uint16_t)q;
		return 0;
	}
	return -ENOENT;
}

/* One --net (net/opts.h). */
static int add_net(struct vm_config *c, const char *v, char *err, size_t errlen)
{
	if (c->nnets >= VM_MAX_NETS) {
		snprintf(err, errlen, "--net: at most %d network devices", VM_MAX_NETS);
		return -EINVAL;
	}
	if (net_opts_parse(v, &c->nets[c->nnets], err, errlen))
		return -EINVAL;
	c->nnets++;
	return 0;
}

/* One --disk: comma-separated key=value; a first item without '=' is the path. */
static int add_disk(struct vm_config *c, const char *v, char *err, size_t errlen)
{
	struct vm_disk_config *d;
	char *dup, *tok, *save = NULL;
	int r = 0;

	if (c->ndisks >= VM_MAX_DISKS) {
		snprintf(err, errlen, "--disk: at most %d disks", VM_MAX_DISKS);
		return -EINVAL;
	}
	dup = strdup(v);
	if (!dup)
		return -ENOMEM;
	d = &c->disks[c->ndisks];
	memset(d, 0, sizeof(*d));
	c->ndisks++;
	for (tok = strtok_r(dup, ",", &save); tok && !r; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');

		if (!eq && tok == dup) {
			r = set_string(&d->path, tok);
			continue;
		}
		if (!eq) {
			r = -EINVAL;
			snprintf(err, errlen, "--disk: '%s' is not key=value", tok);
			break;
		}
		*eq = '\0';
		r = disk_set_field(d, tok, eq + 1);
		if (r == -ENOENT)
			snprintf(err, errlen,
				 "--disk: unknown key '%s' (path, format, readonly, "
				 "serial, discard, queues, transport, packed, cache, aio)",
				 tok);
		else if (r == -EINVAL)
			snprintf(err, errlen, "--disk: bad value '%s' for %s", eq + 1, tok);
	}
	if (!r && !d->path) {
		snprintf(err, errlen, "--disk '%s': no path=FILE", v);
		r = -EINVAL;
	}
	free(dup);
	return r == -ENOENT ? -EINVAL : r;
}

int vm_config_set(struct vm_config *c, const char *key, const char *v, char *err, size_t errlen)
{
	int r = 0;

	if (!strcmp(key, "kernel"))
		r = set_string(&c->kernel, v);
	else if (!strcmp(key, "initrd"))
		r = set_string(&c->initrd, v);
	else if (!strcmp(key, "cmdline"))
		r = set_string(&c->cmdline, v);
	else if (!strcmp(key, "name"))
		r = set_string(&c->name, v);
	else if (!strcmp(key, "memory"))
		r = set_memory(c, v, err, errlen);
	else if (!strcmp(key, "cpus"))
		r = set_string(&c->cpus, v);
	else if (!strcmp(key, "cpu"))
		r = set_string(&c->cpu_model, v);
	else if (!strcmp(key, "cpu-affinity") || !strcmp(key, "cpu_affinity"))
		r = parse_affinity(c, v, err, errlen);
	else if (!strcmp(key, "serial")) {
		r = set_serial(c, v, err, errlen);
		if (!r)
			c->serial_set = true;
	} else if (!strcmp(key, "console"))
		r = set_console(c, v, err, errlen);
	else if (!strcmp(key, "debug-exit") || !strcmp(key, "debug_exit")) {
		r = parse_bool(v, &c->debug_exit);
		if (r)
			snprintf(err, errlen, "--debug-exit: '%s' is not on or off", v);
	} else if (!strcmp(key, "on-reboot") || !strcmp(key, "on_reboot")) {
		if (!strcmp(v, "exit"))
			c->on_reboot = ON_REBOOT_EXIT;
		else if (!strcmp(v, "restart"))
			c->on_reboot = ON_REBOOT_RESTART;
		else {
			snprintf(err, errlen, "--on-reboot: '%s' is not exit or restart", v);
			r = -EINVAL;
		}
	} else if (!strcmp(key, "disk")) {
		r = add_disk(c, v, err, errlen);
	} else if (!strcmp(key, "rng")) {
		r = set_rng(c, v, err, errlen);
	} else if (!strcmp(key, "net")) {
		r = add_net(c, v, err, errlen);
	} else if (!strcmp(key, "qmp")) {
		char path[QMP_SERVER_PATH_MAX];

		r = qmp_server_parse_spec(v, path, sizeof(path), err, errlen);
		if (!r)
			r = set_string(&c->qmp, path);
	} else if (!strcmp(key, "kvm-device") || !strcmp(key, "kvm_device"))
		r = set_string(&c->kvm_path, v);
	else if (!strcmp(key, "restore"))
		r = set_string(&c->restore, v);
	else {
		snprintf(err, errlen, "unknown option '%s'", key);
		return -ENOENT;
	}
	if (r == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	return r;
}

/* A JSON scalar as the option text: strings as they are, integers in decimal, booleans on/off.
 * NULL for anything else. */
static const char *json_option_text(json_t *val, char *buf, size_t len)
{
	if (json_is_string(val))
		return json_string_value(val);
	if (json_is_integer(val) && json_integer_value(val) >= 0) {
		snprintf(buf, len, "%" PRId64, (int64_t)json_integer_value(val));
		return buf;
	}
	if (json_is_boolean(val)) {
		snprintf(buf, len, "%s", json_is_true(val) ? "on" : "off");
		return buf;
	}
	return NULL;
}

/* One key: a scalar, or (for repeatable options such as "disk") an array of scalars. */
static int json_set_key(struct vm_config *c, const char *path, const char *key, json_t *val,
			char *err, size_t errlen)
{
	char buf[64], sub[VM_CONFIG_ERRLEN];
	size_t n = json_is_array(val) ? json_array_size(val) : 1;

	if (!strcmp(key, "config")) {
		snprintf(err, errlen, "%s: \"config\" cannot be nested", path);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *v = json_is_array(val) ? json_array_get(val, i) : val;
		const char *s = json_option_text(v, buf, sizeof(buf));
		int r;

		if (!s) {
			snprintf(err, errlen,
				 "%s: \"%s\" must be a string, a non-negative integer, "
				 "a boolean, or an array of those",
				 path, key);
			return -EINVAL;
		}
		sub[0] = '\0';
		r = vm_config_set(c, key, s, sub, sizeof(sub));
		if (r) {
			snprintf(err, errlen, "%s: %s", path, sub);
			return r;
		}
	}
	return 0;
}

/* Every key of a parsed JSON object, in order; `name` prefixes errors. Drops root. */
static int load_json_root(struct vm_config *c, const char *name, json_t *root, char *err,
			  size_t errlen)
{
	const char *key;
	json_t *val;
	int r = 0;

	if (!json_is_object(root)) {
		snprintf(err, errlen, "%s: the configuration must be a JSON object", name);
		json_decref(root);
		return -EINVAL;
	}
	json_object_foreach(root, key, val)
	{
		r = json_set_key(c, name, key, val, err, errlen);
		if (r)
			break;
	}
	json_decref(root);
	return r;
}

int vm_config_load_json(struct vm_config *c, const char *path, char *err, size_t errlen)
{
	json_error_t je;
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);

	if (!root) {
		snprintf(err, errlen, "%s:%d:%d: %s", path, je.line, je.column, je.text);
		return -EINVAL;
	}
	return load_json_root(c, path, root, err, errlen);
}

int vm_config_load_json_text(struct vm_config *c, const char *name, const char *text, size_t len,
			     char *err, size_t errlen)
{
	json_error_t je;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);

	if (!root) {
		snprintf(err, errlen, "%s is not JSON (line %d, column %d: %s)", name, je.line,
			 je.column, je.text);
		return -EINVAL;
	}
	return load_json_root(c, name, root, err, errlen);
}
