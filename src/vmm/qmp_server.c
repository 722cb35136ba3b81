/* vmm/qmp_server.c — see qmp_server.h: socket, clients, output buffering, event broadcast. */
#include "vmm/qmp_server.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/evloop.h"
#include "base/log.h"

#define QMP_SERVER_READ_CHUNK 4096
#define QMP_SERVER_FLUSH_MS   1000

struct qmp_client {
	struct qmp_server *srv;
	int fd;
	struct qmp_session s;
	char *out;
	size_t out_len, out_cap;
	bool dead, registered;
	uint32_t events; /* what the loop watches */
};

struct qmp_server {
	char path[QMP_SERVER_PATH_MAX];
	int lfd;
	bool listening;
	struct evloop *el; /* NULL while detached */
	struct qmp_env env;
	struct qmp_client *clients[QMP_SERVER_MAX_CLIENTS];
	unsigned depth; /* nested calls: dead clients are freed when it drops to 0 */
};

int qmp_server_parse_spec(const char *spec, char *path, size_t pathlen, char *err, size_t errlen)
{
	const char *p, *comma;
	size_t n;

	if (strncmp(spec, "unix:", 5)) {
		snprintf(err, errlen, "--qmp: '%s' is not unix:PATH[,server][,wait=off]", spec);
		return -EINVAL;
	}
	p = spec + 5;
	comma = strchr(p, ',');
	n = comma ? (size_t)(comma - p) : strlen(p);
	if (n == 0 || n >= pathlen || n >= QMP_SERVER_PATH_MAX) {
		snprintf(err, errlen, "--qmp: the socket path must be 1 to %d bytes",
			 QMP_SERVER_PATH_MAX - 1);
		return -EINVAL;
	}
	memcpy(path, p, n);
	path[n] = '\0';
	while (comma) {
		const char *opt = comma + 1;
		size_t len;

		comma = strchr(opt, ',');
		len = comma ? (size_t)(comma - opt) : strlen(opt);
		if ((len == 6 && !strncmp(opt, "server", 6)) ||
		    (len == 9 && !strncmp(opt, "server=on", 9)) ||
		    (len == 8 && !strncmp(opt, "wait=off", 8)) ||
		    (len == 6 && !strncmp(opt, "nowait", 6)))
			continue;
		snprintf(err, errlen,
			 "--qmp: unsupported option '%.*s' (kvmm is always the server and never "
			 "waits: server, wait=off)",
			 (int)KVMM_MIN(len, 64), opt);
		return -EINVAL;
	}
	return 0;
}

static int qmp_server_listen(struct qmp_server *srv, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	mode_t old;
	int e;

	if (lstat(srv->path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "--qmp: '%s' exists and is not a socket", srv->path);
			return -EEXIST;
		}
		unlink(srv->path);
	}
	srv->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (srv->lfd < 0) {
		e = -errno;
		snprintf(err, errlen, "--qmp: socket: %s", strerror(-e));
		return e;
	}
	memcpy(sa.sun_path, srv->path, strlen(srv->path) + 1);
	old = umask(0177); /* the socket file is created 0600: only our user may connect */
	e = bind(srv->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -errno : 0;
	umask(old);
	if (!e && chmod(srv->path, 0600) < 0)
		e = -errno;
	if (!e && listen(srv->lfd, 8) < 0)
		e = -errno;
	if (e) {
		snprintf(err, errlen, "--qmp: cannot listen on '%s': %s", srv->path, strerror(-e));
		close(srv->lfd);
		srv->lfd = -1;
	}
	return e;
}

int qmp_server_create(struct qmp_server **out, const char *path, char *err, size_t errlen)
{
	struct qmp_server *srv;
	int e;

	if (strlen(path) >= QMP_SERVER_PATH_MAX || !path[0]) {
		snprintf(err, errlen, "--qmp: the socket path must be 1 to %d bytes",
			 QMP_SERVER_PATH_MAX - 1);
		return -ENAMETOOLONG;
	}
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	snprintf(srv->path, sizeof(srv->path), "%s", path);
	e = qmp_server_listen(srv, err, errlen);
	if (e) {
		free(srv);
		return e;
	}
	*out = srv;
	return 0;
}

/* ---- clients ---- */

static void qmp_client_watch(struct qmp_client *c)
{
	struct qmp_server *srv = c->srv;
	uint32_t ev = 0;

	if (!srv->el || c->dead || !c->registered)
		return;
	if (c->out_len < QMP_SERVER_OUT_HIGH)
		ev |= EPOLLIN; /* backpressure: no new requests while replies pile up */
	if (c->out_len)
		ev |= EPOLLOUT;
	if (ev != c->events && !evloop_mod(srv->el, c->fd, ev))
		c->events = ev;
}

static void qmp_client_flush(struct qmp_client *c)
{
	while (c->out_len && !c->dead) {
		ssize_t n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			c->dead = true;
			break;
		}
		memmove(c->out, c->out + n, c->out_len - (size_t)n);
		c->out_len -= (size_t)n;
	}
}

static int qmp_client_send(void *ctx, const char *text, size_t len)
{
	struct qmp_client *c = ctx;

	if (c->dead)
		return -EPIPE;
	if (c->out_len + len > QMP_SERVER_OUT_MAX) {
		log_warn("qmp: dropping a client that does not read its replies");
		c->dead = true;
		return -ENOBUFS;
	}
	if (c->out_len + len > c->out_cap) {
		size_t cap = KVMM_MAX(c->out_cap * 2, c->out_len + len);
		char *b = realloc(c->out, cap);

		if (!b) {
			c->dead = true;
			return -ENOMEM;
		}
		c->out = b;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, text, len);
	c->out_len += len;
	qmp_client_flush(c);
	return c->dead ? -EPIPE : 0;
}

static void qmp_client_free(struct qmp_client *c)
{
	if (c->registered && c->srv->el)
		evloop_del(c->srv->el, c->fd);
	close(c->fd);
	qmp_session_fini(&c->s);
	free(c->out);
	free(c);
}

static void qmp_server_on_listen(void *ctx, int fd, uint32_t events);

static void qmp_server_listen_update(struct qmp_server *srv)
{
	bool want = false;

	for (unsigned i = 0; i < QMP_SERVER_MAX_CLIENTS; i++)
		want |= !srv->clients[i];
	want = want && srv->el;
	if (want == srv->listening)
		return;
	if (want) {
		if (!evloop_add(srv->el, srv->lfd, EPOLLIN, qmp_server_on_listen, srv))
			srv->listening = true;
	} else {
		if (srv->el)
			evloop_del(srv->el, srv->lfd);
		srv->listening = false;
	}
}

/* Free the clients marked dead, unless a caller up the stack may still use them. */
static void qmp_server_reap(struct qmp_server *srv)
{
	if (srv->depth)
		return;
	for (unsigned i = 0; i < QMP_SERVER_MAX_CLIENTS; i++) {
		struct qmp_client *c = srv->clients[i];

		if (!c)
			continue;
		if (c->dead) {
			if (qmp_session_partial(&c->s))
				log_info("qmp: client left in the middle of a message");
			qmp_client_free(c);
			srv->clients[i] = NULL;
		} else {
			qmp_client_watch(c);
		}
	}
	qmp_server_listen_update(srv);
}

static void qmp_client_on_io(void *ctx, int fd, uint32_t events)
{
	struct qmp_client *c = ctx;
	struct qmp_server *srv = c->srv;
	char buf[QMP_SERVER_READ_CHUNK];

	srv->depth++;
	if (events & EPOLLOUT)
		qmp_client_flush(c);
	if (!c->dead && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			c->dead = true;
		else if (n > 0 && qmp_session_input(&c->s, buf, (size_t)n))
			c->dead = true; /* -ENOMEM */
	}
	srv->depth--;
	qmp_server_reap(srv);
}

static int qmp_client_register(struct qmp_client *c)
{
	struct qmp_server *srv = c->srv;
	int e;

	c->events = EPOLLIN | (c->out_len ? EPOLLOUT : 0);
	e = evloop_add(srv->el, c->fd, c->events, qmp_client_on_io, c);
	c->registered = !e;
	return e;
}

static void qmp_server_on_listen(void *ctx, int fd, uint32_t events)
{
	struct qmp_server *srv = ctx;
	const struct qmp_output out = {qmp_client_send, NULL};
	struct qmp_client *c;
	unsigned slot = 0;
	int cfd;

	while (slot < QMP_SERVER_MAX_CLIENTS && srv->clients[slot])
		slot++;
	if (slot == QMP_SERVER_MAX_CLIENTS)
		return; /* stays in the backlog */
	cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cfd < 0)
		return;
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(cfd);
		return;
	}
	c->srv = srv;
	c->fd = cfd;
	qmp_session_init(&c->s, &srv->env, &out);
	c->s.out.ctx = c;
	srv->clients[slot] = c;
	srv->depth++;
	if (qmp_session_greet(&c->s) || qmp_client_register(c))
		c->dead = true;
	srv->depth--;
	qmp_server_reap(srv);
}

/* ---- attach, events, teardown ---- */

static void qmp_server_emit(void *ctx, const char *name, json_t *data)
{
	qmp_server_event(ctx, name, data);
}

int qmp_server_attach(struct qmp_server *srv, struct evloop *el, const struct qmp_vm_ops *ops,
		      void *ctx)
{
	srv->env = (struct qmp_env){ops, ctx, {qmp_server_emit, srv}};
	srv->el = el;
	for (unsigned i = 0; i < QMP_SERVER_MAX_CLIENTS; i++)
		if (srv->clients[i] && !srv->clients[i]->dead &&
		    qmp_client_register(srv->clients[i]))
			srv->clients[i]->dead = true;
	qmp_server_reap(srv);
	if (!srv->listening && qmp_server_nclients(srv) < QMP_SERVER_MAX_CLIENTS) {
		qmp_server_detach(srv);
		return -ENOSPC;
	}
	return 0;
}

void qmp_server_detach(struct qmp_server *srv)
{
	if (!srv || !srv->el)
		return;
	for (unsigned i = 0; i < QMP_SERVER_MAX_CLIENTS; i++) {
		struct qmp_client *c = srv->clients[i];

		if (c && c->registered) {
			evloop_del(srv->el, c->fd);
			c->registered = false;
			c->events = 0;
		}
	}
	if (srv->listening)
		evloop_del(srv->el, srv->lfd);
	srv->listening = false;
	srv->el = NULL;
}

void qmp_server_event(struct qmp_server *srv, const char *name, json_t *data)
{
	char *text = qmp_event_text(name, data), *t;
	size_t len;

	if (!text)
		return;
	len = strlen(text);
	t = realloc(text, len + 3);
	if (!t) {
		free(text);
		return;
	}
	text = t;
	memcpy(text + len, "\r\n", 3);
	len += 2;
	srv->depth++;
	for (unsigned i = 0; i < QMP_SERVER_MAX_CLIENTS; i++) {
		struct qmp_client *c = srv->clients[i];

		if (c && c->s.negotiated && !c->dead)
			qmp_client_send(c, text, len);
	}
	srv->depth--;
	free(text);
	qmp_server_reap(srv);
}

unsigned qmp_server_nclients(const struct qmp_server *srv)
{
	unsigned n = 0;

	for (unsigned i = 0; i < QMP_SERVER_MAX_CLIENTS; i++)
		n += srv->clients[i] != NULL;
	return n;
}

static uint64_t qmp_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Give every client up to QMP_SERVER_FLUSH_MS in total to take its last replies and events. */
static void qmp_server_flush_all(struct qmp_server *srv)
{
	uint64_t end = qmp_now_ms() + QMP_SERVER_FLUSH_MS;

	for (unsigned i = 0; i < QMP_SERVER_MAX_CLIENTS; i++) {
		struct qmp_client *c = srv->clients[i];

		while (c && !c->dead && c->out_len) {
			struct pollfd pfd = {.fd = c->fd, .events = POLLOUT};
			uint64_t now = qmp_now_ms();

			if (now >= end || poll(&pfd, 1, (int)(end - now)) <= 0)
				break;
			qmp_client_flush(c);
		}
	}
}

void qmp_server_destroy(struct qmp_server *srv)
{
	if (!srv)
		return;
	qmp_server_detach(srv);
	qmp_server_flush_all(srv);
	for (unsigned i = 0; i < QMP_SERVER_MAX_CLIENTS; i++)
		if (srv->clients[i])
			qmp_client_free(srv->clients[i]);
	if (srv->lfd >= 0) {
		close(srv->lfd);
		unlink(srv->path);
	}
	free(srv);
}
