/* base/log.c — see log.h. */
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The only process-wide mutable state in kvmm: the log sink. Set before threads start. */
static struct {
	int fd;
	enum log_level level;
} log_cfg = {2, LOG_WARN};

void log_set_level(enum log_level lvl)
{
	log_cfg.level = lvl;
}

enum log_level log_get_level(void)
{
	return log_cfg.level;
}

void log_set_fd(int fd)
{
	log_cfg.fd = fd;
}

static const char *const log_prefix[] = {
    [LOG_ERR] = "error: ",
    [LOG_WARN] = "warning: ",
    [LOG_INFO] = "",
    [LOG_DEBUG] = "debug: ",
};

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n, m;

	if (lvl > log_cfg.level)
		return;
	n = snprintf(buf, sizeof(buf), "kvmm: %s", log_prefix[lvl]);
	va_start(ap, fmt);
	m = vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	n += m;
	if ((size_t)n > sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	if (write(log_cfg.fd, buf, (size_t)n) < 0)
		return;
}

bool log_ratelimit_ok(struct log_ratelimit *rl, uint64_t interval_ms)
{
	struct timespec ts;
	uint64_t now;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	if (now < rl->next_ns) {
		rl->suppressed++;
		return false;
	}
	rl->next_ns = now + interval_ms * 1000000ull;
	return true;
}

void kvmm_bug(const char *file, int line, const char *cond)
{
	fprintf(stderr, "kvmm: BUG at %s:%d: %s\n", file, line, cond);
	abort();
}
