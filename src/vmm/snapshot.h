/* vmm/snapshot.h — snapshot and restore of a whole VM (private to src/vmm).
 *
 * A snapshot is a directory: `state` (snapshot_fmt.h: vCPUs, irqchip, PIT, clock, devices)
 * and `memory` (guest RAM, sparse, with a trailer naming the state it belongs to). The public
 * entry points are vm_snapshot_save() in vm.h and `--restore DIR` (vm_config.restore).
 * Main thread, or the thread that runs the event loop. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <stdbool.h>

#include "base/compiler.h"
#include "vmm/snapshot_fmt.h"

struct snap_reader;
struct snap_writer;
struct vm;

#define SNAP_STATE_FILE	 "state"
#define SNAP_MEMORY_FILE "memory"
/* The VM's configuration as `kvmm run --config` JSON text (vmm/config_json.h). */
#define SNAP_TAG_CONF SNAP_TAG('c', 'o', 'n', 'f')

/* snapshot_mem.c */
int snap_mem_save(struct vm *vm, int dirfd, const char *name, const uint8_t id[16]) KVMM_MUST_CHECK;
int snap_mem_map(struct vm *vm, int dirfd, const char *name, const uint8_t id[16], char *err,
		 size_t errlen) KVMM_MUST_CHECK;

/* vm_snapshot.c: the restore steps vm_create() calls. */
/* Before KVM: read and validate DIR/state and check it fits the configuration. */
int vm_snapshot_open(struct vm *vm, char *err, size_t errlen) KVMM_MUST_CHECK;
/* After the devices and tables exist, before KVM memory slots: map DIR/memory over RAM. */
int vm_snapshot_map_memory(struct vm *vm, char *err, size_t errlen) KVMM_MUST_CHECK;
/* After the vCPUs exist: load devices, irqchip, PIT, vCPUs and clock. */
int vm_snapshot_load(struct vm *vm, char *err, size_t errlen) KVMM_MUST_CHECK;
void vm_snapshot_close(struct vm *vm);
/* Open DIR, read its state file (at most 1 GiB) into a malloc'd *buf and validate it as a whole
 * (snap_reader_open into *r). The directory stays open in *dirfd_out (closed if NULL). On
 * error nothing is left open or allocated, and err holds one line "--restore DIR: ...". */
int snap_state_open(const char *dir, int *dirfd_out, uint8_t **buf, size_t *len,
		    struct snap_reader *r, char *err, size_t errlen) KVMM_MUST_CHECK;

/* vm_snapshot_dev.c: virtio-net (with libslirp's state) and the virtio console. */
/* Park (stop = true) or release the event loop around a save. */
void vm_snapshot_dev_quiesce(struct vm *vm, bool stop);
/* Their sections; *what names the part that failed. -EBUSY: a net TX queue waits for its
 * backend (retry later). */
int vm_snapshot_dev_save(struct vm *vm, struct snap_writer *w, const char **what) KVMM_MUST_CHECK;
/* After the virtio cores are loaded. */
int vm_snapshot_dev_load(struct vm *vm, const struct snap_reader *r,
			 const char **what) KVMM_MUST_CHECK;

/* vm_snapshot_pci.c: the PCI host and the virtio-pci functions. */
/* Save: a function with a packed queue that has requests in flight: -EBUSY, one line in msg. */
int vm_snapshot_pci_busy(struct vm *vm, char *msg, size_t len) KVMM_MUST_CHECK;
/* Save: park (quiet) or release the I/O thread that serves queue notifications. */
void vm_snapshot_pci_quiesce(struct vm *vm, bool quiet);
void vm_snapshot_pci_save(struct snap_writer *w, struct vm *vm);
/* Restore, before KVM: the snapshot's PCI functions are those of the configuration. */
int vm_snapshot_pci_check(struct vm *vm, const struct snap_reader *r, char *msg,
			  size_t len) KVMM_MUST_CHECK;
/* Restore, with the devices: load every function; what names the part that failed. */
int vm_snapshot_pci_load(struct vm *vm, const struct snap_reader *r, char *what,
			 size_t len) KVMM_MUST_CHECK;
/* Restore, once everything is loaded: one notification per queue (a kick lost in the save). */
void vm_snapshot_pci_kick(struct vm *vm);
