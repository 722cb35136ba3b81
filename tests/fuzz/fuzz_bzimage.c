/* tests/fuzz/fuzz_bzimage.c — libFuzzer target for the bzImage loader: the input is the image;
 * boot_bzimage_parse() runs on it and must describe a consistent image when it accepts one,
 * then boot_fuzz_load() (boot_fuzz.h; boot_load probes every format) loads and checks it. */
#include "boot_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct boot_bzimage_info bi;
	char err[256] = "";

	if (!boot_bzimage_parse(data, size, &bi, err, sizeof(err)) &&
	    (bi.setup_size + bi.kernel_size > size || bi.kernel_off != bi.setup_size ||
	     bi.cmdline_max == 0 || bi.cmdline_max > LAYOUT_CMDLINE_MAX ||
	     bi.mem_end < bi.load_addr + bi.kernel_size))
		abort();
	boot_fuzz_load(data, size, "fuzz.bzImage");
	return 0;
}
