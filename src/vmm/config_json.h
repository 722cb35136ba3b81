/* vmm/config_json.h — a vm_config written back as the JSON object `kvmm run --config FILE`
 * (vm_config_load_json) reads: option names as keys, repeatable options (disk, net) as arrays,
 * every value the option text vm_config_set() parses back into the same field. A snapshot
 * stores it (docs/snapshot.md) so `kvmm run --restore DIR` needs no other option.
 *
 * Stored: name, kernel, initrd, cmdline, memory, cpus, cpu, cpu-affinity, serial (when given or
 * not the default), console, debug-exit, on-reboot, rng, disk, net. Paths (kernel, initrd, disk
 * images, file: serial and console) are made absolute (realpath, or the working directory
 * prepended for a file that does not exist), so the text means the same from any directory.
 * Not stored: the built-in demo kernel (no kernel key), restore, qmp, config, kvm-device (the
 * host side of one process). Main thread; pure apart from realpath/getcwd. */
#pragma once

#include <stddef.h>

#include "base/compiler.h"
#include "vmm/config.h"

/* *out: a malloc'd NUL-terminated JSON text (the caller frees it). -EINVAL with one line in
 * err for a value the option syntax cannot carry (a disk path with a comma); -ENOMEM. */
int vm_config_to_json(const struct vm_config *c, char **out, char *err,
		      size_t errlen) KVMM_MUST_CHECK;
