/* vmm/snapshot_fmt.c — see snapshot_fmt.h. */
#include "vmm/snapshot_fmt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "base/ckd.h"

struct snap_header {
	char magic[8];
	uint32_t version;
	uint32_t flags;
	uint64_t payload_len;
	uint32_t crc;
	uint32_t reserved;
};
_Static_assert(sizeof(struct snap_header) == SNAP_HEADER_SIZE, "snapshot header size");

struct snap_section {
	uint32_t tag, inst, len, reserved;
};
_Static_assert(sizeof(struct snap_section) == SNAP_SECTION_HDR, "snapshot section size");

void snap_writer_init(struct snap_writer *w)
{
	memset(w, 0, sizeof(*w));
	w->len = SNAP_HEADER_SIZE;
}

void snap_writer_fini(struct snap_writer *w)
{
	free(w->buf);
	memset(w, 0, sizeof(*w));
}

static int snap_reserve(struct snap_writer *w, size_t more)
{
	size_t need, cap = w->cap ? w->cap : 4096;
	uint8_t *p;

	if (ckd_add(&need, w->len, more))
		return -E2BIG;
	while (cap < need)
		if (ckd_mul(&cap, cap, 2))
			return -E2BIG;
	if (cap == w->cap)
		return 0;
	p = realloc(w->buf, cap);
	if (!p)
		return -ENOMEM;
	memset(p + w->cap, 0, cap - w->cap);
	w->buf = p;
	w->cap = cap;
	return 0;
}

void snap_put(struct snap_writer *w, uint32_t tag, uint32_t inst, const void *data, size_t len)
{
	struct snap_section s = {.tag = tag, .inst = inst, .len = (uint32_t)len};
	size_t padded = ALIGN_UP(len, 8);

	if (w->err)
		return;
	if (len > SNAP_MAX_SECTION) {
		w->err = -E2BIG;
		return;
	}
	w->err = snap_reserve(w, SNAP_SECTION_HDR + padded);
	if (w->err)
		return;
	memcpy(w->buf + w->len, &s, sizeof(s));
	if (len)
		memcpy(w->buf + w->len + SNAP_SECTION_HDR, data, len);
	memset(w->buf + w->len + SNAP_SECTION_HDR + len, 0, padded - len);
	w->len += SNAP_SECTION_HDR + padded;
}

static uint32_t snap_crc(const uint8_t *file, size_t len)
{
	struct snap_header h;
	uLong crc = crc32(0L, Z_NULL, 0);

	memcpy(&h, file, sizeof(h));
	h.crc = 0;
	crc = crc32(crc, (const Bytef *)&h, sizeof(h));
	for (size_t off = SNAP_HEADER_SIZE; off < len;) {
		size_t n = KVMM_MIN(len - off, (size_t)1 << 30);

		crc = crc32(crc, file + off, (uInt)n);
		off += n;
	}
	return (uint32_t)crc;
}

int snap_writer_finish(struct snap_writer *w, const uint8_t **buf, size_t *len)
{
	struct snap_header h = {.version = SNAP_VERSION};

	if (w->err)
		return w->err;
	if (snap_reserve(w, 0) || (!w->buf && snap_reserve(w, 1)))
		return -ENOMEM;
	memcpy(h.magic, SNAP_MAGIC, sizeof(h.magic));
	h.payload_len = w->len - SNAP_HEADER_SIZE;
	memcpy(w->buf, &h, sizeof(h));
	h.crc = snap_crc(w->buf, w->len);
	memcpy(w->buf, &h, sizeof(h));
	*buf = w->buf;
	*len = w->len;
	return 0;
}

/* Walk the sections once: each header and body inside the payload. */
static int snap_check_sections(const uint8_t *p, size_t len, char *err, size_t errlen)
{
	size_t off = SNAP_HEADER_SIZE;

	while (off < len) {
		struct snap_section s;
		size_t end;

		if (len - off < SNAP_SECTION_HDR) {
			snprintf(err, errlen, "truncated section header at byte %zu", off);
			return -EINVAL;
		}
		memcpy(&s, p + off, sizeof(s));
		if (s.len > SNAP_MAX_SECTION ||
		    ckd_add(&end, off + SNAP_SECTION_HDR, ALIGN_UP((size_t)s.len, 8)) ||
		    end > len) {
			snprintf(err, errlen, "section at byte %zu overruns the file", off);
			return -EINVAL;
		}
		off = end;
	}
	return 0;
}

int snap_reader_open(struct snap_reader *r, const void *buf, size_t len, char *err, size_t errlen)
{
	const uint8_t *p = buf;
	struct snap_header h;

	if (len < SNAP_HEADER_SIZE || memcmp(p, SNAP_MAGIC, 8)) {
		snprintf(err, errlen, "not a kvmm snapshot state file");
		return -EINVAL;
	}
	memcpy(&h, p, sizeof(h));
	if (h.version != SNAP_VERSION) {
		snprintf(err, errlen, "snapshot format version %u, this kvmm reads version %u",
			 h.version, SNAP_VERSION);
		return -EPROTONOSUPPORT;
	}
	if (h.payload_len != len - SNAP_HEADER_SIZE) {
		snprintf(err, errlen, "state file is %zu bytes, its header says %llu (truncated?)",
			 len, (unsigned long long)h.payload_len + SNAP_HEADER_SIZE);
		return -EINVAL;
	}
	if (snap_crc(p, len) != h.crc) {
		snprintf(err, errlen, "state file checksum mismatch (corrupt)");
		return -EBADMSG;
	}
	if (h.flags || h.reserved) {
		snprintf(err, errlen, "state file has unknown flags %#x", h.flags);
		return -EINVAL;
	}
	if (snap_check_sections(p, len, err, errlen))
		return -EINVAL;
	r->p = p;
	r->len = len;
	return 0;
}

int snap_get(const struct snap_reader *r, uint32_t tag, uint32_t inst, const void **data,
	     size_t *len)
{
	size_t off = SNAP_HEADER_SIZE;

	while (off + SNAP_SECTION_HDR <= r->len) {
		struct snap_section s;

		memcpy(&s, r->p + off, sizeof(s));
		if (s.tag == tag && s.inst == inst) {
			*data = r->p + off + SNAP_SECTION_HDR;
			*len = s.len;
			return 0;
		}
		off += SNAP_SECTION_HDR + ALIGN_UP((size_t)s.len, 8);
	}
	return -ENOENT;
}

int snap_get_exact(const struct snap_reader *r, uint32_t tag, uint32_t inst, void *dst, size_t len)
{
	const void *p;
	size_t n;
	int e = snap_get(r, tag, inst, &p, &n);

	if (e)
		return e;
	if (n != len)
		return -EINVAL;
	memcpy(dst, p, len);
	return 0;
}

const char *snap_tag_name(uint32_t tag, char buf[static 5])
{
	for (int i = 0; i < 4; i++) {
		char c = (char)(tag >> (8 * i));

		buf[i] = c >= 0x20 && c < 0x7f ? c : '?';
	}
	buf[4] = 0;
	return buf;
}
