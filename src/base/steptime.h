/* base/steptime.h — where the time of a multi-step operation goes: CLOCK_MONOTONIC marks, each
 * naming the step that ended there, formatted as one log line ("state 0.40 ms, devices 1.20 ms,
 * ..., total 5.10 ms"). vm_create() uses it for `kvmm run -v --restore`. One thread; no
 * allocation; at most STEPTIME_MAX steps (later marks are folded into the total only). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define STEPTIME_MAX 32

struct steptime_step {
	const char *name; /* static string */
	uint64_t ns;
};

struct steptime {
	uint64_t start_ns, last_ns;
	unsigned n;
	struct steptime_step s[STEPTIME_MAX];
};

uint64_t steptime_now_ns(void);
/* Begin: the first mark measures from here. */
void steptime_start(struct steptime *t);
/* The step `name` ended now: the time since the previous mark (or the start). */
void steptime_mark(struct steptime *t, const char *name);
/* Time from the start to the last mark. */
uint64_t steptime_total_ns(const struct steptime *t);
/* "name X.XX ms, ..., total Y.YY ms" into buf (always NUL-terminated, truncated if short).
 * Returns the length it would have had, as snprintf. */
size_t steptime_format(const struct steptime *t, char *buf, size_t len);
