/* Unit tests for vmm/config: sizes, CPU lists, affinity, option errors, JSON config files. */
#include "lib/harness.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm/config.h"

static void test_parse_size(void **state)
{
	static const struct {
		const char *in;
		bool mib;
		int ret;
		uint64_t want;
	} cases[] = {
	    {"512", true, 0, 512ull << 20},
	    {"512", false, 0, 512},
	    {"4K", false, 0, 4096},
	    {"2G", true, 0, 2ull << 30},
	    {"2GiB", true, 0, 2ull << 30},
	    {"3gb", true, 0, 3ull << 30},
	    {"1T", true, 0, 1ull << 40},
	    {"7B", true, 0, 7},
	    {"", true, -EINVAL, 0},
	    {"G", true, -EINVAL, 0},
	    {"-1M", true, -EINVAL, 0},
	    {"12X", true, -EINVAL, 0},
	    {"1Gx", true, -EINVAL, 0},
	    {"1BB", true, -EINVAL, 0},
	    {"99999999999999999999", true, -ERANGE, 0},
	    {"17179869184G", true, -ERANGE, 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t v = 0;
		int r = parse_size(cases[i].in, cases[i].mib, &v);

		assert_int_equal(r, cases[i].ret);
		if (!r)
			assert_int_equal(v, cases[i].want);
	}
}

static void test_parse_cpu_list(void **state)
{
	cpu_set_t s;

	assert_int_equal(parse_cpu_list("0-3,6", &s), 0);
	assert_int_equal(CPU_COUNT(&s), 5);
	assert_true(CPU_ISSET(6, &s));
	assert_int_equal(parse_cpu_list("3-1", &s), -EINVAL);
	assert_int_equal(parse_cpu_list("a", &s), -EINVAL);
	assert_int_equal(parse_cpu_list("1,", &s), -EINVAL);
	assert_int_equal(parse_cpu_list("", &s), -EINVAL);
	assert_int_equal(parse_cpu_list("99999", &s), -EINVAL);
}

static void test_affinity(void **state)
{
	struct vm_config c;
	char err[256];

	assert_int_equal(vm_config_init(&c), 0);
	assert_int_equal(vm_config_set(&c, "cpu-affinity", "0=2,1=3", err, sizeof(err)), 0);
	assert_int_equal(c.naffinity, 2);
	assert_int_equal(c.affinity[1].vcpu, 1);
	assert_true(CPU_ISSET(3, &c.affinity[1].cpus));
	assert_int_equal(vm_config_set(&c, "cpu-affinity", "0=0-3,6,1=4-5", err, sizeof(err)), 0);
	assert_int_equal(c.naffinity, 2);
	assert_int_equal(CPU_COUNT(&c.affinity[0].cpus), 5);
	assert_int_equal(vm_config_set(&c, "cpu-affinity", "0=0-3:1=4-7", err, sizeof(err)), 0);
	assert_int_equal(c.naffinity, 2);
	assert_int_equal(vm_config_set(&c, "cpu-affinity", "x=1", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "--cpu-affinity"));
	assert_int_equal(vm_config_set(&c, "cpu-affinity", "0=", err, sizeof(err)), -EINVAL);
	vm_config_fini(&c);
}

static void test_option_errors(void **state)
{
	struct vm_config c;
	char err[256];

	assert_int_equal(vm_config_init(&c), 0);
	assert_int_equal(c.mem_bytes, 256ull << 20);
	assert_int_equal(vm_config_set(&c, "memory", "1G", err, sizeof(err)), 0);
	assert_int_equal(c.mem_bytes, 1ull << 30);
	assert_int_equal(vm_config_set(&c, "memory", "lots", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "--memory"));
	assert_int_equal(vm_config_set(&c, "memory", "1K", err, sizeof(err)), -EINVAL);
	assert_int_equal(vm_config_set(&c, "serial", "file:/tmp/x", err, sizeof(err)), 0);
	assert_int_equal(c.serial, SERIAL_FILE);
	assert_string_equal(c.serial_path, "/tmp/x");
	assert_int_equal(vm_config_set(&c, "serial", "tcp:1", err, sizeof(err)), -EINVAL);
	assert_int_equal(vm_config_set(&c, "on-reboot", "restart", err, sizeof(err)), 0);
	assert_int_equal(c.on_reboot, ON_REBOOT_RESTART);
	assert_int_equal(vm_config_set(&c, "on-reboot", "maybe", err, sizeof(err)), -EINVAL);
	assert_int_equal(
	    vm_config_set(&c, "disk", "path=/a,cache=none,aio=threads", err, sizeof(err)), 0);
	assert_true(c.disks[0].cache_none);
	assert_int_equal(c.disks[0].aio, AIO_ENGINE_THREADS);
	assert_int_equal(
	    vm_config_set(&c, "disk", "/b,cache=writeback,aio=io_uring", err, sizeof(err)), 0);
	assert_false(c.disks[1].cache_none);
	assert_int_equal(c.disks[1].aio, AIO_ENGINE_IO_URING);
	assert_int_equal(vm_config_set(&c, "disk", "/c", err, sizeof(err)), 0);
	assert_false(c.disks[2].cache_none);
	assert_int_equal(c.disks[2].aio, AIO_ENGINE_AUTO);
	assert_int_equal(vm_config_set(&c, "disk", "/d,cache=directsync", err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "cache"));
	assert_int_equal(vm_config_set(&c, "disk", "/e,aio=native", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "aio"));
	assert_int_equal(vm_config_set(&c, "frobnicate", "1", err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "frobnicate"));
	vm_config_fini(&c);
}

/* --console: off by default; the modes; --serial given or not is remembered (vm_devices.c
 * moves an implicit serial off stdio for --console stdio and refuses an explicit one). */
static void test_console(void **state)
{
	struct vm_config c;
	char err[256];

	assert_int_equal(vm_config_init(&c), 0);
	assert_int_equal(c.console, CONSOLE_OFF);
	assert_false(c.serial_set);
	assert_int_equal(vm_config_set(&c, "console", "stdio", err, sizeof(err)), 0);
	assert_int_equal(c.console, CONSOLE_STDIO);
	assert_int_equal(vm_config_set(&c, "console", "pty", err, sizeof(err)), 0);
	assert_int_equal(c.console, CONSOLE_PTY);
	assert_int_equal(vm_config_set(&c, "console", "file:/tmp/hvc0.log", err, sizeof(err)), 0);
	assert_int_equal(c.console, CONSOLE_FILE);
	assert_string_equal(c.console_path, "/tmp/hvc0.log");
	assert_int_equal(vm_config_set(&c, "console", "none", err, sizeof(err)), 0);
	assert_int_equal(c.console, CONSOLE_OFF);
	assert_int_equal(vm_config_set(&c, "console", "file:", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "--console"));
	assert_int_equal(vm_config_set(&c, "console", "tcp:1", err, sizeof(err)), -EINVAL);
	/* transport=: PCI by default; the last item, so a file path may hold commas */
	assert_int_equal(c.console_transport, VM_TRANSPORT_PCI);
	assert_int_equal(vm_config_set(&c, "console", "stdio,transport=mmio", err, sizeof(err)), 0);
	assert_int_equal(c.console, CONSOLE_STDIO);
	assert_int_equal(c.console_transport, VM_TRANSPORT_MMIO);
	assert_int_equal(
	    vm_config_set(&c, "console", "file:/tmp/a,b.log,transport=pci", err, sizeof(err)), 0);
	assert_int_equal(c.console, CONSOLE_FILE);
	assert_string_equal(c.console_path, "/tmp/a,b.log");
	assert_int_equal(c.console_transport, VM_TRANSPORT_PCI);
	assert_int_equal(vm_config_set(&c, "console", "pty,transport=mmio", err, sizeof(err)), 0);
	assert_int_equal(vm_config_set(&c, "console", "pty", err, sizeof(err)), 0);
	assert_int_equal(c.console_transport, VM_TRANSPORT_PCI);
	assert_int_equal(vm_config_set(&c, "console", "pty,transport=isa", err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "transport=isa: pci or mmio"));
	assert_int_equal(vm_config_set(&c, "console", "stdio,packed=on", err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(vm_config_set(&c, "serial", "bogus", err, sizeof(err)), -EINVAL);
	assert_false(c.serial_set);
	assert_int_equal(vm_config_set(&c, "serial", "stdio", err, sizeof(err)), 0);
	assert_true(c.serial_set);
	vm_config_fini(&c);
}

/* transport= on --disk and --rng: PCI by default. */
static void test_transport(void **state)
{
	struct vm_config c;
	char err[256];

	(void)state;
	assert_int_equal(vm_config_init(&c), 0);
	assert_int_equal(vm_config_set(&c, "disk", "path=/a", err, sizeof(err)), 0);
	assert_int_equal(c.disks[0].transport, VM_TRANSPORT_PCI);
	assert_int_equal(vm_config_set(&c, "disk", "/b,transport=mmio", err, sizeof(err)), 0);
	assert_int_equal(c.disks[1].transport, VM_TRANSPORT_MMIO);
	assert_int_equal(vm_config_set(&c, "disk", "/c,transport=pci", err, sizeof(err)), 0);
	assert_int_equal(c.disks[2].transport, VM_TRANSPORT_PCI);
	assert_int_equal(vm_config_set(&c, "disk", "/d,transport=isa", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "transport"));
	assert_int_equal(vm_config_set(&c, "rng", "on", err, sizeof(err)), 0);
	assert_int_equal(c.rng_transport, VM_TRANSPORT_PCI);
	assert_int_equal(vm_config_set(&c, "rng", "on,transport=mmio", err, sizeof(err)), 0);
	assert_int_equal(c.rng_transport, VM_TRANSPORT_MMIO);
	assert_true(c.rng_rate > 0);
	assert_int_equal(vm_config_set(&c, "rng", "2K,transport=pci", err, sizeof(err)), 0);
	assert_int_equal(c.rng_transport, VM_TRANSPORT_PCI);
	assert_int_equal(c.rng_rate, 2048);
	assert_int_equal(vm_config_set(&c, "rng", "on,transport=usb", err, sizeof(err)), -EINVAL);
	assert_int_equal(vm_config_set(&c, "rng", "on,speed=1", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "transport=pci|mmio"));
	/* packed=on: offer packed virtqueues (off by default) */
	assert_false(c.rng_packed);
	assert_false(c.disks[0].packed);
	assert_int_equal(vm_config_set(&c, "rng", "on,transport=mmio,packed=on", err, sizeof(err)),
			 0);
	assert_true(c.rng_packed);
	assert_int_equal(c.rng_transport, VM_TRANSPORT_MMIO);
	assert_int_equal(vm_config_set(&c, "disk", "/e,packed=on", err, sizeof(err)), 0);
	assert_true(c.disks[c.ndisks - 1].packed);
	assert_int_equal(vm_config_set(&c, "rng", "on,packed=2", err, sizeof(err)), -EINVAL);
	vm_config_fini(&c);
}

static char *write_tmp(const char *text)
{
	char *path = strdup("/tmp/kvmm-config-XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void test_json(void **state)
{
	struct vm_config c;
	char err[256];
	char *ok = write_tmp("{\"memory\": \"1G\", \"cpus\": 2, \"debug_exit\": true,"
			     " \"kernel\": \"/k\", \"cpu-affinity\": \"0=0\"}");
	char *bad_type = write_tmp("{\"memory\": [1]}");
	char *bad_json = write_tmp("{\"memory\": ");
	char *bad_val = write_tmp("{\"serial\": \"tcp\"}");
	char *unknown = write_tmp("{\"colour\": \"blue\"}");
	char *dup = write_tmp("{\"memory\": \"1G\", \"memory\": \"2G\"}");

	assert_int_equal(vm_config_init(&c), 0);
	assert_int_equal(vm_config_load_json(&c, ok, err, sizeof(err)), 0);
	assert_int_equal(c.mem_bytes, 1ull << 30);
	assert_string_equal(c.cpus, "2");
	assert_true(c.debug_exit);
	assert_string_equal(c.kernel, "/k");
	assert_int_equal(c.naffinity, 1);
	assert_int_equal(vm_config_load_json(&c, bad_type, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "memory"));
	assert_int_equal(vm_config_load_json(&c, bad_json, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, bad_json));
	assert_int_equal(vm_config_load_json(&c, bad_val, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "--serial"));
	assert_int_equal(vm_config_load_json(&c, unknown, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "colour"));
	assert_int_equal(vm_config_load_json(&c, dup, err, sizeof(err)), -EINVAL);
	assert_int_equal(vm_config_load_json(&c, "/nonexistent.json", err, sizeof(err)), -EINVAL);
	vm_config_fini(&c);
	const char *paths[] = {ok, bad_type, bad_json, bad_val, unknown, dup};
	for (size_t i = 0; i < 6; i++) {
		unlink(paths[i]);
		free((void *)paths[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_size), cmocka_unit_test(test_parse_cpu_list),
	    cmocka_unit_test(test_affinity),   cmocka_unit_test(test_option_errors),
	    cmocka_unit_test(test_json),       cmocka_unit_test(test_console),
	    cmocka_unit_test(test_transport),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
