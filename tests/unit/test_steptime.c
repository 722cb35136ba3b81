/* Unit tests for base/steptime: marks in order, the total, the one-line format, truncation of a
 * short buffer, and the step limit (later marks count in the total only). */
#include "lib/harness.h"

#include <string.h>
#include <time.h>

#include "base/steptime.h"

static void sleep_us(long us)
{
	struct timespec ts = {0, us * 1000};

	nanosleep(&ts, NULL);
}

static void test_steptime_marks(void **state)
{
	struct steptime t;
	char line[256];
	size_t n;

	(void)state;
	steptime_start(&t);
	sleep_us(2000);
	steptime_mark(&t, "first");
	steptime_mark(&t, "second");
	assert_int_equal(t.n, 2);
	assert_string_equal(t.s[0].name, "first");
	assert_true(t.s[0].ns >= 2000000);
	assert_true(t.s[1].ns < t.s[0].ns);
	assert_int_equal(steptime_total_ns(&t), t.s[0].ns + t.s[1].ns);
	n = steptime_format(&t, line, sizeof(line));
	assert_int_equal(n, strlen(line));
	assert_non_null(strstr(line, "first "));
	assert_non_null(strstr(line, " ms, second "));
	assert_non_null(strstr(line, " ms, total "));
	assert_int_equal(strcmp(line + n - 3, " ms"), 0);
}

static void test_steptime_short_buffer(void **state)
{
	struct steptime t;
	char full[256], part[12];
	size_t n;

	(void)state;
	steptime_start(&t);
	steptime_mark(&t, "a rather long step name");
	n = steptime_format(&t, full, sizeof(full));
	assert_int_equal(steptime_format(&t, part, sizeof(part)), n);
	assert_int_equal(strlen(part), sizeof(part) - 1);
	assert_memory_equal(part, full, sizeof(part) - 1);
	assert_int_equal(steptime_format(&t, part, 0), n);
}

static void test_steptime_limit(void **state)
{
	struct steptime t;

	(void)state;
	steptime_start(&t);
	for (unsigned i = 0; i < STEPTIME_MAX + 5; i++)
		steptime_mark(&t, "step");
	sleep_us(1000);
	steptime_mark(&t, "late");
	assert_int_equal(t.n, STEPTIME_MAX);
	assert_true(steptime_total_ns(&t) >= 1000000);
	assert_true(t.last_ns - t.start_ns == steptime_total_ns(&t));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_steptime_marks),
	    cmocka_unit_test(test_steptime_short_buffer),
	    cmocka_unit_test(test_steptime_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
