/* devices/legacy/i8042.c — see i8042.h. */
#include "devices/legacy/i8042.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define I8042_RESP_NAK 0xfe /* "resend": what the port answers with no device behind it */

struct i8042 {
	struct i8042_config cfg;
	uint8_t ram[32]; /* ram[0] is the command byte (CTR) */
	uint8_t status;	 /* SYS, CMD, UNLOCKED; OBF/AUXDATA derived from the queue */
	uint8_t pending; /* command waiting for its data byte, or 0 */
	uint8_t outport; /* bit 0: reset line (1 = running), bit 1: A20 */
	uint8_t q[I8042_QUEUE_SIZE];
	bool q_aux[I8042_QUEUE_SIZE];
	unsigned q_head, q_count;
	uint8_t last_out;
	bool kbd_level, aux_level;
};

int i8042_create(struct i8042 **out, const struct i8042_config *cfg)
{
	struct i8042 *k = calloc(1, sizeof(*k));

	if (!k)
		return -ENOMEM;
	if (cfg)
		k->cfg = *cfg;
	k->ram[0] = I8042_CTR_XLATE | I8042_CTR_SYS | I8042_CTR_KBDINT;
	k->status = I8042_STR_SYS | I8042_STR_UNLOCKED;
	k->outport = 0x03;
	*out = k;
	return 0;
}

void i8042_destroy(struct i8042 *k)
{
	free(k);
}

/* Queue a response byte. When the queue is full the new byte is dropped: only a guest that
 * issues 16 commands without reading their answers gets there. */
static void i8042_queue(struct i8042 *k, uint8_t v, bool aux)
{
	unsigned slot;

	if (k->q_count == I8042_QUEUE_SIZE)
		return;
	slot = (k->q_head + k->q_count) % I8042_QUEUE_SIZE;
	k->q[slot] = v;
	k->q_aux[slot] = aux;
	k->q_count++;
}

static void i8042_update_irq(struct i8042 *k)
{
	bool kbd = false, aux = false;

	if (k->q_count) {
		if (k->q_aux[k->q_head])
			aux = k->ram[0] & I8042_CTR_AUXINT;
		else
			kbd = k->ram[0] & I8042_CTR_KBDINT;
	}
	if (kbd != k->kbd_level) {
		k->kbd_level = kbd;
		irq_line_set(&k->cfg.kbd_irq, kbd);
	}
	if (aux != k->aux_level) {
		k->aux_level = aux;
		irq_line_set(&k->cfg.aux_irq, aux);
	}
}

static uint8_t i8042_status(const struct i8042 *k)
{
	uint8_t s = k->status;

	if (k->q_count) {
		s |= I8042_STR_OBF;
		if (k->q_aux[k->q_head])
			s |= I8042_STR_AUXDATA;
	}
	return s;
}

static void i8042_reset_request(struct i8042 *k)
{
	dev_event_raise(&k->cfg.events, DEV_EVENT_RESET, 0);
}

static void i8042_command(struct i8042 *k, uint8_t cmd)
{
	k->pending = 0;
	if (cmd >= 0x20 && cmd <= 0x3f) { /* read controller RAM */
		i8042_queue(k, k->ram[cmd - 0x20], false);
		return;
	}
	if ((cmd >= 0x60 && cmd <= 0x7f) || (cmd >= 0xd1 && cmd <= 0xd4)) {
		k->pending = cmd; /* the next 0x60 write is its parameter */
		return;
	}
	if (cmd >= 0xf0) { /* pulse output lines low for each clear bit 0-3 */
		if (!(cmd & 0x01))
			i8042_reset_request(k);
		return;
	}
	switch (cmd) {
	case 0xa7:
		k->ram[0] |= I8042_CTR_AUXDIS;
		break;
	case 0xa8:
		k->ram[0] &= (uint8_t)~I8042_CTR_AUXDIS;
		break;
	case 0xa9: /* aux interface test: OK */
	case 0xab: /* kbd interface test: OK */
		i8042_queue(k, 0x00, false);
		break;
	case 0xaa: /* controller self test */
		k->status |= I8042_STR_SYS;
		i8042_queue(k, 0x55, false);
		break;
	case 0xad:
		k->ram[0] |= I8042_CTR_KBDDIS;
		break;
	case 0xae:
		k->ram[0] &= (uint8_t)~I8042_CTR_KBDDIS;
		break;
	case 0xc0: /* read input port: keyboard not inhibited */
		i8042_queue(k, 0x80, false);
		break;
	case 0xd0: /* read output port */
		i8042_queue(k, k->outport, false);
		break;
	default: /* unknown or unimplemented: ignored */
		break;
	}
}

static void i8042_data(struct i8042 *k, uint8_t v)
{
	uint8_t cmd = k->pending;

	k->pending = 0;
	if (cmd >= 0x60 && cmd <= 0x7f) {
		k->ram[cmd - 0x60] = v;
		if (cmd == 0x60)
			k->status = (uint8_t)((k->status & ~I8042_STR_SYS) | (v & I8042_CTR_SYS));
		return;
	}
	switch (cmd) {
	case 0xd1: /* write output port */
		k->outport = v;
		if (!(v & 0x01))
			i8042_reset_request(k);
		break;
	case 0xd2: /* as if from the keyboard */
		i8042_queue(k, v, false);
		break;
	case 0xd3: /* as if from the mouse */
		i8042_queue(k, v, true);
		break;
	case 0xd4: /* to the mouse: none attached */
		i8042_queue(k, I8042_RESP_NAK, true);
		break;
	default: /* to the keyboard: none attached */
		i8042_queue(k, I8042_RESP_NAK, false);
		break;
	}
}

static void i8042_read(void *dev, uint64_t off, void *data, uint32_t len)
{
	struct i8042 *k = dev;
	uint8_t *b = data;

	memset(data, 0xff, len);
	if (len != 1)
		return;
	if (off == I8042_COMMAND) {
		*b = i8042_status(k);
	} else if (off == I8042_DATA) {
		if (k->q_count) {
			k->last_out = k->q[k->q_head];
			k->q_head = (k->q_head + 1) % I8042_QUEUE_SIZE;
			k->q_count--;
		}
		*b = k->last_out;
		i8042_update_irq(k);
	}
}

static void i8042_write(void *dev, uint64_t off, const void *data, uint32_t len)
{
	struct i8042 *k = dev;
	uint8_t v;

	if (len != 1)
		return;
	v = *(const uint8_t *)data;
	if (off == I8042_COMMAND) {
		k->status |= I8042_STR_CMD;
		i8042_command(k, v);
	} else if (off == I8042_DATA) {
		k->status &= (uint8_t)~I8042_STR_CMD;
		i8042_data(k, v);
	} else {
		return;
	}
	i8042_update_irq(k);
}

const struct io_ops i8042_io_ops = {
    .read = i8042_read,
    .write = i8042_write,
};

void i8042_save(struct i8042 *k, struct i8042_state *s)
{
	memset(s, 0, sizeof(*s));
	memcpy(s->ram, k->ram, sizeof(s->ram));
	memcpy(s->q, k->q, sizeof(s->q));
	for (unsigned i = 0; i < I8042_QUEUE_SIZE; i++)
		s->q_aux[i] = k->q_aux[i];
	s->status = k->status;
	s->pending = k->pending;
	s->outport = k->outport;
	s->last_out = k->last_out;
	s->q_head = (uint8_t)k->q_head;
	s->q_count = (uint8_t)k->q_count;
}

int i8042_load(struct i8042 *k, const struct i8042_state *s)
{
	if (s->q_head >= I8042_QUEUE_SIZE || s->q_count > I8042_QUEUE_SIZE)
		return -EINVAL;
	memcpy(k->ram, s->ram, sizeof(k->ram));
	memcpy(k->q, s->q, sizeof(k->q));
	for (unsigned i = 0; i < I8042_QUEUE_SIZE; i++)
		k->q_aux[i] = s->q_aux[i] != 0;
	k->status = s->status;
	k->pending = s->pending;
	k->outport = s->outport;
	k->last_out = s->last_out;
	k->q_head = s->q_head;
	k->q_count = s->q_count;
	k->kbd_level = k->aux_level = true; /* force i8042_update_irq to drive both lines */
	i8042_update_irq(k);
	return 0;
}
