/* Unit tests for vmm/qmp_server.c through a real AF_UNIX socket, with the event loop on its
 * own thread and a fake VM: socket mode, greeting, several clients in turn and at once, events
 * to negotiated clients only, clients that disconnect mid-message, oversized and malformed
 * messages on a live connection, the client limit (backlog), a client that never reads, and
 * the --qmp spec parser. */
#include "lib/harness.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/evloop.h"
#include "lib/qmp_fake_vm.h"
#include "vmm/qmp_server.h"

struct fix {
	char dir[32], path[64];
	struct evloop *el;
	struct qmp_server *srv;
	struct qmp_fake_vm vm;
	pthread_t thread;
};

static void *loop_thread(void *arg)
{
	struct fix *f = arg;

	assert_int_equal(evloop_run(f->el, 50, NULL, NULL), 0);
	return NULL;
}

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	char err[256] = "";

	snprintf(f->dir, sizeof(f->dir), "/tmp/kvmm-qmp-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/qmp.sock", f->dir);
	qmp_fake_vm_init(&f->vm);
	assert_int_equal(evloop_create(&f->el), 0);
	assert_int_equal(qmp_server_create(&f->srv, f->path, err, sizeof(err)), 0);
	assert_int_equal(qmp_server_attach(f->srv, f->el, &qmp_fake_vm_ops, &f->vm), 0);
	assert_int_equal(pthread_create(&f->thread, NULL, loop_thread, f), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;
	struct stat st;

	evloop_stop(f->el);
	pthread_join(f->thread, NULL);
	qmp_server_detach(f->srv);
	qmp_server_destroy(f->srv);
	assert_int_equal(stat(f->path, &st), -1); /* the socket file is removed */
	evloop_destroy(f->el);
	rmdir(f->dir);
	free(f);
	return 0;
}

static int cl_connect(struct fix *f)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = 5};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* One "\r\n"-terminated line, or NULL on EOF/timeout. */
static char *cl_line(int fd)
{
	size_t cap = 256, len = 0;
	char *b = malloc(cap);

	for (;;) {
		char ch;
		ssize_t n = recv(fd, &ch, 1, 0);

		if (n <= 0) {
			free(b);
			return NULL;
		}
		if (len + 2 > cap)
			b = realloc(b, cap *= 2);
		b[len++] = ch;
		if (len >= 2 && b[len - 2] == '\r' && b[len - 1] == '\n') {
			b[len - 2] = '\0';
			return b;
		}
	}
}

static void cl_send(int fd, const char *s)
{
	assert_int_equal(send(fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s));
}

/* The next line must contain `want`. */
static void cl_expect(int fd, const char *want)
{
	char *l = cl_line(fd);

	if (!l)
		fail_msg("no line (wanted '%s')", want);
	if (!strstr(l, want))
		fail_msg("got '%s', wanted '%s'", l, want);
	free(l);
}

static int cl_session(struct fix *f)
{
	int fd = cl_connect(f);

	cl_expect(fd, "{\"QMP\": {\"version\": {\"qemu\": ");
	cl_send(fd, "{\"execute\": \"qmp_capabilities\"}\n");
	cl_expect(fd, "{\"return\": {}}");
	return fd;
}

/* Nothing arrives within ms. */
static void cl_quiet(int fd, int ms)
{
	struct timeval tv = {.tv_usec = ms * 1000};
	char ch;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(recv(fd, &ch, 1, 0), -1);
	tv = (struct timeval){.tv_sec = 5};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

static void test_mode_and_commands(void **state)
{
	struct fix *f = *state;
	struct stat st;
	int fd;

	assert_int_equal(stat(f->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	fd = cl_connect(f);
	cl_expect(fd, "\"capabilities\": []");
	cl_send(fd, "{\"execute\": \"query-status\"}\n");
	cl_expect(fd, "Expecting capabilities negotiation");
	cl_send(fd, "{\"execute\": \"qmp_capabilities\"}");
	cl_expect(fd, "{\"return\": {}}");
	cl_send(fd, "{\"execute\": \"query-status\", \"id\": 3}");
	cl_expect(fd, "{\"return\": {\"running\": true, \"singlestep\": false, \"status\": "
		      "\"running\"}, \"id\": 3}");
	cl_send(fd, "{\"execute\": \"stop\"}");
	cl_expect(fd, "\"event\": \"STOP\"}");
	cl_expect(fd, "{\"return\": {}}");
	cl_send(fd, "{\"execute\": \"cont\"}");
	cl_expect(fd, "\"event\": \"RESUME\"}");
	cl_expect(fd, "{\"return\": {}}");
	cl_send(fd, "{\"execute\": \"system_powerdown\"}");
	cl_expect(fd, "\"event\": \"POWERDOWN\"}");
	cl_expect(fd, "{\"return\": {}}");
	cl_send(fd, "{\"execute\": \"nope\"}");
	cl_expect(fd, "{\"error\": {\"class\": \"CommandNotFound\"");
	cl_send(fd, "{\"execute\": \"quit\"}");
	cl_expect(fd, "{\"return\": {}}");
	close(fd);
	assert_int_equal(f->vm.nquit, 1);
	assert_int_equal(f->vm.npowerdown, 1);
}

static void test_clients_in_turn(void **state)
{
	struct fix *f = *state;

	for (int i = 0; i < 20; i++) {
		int fd = cl_session(f);

		cl_send(fd, "{\"execute\": \"query-kvm\"}");
		cl_expect(fd, "\"present\": true");
		close(fd);
	}
}

static void test_events_to_negotiated_clients(void **state)
{
	struct fix *f = *state;
	int a = cl_session(f), b = cl_session(f), c = cl_connect(f);

	cl_expect(c, "{\"QMP\"");
	cl_send(a, "{\"execute\": \"stop\"}");
	cl_expect(a, "\"event\": \"STOP\"");
	cl_expect(a, "{\"return\": {}}");
	cl_expect(b, "\"event\": \"STOP\"");
	cl_quiet(c, 200); /* still negotiating: no events */
	cl_send(b, "{\"execute\": \"cont\"}");
	cl_expect(b, "\"event\": \"RESUME\"");
	cl_expect(a, "\"event\": \"RESUME\"");
	close(a);
	close(b);
	close(c);
}

static void test_disconnect_mid_message(void **state)
{
	struct fix *f = *state;
	int fd = cl_session(f);

	cl_send(fd, "{\"execute\": \"sto");
	close(fd);
	fd = cl_connect(f); /* before even reading the greeting */
	cl_send(fd, "{\"execute\": \"qmp_capa");
	close(fd);
	fd = cl_session(f);
	cl_send(fd, "{\"execute\": \"query-status\"}");
	cl_expect(fd, "\"status\": \"running\"");
	close(fd);
	assert_int_equal(f->vm.nstop, 0);
}

static void test_huge_and_malformed(void **state)
{
	struct fix *f = *state;
	int fd = cl_session(f);
	size_t n = 2 * QMP_MAX_MESSAGE;
	char *big = malloc(n + 64);

	strcpy(big, "{\"execute\": \"stop\", \"id\": \"");
	memset(big + strlen(big), 'z', n - strlen(big));
	strcpy(big + n, "\"}\n");
	/* The server reads while we write: send from this thread, the reply waits. */
	cl_send(fd, big);
	cl_expect(fd, "JSON parse error, message exceeds the limit");
	cl_send(fd, "{\"execute\": }\n");
	cl_expect(fd, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error");
	assert_int_equal(send(fd, "\xff\xfe\x00garbage\n", 11, MSG_NOSIGNAL), 11);
	cl_expect(fd, "JSON parse error");
	cl_send(fd, "{\"execute\": \"stop\", \"arguments\": {\"x\": true}}");
	cl_expect(fd, "Parameter 'x' is unexpected");
	cl_send(fd, "{\"execute\": \"query-status\"}");
	cl_expect(fd, "\"status\": \"running\"");
	assert_int_equal(f->vm.nstop, 0);
	close(fd);
	free(big);
}

static void test_client_limit(void **state)
{
	struct fix *f = *state;
	int fds[QMP_SERVER_MAX_CLIENTS], extra;

	for (int i = 0; i < QMP_SERVER_MAX_CLIENTS; i++) {
		fds[i] = cl_connect(f);
		cl_expect(fds[i], "{\"QMP\"");
	}
	extra = cl_connect(f); /* accepted by the kernel backlog only */
	cl_quiet(extra, 300);
	close(fds[0]);
	cl_expect(extra, "{\"QMP\""); /* served once a slot is free */
	for (int i = 1; i < QMP_SERVER_MAX_CLIENTS; i++)
		close(fds[i]);
	close(extra);
}

/* A client that floods requests and never reads must not stall the server for others. */
static void test_client_that_never_reads(void **state)
{
	struct fix *f = *state;
	int hog = cl_session(f), other;
	const char *req = "{\"execute\": \"query-commands\"}";
	size_t sent = 0;

	fcntl(hog, F_SETFL, O_NONBLOCK);
	for (int i = 0; i < 200000 && sent < (8u << 20); i++) {
		ssize_t n = send(hog, req, strlen(req), MSG_NOSIGNAL);

		if (n < 0 && errno == EAGAIN) {
			usleep(1000);
			if (i > 2000)
				break;
			continue;
		}
		if (n < 0)
			break; /* dropped: fine too */
		sent += (size_t)n;
	}
	other = cl_session(f);
	cl_send(other, "{\"execute\": \"query-name\"}");
	cl_expect(other, "{\"return\": {\"name\": \"fake\"}}");
	close(hog);
	close(other);
}

static void test_create_errors(void **state)
{
	char dir[] = "/tmp/kvmm-qmp-XXXXXX", path[64], err[256] = "";
	struct qmp_server *srv;
	int fd;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/file", dir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	close(fd);
	assert_int_equal(qmp_server_create(&srv, path, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "is not a socket"));
	unlink(path);
	/* A stale socket file is replaced. */
	assert_int_equal(qmp_server_create(&srv, path, err, sizeof(err)), 0);
	close(dup(0));
	{
		struct qmp_server *srv2;

		assert_int_equal(qmp_server_create(&srv2, path, err, sizeof(err)), 0);
		qmp_server_destroy(srv2);
	}
	qmp_server_destroy(srv);
	rmdir(dir);
	(void)state;
}

static void test_parse_spec(void **state)
{
	char path[QMP_SERVER_PATH_MAX], err[256], longp[300];
	static const struct {
		const char *spec;
		int ret;
		const char *path;
	} t[] = {
	    {"unix:/tmp/a.sock", 0, "/tmp/a.sock"},
	    {"unix:/tmp/a.sock,server", 0, "/tmp/a.sock"},
	    {"unix:/tmp/a.sock,server=on,wait=off", 0, "/tmp/a.sock"},
	    {"unix:/tmp/a.sock,server,nowait", 0, "/tmp/a.sock"},
	    {"unix:rel.sock", 0, "rel.sock"},
	    {"tcp:localhost:4444", -EINVAL, NULL},
	    {"/tmp/a.sock", -EINVAL, NULL},
	    {"unix:", -EINVAL, NULL},
	    {"unix:/tmp/a.sock,wait=on", -EINVAL, NULL},
	    {"unix:/tmp/a.sock,server=off", -EINVAL, NULL},
	    {"unix:/tmp/a.sock,bogus", -EINVAL, NULL},
	};

	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		err[0] = '\0';
		assert_int_equal(
		    qmp_server_parse_spec(t[i].spec, path, sizeof(path), err, sizeof(err)),
		    t[i].ret);
		if (t[i].path)
			assert_string_equal(path, t[i].path);
		else
			assert_true(strncmp(err, "--qmp", 5) == 0);
	}
	memset(longp, 'a', sizeof(longp));
	memcpy(longp, "unix:/", 6);
	longp[sizeof(longp) - 1] = '\0';
	assert_int_equal(qmp_server_parse_spec(longp, path, sizeof(path), err, sizeof(err)),
			 -EINVAL);
	(void)state;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_mode_and_commands, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_clients_in_turn, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_events_to_negotiated_clients, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_disconnect_mid_message, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_huge_and_malformed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_client_limit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_client_that_never_reads, setup, teardown),
	    cmocka_unit_test(test_create_errors),
	    cmocka_unit_test(test_parse_spec),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
