/* devices/legacy/uart16550.c — see uart16550.h.
 *
 * Model: the RX FIFO is a 16-byte ring (capacity 1 while the guest has the FIFO disabled);
 * TX is written through at once, so LSR.THRE and LSR.TEMT always read 1. The THR-empty
 * interrupt follows QEMU: it becomes pending when a THR write has been sent or when IER.ETBEI
 * turns on, and is cleared by reading IIR while it is the reported source, by writing THR
 * (which re-arms it at once) or by clearing ETBEI. The RX timeout interrupt is simplified:
 * whenever the FIFO holds fewer bytes than the trigger level, IIR reports a timeout (0x0c)
 * immediately instead of after four character times. */
#include "devices/legacy/uart16550.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"

#define UART_TX_MAX_TRIES 8

struct uart16550 {
	pthread_mutex_t lock;
	struct uart16550_config cfg;
	uint8_t rx[UART16550_FIFO_SIZE];
	unsigned rx_head, rx_count;
	uint16_t divisor;
	uint8_t ier, fcr, lcr, mcr, scr;
	uint8_t lsr_err;   /* OE/BI, cleared by reading LSR */
	uint8_t msr_delta; /* DCTS/DDSR/TERI/DDCD, cleared by reading MSR */
	uint8_t rbr_last;
	bool thr_ipending;
	bool irq_level;
	struct uart16550_stats st;
	struct log_ratelimit tx_rl;
};

int uart16550_create(struct uart16550 **out, const struct uart16550_config *cfg)
{
	struct uart16550 *u;
	int err;

	if (!cfg)
		return -EINVAL;
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	err = -pthread_mutex_init(&u->lock, NULL);
	if (err)
		goto err_free;
	u->cfg = *cfg;
	u->divisor = 12; /* 9600 baud */
	u->mcr = UART16550_MCR_OUT2;
	*out = u;
	return 0;

err_free:
	free(u);
	return err;
}

void uart16550_destroy(struct uart16550 *u)
{
	if (!u)
		return;
	pthread_mutex_destroy(&u->lock);
	free(u);
}

static bool uart_fifo_enabled(const struct uart16550 *u)
{
	return u->fcr & UART16550_FCR_ENABLE;
}

static unsigned uart_rx_capacity(const struct uart16550 *u)
{
	return uart_fifo_enabled(u) ? UART16550_FIFO_SIZE : 1;
}

static unsigned uart_rx_trigger(const struct uart16550 *u)
{
	static const unsigned trig[4] = {1, 4, 8, 14};

	return uart_fifo_enabled(u) ? trig[u->fcr >> 6] : 1;
}

static bool uart_room_locked(const struct uart16550 *u)
{
	return !(u->mcr & UART16550_MCR_LOOP) && u->rx_count < uart_rx_capacity(u);
}

static void uart_rx_push(struct uart16550 *u, uint8_t b)
{
	u->rx[(u->rx_head + u->rx_count) % UART16550_FIFO_SIZE] = b;
	u->rx_count++;
}

static void uart_rx_clear(struct uart16550 *u)
{
	u->rx_head = 0;
	u->rx_count = 0;
}

/* Modem status inputs: wired to MCR outputs in loopback, else CTS/DSR/DCD asserted. */
static uint8_t uart_msr_lines(const struct uart16550 *u)
{
	uint8_t m = 0;

	if (!(u->mcr & UART16550_MCR_LOOP))
		return UART16550_MSR_CTS | UART16550_MSR_DSR | UART16550_MSR_DCD;
	if (u->mcr & UART16550_MCR_DTR)
		m |= UART16550_MSR_DSR;
	if (u->mcr & UART16550_MCR_RTS)
		m |= UART16550_MSR_CTS;
	if (u->mcr & UART16550_MCR_OUT1)
		m |= UART16550_MSR_RI;
	if (u->mcr & UART16550_MCR_OUT2)
		m |= UART16550_MSR_DCD;
	return m;
}

/* The highest-priority pending, enabled interrupt source (IIR bits 0-3). */
static uint8_t uart_iir_source(const struct uart16550 *u)
{
	if ((u->ier & UART16550_IER_ELSI) && u->lsr_err)
		return UART16550_IIR_RLSI;
	if ((u->ier & UART16550_IER_ERBFI) && u->rx_count)
		return u->rx_count >= uart_rx_trigger(u) ? UART16550_IIR_RDI : UART16550_IIR_CTI;
	if ((u->ier & UART16550_IER_ETBEI) && u->thr_ipending)
		return UART16550_IIR_THRI;
	if ((u->ier & UART16550_IER_EDSSI) && u->msr_delta)
		return UART16550_IIR_MSI;
	return UART16550_IIR_NO_INT;
}

static void uart_update_irq(struct uart16550 *u)
{
	bool level = uart_iir_source(u) != UART16550_IIR_NO_INT;

	if (level == u->irq_level)
		return;
	u->irq_level = level;
	irq_line_set(&u->cfg.irq, level);
}

static void uart_tx(struct uart16550 *u, uint8_t b)
{
	int fd = u->cfg.out_fd;

	if (fd < 0)
		return;
	for (int tries = 0; tries < UART_TX_MAX_TRIES; tries++) {
		ssize_t n = write(fd, &b, 1);
		struct pollfd p = {.fd = fd, .events = POLLOUT};

		if (n == 1) {
			u->st.tx_bytes++;
			return;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			break;
		if (poll(&p, 1, UART16550_TX_TIMEOUT_MS) == 0)
			break; /* timed out */
	}
	u->st.tx_errors++;
	log_ratelimited(&u->tx_rl, LOG_WARN, "uart16550: output error, byte dropped (%llu so far)",
			(unsigned long long)u->st.tx_errors);
}

static void uart_write_thr(struct uart16550 *u, uint8_t v)
{
	if (u->mcr & UART16550_MCR_LOOP) {
		if (u->rx_count < uart_rx_capacity(u)) {
			uart_rx_push(u, v);
		} else {
			u->lsr_err |= UART16550_LSR_OE;
			u->st.overruns++;
		}
	} else {
		uart_tx(u, v);
	}
	u->thr_ipending = true; /* sent at once: THR is empty again */
}

static void uart_write_fcr(struct uart16550 *u, uint8_t v)
{
	bool en = v & UART16550_FCR_ENABLE;

	if (en != uart_fifo_enabled(u) || (v & UART16550_FCR_CLEAR_RX))
		uart_rx_clear(u);
	/* Bits 1-2 self-clear; the rest are only writable with the FIFO enabled. */
	u->fcr = en ? (uint8_t)(v & 0xc9) : 0;
}

static void uart_write_mcr(struct uart16550 *u, uint8_t v)
{
	uint8_t before = uart_msr_lines(u), after, diff;

	u->mcr = v & 0x1f;
	after = uart_msr_lines(u);
	diff = before ^ after;
	if (diff & UART16550_MSR_CTS)
		u->msr_delta |= UART16550_MSR_DCTS;
	if (diff & UART16550_MSR_DSR)
		u->msr_delta |= UART16550_MSR_DDSR;
	if (diff & UART16550_MSR_DCD)
		u->msr_delta |= UART16550_MSR_DDCD;
	if ((before & UART16550_MSR_RI) && !(after & UART16550_MSR_RI))
		u->msr_delta |= UART16550_MSR_TERI;
}

static void uart_write_reg(struct uart16550 *u, unsigned off, uint8_t v)
{
	bool dlab = u->lcr & UART16550_LCR_DLAB;

	switch (off) {
	case UART16550_RBR:
		if (dlab)
			u->divisor = (uint16_t)((u->divisor & 0xff00) | v);
		else
			uart_write_thr(u, v);
		break;
	case UART16550_IER:
		if (dlab) {
			u->divisor = (uint16_t)((u->divisor & 0x00ff) | (v << 8));
			break;
		}
		if ((v & ~u->ier) & UART16550_IER_ETBEI)
			u->thr_ipending = true; /* THR is always empty */
		else if (!(v & UART16550_IER_ETBEI))
			u->thr_ipending = false;
		u->ier = v & 0x0f;
		break;
	case UART16550_IIR:
		uart_write_fcr(u, v);
		break;
	case UART16550_LCR:
		u->lcr = v;
		break;
	case UART16550_MCR:
		uart_write_mcr(u, v);
		break;
	case UART16550_SCR:
		u->scr = v;
		break;
	default: /* LSR, MSR: read-only (factory test writes ignored) */
		break;
	}
}

static uint8_t uart_read_rbr(struct uart16550 *u)
{
	if (u->rx_count) {
		u->rbr_last = u->rx[u->rx_head];
		u->rx_head = (u->rx_head + 1) % UART16550_FIFO_SIZE;
		u->rx_count--;
	}
	return u->rbr_last;
}

static uint8_t uart_read_reg(struct uart16550 *u, unsigned off)
{
	bool dlab = u->lcr & UART16550_LCR_DLAB;
	uint8_t v, src;

	switch (off) {
	case UART16550_RBR:
		return dlab ? (uint8_t)u->divisor : uart_read_rbr(u);
	case UART16550_IER:
		return dlab ? (uint8_t)(u->divisor >> 8) : u->ier;
	case UART16550_IIR:
		src = uart_iir_source(u);
		if (src == UART16550_IIR_THRI)
			u->thr_ipending = false;
		return src | (uart_fifo_enabled(u) ? UART16550_IIR_FIFO : 0);
	case UART16550_LCR:
		return u->lcr;
	case UART16550_MCR:
		return u->mcr;
	case UART16550_LSR:
		v = UART16550_LSR_THRE | UART16550_LSR_TEMT | u->lsr_err;
		if (u->rx_count)
			v |= UART16550_LSR_DR;
		u->lsr_err = 0;
		return v;
	case UART16550_MSR:
		v = uart_msr_lines(u) | u->msr_delta;
		u->msr_delta = 0;
		return v;
	case UART16550_SCR:
		return u->scr;
	default:
		return 0xff;
	}
}

static void uart16550_read(void *dev, uint64_t off, void *data, uint32_t len)
{
	struct uart16550 *u = dev;
	uint8_t *b = data;
	bool had_room, notify;

	pthread_mutex_lock(&u->lock);
	had_room = uart_room_locked(u);
	for (uint32_t i = 0; i < len; i++)
		b[i] = off + i < 8 ? uart_read_reg(u, (unsigned)(off + i)) : 0xff;
	uart_update_irq(u);
	notify = !had_room && uart_room_locked(u);
	pthread_mutex_unlock(&u->lock);
	if (notify && u->cfg.rx_ready)
		u->cfg.rx_ready(u->cfg.rx_ready_ctx);
}

static void uart16550_write(void *dev, uint64_t off, const void *data, uint32_t len)
{
	struct uart16550 *u = dev;
	const uint8_t *b = data;
	bool had_room, notify;

	pthread_mutex_lock(&u->lock);
	had_room = uart_room_locked(u);
	for (uint32_t i = 0; i < len && off + i < 8; i++)
		uart_write_reg(u, (unsigned)(off + i), b[i]);
	uart_update_irq(u);
	notify = !had_room && uart_room_locked(u);
	pthread_mutex_unlock(&u->lock);
	if (notify && u->cfg.rx_ready)
		u->cfg.rx_ready(u->cfg.rx_ready_ctx);
}

size_t uart16550_input(struct uart16550 *u, const uint8_t *buf, size_t len)
{
	size_t n = 0;

	pthread_mutex_lock(&u->lock);
	while (n < len && uart_room_locked(u))
		uart_rx_push(u, buf[n++]);
	u->st.rx_bytes += n;
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
	return n;
}

bool uart16550_rx_has_room(struct uart16550 *u)
{
	bool room;

	pthread_mutex_lock(&u->lock);
	room = uart_room_locked(u);
	pthread_mutex_unlock(&u->lock);
	return room;
}

void uart16550_get_stats(struct uart16550 *u, struct uart16550_stats *st)
{
	pthread_mutex_lock(&u->lock);
	*st = u->st;
	pthread_mutex_unlock(&u->lock);
}

const struct io_ops uart16550_io_ops = {
    .read = uart16550_read,
    .write = uart16550_write,
};

void uart16550_save(struct uart16550 *u, struct uart16550_state *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_lock(&u->lock);
	memcpy(s->rx, u->rx, sizeof(s->rx));
	s->divisor = u->divisor;
	s->rx_head = (uint8_t)u->rx_head;
	s->rx_count = (uint8_t)u->rx_count;
	s->ier = u->ier;
	s->fcr = u->fcr;
	s->lcr = u->lcr;
	s->mcr = u->mcr;
	s->scr = u->scr;
	s->lsr_err = u->lsr_err;
	s->msr_delta = u->msr_delta;
	s->rbr_last = u->rbr_last;
	s->thr_ipending = u->thr_ipending;
	pthread_mutex_unlock(&u->lock);
}

int uart16550_load(struct uart16550 *u, const struct uart16550_state *s)
{
	if (s->rx_head >= UART16550_FIFO_SIZE || s->rx_count > UART16550_FIFO_SIZE)
		return -EINVAL;
	pthread_mutex_lock(&u->lock);
	memcpy(u->rx, s->rx, sizeof(u->rx));
	u->divisor = s->divisor;
	u->rx_head = s->rx_head;
	u->rx_count = s->rx_count;
	u->ier = s->ier & 0x0f;
	u->fcr = s->fcr;
	u->lcr = s->lcr;
	u->mcr = s->mcr & 0x1f;
	u->scr = s->scr;
	u->lsr_err = s->lsr_err;
	u->msr_delta = s->msr_delta;
	u->rbr_last = s->rbr_last;
	u->thr_ipending = s->thr_ipending != 0;
	u->irq_level = uart_iir_source(u) == UART16550_IIR_NO_INT; /* force the line */
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
	return 0;
}
