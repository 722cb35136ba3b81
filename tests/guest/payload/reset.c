/* tests/guest/payload/reset.c — reset the machine through the i8042 (0xfe to port 0x64),
 * the reset control register (0x06 to port 0xcf9) or a triple fault.
 * Arguments: reset=kbd|cf9|triple. With --on-reboot exit the VMM exits; if the reset does not
 * take effect the payload exits with EXIT_CODE_STUCK (status 7). */
#include "payload.h"

const char payload_name[] = "reset";

static void triple_fault(void)
{
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) null_idt = {0, 0};

	__asm__ volatile("lidt %0\n\tud2" : : "m"(null_idt));
}

int payload_main(const struct boot_info *bi)
{
	char how[16];

	(void)bi;
	if (!cmdline_get("reset", how, sizeof(how)))
		exit_fail("no reset= argument");
	printf("reset: resetting via %s\n", how);
	if (!strncmp(how, "kbd", 4)) {
		for (unsigned i = 0; i < 100000 && (inb(0x64) & 0x02); i++)
			cpu_relax(); /* input buffer full */
		outb(0x64, 0xfe);
	} else if (!strncmp(how, "cf9", 4)) {
		outb(0xcf9, 0x02);
		outb(0xcf9, 0x06);
	} else if (!strncmp(how, "triple", 7)) {
		triple_fault();
	} else {
		exit_fail("unknown reset method \"%s\"", how);
	}
	udelay(500000);
	printf("FAIL reset: still running after reset via %s\n", how);
	return EXIT_CODE_STUCK;
}
