/* Unit tests for vmm/config_json (the configuration a snapshot stores) and net_opts_format():
 * a configuration with every field away from its default is written as JSON and read back by
 * vm_config_load_json into an equal struct (compared field by field); relative paths come back
 * absolute; every --net field round-trips; what must not be stored is not. */
#include "lib/harness.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/opts.h"
#include "vmm/config.h"
#include "vmm/config_json.h"

static void set(struct vm_config *c, const char *k, const char *v)
{
	char err[VM_CONFIG_ERRLEN] = "";
	int r = vm_config_set(c, k, v, err, sizeof(err));

	if (r)
		fail_msg("vm_config_set(%s, %s): %s", k, v, err);
}

/* Write the JSON to a file and load it with the --config loader into a fresh config. */
static void round_trip(const struct vm_config *in, struct vm_config *out, char **text)
{
	char err[VM_CONFIG_ERRLEN] = "", path[] = "/tmp/kvmm-config-json-XXXXXX";
	int fd;

	assert_int_equal(vm_config_to_json(in, text, err, sizeof(err)), 0);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, *text, strlen(*text)), (ssize_t)strlen(*text));
	close(fd);
	assert_int_equal(vm_config_init(out), 0);
	if (vm_config_load_json(out, path, err, sizeof(err)))
		fail_msg("load: %s\n%s", err, *text);
	unlink(path);
}

static void assert_str_eq_or_null(const char *a, const char *b)
{
	if (!a || !b)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

static void assert_net_equal(const struct net_opts *a, const struct net_opts *b)
{
	assert_int_equal(a->kind, b->kind);
	assert_memory_equal(a->mac, b->mac, sizeof(a->mac));
	assert_int_equal(a->mac_set, b->mac_set);
	assert_int_equal(a->queues, b->queues);
	assert_int_equal(a->mmio, b->mmio);
	assert_int_equal(a->net, b->net);
	assert_int_equal(a->mask, b->mask);
	assert_int_equal(a->restrict_, b->restrict_);
	assert_int_equal(a->nfwd, b->nfwd);
	for (unsigned i = 0; i < a->nfwd; i++) {
		assert_int_equal(a->fwd[i].udp, b->fwd[i].udp);
		assert_int_equal(a->fwd[i].host_addr, b->fwd[i].host_addr);
		assert_int_equal(a->fwd[i].host_port, b->fwd[i].host_port);
		assert_int_equal(a->fwd[i].guest_addr, b->fwd[i].guest_addr);
		assert_int_equal(a->fwd[i].guest_port, b->fwd[i].guest_port);
	}
	assert_string_equal(a->ifname, b->ifname);
	assert_string_equal(a->bridge, b->bridge);
}

/* Every field but the paths (compared by the caller) and what is never stored. */
static void assert_config_equal(const struct vm_config *a, const struct vm_config *b)
{
	assert_str_eq_or_null(a->name, b->name);
	assert_str_eq_or_null(a->cmdline, b->cmdline);
	assert_int_equal(a->mem_bytes, b->mem_bytes);
	assert_string_equal(a->cpus, b->cpus);
	assert_string_equal(a->cpu_model, b->cpu_model);
	assert_int_equal(a->naffinity, b->naffinity);
	for (unsigned i = 0; i < a->naffinity; i++) {
		assert_int_equal(a->affinity[i].vcpu, b->affinity[i].vcpu);
		assert_true(CPU_EQUAL(&a->affinity[i].cpus, &b->affinity[i].cpus));
	}
	assert_int_equal(a->serial, b->serial);
	assert_int_equal(a->serial_set, b->serial_set);
	assert_int_equal(a->console, b->console);
	assert_int_equal(a->console_transport, b->console_transport);
	assert_int_equal(a->debug_exit, b->debug_exit);
	assert_int_equal(a->rng_rate, b->rng_rate);
	assert_int_equal(a->rng_packed, b->rng_packed);
	assert_int_equal(a->rng_transport, b->rng_transport);
	assert_int_equal(a->ndisks, b->ndisks);
	for (unsigned i = 0; i < a->ndisks; i++) {
		const struct vm_disk_config *x = &a->disks[i], *y = &b->disks[i];

		assert_str_eq_or_null(x->format, y->format);
		assert_str_eq_or_null(x->serial, y->serial);
		assert_int_equal(x->readonly, y->readonly);
		assert_int_equal(x->discard, y->discard);
		assert_int_equal(x->packed, y->packed);
		assert_int_equal(x->queues, y->queues);
		assert_int_equal(x->transport, y->transport);
		assert_int_equal(x->cache_none, y->cache_none);
		assert_int_equal(x->aio, y->aio);
	}
	assert_int_equal(a->nnets, b->nnets);
	for (unsigned i = 0; i < a->nnets; i++)
		assert_net_equal(&a->nets[i], &b->nets[i]);
	assert_int_equal(a->on_reboot, b->on_reboot);
}

/* dir/rel as an absolute path (dir is a realpath already). */
static void assert_abs(const char *got, const char *dir, const char *rel)
{
	char want[PATH_MAX];

	snprintf(want, sizeof(want), "%s/%s", dir, rel);
	assert_non_null(got);
	assert_string_equal(got, want);
}

static char *enter_tmpdir(char *saved_cwd, size_t len)
{
	char tmpl[] = "/tmp/kvmm-cj-XXXXXX", *dir;

	assert_non_null(getcwd(saved_cwd, len));
	assert_non_null(mkdtemp(tmpl));
	dir = realpath(tmpl, NULL);
	assert_non_null(dir);
	assert_int_equal(chdir(dir), 0);
	return dir;
}

static void leave_tmpdir(const char *saved_cwd, char *dir)
{
	char cmd[PATH_MAX + 16];

	assert_int_equal(chdir(saved_cwd), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	free(dir);
}

static void touch(const char *p)
{
	int fd = open(p, O_WRONLY | O_CREAT, 0600);

	assert_true(fd >= 0);
	close(fd);
}

static void test_every_field(void **state)
{
	struct vm_config in, out;
	char cwd[PATH_MAX], *dir, *text = NULL;

	(void)state;
	dir = enter_tmpdir(cwd, sizeof(cwd));
	touch("k.elf");
	touch("d1.img");
	assert_int_equal(vm_config_init(&in), 0);
	set(&in, "name", "vm-one");
	set(&in, "kernel", "k.elf");	      /* exists: realpath */
	set(&in, "initrd", "sub/initrd.img"); /* does not: the working directory prepended */
	set(&in, "cmdline", "console=ttyS0 a=\"b,c\" rounds=5");
	set(&in, "memory", "3076K"); /* not a whole MiB */
	set(&in, "cpus", "4,sockets=2,cores=2,threads=1");
	set(&in, "cpu", "x86-64-v2,+avx,-sse4a");
	set(&in, "cpu-affinity", "0=2-3,6:1=4:3=0,7-9");
	set(&in, "serial", "file:serial.log");
	set(&in, "console", "file:con,sole.log,transport=mmio");
	set(&in, "debug-exit", "on");
	set(&in, "on-reboot", "restart");
	set(&in, "rng", "5K,transport=mmio,packed=on");
	set(&in, "disk",
	    "path=d1.img,format=qcow2,readonly=on,serial=SER-1,discard=on,queues=4,"
	    "transport=mmio,packed=on,cache=none,aio=threads");
	set(&in, "disk", "d2.img,aio=io_uring");
	set(&in, "net",
	    "user,net=10.9.8.0/23,restrict=on,hostfwd=tcp::2222-:22,"
	    "hostfwd=udp:127.0.0.1:5353-10.9.8.20:53,mac=52:54:00:aa:bb:cc,transport=mmio");
	set(&in, "net", "tap,ifname=tap7,queues=3,mac=02:00:00:00:00:01");
	set(&in, "net", "bridge,br=br0,ifname=tapb");
	set(&in, "net", "bridge,br=br1");
	set(&in, "qmp", "unix:/tmp/never-stored.sock");
	set(&in, "restore", "/tmp/never-stored");
	set(&in, "kvm-device", "/dev/never-stored");

	round_trip(&in, &out, &text);
	assert_config_equal(&in, &out);
	assert_abs(out.kernel, dir, "k.elf");
	assert_abs(out.initrd, dir, "sub/initrd.img");
	assert_abs(out.serial_path, dir, "serial.log");
	assert_abs(out.console_path, dir, "con,sole.log");
	assert_abs(out.disks[0].path, dir, "d1.img");
	assert_abs(out.disks[1].path, dir, "d2.img");
	/* Host-side options of one process are not stored. */
	assert_null(out.qmp);
	assert_null(out.restore);
	assert_string_equal(out.kvm_path, "/dev/kvm");
	assert_null(strstr(text, "never-stored"));

	/* Read back from another directory: the same absolute paths. */
	assert_int_equal(chdir("/"), 0);
	{
		struct vm_config again;
		char err[VM_CONFIG_ERRLEN] = "";

		assert_int_equal(vm_config_init(&again), 0);
		assert_int_equal(
		    vm_config_load_json_text(&again, "saved", text, strlen(text), err, sizeof(err)),
		    0);
		assert_config_equal(&in, &again);
		assert_abs(again.disks[0].path, dir, "d1.img");
		vm_config_fini(&again);
	}
	free(text);
	vm_config_fini(&in);
	vm_config_fini(&out);
	leave_tmpdir(cwd, dir);
}

/* The defaults: no kernel key for the demo guest, no serial key unless --serial was given (so
 * --console stdio can still move the serial port off stdio), no disk/net keys. */
static void test_defaults(void **state)
{
	struct vm_config in, out;
	char *text = NULL;

	(void)state;
	assert_int_equal(vm_config_init(&in), 0);
	round_trip(&in, &out, &text);
	assert_config_equal(&in, &out);
	assert_null(out.kernel);
	assert_null(strstr(text, "\"kernel\""));
	assert_null(strstr(text, "\"serial\""));
	assert_null(strstr(text, "\"disk\""));
	assert_null(strstr(text, "\"net\""));
	assert_false(out.serial_set);
	free(text);
	vm_config_fini(&out);

	/* An explicit --serial stdio is kept; rng rates that parse_bool would misread ("1"). */
	set(&in, "serial", "stdio");
	set(&in, "rng", "1B,transport=pci");
	set(&in, "console", "off,transport=mmio");
	round_trip(&in, &out, &text);
	assert_config_equal(&in, &out);
	assert_true(out.serial_set);
	assert_int_equal(out.rng_rate, 1);
	free(text);
	vm_config_fini(&out);
	vm_config_fini(&in);
}

static void test_unstorable(void **state)
{
	struct vm_config c;
	char err[VM_CONFIG_ERRLEN] = "", *text = NULL;

	(void)state;
	assert_int_equal(vm_config_init(&c), 0);
	set(&c, "disk", "path=/tmp/a.img");
	free(c.disks[0].path);
	c.disks[0].path = strdup("/tmp/a,b.img"); /* only a symlink's target could hold ',' */
	assert_int_equal(vm_config_to_json(&c, &text, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "a,b.img"));
	assert_null(text);
	vm_config_fini(&c);
}

static void test_load_text_errors(void **state)
{
	struct vm_config c;
	char err[VM_CONFIG_ERRLEN] = "";
	static const char notjson[] = "memory=128M", badopt[] = "{\"memory\": \"lots\"}";

	(void)state;
	assert_int_equal(vm_config_init(&c), 0);
	assert_int_equal(
	    vm_config_load_json_text(&c, "saved", notjson, strlen(notjson), err, sizeof(err)),
	    -EINVAL);
	assert_non_null(strstr(err, "saved is not JSON (line 1"));
	assert_int_equal(
	    vm_config_load_json_text(&c, "saved", badopt, strlen(badopt), err, sizeof(err)),
	    -EINVAL);
	assert_non_null(strstr(err, "saved: --memory: 'lots' is not a size"));
	assert_int_equal(vm_config_load_json_text(&c, "saved", "[1]", 3, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "must be a JSON object"));
	vm_config_fini(&c);
}

/* net_opts_format: every field of each backend parses back equal. */
static void test_net_round_trip(void **state)
{
	static const char *const cases[] = {
	    "user",
	    "user,net=192.168.0.0/16,restrict=on,mac=52:54:00:01:02:03,transport=mmio",
	    ("user,hostfwd=tcp::80-:8080,hostfwd=udp:10.1.2.3:1-10.0.2.99:65535,"
	     "hostfwd=tcp:0.0.0.0:22-:22"),
	    "tap,ifname=t0",
	    "tap,ifname=tap-long-name1,queues=4,transport=mmio,mac=0a:0b:0c:0d:0e:0f",
	    "bridge,br=virbr0",
	    "bridge,br=virbr0,ifname=vtap,mac=52:54:00:ff:ee:dd",
	};
	char err[256], buf[2048], small[8];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct net_opts a, b;

		assert_int_equal(net_opts_parse(cases[i], &a, err, sizeof(err)), 0);
		assert_int_equal(net_opts_format(&a, buf, sizeof(buf)), 0);
		if (net_opts_parse(buf, &b, err, sizeof(err)))
			fail_msg("%s -> %s: %s", cases[i], buf, err);
		assert_net_equal(&a, &b);
	}
	{
		struct net_opts a;

		assert_int_equal(net_opts_parse(cases[1], &a, err, sizeof(err)), 0);
		assert_int_equal(net_opts_format(&a, small, sizeof(small)), -ENOSPC);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_field),	   cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_unstorable),	   cmocka_unit_test(test_load_text_errors),
	    cmocka_unit_test(test_net_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
