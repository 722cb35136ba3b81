/* devices/dev.h — the contracts every device model implements or consumes.
 * Devices know nothing of KVM, vCPUs or transports: they are driven through io_ops (called
 * from a vCPU thread with the bus's per-device lock held, one access at a time) and signal the
 * guest through an irq_line (safe from any thread). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* Anything on a PIO or MMIO bus; `off` is relative to the device's base. len is 1, 2, 4 or 8
 * (MMIO may deliver others; a device ignores what it does not understand). Reads must fill
 * all `len` bytes of data. */
struct io_ops {
	void (*read)(void *dev, uint64_t off, void *data, uint32_t len);
	void (*write)(void *dev, uint64_t off, const void *data, uint32_t len);
};

/* An interrupt line. vmm: KVM_IRQ_LINE or irqfd; tests: a counter.
 * For an edge-triggered source, set(ctx, true) then set(ctx, false). Returns 0 or -errno. */
struct irq_line {
	int (*set)(void *ctx, bool level);
	void *ctx;
};

static inline int irq_line_set(const struct irq_line *l, bool level)
{
	return l && l->set ? l->set(l->ctx, level) : 0;
}

/* A reset/power request from a device (i8042 pulse, 0xcf9, ACPI sleep, debug-exit) to the VMM. */
enum dev_event_kind { DEV_EVENT_RESET, DEV_EVENT_POWEROFF, DEV_EVENT_EXIT_CODE };
struct dev_event_sink {
	void (*event)(void *ctx, enum dev_event_kind kind, int code);
	void *ctx;
};

static inline void dev_event_raise(const struct dev_event_sink *s, enum dev_event_kind k, int code)
{
	if (s && s->event)
		s->event(s->ctx, k, code);
}
