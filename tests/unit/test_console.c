/* Unit tests for vmm/console: escape sequences, input reaching the UART FIFO with
 * backpressure, and the terminal restored after raw mode. */
#include "lib/harness.h"

#include <fcntl.h>
#include <pty.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "base/evloop.h"
#include "devices/legacy/uart16550.h"
#include "vmm/console.h"

static int quits;

static void on_quit(void *ctx)
{
	quits++;
}

static void stop_tick(void *ctx)
{
	evloop_stop(ctx);
}

/* Drain the UART's receive FIFO as a guest driver would. */
static size_t uart_drain(struct uart16550 *u, char *out, size_t max)
{
	size_t n = 0;
	uint8_t v;

	for (;;) {
		uart16550_io_ops.read(u, UART16550_LSR, &v, 1);
		if (!(v & UART16550_LSR_DR) || n == max)
			return n;
		uart16550_io_ops.read(u, UART16550_RBR, &v, 1);
		out[n++] = (char)v;
	}
}

struct fixture {
	int p[2];
	struct evloop *el;
	struct uart16550 *uart;
	struct console *con;
};

static int setup(void **state)
{
	static struct fixture f;
	struct uart16550_config uc = {.out_fd = -1};
	struct console_config cc;
	uint8_t fcr = UART16550_FCR_ENABLE;

	assert_int_equal(pipe(f.p), 0);
	assert_int_equal(evloop_create(&f.el), 0);
	assert_int_equal(uart16550_create(&f.uart, &uc), 0);
	uart16550_io_ops.write(f.uart, UART16550_IIR, &fcr, 1); /* 16-byte FIFO on */
	cc = (struct console_config){.in_fd = f.p[0],
				     .out_fd = -1,
				     .escapes = true,
				     .uart = f.uart,
				     .el = f.el,
				     .quit = on_quit};
	assert_int_equal(console_create(&f.con, &cc), 0);
	quits = 0;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	console_destroy(f->con);
	uart16550_destroy(f->uart);
	evloop_destroy(f->el);
	close(f->p[0]);
	close(f->p[1]);
	return 0;
}

/* One pass of the event loop (each test has a fresh loop: a stopped loop stays stopped). */
static void pump(struct fixture *f)
{
	assert_int_equal(evloop_run(f->el, 100, stop_tick, f->el), 0);
}

static void test_escapes(void **state)
{
	struct fixture *f = *state;
	char got[32];
	size_t n;

	assert_int_equal(write(f->p[1],
			       "ab\x01\x01"
			       "c\x01h",
			       7),
			 7);
	pump(f);
	n = uart_drain(f->uart, got, sizeof(got));
	assert_int_equal(n, 4);
	assert_memory_equal(got,
			    "ab\x01"
			    "c",
			    4); /* Ctrl-A Ctrl-A is a literal Ctrl-A; Ctrl-A h is not sent */
	assert_int_equal(quits, 0);
}

static void test_quit(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(write(f->p[1], "z\x01x", 3), 3);
	pump(f);
	assert_int_equal(quits, 1);
}

static void test_backpressure(void **state)
{
	struct fixture *f = *state;
	char in[40], got[64];
	size_t n;

	for (int i = 0; i < 40; i++)
		in[i] = (char)('A' + i % 26);
	assert_int_equal(write(f->p[1], in, sizeof(in)), (ssize_t)sizeof(in));
	pump(f);
	n = uart_drain(f->uart, got, sizeof(got));
	assert_int_equal(n, UART16550_FIFO_SIZE); /* the FIFO is full, the rest is held */
	console_poll(f->con);
	n += uart_drain(f->uart, got + n, sizeof(got) - n);
	console_poll(f->con);
	n += uart_drain(f->uart, got + n, sizeof(got) - n);
	assert_int_equal(n, 40); /* nothing dropped, order kept */
	assert_memory_equal(got, in, 40);
}

/* An input callback (the virtio console) instead of the UART: same escapes, same backpressure
 * (bytes it does not accept are held and offered again by console_poll). */
struct cb_sink {
	char buf[64];
	size_t len, quota;
};

static size_t cb_input(void *ctx, const uint8_t *b, size_t n)
{
	struct cb_sink *s = ctx;
	size_t k = n < s->quota ? n : s->quota;

	memcpy(s->buf + s->len, b, k);
	s->len += k;
	s->quota -= k;
	return k;
}

static void test_input_callback(void **state)
{
	struct fixture *f = *state;
	struct cb_sink sink = {.quota = 10};
	struct console *c;
	struct console_config cc;
	char got[8];
	int p[2];

	assert_int_equal(pipe(p), 0);
	cc = (struct console_config){.in_fd = p[0],
				     .out_fd = -1,
				     .escapes = true,
				     .input = cb_input,
				     .input_ctx = &sink,
				     .el = f->el,
				     .quit = on_quit};
	assert_int_equal(console_create(&c, &cc), 0);
	assert_int_equal(write(p[1],
			       "0123\x01\x01"
			       "456789abcdefghij",
			       22),
			 22);
	pump(f);
	assert_int_equal(sink.len, 10);
	console_poll(c); /* no quota: still held */
	assert_int_equal(sink.len, 10);
	sink.quota = 100;
	console_poll(c);
	assert_int_equal(sink.len, 21);
	assert_memory_equal(sink.buf,
			    "0123\x01"
			    "456789abcdefghij",
			    21);
	assert_int_equal(uart_drain(f->uart, got, sizeof(got)), 0); /* the UART saw nothing */
	console_destroy(c);
	close(p[0]);
	close(p[1]);
}

static void test_raw_tty_restored(void **state)
{
	struct fixture *f = *state;
	struct console *c;
	struct console_config cc;
	struct termios before, during, after;
	int m, s;

	assert_int_equal(openpty(&m, &s, NULL, NULL, NULL), 0);
	assert_int_equal(tcgetattr(s, &before), 0);
	assert_true(before.c_lflag & ICANON);
	cc = (struct console_config){.in_fd = s,
				     .out_fd = -1,
				     .raw_tty = true,
				     .escapes = true,
				     .uart = f->uart,
				     .el = f->el,
				     .quit = on_quit};
	assert_int_equal(console_create(&c, &cc), 0);
	assert_int_equal(tcgetattr(s, &during), 0);
	assert_false(during.c_lflag & (ICANON | ECHO | ISIG));
	console_destroy(c);
	assert_int_equal(tcgetattr(s, &after), 0);
	assert_int_equal(after.c_lflag, before.c_lflag);
	assert_int_equal(after.c_iflag, before.c_iflag);
	close(m);
	close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_escapes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_quit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_backpressure, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_input_callback, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_raw_tty_restored, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
