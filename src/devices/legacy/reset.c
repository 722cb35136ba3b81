/* devices/legacy/reset.c — see reset.h. */
#include "devices/legacy/reset.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct reset {
	struct dev_event_sink events;
	uint8_t value; /* last written, RST_CPU cleared */
};

int reset_create(struct reset **out, const struct dev_event_sink *events)
{
	struct reset *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	if (events)
		r->events = *events;
	*out = r;
	return 0;
}

void reset_destroy(struct reset *r)
{
	free(r);
}

static void reset_read(void *dev, uint64_t off, void *data, uint32_t len)
{
	struct reset *r = dev;

	memset(data, 0xff, len);
	if (off == 0 && len == 1)
		*(uint8_t *)data = r->value;
}

static void reset_write(void *dev, uint64_t off, const void *data, uint32_t len)
{
	struct reset *r = dev;
	uint8_t v;

	if (off != 0 || len != 1)
		return;
	v = *(const uint8_t *)data;
	r->value = v & (uint8_t)~RESET_RST_CPU;
	if (v & RESET_RST_CPU)
		dev_event_raise(&r->events, DEV_EVENT_RESET, 0);
}

const struct io_ops reset_io_ops = {
    .read = reset_read,
    .write = reset_write,
};
