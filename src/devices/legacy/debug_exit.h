/* devices/legacy/debug_exit.h — QEMU's isa-debug-exit test port (kvmm puts it at 0xf4).
 * A write of value v (1, 2 or 4 bytes, little-endian) asks the VMM to exit with status
 * (v << 1) | 1 (DEV_EVENT_EXIT_CODE); reads return all ones. Stateless apart from the sink, so
 * io_ops may be called from any vCPU thread. */
#pragma once

#include "base/compiler.h"
#include "devices/dev.h"

struct debug_exit;

/* `events` is copied (NULL: writes are dropped). 0 or -ENOMEM. */
int debug_exit_create(struct debug_exit **out, const struct dev_event_sink *events) KVMM_MUST_CHECK;
/* NULL is a no-op. */
void debug_exit_destroy(struct debug_exit *d);

/* Compute the exit status QEMU would use for a written value: (v << 1) | 1, truncated to 31
 * bits so that it is a non-negative int (a process exit status only keeps the low 8 bits). */
int debug_exit_code(uint32_t v);

/* dev = struct debug_exit *. Writes of len 1, 2 or 4 at any offset raise DEV_EVENT_EXIT_CODE;
 * other lengths are ignored. Reads fill all len bytes with 0xff. */
extern const struct io_ops debug_exit_io_ops;
