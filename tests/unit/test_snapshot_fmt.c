/* Unit tests for vmm/snapshot_fmt: round trip, truncation, corruption, version, bounds. */
#include "lib/harness.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "vmm/snapshot_fmt.h"

#define TAG_A SNAP_TAG('a', 'a', 'a', 'a')
#define TAG_B SNAP_TAG('b', 'b', 'b', 'b')

/* A file with three sections; the caller frees *out. */
static size_t build(uint8_t **out)
{
	struct snap_writer w;
	uint8_t big[1000];
	const uint8_t *buf;
	size_t len;

	for (unsigned i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	snap_writer_init(&w);
	snap_put(&w, TAG_A, 0, "hello", 5);
	snap_put(&w, TAG_A, 1, big, sizeof(big));
	snap_put(&w, TAG_B, 0, NULL, 0);
	assert_int_equal(snap_writer_finish(&w, &buf, &len), 0);
	*out = malloc(len);
	memcpy(*out, buf, len);
	snap_writer_fini(&w);
	return len;
}

/* Recompute the header checksum after a test edited the file. */
static void fix_crc(uint8_t *p, size_t len)
{
	uint32_t zero = 0, crc;
	uLong c = crc32(0L, Z_NULL, 0);
	uint8_t h[SNAP_HEADER_SIZE];

	memcpy(h, p, sizeof(h));
	memcpy(h + 24, &zero, 4);
	c = crc32(c, h, sizeof(h));
	c = crc32(c, p + SNAP_HEADER_SIZE, (uInt)(len - SNAP_HEADER_SIZE));
	crc = (uint32_t)c;
	memcpy(p + 24, &crc, 4);
}

static void test_round_trip(void **state)
{
	struct snap_reader r;
	uint8_t *f, big[1000];
	const void *p;
	size_t len = build(&f), n;
	char err[128];
	char small[5];

	assert_int_equal(len % 8, 0);
	assert_int_equal(snap_reader_open(&r, f, len, err, sizeof(err)), 0);
	assert_int_equal(snap_get(&r, TAG_A, 0, &p, &n), 0);
	assert_int_equal(n, 5);
	assert_memory_equal(p, "hello", 5);
	assert_int_equal(snap_get_exact(&r, TAG_A, 1, big, sizeof(big)), 0);
	assert_int_equal(big[999], (uint8_t)(999 * 7));
	assert_int_equal(snap_get(&r, TAG_B, 0, &p, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(snap_get(&r, TAG_B, 1, &p, &n), -ENOENT);
	assert_int_equal(snap_get_exact(&r, TAG_A, 0, small, 4), -EINVAL);
	assert_string_equal(snap_tag_name(TAG_A, small), "aaaa");
	free(f);
}

static void test_truncated(void **state)
{
	struct snap_reader r;
	uint8_t *f;
	size_t len = build(&f);
	char err[128];

	for (size_t cut = 0; cut < len; cut++) {
		err[0] = 0;
		assert_int_not_equal(snap_reader_open(&r, f, cut, err, sizeof(err)), 0);
		assert_true(err[0] != 0);
	}
	assert_int_equal(snap_reader_open(&r, f, len - 8, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "truncated"));
	free(f);
}

static void test_bad_checksum(void **state)
{
	struct snap_reader r;
	uint8_t *f;
	size_t len = build(&f);
	char err[128];

	/* Any flipped bit after the magic and version is caught. */
	for (size_t i = 24; i < len; i++) {
		f[i] ^= 0x10;
		assert_int_not_equal(snap_reader_open(&r, f, len, err, sizeof(err)), 0);
		f[i] ^= 0x10;
	}
	f[len - 1] ^= 1;
	assert_int_equal(snap_reader_open(&r, f, len, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "checksum"));
	free(f);
}

static void test_wrong_version_and_magic(void **state)
{
	struct snap_reader r;
	uint8_t *f;
	size_t len = build(&f);
	uint32_t v = SNAP_VERSION + 1;
	char err[128];

	memcpy(f + 8, &v, 4);
	fix_crc(f, len);
	assert_int_equal(snap_reader_open(&r, f, len, err, sizeof(err)), -EPROTONOSUPPORT);
	assert_non_null(strstr(err, "version"));
	v = SNAP_VERSION;
	memcpy(f + 8, &v, 4);
	f[0] = 'X';
	fix_crc(f, len);
	assert_int_equal(snap_reader_open(&r, f, len, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a kvmm snapshot"));
	free(f);
}

/* A section whose length runs past the end is refused even with a valid checksum. */
static void test_section_overrun(void **state)
{
	struct snap_reader r;
	uint8_t *f;
	size_t len = build(&f);
	uint32_t huge = 0xfffffff0u, big = 2000;
	char err[128];

	memcpy(f + SNAP_HEADER_SIZE + 8, &huge, 4);
	fix_crc(f, len);
	assert_int_equal(snap_reader_open(&r, f, len, err, sizeof(err)), -EINVAL);
	memcpy(f + SNAP_HEADER_SIZE + 8, &big, 4);
	fix_crc(f, len);
	assert_int_equal(snap_reader_open(&r, f, len, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "overruns"));
	free(f);
}

static void test_writer_limits(void **state)
{
	struct snap_writer w;
	const uint8_t *buf;
	size_t len;
	struct snap_reader r;
	char err[64];

	snap_writer_init(&w);
	snap_put(&w, TAG_A, 0, "x", (size_t)SNAP_MAX_SECTION + 1);
	assert_int_equal(snap_writer_finish(&w, &buf, &len), -E2BIG);
	snap_writer_fini(&w);
	/* An empty file (no sections) is valid. */
	snap_writer_init(&w);
	assert_int_equal(snap_writer_finish(&w, &buf, &len), 0);
	assert_int_equal(len, SNAP_HEADER_SIZE);
	assert_int_equal(snap_reader_open(&r, buf, len, err, sizeof(err)), 0);
	snap_writer_fini(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_bad_checksum),    cmocka_unit_test(test_wrong_version_and_magic),
	    cmocka_unit_test(test_section_overrun), cmocka_unit_test(test_writer_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
