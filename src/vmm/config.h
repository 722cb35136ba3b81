/* vmm/config.h — the VM's configuration: one struct filled from `kvmm run` options or from a
 * JSON --config file through the same option setter, so both accept exactly the same fields and
 * values. Main thread only; immutable once the VM is created. */
#pragma once

#include <sched.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/compiler.h"
#include "net/opts.h"
#include "block/aio.h"

#define VM_MAX_VCPUS	    256
#define VM_CONFIG_ERRLEN    256
#define VM_RNG_DEFAULT_RATE (1ull << 20) /* bytes per second */

enum serial_mode { SERIAL_STDIO, SERIAL_FILE, SERIAL_PTY, SERIAL_NONE };
enum on_reboot { ON_REBOOT_EXIT, ON_REBOOT_RESTART };
/* --console: the virtio console (hvc0); off by default. */
enum console_mode { CONSOLE_OFF, CONSOLE_STDIO, CONSOLE_PTY, CONSOLE_FILE };

struct vcpu_affinity {
	unsigned vcpu;
	cpu_set_t cpus;
};

#define VM_MAX_DISKS 8
#define VM_MAX_NETS  4

/* How a virtio device is attached: PCI (the default) or virtio-mmio. */
enum vm_transport { VM_TRANSPORT_PCI = 0, VM_TRANSPORT_MMIO };

/* --disk path=FILE[,format=raw|qcow2|auto][,readonly=on][,serial=ID][,discard=on][,queues=N]
 *        [,transport=pci|mmio][,packed=on][,cache=none|writeback][,aio=io_uring|threads] */
struct vm_disk_config {
	char *path;
	char *format; /* NULL: probe */
	char *serial; /* NULL: none */
	bool readonly, discard;
	bool packed; /* packed=on: offer packed virtqueues */
	uint16_t queues;
	enum vm_transport transport;
	bool cache_none;     /* cache=none: O_DIRECT (default writeback: the page cache) */
	enum aio_engine aio; /* AIO_ENGINE_AUTO unless aio= */
};

struct vm_config {
	char *name;
	char *kernel;		    /* path; NULL: use kernel_data */
	const uint8_t *kernel_data; /* a built-in image (the demo guest); not owned */
	size_t kernel_data_len;
	const char *kernel_data_name;
	char *initrd;
	char *cmdline;
	uint64_t mem_bytes;
	char *cpus;	 /* "N[,sockets=S,cores=C,threads=T]" as given */
	char *cpu_model; /* "MODEL[,+feat,-feat]" as given */
	struct vcpu_affinity *affinity;
	unsigned naffinity;
	enum serial_mode serial;
	char *serial_path;
	bool serial_set; /* --serial given: with --console stdio, stdio is refused, not moved */
	enum console_mode console;
	char *console_path;		     /* CONSOLE_FILE */
	enum vm_transport console_transport; /* --console MODE,transport=pci|mmio (pci) */
	bool debug_exit;
	uint64_t rng_rate; /* virtio-rng bytes per second; 0: no device */
	bool rng_packed;   /* --rng ...,packed=on */
	enum vm_transport rng_transport;
	struct vm_disk_config disks[VM_MAX_DISKS];
	unsigned ndisks;
	struct net_opts nets[VM_MAX_NETS]; /* --net (net/opts.h), repeatable */
	unsigned nnets;
	enum on_reboot on_reboot;
	char *kvm_path; /* "/dev/kvm" */
	char *restore;	/* --restore DIR: start from this snapshot; NULL: boot the kernel */
	char *qmp;	/* QMP socket path (--qmp unix:PATH[,server]); NULL: none */
};

/* Defaults: 256 MiB, 1 vCPU, model "host", serial on stdio, on-reboot exit. -ENOMEM. */
int vm_config_init(struct vm_config *c) KVMM_MUST_CHECK;
void vm_config_fini(struct vm_config *c);

/* Set one option by its long name ("memory", "cpus", ...) from its textual value.
 * -EINVAL with a message naming the option and the problem in err; -ENOENT for an unknown key. */
int vm_config_set(struct vm_config *c, const char *key, const char *value, char *err,
		  size_t errlen) KVMM_MUST_CHECK;

/* Load a JSON object whose keys are option names ("cpu-affinity" or "cpu_affinity"); values
 * are strings, numbers or booleans. Errors name the file, the key and the problem. */
int vm_config_load_json(struct vm_config *c, const char *path, char *err,
			size_t errlen) KVMM_MUST_CHECK;

/* The same from JSON text in memory (a snapshot's saved configuration); `name` stands for the
 * file in errors. */
int vm_config_load_json_text(struct vm_config *c, const char *name, const char *text, size_t len,
			     char *err, size_t errlen) KVMM_MUST_CHECK;

/* Parse a size with an optional K/M/G/T suffix (binary units; a bare number is MiB for
 * memory as in QEMU's -m when `default_mib`, bytes otherwise). -EINVAL / -ERANGE. */
int parse_size(const char *s, bool default_mib, uint64_t *out) KVMM_MUST_CHECK;

/* Parse a host CPU list "0-3,6" into a set. -EINVAL. */
int parse_cpu_list(const char *s, cpu_set_t *set) KVMM_MUST_CHECK;
