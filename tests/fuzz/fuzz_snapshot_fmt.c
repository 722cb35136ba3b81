/* Fuzz target: the snapshot state-file reader (vmm/snapshot_fmt.c). The input is a whole
 * state file. Two modes, chosen by the first byte: odd — the input is used as is (so the
 * checksum almost always refuses it); even — the rest of the input gets a valid header and
 * checksum first, so the section walk and lookups are reached.
 * Invariants: no crash, no out-of-bounds read (ASan), every section handed out lies inside
 * the buffer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "vmm/snapshot_fmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

static void fuzz_lookups(const struct snap_reader *r, const uint8_t *base, size_t len)
{
	static const uint32_t tags[] = {SNAP_TAG('i', 'n', 'f', 'o'), SNAP_TAG('r', 'e', 'g', 's'),
					SNAP_TAG('u', 'a', 'r', 't'), 0};
	uint8_t dst[64];

	for (unsigned t = 0; t < sizeof(tags) / sizeof(tags[0]); t++)
		for (uint32_t inst = 0; inst < 3; inst++) {
			const void *p;
			size_t l;

			if (snap_get(r, tags[t], inst, &p, &l) == 0 &&
			    ((const uint8_t *)p < base || (const uint8_t *)p + l > base + len))
				abort();
			if (snap_get_exact(r, tags[t], inst, dst, sizeof(dst)) == 0 &&
			    dst[0] == 0xff)
				dst[1] = 0;
		}
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct snap_reader r;
	char err[128];
	uint8_t *f;
	size_t len;

	if (n == 0)
		return 0;
	if (d[0] & 1) {
		if (snap_reader_open(&r, d + 1, n - 1, err, sizeof(err)) == 0)
			fuzz_lookups(&r, d + 1, n - 1);
		return 0;
	}
	len = SNAP_HEADER_SIZE + (n - 1);
	f = calloc(1, len);
	if (!f)
		return 0;
	{
		uint32_t version = SNAP_VERSION, crc;
		uint64_t pl = n - 1;
		uLong c = crc32(0L, Z_NULL, 0);

		memcpy(f, SNAP_MAGIC, 8);
		memcpy(f + 8, &version, 4);
		memcpy(f + 16, &pl, 8);
		memcpy(f + SNAP_HEADER_SIZE, d + 1, n - 1);
		c = crc32(c, f, SNAP_HEADER_SIZE);
		c = crc32(c, f + SNAP_HEADER_SIZE, (uInt)(n - 1));
		crc = (uint32_t)c;
		memcpy(f + 24, &crc, 4);
	}
	if (snap_reader_open(&r, f, len, err, sizeof(err)) == 0)
		fuzz_lookups(&r, f, len);
	free(f);
	return 0;
}
