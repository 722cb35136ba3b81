/* tests/guest/payload/poweroff.c — power off through ACPI (FADT: HW-reduced sleep control
 * register, or PM1a_CNT; SLP_TYP from \_S5). The VMM must exit with status 0; if the
 * power-off does not take effect the payload exits with EXIT_CODE_STUCK (status 7). */
#include "payload.h"

const char payload_name[] = "poweroff";

int payload_main(const struct boot_info *bi)
{
	uint64_t rsdp = acpi_find_rsdp(bi->rsdp_paddr);
	int rc;

	if (!check(rsdp, "ACPI RSDP found at %lx", rsdp))
		return EXIT_CODE_FAIL;
	printf("poweroff: powering off\n");
	rc = acpi_poweroff(rsdp);
	printf("FAIL poweroff: still running after the ACPI power-off (%d)\n", rc);
	return rc < 0 ? EXIT_CODE_FAIL : EXIT_CODE_STUCK;
}
