/* net/opts.c — see opts.h. */
#include "net/opts.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/backend.h"

KVMM_PRINTF(3, 4) static int opt_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int parse_mac(const char *v, uint8_t mac[6])
{
	unsigned b[6];
	char tail;

	if (sscanf(v, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
		   &tail) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	if ((mac[0] & 1) || !(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]))
		return -EINVAL; /* multicast or all-zero */
	return 0;
}

static int parse_port(const char *s, size_t len, uint16_t *port)
{
	char buf[8], *end;
	unsigned long v;

	if (len == 0 || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = 0;
	v = strtoul(buf, &end, 10);
	if (*end || v == 0 || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

static int parse_addr(const char *s, size_t len, uint32_t *addr)
{
	char buf[INET_ADDRSTRLEN];
	struct in_addr a;

	*addr = 0;
	if (len == 0)
		return 0;
	if (len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = 0;
	if (inet_pton(AF_INET, buf, &a) != 1)
		return -EINVAL;
	*addr = ntohl(a.s_addr);
	return 0;
}

/* [ADDR]:PORT */
static int parse_endpoint(const char *s, size_t len, uint32_t *addr, uint16_t *port)
{
	const char *colon = memchr(s, ':', len);

	if (!colon)
		return -EINVAL;
	if (parse_addr(s, (size_t)(colon - s), addr))
		return -EINVAL;
	return parse_port(colon + 1, len - (size_t)(colon - s) - 1, port);
}

/* tcp|udp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT */
static int parse_hostfwd(const char *v, struct net_hostfwd *f)
{
	const char *dash;

	if (!strncmp(v, "tcp:", 4))
		f->udp = false;
	else if (!strncmp(v, "udp:", 4))
		f->udp = true;
	else
		return -EINVAL;
	v += 4;
	dash = strchr(v, '-');
	if (!dash)
		return -EINVAL;
	if (parse_endpoint(v, (size_t)(dash - v), &f->host_addr, &f->host_port))
		return -EINVAL;
	return parse_endpoint(dash + 1, strlen(dash + 1), &f->guest_addr, &f->guest_port);
}

static int parse_net(const char *v, uint32_t *net, uint32_t *mask)
{
	const char *slash = strchr(v, '/');
	char *end;
	unsigned long p;

	if (!slash || parse_addr(v, (size_t)(slash - v), net) || !*net)
		return -EINVAL;
	p = strtoul(slash + 1, &end, 10);
	/* the host (.2), DNS (.3) and first DHCP address (.15) must fit */
	if (*end || slash[1] == 0 || p < 8 || p > 27)
		return -EINVAL;
	*mask = p ? ~0u << (32 - p) : 0;
	if (*net & ~*mask)
		return -EINVAL;
	return 0;
}

static int parse_ifname(const char *v, char *dst)
{
	size_t n = strlen(v);

	if (n == 0 || n >= IFNAMSIZ || strchr(v, '/') || strchr(v, ' '))
		return -EINVAL;
	memcpy(dst, v, n + 1);
	return 0;
}

static int net_opt_kv(struct net_opts *o, const char *k, const char *v, char *err, size_t errlen)
{
	char *end;

	if (!strcmp(k, "mac")) {
		if (parse_mac(v, o->mac))
			return opt_err(err, errlen,
				       "--net: bad mac=%s (XX:XX:XX:XX:XX:XX, unicast)", v);
		o->mac_set = true;
	} else if (!strcmp(k, "transport")) {
		if (strcmp(v, "pci") && strcmp(v, "mmio"))
			return opt_err(err, errlen, "--net: transport=%s: pci or mmio", v);
		o->mmio = !strcmp(v, "mmio");
	} else if (!strcmp(k, "net") && o->kind == NET_KIND_USER) {
		if (parse_net(v, &o->net, &o->mask))
			return opt_err(err, errlen, "--net user: bad net=%s (A.B.C.D/N, N 8..27)",
				       v);
	} else if (!strcmp(k, "hostfwd") && o->kind == NET_KIND_USER) {
		if (o->nfwd == NET_MAX_HOSTFWD)
			return opt_err(err, errlen, "--net user: more than %d hostfwd rules",
				       NET_MAX_HOSTFWD);
		if (parse_hostfwd(v, &o->fwd[o->nfwd]))
			return opt_err(err, errlen,
				       "--net user: bad hostfwd=%s "
				       "(tcp|udp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT)",
				       v);
		o->nfwd++;
	} else if (!strcmp(k, "restrict") && o->kind == NET_KIND_USER) {
		if (strcmp(v, "on") && strcmp(v, "off"))
			return opt_err(err, errlen, "--net user: restrict=%s: on or off", v);
		o->restrict_ = !strcmp(v, "on");
	} else if (!strcmp(k, "ifname") && o->kind != NET_KIND_USER) {
		if (parse_ifname(v, o->ifname))
			return opt_err(err, errlen, "--net: bad ifname=%s", v);
	} else if (!strcmp(k, "br") && o->kind == NET_KIND_BRIDGE) {
		if (parse_ifname(v, o->bridge))
			return opt_err(err, errlen, "--net bridge: bad br=%s", v);
	} else if (!strcmp(k, "queues") && o->kind == NET_KIND_TAP) {
		unsigned long q = strtoul(v, &end, 10);

		if (*end || q < 1 || q > NET_MAX_QUEUES)
			return opt_err(err, errlen, "--net tap: queues=%s: 1 to 4", v);
		o->queues = (unsigned)q;
	} else {
		return opt_err(err, errlen, "--net: unknown or misplaced option '%s'", k);
	}
	return 0;
}

int net_opts_parse(const char *s, struct net_opts *o, char *err, size_t errlen)
{
	char buf[1024], *save = NULL, *tok;
	int e = 0;

	memset(o, 0, sizeof(*o));
	o->queues = 1;
	o->net = 0x0a000200; /* 10.0.2.0/24, as QEMU */
	o->mask = 0xffffff00;
	if (strlen(s) >= sizeof(buf))
		return opt_err(err, errlen, "--net: option string too long");
	strcpy(buf, s);
	tok = strtok_r(buf, ",", &save);
	if (!tok)
		return opt_err(err, errlen, "--net: empty");
	if (!strcmp(tok, "user"))
		o->kind = NET_KIND_USER;
	else if (!strcmp(tok, "tap"))
		o->kind = NET_KIND_TAP;
	else if (!strcmp(tok, "bridge"))
		o->kind = NET_KIND_BRIDGE;
	else
		return opt_err(err, errlen, "--net: unknown backend '%s' (user, tap, bridge)", tok);
	while (!e && (tok = strtok_r(NULL, ",", &save))) {
		char *eq = strchr(tok, '=');

		if (!eq)
			return opt_err(err, errlen, "--net: '%s' is not key=value", tok);
		*eq = 0;
		e = net_opt_kv(o, tok, eq + 1, err, errlen);
	}
	if (e)
		return e;
	if (o->kind == NET_KIND_TAP && !o->ifname[0])
		return opt_err(err, errlen, "--net tap: ifname=NAME is required");
	if (o->kind == NET_KIND_BRIDGE && !o->bridge[0])
		return opt_err(err, errlen, "--net bridge: br=NAME is required");
	return 0;
}

/* Appends to buf at *off; -ENOSPC once it does not fit. */
KVMM_PRINTF(4, 5) static int fmt_add(char *buf, size_t len, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*off >= len)
		return -ENOSPC;
	va_start(ap, fmt);
	n = vsnprintf(buf + *off, len - *off, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len - *off)
		return -ENOSPC;
	*off += (size_t)n;
	return 0;
}

/* An address in dotted quad, or "" for 0 (any / the default). */
static const char *fmt_addr(uint32_t a, char s[INET_ADDRSTRLEN])
{
	struct in_addr in = {.s_addr = htonl(a)};

	if (!a || !inet_ntop(AF_INET, &in, s, INET_ADDRSTRLEN))
		s[0] = 0;
	return s;
}

int net_opts_format(const struct net_opts *o, char *buf, size_t len)
{
	static const char *const kinds[] = {"user", "tap", "bridge"};
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];
	size_t off = 0;
	int e;

	if ((unsigned)o->kind >= sizeof(kinds) / sizeof(kinds[0]))
		return -EINVAL;
	e = fmt_add(buf, len, &off, "%s,transport=%s", kinds[o->kind], o->mmio ? "mmio" : "pci");
	if (!e && o->mac_set)
		e = fmt_add(buf, len, &off, ",mac=%02x:%02x:%02x:%02x:%02x:%02x", o->mac[0],
			    o->mac[1], o->mac[2], o->mac[3], o->mac[4], o->mac[5]);
	if (!e && o->kind == NET_KIND_USER) {
		unsigned prefix = (unsigned)__builtin_popcount(o->mask);

		e = fmt_add(buf, len, &off, ",net=%s/%u,restrict=%s", fmt_addr(o->net, a), prefix,
			    o->restrict_ ? "on" : "off");
		for (unsigned i = 0; !e && i < o->nfwd && i < NET_MAX_HOSTFWD; i++) {
			const struct net_hostfwd *f = &o->fwd[i];

			e = fmt_add(buf, len, &off, ",hostfwd=%s:%s:%u-%s:%u",
				    f->udp ? "udp" : "tcp", fmt_addr(f->host_addr, a), f->host_port,
				    fmt_addr(f->guest_addr, b), f->guest_port);
		}
	}
	if (!e && o->kind == NET_KIND_TAP)
		e = fmt_add(buf, len, &off, ",queues=%u", o->queues);
	if (!e && o->kind != NET_KIND_USER && o->ifname[0])
		e = fmt_add(buf, len, &off, ",ifname=%.*s", IFNAMSIZ, o->ifname);
	if (!e && o->kind == NET_KIND_BRIDGE)
		e = fmt_add(buf, len, &off, ",br=%.*s", IFNAMSIZ, o->bridge);
	return e;
}

void net_mac_generate(uint8_t mac[6], uint64_t seed)
{
	/* splitmix64: a stable spread of the seed over the last three bytes */
	uint64_t z = seed + 0x9e3779b97f4a7c15ull;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	mac[0] = 0x52;
	mac[1] = 0x54;
	mac[2] = 0x00;
	mac[3] = (uint8_t)(z >> 16);
	mac[4] = (uint8_t)(z >> 8);
	mac[5] = (uint8_t)z;
}
