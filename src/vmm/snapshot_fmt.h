/* vmm/snapshot_fmt.h — the snapshot state file: a pure serialisation layer (no KVM, no VM),
 * driven by unit tests and a fuzz target.
 *
 * A state file is a 32-byte header followed by sections:
 *   header  : magic "KVMMSNAP", u32 version, u32 flags (0), u64 payload length,
 *             u32 CRC-32 (zlib) over the header with this field zero and the payload,
 *             u32 reserved (0)
 *   section : u32 tag (four ASCII bytes, SNAP_TAG), u32 instance, u32 length, u32 reserved,
 *             then `length` bytes, padded with zeros to a multiple of 8
 * Integers are little-endian (kvmm is x86-64 only; section bodies are the host's fixed-width
 * state structs and KVM's ABI structs). A reader checks magic, version, length, checksum and
 * that every section lies inside the payload before any section is handed out, so a
 * truncated, corrupt or foreign file is refused as a whole.
 *
 * Not thread-safe; one writer or reader per thread. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"

#define SNAP_MAGIC	 "KVMMSNAP"
#define SNAP_VERSION	 2
#define SNAP_HEADER_SIZE 32
#define SNAP_SECTION_HDR 16
#define SNAP_MAX_SECTION (64u << 20) /* one section's body */
#define SNAP_TAG(a, b, c, d)                                                                       \
	((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)

struct snap_writer {
	uint8_t *buf;
	size_t len, cap;
	int err; /* sticky: the first failure of snap_put */
};

void snap_writer_init(struct snap_writer *w);
void snap_writer_fini(struct snap_writer *w);
/* Append a section. Errors (-ENOMEM, -E2BIG) are kept in w->err and returned by finish. */
void snap_put(struct snap_writer *w, uint32_t tag, uint32_t inst, const void *data, size_t len);
/* Fill in the header; on success *buf and *len are the whole file (owned by w). */
int snap_writer_finish(struct snap_writer *w, const uint8_t **buf, size_t *len) KVMM_MUST_CHECK;

struct snap_reader {
	const uint8_t *p; /* the whole file, validated */
	size_t len;
};

/* Validate a whole state file held in memory. -EINVAL (not a snapshot, truncated, bad
 * section), -EBADMSG (checksum), -EPROTONOSUPPORT (other version), with one line in err. */
int snap_reader_open(struct snap_reader *r, const void *buf, size_t len, char *err,
		     size_t errlen) KVMM_MUST_CHECK;
/* Find section (tag, inst). 0 with *data and *len set, or -ENOENT. */
int snap_get(const struct snap_reader *r, uint32_t tag, uint32_t inst, const void **data,
	     size_t *len) KVMM_MUST_CHECK;
/* Copy section (tag, inst) whose length must be exactly len: -ENOENT, -EINVAL. */
int snap_get_exact(const struct snap_reader *r, uint32_t tag, uint32_t inst, void *dst,
		   size_t len) KVMM_MUST_CHECK;
/* "cpur" for a tag, for messages (buf of at least 5 bytes; non-printable bytes as '?'). */
const char *snap_tag_name(uint32_t tag, char buf[static 5]);
