/* vmm/qmp.c — see qmp.h: the streaming splitter, request checks and dispatch, replies. */
#include "vmm/qmp.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/version.h"

const char *qmp_runstate_name(enum qmp_runstate st)
{
	switch (st) {
	case QMP_RUNSTATE_RUNNING:
		return "running";
	case QMP_RUNSTATE_PAUSED:
		return "paused";
	case QMP_RUNSTATE_SHUTDOWN:
		return "shutdown";
	case QMP_RUNSTATE_SAVE_VM:
		return "save-vm";
	case QMP_RUNSTATE_RESTORE_VM:
		return "restore-vm";
	case QMP_RUNSTATE_INTERNAL_ERROR:
		return "internal-error";
	}
	return "internal-error";
}

void qmp_session_init(struct qmp_session *s, const struct qmp_env *env,
		      const struct qmp_output *out)
{
	memset(s, 0, sizeof(*s));
	s->env = env;
	s->out = *out;
}

void qmp_session_fini(struct qmp_session *s)
{
	free(s->buf);
	s->buf = NULL;
	s->len = s->cap = 0;
}

/* Serialise msg as QEMU does (", " and ": " separators, one line) plus "\r\n"; steals msg. */
static int qmp_send(struct qmp_session *s, json_t *msg)
{
	char *text;
	size_t n;
	int e;

	if (!msg)
		return -ENOMEM;
	text = json_dumps(msg, JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
	json_decref(msg);
	if (!text)
		return -ENOMEM;
	n = strlen(text);
	{
		char *t = realloc(text, n + 3);

		if (!t) {
			free(text);
			return -ENOMEM;
		}
		text = t;
	}
	memcpy(text + n, "\r\n", 3);
	e = s->out.send(s->out.ctx, text, n + 2);
	free(text);
	return e;
}

int qmp_session_greet(struct qmp_session *s)
{
	json_t *g = json_pack("{s:{s:{s:{s:i,s:i,s:i},s:s},s:[]}}", "QMP", "version", "qemu",
			      "micro", KVMM_VERSION_MICRO, "minor", KVMM_VERSION_MINOR, "major",
			      KVMM_VERSION_MAJOR, "package", "kvmm " KVMM_VERSION, "capabilities");

	return qmp_send(s, g);
}

static int qmp_reply_error(struct qmp_session *s, json_t *id, const char *cls, const char *desc)
{
	json_t *r = json_pack("{s:{s:s,s:s}}", "error", "class", cls, "desc", desc);

	s->nerrors++;
	if (r && id)
		json_object_set(r, "id", id);
	return qmp_send(s, r);
}

static const char *qmp_type_name(enum qmp_arg_type t)
{
	switch (t) {
	case QMP_ARG_STR:
		return "string";
	case QMP_ARG_INT:
		return "integer";
	case QMP_ARG_BOOL:
		return "boolean";
	case QMP_ARG_ARRAY:
		return "array";
	case QMP_ARG_OBJECT:
		return "object";
	}
	return "?";
}

static bool qmp_type_ok(enum qmp_arg_type t, const json_t *v)
{
	switch (t) {
	case QMP_ARG_STR:
		return json_is_string(v);
	case QMP_ARG_INT:
		return json_is_integer(v);
	case QMP_ARG_BOOL:
		return json_is_boolean(v);
	case QMP_ARG_ARRAY:
		return json_is_array(v);
	case QMP_ARG_OBJECT:
		return json_is_object(v);
	}
	return false;
}

/* Check args against the table entry with QEMU's messages. 0 or -EINVAL with c->err set. */
static int qmp_check_args(struct qmp_call *c, const struct qmp_command *cmd)
{
	const char *key;
	json_t *v;

	json_object_foreach(c->args, key, v)
	{
		const struct qmp_arg *a = NULL;

		for (unsigned i = 0; i < QMP_MAX_ARGS && cmd->args[i].name && !a; i++)
			if (!strcmp(cmd->args[i].name, key))
				a = &cmd->args[i];
		if (!a)
			return qmp_call_error(c, QMP_ERR_GENERIC, "Parameter '%.*s' is unexpected",
					      QMP_MAX_NAME_LEN, key);
		if (!qmp_type_ok(a->type, v))
			return qmp_call_error(c, QMP_ERR_GENERIC,
					      "Invalid parameter type for '%s', expected: %s",
					      a->name, qmp_type_name(a->type));
	}
	for (unsigned i = 0; i < QMP_MAX_ARGS && cmd->args[i].name; i++)
		if (!cmd->args[i].optional && !json_object_get(c->args, cmd->args[i].name))
			return qmp_call_error(c, QMP_ERR_GENERIC, "Parameter '%s' is missing",
					      cmd->args[i].name);
	return 0;
}

/* The members of a request: execute (string), arguments (object), id (anything). */
static int qmp_check_request(json_t *req, const char **name, json_t **args, char *err)
{
	const char *key;
	json_t *v;

	*name = NULL;
	*args = NULL;
	json_object_foreach(req, key, v)
	{
		if (!strcmp(key, "execute")) {
			if (!json_is_string(v)) {
				snprintf(err, QMP_ERRLEN,
					 "QMP input member 'execute' must be a string");
				return -EINVAL;
			}
			*name = json_string_value(v);
		} else if (!strcmp(key, "arguments")) {
			if (!json_is_object(v)) {
				snprintf(err, QMP_ERRLEN,
					 "QMP input member 'arguments' must be an object");
				return -EINVAL;
			}
			*args = v;
		} else if (!strcmp(key, "exec-oob")) {
			snprintf(err, QMP_ERRLEN,
				 "Please enable out-of-band first for the session during "
				 "capabilities negotiation");
			return -EINVAL;
		} else if (strcmp(key, "id")) {
			snprintf(err, QMP_ERRLEN, "QMP input member '%.*s' is unexpected",
				 QMP_MAX_NAME_LEN, key);
			return -EINVAL;
		}
	}
	if (!*name) {
		snprintf(err, QMP_ERRLEN, "QMP input lacks member 'execute'");
		return -EINVAL;
	}
	return 0;
}

static int qmp_find_for_mode(struct qmp_session *s, const char *name,
			     const struct qmp_command **out, char *err)
{
	const struct qmp_command *cmd = qmp_command_find(name);
	bool neg_only = cmd && (cmd->flags & QMP_CMD_NEGOTIATION);

	*out = cmd;
	if (!s->negotiated && !neg_only) {
		snprintf(err, QMP_ERRLEN,
			 "Expecting capabilities negotiation with 'qmp_capabilities'");
		return -ENOENT;
	}
	if (s->negotiated && neg_only) {
		snprintf(err, QMP_ERRLEN,
			 "Capabilities negotiation is already complete, command ignored");
		return -ENOENT;
	}
	if (!cmd) {
		snprintf(err, QMP_ERRLEN, "The command %.*s has not been found", QMP_MAX_NAME_LEN,
			 name);
		return -ENOENT;
	}
	return 0;
}

/* One parsed message; steals req. */
static int qmp_dispatch(struct qmp_session *s, json_t *req)
{
	struct qmp_call c = {.session = s, .env = s->env};
	const struct qmp_command *cmd;
	json_t *id = NULL, *args, *empty = NULL, *rsp;
	const char *name;
	int e;

	if (!json_is_object(req)) {
		e = qmp_reply_error(s, NULL, QMP_ERR_GENERIC, "QMP input must be a JSON object");
		goto out;
	}
	id = json_object_get(req, "id");
	if (qmp_check_request(req, &name, &args, c.err)) {
		e = qmp_reply_error(s, id, QMP_ERR_GENERIC, c.err);
		goto out;
	}
	if (qmp_find_for_mode(s, name, &cmd, c.err)) {
		e = qmp_reply_error(s, id, QMP_ERR_COMMAND_NOT_FOUND, c.err);
		goto out;
	}
	if (!args)
		args = empty = json_object();
	c.args = args;
	if (!args || qmp_check_args(&c, cmd) || cmd->fn(&c)) {
		if (!c.err[0])
			snprintf(c.err, sizeof(c.err), "%s", strerror(ENOMEM));
		e = qmp_reply_error(s, id, c.err_class ? c.err_class : QMP_ERR_GENERIC, c.err);
		json_decref(c.ret);
		goto out;
	}
	rsp = json_object();
	if (rsp) {
		json_object_set_new(rsp, "return", c.ret ? c.ret : json_object());
		if (id)
			json_object_set(rsp, "id", id);
	} else {
		json_decref(c.ret);
	}
	e = qmp_send(s, rsp);
out:
	json_decref(empty);
	json_decref(req);
	return e;
}

/* A complete message is in s->buf[0, s->len) unless it was too big or too deep. */
static int qmp_message_done(struct qmp_session *s)
{
	json_error_t je;
	json_t *req;
	char desc[QMP_ERRLEN];

	s->nmessages++;
	s->in_msg = s->in_str = s->esc = s->bare = false;
	s->depth = 0;
	if (s->too_big || s->too_deep) {
		snprintf(desc, sizeof(desc), "JSON parse error, %s",
			 s->too_big ? "message exceeds the limit of 262144 bytes"
				    : "nesting exceeds the limit of 32 levels");
		s->too_big = s->too_deep = false;
		s->len = 0;
		return qmp_reply_error(s, NULL, QMP_ERR_GENERIC, desc);
	}
	req = json_loadb(s->buf, s->len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
	s->len = 0;
	if (!req) {
		snprintf(desc, sizeof(desc), "JSON parse error, %s", je.text);
		return qmp_reply_error(s, NULL, QMP_ERR_GENERIC, desc);
	}
	return qmp_dispatch(s, req);
}

static int qmp_append(struct qmp_session *s, char ch)
{
	if (s->too_big)
		return 0;
	if (s->len >= QMP_MAX_MESSAGE) {
		s->too_big = true;
		return 0;
	}
	if (s->len == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 256;
		char *b;

		cap = KVMM_MIN(cap, (size_t)QMP_MAX_MESSAGE);
		b = realloc(s->buf, cap);
		if (!b)
			return -ENOMEM;
		s->buf = b;
		s->cap = cap;
	}
	s->buf[s->len++] = ch;
	return 0;
}

static bool qmp_is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

static bool qmp_is_delim(char ch)
{
	return qmp_is_space(ch) || ch == '{' || ch == '}' || ch == '[' || ch == ']' || ch == '"' ||
	       ch == ',' || ch == ':';
}

/* Start a message at ch (not blank). Returns 1 if ch alone completes it. */
static int qmp_start(struct qmp_session *s, char ch)
{
	s->in_msg = true;
	s->len = 0;
	if (ch == '{' || ch == '[')
		s->depth = 1;
	else if (ch == '"')
		s->in_str = true;
	else if (ch == '}' || ch == ']' || ch == ',' || ch == ':')
		return 1;
	else
		s->bare = true;
	return 0;
}

/* Advance the splitter by one byte already appended. Returns 1 at the end of a message. */
static int qmp_step(struct qmp_session *s, char ch)
{
	if (s->in_str) {
		if (s->esc)
			s->esc = false;
		else if (ch == '\\')
			s->esc = true;
		else if (ch == '"') {
			s->in_str = false;
			return s->depth == 0;
		}
		return 0;
	}
	if (ch == '"') {
		s->in_str = true;
	} else if (ch == '{' || ch == '[') {
		if (++s->depth > QMP_MAX_DEPTH)
			s->too_deep = true;
	} else if (ch == '}' || ch == ']') {
		return --s->depth == 0;
	}
	return 0;
}

int qmp_session_input(struct qmp_session *s, const void *data, size_t len)
{
	const char *p = data;
	int e;

	for (size_t i = 0; i < len; i++) {
		char ch = p[i];

		if (s->bare) {
			if (qmp_is_delim(ch)) {
				e = qmp_message_done(s);
				if (e == -ENOMEM)
					return e;
			} else {
				if (qmp_append(s, ch))
					return -ENOMEM;
				continue;
			}
		}
		if (!s->in_msg) {
			if (qmp_is_space(ch))
				continue;
			e = qmp_start(s, ch);
			if (qmp_append(s, ch))
				return -ENOMEM;
			if (e && qmp_message_done(s) == -ENOMEM)
				return -ENOMEM;
			continue;
		}
		if (qmp_append(s, ch))
			return -ENOMEM;
		if (qmp_step(s, ch) && qmp_message_done(s) == -ENOMEM)
			return -ENOMEM;
	}
	return 0;
}

bool qmp_session_partial(const struct qmp_session *s)
{
	return s->in_msg;
}

char *qmp_event_text(const char *name, json_t *data)
{
	struct timespec ts;
	json_t *ev;
	char *text;

	clock_gettime(CLOCK_REALTIME, &ts);
	/* QEMU's member order: timestamp, event, data. */
	ev = json_pack("{s:{s:I,s:I},s:s}", "timestamp", "seconds", (json_int_t)ts.tv_sec,
		       "microseconds", (json_int_t)(ts.tv_nsec / 1000), "event", name);
	if (!ev) {
		json_decref(data);
		return NULL;
	}
	if (data)
		json_object_set_new(ev, "data", data);
	text = json_dumps(ev, JSON_PRESERVE_ORDER);
	json_decref(ev);
	return text;
}

int qmp_call_error(struct qmp_call *c, const char *cls, const char *fmt, ...)
{
	va_list ap;

	c->err_class = cls;
	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

void qmp_emit(const struct qmp_env *env, const char *name, json_t *data)
{
	if (env->events.emit)
		env->events.emit(env->events.ctx, name, data);
	else
		json_decref(data);
}
