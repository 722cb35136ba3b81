/* block/aio.c — see aio.h. The worker pool (synchronous disk_ops on worker threads) and the
 * io_uring engine (one ring, a completion thread, the pool with one worker for slow or
 * misaligned requests). */
#include "block/aio.h"

#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/iovbuf.h"
#include "base/log.h"
#include "block/disk.h"

#define AIO_DEFAULT_DEPTH   256u
#define AIO_MAX_DEPTH	    4096u
#define AIO_DEFAULT_THREADS 4u
#define AIO_MAX_THREADS	    64u

struct aio_pool {
	pthread_mutex_t lock; /* the queue and stop */
	pthread_cond_t cond;
	struct aio_req *head, *tail;
	bool stop;
	unsigned nthreads;
	pthread_t *threads;
};

struct aio {
	struct disk *disk;
	enum aio_engine engine;
	struct aio_pool pool;

	pthread_mutex_t lock; /* inflight */
	pthread_cond_t idle;
	uint64_t inflight;

	/* io_uring engine only. */
	bool have_ring;
	struct io_uring ring;
	pthread_mutex_t sq_lock; /* the submission queue */
	pthread_t reaper;
	bool reaper_started;
};

static void aio_finish(struct aio *a, struct aio_req *r, int res)
{
	free(r->rest);
	r->rest = NULL;
	r->done(r, res); /* may free r */
	pthread_mutex_lock(&a->lock);
	if (--a->inflight == 0)
		pthread_cond_broadcast(&a->idle);
	pthread_mutex_unlock(&a->lock);
}

/* ---- the worker pool ---- */

static int aio_run_sync(struct disk *d, struct aio_req *r)
{
	switch (r->op) {
	case AIO_OP_READ:
		return disk_preadv(d, r->iov, r->iovcnt, r->off);
	case AIO_OP_WRITE:
		return disk_pwritev(d, r->iov, r->iovcnt, r->off);
	case AIO_OP_FLUSH:
		return disk_flush(d);
	case AIO_OP_DISCARD:
		return disk_discard(d, r->off, r->len);
	case AIO_OP_WRITE_ZEROES:
		return disk_write_zeroes(d, r->off, r->len, r->may_unmap);
	}
	return -EINVAL;
}

static void *aio_pool_worker(void *arg)
{
	struct aio *a = arg;
	struct aio_pool *p = &a->pool;
	struct aio_req *r;

	for (;;) {
		pthread_mutex_lock(&p->lock);
		while (!p->head && !p->stop)
			pthread_cond_wait(&p->cond, &p->lock);
		r = p->head;
		if (!r) { /* stop, and the queue is empty */
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		p->head = r->next;
		if (!p->head)
			p->tail = NULL;
		pthread_mutex_unlock(&p->lock);
		aio_finish(a, r, aio_run_sync(a->disk, r));
	}
}

static void aio_pool_push(struct aio_pool *p, struct aio_req *r)
{
	r->next = NULL;
	pthread_mutex_lock(&p->lock);
	if (p->tail)
		p->tail->next = r;
	else
		p->head = r;
	p->tail = r;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

static void aio_pool_stop(struct aio_pool *p)
{
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	p->nthreads = 0;
	free(p->threads);
	p->threads = NULL;
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
}

static int aio_pool_start(struct aio *a, unsigned n)
{
	struct aio_pool *p = &a->pool;
	int err;

	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	p->threads = calloc(n, sizeof(*p->threads));
	if (!p->threads) {
		aio_pool_stop(p);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < n; i++) {
		err = pthread_create(&p->threads[i], NULL, aio_pool_worker, a);
		if (err) {
			aio_pool_stop(p);
			return -err;
		}
		p->nthreads++;
	}
	return 0;
}

/* ---- the io_uring engine ---- */

/* Needs the pool: discard/write-zeroes, and misaligned transfers under O_DIRECT. */
static bool aio_uring_needs_pool(const struct disk *d, const struct aio_req *r)
{
	if (r->op == AIO_OP_DISCARD || r->op == AIO_OP_WRITE_ZEROES)
		return true;
	if (r->op == AIO_OP_FLUSH || d->align <= 1)
		return false;
	if (r->off % d->align)
		return true;
	for (unsigned i = 0; i < r->iovcnt; i++)
		if ((uintptr_t)r->iov[i].iov_base % d->align || r->iov[i].iov_len % d->align)
			return true;
	return false;
}

/* Fill an SQE for r's remaining work. Caller holds sq_lock. */
static void aio_uring_prep(struct aio *a, struct io_uring_sqe *sqe, struct aio_req *r)
{
	const struct iovec *iov = r->rest ? r->rest : r->iov;
	unsigned cnt = r->rest ? r->restcnt : r->iovcnt;
	int fd = a->disk->fd;

	switch (r->op) {
	case AIO_OP_READ:
		io_uring_prep_readv(sqe, fd, iov, cnt, r->off + r->xfer);
		break;
	case AIO_OP_WRITE:
		io_uring_prep_writev(sqe, fd, iov, cnt, r->off + r->xfer);
		break;
	case AIO_OP_FLUSH:
		if (a->disk->flags & DISK_O_UNSAFE)
			io_uring_prep_nop(sqe);
		else
			io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
		break;
	case AIO_OP_DISCARD:
	case AIO_OP_WRITE_ZEROES:
		io_uring_prep_nop(sqe); /* never: these go to the pool */
		break;
	}
	io_uring_sqe_set_data(sqe, r);
}

/* Put r (new or partly done) on the ring; submits when the SQ is full. */
static void aio_uring_queue(struct aio *a, struct aio_req *r, bool submit)
{
	struct io_uring_sqe *sqe;

	pthread_mutex_lock(&a->sq_lock);
	while (!(sqe = io_uring_get_sqe(&a->ring)))
		io_uring_submit(&a->ring); /* the SQ is full: hand it to the kernel */
	aio_uring_prep(a, sqe, r);
	/* Last access to r before the kernel sees it. Pairs with the acquire in the reaper: the
	 * kernel orders the rings, but the compiler and TSan only see C atomics. */
	__atomic_store_n(&r->handoff, 1, __ATOMIC_RELEASE);
	if (submit)
		io_uring_submit(&a->ring);
	pthread_mutex_unlock(&a->sq_lock);
}

/* After a short transfer: make r->rest the part of r->iov past r->xfer. -ENOMEM. */
static int aio_advance(struct aio_req *r)
{
	struct iovec *n = malloc(sizeof(*n) * (r->iovcnt ? r->iovcnt : 1));
	uint64_t skip = r->xfer;
	unsigned k = 0;

	if (!n)
		return -ENOMEM;
	for (unsigned i = 0; i < r->iovcnt; i++) {
		if (skip >= r->iov[i].iov_len) {
			skip -= r->iov[i].iov_len;
			continue;
		}
		n[k].iov_base = (char *)r->iov[i].iov_base + skip;
		n[k].iov_len = r->iov[i].iov_len - (size_t)skip;
		skip = 0;
		k++;
	}
	free(r->rest);
	r->rest = n;
	r->restcnt = k;
	return 0;
}

/* One CQE for r. Returns true when r is finished (*res set), false when it was requeued. */
static bool aio_uring_complete(struct aio *a, struct aio_req *r, int cres, int *res)
{
	if (r->op != AIO_OP_READ && r->op != AIO_OP_WRITE) {
		*res = cres < 0 ? cres : 0;
		return true;
	}
	if (cres == -EINTR || cres == -EAGAIN) {
		aio_uring_queue(a, r, true); /* retry the same remainder */
		return false;
	}
	if (cres < 0) {
		*res = cres;
		return true;
	}
	if (cres == 0 && r->op == AIO_OP_READ && r->xfer < r->total) {
		/* EOF: the rest reads as zeroes (as disk_file_preadv does) */
		static const uint8_t zero[4096];

		for (uint64_t o = r->xfer; o < r->total;) {
			size_t n = (size_t)KVMM_MIN(r->total - o, (uint64_t)sizeof(zero));

			iov_from_buf(r->iov, r->iovcnt, (size_t)o, zero, n);
			o += n;
		}
		*res = 0;
		return true;
	}
	if (cres == 0 && r->op == AIO_OP_WRITE && r->xfer < r->total) {
		*res = -EIO; /* a write that makes no progress */
		return true;
	}
	r->xfer += (uint64_t)cres;
	if (r->xfer >= r->total) {
		*res = 0;
		return true;
	}
	*res = aio_advance(r);
	if (*res)
		return true;
	aio_uring_queue(a, r, true);
	return false;
}

static void *aio_uring_reaper(void *arg)
{
	struct aio *a = arg;
	struct io_uring_cqe *cqe;
	struct aio_req *r;
	int err, res, cres;

	for (;;) {
		err = io_uring_wait_cqe(&a->ring, &cqe);
		if (err == -EINTR || err == -EAGAIN)
			continue;
		if (err) {
			log_err("aio: io_uring_wait_cqe failed: %s", strerror(-err));
			return NULL; /* cannot happen with a valid ring */
		}
		r = io_uring_cqe_get_data(cqe);
		cres = cqe->res;
		io_uring_cqe_seen(&a->ring, cqe);
		if (!r) /* the stop NOP from aio_destroy */
			return NULL;
		(void)__atomic_load_n(&r->handoff, __ATOMIC_ACQUIRE); /* see aio_uring_queue */
		if (aio_uring_complete(a, r, cres, &res))
			aio_finish(a, r, res);
	}
}

static int aio_uring_start(struct aio *a, unsigned depth)
{
	int err = io_uring_queue_init(depth, &a->ring, 0);

	if (err)
		return err;
	a->have_ring = true;
	pthread_mutex_init(&a->sq_lock, NULL);
	err = pthread_create(&a->reaper, NULL, aio_uring_reaper, a);
	if (err)
		return -err;
	a->reaper_started = true;
	return 0;
}

static void aio_uring_stop(struct aio *a)
{
	if (a->reaper_started) {
		struct io_uring_sqe *sqe;

		pthread_mutex_lock(&a->sq_lock);
		while (!(sqe = io_uring_get_sqe(&a->ring)))
			io_uring_submit(&a->ring);
		io_uring_prep_nop(sqe);
		io_uring_sqe_set_data(sqe, NULL);
		io_uring_submit(&a->ring);
		pthread_mutex_unlock(&a->sq_lock);
		pthread_join(a->reaper, NULL);
	}
	if (a->have_ring) {
		io_uring_queue_exit(&a->ring);
		pthread_mutex_destroy(&a->sq_lock);
	}
}

/* ---- common ---- */

const char *aio_engine_name(enum aio_engine e)
{
	switch (e) {
	case AIO_ENGINE_AUTO:
		return "auto";
	case AIO_ENGINE_IO_URING:
		return "io_uring";
	case AIO_ENGINE_THREADS:
		return "threads";
	}
	return "?";
}

int aio_engine_parse(const char *s, enum aio_engine *out)
{
	static const enum aio_engine all[] = {AIO_ENGINE_AUTO, AIO_ENGINE_IO_URING,
					      AIO_ENGINE_THREADS};

	for (unsigned i = 0; s && i < ARRAY_SIZE(all); i++) {
		if (!strcmp(s, aio_engine_name(all[i]))) {
			*out = all[i];
			return 0;
		}
	}
	return -EINVAL;
}

enum aio_engine aio_engine(const struct aio *a)
{
	return a->engine;
}

static bool aio_format_is_threadsafe(const struct disk *d)
{
	const char *f = disk_format(d);

	return !strcmp(f, "raw") || !strcmp(f, "qcow2");
}

/* AUTO: the environment, then io_uring for raw. */
static enum aio_engine aio_choose(const struct disk *d, enum aio_engine want, bool *fallback)
{
	const char *env = getenv("KVMM_AIO");
	enum aio_engine e;

	*fallback = false;
	if (want != AIO_ENGINE_AUTO)
		return want;
	if (env && !aio_engine_parse(env, &e) && e != AIO_ENGINE_AUTO)
		return e;
	*fallback = true;
	return strcmp(disk_format(d), "raw") ? AIO_ENGINE_THREADS : AIO_ENGINE_IO_URING;
}

static int aio_start(struct aio *a, const struct aio_opts *o, bool fallback)
{
	unsigned depth = o->depth ? o->depth : AIO_DEFAULT_DEPTH;
	unsigned n = o->threads ? o->threads : AIO_DEFAULT_THREADS;
	int err;

	if (depth > AIO_MAX_DEPTH || n > AIO_MAX_THREADS)
		return -EINVAL;
	if (a->engine == AIO_ENGINE_IO_URING) {
		if (strcmp(disk_format(a->disk), "raw"))
			return -EINVAL;
		err = aio_uring_start(a, depth);
		if (!err)
			return aio_pool_start(a, 1);
		aio_uring_stop(a);
		a->have_ring = a->reaper_started = false;
		if (!fallback)
			return err;
		log_info("aio: io_uring unavailable (%s): using worker threads", strerror(-err));
		a->engine = AIO_ENGINE_THREADS;
	}
	if (!aio_format_is_threadsafe(a->disk))
		n = 1;
	return aio_pool_start(a, n);
}

int aio_create(struct disk *d, const struct aio_opts *o, struct aio **out)
{
	static const struct aio_opts defaults;
	struct aio *a;
	bool fallback;
	int err;

	if (!d || !out)
		return -EINVAL;
	if (!o)
		o = &defaults;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->disk = d;
	a->engine = aio_choose(d, o->engine, &fallback);
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->idle, NULL);
	err = aio_start(a, o, fallback);
	if (err)
		goto err_free;
	*out = a;
	return 0;

err_free:
	aio_uring_stop(a);
	pthread_cond_destroy(&a->idle);
	pthread_mutex_destroy(&a->lock);
	free(a);
	return err;
}

void aio_drain(struct aio *a)
{
	pthread_mutex_lock(&a->lock);
	while (a->inflight)
		pthread_cond_wait(&a->idle, &a->lock);
	pthread_mutex_unlock(&a->lock);
}

void aio_destroy(struct aio *a)
{
	if (!a)
		return;
	aio_kick(a);
	aio_drain(a);
	aio_uring_stop(a);
	aio_pool_stop(&a->pool);
	pthread_cond_destroy(&a->idle);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

static int aio_check(const struct aio *a, struct aio_req *r)
{
	switch (r->op) {
	case AIO_OP_READ:
		r->total = iov_size(r->iov, r->iovcnt);
		return 0;
	case AIO_OP_WRITE:
	case AIO_OP_DISCARD:
	case AIO_OP_WRITE_ZEROES:
		r->total = r->op == AIO_OP_WRITE ? iov_size(r->iov, r->iovcnt) : r->len;
		return disk_is_readonly(a->disk) ? -EROFS : 0;
	case AIO_OP_FLUSH:
		r->total = 0;
		return 0;
	}
	return -EINVAL;
}

int aio_submit(struct aio *a, struct aio_req *r)
{
	int err = aio_check(a, r);

	if (err)
		return err;
	if (!r->done)
		return -EINVAL;
	r->rest = NULL;
	r->restcnt = 0;
	r->xfer = 0;
	pthread_mutex_lock(&a->lock);
	a->inflight++;
	pthread_mutex_unlock(&a->lock);
	if (a->engine == AIO_ENGINE_IO_URING && !aio_uring_needs_pool(a->disk, r) &&
	    !((r->op == AIO_OP_READ || r->op == AIO_OP_WRITE) && r->total == 0))
		aio_uring_queue(a, r, false);
	else
		aio_pool_push(&a->pool, r);
	return 0;
}

void aio_kick(struct aio *a)
{
	if (a->engine != AIO_ENGINE_IO_URING)
		return;
	pthread_mutex_lock(&a->sq_lock);
	io_uring_submit(&a->ring);
	pthread_mutex_unlock(&a->sq_lock);
}
