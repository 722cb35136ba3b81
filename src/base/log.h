/* base/log.h — leveled logging to stderr (or a caller-chosen fd).
 * Thread-safe: each message is formatted into one buffer and written with one write(2).
 * log_ratelimited() lets a guest-triggerable condition log at most once per interval per site. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/compiler.h"

enum log_level { LOG_ERR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Process-wide settings, set once by cmd/ before threads start. */
void log_set_level(enum log_level lvl);
void log_set_fd(int fd);
enum log_level log_get_level(void);

void log_msg(enum log_level lvl, const char *fmt, ...) KVMM_PRINTF(2, 3);

#define log_err(...)   log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

/* Per-call-site rate limit state: embed one (static-storage is not allowed: put it in the
 * owning object). Allows one message per `interval_ms`; counts the suppressed ones. */
struct log_ratelimit {
	uint64_t next_ns;
	uint64_t suppressed;
};
bool log_ratelimit_ok(struct log_ratelimit *rl, uint64_t interval_ms);
#define log_ratelimited(rl, lvl, ...)                                                              \
	do {                                                                                       \
		if (log_ratelimit_ok((rl), 5000))                                                  \
			log_msg((lvl), __VA_ARGS__);                                               \
	} while (0)
