/* Unit tests for devices/legacy/uart16550: TX to a pipe, the Linux probe loopback test,
 * FIFO backpressure, IIR priorities, THR-empty semantics and IRQ edges. */
#include "lib/harness.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices/legacy/uart16550.h"
#include "lib/fake_irq.h"

struct fix {
	struct uart16550 *u;
	struct fake_irq irq;
	int pipe[2];
	unsigned rx_ready_calls;
};

static void on_rx_ready(void *ctx)
{
	struct fix *f = ctx;

	f->rx_ready_calls++;
}

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	struct uart16550_config cfg = {0};

	if (!f || pipe2(f->pipe, O_NONBLOCK) < 0)
		return -1;
	fake_irq_init(&f->irq);
	cfg.out_fd = f->pipe[1];
	cfg.irq = f->irq.line;
	cfg.rx_ready = on_rx_ready;
	cfg.rx_ready_ctx = f;
	if (uart16550_create(&f->u, &cfg))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	uart16550_destroy(f->u);
	close(f->pipe[0]);
	close(f->pipe[1]);
	fake_irq_fini(&f->irq);
	free(f);
	return 0;
}

static uint8_t rd(struct fix *f, unsigned off)
{
	uint8_t v;

	uart16550_io_ops.read(f->u, off, &v, 1);
	return v;
}

static void wr(struct fix *f, unsigned off, uint8_t v)
{
	uart16550_io_ops.write(f->u, off, &v, 1);
}

static void test_reset_state(void **state)
{
	struct fix *f = *state;

	assert_int_equal(rd(f, UART16550_IER), 0);
	assert_int_equal(rd(f, UART16550_IIR), UART16550_IIR_NO_INT);
	assert_int_equal(rd(f, UART16550_LSR), UART16550_LSR_THRE | UART16550_LSR_TEMT);
	assert_int_equal(rd(f, UART16550_MSR), 0xb0); /* CTS, DSR, DCD */
	assert_int_equal(rd(f, UART16550_MCR), UART16550_MCR_OUT2);
	assert_false(fake_irq_level(&f->irq));
	assert_int_equal(f->irq.calls, 0);
}

static void test_tx_to_pipe(void **state)
{
	struct fix *f = *state;
	const char *msg = "hello\n";
	char buf[16] = {0};
	struct uart16550_stats st;

	for (const char *p = msg; *p; p++)
		wr(f, UART16550_RBR, (uint8_t)*p);
	assert_int_equal(read(f->pipe[0], buf, sizeof(buf)), 6);
	assert_string_equal(buf, msg);
	uart16550_get_stats(f->u, &st);
	assert_int_equal(st.tx_bytes, 6);
	assert_int_equal(st.tx_errors, 0);
	assert_false(fake_irq_level(&f->irq)); /* ETBEI off: no interrupt */
}

static void test_tx_error_counted(void **state)
{
	struct fix *f = *state;
	struct uart16550_stats st;

	signal(SIGPIPE, SIG_IGN);
	close(f->pipe[0]);
	f->pipe[0] = open("/dev/null", O_RDONLY);
	wr(f, UART16550_RBR, 'x'); /* EPIPE: counted, not fatal */
	uart16550_get_stats(f->u, &st);
	assert_int_equal(st.tx_errors, 1);
	assert_int_equal(st.tx_bytes, 0);
	assert_int_equal(rd(f, UART16550_LSR) & UART16550_LSR_THRE, UART16550_LSR_THRE);
}

static void test_divisor_latch(void **state)
{
	struct fix *f = *state;

	wr(f, UART16550_LCR, UART16550_LCR_DLAB | 0x03);
	assert_int_equal(rd(f, UART16550_RBR), 12); /* reset divisor, low byte */
	wr(f, UART16550_RBR, 0x01);
	wr(f, UART16550_IER, 0x02);
	assert_int_equal(rd(f, UART16550_RBR), 0x01);
	assert_int_equal(rd(f, UART16550_IER), 0x02);
	wr(f, UART16550_LCR, 0x03);
	assert_int_equal(rd(f, UART16550_IER), 0); /* IER untouched by DLM writes */
	assert_int_equal(rd(f, UART16550_LCR), 0x03);
	wr(f, UART16550_SCR, 0x5a);
	assert_int_equal(rd(f, UART16550_SCR), 0x5a);
	/* Nothing was transmitted by the DLL write. */
	char c;
	assert_int_equal(read(f->pipe[0], &c, 1), -1);
}

/* What Linux's 8250 autoconfig does: scratch test, loopback test, FIFO detection. */
static void test_linux_probe(void **state)
{
	struct fix *f = *state;
	uint8_t save_mcr = rd(f, UART16550_MCR);

	wr(f, UART16550_IER, 0);
	assert_int_equal(rd(f, UART16550_IER) & 0x0f, 0);
	wr(f, UART16550_IER, 0x0f);
	assert_int_equal(rd(f, UART16550_IER) & 0x0f, 0x0f);
	wr(f, UART16550_IER, 0);
	/* Loopback: MCR = LOOP | OUT2 | RTS must read MSR status = DCD | CTS. */
	wr(f, UART16550_MCR, UART16550_MCR_LOOP | UART16550_MCR_OUT2 | UART16550_MCR_RTS);
	assert_int_equal(rd(f, UART16550_MSR) & 0xf0, UART16550_MSR_DCD | UART16550_MSR_CTS);
	wr(f, UART16550_MCR, UART16550_MCR_LOOP | 0x0f);
	assert_int_equal(rd(f, UART16550_MSR) & 0xf0, 0xf0);
	/* Loopback data: THR -> RBR, nothing leaves the pipe. */
	wr(f, UART16550_RBR, 0x55);
	assert_int_equal(rd(f, UART16550_LSR) & UART16550_LSR_DR, UART16550_LSR_DR);
	assert_int_equal(rd(f, UART16550_RBR), 0x55);
	assert_int_equal(rd(f, UART16550_LSR) & UART16550_LSR_DR, 0);
	char c;
	assert_int_equal(read(f->pipe[0], &c, 1), -1);
	wr(f, UART16550_MCR, save_mcr);
	assert_int_equal(rd(f, UART16550_MSR) & 0xf0, 0xb0);
	/* FIFO: IIR bits 7:6 = 3 means 16550A; bit 5 (64-byte FIFO) stays clear. */
	wr(f, UART16550_IIR, 0xe7);
	assert_int_equal(rd(f, UART16550_IIR) & 0xe0, 0xc0);
	wr(f, UART16550_LCR, 0xbf); /* EFR probe: reads IIR on a 16550A, which is non-zero */
	assert_int_not_equal(rd(f, UART16550_IIR), 0);
	wr(f, UART16550_LCR, 0x03);
	wr(f, UART16550_IIR, 0);
	assert_int_equal(rd(f, UART16550_IIR) & 0xc0, 0);
}

static void test_msr_deltas_loopback(void **state)
{
	struct fix *f = *state;

	wr(f, UART16550_IER, UART16550_IER_EDSSI);
	wr(f, UART16550_MCR, UART16550_MCR_LOOP | UART16550_MCR_OUT1 | UART16550_MCR_DTR);
	assert_true(fake_irq_level(&f->irq));
	assert_int_equal(rd(f, UART16550_IIR), UART16550_IIR_MSI);
	/* Entering loopback dropped CTS and DCD, kept DSR, raised RI. */
	assert_int_equal(rd(f, UART16550_MSR), UART16550_MSR_DSR | UART16550_MSR_RI |
						   UART16550_MSR_DCTS | UART16550_MSR_DDCD);
	assert_false(fake_irq_level(&f->irq));
	wr(f, UART16550_MCR, UART16550_MCR_LOOP | UART16550_MCR_DTR); /* RI falls: TERI */
	assert_int_equal(rd(f, UART16550_MSR), UART16550_MSR_DSR | UART16550_MSR_TERI);
	assert_int_equal(rd(f, UART16550_MSR), UART16550_MSR_DSR);
}

static void test_fifo_backpressure(void **state)
{
	struct fix *f = *state;
	uint8_t in[40];

	for (unsigned i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)('a' + i);
	/* FIFO disabled: a single holding register. */
	assert_true(uart16550_rx_has_room(f->u));
	assert_int_equal(uart16550_input(f->u, in, sizeof(in)), 1);
	assert_false(uart16550_rx_has_room(f->u));
	assert_int_equal(uart16550_input(f->u, in + 1, 1), 0);
	assert_int_equal(f->rx_ready_calls, 0);
	assert_int_equal(rd(f, UART16550_RBR), 'a');
	assert_int_equal(f->rx_ready_calls, 1); /* full -> room */
	/* FIFO enabled: 16 bytes, then backpressure, never drop or reorder. */
	wr(f, UART16550_IIR, UART16550_FCR_ENABLE);
	size_t off = 1;
	off += uart16550_input(f->u, in + off, sizeof(in) - off);
	assert_int_equal(off, 17);
	assert_false(uart16550_rx_has_room(f->u));
	for (unsigned i = 1; i < 17; i++)
		assert_int_equal(rd(f, UART16550_RBR), in[i]);
	assert_int_equal(rd(f, UART16550_LSR) & (UART16550_LSR_DR | UART16550_LSR_OE), 0);
	off += uart16550_input(f->u, in + off, sizeof(in) - off);
	assert_int_equal(off, 33);
	for (unsigned i = 17; i < 33; i++)
		assert_int_equal(rd(f, UART16550_RBR), in[i]);
	struct uart16550_stats st;
	uart16550_get_stats(f->u, &st);
	assert_int_equal(st.rx_bytes, 33);
	/* Loopback disconnects the input: no room. */
	wr(f, UART16550_MCR, UART16550_MCR_LOOP);
	assert_false(uart16550_rx_has_room(f->u));
	assert_int_equal(uart16550_input(f->u, in, 1), 0);
	unsigned before = f->rx_ready_calls;
	wr(f, UART16550_MCR, 0);
	assert_int_equal(f->rx_ready_calls, before + 1);
}

static void test_rx_interrupt_and_trigger(void **state)
{
	struct fix *f = *state;
	uint8_t in[8] = "01234567";

	wr(f, UART16550_IIR, UART16550_FCR_ENABLE | 0x80); /* trigger level 8 */
	wr(f, UART16550_IER, UART16550_IER_ERBFI);
	assert_false(fake_irq_level(&f->irq));
	assert_int_equal(uart16550_input(f->u, in, 3), 3);
	assert_true(fake_irq_level(&f->irq));
	assert_int_equal(fake_irq_rises(&f->irq), 1);
	assert_int_equal(rd(f, UART16550_IIR), 0xc0 | UART16550_IIR_CTI); /* below trigger */
	assert_int_equal(uart16550_input(f->u, in + 3, 5), 5);
	assert_int_equal(rd(f, UART16550_IIR), 0xc0 | UART16550_IIR_RDI);
	assert_int_equal(f->irq.redundant, 0); /* set() only on changes */
	for (int i = 0; i < 8; i++)
		assert_int_equal(rd(f, UART16550_RBR), in[i]);
	assert_false(fake_irq_level(&f->irq));
	assert_int_equal(rd(f, UART16550_IIR), 0xc0 | UART16550_IIR_NO_INT);
	/* FCR clear-RX empties the FIFO and drops the interrupt. */
	assert_int_equal(uart16550_input(f->u, in, 4), 4);
	assert_true(fake_irq_level(&f->irq));
	wr(f, UART16550_IIR, UART16550_FCR_ENABLE | UART16550_FCR_CLEAR_RX);
	assert_false(fake_irq_level(&f->irq));
	assert_int_equal(rd(f, UART16550_LSR) & UART16550_LSR_DR, 0);
}

static void test_thre_interrupt(void **state)
{
	struct fix *f = *state;
	char buf[8];

	wr(f, UART16550_IER, UART16550_IER_ETBEI); /* THR empty: pending at once */
	assert_true(fake_irq_level(&f->irq));
	assert_int_equal(rd(f, UART16550_IIR), UART16550_IIR_THRI); /* read clears it */
	assert_false(fake_irq_level(&f->irq));
	assert_int_equal(rd(f, UART16550_IIR), UART16550_IIR_NO_INT);
	wr(f, UART16550_RBR, 'A'); /* sent: THR empty again, pending again */
	assert_true(fake_irq_level(&f->irq));
	assert_int_equal(fake_irq_rises(&f->irq), 2);
	wr(f, UART16550_IER, 0); /* disabling drops it */
	assert_false(fake_irq_level(&f->irq));
	wr(f, UART16550_IER, UART16550_IER_ETBEI);
	assert_true(fake_irq_level(&f->irq));
	wr(f, UART16550_IER, UART16550_IER_ETBEI); /* no 0->1 change: nothing re-armed */
	assert_int_equal(rd(f, UART16550_IIR), UART16550_IIR_THRI);
	wr(f, UART16550_IER, UART16550_IER_ETBEI);
	assert_int_equal(rd(f, UART16550_IIR), UART16550_IIR_NO_INT);
	assert_int_equal(read(f->pipe[0], buf, sizeof(buf)), 1);
}

static void test_iir_priorities(void **state)
{
	struct fix *f = *state;
	uint8_t b = 'z';

	wr(f, UART16550_MCR, UART16550_MCR_LOOP);
	wr(f, UART16550_IER, 0x0f); /* everything */
	/* Pending now: THRI (ETBEI 0->1) and MSI (entering loopback dropped CTS/DSR/DCD). */
	assert_int_equal(rd(f, UART16550_IIR), UART16550_IIR_THRI);
	assert_int_equal(rd(f, UART16550_IIR), UART16550_IIR_MSI);
	/* Fill the 1-byte holding register twice: data + overrun. */
	wr(f, UART16550_RBR, b);
	wr(f, UART16550_RBR, b);
	assert_int_equal(rd(f, UART16550_IIR), UART16550_IIR_RLSI); /* highest */
	assert_int_equal(rd(f, UART16550_LSR) & (UART16550_LSR_OE | UART16550_LSR_DR),
			 UART16550_LSR_OE | UART16550_LSR_DR);
	assert_int_equal(rd(f, UART16550_IIR), UART16550_IIR_RDI); /* OE read-cleared */
	assert_int_equal(rd(f, UART16550_RBR), 'z');
	assert_int_equal(rd(f, UART16550_IIR), UART16550_IIR_THRI); /* re-armed by the writes */
	assert_int_equal(rd(f, UART16550_IIR), UART16550_IIR_MSI);
	rd(f, UART16550_MSR);
	assert_int_equal(rd(f, UART16550_IIR), UART16550_IIR_NO_INT);
	assert_false(fake_irq_level(&f->irq));
	struct uart16550_stats st;
	uart16550_get_stats(f->u, &st);
	assert_int_equal(st.overruns, 1);
}

#define STREAM_LEN 20000

struct producer {
	struct uart16550 *u;
	size_t spins;
};

static uint8_t stream_byte(size_t i)
{
	return (uint8_t)(i * 7 + i / 251);
}

/* The event-loop side: offer the stream until all of it has been accepted. */
static void *produce(void *arg)
{
	struct producer *p = arg;
	uint8_t chunk[37];
	size_t sent = 0;

	while (sent < STREAM_LEN) {
		size_t n = KVMM_MIN(sizeof(chunk), (size_t)STREAM_LEN - sent);

		for (size_t i = 0; i < n; i++)
			chunk[i] = stream_byte(sent + i);
		sent += uart16550_input(p->u, chunk, n);
		p->spins++;
		sched_yield();
	}
	return NULL;
}

/* Input from another thread while a "vCPU" drains RBR: nothing lost, duplicated or reordered. */
static void test_threaded_input(void **state)
{
	struct fix *f = *state;
	struct producer p = {f->u, 0};
	pthread_t t;
	size_t got = 0;

	wr(f, UART16550_IIR, UART16550_FCR_ENABLE);
	wr(f, UART16550_IER, UART16550_IER_ERBFI);
	assert_int_equal(pthread_create(&t, NULL, produce, &p), 0);
	while (got < STREAM_LEN) {
		if (!(rd(f, UART16550_LSR) & UART16550_LSR_DR)) {
			sched_yield();
			continue;
		}
		assert_int_equal(rd(f, UART16550_RBR), stream_byte(got));
		got++;
	}
	pthread_join(t, NULL);
	assert_int_equal(rd(f, UART16550_LSR) & (UART16550_LSR_DR | UART16550_LSR_OE), 0);
	assert_false(fake_irq_level(&f->irq));
}

static void test_wide_and_hostile_access(void **state)
{
	struct fix *f = *state;
	uint8_t v[8];
	uint32_t w = 0x00000f00; /* byte 0 -> THR 0x00, byte 1 -> IER 0x0f */

	uart16550_io_ops.write(f->u, 0, &w, 2);
	assert_int_equal(rd(f, UART16550_IER), 0x0f);
	memset(v, 0, sizeof(v));
	uart16550_io_ops.read(f->u, 6, v, 4); /* MSR, SCR, then past the end */
	assert_int_equal(v[2], 0xff);
	assert_int_equal(v[3], 0xff);
	uart16550_io_ops.write(f->u, 100, v, 1); /* ignored */
	for (unsigned off = 0; off < 8; off++)
		for (unsigned val = 0; val < 256; val += 17)
			wr(f, off, (uint8_t)val);
	wr(f, UART16550_LCR, 0);
	wr(f, UART16550_MCR, 0);
	for (unsigned off = 0; off < 8; off++)
		rd(f, off);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_reset_state, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tx_to_pipe, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tx_error_counted, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_divisor_latch, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_linux_probe, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_msr_deltas_loopback, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fifo_backpressure, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rx_interrupt_and_trigger, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_thre_interrupt, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_iir_priorities, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_threaded_input, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wide_and_hostile_access, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
