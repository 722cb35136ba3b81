/* devices/virtio/console.c — see console.h. */
#include "devices/virtio/console.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct virtio_console {
	struct virtio_dev vd; /* vd.lock protects everything below */
	struct virtio_console_backend be;
	uint8_t hold[VIRTIO_CONSOLE_RX_HOLD]; /* ring of input not yet in a guest buffer */
	size_t hold_off, hold_len;
	struct virtio_console_stats st;
	struct log_ratelimit rl;
	struct virtq_elem elem;
};

static struct virtio_console *to_con(struct virtio_dev *vd)
{
	return container_of(vd, struct virtio_console, vd);
}

/* Can queue q be processed? Caller holds vd.lock. */
static bool con_queue_live(const struct virtio_console *c, uint16_t q)
{
	const struct virtq *vq = &c->vd.vq[q];

	return (c->vd.status & VIRTIO_STATUS_DRIVER_OK) &&
	       !(c->vd.status & VIRTIO_STATUS_NEEDS_RESET) && vq->active && !vq->broken;
}

/* why == NULL: virtq already logged the chain problem. */
static void con_guest_error(struct virtio_console *c, const char *why)
{
	c->st.guest_errors++;
	if (why)
		log_ratelimited(&c->rl, LOG_WARN, "virtio-console: %s: device needs reset", why);
	virtio_needs_reset(&c->vd);
}

static void con_output(struct virtio_console *c, const uint8_t *buf, size_t len)
{
	size_t w = c->be.write(c->be.ctx, buf, len);

	w = KVMM_MIN(w, len);
	c->st.tx_bytes += w;
	c->st.tx_dropped += len - w;
}

/* Move n held bytes (n <= hold_len) to dst. */
static void con_hold_take(struct virtio_console *c, uint8_t *dst, size_t n)
{
	size_t first = KVMM_MIN(n, VIRTIO_CONSOLE_RX_HOLD - c->hold_off);

	memcpy(dst, c->hold + c->hold_off, first);
	memcpy(dst + first, c->hold, n - first);
	c->hold_off = (c->hold_off + n) % VIRTIO_CONSOLE_RX_HOLD;
	c->hold_len -= n;
}

/* Append n bytes (n <= free room). */
static void con_hold_put(struct virtio_console *c, const uint8_t *src, size_t n)
{
	size_t tail = (c->hold_off + c->hold_len) % VIRTIO_CONSOLE_RX_HOLD;
	size_t first = KVMM_MIN(n, VIRTIO_CONSOLE_RX_HOLD - tail);

	memcpy(c->hold + tail, src, first);
	memcpy(c->hold, src + first, n - first);
	c->hold_len += n;
}

/* Fill the writable segments of one receiveq chain from the hold buffer; returns the bytes. */
static uint32_t con_fill(struct virtio_console *c, const struct virtq_elem *e)
{
	uint32_t done = 0;

	for (unsigned i = e->nout; i < e->nout + e->nin && c->hold_len; i++) {
		size_t n = KVMM_MIN(e->iov[i].iov_len, c->hold_len);

		con_hold_take(c, e->iov[i].iov_base, n);
		done += (uint32_t)n;
	}
	return done;
}

/* Deliver held input into the guest's receive buffers. Caller holds vd.lock. */
static void con_rx(struct virtio_console *c, bool wake)
{
	struct virtq *vq = &c->vd.vq[VIRTIO_CONSOLE_RXQ];
	size_t before = c->hold_len;
	bool pushed = false;

	while (c->hold_len && con_queue_live(c, VIRTIO_CONSOLE_RXQ)) {
		int got = virtq_pop(vq, &c->elem);

		if (got == 0)
			break;
		if (got < 0) {
			con_guest_error(c, NULL);
			break;
		}
		if (c->elem.nout || c->elem.in_len == 0) {
			con_guest_error(c, "receiveq buffer not (only) device-writable");
			break;
		}
		virtq_push(vq, c->elem.head, con_fill(c, &c->elem));
		c->st.rx_chains++;
		pushed = true;
	}
	c->st.rx_bytes += before - c->hold_len;
	if (pushed)
		virtio_queue_done(&c->vd, VIRTIO_CONSOLE_RXQ);
	if (wake && c->hold_len < before && c->be.rx_ready)
		c->be.rx_ready(c->be.ctx);
}

/* Send every pending transmitq chain to the sink. Caller holds vd.lock. */
static void con_tx(struct virtio_console *c)
{
	struct virtq *vq = &c->vd.vq[VIRTIO_CONSOLE_TXQ];
	bool pushed = false;

	while (con_queue_live(c, VIRTIO_CONSOLE_TXQ)) {
		int got = virtq_pop(vq, &c->elem);

		if (got == 0)
			break;
		if (got < 0) {
			con_guest_error(c, NULL);
			break;
		}
		if (c->elem.nin) {
			con_guest_error(c, "device-writable buffer on the transmitq");
			break;
		}
		for (unsigned i = 0; i < c->elem.nout; i++)
			con_output(c, c->elem.iov[i].iov_base, c->elem.iov[i].iov_len);
		virtq_push(vq, c->elem.head, 0);
		c->st.tx_chains++;
		pushed = true;
	}
	if (pushed)
		virtio_queue_done(&c->vd, VIRTIO_CONSOLE_TXQ);
}

static void con_queue_notify(struct virtio_dev *vd, uint16_t q)
{
	struct virtio_console *c = to_con(vd);

	pthread_mutex_lock(&vd->lock);
	if (q == VIRTIO_CONSOLE_RXQ)
		con_rx(c, true);
	else if (q == VIRTIO_CONSOLE_TXQ)
		con_tx(c);
	pthread_mutex_unlock(&vd->lock);
}

/* DRIVER_OK (vd.lock held): buffers may have been posted before it, without a usable kick. */
static int con_activate(struct virtio_dev *vd)
{
	struct virtio_console *c = to_con(vd);

	con_tx(c);
	con_rx(c, true);
	return 0;
}

static void con_config_read(struct virtio_dev *vd, uint32_t off, void *buf, uint32_t len)
{
	const struct virtio_console_config cfg = {.max_nr_ports = 1};

	/* The transport checked off + len <= config_len. */
	memcpy(buf, (const uint8_t *)&cfg + off, len);
}

/* emerg_wr (offset 8): its low byte is output, at any time — it is only a byte of output. */
static int con_config_write(struct virtio_dev *vd, uint32_t off, const void *buf, uint32_t len)
{
	struct virtio_console *c = to_con(vd);

	if (off != offsetof(struct virtio_console_config, emerg_wr) || len == 0)
		return 0;
	pthread_mutex_lock(&vd->lock);
	con_output(c, buf, 1);
	pthread_mutex_unlock(&vd->lock);
	return 0;
}

static const struct virtio_dev_ops con_ops = {
    .name = "console",
    .device_id = VIRTIO_ID_CONSOLE,
    .num_queues = 2,
    .max_queue_size = VIRTIO_CONSOLE_QUEUE_SIZE,
    .features = (1ull << VIRTIO_F_INDIRECT_DESC) | (1ull << VIRTIO_F_EVENT_IDX) |
		(1ull << VIRTIO_F_RING_PACKED) | (1ull << VIRTIO_CONSOLE_F_EMERG_WRITE),
    .config_len = sizeof(struct virtio_console_config),
    .config_read = con_config_read,
    .config_write = con_config_write,
    .activate = con_activate,
    .queue_notify = con_queue_notify,
};

int virtio_console_create(struct virtio_console **out, const struct gmem *mem,
			  const struct virtio_console_backend *backend)
{
	struct virtio_console *c;
	int e;

	if (!backend || !backend->write)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	e = virtio_dev_init(&c->vd, &con_ops, mem);
	if (e) {
		free(c);
		return e;
	}
	c->be = *backend;
	*out = c;
	return 0;
}

void virtio_console_destroy(struct virtio_console *c)
{
	if (!c)
		return;
	virtio_dev_fini(&c->vd);
	free(c);
}

struct virtio_dev *virtio_console_dev(struct virtio_console *c)
{
	return &c->vd;
}

size_t virtio_console_input(struct virtio_console *c, const uint8_t *buf, size_t len)
{
	size_t n;

	if (len == 0)
		return 0;
	pthread_mutex_lock(&c->vd.lock);
	n = KVMM_MIN(len, VIRTIO_CONSOLE_RX_HOLD - c->hold_len);
	con_hold_put(c, buf, n);
	c->st.rx_refused += len - n;
	con_rx(c, false);
	c->st.rx_held += KVMM_MIN(n, c->hold_len);
	pthread_mutex_unlock(&c->vd.lock);
	return n;
}

void virtio_console_poll(struct virtio_console *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->vd.lock);
	con_tx(c);
	con_rx(c, true);
	pthread_mutex_unlock(&c->vd.lock);
}

void virtio_console_get_stats(struct virtio_console *c, struct virtio_console_stats *out)
{
	pthread_mutex_lock(&c->vd.lock);
	*out = c->st;
	out->held_now = c->hold_len;
	pthread_mutex_unlock(&c->vd.lock);
}

void virtio_console_save(struct virtio_console *c, struct virtio_console_state *s)
{
	size_t off, first;

	memset(s, 0, sizeof(*s));
	pthread_mutex_lock(&c->vd.lock);
	off = c->hold_off;
	first = KVMM_MIN(c->hold_len, VIRTIO_CONSOLE_RX_HOLD - off);
	memcpy(s->hold, c->hold + off, first);
	memcpy(s->hold + first, c->hold, c->hold_len - first);
	s->hold_len = (uint32_t)c->hold_len;
	pthread_mutex_unlock(&c->vd.lock);
}

int virtio_console_load(struct virtio_console *c, const struct virtio_console_state *s)
{
	if (s->hold_len > VIRTIO_CONSOLE_RX_HOLD || s->pad)
		return -EINVAL;
	pthread_mutex_lock(&c->vd.lock);
	memcpy(c->hold, s->hold, s->hold_len);
	c->hold_off = 0;
	c->hold_len = s->hold_len;
	pthread_mutex_unlock(&c->vd.lock);
	return 0;
}
