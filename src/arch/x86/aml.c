/* arch/x86/aml.c — see aml.h. Encodings follow ACPI 6.4 chapter 20 (AML) and 6.4 (resource
 * data types). */
#include "arch/x86/aml.h"

#include <errno.h>
#include <string.h>

#include "base/ckd.h"

#define AML_OP_ZERO	  0x00
#define AML_OP_ONE	  0x01
#define AML_OP_NAME	  0x08
#define AML_OP_BYTE	  0x0a
#define AML_OP_WORD	  0x0b
#define AML_OP_DWORD	  0x0c
#define AML_OP_STRING	  0x0d
#define AML_OP_QWORD	  0x0e
#define AML_OP_SCOPE	  0x10
#define AML_OP_BUFFER	  0x11
#define AML_OP_PACKAGE	  0x12
#define AML_OP_METHOD	  0x14
#define AML_OP_DUAL_NAME  0x2e
#define AML_OP_MULTI_NAME 0x2f
#define AML_OP_EXT	  0x5b
#define AML_OP_EXT_DEVICE 0x82
#define AML_OP_ROOT	  0x5c
#define AML_OP_PARENT	  0x5e
#define AML_OP_RETURN	  0xa4
#define AML_OP_ONES	  0xff

#define AML_PKGLEN_MAX 0x0fffffffu

void aml_init(struct aml *a, void *buf, size_t cap)
{
	a->buf = buf;
	a->cap = cap;
	a->len = 0;
	a->err = 0;
}

int aml_finish(const struct aml *a, size_t *len)
{
	if (len)
		*len = a->len;
	return a->err;
}

static void aml_fail(struct aml *a, int err)
{
	if (!a->err)
		a->err = err;
}

void aml_bytes(struct aml *a, const void *p, size_t n)
{
	size_t end;

	if (a->err)
		return;
	if (ckd_add(&end, a->len, n) || end > a->cap) {
		aml_fail(a, -ENOSPC);
		return;
	}
	memcpy(a->buf + a->len, p, n);
	a->len = end;
}

void aml_byte(struct aml *a, uint8_t b)
{
	aml_bytes(a, &b, 1);
}

static void aml_le(struct aml *a, uint64_t v, unsigned n)
{
	uint8_t b[8];

	for (unsigned i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	aml_bytes(a, b, n);
}

unsigned aml_pkglen_encode(size_t body_len, uint8_t out[4])
{
	for (unsigned n = 1; n <= 4; n++) {
		size_t total = body_len + n;

		if (total > AML_PKGLEN_MAX)
			return 0;
		if (n == 1 && total <= 0x3f) {
			out[0] = (uint8_t)total;
			return 1;
		}
		if (n > 1 && total < (1ull << (4 + 8 * (n - 1)))) {
			out[0] = (uint8_t)(((n - 1) << 6) | (total & 0x0f));
			for (unsigned i = 1; i < n; i++)
				out[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
			return n;
		}
	}
	return 0;
}

/* Insert hdr[0, n) at position pos, moving the bytes after it. */
static void aml_insert(struct aml *a, size_t pos, const uint8_t *hdr, size_t n)
{
	size_t end;

	if (a->err)
		return;
	if (pos > a->len || ckd_add(&end, a->len, n) || end > a->cap) {
		aml_fail(a, -ENOSPC);
		return;
	}
	memmove(a->buf + pos + n, a->buf + pos, a->len - pos);
	memcpy(a->buf + pos, hdr, n);
	a->len = end;
}

static int aml_seg_char_ok(char c, int first)
{
	if (c == '_' || (c >= 'A' && c <= 'Z'))
		return 1;
	return !first && c >= '0' && c <= '9';
}

/* Parse one segment of up to four characters from *p into seg[4], padding with '_'. */
static int aml_parse_seg(const char **p, char seg[4])
{
	unsigned n = 0;

	while (**p && **p != '.') {
		if (n == 4 || !aml_seg_char_ok(**p, n == 0))
			return -EINVAL;
		seg[n++] = *(*p)++;
	}
	if (n == 0)
		return -EINVAL;
	while (n < 4)
		seg[n++] = '_';
	if (**p == '.') {
		(*p)++;
		if (**p == '\0')
			return -EINVAL; /* trailing dot */
	}
	return 0;
}

#define AML_MAX_SEGS 16

void aml_namestring(struct aml *a, const char *name)
{
	char segs[AML_MAX_SEGS][4];
	unsigned nseg = 0;
	const char *p = name;

	if (*p == '\\') {
		aml_byte(a, AML_OP_ROOT);
		p++;
	} else {
		while (*p == '^') {
			aml_byte(a, AML_OP_PARENT);
			p++;
		}
	}
	while (*p) {
		if (nseg == AML_MAX_SEGS || aml_parse_seg(&p, segs[nseg])) {
			aml_fail(a, -EINVAL);
			return;
		}
		nseg++;
	}
	if (nseg == 0) {
		aml_byte(a, 0x00); /* NullName */
		return;
	}
	if (nseg == 2)
		aml_byte(a, AML_OP_DUAL_NAME);
	else if (nseg > 2) {
		aml_byte(a, AML_OP_MULTI_NAME);
		aml_byte(a, (uint8_t)nseg);
	}
	aml_bytes(a, segs, 4 * nseg);
}

void aml_integer(struct aml *a, uint64_t v)
{
	if (v == 0)
		aml_byte(a, AML_OP_ZERO);
	else if (v == 1)
		aml_byte(a, AML_OP_ONE);
	else if (v == UINT64_MAX)
		aml_byte(a, AML_OP_ONES);
	else if (v <= UINT8_MAX) {
		aml_byte(a, AML_OP_BYTE);
		aml_le(a, v, 1);
	} else if (v <= UINT16_MAX) {
		aml_byte(a, AML_OP_WORD);
		aml_le(a, v, 2);
	} else if (v <= UINT32_MAX) {
		aml_byte(a, AML_OP_DWORD);
		aml_le(a, v, 4);
	} else {
		aml_byte(a, AML_OP_QWORD);
		aml_le(a, v, 8);
	}
}

void aml_string(struct aml *a, const char *s)
{
	for (const char *p = s; *p; p++) {
		if ((unsigned char)*p > 0x7f) {
			aml_fail(a, -EINVAL);
			return;
		}
	}
	aml_byte(a, AML_OP_STRING);
	aml_bytes(a, s, strlen(s) + 1);
}

static int aml_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void aml_eisaid(struct aml *a, const char *id)
{
	uint32_t v = 0;

	if (strlen(id) != 7) {
		aml_fail(a, -EINVAL);
		return;
	}
	for (unsigned i = 0; i < 3; i++) {
		if (id[i] < 'A' || id[i] > 'Z') {
			aml_fail(a, -EINVAL);
			return;
		}
		v |= (uint32_t)(id[i] - 0x40) << (26 - 5 * i);
	}
	for (unsigned i = 3; i < 7; i++) {
		int h = aml_hexval(id[i]);

		if (h < 0) {
			aml_fail(a, -EINVAL);
			return;
		}
		v |= (uint32_t)h << (4 * (6 - i));
	}
	/* The ID is stored big-endian inside a little-endian DWord. */
	aml_byte(a, AML_OP_DWORD);
	aml_le(a, __builtin_bswap32(v), 4);
}

void aml_name(struct aml *a, const char *name)
{
	aml_byte(a, AML_OP_NAME);
	aml_namestring(a, name);
}

void aml_name_integer(struct aml *a, const char *name, uint64_t v)
{
	aml_name(a, name);
	aml_integer(a, v);
}

void aml_name_string(struct aml *a, const char *name, const char *s)
{
	aml_name(a, name);
	aml_string(a, s);
}

void aml_name_eisaid(struct aml *a, const char *name, const char *id)
{
	aml_name(a, name);
	aml_eisaid(a, id);
}

size_t aml_scope_begin(struct aml *a, const char *name)
{
	size_t m;

	aml_byte(a, AML_OP_SCOPE);
	m = a->len;
	aml_namestring(a, name);
	return m;
}

size_t aml_device_begin(struct aml *a, const char *name)
{
	size_t m;

	aml_byte(a, AML_OP_EXT);
	aml_byte(a, AML_OP_EXT_DEVICE);
	m = a->len;
	aml_namestring(a, name);
	return m;
}

size_t aml_method_begin(struct aml *a, const char *name, unsigned nargs, int serialized)
{
	size_t m;

	if (nargs > 7)
		aml_fail(a, -EINVAL);
	aml_byte(a, AML_OP_METHOD);
	m = a->len;
	aml_namestring(a, name);
	aml_byte(a, (uint8_t)((nargs & 7) | (serialized ? 0x08 : 0)));
	return m;
}

size_t aml_package_begin(struct aml *a, uint8_t nelems)
{
	size_t m;

	aml_byte(a, AML_OP_PACKAGE);
	m = a->len;
	aml_byte(a, nelems);
	return m;
}

void aml_end(struct aml *a, size_t marker)
{
	uint8_t hdr[4];
	unsigned n;

	if (a->err)
		return;
	if (marker > a->len) {
		aml_fail(a, -EINVAL);
		return;
	}
	n = aml_pkglen_encode(a->len - marker, hdr);
	if (n == 0) {
		aml_fail(a, -ENOSPC);
		return;
	}
	aml_insert(a, marker, hdr, n);
}

void aml_return(struct aml *a)
{
	aml_byte(a, AML_OP_RETURN);
}

size_t aml_buffer_begin(struct aml *a)
{
	aml_byte(a, AML_OP_BUFFER);
	return a->len;
}

void aml_buffer_end(struct aml *a, size_t marker)
{
	uint8_t hdr[4 + 9];
	struct aml size;
	size_t body, slen;
	unsigned n;

	if (a->err)
		return;
	if (marker > a->len) {
		aml_fail(a, -EINVAL);
		return;
	}
	body = a->len - marker;
	/* BufferSize comes first in the body: encode it, then the PkgLength over both. */
	aml_init(&size, hdr + 4, 9);
	aml_integer(&size, body);
	if (aml_finish(&size, &slen)) {
		aml_fail(a, -EINVAL);
		return;
	}
	n = aml_pkglen_encode(body + slen, hdr);
	if (n == 0) {
		aml_fail(a, -ENOSPC);
		return;
	}
	memmove(hdr + n, hdr + 4, slen);
	aml_insert(a, marker, hdr, n + slen);
}

void aml_rt_end(struct aml *a, size_t marker)
{
	static const uint8_t end_tag[2] = {0x79, 0x00};

	aml_bytes(a, end_tag, sizeof(end_tag));
	aml_buffer_end(a, marker);
}

void aml_rd_io(struct aml *a, uint16_t min, uint16_t max, uint8_t align, uint8_t len)
{
	aml_byte(a, 0x47); /* small item 0x08, length 7 */
	aml_byte(a, 0x01); /* decodes 16 bits */
	aml_le(a, min, 2);
	aml_le(a, max, 2);
	aml_byte(a, align);
	aml_byte(a, len);
}

void aml_rd_irq_noflags(struct aml *a, unsigned irq)
{
	if (irq > 15) {
		aml_fail(a, -EINVAL);
		return;
	}
	aml_byte(a, 0x22); /* small item 0x04, length 2: no information byte */
	aml_le(a, 1u << irq, 2);
}

void aml_rd_interrupt(struct aml *a, uint32_t gsi, int edge, int active_low)
{
	aml_byte(a, 0x89); /* extended interrupt descriptor */
	aml_le(a, 6, 2);
	aml_byte(a, (uint8_t)(0x01 | (edge ? 0x02 : 0) | (active_low ? 0x04 : 0)));
	aml_byte(a, 1); /* one interrupt */
	aml_le(a, gsi, 4);
}

void aml_rd_memory32_fixed(struct aml *a, uint32_t base, uint32_t len, int rw)
{
	aml_byte(a, 0x86);
	aml_le(a, 9, 2);
	aml_byte(a, rw ? 1 : 0);
	aml_le(a, base, 4);
	aml_le(a, len, 4);
}

/* Address space descriptor: tag, resource type, type flags, field width (2/4/8 bytes). */
static void aml_rd_addr(struct aml *a, uint8_t tag, uint8_t type, uint8_t tflags, unsigned w,
			uint64_t min, uint64_t max)
{
	if (max < min) {
		aml_fail(a, -EINVAL);
		return;
	}
	aml_byte(a, tag);
	aml_le(a, 3 + 5 * w, 2);
	aml_byte(a, type);
	aml_byte(a, 0x0c); /* ResourceProducer, PosDecode, MinFixed, MaxFixed */
	aml_byte(a, tflags);
	aml_le(a, 0, w); /* granularity */
	aml_le(a, min, w);
	aml_le(a, max, w);
	aml_le(a, 0, w);	     /* translation offset */
	aml_le(a, max - min + 1, w); /* length (wraps to 0 only for a full 64-bit range) */
}

void aml_rd_word_bus_number(struct aml *a, uint16_t min, uint16_t max)
{
	aml_rd_addr(a, 0x88, 2, 0x00, 2, min, max);
}

void aml_rd_word_io(struct aml *a, uint16_t min, uint16_t max)
{
	aml_rd_addr(a, 0x88, 1, 0x03, 2, min, max);
}

void aml_rd_dword_memory(struct aml *a, uint32_t min, uint32_t max)
{
	aml_rd_addr(a, 0x87, 0, 0x01, 4, min, max);
}

void aml_rd_qword_memory(struct aml *a, uint64_t min, uint64_t max)
{
	aml_rd_addr(a, 0x8a, 0, 0x01, 8, min, max);
}
