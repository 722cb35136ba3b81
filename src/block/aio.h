/* block/aio.h — asynchronous requests on an open disk (block/disk.h): read, write, flush,
 * discard and write-zeroes with host iovecs and a completion callback.
 *
 * Two engines:
 *  - io_uring (liburing): raw images and host block devices. One ring per struct aio (per
 *    disk), shared by every submitter under a lock; a dedicated completion thread reaps CQEs.
 *    Short transfers are resubmitted for the rest, a read that hits EOF is completed with
 *    zeroes. Requests the ring cannot do well run on one helper worker thread through the
 *    synchronous disk_ops: discard and write-zeroes (fallocate plus the format's fallbacks) and,
 *    with DISK_O_DIRECT (cache=none), requests whose offset, length or buffers are not aligned
 *    to the disk's alignment (raw's aligned bounce buffer does those).
 *  - threads: a pool of worker threads that run the synchronous disk_ops (qcow2, the read-only
 *    foreign formats, and whenever io_uring is unavailable or not wanted). Formats other than
 *    raw and qcow2 are not known to be thread-safe: the pool has one worker for them.
 * AIO_ENGINE_AUTO picks io_uring for raw and falls back to threads when io_uring_queue_init
 * fails (seccomp, old kernel, io_uring_disabled); the environment variable KVMM_AIO=threads or
 * KVMM_AIO=io_uring overrides AUTO (tests and benchmarks use it).
 *
 * The block layer never sees guest memory: callers pass host iovecs, which must stay valid
 * until the request's done callback has been called.
 *
 * Threads: aio_submit and aio_kick from any thread (serialised internally); done callbacks run
 * on an aio thread (never inside aio_submit), one at a time per engine thread, with no aio lock
 * held, so a callback may take the caller's own locks (lock order: caller's lock -> aio
 * locks). aio_drain and aio_destroy must not be called from a done callback. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "base/compiler.h"

struct aio;
struct disk;

enum aio_engine {
	AIO_ENGINE_AUTO,
	AIO_ENGINE_IO_URING,
	AIO_ENGINE_THREADS,
};

enum aio_op {
	AIO_OP_READ,
	AIO_OP_WRITE,
	AIO_OP_FLUSH,	     /* completes after completed writes are durable (fdatasync) */
	AIO_OP_DISCARD,	     /* -ENOTSUP if the disk cannot */
	AIO_OP_WRITE_ZEROES, /* may_unmap allows deallocation */
};

struct aio_req {
	/* Filled in by the caller before aio_submit; not changed by aio. */
	enum aio_op op;
	const struct iovec *iov; /* READ/WRITE */
	unsigned iovcnt;
	uint64_t off;
	uint64_t len; /* DISCARD/WRITE_ZEROES: bytes (READ/WRITE use the iovec size) */
	bool may_unmap;
	/* Called exactly once per successful aio_submit, on an aio thread: res is 0 (the whole
	 * transfer was done) or -errno. The request may be freed or reused from the callback. */
	void (*done)(struct aio_req *r, int res);
	void *priv; /* for the caller */

	/* Private to aio.c. */
	struct aio_req *next;
	struct iovec *rest; /* remaining iovec after a short transfer (owned) */
	unsigned restcnt;
	uint64_t xfer;	  /* bytes transferred so far */
	unsigned handoff; /* release/acquire pair across the ring (io_uring) */
	uint64_t total;
};

struct aio_opts {
	enum aio_engine engine; /* AUTO (default) */
	unsigned depth;		/* io_uring entries, 0 = 256 */
	unsigned threads;	/* pool workers for the threads engine, 0 = 4 */
};

/* Start an engine for disk d (not owned; it must outlive the aio). o may be NULL. -EINVAL for
 * io_uring on a non-raw disk or a bad option, -ENOSYS/-EPERM/... when io_uring was asked for
 * explicitly and cannot be set up, -ENOMEM, -EAGAIN (threads). Set-up thread. */
int aio_create(struct disk *d, const struct aio_opts *o, struct aio **out) KVMM_MUST_CHECK;

/* Wait for every request in flight, stop the threads and free. NULL is a no-op. */
void aio_destroy(struct aio *a);

/* Queue a request. 0: r->done will be called once, later, on an aio thread. -EINVAL (bad
 * op), -EROFS (write to a read-only disk), -ENOMEM: not queued, done is not called. Range
 * checks are the caller's (disk_preadv's rules apply). A request may sit in the io_uring
 * submission queue until aio_kick. Any thread. */
int aio_submit(struct aio *a, struct aio_req *r) KVMM_MUST_CHECK;

/* Hand every queued request to the kernel (one io_uring_submit for a batch). Any thread. */
void aio_kick(struct aio *a);

/* Block until every submitted request's done callback has returned. Not from a callback. */
void aio_drain(struct aio *a);

/* The engine in use (never AUTO). */
enum aio_engine aio_engine(const struct aio *a);

/* "auto", "io_uring", "threads". */
const char *aio_engine_name(enum aio_engine e);
/* Parse an engine name; -EINVAL if unknown. */
int aio_engine_parse(const char *s, enum aio_engine *out) KVMM_MUST_CHECK;
