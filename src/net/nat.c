/* net/nat.c — see nat.h. */
#include "net/nat.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"

struct nat_paths {
	char dir[256], state[300], pid[300], leases[300];
};

static int nat_paths(const char *state_dir, const char *name, struct nat_paths *p)
{
	const char *d = state_dir ? state_dir : NET_NAT_STATE_DIR;

	if ((size_t)snprintf(p->dir, sizeof(p->dir), "%s/%s", d, name) >= sizeof(p->dir))
		return -ENAMETOOLONG;
	snprintf(p->state, sizeof(p->state), "%s/state", p->dir);
	snprintf(p->pid, sizeof(p->pid), "%s/dnsmasq.pid", p->dir);
	snprintf(p->leases, sizeof(p->leases), "%s/leases", p->dir);
	return 0;
}

static bool nat_name_ok(const char *n)
{
	size_t len = n ? strlen(n) : 0;

	if (len == 0 || len >= IFNAMSIZ)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((n[i] >= 'a' && n[i] <= 'z') || (n[i] >= 'A' && n[i] <= 'Z') ||
		      (n[i] >= '0' && n[i] <= '9') || n[i] == '_' || n[i] == '-'))
			return false;
	return true;
}

int net_nat_parse_subnet(const char *s, uint32_t *net, uint32_t *mask)
{
	char buf[32], *slash, *end;
	struct in_addr a;
	unsigned long p;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (!slash)
		return -EINVAL;
	*slash = 0;
	p = strtoul(slash + 1, &end, 10);
	if (*end || !slash[1] || p < 8 || p > 28 || inet_pton(AF_INET, buf, &a) != 1)
		return -EINVAL;
	*net = ntohl(a.s_addr);
	*mask = ~0u << (32 - p);
	return (*net & ~*mask) || !*net ? -EINVAL : 0;
}

static void ip_str(uint32_t host_order, char *buf)
{
	struct in_addr a = {htonl(host_order)};

	inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN);
}

static int prefix_len(uint32_t mask)
{
	return __builtin_popcount(mask);
}

/* ---- ioctls on the bridge ---- */

static int nat_ioctl(unsigned long req, struct ifreq *ifr)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), e = 0;

	if (s < 0)
		return -errno;
	if (ioctl(s, req, ifr))
		e = -errno;
	close(s);
	return e;
}

static int nat_br_ioctl(unsigned long req, const char *name)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), e = 0;

	if (s < 0)
		return -errno;
	if (ioctl(s, req, name))
		e = -errno;
	close(s);
	return e;
}

static bool is_bridge(const char *name)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/sys/class/net/%s/bridge", name);
	return stat(path, &st) == 0;
}

static int set_addr(const char *name, unsigned long req, uint32_t a)
{
	struct ifreq ifr = {0};
	struct sockaddr_in *sin = (struct sockaddr_in *)(void *)&ifr.ifr_addr;

	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(a);
	return nat_ioctl(req, &ifr);
}

static int set_up(const char *name, bool up)
{
	struct ifreq ifr = {0};
	int e;

	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	e = nat_ioctl(SIOCGIFFLAGS, &ifr);
	if (e)
		return e;
	if (up)
		ifr.ifr_flags |= IFF_UP;
	else
		ifr.ifr_flags &= ~IFF_UP;
	return nat_ioctl(SIOCSIFFLAGS, &ifr);
}

/* ---- helper processes ---- */

/* Run argv (PATH lookup) with `input` on stdin; its stderr's first line goes to err. Returns
 * the exit status, or -errno if it could not run (-ENOENT: not installed). */
static int nat_run(const char *const argv[], const char *input, char *err, size_t errlen)
{
	int in[2], errp[2], st;
	pid_t pid;
	ssize_t n;
	char buf[512];

	if (pipe2(in, O_CLOEXEC))
		return -errno;
	if (pipe2(errp, O_CLOEXEC)) {
		close(in[0]);
		close(in[1]);
		return -errno;
	}
	pid = fork();
	if (pid < 0) {
		st = -errno;
		goto out;
	}
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(errp[1], 2);
		dup2(errp[1], 1);
		execvp(argv[0], (char *const *)(uintptr_t)argv);
		_exit(errno == ENOENT ? 127 : 126);
	}
	close(in[0]);
	close(errp[1]);
	in[0] = errp[1] = -1;
	if (input && write(in[1], input, strlen(input)) < 0)
		log_warn("net nat: writing to %s: %s", argv[0], strerror(errno));
	close(in[1]);
	in[1] = -1;
	n = read(errp[0], buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = 0;
	buf[strcspn(buf, "\n")] = 0;
	if (waitpid(pid, &st, 0) < 0) {
		st = -errno;
		goto out;
	}
	st = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
	if (st == 127)
		st = -ENOENT;
	if (st && err)
		snprintf(err, errlen, "%s: %s", argv[0], buf[0] ? buf : "failed");
out:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (errp[i] >= 0)
			close(errp[i]);
	}
	return st;
}

static pid_t nat_read_pid(const char *path)
{
	FILE *f = fopen(path, "re");
	long v = 0;

	if (!f)
		return 0;
	if (fscanf(f, "%ld", &v) != 1)
		v = 0;
	fclose(f);
	return v > 1 ? (pid_t)v : 0;
}

static bool nat_pid_is_dnsmasq(pid_t pid)
{
	char path[64], comm[32] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	if (!fgets(comm, sizeof(comm), f))
		comm[0] = 0;
	fclose(f);
	return !strncmp(comm, "dnsmasq", 7);
}

static void nat_stop_dnsmasq(const struct nat_paths *p)
{
	pid_t pid = nat_read_pid(p->pid);

	if (pid && nat_pid_is_dnsmasq(pid)) {
		kill(pid, SIGTERM);
		for (int i = 0; i < 100 && nat_pid_is_dnsmasq(pid); i++) {
			struct timespec ts = {0, 20 * 1000000};

			(void)waitpid(pid, NULL, WNOHANG);
			nanosleep(&ts, NULL);
		}
		if (nat_pid_is_dnsmasq(pid))
			kill(pid, SIGKILL);
	}
	unlink(p->pid);
}

static int nat_start_dnsmasq(const struct net_nat_opts *o, const struct nat_paths *p, char *err,
			     size_t errlen)
{
	char gw[INET_ADDRSTRLEN], lo[INET_ADDRSTRLEN], hi[INET_ADDRSTRLEN], mask[INET_ADDRSTRLEN];
	char a_if[64], a_listen[64], a_range[128], a_lease[320], a_pid[320], a_router[64];
	uint32_t bcast = o->net | ~o->mask;
	const char *argv[] = {"dnsmasq",
			      "--conf-file=/dev/null",
			      a_if,
			      "--bind-interfaces",
			      "--except-interface=lo",
			      a_listen,
			      a_range,
			      a_lease,
			      a_pid,
			      a_router,
			      "--dhcp-authoritative",
			      NULL};
	pid_t pid = nat_read_pid(p->pid);
	int st;

	if (pid && nat_pid_is_dnsmasq(pid))
		return 0; /* already running (idempotent create) */
	ip_str(o->net | 1, gw);
	ip_str(o->net + 10 < bcast - 1 ? o->net + 10 : o->net + 2, lo);
	ip_str(bcast - 1, hi);
	ip_str(o->mask, mask);
	snprintf(a_if, sizeof(a_if), "--interface=%s", o->name);
	snprintf(a_listen, sizeof(a_listen), "--listen-address=%s", gw);
	snprintf(a_range, sizeof(a_range), "--dhcp-range=%s,%s,%s,12h", lo, hi, mask);
	snprintf(a_lease, sizeof(a_lease), "--dhcp-leasefile=%s", p->leases);
	snprintf(a_pid, sizeof(a_pid), "--pid-file=%s", p->pid);
	snprintf(a_router, sizeof(a_router), "--dhcp-option=option:router,%s", gw);
	st = nat_run(argv, NULL, err, errlen);
	if (st == -ENOENT)
		snprintf(err, errlen, "dnsmasq not found (apt-get install dnsmasq-base)");
	if (st)
		return st < 0 ? st : -EIO;
	return 0;
}

static int nat_nft_apply(const struct net_nat_opts *o, char *err, size_t errlen)
{
	char net[INET_ADDRSTRLEN], script[1024];
	const char *argv[] = {"nft", "-f", "-", NULL};
	int st;

	ip_str(o->net, net);
	/* "table; delete table; table {...}" replaces it atomically whether or not it existed */
	snprintf(script, sizeof(script),
		 "table ip kvmm_%s\n"
		 "delete table ip kvmm_%s\n"
		 "table ip kvmm_%s {\n"
		 "  chain postrouting {\n"
		 "    type nat hook postrouting priority srcnat; policy accept;\n"
		 "    ip saddr %s/%d oifname != \"%s\" masquerade\n"
		 "  }\n"
		 "  chain forward {\n"
		 "    type filter hook forward priority filter; policy accept;\n"
		 "    iifname \"%s\" accept\n"
		 "    oifname \"%s\" ct state established,related accept\n"
		 "  }\n"
		 "}\n",
		 o->name, o->name, o->name, net, prefix_len(o->mask), o->name, o->name, o->name);
	st = nat_run(argv, script, err, errlen);
	if (st == -ENOENT)
		snprintf(err, errlen, "nft not found (apt-get install nftables)");
	return st ? (st < 0 ? st : -EIO) : 0;
}

static void nat_nft_delete(const char *name)
{
	char table[64];
	const char *argv[] = {"nft", "delete", "table", "ip", table, NULL};

	snprintf(table, sizeof(table), "kvmm_%s", name);
	(void)nat_run(argv, NULL, NULL, 0); /* absent: fine */
}

/* ---- ip_forward ---- */

static int nat_forward_get(void)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_forward", "re");
	int v = -1;

	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static int nat_forward_set(int v)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_forward", "we");
	int e = 0;

	if (!f)
		return -errno;
	if (fprintf(f, "%d\n", v) < 0)
		e = -EIO;
	if (fclose(f))
		e = -errno;
	return e;
}

/* ---- state ---- */

struct nat_state {
	uint32_t net, mask;
	bool forward_changed, created_bridge;
};

static int nat_state_read(const struct nat_paths *p, struct nat_state *s)
{
	FILE *f = fopen(p->state, "re");
	char subnet[32] = "";
	int fw = 0, br = 0;

	if (!f)
		return -errno;
	if (fscanf(f, "subnet=%31s forward_changed=%d created_bridge=%d", subnet, &fw, &br) != 3 ||
	    net_nat_parse_subnet(subnet, &s->net, &s->mask)) {
		fclose(f);
		return -EINVAL;
	}
	fclose(f);
	s->forward_changed = fw;
	s->created_bridge = br;
	return 0;
}

static int nat_state_write(const struct nat_paths *p, const struct nat_state *s)
{
	char net[INET_ADDRSTRLEN];
	FILE *f = fopen(p->state, "we");

	if (!f)
		return -errno;
	ip_str(s->net, net);
	fprintf(f, "subnet=%s/%d\nforward_changed=%d\ncreated_bridge=%d\n", net,
		prefix_len(s->mask), s->forward_changed, s->created_bridge);
	return fclose(f) ? -errno : 0;
}

static int mkdir_p(const char *path)
{
	char buf[256];

	if (strlen(path) >= sizeof(buf))
		return -ENAMETOOLONG;
	strcpy(buf, path);
	for (char *s = buf + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = 0;
		if (mkdir(buf, 0755) && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	return mkdir(buf, 0700) && errno != EEXIST ? -errno : 0;
}

/* Any other NAT network still recorded? */
static bool nat_others(const char *state_dir, const char *name)
{
	DIR *d = opendir(state_dir ? state_dir : NET_NAT_STATE_DIR);
	struct dirent *de;
	bool any = false;

	if (!d)
		return false;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && strcmp(de->d_name, name))
			any = true;
	closedir(d);
	return any;
}

/* ---- create / delete ---- */

static int nat_bridge_setup(const struct net_nat_opts *o, struct nat_state *s, char *err,
			    size_t errlen)
{
	int e;

	if (if_nametoindex(o->name)) {
		/* only reached for a network recorded in our state (create checked) */
		if (!s->created_bridge && !is_bridge(o->name)) {
			snprintf(err, errlen, "'%s' exists and is not a bridge", o->name);
			return -EEXIST;
		}
	} else {
		e = nat_br_ioctl(SIOCBRADDBR, o->name);
		if (e) {
			snprintf(err, errlen, "cannot create bridge %s: %s%s", o->name,
				 strerror(-e), e == -EPERM ? " (needs CAP_NET_ADMIN)" : "");
			return e;
		}
		s->created_bridge = true;
	}
	e = set_addr(o->name, SIOCSIFADDR, o->net | 1);
	if (!e)
		e = set_addr(o->name, SIOCSIFNETMASK, o->mask);
	if (!e)
		e = set_up(o->name, true);
	if (e)
		snprintf(err, errlen, "cannot configure bridge %s: %s", o->name, strerror(-e));
	return e;
}

int net_nat_create(const struct net_nat_opts *o, char *err, size_t errlen)
{
	struct nat_state s = {.net = o->net, .mask = o->mask}, old;
	struct nat_paths p;
	bool existed;
	int e, fw;

	if (!nat_name_ok(o->name)) {
		snprintf(err, errlen, "bad network name '%s' (1-15 of A-Z a-z 0-9 _ -)",
			 o->name ? o->name : "");
		return -EINVAL;
	}
	e = nat_paths(o->state_dir, o->name, &p);
	if (e) {
		snprintf(err, errlen, "state directory path too long");
		return e;
	}
	existed = nat_state_read(&p, &old) == 0;
	if (existed && (old.net != o->net || old.mask != o->mask)) {
		snprintf(err, errlen, "NAT network %s exists with another subnet", o->name);
		return -EEXIST;
	}
	if (existed) {
		s.forward_changed = old.forward_changed;
		s.created_bridge = old.created_bridge;
	} else if (if_nametoindex(o->name)) {
		snprintf(err, errlen, "an interface named %s already exists", o->name);
		return -EEXIST;
	}
	e = mkdir_p(p.dir);
	if (e) {
		snprintf(err, errlen, "cannot create %s: %s", p.dir, strerror(-e));
		return e;
	}
	e = nat_bridge_setup(o, &s, err, errlen);
	if (!e && (fw = nat_forward_get()) == 0) {
		e = nat_forward_set(1);
		if (e)
			snprintf(err, errlen, "cannot enable IPv4 forwarding: %s", strerror(-e));
		else
			s.forward_changed = true;
	}
	if (!e)
		e = nat_state_write(&p, &s); /* before the helpers, so delete can find them */
	if (!e)
		e = nat_nft_apply(o, err, errlen);
	if (!e)
		e = nat_start_dnsmasq(o, &p, err, errlen);
	if (e && !existed) {
		char ignored[128];

		if (nat_state_write(&p, &s) == 0 &&
		    net_nat_delete(o->name, o->state_dir, ignored, sizeof(ignored)))
			log_warn("net nat: undoing the failed create: %s", ignored);
	}
	return e;
}

int net_nat_delete(const char *name, const char *state_dir, char *err, size_t errlen)
{
	struct nat_state s = {0};
	struct nat_paths p;
	bool have;
	int e;

	if (!nat_name_ok(name)) {
		snprintf(err, errlen, "bad network name '%s'", name ? name : "");
		return -EINVAL;
	}
	e = nat_paths(state_dir, name, &p);
	if (e) {
		snprintf(err, errlen, "state directory path too long");
		return e;
	}
	have = nat_state_read(&p, &s) == 0;
	if (!have)
		return 0; /* nothing of ours: already deleted (idempotent) */
	nat_stop_dnsmasq(&p);
	nat_nft_delete(name);
	if (s.created_bridge && if_nametoindex(name)) {
		(void)set_up(name, false);
		e = nat_br_ioctl(SIOCBRDELBR, name); /* refuses (EPERM) anything but a bridge */
		if (e && e != -ENXIO && e != -ENODEV) {
			snprintf(err, errlen, "cannot delete bridge %s: %s", name, strerror(-e));
			return e;
		}
	}
	unlink(p.leases);
	unlink(p.state);
	rmdir(p.dir);
	rmdir(state_dir ? state_dir : NET_NAT_STATE_DIR); /* only when empty */
	if (s.forward_changed && !nat_others(state_dir, name))
		(void)nat_forward_set(0);
	return 0;
}
