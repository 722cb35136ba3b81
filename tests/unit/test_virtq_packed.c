/* Unit tests for the packed virtqueue (devices/virtio/virtq_packed.c through the virtq_* API):
 * single, chained and indirect chains, out-of-order completion, many laps of the ring, used
 * descriptors (flags, IDs, lengths), event suppression in both directions and modes, and
 * hostile rings. */
#include "lib/harness.h"

#include <errno.h>
#include <string.h>

#include "lib/pvq_builder.h"

static struct virtq_elem elem;

static int setup(void **state)
{
	static struct pvqb b;

	pvqb_init(&b, 16);
	*state = &b;
	return 0;
}

static int teardown(void **state)
{
	pvqb_fini(*state);
	return 0;
}

#define USED_BITS(wrap) ((wrap) ? (VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_USED) : 0)

static void expect_used(struct pvqb *b, uint16_t id, uint32_t len)
{
	uint16_t got_id = 0xffff, flags = 0;
	uint32_t got_len = 0;
	bool wrap = b->used_wrap;

	assert_true(pvqb_get_used(b, &got_id, &got_len, &flags));
	assert_int_equal(got_id, id);
	assert_int_equal(got_len, len);
	assert_int_equal(flags & (VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_USED), USED_BITS(wrap));
	assert_int_equal(!!(flags & VIRTQ_DESC_F_WRITE), len != 0);
}

static void test_single(void **state)
{
	struct pvqb *b = *state;
	struct vqb_seg s[1] = {{64, false, 0}};
	uint16_t id, flags;
	uint32_t len;

	assert_int_equal(pvqb_activate(b, false, false), 0);
	assert_true(b->vq.packed);
	assert_int_equal(virtq_pop(&b->vq, &elem), 0); /* empty */
	assert_int_equal(virtq_pending(&b->vq), 0);
	pvqb_add_chain(b, s, 1, false, 7);
	assert_int_equal(virtq_pending(&b->vq), 1);
	assert_int_equal(virtq_pop(&b->vq, &elem), 1);
	assert_int_equal(elem.id, 7);
	assert_int_equal(elem.nout, 1);
	assert_int_equal(elem.nin, 0);
	assert_int_equal(elem.out_len, 64);
	assert_ptr_equal(elem.iov[0].iov_base, pvqb_host(b, s[0].gpa));
	assert_int_equal(virtq_pop(&b->vq, &elem), 0);
	assert_false(pvqb_get_used(b, &id, &len, &flags)); /* nothing used yet */
	virtq_push(&b->vq, elem.head, 0);
	expect_used(b, 7, 0);
	assert_true(virtq_should_notify(&b->vq));
}

static void test_chained(void **state)
{
	struct pvqb *b = *state;
	struct vqb_seg s[3] = {{16, false, 0}, {512, true, 0}, {1, true, 0}};
	struct vqb_seg t[1] = {{8, true, 0}};
	static struct virtq_elem e2;

	assert_int_equal(pvqb_activate(b, false, false), 0);
	pvqb_add_chain(b, s, 3, false, 3);
	pvqb_add_chain(b, t, 1, false, 9);
	assert_int_equal(virtq_pop(&b->vq, &elem), 1);
	assert_int_equal(elem.id, 3);
	assert_int_equal(elem.nout, 1);
	assert_int_equal(elem.nin, 2);
	assert_int_equal(elem.out_len, 16);
	assert_int_equal(elem.in_len, 513);
	assert_ptr_equal(elem.iov[1].iov_base, pvqb_host(b, s[1].gpa));
	assert_int_equal(virtq_pop(&b->vq, &e2), 1);
	assert_int_equal(e2.id, 9);
	assert_int_equal(b->vq.pk.next_avail, 4);
	assert_int_equal(b->vq.pk.inflight, 4);
	virtq_push(&b->vq, elem.head, 513);
	/* the used descriptor is at position 0 and the next used position skips the chain */
	assert_int_equal(pvqb_desc(b, 0)->id, 3);
	assert_int_equal(b->vq.pk.next_used, 3);
	virtq_push(&b->vq, e2.head, 8);
	assert_int_equal(pvqb_desc(b, 3)->id, 9);
	expect_used(b, 3, 513);
	expect_used(b, 9, 8);
	assert_int_equal(b->vq.pk.inflight, 0);
}

static void test_indirect(void **state)
{
	struct pvqb *b = *state;
	struct vqb_seg s[4] = {{16, false, 0}, {8, false, 0}, {4096, true, 0}, {1, true, 0}};

	assert_int_equal(pvqb_activate(b, false, true), 0);
	pvqb_add_chain(b, s, 4, true, 5);
	assert_int_equal(virtq_pop(&b->vq, &elem), 1);
	assert_int_equal(elem.id, 5);
	assert_int_equal(elem.nout, 2);
	assert_int_equal(elem.nin, 2);
	assert_int_equal(elem.in_len, 4097);
	assert_ptr_equal(elem.iov[2].iov_base, pvqb_host(b, s[2].gpa));
	assert_int_equal(b->vq.pk.next_avail, 1); /* one ring descriptor */
	virtq_push(&b->vq, elem.head, 4097);
	assert_int_equal(b->vq.pk.next_used, 1);
	expect_used(b, 5, 4097);
}

static void test_out_of_order(void **state)
{
	struct pvqb *b = *state;
	struct vqb_seg a[2] = {{8, false, 0}, {8, true, 0}};
	struct vqb_seg c[1] = {{8, true, 0}};
	static struct virtq_elem ea, ec;

	assert_int_equal(pvqb_activate(b, false, false), 0);
	pvqb_add_chain(b, a, 2, false, 1);
	pvqb_add_chain(b, c, 1, false, 2);
	assert_int_equal(virtq_pop(&b->vq, &ea), 1);
	assert_int_equal(virtq_pop(&b->vq, &ec), 1);
	virtq_push(&b->vq, ec.head, 8); /* the later chain completes first */
	virtq_push(&b->vq, ea.head, 4);
	expect_used(b, 2, 8);
	expect_used(b, 1, 4);
	assert_int_equal(b->vq.pk.next_used, 3);
	assert_int_equal(b->next_used, 3);
}

/* Many laps over a queue whose size is not a power of two, chains of 1..3 descriptors that
 * straddle the end of the ring, completions in reverse order in pairs. */
static void test_laps(void **state)
{
	struct pvqb *b = *state;
	static struct virtq_elem e[2];
	unsigned done = 0;

	pvqb_fini(b);
	pvqb_init(b, 7);
	assert_int_equal(pvqb_activate(b, true, true), 0);
	for (unsigned i = 0; i < 3000; i += 2) {
		for (unsigned k = 0; k < 2; k++) {
			unsigned n = 1 + (i + k) % 3;
			struct vqb_seg s[3] = {{8, false, 0}, {8, true, 0}, {8, true, 0}};

			pvqb_add_chain(b, s, n, (i / 2) % 5 == 4 && k == 0,
				       (uint16_t)((i + k) % 2));
			assert_int_equal(virtq_pop(&b->vq, &e[k]), 1);
			assert_int_equal(e[k].id, (i + k) % 2);
		}
		virtq_push(&b->vq, e[1].head, 1);
		virtq_push(&b->vq, e[0].head, 2);
		expect_used(b, 1, 1);
		expect_used(b, 0, 2);
		done += 2;
	}
	assert_false(b->vq.broken);
	assert_int_equal(b->vq.pk.inflight, 0);
	assert_int_equal(b->vq.pk.next_used, b->next_used);
	assert_int_equal(b->vq.pk.used_wrap, b->used_wrap);
	assert_int_equal(b->vq.pk.next_avail, b->next_avail);
	assert_int_equal(done, 3000);
}

static void test_driver_event_flags(void **state)
{
	struct pvqb *b = *state;
	struct vqb_seg s[1] = {{8, true, 0}};

	assert_int_equal(pvqb_activate(b, false, false), 0);
	pvqb_driver_evt(b)->flags = RING_EVENT_FLAGS_DISABLE;
	pvqb_add_chain(b, s, 1, false, 0);
	assert_int_equal(virtq_pop(&b->vq, &elem), 1);
	virtq_push(&b->vq, elem.head, 8);
	assert_false(virtq_should_notify(&b->vq));
	pvqb_driver_evt(b)->flags = RING_EVENT_FLAGS_ENABLE;
	assert_true(virtq_should_notify(&b->vq));
	/* DESC without EVENT_IDX is not a valid mode: notify rather than lose an interrupt */
	pvqb_driver_evt(b)->flags = RING_EVENT_FLAGS_DESC;
	pvqb_driver_evt(b)->desc = 12 | 1u << RING_EVENT_WRAP_SHIFT;
	assert_true(virtq_should_notify(&b->vq));
}

/* EVENT_IDX: the driver asks for an interrupt when the used descriptor at (offset, wrap)
 * is written. Push i writes position i % 16 in lap i / 16. */
static void test_driver_event_desc(void **state)
{
	struct pvqb *b = *state;
	struct vqb_seg s[1] = {{8, true, 0}};
	uint16_t id, flags;
	uint32_t len;

	assert_int_equal(pvqb_activate(b, true, false), 0);
	pvqb_driver_evt(b)->flags = RING_EVENT_FLAGS_DESC;
	pvqb_driver_evt(b)->desc = 2 | 1u << RING_EVENT_WRAP_SHIFT; /* position 2, first lap */
	for (unsigned i = 0; i < 40; i++) {
		bool want = i == 0 /* first ever: always */ || i == 2 || i == 18;

		if (i == 3) /* position 2 of the second lap (wrap counter 0) */
			pvqb_driver_evt(b)->desc = 2;
		pvqb_add_chain(b, s, 1, false, (uint16_t)(i % 4));
		assert_int_equal(virtq_pop(&b->vq, &elem), 1);
		virtq_push(&b->vq, elem.head, 8);
		assert_true(pvqb_get_used(b, &id, &len, &flags));
		assert_int_equal(id, i % 4);
		assert_int_equal(virtq_should_notify(&b->vq), want);
	}
	/* several pushes between two checks: notify if one of them wrote the event position.
	 * 40 pushes so far: the next ones write positions 8, 9, 10 of the third lap (wrap 1). */
	pvqb_driver_evt(b)->desc = 12 | 1u << RING_EVENT_WRAP_SHIFT;
	for (unsigned batch = 0; batch < 2; batch++) {
		for (unsigned i = 0; i < 3; i++) {
			pvqb_add_chain(b, s, 1, false, (uint16_t)i);
			assert_int_equal(virtq_pop(&b->vq, &elem), 1);
			virtq_push(&b->vq, elem.head, 8);
			assert_true(pvqb_get_used(b, &id, &len, &flags));
		}
		/* 8..10: not yet; 11..13: crossed 12 */
		assert_int_equal(virtq_should_notify(&b->vq), batch == 1);
	}
}

static void test_device_event(void **state)
{
	struct pvqb *b = *state;

	assert_int_equal(pvqb_activate(b, true, false), 0);
	virtq_set_notify(&b->vq, false);
	assert_int_equal(pvqb_device_evt(b)->flags, RING_EVENT_FLAGS_DISABLE);
	virtq_set_notify(&b->vq, true);
	assert_int_equal(pvqb_device_evt(b)->flags, RING_EVENT_FLAGS_ENABLE);
}

static void test_zero_length_skipped(void **state)
{
	struct pvqb *b = *state;
	struct vqb_seg s[3] = {{16, false, 0}, {0, true, 0}, {8, true, 0}};

	assert_int_equal(pvqb_activate(b, false, false), 0);
	pvqb_add_chain(b, s, 3, false, 0);
	assert_int_equal(virtq_pop(&b->vq, &elem), 1);
	assert_int_equal(elem.nin, 1);
	assert_int_equal(elem.in_len, 8);
	virtq_push(&b->vq, elem.head, 8);
	assert_int_equal(b->vq.pk.next_used, 3); /* all three ring descriptors are returned */
}

static void test_push_not_in_flight(void **state)
{
	struct pvqb *b = *state;
	uint16_t id, flags;
	uint32_t len;

	assert_int_equal(pvqb_activate(b, false, false), 0);
	virtq_push(&b->vq, 3, 8);    /* never popped */
	virtq_push(&b->vq, 4000, 8); /* beyond the queue */
	assert_false(pvqb_get_used(b, &id, &len, &flags));
	assert_int_equal(b->vq.pk.next_used, 0);
}

/* A hostile set-up must break the queue (-EINVAL) without consuming anything or writing. */
static void expect_broken(struct pvqb *b)
{
	uint16_t pos = b->vq.pk.next_avail, id, flags;
	uint32_t len;

	assert_int_equal(virtq_pop(&b->vq, &elem), -EINVAL);
	assert_true(b->vq.broken);
	assert_int_equal(b->vq.pk.next_avail, pos);
	assert_int_equal(virtq_pop(&b->vq, &elem), -EINVAL); /* stays broken */
	assert_int_equal(virtq_pending(&b->vq), -EINVAL);
	assert_false(pvqb_get_used(b, &id, &len, &flags));
}

static void test_chain_longer_than_queue(void **state)
{
	struct pvqb *b = *state;

	assert_int_equal(pvqb_activate(b, false, false), 0);
	/* every descriptor has NEXT: the 17th hop would be the head again */
	for (unsigned i = 0; i < 16; i++)
		pvqb_put_raw(b, VQB_DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 0, false);
	expect_broken(b);
}

static void test_missing_next_end(void **state)
{
	struct pvqb *b = *state;

	assert_int_equal(pvqb_activate(b, false, false), 0);
	/* the last descriptor says NEXT, but the following one was never made available */
	pvqb_put_raw(b, VQB_DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 0, false);
	pvqb_put_raw(b, VQB_DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 0, false);
	expect_broken(b);
}

static void test_wrong_bits(void **state)
{
	struct pvqb *b = *state;

	assert_int_equal(pvqb_activate(b, false, false), 0);
	/* a head with the other lap's bits is simply not available */
	pvqb_put_raw(b, VQB_DATA_GPA, 8, 0, 0, true);
	assert_int_equal(virtq_pop(&b->vq, &elem), 0);
	/* AVAIL and USED both set in lap 1: a used descriptor, not available */
	pvqb_desc(b, 0)->flags = VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_USED;
	assert_int_equal(virtq_pop(&b->vq, &elem), 0);
	assert_false(b->vq.broken);
	/* a valid head followed by a descriptor with the wrong bits */
	b->next_avail = 0;
	pvqb_put_raw(b, VQB_DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 0, false);
	pvqb_put_raw(b, VQB_DATA_GPA, 8, 0, 0, true);
	expect_broken(b);
}

static void test_too_many_in_flight(void **state)
{
	struct pvqb *b = *state;
	static struct virtq_elem e;

	assert_int_equal(pvqb_activate(b, false, false), 0);
	/* 16 single-descriptor chains fill the queue ... */
	for (unsigned i = 0; i < 16; i++) {
		pvqb_put_raw(b, VQB_DATA_GPA, 8, 0, (uint16_t)i, false);
		assert_int_equal(virtq_pop(&b->vq, &e), 1);
	}
	/* ... and a driver that re-offers a slot the device still owns breaks the queue */
	pvqb_put_raw(b, VQB_DATA_GPA, 8, 0, 0, false);
	expect_broken(b);
}

static void test_indirect_hostile(void **state)
{
	struct pvqb *b = *state;
	struct pvirtq_desc *t = pvqb_host(b, 0x200000);

	/* indirect inside indirect */
	assert_int_equal(pvqb_activate(b, false, true), 0);
	t[0] = (struct pvirtq_desc){VQB_DATA_GPA, 8, 0, 0};
	t[1] = (struct pvirtq_desc){0x200100, 16, 0, VIRTQ_DESC_F_INDIRECT};
	pvqb_put_raw(b, 0x200000, 32, VIRTQ_DESC_F_INDIRECT, 0, false);
	expect_broken(b);

	/* table length not a multiple of 16 */
	pvqb_fini(b);
	pvqb_init(b, 16);
	assert_int_equal(pvqb_activate(b, false, true), 0);
	pvqb_put_raw(b, 0x200000, 17, VIRTQ_DESC_F_INDIRECT, 0, false);
	expect_broken(b);

	/* zero-length table */
	pvqb_fini(b);
	pvqb_init(b, 16);
	assert_int_equal(pvqb_activate(b, false, true), 0);
	pvqb_put_raw(b, 0x200000, 0, VIRTQ_DESC_F_INDIRECT, 0, false);
	expect_broken(b);

	/* table outside RAM */
	pvqb_fini(b);
	pvqb_init(b, 16);
	assert_int_equal(pvqb_activate(b, false, true), 0);
	pvqb_put_raw(b, VQB_RAM_SIZE - 16, 32, VIRTQ_DESC_F_INDIRECT, 0, false);
	expect_broken(b);

	/* INDIRECT with NEXT */
	pvqb_fini(b);
	pvqb_init(b, 16);
	assert_int_equal(pvqb_activate(b, false, true), 0);
	t = pvqb_host(b, 0x200000);
	t[0] = (struct pvirtq_desc){VQB_DATA_GPA, 8, 0, 0};
	pvqb_put_raw(b, 0x200000, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 0, false);
	pvqb_put_raw(b, VQB_DATA_GPA, 8, 0, 0, false);
	expect_broken(b);

	/* INDIRECT at the end of a chain of direct descriptors */
	pvqb_fini(b);
	pvqb_init(b, 16);
	assert_int_equal(pvqb_activate(b, false, true), 0);
	t = pvqb_host(b, 0x200000);
	t[0] = (struct pvirtq_desc){VQB_DATA_GPA, 8, 0, 0};
	pvqb_put_raw(b, VQB_DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 0, false);
	pvqb_put_raw(b, 0x200000, 16, VIRTQ_DESC_F_INDIRECT, 0, false);
	expect_broken(b);

	/* INDIRECT without the feature */
	pvqb_fini(b);
	pvqb_init(b, 16);
	assert_int_equal(pvqb_activate(b, false, false), 0);
	t = pvqb_host(b, 0x200000);
	t[0] = (struct pvirtq_desc){VQB_DATA_GPA, 8, 0, 0};
	pvqb_put_raw(b, 0x200000, 16, VIRTQ_DESC_F_INDIRECT, 0, false);
	expect_broken(b);

	/* a buffer in the table outside RAM */
	pvqb_fini(b);
	pvqb_init(b, 16);
	assert_int_equal(pvqb_activate(b, false, true), 0);
	t = pvqb_host(b, 0x200000);
	t[0] = (struct pvirtq_desc){VQB_DATA_GPA, 8, 0, 0};
	t[1] = (struct pvirtq_desc){VQB_RAM_SIZE - 4, 8, 0, VIRTQ_DESC_F_WRITE};
	pvqb_put_raw(b, 0x200000, 32, VIRTQ_DESC_F_INDIRECT, 0, false);
	expect_broken(b);
}

static void test_addr_outside_ram(void **state)
{
	struct pvqb *b = *state;

	assert_int_equal(pvqb_activate(b, false, false), 0);
	pvqb_put_raw(b, VQB_RAM_SIZE - 4, 8, 0, 0, false);
	expect_broken(b);
}

static void test_addr_wraps(void **state)
{
	struct pvqb *b = *state;

	assert_int_equal(pvqb_activate(b, false, false), 0);
	pvqb_put_raw(b, UINT64_MAX - 2, 8, 0, 0, false);
	expect_broken(b);
}

static void test_length_overflow(void **state)
{
	struct pvqb *b = *state;

	assert_int_equal(pvqb_activate(b, false, false), 0);
	pvqb_put_raw(b, 0, 0xc0000000u, VIRTQ_DESC_F_NEXT, 0, false);
	pvqb_put_raw(b, 0, 0xc0000000u, 0, 0, false);
	expect_broken(b);
}

static void test_read_after_write(void **state)
{
	struct pvqb *b = *state;

	assert_int_equal(pvqb_activate(b, false, false), 0);
	pvqb_put_raw(b, VQB_DATA_GPA, 8, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 0, false);
	pvqb_put_raw(b, VQB_DATA_GPA, 8, 0, 0, false);
	expect_broken(b);
}

static void test_activate_checks(void **state)
{
	struct pvqb *b = *state;

	b->vq.size = 0;
	assert_int_equal(pvqb_activate(b, false, false), -EINVAL);
	b->vq.size = 2048;
	assert_int_equal(pvqb_activate(b, false, false), -EINVAL);
	b->vq.size = 12; /* packed: need not be a power of two */
	b->vq.desc_gpa = VQB_DESC_GPA + 8;
	assert_int_equal(pvqb_activate(b, false, false), -EINVAL);
	b->vq.desc_gpa = VQB_DESC_GPA;
	b->vq.avail_gpa = VQB_AVAIL_GPA + 2;
	assert_int_equal(pvqb_activate(b, false, false), -EINVAL);
	b->vq.avail_gpa = VQB_AVAIL_GPA;
	b->vq.used_gpa = VQB_RAM_SIZE;
	assert_int_equal(pvqb_activate(b, false, false), -EINVAL);
	b->vq.used_gpa = VQB_USED_GPA;
	b->vq.desc_gpa = VQB_RAM_SIZE - 16 * 11;
	assert_int_equal(pvqb_activate(b, false, false), -EINVAL); /* ring runs off RAM */
	b->vq.desc_gpa = VQB_DESC_GPA;
	assert_int_equal(pvqb_activate(b, false, false), 0);
	assert_true(b->vq.packed);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_single),
	    T(test_chained),
	    T(test_indirect),
	    T(test_out_of_order),
	    T(test_laps),
	    T(test_driver_event_flags),
	    T(test_driver_event_desc),
	    T(test_device_event),
	    T(test_zero_length_skipped),
	    T(test_push_not_in_flight),
	    T(test_chain_longer_than_queue),
	    T(test_missing_next_end),
	    T(test_wrong_bits),
	    T(test_too_many_in_flight),
	    T(test_indirect_hostile),
	    T(test_addr_outside_ram),
	    T(test_addr_wraps),
	    T(test_length_overflow),
	    T(test_read_after_write),
	    T(test_activate_checks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
