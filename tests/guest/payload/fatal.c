/* tests/guest/payload/fatal.c — provokes an exit the VMM cannot recover from, to test kvmm's
 * fatal-exit path (one-screen diagnostic, exit status 4): an SSE/AES instruction whose memory
 * operand is unbacked MMIO (0xc0000000). KVM's instruction emulator does not implement AESENC,
 * so the MMIO access ends in KVM_EXIT_INTERNAL_ERROR (emulation failure). A VMM that emulates it
 * anyway (QEMU TCG) lets the payload continue, which then reports failure code 1 (status 3).
 * Arguments: none. kvmm-only in the case table. */
#include "payload.h"

const char payload_name[] = "fatal";

int payload_main(const struct boot_info *bi)
{
	uint64_t cr4;

	(void)bi;
	__asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
	cr4 |= (1u << 9) | (1u << 10); /* OSFXSR, OSXMMEXCPT: SSE instructions allowed */
	__asm__ volatile("mov %0, %%cr4" ::"r"(cr4));
	printf("fatal: aesenc with an MMIO operand\n");
	/* xmm0 is not clobber-able under -mgeneral-regs-only; the payload never uses it. */
	__asm__ volatile("aesenc (%0), %%xmm0" ::"r"(0xc0000000ull) : "memory");
	printf("fatal: the VMM emulated it: no fatal exit\n");
	return EXIT_CODE_FAIL;
}
