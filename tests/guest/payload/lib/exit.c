/* tests/guest/payload/lib/exit.c — results through the debug-exit port (0xf4). */
#include "payload.h"

static unsigned failures;

void debug_exit(uint32_t code)
{
	outl(0xf4, code);
	/* The VMM did not exit: stop here rather than run on. */
	for (;;)
		__asm__ volatile("cli; hlt");
}

void exit_pass(void)
{
	printf("PASS %s\n", payload_name);
	debug_exit(EXIT_CODE_PASS);
}

void exit_fail(const char *fmt, ...)
{
	va_list ap;

	printf("FAIL %s: ", payload_name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	debug_exit(EXIT_CODE_FAIL);
}

bool check(bool cond, const char *fmt, ...)
{
	va_list ap;

	printf("%s - ", cond ? "ok" : "not ok");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!cond)
		failures++;
	return cond;
}

unsigned check_failures(void)
{
	return failures;
}
