/* base/compiler.h — compiler helpers shared by every layer.
 * Pure macros; usable from any thread. */
#pragma once

#include <stddef.h>

#define KVMM_MUST_CHECK	  __attribute__((warn_unused_result))
#define KVMM_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define KVMM_UNUSED	  __attribute__((unused))
#define KVMM_PACKED	  __attribute__((packed))

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#define KVMM_MIN(a, b) ((a) < (b) ? (a) : (b))
#define KVMM_MAX(a, b) ((a) > (b) ? (a) : (b))

/* Round up/down to a power-of-two alignment. */
#define ALIGN_UP(x, a)	 (((x) + ((a)-1)) & ~((__typeof__(x))(a)-1))
#define ALIGN_DOWN(x, a) ((x) & ~((__typeof__(x))(a)-1))
#define IS_POW2(x)	 ((x) != 0 && (((x) & ((x)-1)) == 0))

/* Abort on a broken internal invariant. Never for guest/image/client input. */
void kvmm_bug(const char *file, int line, const char *cond) __attribute__((noreturn));
#define BUG_ON(c)                                                                                  \
	do {                                                                                       \
		if (__builtin_expect(!!(c), 0))                                                    \
			kvmm_bug(__FILE__, __LINE__, #c);                                          \
	} while (0)
