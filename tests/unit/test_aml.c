/* Unit tests for arch/x86/aml: every emitter against known AML byte sequences (as produced by
 * iasl for the equivalent ASL), PkgLength boundaries, and -ENOSPC/-EINVAL without overruns. */
#include "lib/harness.h"

#include <errno.h>
#include <string.h>

#include "arch/x86/aml.h"
#include "base/compiler.h"

#define B(...) (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__})

struct emit_case {
	const char *what;
	void (*emit)(struct aml *a);
	const uint8_t *want;
	size_t want_len;
};

static void e_zero(struct aml *a)
{
	aml_integer(a, 0);
}
static void e_one(struct aml *a)
{
	aml_integer(a, 1);
}
static void e_ones(struct aml *a)
{
	aml_integer(a, UINT64_MAX);
}
static void e_byte(struct aml *a)
{
	aml_integer(a, 0xff);
}
static void e_word(struct aml *a)
{
	aml_integer(a, 0x100);
}
static void e_dword(struct aml *a)
{
	aml_integer(a, 0x12345678);
}
static void e_qword(struct aml *a)
{
	aml_integer(a, 0x100000000ull);
}
static void e_string(struct aml *a)
{
	aml_string(a, "AB");
}
static void e_eisa_com(struct aml *a)
{
	aml_eisaid(a, "PNP0501");
}
static void e_eisa_pci(struct aml *a)
{
	aml_eisaid(a, "PNP0A03");
}
static void e_seg(struct aml *a)
{
	aml_namestring(a, "_SB");
}
static void e_dual(struct aml *a)
{
	aml_namestring(a, "\\_SB.PCI0");
}
static void e_multi(struct aml *a)
{
	aml_namestring(a, "A.B.C");
}
static void e_parent(struct aml *a)
{
	aml_namestring(a, "^FOO");
}
static void e_name_uid(struct aml *a)
{
	aml_name_integer(a, "_UID", 1);
}
static void e_name_hid(struct aml *a)
{
	aml_name_string(a, "_HID", "ACPI0007");
}

static void e_device(struct aml *a)
{
	size_t d = aml_device_begin(a, "COM1");

	aml_name_integer(a, "_UID", 1);
	aml_end(a, d);
}

static void e_scope(struct aml *a)
{
	size_t s = aml_scope_begin(a, "\\_SB");

	aml_end(a, s);
}

static void e_method(struct aml *a)
{
	size_t m = aml_method_begin(a, "_STA", 0, 0);

	aml_return(a);
	aml_integer(a, 0x0f);
	aml_end(a, m);
}

static void e_method_ser(struct aml *a)
{
	size_t m = aml_method_begin(a, "FOO", 2, 1);

	aml_end(a, m);
}

static void e_package(struct aml *a)
{
	size_t p = aml_package_begin(a, 2);

	aml_integer(a, 1);
	aml_string(a, "A");
	aml_end(a, p);
}

static void e_rt_com(struct aml *a)
{
	size_t rt = aml_rt_begin(a);

	aml_rd_io(a, 0x3f8, 0x3f8, 1, 8);
	aml_rd_irq_noflags(a, 4);
	aml_rt_end(a, rt);
}

static void e_buffer(struct aml *a)
{
	size_t b = aml_buffer_begin(a);

	aml_bytes(a, B(0xaa, 0xbb));
	aml_buffer_end(a, b);
}

static void e_buffer_empty(struct aml *a)
{
	size_t b = aml_buffer_begin(a);

	aml_buffer_end(a, b);
}

static void e_int_level(struct aml *a)
{
	aml_rd_interrupt(a, 5, 0, 0);
}
static void e_int_edge_low(struct aml *a)
{
	aml_rd_interrupt(a, 0x17, 1, 1);
}
static void e_mem32(struct aml *a)
{
	aml_rd_memory32_fixed(a, 0xd0000000u, 0x1000, 1);
}
static void e_mem32_ro(struct aml *a)
{
	aml_rd_memory32_fixed(a, 0xe0000000u, 0x100000, 0);
}
static void e_bus(struct aml *a)
{
	aml_rd_word_bus_number(a, 0, 0xff);
}
static void e_wordio(struct aml *a)
{
	aml_rd_word_io(a, 0, 0xcf7);
}
static void e_dwordmem(struct aml *a)
{
	aml_rd_dword_memory(a, 0xc0000000u, 0xcfffffffu);
}

static void e_qwordmem(struct aml *a)
{
	aml_rd_qword_memory(a, 0x8000000000ull, 0x8fffffffffull);
}

static const struct emit_case emit_cases[] = {
    {"Zero", e_zero, B(0x00)},
    {"One", e_one, B(0x01)},
    {"Ones", e_ones, B(0xff)},
    {"Byte", e_byte, B(0x0a, 0xff)},
    {"Word", e_word, B(0x0b, 0x00, 0x01)},
    {"DWord", e_dword, B(0x0c, 0x78, 0x56, 0x34, 0x12)},
    {"QWord", e_qword, B(0x0e, 0, 0, 0, 0, 1, 0, 0, 0)},
    {"String", e_string, B(0x0d, 'A', 'B', 0)},
    {"EISAID PNP0501", e_eisa_com, B(0x0c, 0x41, 0xd0, 0x05, 0x01)},
    {"EISAID PNP0A03", e_eisa_pci, B(0x0c, 0x41, 0xd0, 0x0a, 0x03)},
    {"NameSeg padded", e_seg, B('_', 'S', 'B', '_')},
    {"DualNamePath", e_dual, B(0x5c, 0x2e, '_', 'S', 'B', '_', 'P', 'C', 'I', '0')},
    {"MultiNamePath", e_multi,
     B(0x2f, 3, 'A', '_', '_', '_', 'B', '_', '_', '_', 'C', '_', '_', '_')},
    {"ParentPrefix", e_parent, B(0x5e, 'F', 'O', 'O', '_')},
    {"Name(_UID, One)", e_name_uid, B(0x08, '_', 'U', 'I', 'D', 0x01)},
    {"Name(_HID, string)", e_name_hid,
     B(0x08, '_', 'H', 'I', 'D', 0x0d, 'A', 'C', 'P', 'I', '0', '0', '0', '7', 0)},
    {"Device", e_device, B(0x5b, 0x82, 0x0b, 'C', 'O', 'M', '1', 0x08, '_', 'U', 'I', 'D', 0x01)},
    {"Scope", e_scope, B(0x10, 0x06, 0x5c, '_', 'S', 'B', '_')},
    {"Method Return", e_method, B(0x14, 0x09, '_', 'S', 'T', 'A', 0x00, 0xa4, 0x0a, 0x0f)},
    {"Method serialized", e_method_ser, B(0x14, 0x06, 'F', 'O', 'O', '_', 0x0a)},
    {"Package", e_package, B(0x12, 0x06, 0x02, 0x01, 0x0d, 'A', 0x00)},
    {"ResourceTemplate IO+IRQ", e_rt_com,
     B(0x11, 0x10, 0x0a, 0x0d, 0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08, 0x22, 0x10, 0x00,
       0x79, 0x00)},
    {"Buffer", e_buffer, B(0x11, 0x05, 0x0a, 0x02, 0xaa, 0xbb)},
    {"Buffer empty", e_buffer_empty, B(0x11, 0x02, 0x00)},
    {"Interrupt level high", e_int_level, B(0x89, 0x06, 0x00, 0x01, 0x01, 5, 0, 0, 0)},
    {"Interrupt edge low", e_int_edge_low, B(0x89, 0x06, 0x00, 0x07, 0x01, 0x17, 0, 0, 0)},
    {"Memory32Fixed RW", e_mem32,
     B(0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0x00, 0xd0, 0x00, 0x10, 0x00, 0x00)},
    {"Memory32Fixed RO", e_mem32_ro,
     B(0x86, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0xe0, 0x00, 0x00, 0x10, 0x00)},
    {"WordBusNumber", e_bus,
     B(0x88, 0x0d, 0x00, 0x02, 0x0c, 0x00, 0, 0, 0, 0, 0xff, 0, 0, 0, 0x00, 0x01)},
    {"WordIO", e_wordio,
     B(0x88, 0x0d, 0x00, 0x01, 0x0c, 0x03, 0, 0, 0, 0, 0xf7, 0x0c, 0, 0, 0xf8, 0x0c)},
    {"DWordMemory", e_dwordmem,
     B(0x87, 0x17, 0x00, 0x00, 0x0c, 0x01, 0, 0, 0, 0, 0, 0, 0, 0xc0, 0xff, 0xff, 0xff, 0xcf, 0, 0,
       0, 0, 0, 0, 0, 0x10)},
    {"QWordMemory", e_qwordmem,
     B(0x8a, 0x2b, 0x00, 0x00, 0x0c, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, /* gran */
       0, 0, 0, 0, 0x80, 0, 0, 0,				   /* min */
       0xff, 0xff, 0xff, 0xff, 0x8f, 0, 0, 0,			   /* max */
       0, 0, 0, 0, 0, 0, 0, 0,					   /* translation */
       0, 0, 0, 0, 0x10, 0, 0, 0)},				   /* length */
};

static void test_emit_table(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(emit_cases); i++) {
		const struct emit_case *c = &emit_cases[i];
		uint8_t buf[128];
		struct aml a;
		size_t len;

		memset(buf, 0xee, sizeof(buf));
		aml_init(&a, buf, sizeof(buf));
		c->emit(&a);
		assert_int_equal(aml_finish(&a, &len), 0);
		if (len != c->want_len || memcmp(buf, c->want, len) != 0) {
			print_error("case '%s': got %zu bytes:", c->what, len);
			for (size_t j = 0; j < len; j++)
				print_error(" %02x", buf[j]);
			print_error("\n");
			fail();
		}
		/* Exactly the needed capacity also works; one byte less fails cleanly. */
		aml_init(&a, buf, c->want_len);
		c->emit(&a);
		assert_int_equal(aml_finish(&a, &len), 0);
		assert_memory_equal(buf, c->want, c->want_len);
		memset(buf, 0xee, sizeof(buf));
		aml_init(&a, buf, c->want_len - 1);
		c->emit(&a);
		assert_int_equal(aml_finish(&a, &len), -ENOSPC);
		assert_true(len <= c->want_len - 1);
		assert_int_equal(buf[c->want_len - 1], 0xee); /* nothing past the capacity */
	}
}

struct pkglen_case {
	size_t body;
	unsigned n;
	uint8_t enc[4];
};

static const struct pkglen_case pkglen_cases[] = {
    {0, 1, {0x01}},
    {62, 1, {0x3f}},
    {63, 2, {0x41, 0x04}},		       /* total 65 = 0x41 */
    {4093, 2, {0x4f, 0xff}},		       /* total 0xfff */
    {4094, 3, {0x81, 0x00, 0x01}},	       /* total 0x1001 */
    {0xffffd, 4, {0xc1, 0x00, 0x00, 0x01}},    /* 3 bytes would need 0x100000: total 0x100001 */
    {0xffffc, 3, {0x8f, 0xff, 0xff}},	       /* total 0xfffff */
    {0x0ffffffb, 4, {0xcf, 0xff, 0xff, 0xff}}, /* total 0x0fffffff (the maximum) */
    {0x0ffffffc, 0, {0}},		       /* too long */
};

static void test_pkglen(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(pkglen_cases); i++) {
		const struct pkglen_case *c = &pkglen_cases[i];
		uint8_t out[4] = {0};
		unsigned n = aml_pkglen_encode(c->body, out);

		assert_int_equal(n, c->n);
		assert_memory_equal(out, c->enc, n);
	}
}

/* A device whose body needs a 2-byte PkgLength: the body is moved, not overwritten. */
static void test_large_device(void **state)
{
	uint8_t buf[512], raw[100];
	struct aml a;
	size_t d, len;

	for (unsigned i = 0; i < sizeof(raw); i++)
		raw[i] = (uint8_t)i;
	aml_init(&a, buf, sizeof(buf));
	d = aml_device_begin(&a, "DEV0");
	aml_bytes(&a, raw, sizeof(raw));
	aml_end(&a, d);
	assert_int_equal(aml_finish(&a, &len), 0);
	/* 5b 82 | pkglen(2) | "DEV0" | raw: total = 2 + 4 + 100 = 106 = 0x6a */
	assert_int_equal(len, 2 + 2 + 4 + 100);
	assert_int_equal(buf[2], 0x40 | 0x0a);
	assert_int_equal(buf[3], 0x06);
	assert_memory_equal(buf + 4, "DEV0", 4);
	assert_memory_equal(buf + 8, raw, sizeof(raw));
}

static void test_nested(void **state)
{
	uint8_t buf[64];
	struct aml a;
	size_t s, d, len;

	aml_init(&a, buf, sizeof(buf));
	s = aml_scope_begin(&a, "\\_SB");
	d = aml_device_begin(&a, "RTC");
	aml_name_eisaid(&a, "_HID", "PNP0B00");
	aml_end(&a, d);
	aml_end(&a, s);
	assert_int_equal(aml_finish(&a, &len), 0);
	const uint8_t want[] = {0x10, 0x17, 0x5c, '_', 'S', 'B', '_', 0x5b, 0x82, 0x0f, 'R',  'T',
				'C',  '_',  0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x0b, 0x00};
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));
}

static void test_invalid(void **state)
{
	static const char *const bad_names[] = {"abc", "TOOLONG", "1ABC", "A..B",
						"",    "\\A.",	  "A-B"};
	static const char *const bad_ids[] = {"PNP050", "pnp0501", "PNP050G", "PNP05011"};
	uint8_t buf[64];
	struct aml a;
	size_t len;

	for (size_t i = 0; i < ARRAY_SIZE(bad_names); i++) {
		aml_init(&a, buf, sizeof(buf));
		aml_name(&a, bad_names[i]);
		if (bad_names[i][0] == '\0') {
			/* The empty name is the NullName, which is valid. */
			assert_int_equal(aml_finish(&a, &len), 0);
			continue;
		}
		assert_int_equal(aml_finish(&a, &len), -EINVAL);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad_ids); i++) {
		aml_init(&a, buf, sizeof(buf));
		aml_eisaid(&a, bad_ids[i]);
		assert_int_equal(aml_finish(&a, &len), -EINVAL);
	}
	aml_init(&a, buf, sizeof(buf));
	aml_rd_irq_noflags(&a, 16);
	assert_int_equal(aml_finish(&a, &len), -EINVAL);
	aml_init(&a, buf, sizeof(buf));
	aml_rd_word_io(&a, 10, 9);
	assert_int_equal(aml_finish(&a, &len), -EINVAL);
	aml_init(&a, buf, sizeof(buf));
	aml_string(&a, "\xc3\xa9");
	assert_int_equal(aml_finish(&a, &len), -EINVAL);
}

/* The first error sticks: later calls emit nothing, even if they would fit. */
static void test_sticky(void **state)
{
	uint8_t buf[4];
	struct aml a;
	size_t len;

	aml_init(&a, buf, sizeof(buf));
	aml_integer(&a, 0x12345678); /* 5 bytes: -ENOSPC */
	aml_integer(&a, 1);
	assert_int_equal(aml_finish(&a, &len), -ENOSPC);
	assert_int_equal(len, 1); /* the prefix fit; nothing after the failure is emitted */

	/* A container that fits until its PkgLength is inserted. */
	aml_init(&a, buf, sizeof(buf));
	size_t d = aml_scope_begin(&a, "ABC"); /* 1 + 4 = 5 > 4 */
	aml_end(&a, d);
	assert_int_equal(aml_finish(&a, &len), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_emit_table),	 cmocka_unit_test(test_pkglen),
	    cmocka_unit_test(test_large_device), cmocka_unit_test(test_nested),
	    cmocka_unit_test(test_invalid),	 cmocka_unit_test(test_sticky),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
