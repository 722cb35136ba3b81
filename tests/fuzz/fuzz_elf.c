/* tests/fuzz/fuzz_elf.c — libFuzzer target for the ELF-based loaders (PVH note, plain vmlinux,
 * multiboot ELF32/ELF64 and a.out kludge): the input is the kernel image, loaded and checked by
 * boot_fuzz_load() (boot_fuzz.h). */
#include "boot_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	boot_fuzz_load(data, size, "fuzz.elf");
	return 0;
}
