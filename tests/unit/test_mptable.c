/* Unit tests for arch/x86/mptable: find the floating pointer the way Linux does (16-byte steps
 * through 0xf0000-0xfffff), check both checksums and decode every entry. */
#include "lib/harness.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "arch/x86/mptable.h"
#include "base/compiler.h"
#include "mem/gmem.h"

#define RAM_SIZE (1u << 20)

struct fixture {
	uint8_t *ram;
	struct gmem *m;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct gmem_region r;

	assert_non_null(f);
	f->ram = calloc(1, RAM_SIZE);
	assert_non_null(f->ram);
	r = (struct gmem_region){0, RAM_SIZE, f->ram, 0};
	assert_int_equal(gmem_create(&f->m, &r, 1), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	gmem_destroy(f->m);
	free(f->ram);
	free(f);
	return 0;
}

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint16_t rd16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return v;
}

static uint8_t sum8(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s = (uint8_t)(s + *p++);
	return s;
}

struct decoded {
	unsigned cpus, bsp, buses, ioapics, intsrc, lint;
	uint8_t cpu_ids[256];
	uint8_t ioapic_id;
	int pin_of_irq[16]; /* -1: no entry */
	uint16_t flags_of_irq[16];
	int lint_type[2];
};

static void decode(struct fixture *f, struct decoded *d)
{
	const uint8_t *mpf = NULL, *t;
	uint16_t len, count;
	uint32_t off;

	memset(d, 0, sizeof(*d));
	for (int i = 0; i < 16; i++)
		d->pin_of_irq[i] = -1;
	d->lint_type[0] = d->lint_type[1] = -1;
	for (uint32_t a = 0xf0000; a < 0x100000; a += 16) {
		if (memcmp(f->ram + a, "_MP_", 4) == 0 && sum8(f->ram + a, 16) == 0) {
			mpf = f->ram + a;
			break;
		}
	}
	assert_non_null(mpf);
	assert_int_equal(mpf - f->ram, LAYOUT_MPTABLE);
	assert_int_equal(mpf[8], 1);  /* length in paragraphs */
	assert_int_equal(mpf[9], 4);  /* spec 1.4 */
	assert_int_equal(mpf[11], 0); /* no default configuration: the table follows */
	t = f->ram + rd32(mpf + 4);
	assert_true(rd32(mpf + 4) >= LAYOUT_MPTABLE &&
		    rd32(mpf + 4) < LAYOUT_MPTABLE + LAYOUT_MPTABLE_MAX);
	assert_memory_equal(t, "PCMP", 4);
	len = rd16(t + 4);
	assert_int_equal(t[6], 4);
	assert_int_equal(sum8(t, len), 0);
	assert_int_equal(rd32(t + 36), LAYOUT_LAPIC);
	assert_true(rd32(mpf + 4) + len <= LAYOUT_MPTABLE + LAYOUT_MPTABLE_MAX);
	count = rd16(t + 34);
	off = 44;
	for (unsigned i = 0; i < count; i++) {
		const uint8_t *e = t + off;

		assert_true(off < len);
		switch (e[0]) {
		case 0:
			assert_true(off + 20 <= len);
			assert_true(e[3] & 1);
			if (e[3] & 2)
				d->bsp++;
			if (d->cpus == 0)
				assert_true(e[3] & 2); /* BSP first */
			d->cpu_ids[d->cpus++] = e[1];
			off += 20;
			break;
		case 1:
			assert_memory_equal(e + 2, "ISA   ", 6);
			d->buses++;
			off += 8;
			break;
		case 2:
			assert_int_equal(rd32(e + 4), LAYOUT_IOAPIC);
			assert_int_equal(e[3] & 1, 1);
			d->ioapic_id = e[1];
			d->ioapics++;
			off += 8;
			break;
		case 3:
			assert_int_equal(e[1], 0); /* INT */
			assert_int_equal(e[4], 0); /* ISA bus */
			assert_true(e[5] < 16);
			assert_int_equal(d->pin_of_irq[e[5]], -1);
			d->pin_of_irq[e[5]] = e[7];
			d->flags_of_irq[e[5]] = rd16(e + 2);
			assert_int_equal(e[6], d->ioapic_id);
			d->intsrc++;
			off += 8;
			break;
		case 4:
			assert_int_equal(e[6], 0xff); /* all local APICs */
			assert_true(e[7] < 2);
			d->lint_type[e[7]] = e[1];
			d->lint++;
			off += 8;
			break;
		default:
			fail_msg("unexpected MP entry type %u", e[0]);
		}
	}
	assert_int_equal(off, len);
}

static void check(struct fixture *f, unsigned n, const uint32_t *ids)
{
	struct decoded d;
	gpa_t out = 0;

	memset(f->ram, 0, RAM_SIZE);
	assert_int_equal(mptable_build(f->m, n, ids, &out), 0);
	assert_int_equal(out, LAYOUT_MPTABLE);
	decode(f, &d);
	assert_int_equal(d.cpus, n);
	assert_int_equal(d.bsp, 1);
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(d.cpu_ids[i], ids[i]);
		assert_int_not_equal(d.ioapic_id, ids[i]);
	}
	assert_int_equal(d.buses, 1);
	assert_int_equal(d.ioapics, 1);
	assert_int_equal(d.intsrc, 15);
	for (int irq = 0; irq < 16; irq++) {
		int want = irq == 0 ? 2 : irq == 2 ? -1 : irq;

		assert_int_equal(d.pin_of_irq[irq], want);
		if (irq == LAYOUT_IRQ_ACPI_SCI)
			assert_int_equal(d.flags_of_irq[irq], 0x000d);
		else if (want >= 0)
			assert_int_equal(d.flags_of_irq[irq], 0);
	}
	assert_int_equal(d.lint, 2);
	assert_int_equal(d.lint_type[0], 3); /* ExtINT on LINT0 */
	assert_int_equal(d.lint_type[1], 1); /* NMI on LINT1 */
}

static void test_one_cpu(void **state)
{
	static const uint32_t ids[] = {0};

	check(*state, 1, ids);
}

static void test_sparse(void **state)
{
	static const uint32_t ids[] = {0, 1, 2, 4, 5, 6, 8, 9, 10}; /* 3 cores in 2 bits */
	struct fixture *f = *state;
	struct decoded d;

	check(f, ARRAY_SIZE(ids), ids);
	decode(f, &d);
	assert_int_equal(d.ioapic_id, 3); /* the lowest free ID */
}

static void test_max(void **state)
{
	uint32_t ids[255];
	struct fixture *f = *state;
	struct decoded d;

	for (unsigned i = 0; i < 254; i++)
		ids[i] = i;
	check(f, 254, ids);
	decode(f, &d);
	assert_int_equal(d.ioapic_id, 254);

	/* All of 0..254 taken: nothing left for the IOAPIC. */
	ids[254] = 254;
	assert_int_equal(mptable_build(f->m, 255, ids, &(gpa_t){0}), -E2BIG);
}

static void test_errors(void **state)
{
	struct fixture *f = *state;
	static const uint32_t big[] = {0, 255}, dup[] = {0, 1, 1};
	struct gmem *small;
	struct gmem_region r;
	uint8_t *ram;
	gpa_t out = 0;

	assert_int_equal(mptable_build(f->m, 2, big, &out), -E2BIG);
	assert_int_equal(mptable_build(f->m, 3, dup, &out), -EINVAL);
	assert_int_equal(mptable_build(f->m, 0, dup, &out), -EINVAL);
	assert_int_equal(mptable_build(f->m, 1, NULL, &out), -EINVAL);
	assert_int_equal(out, 0);

	ram = calloc(1, 0x10000);
	assert_non_null(ram);
	r = (struct gmem_region){0, 0x10000, ram, 0};
	assert_int_equal(gmem_create(&small, &r, 1), 0);
	assert_int_equal(mptable_build(small, 1, dup, &out), -EFAULT);
	gmem_destroy(small);
	free(ram);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_one_cpu, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sparse, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_max, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
