/* Unit tests for arch/x86 bzImage loading: synthetic images built here are loaded into plain
 * mmap'ed guest memory and the zero page, command line, initrd and e820 copy are checked;
 * hostile headers must be refused before anything is written. Also parses the real Debian
 * kernel when one is installed ($KVMM_TEST_KERNEL or /boot/vmlinuz-*), skipped otherwise. */
#include "lib/harness.h"

#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arch/x86/boot.h"
#include "arch/x86/bootparam.h"
#include "arch/x86/e820.h"
#include "arch/x86/layout.h"
#include "base/compiler.h"

#define MIB	    (1024ull * 1024)
#define RAM_SIZE    (64 * MIB)
#define PAYLOAD_LEN 0x3000u

struct tvm {
	uint8_t *mem;
	size_t len;
	struct gmem *m;
	struct e820_map map;
};

static void tvm_init(struct tvm *t, size_t len)
{
	struct gmem_region r;

	t->len = len;
	t->mem = mmap(NULL, len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	assert_true(t->mem != MAP_FAILED);
	r = (struct gmem_region){0, len, t->mem, 0};
	assert_int_equal(gmem_create(&t->m, &r, 1), 0);
	assert_int_equal(e820_build(&t->map, t->m), 0);
}

static void tvm_fini(struct tvm *t)
{
	gmem_destroy(t->m);
	munmap(t->mem, t->len);
}

struct bz_opts {
	uint8_t setup_sects;
	uint16_t version;
	uint16_t xloadflags;
	uint32_t syssize; /* 0: from the payload */
	uint32_t cmdline_size;
	uint32_t initrd_addr_max;
	uint32_t init_size;
	uint32_t kernel_alignment;
	uint8_t relocatable;
	uint64_t pref_address;
	uint16_t boot_flag;
	size_t payload_len;
	uint8_t patch_sects; /* nonzero: written over setup_sects after the file is laid out */
};

static struct bz_opts bz_defaults(void)
{
	return (struct bz_opts){.setup_sects = 4,
				.version = 0x020f,
				.xloadflags = BOOTPARAM_XLF_KERNEL_64,
				.cmdline_size = 2047,
				.initrd_addr_max = 0x7fffffff,
				.init_size = 8 * MIB,
				.kernel_alignment = 0x200000,
				.relocatable = 1,
				.pref_address = 0x1000000,
				.boot_flag = BOOTPARAM_BOOT_FLAG,
				.payload_len = PAYLOAD_LEN};
}

/* A bzImage: boot sector + setup sectors with a setup_header, then the payload. */
static uint8_t *bz_build(const struct bz_opts *o, size_t *len)
{
	unsigned sects = o->setup_sects ? o->setup_sects : 4;
	size_t setup = ((size_t)sects + 1) * 512;
	struct bootparam_setup_header h;
	uint8_t *b;

	*len = setup + o->payload_len;
	b = calloc(1, *len);
	assert_non_null(b);
	memset(&h, 0, sizeof(h));
	h.setup_sects = o->setup_sects;
	h.syssize = o->syssize ? o->syssize : (uint32_t)(o->payload_len / 16);
	h.boot_flag = o->boot_flag;
	h.jump = (uint16_t)(0xeb | (0x26c - 0x202) << 8);
	h.header = BOOTPARAM_HDRS_MAGIC;
	h.version = o->version;
	h.loadflags = BOOTPARAM_LOADED_HIGH;
	h.vid_mode = 0xffff;
	h.initrd_addr_max = o->initrd_addr_max;
	h.kernel_alignment = o->kernel_alignment;
	h.relocatable_kernel = o->relocatable;
	h.xloadflags = o->xloadflags;
	h.cmdline_size = o->cmdline_size;
	h.pref_address = o->pref_address;
	h.init_size = o->init_size;
	if (o->patch_sects)
		h.setup_sects = o->patch_sects;
	memcpy(b + BOOTPARAM_SETUP_HDR_OFF, &h, sizeof(h));
	for (size_t i = 0; i < o->payload_len; i++)
		b[setup + i] = (uint8_t)(i * 7 + 3);
	return b;
}

static int bz_load(struct tvm *t, const uint8_t *k, size_t len, const char *cmdline,
		   const uint8_t *initrd, size_t initrd_len, struct boot_entry *e, char *err)
{
	struct boot_input in = {.kernel = k,
				.kernel_len = len,
				.kernel_name = "bzImage",
				.initrd = initrd,
				.initrd_len = initrd_len,
				.cmdline = cmdline,
				.e820 = &t->map,
				.rsdp = 0xe0000};

	return boot_load(t->m, &in, e, err, 256);
}

static void test_bz_load_ok(void **state)
{
	struct bz_opts o = bz_defaults();
	struct bootparam_boot_params bp;
	struct boot_entry e;
	struct tvm t;
	uint8_t initrd[10000];
	char err[256];
	size_t len;
	uint8_t *k = bz_build(&o, &len);

	for (size_t i = 0; i < sizeof(initrd); i++)
		initrd[i] = (uint8_t)(i ^ (i >> 8));
	tvm_init(&t, RAM_SIZE);
	assert_int_equal(
	    bz_load(&t, k, len, "console=ttyS0 quiet", initrd, sizeof(initrd), &e, err), 0);
	assert_int_equal(e.proto, BOOT_PROTO_LINUX64);
	assert_int_equal(e.entry, LAYOUT_KERNEL_LOAD + 0x200);
	assert_int_equal(e.arg, LAYOUT_ZERO_PAGE);
	assert_int_equal(e.magic, 0);
	assert_int_equal(e.kernel_start, LAYOUT_KERNEL_LOAD);
	assert_int_equal(e.kernel_end, 0x1000000 + 8 * MIB); /* pref_address + init_size */
	assert_memory_equal(t.mem + LAYOUT_KERNEL_LOAD, k + 5 * 512, PAYLOAD_LEN);

	memcpy(&bp, t.mem + LAYOUT_ZERO_PAGE, sizeof(bp));
	assert_int_equal(bp.hdr.header, BOOTPARAM_HDRS_MAGIC);
	assert_int_equal(bp.hdr.boot_flag, 0xaa55);
	assert_int_equal(bp.hdr.version, 0x020f);
	assert_int_equal(bp.hdr.type_of_loader, 0xff);
	assert_true(bp.hdr.loadflags & BOOTPARAM_CAN_USE_HEAP);
	assert_true(bp.hdr.loadflags & BOOTPARAM_LOADED_HIGH);
	assert_int_equal(bp.hdr.heap_end_ptr, 0xfe00);
	assert_int_equal(bp.hdr.cmd_line_ptr, LAYOUT_CMDLINE);
	assert_string_equal((char *)t.mem + LAYOUT_CMDLINE, "console=ttyS0 quiet");
	assert_int_equal(bp.acpi_rsdp_addr, 0xe0000);

	/* initrd: page aligned, at the top of RAM, intact */
	assert_int_equal(bp.hdr.ramdisk_size, sizeof(initrd));
	assert_int_equal(bp.hdr.ramdisk_image % 4096, 0);
	assert_int_equal(bp.hdr.ramdisk_image, e.initrd_addr);
	assert_true(bp.hdr.ramdisk_image + sizeof(initrd) <= RAM_SIZE);
	assert_true(bp.hdr.ramdisk_image + sizeof(initrd) + 4096 > RAM_SIZE);
	assert_true(bp.hdr.ramdisk_image >= e.kernel_end);
	assert_memory_equal(t.mem + bp.hdr.ramdisk_image, initrd, sizeof(initrd));

	/* e820 copy */
	assert_int_equal(bp.e820_entries, t.map.n);
	assert_int_equal(t.map.n, 3);
	for (unsigned i = 0; i < t.map.n; i++) {
		assert_int_equal(bp.e820_table[i].addr, t.map.e[i].addr);
		assert_int_equal(bp.e820_table[i].size, t.map.e[i].size);
		assert_int_equal(bp.e820_table[i].type, t.map.e[i].type);
	}
	tvm_fini(&t);
	free(k);
}

static void test_bz_old_rsdp_and_limits(void **state)
{
	struct bz_opts o = bz_defaults();
	struct bootparam_boot_params bp;
	struct boot_entry e;
	struct tvm t;
	uint8_t initrd[100] = {1, 2, 3};
	char err[256];
	size_t len;
	uint8_t *k;

	o.version = 0x020c;	       /* 2.12: no acpi_rsdp_addr */
	o.initrd_addr_max = 0x1ffffff; /* initrd must end below 32 MiB */
	o.setup_sects = 0;	       /* means 4 */
	k = bz_build(&o, &len);
	tvm_init(&t, RAM_SIZE);
	assert_int_equal(bz_load(&t, k, len, NULL, initrd, sizeof(initrd), &e, err), 0);
	memcpy(&bp, t.mem + LAYOUT_ZERO_PAGE, sizeof(bp));
	assert_int_equal(bp.acpi_rsdp_addr, 0);
	assert_int_equal(bp.hdr.ramdisk_image, 0x2000000 - 4096);
	assert_int_equal(t.mem[LAYOUT_CMDLINE], 0); /* empty command line */
	assert_memory_equal(t.mem + LAYOUT_KERNEL_LOAD, k + 5 * 512, PAYLOAD_LEN);
	tvm_fini(&t);
	free(k);
}

static void test_bz_not_relocatable(void **state)
{
	struct bz_opts o = bz_defaults();
	struct boot_entry e;
	struct tvm t;
	char err[256];
	size_t len;
	uint8_t *k;

	o.relocatable = 0;
	o.pref_address = 0x400000;
	k = bz_build(&o, &len);
	tvm_init(&t, RAM_SIZE);
	assert_int_equal(bz_load(&t, k, len, "x", NULL, 0, &e, err), 0);
	assert_int_equal(e.entry, 0x400200);
	assert_int_equal(e.kernel_end, 0x400000 + 8 * MIB);
	assert_int_equal(e.initrd_addr, 0);
	assert_memory_equal(t.mem + 0x400000, k + 5 * 512, PAYLOAD_LEN);
	free(k);
	o.pref_address = 0x80000; /* below 1 MiB */
	k = bz_build(&o, &len);
	assert_int_equal(bz_load(&t, k, len, "x", NULL, 0, &e, err), -EINVAL);
	tvm_fini(&t);
	free(k);
}

/* Each case: mutate the default image, expect an error and an untouched zero page. */
static void expect_bz_error(struct bz_opts *o, size_t trunc, const char *cmdline, int want,
			    const char *msg)
{
	struct boot_entry e;
	struct tvm t;
	char err[256];
	size_t len;
	int r;
	uint8_t *k = bz_build(o, &len);

	if (trunc)
		len = trunc;
	tvm_init(&t, RAM_SIZE);
	err[0] = 0;
	r = bz_load(&t, k, len, cmdline, NULL, 0, &e, err);
	if (r != want)
		fail_msg("got %d (%s), want %d", r, err, want);
	if (msg && !strstr(err, msg))
		fail_msg("error \"%s\" does not mention \"%s\"", err, msg);
	if (want)
		assert_int_equal(t.mem[LAYOUT_ZERO_PAGE + 0x202], 0);
	tvm_fini(&t);
	free(k);
}

static void test_bz_hostile(void **state)
{
	struct bz_opts o;
	char *longcmd;

	o = bz_defaults();
	expect_bz_error(&o, 0x230, NULL, -EINVAL, "truncated");
	o = bz_defaults();
	expect_bz_error(&o, 5 * 512, NULL, -EINVAL, "setup"); /* no protected-mode part */
	o = bz_defaults();
	o.patch_sects = 255; /* setup claims 128 KiB of a 5.5 KiB file */
	expect_bz_error(&o, 0, NULL, -EINVAL, "setup_sects");
	o = bz_defaults();
	o.syssize = PAYLOAD_LEN / 16 + 1; /* beyond the file */
	expect_bz_error(&o, 0, NULL, -EINVAL, "syssize");
	o = bz_defaults();
	o.syssize = 0xffffffff;
	expect_bz_error(&o, 0, NULL, -EINVAL, "syssize");
	o = bz_defaults();
	o.version = 0x020a;
	expect_bz_error(&o, 0, NULL, -ENOEXEC, "too old");
	o = bz_defaults();
	o.xloadflags = 0;
	expect_bz_error(&o, 0, NULL, -ENOEXEC, "64-bit");
	o = bz_defaults();
	o.boot_flag = 0x1234;
	expect_bz_error(&o, 0, NULL, -EINVAL, "boot_flag");
	o = bz_defaults();
	o.kernel_alignment = 0x300000;
	expect_bz_error(&o, 0, NULL, -EINVAL, "kernel_alignment");
	o = bz_defaults();
	o.init_size = 0;
	expect_bz_error(&o, 0, NULL, -EINVAL, "init_size");
	o = bz_defaults();
	o.init_size = 0xfff00000; /* 4 GiB: far more than 64 MiB of RAM */
	expect_bz_error(&o, 0, NULL, -E2BIG, "needs 4111 MiB");
	o = bz_defaults();
	o.init_size = 60 * MIB; /* 16 MiB + 60 MiB > 64 MiB */
	expect_bz_error(&o, 0, NULL, -E2BIG, "needs 76 MiB");
	o = bz_defaults();
	o.cmdline_size = 10;
	expect_bz_error(&o, 0, "0123456789", 0, NULL); /* exactly cmdline_size: fits */
	expect_bz_error(&o, 0, "0123456789a", -E2BIG, "command line too long");
	o = bz_defaults();
	o.cmdline_size = 0xffffffff;
	longcmd = malloc(LAYOUT_CMDLINE_MAX + 1);
	assert_non_null(longcmd);
	memset(longcmd, 'a', LAYOUT_CMDLINE_MAX);
	longcmd[LAYOUT_CMDLINE_MAX] = 0;
	expect_bz_error(&o, 0, longcmd, -E2BIG, "limit is 65536");
	longcmd[LAYOUT_CMDLINE_MAX - 1] = 0; /* 65535 chars + NUL fits */
	expect_bz_error(&o, 0, longcmd, 0, NULL);
	free(longcmd);
}

static void test_bz_initrd_too_big(void **state)
{
	struct bz_opts o = bz_defaults();
	struct boot_entry e;
	struct tvm t;
	char err[256];
	size_t len, ilen = 41 * MIB; /* kernel needs up to 24 MiB; 64 - 24 < 41 */
	uint8_t *k = bz_build(&o, &len);
	uint8_t *initrd = calloc(1, ilen);

	assert_non_null(initrd);
	tvm_init(&t, RAM_SIZE);
	assert_int_equal(bz_load(&t, k, len, NULL, initrd, ilen, &e, err), -E2BIG);
	assert_non_null(strstr(err, "initrd"));
	assert_int_equal(bz_load(&t, k, len, NULL, initrd, 30 * MIB, &e, err), 0);
	assert_true(e.initrd_addr >= e.kernel_end);
	tvm_fini(&t);
	free(initrd);
	free(k);
}

static void test_not_a_kernel(void **state)
{
	struct boot_entry e;
	struct tvm t;
	char err[256];
	uint8_t junk[16384];

	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 13);
	tvm_init(&t, RAM_SIZE);
	assert_int_equal(bz_load(&t, junk, sizeof(junk), NULL, NULL, 0, &e, err), -ENOEXEC);
	assert_string_equal(err, "not a kernel image (no bzImage header, ELF or multiboot header)");
	assert_int_equal(bz_load(&t, junk, 0, NULL, NULL, 0, &e, err), -ENOEXEC);
	assert_int_equal(boot_load(t.m, NULL, &e, err, sizeof(err)), -EINVAL);
	tvm_fini(&t);
}

static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *b;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	b = malloc((size_t)n);
	if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
		free(b);
		b = NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return b;
}

/* The distribution kernel, when installed: header parse, then a full load into 512 MiB. */
static void test_real_kernel(void **state)
{
	const char *path = *state;
	struct boot_bzimage_info bi;
	struct boot_entry e;
	struct tvm t;
	char err[256];
	uint8_t *k;
	size_t len = 0;

	k = read_file(path, &len);
	assert_non_null(k);
	print_message("kernel: %s\n", path);
	assert_int_equal(boot_bzimage_parse(k, len, &bi, err, sizeof(err)), 0);
	assert_true(bi.version >= 0x020c);
	/* syssize covers the rest of an unsigned image; a signed (Secure Boot) image carries
	 * its PE/Authenticode signature after that, a few KiB. */
	assert_true(bi.setup_size + bi.kernel_size <= len);
	assert_true(len - (bi.setup_size + bi.kernel_size) <= 16384);
	print_message("bytes after syssize: %zu\n", len - bi.setup_size - bi.kernel_size);
	assert_int_equal(bi.load_addr, LAYOUT_KERNEL_LOAD);
	assert_true(bi.cmdline_max > 256);
	print_message("protocol %x, setup %zu, kernel %zu, needs RAM up to 0x%llx\n", bi.version,
		      bi.setup_size, bi.kernel_size, (unsigned long long)bi.mem_end);
	tvm_init(&t, 512 * MIB);
	assert_int_equal(bz_load(&t, k, len, "console=ttyS0", k, 4096, &e, err), 0);
	assert_int_equal(e.entry, LAYOUT_KERNEL_LOAD + 0x200);
	assert_memory_equal(t.mem + LAYOUT_KERNEL_LOAD, k + bi.setup_size, 4096);
	assert_memory_equal(t.mem + LAYOUT_ZERO_PAGE + 0x1f1, k + 0x1f1, 0x10); /* hdr start */
	tvm_fini(&t);
	tvm_init(&t, 32 * MIB);
	assert_int_equal(bz_load(&t, k, len, NULL, NULL, 0, &e, err), -E2BIG);
	print_message("32 MiB: %s\n", err);
	assert_non_null(strstr(err, "needs"));
	tvm_fini(&t);
	free(k);
}

int main(void)
{
	const char *kernel = getenv("KVMM_TEST_KERNEL");
	struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bz_load_ok),
	    cmocka_unit_test(test_bz_old_rsdp_and_limits),
	    cmocka_unit_test(test_bz_not_relocatable),
	    cmocka_unit_test(test_bz_hostile),
	    cmocka_unit_test(test_bz_initrd_too_big),
	    cmocka_unit_test(test_not_a_kernel),
	    cmocka_unit_test(test_real_kernel),
	};
	size_t n = ARRAY_SIZE(tests);
	glob_t g = {0};
	int r;

	/* The real kernel: $KVMM_TEST_KERNEL, else the first /boot/vmlinuz-*. Without one the
	 * test is left out (cmocka's TAP "not ok # SKIP" counts as a failure under prove). */
	if (!kernel && glob("/boot/vmlinuz-*", 0, NULL, &g) == 0 && g.gl_pathc)
		kernel = g.gl_pathv[0];
	if (kernel && access(kernel, R_OK) == 0)
		tests[n - 1].initial_state = (void *)kernel;
	else
		n--, printf(
			 "# no kernel in $KVMM_TEST_KERNEL or /boot: test_real_kernel left out\n");
	r = _cmocka_run_group_tests("test_boot_bzimage", tests, n, NULL, NULL);
	globfree(&g);
	return r;
}
