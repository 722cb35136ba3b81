/* block/formats.h — the table of image formats disk_open() can probe and open.
 *
 * Each format defines one `const struct disk_format disk_format_<name>` and disk.c lists it in
 * its probe table. Foreign (read-only) readers in block/foreign/ add their extern declaration
 * below the marked line and one entry in the marked place in disk.c. Immutable; any thread. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct disk;
struct disk_open_opts;

/* Bytes of the file start passed to probe (fewer if the file is shorter). */
#define DISK_PROBE_BYTES 4096

struct disk_format {
	const char *name;
	/* Confidence that buf (the first len bytes of the file, len ≤ DISK_PROBE_BYTES) is this
	 * format: 0 = no, 100 = magic matched. NULL = never probed (raw is the fallback). */
	int (*probe)(const uint8_t *buf, size_t len);
	/* Open: fd is already open (O_RDWR unless DISK_O_RDONLY, O_DIRECT if asked). On success the
	 * disk owns fd (disk_close() closes it); on failure the caller closes it. */
	int (*open)(int fd, const char *path, const struct disk_open_opts *o, struct disk **out);
};

extern const struct disk_format disk_format_raw;
extern const struct disk_format disk_format_qcow2;
/* ---- foreign read-only formats (block/foreign/, owned by the img engineer) go below ---- */
extern const struct disk_format disk_format_vmdk;
extern const struct disk_format disk_format_vdi;
extern const struct disk_format disk_format_vpc;
extern const struct disk_format disk_format_vhdx;
