/* Unit tests for vmm/qmp.c and vmm/qmp_commands.c over a fake VM: greeting, capabilities
 * negotiation, every command's reply shape, QEMU's error classes and messages, events, and the
 * streaming splitter (byte-by-byte input, back-to-back messages, strings with braces, oversized
 * and too deeply nested messages, resynchronisation). */
#include "lib/harness.h"

#include <stdlib.h>
#include <string.h>

#include "lib/qmp_fake_vm.h"
#include "vmm/qmp.h"

#define MAX_OUT 64

struct fix {
	struct qmp_fake_vm vm;
	struct qmp_env env;
	struct qmp_session s;
	char *out[MAX_OUT];
	unsigned nout;
	char *ev[MAX_OUT]; /* "NAME" or "NAME DATA-JSON" */
	unsigned nev;
};

static int capture(void *ctx, const char *text, size_t len)
{
	struct fix *f = ctx;

	assert_true(len >= 2);
	assert_memory_equal(text + len - 2, "\r\n", 2);
	assert_null(memchr(text, '\n', len - 1)); /* one line per message */
	assert_true(f->nout < MAX_OUT);
	f->out[f->nout++] = strndup(text, len - 2);
	return 0;
}

static void event(void *ctx, const char *name, json_t *data)
{
	struct fix *f = ctx;
	char *d = data ? json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	char buf[512];

	snprintf(buf, sizeof(buf), "%s%s%s", name, d ? " " : "", d ? d : "");
	free(d);
	json_decref(data);
	assert_true(f->nev < MAX_OUT);
	f->ev[f->nev++] = strdup(buf);
}

static void reset_out(struct fix *f)
{
	for (unsigned i = 0; i < f->nout; i++)
		free(f->out[i]);
	for (unsigned i = 0; i < f->nev; i++)
		free(f->ev[i]);
	f->nout = f->nev = 0;
}

static int setup_raw(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	struct qmp_output out = {capture, f};

	qmp_fake_vm_init(&f->vm);
	f->env = (struct qmp_env){&qmp_fake_vm_ops, &f->vm, {event, f}};
	qmp_session_init(&f->s, &f->env, &out);
	*state = f;
	return 0;
}

static void feed(struct fix *f, const char *text)
{
	assert_int_equal(qmp_session_input(&f->s, text, strlen(text)), 0);
}

static int setup(void **state)
{
	struct fix *f;

	setup_raw(state);
	f = *state;
	feed(f, "{\"execute\": \"qmp_capabilities\"}");
	assert_int_equal(f->nout, 1);
	assert_string_equal(f->out[0], "{\"return\": {}}");
	reset_out(f);
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	reset_out(f);
	qmp_session_fini(&f->s);
	free(f);
	return 0;
}

/* The reply to `in` must equal `want` as JSON. */
static void expect(struct fix *f, const char *in, const char *want)
{
	json_t *a, *b;

	reset_out(f);
	feed(f, in);
	if (f->nout != 1)
		fail_msg("'%s': %u replies", in, f->nout);
	a = json_loads(f->out[0], 0, NULL);
	b = json_loads(want, 0, NULL);
	assert_non_null(a);
	assert_non_null(b);
	if (!json_equal(a, b))
		fail_msg("'%s':\n got  %s\n want %s", in, f->out[0], want);
	json_decref(a);
	json_decref(b);
}

static void expect_error(struct fix *f, const char *in, const char *cls, const char *desc)
{
	char want[1024];

	snprintf(want, sizeof(want), "{\"error\": {\"class\": \"%s\", \"desc\": \"%s\"}}", cls,
		 desc);
	expect(f, in, want);
}

static void test_greeting(void **state)
{
	struct fix *f = *state;
	json_t *g, *v;

	assert_int_equal(qmp_session_greet(&f->s), 0);
	assert_int_equal(f->nout, 1);
	g = json_loads(f->out[0], 0, NULL);
	assert_non_null(g);
	v = json_object_get(json_object_get(json_object_get(g, "QMP"), "version"), "qemu");
	assert_true(json_is_integer(json_object_get(v, "major")));
	assert_true(json_is_integer(json_object_get(v, "minor")));
	assert_true(json_is_integer(json_object_get(v, "micro")));
	assert_true(json_is_array(json_object_get(json_object_get(g, "QMP"), "capabilities")));
	assert_int_equal(
	    json_array_size(json_object_get(json_object_get(g, "QMP"), "capabilities")), 0);
	json_decref(g);
}

static void test_negotiation(void **state)
{
	struct fix *f = *state;

	expect_error(f, "{\"execute\": \"query-status\"}", "CommandNotFound",
		     "Expecting capabilities negotiation with 'qmp_capabilities'");
	expect(f, "{\"execute\": \"nope\", \"id\": 7}",
	       "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"Expecting capabilities "
	       "negotiation with 'qmp_capabilities'\"}, \"id\": 7}");
	expect_error(f, "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": \"oob\"}}",
		     "GenericError", "Invalid parameter type for 'enable', expected: array");
	expect_error(f,
		     "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"oob\"]}}",
		     "GenericError", "Capability 'oob' not available");
	expect_error(f, "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"x\"]}}",
		     "GenericError", "Parameter 'enable[0]' does not accept value 'x'");
	expect_error(f, "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [3]}}",
		     "GenericError", "Invalid parameter type for 'enable[0]', expected: string");
	assert_false(f->s.negotiated);
	expect(f, "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": []}, \"id\": 1}",
	       "{\"return\": {}, \"id\": 1}");
	assert_true(f->s.negotiated);
	expect_error(f, "{\"execute\": \"qmp_capabilities\"}", "CommandNotFound",
		     "Capabilities negotiation is already complete, command ignored");
	expect(f, "{\"execute\": \"query-kvm\"}",
	       "{\"return\": {\"enabled\": true, \"present\": true}}");
}

static void test_queries(void **state)
{
	struct fix *f = *state;
	json_t *r, *root;

	expect(f, "{\"execute\": \"query-status\"}",
	       "{\"return\": {\"running\": true, \"singlestep\": false, \"status\": \"running\"}}");
	expect(f, "{\"execute\": \"query-name\"}", "{\"return\": {\"name\": \"fake\"}}");
	f->vm.name = NULL;
	expect(f, "{\"execute\": \"query-name\"}", "{\"return\": {}}");
	expect(f, "{\"execute\": \"query-kvm\", \"id\": \"k\"}",
	       "{\"return\": {\"enabled\": true, \"present\": true}, \"id\": \"k\"}");
	expect(f, "{\"execute\": \"query-version\"}",
	       "{\"return\": {\"qemu\": {\"micro\": 0, \"minor\": 1, \"major\": 0}, \"package\": "
	       "\"kvmm 0.1.0\"}}");
	expect(
	    f, "{\"execute\": \"query-cpus-fast\"}",
	    "{\"return\": [{\"cpu-index\": 0, \"qom-path\": \"/machine/unattached/device[0]\", "
	    "\"thread-id\": 1000, \"props\": {\"socket-id\": 0, \"core-id\": 0, \"thread-id\": 0}, "
	    "\"target\": \"x86_64\"}, {\"cpu-index\": 1, \"qom-path\": "
	    "\"/machine/unattached/device[1]\", \"thread-id\": 1001, \"props\": {\"socket-id\": 0, "
	    "\"core-id\": 0, \"thread-id\": 1}, \"target\": \"x86_64\"}]}");
	reset_out(f);
	feed(f, "{\"execute\": \"query-block\"}");
	root = json_loads(f->out[0], 0, NULL);
	r = json_object_get(root, "return");
	assert_int_equal(json_array_size(r), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(r, 0), "device")),
			    "disk0");
	assert_string_equal(json_string_value(json_object_get(
				json_object_get(json_array_get(r, 0), "inserted"), "drv")),
			    "qcow2");
	assert_true(
	    json_is_true(json_object_get(json_object_get(json_array_get(r, 1), "inserted"), "ro")));
	assert_int_equal(
	    json_integer_value(json_object_get(
		json_object_get(json_object_get(json_array_get(r, 1), "inserted"), "image"),
		"virtual-size")),
	    2ll << 30);
	json_decref(root);
	reset_out(f);
	feed(f, "{\"execute\": \"query-commands\"}");
	r = json_loads(f->out[0], 0, NULL);
	assert_int_equal(json_array_size(json_object_get(r, "return")), qmp_ncommands);
	for (size_t i = 0; i < qmp_ncommands; i++) {
		const char *n = json_string_value(
		    json_object_get(json_array_get(json_object_get(r, "return"), i), "name"));

		assert_non_null(n);
		assert_non_null(qmp_command_find(n));
	}
	json_decref(r);
}

static void test_actions_and_events(void **state)
{
	struct fix *f = *state;

	expect(f, "{\"execute\": \"stop\"}", "{\"return\": {}}");
	assert_int_equal(f->nev, 1);
	assert_string_equal(f->ev[0], "STOP");
	expect(f, "{\"execute\": \"query-status\"}",
	       "{\"return\": {\"running\": false, \"singlestep\": false, \"status\": \"paused\"}}");
	expect(f, "{\"execute\": \"stop\"}", "{\"return\": {}}"); /* already: no event */
	assert_int_equal(f->nev, 0);
	assert_int_equal(f->vm.nstop, 1);
	expect(f, "{\"execute\": \"cont\"}", "{\"return\": {}}");
	assert_int_equal(f->nev, 1);
	assert_string_equal(f->ev[0], "RESUME");
	expect(f, "{\"execute\": \"cont\"}", "{\"return\": {}}");
	assert_int_equal(f->nev, 0);
	assert_int_equal(f->vm.ncont, 1);
	expect(f, "{\"execute\": \"system_powerdown\"}", "{\"return\": {}}");
	assert_int_equal(f->nev, 1);
	assert_string_equal(f->ev[0], "POWERDOWN");
	assert_int_equal(f->vm.npowerdown, 1);
	expect(f, "{\"execute\": \"system_reset\"}", "{\"return\": {}}");
	assert_int_equal(f->vm.nreset, 1);
	f->vm.fail_stop = -EIO;
	expect_error(f, "{\"execute\": \"stop\"}", "GenericError", "fake stop failure");
	expect(f, "{\"execute\": \"quit\", \"id\": [1]}", "{\"return\": {}, \"id\": [1]}");
	assert_int_equal(f->vm.nquit, 1);
	expect_error(f, "{\"execute\": \"cont\"}", "GenericError",
		     "Resetting the Virtual Machine is required");
}

static void test_snapshot_save(void **state)
{
	struct fix *f = *state;

	expect_error(f, "{\"execute\": \"x-kvmm-snapshot-save\"}", "GenericError",
		     "Parameter 'path' is missing");
	expect(f,
	       "{\"execute\": \"x-kvmm-snapshot-save\", \"arguments\": {\"path\": \"/s\", "
	       "\"resume\": true}}",
	       "{\"return\": {}}");
	assert_int_equal(f->vm.nsnapshot, 1);
	assert_string_equal(f->vm.snapshot_path, "/s");
	assert_true(f->vm.snapshot_resume);
	assert_int_equal(f->nev, 0);
	/* Without resume a running VM is left paused: STOP, as QEMU after a migration. */
	expect(f, "{\"execute\": \"x-kvmm-snapshot-save\", \"arguments\": {\"path\": \"/t\"}}",
	       "{\"return\": {}}");
	assert_false(f->vm.snapshot_resume);
	assert_int_equal(f->nev, 1);
	assert_string_equal(f->ev[0], "STOP");
	expect_error(f, "{\"execute\": \"x-kvmm-snapshot-save\", \"arguments\": {\"path\": \"\"}}",
		     "GenericError", "snapshot: cannot create '': No such file or directory");
	expect_error(f, "{\"execute\": \"x-kvmm-snapshot-save\", \"arguments\": {\"path\": 1}}",
		     "GenericError", "Invalid parameter type for 'path', expected: string");
	f->vm.state = QMP_RUNSTATE_SHUTDOWN;
	expect_error(f,
		     "{\"execute\": \"x-kvmm-snapshot-save\", \"arguments\": {\"path\": \"/u\"}}",
		     "GenericError", "The VM cannot be saved now (shutdown)");
	assert_int_equal(f->vm.nsnapshot, 2);
}

static void test_request_errors(void **state)
{
	struct fix *f = *state;

	expect_error(f, "{\"execute\": \"frobnicate\"}", "CommandNotFound",
		     "The command frobnicate has not been found");
	expect(
	    f, "{\"execute\": \"frobnicate\", \"id\": {\"a\": 1}}",
	    "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command frobnicate has "
	    "not been found\"}, \"id\": {\"a\": 1}}");
	expect_error(f, "[1, 2]", "GenericError", "QMP input must be a JSON object");
	expect_error(f, "42 ", "GenericError", "QMP input must be a JSON object");
	expect_error(f, "\"stop\"", "GenericError", "QMP input must be a JSON object");
	expect_error(f, "{}", "GenericError", "QMP input lacks member 'execute'");
	expect_error(f, "{\"execute\": 1}", "GenericError",
		     "QMP input member 'execute' must be a string");
	expect_error(f, "{\"execute\": \"stop\", \"arguments\": []}", "GenericError",
		     "QMP input member 'arguments' must be an object");
	expect_error(f, "{\"exec\": \"stop\"}", "GenericError",
		     "QMP input member 'exec' is unexpected");
	expect_error(f, "{\"exec-oob\": \"stop\"}", "GenericError",
		     "Please enable out-of-band first for the session during capabilities "
		     "negotiation");
	expect_error(f, "{\"execute\": \"stop\", \"arguments\": {\"x\": 1}}", "GenericError",
		     "Parameter 'x' is unexpected");
	assert_int_equal(f->vm.nstop, 0);
}

static void expect_parse_error(struct fix *f, const char *in)
{
	json_t *r;
	const char *desc;

	reset_out(f);
	feed(f, in);
	assert_int_equal(f->nout, 1);
	r = json_loads(f->out[0], 0, NULL);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(r, "error"), "class")),
	    "GenericError");
	desc = json_string_value(json_object_get(json_object_get(r, "error"), "desc"));
	if (strncmp(desc, "JSON parse error, ", 18))
		fail_msg("'%s': %s", in, desc);
	json_decref(r);
}

static void test_malformed(void **state)
{
	struct fix *f = *state;

	expect_parse_error(f, "{\"execute\": }");
	expect_parse_error(f, "{\"execute\" \"stop\"}");
	expect_parse_error(f, "foo ");
	expect_parse_error(f, "}");
	expect_parse_error(f, "{]");
	expect_parse_error(f, "{\"execute\": \"stop\", \"execute\": \"cont\"}"); /* duplicate */
	expect_parse_error(f, "{\"execute\": \"st\xff\xfeop\"}");		 /* bad UTF-8 */
	expect_parse_error(f, "{\"execute\": \"stop\\u0000x\"}");
	assert_int_equal(f->vm.nstop, 0);
	/* Still in sync afterwards. */
	expect(f, "{\"execute\": \"query-kvm\"}",
	       "{\"return\": {\"enabled\": true, \"present\": true}}");
}

static void test_splitter(void **state)
{
	struct fix *f = *state;
	const char *m = "  {\"execute\": \"query-kvm\", \"id\": \"}{\\\"]\"}\r\n";

	for (size_t i = 0; m[i]; i++) {
		assert_int_equal(qmp_session_input(&f->s, m + i, 1), 0);
		if (m[i + 1] && i < strlen(m) - 3)
			assert_int_equal(f->nout, 0);
	}
	assert_int_equal(f->nout, 1);
	assert_non_null(strstr(f->out[0], "\"id\": \"}{\\\"]\""));
	reset_out(f);
	feed(f, "{\"execute\":\"query-kvm\"}{\"execute\":\"query-name\"}[]{\"execute\":\"stop\"}");
	assert_int_equal(f->nout, 4);
	assert_int_equal(f->vm.nstop, 1);
	reset_out(f);
	feed(f, "{\"execute\": \"qu");
	assert_true(qmp_session_partial(&f->s));
	assert_int_equal(f->nout, 0);
	feed(f, "ery-kvm\"}");
	assert_false(qmp_session_partial(&f->s));
	assert_int_equal(f->nout, 1);
}

static void test_limits(void **state)
{
	struct fix *f = *state;
	size_t n = QMP_MAX_MESSAGE + 100;
	char *big = malloc(n + 64);
	json_t *r;

	/* A message just over the limit. */
	strcpy(big, "{\"execute\": \"stop\", \"id\": \"");
	memset(big + strlen(big), 'a', n);
	strcpy(big + n, "\"}");
	expect_parse_error(f, big);
	assert_non_null(strstr(f->out[0], "exceeds the limit"));
	assert_int_equal(f->vm.nstop, 0);
	/* A bare token over the limit: one error at its end. */
	memset(big, 'x', n);
	big[n] = ' ';
	big[n + 1] = '\0';
	expect_parse_error(f, big);
	/* Just under the limit is fine. */
	strcpy(big, "{\"execute\": \"query-kvm\", \"id\": \"");
	{
		size_t h = strlen(big), room = QMP_MAX_MESSAGE - h - 2;

		memset(big + h, 'b', room);
		strcpy(big + h + room, "\"}");
	}
	reset_out(f);
	feed(f, big);
	assert_int_equal(f->nout, 1);
	r = json_loads(f->out[0], 0, NULL);
	assert_non_null(json_object_get(r, "return"));
	json_decref(r);
	/* Nesting beyond QMP_MAX_DEPTH. */
	big[0] = '\0';
	for (int i = 0; i < QMP_MAX_DEPTH + 5; i++)
		strcat(big, "[");
	for (int i = 0; i < QMP_MAX_DEPTH + 5; i++)
		strcat(big, "]");
	expect_parse_error(f, big);
	assert_non_null(strstr(f->out[0], "nesting"));
	expect(f, "{\"execute\": \"query-kvm\"}",
	       "{\"return\": {\"enabled\": true, \"present\": true}}");
	free(big);
}

static void test_event_text(void **state)
{
	char *t = qmp_event_text("STOP", NULL);
	json_t *e = json_loads(t, 0, NULL);

	assert_non_null(e);
	assert_string_equal(json_string_value(json_object_get(e, "event")), "STOP");
	assert_null(json_object_get(e, "data"));
	assert_true(json_integer_value(
			json_object_get(json_object_get(e, "timestamp"), "seconds")) > 1600000000);
	assert_true(
	    json_is_integer(json_object_get(json_object_get(e, "timestamp"), "microseconds")));
	assert_int_equal(strncmp(t, "{\"timestamp\": {\"seconds\": ", 26), 0);
	json_decref(e);
	free(t);
	t = qmp_event_text("SHUTDOWN",
			   json_pack("{s:b,s:s}", "guest", 1, "reason", "guest-shutdown"));
	e = json_loads(t, 0, NULL);
	assert_true(json_is_true(json_object_get(json_object_get(e, "data"), "guest")));
	json_decref(e);
	free(t);
	(void)state;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_greeting, setup_raw, teardown),
	    cmocka_unit_test_setup_teardown(test_negotiation, setup_raw, teardown),
	    cmocka_unit_test_setup_teardown(test_queries, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_actions_and_events, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_save, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_request_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_splitter, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
	    cmocka_unit_test(test_event_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
