/* devices/legacy/reset.h — the PIIX/ICH reset control register at I/O port 0xcf9 (one byte).
 * A write with RST_CPU (bit 2) set asks the VMM to reset the machine (DEV_EVENT_RESET).
 * io_ops are called from vCPU threads, serialised by the bus's per-device lock. */
#pragma once

#include "base/compiler.h"
#include "devices/dev.h"

#define RESET_SYS_RST 0x02 /* stored, no effect of its own */
#define RESET_RST_CPU 0x04

struct reset;

/* Create the register. `events` is copied (NULL: events are dropped). 0 or -ENOMEM. */
int reset_create(struct reset **out, const struct dev_event_sink *events) KVMM_MUST_CHECK;
/* NULL is a no-op. */
void reset_destroy(struct reset *r);

/* dev = struct reset *. Only a 1-byte access at offset 0 is decoded: a write stores the
 * value and raises DEV_EVENT_RESET (code 0) when RST_CPU is set; a read returns the last value
 * with RST_CPU clear. Other sizes/offsets read all ones and ignore writes. */
extern const struct io_ops reset_io_ops;
