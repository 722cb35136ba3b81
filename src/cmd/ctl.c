/* cmd/ctl.c — `kvmm ctl`: a QMP client for kvmm's (or QEMU's) control socket.
 *
 *   kvmm ctl [--json] [--timeout S] [--wait-event NAME] [--events] SOCKET COMMAND [ARG...]
 *   kvmm ctl [--json] SOCKET --shell
 *
 * ARG is key=value (true/false become booleans, decimal numbers integers, anything else a
 * string) or key:=JSON (a raw JSON value). It connects, checks the greeting, negotiates
 * capabilities, sends one command and prints the reply: human-readable by default, the raw JSON
 * line with --json. Exit status: 0 success, 1 a QMP error reply (or --wait-event not seen),
 * 2 usage or connection errors. Main thread only. */
#include "cmd/cmd.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "base/compiler.h"

#define CTL_EXIT_ERROR	 1
#define CTL_EXIT_USAGE	 2
#define CTL_MAX_LINE	 (4 * 1024 * 1024)
#define CTL_PRINT_DEPTH	 16
#define CTL_MAX_WORDS	 64
#define CTL_DEFAULT_WAIT 30

static const char ctl_usage[] =
    "usage: kvmm ctl [OPTIONS] SOCKET COMMAND [ARG...]\n"
    "       kvmm ctl [--json] SOCKET --shell\n"
    "\n"
    "Send one QMP command to a VM started with --qmp unix:SOCKET (or to QEMU) and print the\n"
    "reply. ARG is key=value (true/false: boolean, a decimal number: integer, else a string)\n"
    "or key:=JSON (a raw JSON value).\n"
    "\n"
    "  --json             print the raw JSON reply (and events) instead of text\n"
    "  --events           after the reply, print events until the VM closes the socket\n"
    "  --wait-event NAME  after the reply, wait for event NAME (exit 1 if it never comes)\n"
    "  --timeout S        seconds to wait for the reply or the event (default 30)\n"
    "  --shell            interactive: one command per line (COMMAND [ARG...] or a raw JSON\n"
    "                     object); events are printed as they arrive; 'help' lists the\n"
    "                     commands; end with Ctrl-D\n"
    "  -h, --help         this help\n"
    "\n"
    "Examples: kvmm ctl /tmp/vm.sock query-status\n"
    "          kvmm ctl /tmp/vm.sock system_powerdown --wait-event SHUTDOWN\n";

struct ctl_conn {
	int fd;
	char *buf;
	size_t len, cap;
	bool json;
	bool eof;
	const char *want; /* --wait-event NAME, or NULL */
	bool want_seen;	  /* it came before the reply (QEMU and kvmm send STOP so) */
};

struct ctl_opts {
	bool json, shell, events;
	const char *wait_event;
	int timeout_s;
	const char *socket;
	const char *command;
	char **args;
	int nargs;
};

static long long ctl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int ctl_connect(const char *spec)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	const char *p = strncmp(spec, "unix:", 5) ? spec : spec + 5;
	size_t n = strcspn(p, ",");
	int fd;

	if (n == 0 || n >= sizeof(sa.sun_path)) {
		fprintf(stderr, "kvmm ctl: bad socket path '%s'\n", spec);
		return -EINVAL;
	}
	memcpy(sa.sun_path, p, n);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = -errno;

		fprintf(stderr, "kvmm ctl: cannot connect to '%.*s': %s\n", (int)n, p,
			strerror(-e));
		if (fd >= 0)
			close(fd);
		return e;
	}
	return fd;
}

static int ctl_send(struct ctl_conn *c, const char *text)
{
	size_t len = strlen(text), off = 0;

	while (off < len) {
		ssize_t n = send(c->fd, text + off, len - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EPIPE;
		off += (size_t)n;
	}
	return 0;
}

/* One message and its newline in one send: a server that acts on the closing brace (quit) may
 * close the connection before a second send. */
static int ctl_send_json(struct ctl_conn *c, json_t *msg)
{
	char *text = json_dumps(msg, JSON_COMPACT), *t;
	size_t n;
	int e;

	json_decref(msg);
	if (!text)
		return -ENOMEM;
	n = strlen(text);
	t = realloc(text, n + 2);
	if (!t) {
		free(text);
		return -ENOMEM;
	}
	memcpy(t + n, "\n", 2);
	e = ctl_send(c, t);
	free(t);
	return e;
}

/* One line from the server (without "\r\n") into *line (caller frees). -ETIMEDOUT when
 * deadline_ms passes (-1: none), -EPIPE on EOF, -E2BIG for an absurd line. */
static int ctl_read_line(struct ctl_conn *c, char **line, long long deadline_ms)
{
	for (;;) {
		char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		long long left;
		ssize_t n;

		if (nl) {
			size_t l = (size_t)(nl - c->buf);

			*line = strndup(c->buf, l && c->buf[l - 1] == '\r' ? l - 1 : l);
			memmove(c->buf, nl + 1, c->len - l - 1);
			c->len -= l + 1;
			return *line ? 0 : -ENOMEM;
		}
		if (c->eof)
			return -EPIPE;
		if (c->len == c->cap) {
			size_t cap = c->cap ? c->cap * 2 : 4096;
			char *b;

			if (cap > CTL_MAX_LINE)
				return -E2BIG;
			b = realloc(c->buf, cap);
			if (!b)
				return -ENOMEM;
			c->buf = b;
			c->cap = cap;
		}
		/* deadline_ms 0 (or past): take only what is already there. */
		left = deadline_ms < 0 ? -1 : KVMM_MAX(deadline_ms - ctl_now_ms(), 0LL);
		if (poll(&pfd, 1, (int)KVMM_MIN(left, 1000000000LL)) == 0)
			return -ETIMEDOUT;
		n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			c->eof = true;
		else
			c->len += (size_t)n;
	}
}

/* ---- printing ---- */

static void ctl_print_value(const json_t *v, int indent, int depth);

static void ctl_print_scalar(const json_t *v)
{
	char *t;

	if (json_is_string(v)) {
		fputs(json_string_value(v), stdout);
		return;
	}
	t = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	fputs(t ? t : "?", stdout);
	free(t);
}

static bool ctl_is_container(const json_t *v)
{
	return (json_is_object(v) && json_object_size(v)) ||
	       (json_is_array(v) && json_array_size(v));
}

static void ctl_print_value(const json_t *v, int indent, int depth)
{
	const char *key;
	json_t *m;
	size_t i;

	if (depth > CTL_PRINT_DEPTH) {
		printf("%*s...\n", indent, "");
		return;
	}
	if (json_is_object(v)) {
		json_object_foreach((json_t *)v, key, m)
		{
			printf("%*s%s:", indent, "", key);
			if (ctl_is_container(m)) {
				putchar('\n');
				ctl_print_value(m, indent + 2, depth + 1);
			} else {
				putchar(' ');
				ctl_print_scalar(m);
				putchar('\n');
			}
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, m)
		{
			printf("%*s[%zu]", indent, "", i);
			if (ctl_is_container(m)) {
				putchar('\n');
				ctl_print_value(m, indent + 2, depth + 1);
			} else {
				putchar(' ');
				ctl_print_scalar(m);
				putchar('\n');
			}
		}
	} else {
		printf("%*s", indent, "");
		ctl_print_scalar(v);
		putchar('\n');
	}
}

static void ctl_print_event(const struct ctl_conn *c, const char *line, json_t *msg)
{
	json_t *data = json_object_get(msg, "data");

	if (c->json) {
		printf("%s\n", line);
	} else {
		printf("event %s", json_string_value(json_object_get(msg, "event")));
		if (data) {
			char *t = json_dumps(data, JSON_COMPACT);

			printf(" %s", t ? t : "");
			free(t);
		}
		putchar('\n');
	}
	fflush(stdout);
}

/* Print a reply; returns 0 for "return", CTL_EXIT_ERROR for "error". */
static int ctl_print_reply(const struct ctl_conn *c, const char *line, json_t *msg)
{
	json_t *err = json_object_get(msg, "error");

	if (c->json)
		printf("%s\n", line);
	if (err) {
		if (!c->json)
			fprintf(stderr, "error: %s (%s)\n",
				json_string_value(json_object_get(err, "desc")),
				json_string_value(json_object_get(err, "class")));
		fflush(stdout);
		return CTL_EXIT_ERROR;
	}
	if (!c->json)
		ctl_print_value(json_object_get(msg, "return"), 0, 0);
	fflush(stdout);
	return 0;
}

/* Read messages until a reply (printed if print_reply); events on the way are printed if
 * print_events. Returns 0 / CTL_EXIT_ERROR for the reply, or a negative errno. */
static int ctl_wait_reply(struct ctl_conn *c, long long deadline, bool print_events,
			  bool print_reply)
{
	for (;;) {
		char *line = NULL;
		json_t *msg;
		int e = ctl_read_line(c, &line, deadline);

		if (e)
			return e;
		msg = json_loads(line, 0, NULL);
		if (!json_is_object(msg)) {
			fprintf(stderr,
				"kvmm ctl: the server sent something that is not QMP: %.80s\n",
				line);
			json_decref(msg);
			free(line);
			return -EPROTO;
		}
		if (json_object_get(msg, "event")) {
			if (print_events)
				ctl_print_event(c, line, msg);
			if (c->want &&
			    !strcmp(json_string_value(json_object_get(msg, "event")) ?: "",
				    c->want))
				c->want_seen = true;
		} else {
			e = print_reply			    ? ctl_print_reply(c, line, msg)
			    : json_object_get(msg, "error") ? CTL_EXIT_ERROR
							    : 0;
			json_decref(msg);
			free(line);
			return e;
		}
		json_decref(msg);
		free(line);
	}
}

/* Greeting, then qmp_capabilities (its reply is not printed). */
static int ctl_handshake(struct ctl_conn *c, long long deadline)
{
	char *line = NULL;
	json_t *msg;
	int e = ctl_read_line(c, &line, deadline);

	if (e) {
		fprintf(stderr, "kvmm ctl: no QMP greeting: %s\n", strerror(-e));
		return e;
	}
	msg = json_loads(line, 0, NULL);
	free(line);
	if (!json_object_get(msg, "QMP")) {
		fprintf(stderr, "kvmm ctl: the server did not greet with {\"QMP\": ...}\n");
		json_decref(msg);
		return -EPROTO;
	}
	json_decref(msg);
	e = ctl_send_json(c, json_pack("{s:s}", "execute", "qmp_capabilities"));
	if (e)
		return e;
	e = ctl_wait_reply(c, deadline, false, false);
	if (e) {
		fprintf(stderr, "kvmm ctl: capabilities negotiation failed\n");
		return e < 0 ? e : -EPROTO;
	}
	return 0;
}

/* key=value or key:=JSON into args. -EINVAL with a message. */
static int ctl_add_arg(json_t *args, const char *arg)
{
	const char *eq = strchr(arg, '=');
	char key[256];
	size_t klen;
	json_t *v;

	if (!eq || eq == arg) {
		fprintf(stderr, "kvmm ctl: argument '%s' is not key=value or key:=JSON\n", arg);
		return -EINVAL;
	}
	klen = (size_t)(eq - arg);
	if (eq[-1] == ':')
		klen--;
	if (klen == 0 || klen >= sizeof(key)) {
		fprintf(stderr, "kvmm ctl: bad argument name in '%s'\n", arg);
		return -EINVAL;
	}
	memcpy(key, arg, klen);
	key[klen] = '\0';
	if (eq[-1] == ':') {
		json_error_t je;

		v = json_loads(eq + 1, JSON_DECODE_ANY, &je);
		if (!v) {
			fprintf(stderr, "kvmm ctl: %s: %s\n", key, je.text);
			return -EINVAL;
		}
	} else if (!strcmp(eq + 1, "true") || !strcmp(eq + 1, "false")) {
		v = json_boolean(!strcmp(eq + 1, "true"));
	} else {
		const char *p = eq + 1 + (eq[1] == '-');
		char *end;
		long long n;

		errno = 0;
		n = strtoll(eq + 1, &end, 10);
		v = isdigit((unsigned char)*p) && !*end && !errno ? json_integer(n)
								  : json_string(eq + 1);
	}
	return json_object_set_new(args, key, v) ? -ENOMEM : 0;
}

static json_t *ctl_build_command(const char *name, char **argv, int argc)
{
	json_t *cmd = json_pack("{s:s}", "execute", name), *args = json_object();

	for (int i = 0; cmd && args && i < argc; i++) {
		if (ctl_add_arg(args, argv[i])) {
			json_decref(args);
			json_decref(cmd);
			return NULL;
		}
	}
	if (cmd && args && json_object_size(args))
		json_object_set(cmd, "arguments", args);
	json_decref(args);
	return cmd;
}

static int ctl_wait_events(struct ctl_conn *c, const char *want, long long deadline)
{
	for (;;) {
		char *line = NULL;
		json_t *msg;
		bool hit;
		int e = ctl_read_line(c, &line, deadline);

		if (e)
			return want ? CTL_EXIT_ERROR : 0;
		msg = json_loads(line, 0, NULL);
		hit = false;
		if (json_object_get(msg, "event")) {
			ctl_print_event(c, line, msg);
			hit = want &&
			      !strcmp(json_string_value(json_object_get(msg, "event")) ?: "", want);
		}
		json_decref(msg);
		free(line);
		if (hit)
			return 0;
	}
}

static int ctl_one(struct ctl_conn *c, const struct ctl_opts *o)
{
	long long deadline = ctl_now_ms() + o->timeout_s * 1000LL;
	json_t *cmd = ctl_build_command(o->command, o->args, o->nargs);
	int e;

	if (!cmd)
		return CTL_EXIT_USAGE;
	c->want = o->wait_event;
	/* Even if the send fails, the reply may already be waiting. */
	(void)ctl_send_json(c, cmd);
	e = ctl_wait_reply(c, deadline, o->events || o->wait_event, true);
	if (e < 0) {
		fprintf(stderr, "kvmm ctl: no reply to %s: %s\n", o->command,
			e == -EPIPE ? "the connection was closed" : strerror(-e));
		return CTL_EXIT_ERROR;
	}
	if (e || (!o->events && !o->wait_event) || c->want_seen)
		return e;
	e = ctl_wait_events(c, o->wait_event, deadline);
	if (e)
		fprintf(stderr, "kvmm ctl: event %s not seen\n", o->wait_event);
	return e;
}

/* ---- shell ---- */

/* Split a line into words; "..." groups blanks. Returns the count (modifies line). */
static int ctl_split(char *line, char **w, int max)
{
	int n = 0;
	char *p = line;

	while (*p && n < max) {
		char *out;

		while (isspace((unsigned char)*p))
			p++;
		if (!*p)
			break;
		w[n++] = out = p;
		while (*p && !isspace((unsigned char)*p)) {
			if (*p == '"') {
				for (p++; *p && *p != '"'; p++)
					*out++ = *p;
				if (*p)
					p++;
			} else {
				*out++ = *p++;
			}
		}
		if (*p)
			p++;
		*out = '\0';
	}
	return n;
}

static int ctl_shell_line(struct ctl_conn *c, char *line)
{
	char *w[CTL_MAX_WORDS];
	json_t *cmd;
	int n;

	while (isspace((unsigned char)*line))
		line++;
	if (!*line)
		return 0;
	if (*line == '{')
		return ctl_send(c, line) ? -EPIPE : 1; /* getline kept the newline */
	n = ctl_split(line, w, CTL_MAX_WORDS);
	if (n == 0)
		return 0;
	cmd = ctl_build_command(strcmp(w[0], "help") ? w[0] : "query-commands", w + 1, n - 1);
	if (!cmd)
		return 0;
	return ctl_send_json(c, cmd) ? -EPIPE : 1;
}

/* Print whatever the server sent; replies and events alike. -EPIPE at EOF. */
static int ctl_shell_drain(struct ctl_conn *c)
{
	for (;;) {
		char *line = NULL;
		json_t *msg;
		int e = ctl_read_line(c, &line, 0);

		if (e == -ETIMEDOUT)
			return 0;
		if (e)
			return e;
		msg = json_loads(line, 0, NULL);
		if (json_object_get(msg, "event"))
			ctl_print_event(c, line, msg);
		else if (json_is_object(msg))
			ctl_print_reply(c, line, msg);
		else
			printf("%s\n", line);
		json_decref(msg);
		free(line);
	}
}

static int ctl_shell(struct ctl_conn *c)
{
	bool tty = isatty(STDIN_FILENO);
	char *line = NULL;
	size_t cap = 0;

	if (tty)
		fputs("kvmm ctl shell: COMMAND [key=value ...] or a JSON object; 'help'; Ctrl-D "
		      "ends\n(qmp) ",
		      stdout);
	fflush(stdout);
	for (;;) {
		struct pollfd pfd[2] = {{.fd = STDIN_FILENO, .events = POLLIN},
					{.fd = c->fd, .events = POLLIN}};

		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			break;
		if (pfd[1].revents) {
			if (ctl_shell_drain(c)) {
				fprintf(stderr, "kvmm ctl: the connection was closed\n");
				break;
			}
			if (tty)
				fputs("(qmp) ", stdout);
			fflush(stdout);
		}
		if (pfd[0].revents) {
			ssize_t n = getline(&line, &cap, stdin);
			int e;

			if (n < 0)
				break;
			e = ctl_shell_line(c, line);
			if (e < 0)
				break;
			/* Wait for the reply so that output follows input in order. */
			e = e > 0 ? ctl_wait_reply(c, ctl_now_ms() + 30000, true, true) : 0;
			if (e == -ETIMEDOUT) {
				fprintf(stderr, "kvmm ctl: no reply (incomplete JSON?)\n");
			} else if (e < 0) {
				fprintf(stderr, "kvmm ctl: the connection was closed\n");
				break;
			}
			if (tty)
				fputs("(qmp) ", stdout);
			fflush(stdout);
		}
	}
	free(line);
	return 0;
}

static int ctl_parse(int argc, char **argv, struct ctl_opts *o)
{
	int pos = 0;

	*o = (struct ctl_opts){.timeout_s = CTL_DEFAULT_WAIT};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (pos < 2 && (!strcmp(a, "-h") || !strcmp(a, "--help"))) {
			fputs(ctl_usage, stdout);
			exit(0);
		} else if (pos < 2 && !strcmp(a, "--json")) {
			o->json = true;
		} else if (pos < 2 && !strcmp(a, "--shell")) {
			o->shell = true;
		} else if (pos < 2 && !strcmp(a, "--events")) {
			o->events = true;
		} else if (pos < 2 && !strcmp(a, "--wait-event") && i + 1 < argc) {
			o->wait_event = argv[++i];
		} else if (pos < 2 && !strcmp(a, "--timeout") && i + 1 < argc) {
			o->timeout_s = atoi(argv[++i]);
			if (o->timeout_s <= 0) {
				fprintf(stderr, "kvmm ctl: --timeout needs a number of seconds\n");
				return -EINVAL;
			}
		} else if (pos < 2 && !strncmp(a, "--", 2)) {
			fprintf(stderr, "kvmm ctl: unknown option '%s' (see kvmm ctl --help)\n", a);
			return -EINVAL;
		} else if (pos == 0) {
			o->socket = a;
			pos++;
		} else if (pos == 1) {
			o->command = a;
			o->args = argv + i + 1;
			o->nargs = argc - i - 1;
			/* Options may also follow the arguments (all of them: a --timeout there
			 * used to be dropped silently, so --events waited the default 30 s). */
			for (int j = i + 1; j < argc; j++) {
				if (!strcmp(argv[j], "--wait-event") && j + 1 < argc) {
					o->wait_event = argv[j + 1];
					o->nargs = KVMM_MIN(o->nargs, j - i - 1);
				} else if (!strcmp(argv[j], "--timeout") && j + 1 < argc) {
					o->timeout_s = atoi(argv[j + 1]);
					o->nargs = KVMM_MIN(o->nargs, j - i - 1);
					if (o->timeout_s <= 0) {
						fprintf(stderr,
							"kvmm ctl: --timeout needs a number of "
							"seconds\n");
						return -EINVAL;
					}
				} else if (!strcmp(argv[j], "--events") ||
					   !strcmp(argv[j], "--json")) {
					o->events |= !strcmp(argv[j], "--events");
					o->json |= !strcmp(argv[j], "--json");
					o->nargs = KVMM_MIN(o->nargs, j - i - 1);
				}
			}
			break;
		}
	}
	if (!o->socket || (!o->command && !o->shell) || (o->command && o->shell)) {
		fputs(ctl_usage, stderr);
		return -EINVAL;
	}
	return 0;
}

int cmd_ctl(int argc, char **argv)
{
	struct ctl_opts o;
	struct ctl_conn c = {.fd = -1};
	int status;

	if (ctl_parse(argc, argv, &o))
		return CTL_EXIT_USAGE;
	c.json = o.json;
	c.fd = ctl_connect(o.socket);
	if (c.fd < 0)
		return CTL_EXIT_USAGE;
	if (ctl_handshake(&c, ctl_now_ms() + o.timeout_s * 1000LL)) {
		status = CTL_EXIT_USAGE;
	} else if (o.shell) {
		status = ctl_shell(&c);
	} else {
		status = ctl_one(&c, &o);
	}
	close(c.fd);
	free(c.buf);
	return status;
}
