/* Fuzz target: the QMP protocol layer (vmm/qmp.c splitter, request checks and dispatch, the
 * command table) over the fake VM of tests/lib/qmp_fake_vm.h — no socket, no /dev/kvm.
 *
 * Input: byte 0 bit 0 = start already negotiated; bits 1-7 seed the chunk sizes. The rest is
 * the client's byte stream, fed in chunks of 1..64 bytes (sizes from a tiny LCG seeded by byte 0)
 * so that every split point of the streaming splitter is exercised.
 * Invariants checked: nothing crashes or leaks (ASan/UBSan); every message the session sends
 * is one line of valid JSON ending in "\r\n", an object with exactly one of "return", "error"
 * or "QMP"; every error has a string class and desc; events are only STOP/RESUME/POWERDOWN. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/qmp_fake_vm.h"
#include "vmm/qmp.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

static int fuzz_send(void *ctx, const char *text, size_t len)
{
	json_t *m, *err;
	int kinds;

	(void)ctx;
	if (len < 2 || memcmp(text + len - 2, "\r\n", 2) || memchr(text, '\n', len - 1))
		abort();
	m = json_loadb(text, len - 2, 0, NULL);
	if (!json_is_object(m))
		abort();
	kinds = !!json_object_get(m, "return") + !!json_object_get(m, "error") +
		!!json_object_get(m, "QMP");
	if (kinds != 1)
		abort();
	err = json_object_get(m, "error");
	if (err && (!json_is_string(json_object_get(err, "class")) ||
		    !json_is_string(json_object_get(err, "desc"))))
		abort();
	json_decref(m);
	return 0;
}

static void fuzz_event(void *ctx, const char *name, json_t *data)
{
	char *t;

	(void)ctx;
	if (strcmp(name, "STOP") && strcmp(name, "RESUME") && strcmp(name, "POWERDOWN"))
		abort();
	t = qmp_event_text(name, data);
	if (!t)
		abort();
	free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	const struct qmp_output out = {fuzz_send, NULL};
	struct qmp_fake_vm vm;
	struct qmp_env env;
	struct qmp_session s;
	uint32_t rng;
	size_t off = 1;

	if (n < 1)
		return 0;
	qmp_fake_vm_init(&vm);
	env = (struct qmp_env){&qmp_fake_vm_ops, &vm, {fuzz_event, NULL}};
	qmp_session_init(&s, &env, &out);
	s.negotiated = d[0] & 1;
	rng = d[0] >> 1;
	if (qmp_session_greet(&s))
		abort();
	while (off < n) {
		size_t chunk;

		rng = rng * 1103515245u + 12345u;
		chunk = 1 + (rng >> 16) % 64;
		if (chunk > n - off)
			chunk = n - off;
		if (qmp_session_input(&s, d + off, chunk))
			break; /* -ENOMEM */
		off += chunk;
	}
	qmp_session_fini(&s);
	return 0;
}
