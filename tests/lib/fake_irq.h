/* tests/lib/fake_irq.h — test doubles for the device contracts in devices/dev.h:
 * a counting irq_line (records every level change and rising edge) and a recording
 * dev_event_sink. Safe from any thread (each has its own mutex). */
#pragma once

#include <pthread.h>
#include <stdbool.h>

#include "devices/dev.h"

struct fake_irq {
	struct irq_line line; /* pass &fi.line to the device */
	pthread_mutex_t lock;
	bool level;	    /* current level */
	unsigned calls;	    /* set() calls, changed or not */
	unsigned changes;   /* calls that changed the level */
	unsigned rises;	    /* low -> high transitions (edges) */
	unsigned redundant; /* set() calls that did not change the level */
};

/* Initialise at level low with all counters zero. */
void fake_irq_init(struct fake_irq *fi);
void fake_irq_fini(struct fake_irq *fi);
/* Snapshot accessors (take the lock). */
bool fake_irq_level(struct fake_irq *fi);
unsigned fake_irq_rises(struct fake_irq *fi);
/* Zero the counters, keep the level. */
void fake_irq_reset_counts(struct fake_irq *fi);

#define FAKE_EVENTS_MAX 16

struct fake_events {
	struct dev_event_sink sink; /* pass &fe.sink to the device */
	pthread_mutex_t lock;
	unsigned count; /* total events raised (may exceed FAKE_EVENTS_MAX) */
	enum dev_event_kind kind[FAKE_EVENTS_MAX];
	int code[FAKE_EVENTS_MAX];
};

void fake_events_init(struct fake_events *fe);
void fake_events_fini(struct fake_events *fe);
/* Number of recorded events of `kind`. */
unsigned fake_events_count(struct fake_events *fe, enum dev_event_kind kind);
