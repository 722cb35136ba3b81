/* arch/x86/aml.h — a small, bounded ACPI Machine Language (AML) byte-code emitter.
 *
 * The emitter writes into a caller-owned buffer and never writes past its capacity. Errors are
 * sticky: the first failure (-ENOSPC when the buffer is full, -EINVAL for a malformed name or
 * value) is remembered in the builder, every later call becomes a no-op, and aml_finish() reports
 * it. So a table can be emitted without checking each call and checked once at the end.
 *
 * Nested objects (Scope, Device, Method, Package, Buffer/ResourceTemplate) are opened with an
 * aml_*_begin() call that returns a marker and closed with aml_end()/aml_buffer_end(), which
 * inserts the PkgLength (1-4 bytes) in front of the body.
 *
 * Pure functions on caller memory; any thread, one builder per thread. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"

struct aml {
	uint8_t *buf;
	size_t cap;
	size_t len;
	int err;
};

/* Start an empty builder over buf[0, cap). */
void aml_init(struct aml *a, void *buf, size_t cap);

/* The sticky error (0 or -errno) and the number of bytes emitted so far. */
int aml_finish(const struct aml *a, size_t *len) KVMM_MUST_CHECK;

/* Raw bytes (used by the resource-descriptor helpers and the tests). */
void aml_bytes(struct aml *a, const void *p, size_t n);
void aml_byte(struct aml *a, uint8_t b);

/* PkgLength encoding of a package whose body (everything after the PkgLength) is body_len
 * bytes. Writes 1-4 bytes into out[4]; returns the count, or 0 if the length does not fit in
 * 28 bits. Pure. */
unsigned aml_pkglen_encode(size_t body_len, uint8_t out[4]);

/* A NameString: "ABCD", "_SB_", "\\_SB.PCI0", "^FOO". Segments shorter than four characters
 * are padded with '_'. Each segment is [A-Z_][A-Z0-9_]{0,3}; -EINVAL otherwise. */
void aml_namestring(struct aml *a, const char *name);

/* Integer data objects with the smallest encoding: Zero, One, Ones (all 64 bits set),
 * BytePrefix, WordPrefix, DWordPrefix or QWordPrefix. */
void aml_integer(struct aml *a, uint64_t v);
/* String data object (ASCII 0x01-0x7f, NUL-terminated). */
void aml_string(struct aml *a, const char *s);
/* A compressed EISA ID ("PNP0501") as a DWord integer; -EINVAL for a malformed ID. */
void aml_eisaid(struct aml *a, const char *id);

/* Name(name, <object>): emits NameOp and the name; the caller emits exactly one data object. */
void aml_name(struct aml *a, const char *name);
void aml_name_integer(struct aml *a, const char *name, uint64_t v);
void aml_name_string(struct aml *a, const char *name, const char *s);
void aml_name_eisaid(struct aml *a, const char *name, const char *id);

/* Containers. Each returns a marker for aml_end(); emit the body in between. */
size_t aml_scope_begin(struct aml *a, const char *name);
size_t aml_device_begin(struct aml *a, const char *name);
size_t aml_method_begin(struct aml *a, const char *name, unsigned nargs, int serialized);
size_t aml_package_begin(struct aml *a, uint8_t nelems);
/* Close Scope/Device/Method/Package: insert the PkgLength at the marker. */
void aml_end(struct aml *a, size_t marker);

/* Return(<object>): emits ReturnOp; the caller emits the object. */
void aml_return(struct aml *a);

/* Buffer(){bytes} and ResourceTemplate(){descriptors}. aml_buffer_end() inserts PkgLength and
 * the BufferSize integer; aml_rt_end() first appends the End Tag (checksum 0). */
size_t aml_buffer_begin(struct aml *a);
void aml_buffer_end(struct aml *a, size_t marker);
#define aml_rt_begin(a) aml_buffer_begin(a)
void aml_rt_end(struct aml *a, size_t marker);

/* Resource descriptors (inside a ResourceTemplate). */
/* IO(Decode16, min, max, align, len). */
void aml_rd_io(struct aml *a, uint16_t min, uint16_t max, uint8_t align, uint8_t len);
/* IRQNoFlags(){irq}: ISA IRQ 0-15 (edge, active high); -EINVAL above 15. */
void aml_rd_irq_noflags(struct aml *a, unsigned irq);
/* Interrupt(ResourceConsumer, Level|Edge, ActiveHigh|ActiveLow, Exclusive){gsi}. */
void aml_rd_interrupt(struct aml *a, uint32_t gsi, int edge, int active_low);
/* Memory32Fixed(ReadWrite|ReadOnly, base, len). */
void aml_rd_memory32_fixed(struct aml *a, uint32_t base, uint32_t len, int rw);

/* Address space descriptors, all ResourceProducer, PosDecode, MinFixed, MaxFixed;
 * len = max - min + 1 (-EINVAL if max < min). */
void aml_rd_word_bus_number(struct aml *a, uint16_t min, uint16_t max);
/* WordIO(..., EntireRange, ...). */
void aml_rd_word_io(struct aml *a, uint16_t min, uint16_t max);
/* DWordMemory(..., NonCacheable, ReadWrite, ...). */
void aml_rd_dword_memory(struct aml *a, uint32_t min, uint32_t max);
/* QWordMemory(..., NonCacheable, ReadWrite, ...). */
void aml_rd_qword_memory(struct aml *a, uint64_t min, uint64_t max);
