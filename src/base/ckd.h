/* base/ckd.h — checked integer arithmetic (C23 ckd_* on top of GCC/Clang builtins).
 * Each returns true when the result overflowed; *r is then unspecified.
 * Use for every size or offset a guest, image or client supplies. */
#pragma once

#include <stdbool.h>

#define ckd_add(r, a, b) __builtin_add_overflow((a), (b), (r))
#define ckd_sub(r, a, b) __builtin_sub_overflow((a), (b), (r))
#define ckd_mul(r, a, b) __builtin_mul_overflow((a), (b), (r))
