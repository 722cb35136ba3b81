/* devices/legacy/i8042.h — the PS/2 keyboard controller, as much as Linux's i8042 driver and
 * reset paths need: data port at +0 (0x60), status/command port at +4 (0x64).
 *
 * No keyboard or mouse is attached: every byte sent to a device (a plain 0x60 write, or 0xd4
 * then a byte) is answered with 0xfe (resend: "no device"), so atkbd/psmouse probes fail fast.
 * Controller commands answer like a real 8042 (self test 0x55, interface tests 0x00, command
 * byte read/write, port enable/disable). A reset request (command 0xfe or any 0xf0-0xff pulse
 * with bit 0 clear, or 0xd1 with output-port bit 0 clear) raises DEV_EVENT_RESET. The status
 * register reports OBF only while a response is queued, so a polling guest never hangs.
 *
 * Threads: io_ops only (vCPU threads, serialised by the bus's per-device lock); no other entry
 * points touch the state. */
#pragma once

#include "base/compiler.h"
#include "devices/dev.h"

#define I8042_DATA    0 /* offset of port 0x60 */
#define I8042_COMMAND 4 /* offset of port 0x64 */
#define I8042_SIZE    5 /* register the device over 0x60..0x64 */

#define I8042_STR_OBF	   0x01
#define I8042_STR_IBF	   0x02
#define I8042_STR_SYS	   0x04
#define I8042_STR_CMD	   0x08 /* last write was to the command port */
#define I8042_STR_UNLOCKED 0x10
#define I8042_STR_AUXDATA  0x20

#define I8042_CTR_KBDINT 0x01
#define I8042_CTR_AUXINT 0x02
#define I8042_CTR_SYS	 0x04
#define I8042_CTR_KBDDIS 0x10
#define I8042_CTR_AUXDIS 0x20
#define I8042_CTR_XLATE	 0x40

#define I8042_QUEUE_SIZE 16

struct i8042;

struct i8042_config {
	struct dev_event_sink events; /* DEV_EVENT_RESET (code 0) */
	struct irq_line kbd_irq;      /* IRQ 1 (optional) */
	struct irq_line aux_irq;      /* IRQ 12 (optional) */
};

/* Create the controller with command byte 0x45 (XLATE, SYS, KBDINT). cfg is copied; NULL
 * means no events and no interrupts. 0 or -ENOMEM. */
int i8042_create(struct i8042 **out, const struct i8042_config *cfg) KVMM_MUST_CHECK;
/* NULL is a no-op. */
void i8042_destroy(struct i8042 *k);

/* dev = struct i8042 *. Only 1-byte accesses at offsets 0 and 4 are decoded; other reads
 * fill all ones, other writes are ignored. Offsets are relative to 0x60. */
extern const struct io_ops i8042_io_ops;

/* Snapshot state. */
struct i8042_state {
	uint8_t ram[32];
	uint8_t q[I8042_QUEUE_SIZE];
	uint8_t q_aux[I8042_QUEUE_SIZE];
	uint8_t status, pending, outport, last_out, q_head, q_count, pad[2];
};
void i8042_save(struct i8042 *k, struct i8042_state *s);
int i8042_load(struct i8042 *k, const struct i8042_state *s) KVMM_MUST_CHECK;
