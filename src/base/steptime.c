/* base/steptime.c — see steptime.h. */
#include "base/steptime.h"

#include <stdio.h>
#include <time.h>

uint64_t steptime_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void steptime_start(struct steptime *t)
{
	t->n = 0;
	t->start_ns = t->last_ns = steptime_now_ns();
}

void steptime_mark(struct steptime *t, const char *name)
{
	uint64_t now = steptime_now_ns();

	if (t->n < STEPTIME_MAX)
		t->s[t->n++] = (struct steptime_step){name, now - t->last_ns};
	t->last_ns = now;
}

uint64_t steptime_total_ns(const struct steptime *t)
{
	return t->last_ns - t->start_ns;
}

size_t steptime_format(const struct steptime *t, char *buf, size_t len)
{
	size_t used = 0;
	int w;

	if (len)
		buf[0] = '\0';
	for (unsigned i = 0; i <= t->n; i++) {
		if (i < t->n)
			w = snprintf(buf + (used < len ? used : len), used < len ? len - used : 0,
				     "%s %.2f ms, ", t->s[i].name, (double)t->s[i].ns / 1e6);
		else
			w = snprintf(buf + (used < len ? used : len), used < len ? len - used : 0,
				     "total %.2f ms", (double)steptime_total_ns(t) / 1e6);
		if (w > 0)
			used += (size_t)w;
	}
	return used;
}
