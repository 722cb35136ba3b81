/* Unit tests for block/aio on temp files, each run with both engines (io_uring, threads):
 * vectored read/write checked from the host side, flush, discard and write-zeroes, a read that
 * hits EOF after the file shrank, error propagation (EBADF), read-only, many requests in
 * flight, destroy with requests in flight (drain), O_DIRECT aligned and misaligned (bounce),
 * qcow2 through the pool, engine selection (names, KVMM_AIO, io_uring refused for qcow2), and
 * the fallback to threads when io_uring_setup fails (a seccomp filter in a child process). */
#include "lib/harness.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "block/aio.h"
#include "block/disk.h"
#include "block/qcow2.h"

#define FILE_BYTES (1u << 20)
#define MANY	   200u

struct waiter {
	pthread_mutex_t lock;
	unsigned done;
	int res[MANY];
	pthread_t thread[MANY];
};

struct fixture {
	enum aio_engine engine;
	char path[64];
	int fd; /* host-side view */
	struct disk *disk;
	struct aio *aio;
	struct waiter w;
	struct aio_req req[MANY];
};

static void on_done(struct aio_req *r, int res)
{
	struct fixture *f = r->priv;
	unsigned i = (unsigned)(r - f->req);

	pthread_mutex_lock(&f->w.lock);
	f->w.res[i] = res;
	f->w.thread[i] = pthread_self();
	f->w.done++;
	pthread_mutex_unlock(&f->w.lock);
}

static uint8_t pattern(uint64_t off)
{
	return (uint8_t)(off * 13 + off / 4096 + 5);
}

static void fixture_open(struct fixture *f, unsigned flags)
{
	struct disk_open_opts o = {.format = "raw", .flags = flags};
	struct aio_opts ao = {.engine = f->engine};

	assert_int_equal(disk_open(f->path, &o, &f->disk), 0);
	assert_int_equal(aio_create(f->disk, &ao, &f->aio), 0);
	assert_int_equal(aio_engine(f->aio), f->engine);
}

static struct fixture *make(enum aio_engine e, unsigned flags)
{
	struct fixture *f = calloc(1, sizeof(*f));
	static uint8_t buf[FILE_BYTES];

	assert_non_null(f);
	f->engine = e;
	pthread_mutex_init(&f->w.lock, NULL);
	strcpy(f->path, "/tmp/kvmm-test-aio.XXXXXX");
	f->fd = mkstemp(f->path);
	assert_true(f->fd >= 0);
	for (uint64_t i = 0; i < FILE_BYTES; i++)
		buf[i] = pattern(i);
	assert_int_equal(pwrite(f->fd, buf, FILE_BYTES, 0), (ssize_t)FILE_BYTES);
	fixture_open(f, flags);
	return f;
}

static int setup_uring(void **state)
{
	*state = make(AIO_ENGINE_IO_URING, 0);
	return 0;
}

static int setup_threads(void **state)
{
	*state = make(AIO_ENGINE_THREADS, 0);
	return 0;
}

static int setup_uring_direct(void **state)
{
	*state = make(AIO_ENGINE_IO_URING, DISK_O_DIRECT);
	return 0;
}

static int setup_threads_direct(void **state)
{
	*state = make(AIO_ENGINE_THREADS, DISK_O_DIRECT);
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	aio_destroy(f->aio);
	disk_close(f->disk);
	close(f->fd);
	unlink(f->path);
	pthread_mutex_destroy(&f->w.lock);
	free(f);
	return 0;
}

static struct aio_req *req(struct fixture *f, unsigned i, enum aio_op op, const struct iovec *iov,
			   unsigned cnt, uint64_t off)
{
	struct aio_req *r = &f->req[i];

	*r = (struct aio_req){
	    .op = op, .iov = iov, .iovcnt = cnt, .off = off, .done = on_done, .priv = f};
	f->w.res[i] = 1; /* not done */
	return r;
}

/* Submit f->req[0], kick, drain; return its result. The callback ran on another thread. */
static int run1(struct fixture *f)
{
	unsigned before = f->w.done;

	assert_int_equal(aio_submit(f->aio, &f->req[0]), 0);
	aio_kick(f->aio);
	aio_drain(f->aio);
	assert_int_equal(f->w.done, before + 1);
	assert_false(pthread_equal(f->w.thread[0], pthread_self()));
	return f->w.res[0];
}

static void assert_file(struct fixture *f, uint64_t off, const uint8_t *want, size_t len)
{
	uint8_t *p = malloc(len);

	assert_non_null(p);
	assert_int_equal(pread(f->fd, p, len, (off_t)off), (ssize_t)len);
	assert_memory_equal(p, want, len);
	free(p);
}

static void test_read_write_flush(void **state)
{
	struct fixture *f = *state;
	uint8_t a[4096], b[8192], got[12288];
	struct iovec v[2] = {{a, sizeof(a)}, {b, sizeof(b)}}, g = {got, sizeof(got)};

	memset(a, 0xa1, sizeof(a));
	memset(b, 0xb2, sizeof(b));
	req(f, 0, AIO_OP_WRITE, v, 2, 65536);
	assert_int_equal(run1(f), 0);
	assert_file(f, 65536, a, sizeof(a));
	assert_file(f, 65536 + 4096, b, sizeof(b));
	req(f, 0, AIO_OP_READ, &g, 1, 65536 - 4096 + 4096);
	assert_int_equal(run1(f), 0);
	assert_memory_equal(got, a, sizeof(a));
	assert_memory_equal(got + 4096, b, sizeof(b));
	/* an unaligned offset and an odd length (page cache) */
	req(f, 0, AIO_OP_READ, &(struct iovec){got, 777}, 1, 1234);
	assert_int_equal(run1(f), 0);
	for (unsigned i = 0; i < 777; i++)
		assert_int_equal(got[i], pattern(1234 + i));
	req(f, 0, AIO_OP_FLUSH, NULL, 0, 0);
	assert_int_equal(run1(f), 0);
	/* zero-length transfers complete */
	req(f, 0, AIO_OP_READ, NULL, 0, 0);
	assert_int_equal(run1(f), 0);
}

static void test_discard_write_zeroes(void **state)
{
	struct fixture *f = *state;
	static const uint8_t zero[65536];

	req(f, 0, AIO_OP_DISCARD, NULL, 0, 131072);
	f->req[0].len = 65536;
	assert_int_equal(run1(f), 0);
	assert_file(f, 131072, zero, sizeof(zero));
	req(f, 0, AIO_OP_WRITE_ZEROES, NULL, 0, 262144);
	f->req[0].len = 8192;
	assert_int_equal(run1(f), 0);
	assert_file(f, 262144, zero, 8192);
	req(f, 0, AIO_OP_WRITE_ZEROES, NULL, 0, 300000);
	f->req[0].len = 5000;
	f->req[0].may_unmap = true;
	assert_int_equal(run1(f), 0);
	assert_file(f, 300000, zero, 5000);
}

/* The file shrinks under the open disk: the part past the new EOF reads as zeroes. */
static void test_short_read_eof(void **state)
{
	struct fixture *f = *state;
	uint8_t got[16384];
	struct iovec v[2] = {{got, 4096}, {got + 4096, 12288}};

	assert_int_equal(ftruncate(f->fd, FILE_BYTES - 8192), 0);
	memset(got, 0x77, sizeof(got));
	req(f, 0, AIO_OP_READ, v, 2, FILE_BYTES - 16384);
	assert_int_equal(run1(f), 0);
	for (unsigned i = 0; i < 8192; i++)
		assert_int_equal(got[i], pattern(FILE_BYTES - 16384 + i));
	for (unsigned i = 8192; i < sizeof(got); i++)
		assert_int_equal(got[i], 0);
}

static void test_error_propagation(void **state)
{
	struct fixture *f = *state;
	uint8_t a[4096];
	struct iovec v = {a, sizeof(a)};
	int ro = open(f->path, O_RDONLY);

	/* the disk's fd becomes read-only: writes fail with EBADF, reads still work */
	assert_true(ro >= 0);
	assert_int_equal(dup2(ro, f->disk->fd), f->disk->fd);
	close(ro);
	memset(a, 0x5a, sizeof(a));
	req(f, 0, AIO_OP_WRITE, &v, 1, 0);
	assert_int_equal(run1(f), -EBADF);
	req(f, 0, AIO_OP_READ, &v, 1, 4096);
	assert_int_equal(run1(f), 0);
	assert_int_equal(a[0], pattern(4096));
	/* bad requests are refused at submit and never call done */
	req(f, 0, AIO_OP_WRITE, &v, 1, 0);
	f->req[0].done = NULL;
	assert_int_equal(aio_submit(f->aio, &f->req[0]), -EINVAL);
	req(f, 0, (enum aio_op)99, &v, 1, 0);
	assert_int_equal(aio_submit(f->aio, &f->req[0]), -EINVAL);
}

static void test_readonly(void **state)
{
	struct fixture *f = *state;
	uint8_t a[512];
	struct iovec v = {a, sizeof(a)};

	aio_destroy(f->aio);
	disk_close(f->disk);
	fixture_open(f, DISK_O_RDONLY);
	req(f, 0, AIO_OP_WRITE, &v, 1, 0);
	assert_int_equal(aio_submit(f->aio, &f->req[0]), -EROFS);
	req(f, 0, AIO_OP_DISCARD, NULL, 0, 0);
	assert_int_equal(aio_submit(f->aio, &f->req[0]), -EROFS);
	req(f, 0, AIO_OP_READ, &v, 1, 512);
	assert_int_equal(run1(f), 0);
	assert_int_equal(a[3], pattern(515));
}

/* MANY writes of 4 KiB to distinct blocks with a kick every 16, then MANY reads back. */
static void test_many_in_flight(void **state)
{
	struct fixture *f = *state;
	static uint8_t bufs[MANY][4096];
	static struct iovec v[MANY];

	for (unsigned i = 0; i < MANY; i++) {
		unsigned blk = (i * 37) % (FILE_BYTES / 4096);

		memset(bufs[i], (int)(i + 1), 4096);
		v[i] = (struct iovec){bufs[i], 4096};
		req(f, i, AIO_OP_WRITE, &v[i], 1, (uint64_t)blk * 4096);
		assert_int_equal(aio_submit(f->aio, &f->req[i]), 0);
		if (i % 16 == 15)
			aio_kick(f->aio);
	}
	aio_kick(f->aio);
	aio_drain(f->aio);
	assert_int_equal(f->w.done, MANY);
	for (unsigned i = 0; i < MANY; i++) {
		assert_int_equal(f->w.res[i], 0);
		assert_file(f, f->req[i].off, bufs[i], 4096);
		memset(bufs[i], 0, 4096);
		req(f, i, AIO_OP_READ, &v[i], 1, f->req[i].off);
		assert_int_equal(aio_submit(f->aio, &f->req[i]), 0);
	}
	aio_kick(f->aio);
	aio_drain(f->aio);
	assert_int_equal(f->w.done, 2 * MANY);
	for (unsigned i = 0; i < MANY; i++) {
		assert_int_equal(f->w.res[i], 0);
		assert_int_equal(bufs[i][0], (uint8_t)(i + 1));
		assert_int_equal(bufs[i][4095], (uint8_t)(i + 1));
	}
}

/* aio_destroy right after submitting (without a kick) completes every request first. */
static void test_destroy_drains(void **state)
{
	struct fixture *f = *state;
	static uint8_t bufs[64][8192];
	static struct iovec v[64];

	for (unsigned i = 0; i < 64; i++) {
		v[i] = (struct iovec){bufs[i], sizeof(bufs[i])};
		req(f, i, i % 2 ? AIO_OP_READ : AIO_OP_WRITE, &v[i], 1, (uint64_t)i * 8192);
		assert_int_equal(aio_submit(f->aio, &f->req[i]), 0);
	}
	aio_destroy(f->aio);
	f->aio = NULL;
	assert_int_equal(f->w.done, 64);
	for (unsigned i = 0; i < 64; i++)
		assert_int_equal(f->w.res[i], 0);
	assert_int_equal(bufs[1][0], pattern(8192));
}

/* O_DIRECT: an aligned request (on the ring for io_uring) and misaligned ones (bounced). */
static void test_direct(void **state)
{
	struct fixture *f = *state;
	uint8_t *al = NULL, mis[1500];
	struct iovec v;

	assert_int_equal(posix_memalign((void **)&al, 4096, 8192), 0);
	memset(al, 0xd1, 8192);
	v = (struct iovec){al, 8192};
	req(f, 0, AIO_OP_WRITE, &v, 1, 16384);
	assert_int_equal(run1(f), 0);
	assert_file(f, 16384, al, 8192);
	memset(al, 0, 8192);
	req(f, 0, AIO_OP_READ, &v, 1, 16384);
	assert_int_equal(run1(f), 0);
	assert_int_equal(al[8191], 0xd1);
	/* misaligned offset, length and buffer: read-modify-write keeps the neighbours */
	memset(mis, 0xe2, sizeof(mis));
	v = (struct iovec){mis + 1, 1000};
	req(f, 0, AIO_OP_WRITE, &v, 1, 40000);
	assert_int_equal(run1(f), 0);
	assert_file(f, 40000, mis + 1, 1000);
	assert_int_equal(pread(f->fd, al, 2, 39999), 2);
	assert_int_equal(al[0], pattern(39999));
	assert_int_equal(al[1], 0xe2);
	memset(mis, 0, sizeof(mis));
	v = (struct iovec){mis + 3, 1200};
	req(f, 0, AIO_OP_READ, &v, 1, 100);
	assert_int_equal(run1(f), 0);
	for (unsigned i = 0; i < 1200; i++)
		assert_int_equal(mis[3 + i], pattern(100 + i));
	req(f, 0, AIO_OP_FLUSH, NULL, 0, 0);
	assert_int_equal(run1(f), 0);
	free(al);
}

static void test_engine_selection(void **state)
{
	char path[] = "/tmp/kvmm-test-aio-q.XXXXXX";
	struct qcow2_create_opts co = {.size = 1 << 20};
	struct disk_open_opts oo = {0};
	struct aio_opts ao = {.engine = AIO_ENGINE_IO_URING};
	struct disk *d, *r;
	struct aio *a;
	enum aio_engine e;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(aio_engine_parse("io_uring", &e), 0);
	assert_int_equal(e, AIO_ENGINE_IO_URING);
	assert_int_equal(aio_engine_parse("threads", &e), 0);
	assert_int_equal(e, AIO_ENGINE_THREADS);
	assert_int_equal(aio_engine_parse("auto", &e), 0);
	assert_int_equal(e, AIO_ENGINE_AUTO);
	assert_int_equal(aio_engine_parse("posix", &e), -EINVAL);
	assert_int_equal(aio_engine_parse(NULL, &e), -EINVAL);
	assert_int_equal(qcow2_create(path, &co), 0);
	assert_int_equal(disk_open(path, &oo, &d), 0);
	/* qcow2: io_uring refused when asked for, AUTO gives threads */
	assert_int_equal(aio_create(d, &ao, &a), -EINVAL);
	ao.engine = AIO_ENGINE_AUTO;
	unsetenv("KVMM_AIO");
	assert_int_equal(aio_create(d, &ao, &a), 0);
	assert_int_equal(aio_engine(a), AIO_ENGINE_THREADS);
	aio_destroy(a);
	/* raw: AUTO is io_uring (here, where io_uring works) unless KVMM_AIO says threads */
	oo.format = "raw";
	assert_int_equal(disk_open(path, &oo, &r), 0);
	assert_int_equal(aio_create(r, NULL, &a), 0);
	assert_int_equal(aio_engine(a), AIO_ENGINE_IO_URING);
	aio_destroy(a);
	setenv("KVMM_AIO", "threads", 1);
	assert_int_equal(aio_create(r, NULL, &a), 0);
	assert_int_equal(aio_engine(a), AIO_ENGINE_THREADS);
	aio_destroy(a);
	unsetenv("KVMM_AIO");
	ao.threads = 1000;
	assert_int_equal(aio_create(r, &ao, &a), -EINVAL);
	aio_destroy(NULL);
	disk_close(r);
	disk_close(d);
	unlink(path);
}

/* qcow2 through the pool: writes allocate clusters concurrently, reads see them. */
static void test_qcow2_pool(void **state)
{
	char path[] = "/tmp/kvmm-test-aio-q.XXXXXX";
	struct qcow2_create_opts co = {.size = 4 << 20};
	struct fixture *f = calloc(1, sizeof(*f));
	static uint8_t bufs[64][4096];
	static struct iovec v[64];
	struct disk *d;
	struct aio *a;
	int fd = mkstemp(path);

	(void)state;
	assert_non_null(f);
	pthread_mutex_init(&f->w.lock, NULL);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(qcow2_create(path, &co), 0);
	assert_int_equal(disk_open(path, NULL, &d), 0);
	assert_int_equal(aio_create(d, &(struct aio_opts){.engine = AIO_ENGINE_THREADS}, &a), 0);
	for (unsigned i = 0; i < 64; i++) {
		memset(bufs[i], (int)i + 1, 4096);
		v[i] = (struct iovec){bufs[i], 4096};
		req(f, i, AIO_OP_WRITE, &v[i], 1, (uint64_t)i * 65536 + 512);
		assert_int_equal(aio_submit(a, &f->req[i]), 0);
	}
	aio_drain(a);
	for (unsigned i = 0; i < 63; i++) {
		assert_int_equal(f->w.res[i], 0);
		memset(bufs[i], 0, 4096);
		req(f, i, AIO_OP_READ, &v[i], 1, (uint64_t)i * 65536 + 512);
		assert_int_equal(aio_submit(a, &f->req[i]), 0);
	}
	assert_int_equal(f->w.res[63], 0);
	req(f, 63, AIO_OP_FLUSH, NULL, 0, 0);
	assert_int_equal(aio_submit(a, &f->req[63]), 0);
	aio_destroy(a);
	for (unsigned i = 0; i < 64; i++) {
		assert_int_equal(f->w.res[i], 0);
		if (i < 63)
			assert_int_equal(bufs[i][100], (uint8_t)(i + 1));
	}
	disk_close(d);
	unlink(path);
	pthread_mutex_destroy(&f->w.lock);
	free(f);
}

/* In a child: make io_uring_setup fail with ENOSYS (seccomp), then AUTO must fall back to the
 * pool and still do I/O, while an explicit io_uring request reports the error. */
static int child_fallback(const char *path)
{
	struct sock_filter f[] = {
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {ARRAY_SIZE(f), f};
	struct disk_open_opts oo = {.format = "raw"};
	struct aio_opts ao = {.engine = AIO_ENGINE_IO_URING};
	struct fixture fx = {0};
	uint8_t buf[512];
	struct iovec v = {buf, sizeof(buf)};
	struct disk *d;
	struct aio *a;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
		return 10;
	if (disk_open(path, &oo, &d))
		return 11;
	if (aio_create(d, &ao, &a) != -ENOSYS)
		return 12;
	unsetenv("KVMM_AIO");
	if (aio_create(d, NULL, &a) || aio_engine(a) != AIO_ENGINE_THREADS)
		return 13;
	pthread_mutex_init(&fx.w.lock, NULL);
	fx.req[0] = (struct aio_req){
	    .op = AIO_OP_READ, .iov = &v, .iovcnt = 1, .off = 4096, .done = on_done, .priv = &fx};
	if (aio_submit(a, &fx.req[0]))
		return 14;
	aio_drain(a);
	aio_destroy(a);
	disk_close(d);
	return fx.w.done == 1 && fx.w.res[0] == 0 && buf[7] == pattern(4096 + 7) ? 0 : 15;
}

static void test_uring_unavailable(void **state)
{
	struct fixture *f = *state;
	int st = 0;
	pid_t pid;

	aio_destroy(f->aio);
	f->aio = NULL;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_fallback(f->path));
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

#define BOTH(t)                                                                                    \
	cmocka_unit_test_setup_teardown(t, setup_uring, teardown),                                 \
	    cmocka_unit_test_setup_teardown(t, setup_threads, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    BOTH(test_read_write_flush),
	    BOTH(test_discard_write_zeroes),
	    BOTH(test_short_read_eof),
	    BOTH(test_error_propagation),
	    BOTH(test_readonly),
	    BOTH(test_many_in_flight),
	    BOTH(test_destroy_drains),
	    cmocka_unit_test_setup_teardown(test_direct, setup_uring_direct, teardown),
	    cmocka_unit_test_setup_teardown(test_direct, setup_threads_direct, teardown),
	    cmocka_unit_test(test_engine_selection),
	    cmocka_unit_test(test_qcow2_pool),
	    cmocka_unit_test_setup_teardown(test_uring_unavailable, setup_threads, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
