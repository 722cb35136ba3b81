/* devices/legacy/debug_exit.c — see debug_exit.h. */
#include "devices/legacy/debug_exit.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

struct debug_exit {
	struct dev_event_sink events;
};

int debug_exit_create(struct debug_exit **out, const struct dev_event_sink *events)
{
	struct debug_exit *d = calloc(1, sizeof(*d));

	if (!d)
		return -ENOMEM;
	if (events)
		d->events = *events;
	*out = d;
	return 0;
}

void debug_exit_destroy(struct debug_exit *d)
{
	free(d);
}

int debug_exit_code(uint32_t v)
{
	uint64_t code = ((uint64_t)v << 1) | 1;

	return (int)(code & INT_MAX);
}

static void debug_exit_read(void *dev, uint64_t off, void *data, uint32_t len)
{
	memset(data, 0xff, len);
}

static void debug_exit_write(void *dev, uint64_t off, const void *data, uint32_t len)
{
	struct debug_exit *d = dev;
	const uint8_t *b = data;
	uint32_t v = 0;

	if (len != 1 && len != 2 && len != 4)
		return;
	for (uint32_t i = 0; i < len; i++)
		v |= (uint32_t)b[i] << (8 * i);
	dev_event_raise(&d->events, DEV_EVENT_EXIT_CODE, debug_exit_code(v));
}

const struct io_ops debug_exit_io_ops = {
    .read = debug_exit_read,
    .write = debug_exit_write,
};
