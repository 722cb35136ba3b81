/* Unit tests for evloop_pause()/evloop_resume() (base/evloop.c): a loop running on another
 * thread is parked between rounds (its handlers and tick do not run until resumed); a pause
 * before the loop runs holds it at its start; a handler pausing its own loop does not wait. */
#include "lib/harness.h"

#include <pthread.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "base/evloop.h"

struct fx {
	struct evloop *el;
	int efd;
	unsigned ticks, events, self_pauses;
	bool self_pause;
};

static void on_event(void *ctx, int fd, uint32_t ev)
{
	struct fx *f = ctx;
	uint64_t v;

	(void)ev;
	if (read(fd, &v, sizeof(v)) == sizeof(v))
		__atomic_fetch_add(&f->events, 1, __ATOMIC_RELAXED);
	if (f->self_pause) { /* on the loop thread: must not wait for itself */
		evloop_pause(f->el);
		evloop_resume(f->el);
		__atomic_fetch_add(&f->self_pauses, 1, __ATOMIC_RELAXED);
	}
}

static void tick(void *ctx)
{
	struct fx *f = ctx;

	__atomic_fetch_add(&f->ticks, 1, __ATOMIC_RELAXED);
}

static void *run(void *p)
{
	struct fx *f = p;

	assert_int_equal(evloop_run(f->el, 5, tick, f), 0);
	return NULL;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {0, (long)ms * 1000000l};

	nanosleep(&ts, NULL);
}

static unsigned get(unsigned *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static void poke(struct fx *f)
{
	uint64_t one = 1;

	assert_int_equal(write(f->efd, &one, sizeof(one)), sizeof(one));
}

static void test_pause_parks_the_loop(void **state)
{
	struct fx f = {0};
	pthread_t t;
	unsigned ticks, events;

	(void)state;
	assert_int_equal(evloop_create(&f.el), 0);
	f.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(f.efd >= 0);
	assert_int_equal(evloop_add(f.el, f.efd, EPOLLIN, on_event, &f), 0);
	evloop_pause(f.el); /* not running yet: returns, and holds the loop at its start */
	assert_int_equal(pthread_create(&t, NULL, run, &f), 0);
	poke(&f);
	sleep_ms(50);
	assert_int_equal(get(&f.ticks), 0);
	assert_int_equal(get(&f.events), 0);
	evloop_resume(f.el);
	for (int i = 0; i < 200 && !get(&f.events); i++)
		sleep_ms(5);
	assert_int_equal(get(&f.events), 1);

	evloop_pause(f.el); /* running, other thread: returns once parked */
	evloop_pause(f.el); /* nests */
	ticks = get(&f.ticks);
	events = get(&f.events);
	poke(&f);
	sleep_ms(50);
	assert_int_equal(get(&f.ticks), ticks);
	assert_int_equal(get(&f.events), events);
	evloop_resume(f.el);
	sleep_ms(30);
	assert_int_equal(get(&f.events), events); /* still one pause left */
	evloop_resume(f.el);
	for (int i = 0; i < 200 && get(&f.events) == events; i++)
		sleep_ms(5);
	assert_int_equal(get(&f.events), events + 1);
	assert_true(get(&f.ticks) > ticks);

	f.self_pause = true;
	poke(&f);
	for (int i = 0; i < 200 && !get(&f.self_pauses); i++)
		sleep_ms(5);
	assert_int_equal(get(&f.self_pauses), 1);

	evloop_stop(f.el);
	assert_int_equal(pthread_join(t, NULL), 0);
	evloop_pause(f.el); /* stopped: returns at once */
	evloop_resume(f.el);
	evloop_del(f.el, f.efd);
	close(f.efd);
	evloop_destroy(f.el);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pause_parks_the_loop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
