/* block/qcow2/format.h — qcow2 on-disk layout (QEMU docs/interop/qcow2.txt): big-endian header,
 * extensions, L1/L2 entry bits, snapshot table entries. Pure definitions; any thread. */
#pragma once

#include <stdint.h>

#include "base/compiler.h"

#define QCOW2_MAGIC		 0x514649fbu /* "QFI\xfb" */
#define QCOW2_MIN_CLUSTER_BITS	 9
#define QCOW2_MAX_CLUSTER_BITS	 21
#define QCOW2_V2_HEADER_LEN	 72
#define QCOW2_V3_HEADER_LEN	 104 /* minimum for version 3 */
#define QCOW2_V3_HEADER_LEN_CT	 112 /* with compression_type, padded to 8 */
#define QCOW2_MAX_BACKING_NAME	 1023
#define QCOW2_MAX_L1_BYTES	 (32u << 20) /* as QEMU: QCOW_MAX_L1_SIZE */
#define QCOW2_MAX_REFTABLE_BYTES (8u << 20)  /* as QEMU: QCOW_MAX_REFTABLE_SIZE */
#define QCOW2_MAX_SNAPSHOTS	 65536
#define QCOW2_MAX_SNAPSHOT_EXTRA 1024
#define QCOW2_MAX_SNAPSHOT_TABLE (64u << 20)

/* Incompatible feature bits. */
#define QCOW2_INCOMPAT_DIRTY	   (1ull << 0)
#define QCOW2_INCOMPAT_CORRUPT	   (1ull << 1)
#define QCOW2_INCOMPAT_DATA_FILE   (1ull << 2)
#define QCOW2_INCOMPAT_COMPRESSION (1ull << 3)
#define QCOW2_INCOMPAT_EXTL2	   (1ull << 4)
#define QCOW2_INCOMPAT_SUPPORTED                                                                   \
	(QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT | QCOW2_INCOMPAT_COMPRESSION |              \
	 QCOW2_INCOMPAT_EXTL2)
/* Compatible feature bits. */
#define QCOW2_COMPAT_LAZY_REFCOUNTS (1ull << 0)

/* Header extension types. */
#define QCOW2_EXT_END		 0x00000000u
#define QCOW2_EXT_BACKING_FORMAT 0xe2792acau
#define QCOW2_EXT_FEATURE_TABLE	 0x6803f857u
#define QCOW2_EXT_BITMAPS	 0x23852875u
#define QCOW2_EXT_CRYPTO	 0x0537be77u
#define QCOW2_EXT_DATA_FILE	 0x44415441u

/* L1 / L2 entry bits. */
#define QCOW2_OFLAG_COPIED     (1ull << 63)
#define QCOW2_OFLAG_COMPRESSED (1ull << 62)
#define QCOW2_OFLAG_ZERO       (1ull << 0)
#define QCOW2_L1E_OFFSET_MASK  0x00fffffffffffe00ull
#define QCOW2_L2E_OFFSET_MASK  0x00fffffffffffe00ull
#define QCOW2_L1E_RESERVED     0x7f000000000001ffull
#define QCOW2_REFT_OFFSET_MASK 0xfffffffffffffe00ull

/* Extended L2: 32 subclusters per cluster; bitmap low half = allocated, high half = zero. */
#define QCOW2_SUBCLUSTERS 32

struct qcow2_header_be {
	uint32_t magic;
	uint32_t version;
	uint64_t backing_file_offset;
	uint32_t backing_file_size;
	uint32_t cluster_bits;
	uint64_t size;
	uint32_t crypt_method;
	uint32_t l1_size;
	uint64_t l1_table_offset;
	uint64_t refcount_table_offset;
	uint32_t refcount_table_clusters;
	uint32_t nb_snapshots;
	uint64_t snapshots_offset;
	/* version 3 */
	uint64_t incompatible_features;
	uint64_t compatible_features;
	uint64_t autoclear_features;
	uint32_t refcount_order;
	uint32_t header_length;
	/* header_length > 104 */
	uint8_t compression_type;
	uint8_t padding[7];
} KVMM_PACKED;
_Static_assert(sizeof(struct qcow2_header_be) == 112, "qcow2 header");

struct qcow2_ext_hdr_be {
	uint32_t type;
	uint32_t len;
} KVMM_PACKED;
_Static_assert(sizeof(struct qcow2_ext_hdr_be) == 8, "qcow2 extension header");

/* Feature name table entry. */
struct qcow2_feature_name {
	uint8_t type; /* 0 incompatible, 1 compatible, 2 autoclear */
	uint8_t bit;
	char name[46];
} KVMM_PACKED;
_Static_assert(sizeof(struct qcow2_feature_name) == 48, "qcow2 feature name");

struct qcow2_snapshot_hdr_be {
	uint64_t l1_table_offset;
	uint32_t l1_size;
	uint16_t id_str_size;
	uint16_t name_size;
	uint32_t date_sec;
	uint32_t date_nsec;
	uint64_t vm_clock_nsec;
	uint32_t vm_state_size;
	uint32_t extra_data_size;
} KVMM_PACKED;
_Static_assert(sizeof(struct qcow2_snapshot_hdr_be) == 40, "qcow2 snapshot header");

struct qcow2_snapshot_extra_be {
	uint64_t vm_state_size_large;
	uint64_t disk_size;
	uint64_t icount;
} KVMM_PACKED;
_Static_assert(sizeof(struct qcow2_snapshot_extra_be) == 24, "qcow2 snapshot extra");
