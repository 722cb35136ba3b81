/* tests/lib/fake_irq.c — see fake_irq.h. */
#include "lib/fake_irq.h"

#include <string.h>

static int fake_irq_set(void *ctx, bool level)
{
	struct fake_irq *fi = ctx;

	pthread_mutex_lock(&fi->lock);
	fi->calls++;
	if (level != fi->level) {
		fi->changes++;
		if (level)
			fi->rises++;
		fi->level = level;
	} else {
		fi->redundant++;
	}
	pthread_mutex_unlock(&fi->lock);
	return 0;
}

void fake_irq_init(struct fake_irq *fi)
{
	memset(fi, 0, sizeof(*fi));
	pthread_mutex_init(&fi->lock, NULL);
	fi->line.set = fake_irq_set;
	fi->line.ctx = fi;
}

void fake_irq_fini(struct fake_irq *fi)
{
	pthread_mutex_destroy(&fi->lock);
}

bool fake_irq_level(struct fake_irq *fi)
{
	bool l;

	pthread_mutex_lock(&fi->lock);
	l = fi->level;
	pthread_mutex_unlock(&fi->lock);
	return l;
}

unsigned fake_irq_rises(struct fake_irq *fi)
{
	unsigned r;

	pthread_mutex_lock(&fi->lock);
	r = fi->rises;
	pthread_mutex_unlock(&fi->lock);
	return r;
}

void fake_irq_reset_counts(struct fake_irq *fi)
{
	pthread_mutex_lock(&fi->lock);
	fi->calls = fi->changes = fi->rises = fi->redundant = 0;
	pthread_mutex_unlock(&fi->lock);
}

static void fake_events_event(void *ctx, enum dev_event_kind kind, int code)
{
	struct fake_events *fe = ctx;

	pthread_mutex_lock(&fe->lock);
	if (fe->count < FAKE_EVENTS_MAX) {
		fe->kind[fe->count] = kind;
		fe->code[fe->count] = code;
	}
	fe->count++;
	pthread_mutex_unlock(&fe->lock);
}

void fake_events_init(struct fake_events *fe)
{
	memset(fe, 0, sizeof(*fe));
	pthread_mutex_init(&fe->lock, NULL);
	fe->sink.event = fake_events_event;
	fe->sink.ctx = fe;
}

void fake_events_fini(struct fake_events *fe)
{
	pthread_mutex_destroy(&fe->lock);
}

unsigned fake_events_count(struct fake_events *fe, enum dev_event_kind kind)
{
	unsigned n = 0;

	pthread_mutex_lock(&fe->lock);
	for (unsigned i = 0; i < fe->count && i < FAKE_EVENTS_MAX; i++)
		n += fe->kind[i] == kind;
	pthread_mutex_unlock(&fe->lock);
	return n;
}
