/* arch/x86/boot_bzimage.c — Linux bzImage loader (64-bit boot protocol, >= 2.12).
 * The setup_header is parsed from a copy and fully checked before anything is written. */
#include "arch/x86/boot.h"

#include <errno.h>
#include <string.h>

#include "arch/x86/bootparam.h"
#include "arch/x86/layout.h"
#include "base/ckd.h"

#define BZ_HDR_END	      (BOOTPARAM_SETUP_HDR_OFF + sizeof(struct bootparam_setup_header))
#define BZ_HDR_MIN_END	      0x264	  /* through init_size: every 2.12+ header has it */
#define BZ_INITRD_DEFAULT_MAX 0x37ffffffu /* initrd_addr_max before protocol 2.03 */

/* Checks on the header fields that do not depend on where the kernel goes. */
static int bz_check_header(const struct bootparam_setup_header *h, size_t len,
			   struct boot_bzimage_info *o, char *err, size_t errlen)
{
	unsigned sects = h->setup_sects ? h->setup_sects : BOOTPARAM_DEFAULT_SETUP_SECTS;
	uint64_t ksize;

	if (h->header != BOOTPARAM_HDRS_MAGIC)
		return boot_fail(err, errlen, -ENOEXEC, "no \"HdrS\" signature: not a bzImage");
	if (h->boot_flag != BOOTPARAM_BOOT_FLAG)
		return boot_fail(err, errlen, -EINVAL, "bzImage boot_flag is 0x%04x, not 0xaa55",
				 h->boot_flag);
	if (h->version < BOOTPARAM_MIN_VERSION)
		return boot_fail(
		    err, errlen, -ENOEXEC,
		    "boot protocol %u.%02u is too old: kvmm needs 2.12 or newer with a "
		    "64-bit entry point",
		    h->version >> 8, h->version & 0xff);
	if (!(h->xloadflags & BOOTPARAM_XLF_KERNEL_64))
		return boot_fail(
		    err, errlen, -ENOEXEC,
		    "kernel has no 64-bit entry point (xloadflags lacks XLF_KERNEL_64)");
	o->version = h->version;
	o->setup_size = ((size_t)sects + 1) * BOOTPARAM_SECTOR;
	if (o->setup_size >= len)
		return boot_fail(
		    err, errlen, -EINVAL,
		    "setup_sects %u: setup (%zu bytes) reaches past the file (%zu bytes)", sects,
		    o->setup_size, len);
	if (h->syssize == 0 || ckd_mul(&ksize, (uint64_t)h->syssize, 16u) ||
	    ksize > len - o->setup_size)
		return boot_fail(
		    err, errlen, -EINVAL,
		    "syssize 0x%x (%llu bytes) does not match the %zu bytes after setup",
		    h->syssize, (unsigned long long)h->syssize * 16, len - o->setup_size);
	o->kernel_off = o->setup_size;
	o->kernel_size = (size_t)ksize;
	return 0;
}

/* Load address, memory footprint, command line and initrd limits. */
static int bz_check_layout(const struct bootparam_setup_header *h, struct boot_bzimage_info *o,
			   char *err, size_t errlen)
{
	uint64_t run, end, align = h->kernel_alignment, limit;

	if (h->relocatable_kernel) {
		if (!IS_POW2(align) || align < 4096)
			return boot_fail(err, errlen, -EINVAL,
					 "kernel_alignment 0x%llx is not a power of two >= 4 KiB",
					 (unsigned long long)align);
		o->load_addr = LAYOUT_KERNEL_LOAD;
		/* The decompressor runs at max(align_up(load), pref_address). */
		run = KVMM_MAX(ALIGN_UP(o->load_addr, align), h->pref_address);
	} else {
		if (h->pref_address < LAYOUT_KERNEL_LOAD)
			return boot_fail(
			    err, errlen, -EINVAL,
			    "non-relocatable kernel wants pref_address 0x%llx below 1 MiB",
			    (unsigned long long)h->pref_address);
		o->load_addr = h->pref_address;
		run = o->load_addr;
	}
	if (h->init_size == 0 || ckd_add(&end, run, (uint64_t)h->init_size))
		return boot_fail(err, errlen, -EINVAL, "bad init_size 0x%x at 0x%llx", h->init_size,
				 (unsigned long long)run);
	if (ckd_add(&limit, o->load_addr, (uint64_t)o->kernel_size))
		return boot_fail(err, errlen, -EINVAL, "kernel load address overflows");
	o->mem_end = KVMM_MAX(end, limit);
	o->cmdline_max = h->cmdline_size >= LAYOUT_CMDLINE_MAX ? (uint32_t)LAYOUT_CMDLINE_MAX
							       : h->cmdline_size + 1;
	limit = h->initrd_addr_max ? h->initrd_addr_max : BZ_INITRD_DEFAULT_MAX;
	o->initrd_limit = KVMM_MIN(limit, LAYOUT_INITRD_MAX) + 1;
	return 0;
}

int boot_bzimage_parse(const uint8_t *k, size_t len, struct boot_bzimage_info *out, char *err,
		       size_t errlen)
{
	struct bootparam_setup_header h;
	int r;

	if (!k || len < BZ_HDR_END)
		return boot_fail(err, errlen, len >= 0x206 ? -EINVAL : -ENOEXEC,
				 "bzImage truncated: %zu bytes, the setup header needs %zu", len,
				 (size_t)BZ_HDR_END);
	memcpy(&h, k + BOOTPARAM_SETUP_HDR_OFF, sizeof(h));
	memset(out, 0, sizeof(*out));
	r = bz_check_header(&h, len, out, err, errlen);
	if (r)
		return r;
	if ((size_t)0x202 + k[0x201] < BZ_HDR_MIN_END)
		return boot_fail(err, errlen, -EINVAL,
				 "setup header ends at 0x%x (jump at 0x200), before init_size",
				 0x202 + k[0x201]);
	return bz_check_layout(&h, out, err, errlen);
}

int boot_load_bzimage(const struct gmem *m, const struct boot_input *in, struct boot_entry *out,
		      char *err, size_t errlen)
{
	struct bootparam_setup_header h;
	struct boot_bzimage_info bi;
	size_t hdr_end;
	int r;

	r = boot_bzimage_parse(in->kernel, in->kernel_len, &bi, err, errlen);
	if (r)
		return r;
	r = boot_check_range(in, bi.load_addr, bi.mem_end - bi.load_addr, LAYOUT_MMIO_HOLE,
			     "bzImage kernel (load address to load + init_size)", err, errlen);
	if (r)
		return r;
	r = gmem_write(m, bi.load_addr, in->kernel + bi.kernel_off, bi.kernel_size);
	if (r)
		return boot_fail(err, errlen, r, "cannot write the kernel at 0x%llx",
				 (unsigned long long)bi.load_addr);
	out->kernel_start = bi.load_addr;
	out->kernel_end = bi.mem_end;
	out->entry = bi.load_addr + BOOTPARAM_ENTRY64_OFF;
	/* The header ends at 0x202 + the jump offset byte at 0x201; bytes past it are setup
	 * code, not header fields a newer protocol would define. */
	memset(&h, 0, sizeof(h));
	hdr_end = KVMM_MIN((size_t)0x202 + in->kernel[0x201], (size_t)BZ_HDR_END);
	memcpy(&h, in->kernel + BOOTPARAM_SETUP_HDR_OFF, hdr_end - BOOTPARAM_SETUP_HDR_OFF);
	return boot_write_zero_page(m, in, &h, bi.initrd_limit, bi.cmdline_max,
				    bi.version >= BOOTPARAM_RSDP_VERSION, out, err, errlen);
}
