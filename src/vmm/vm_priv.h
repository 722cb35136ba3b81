/* vmm/vm_priv.h — struct vm, private to src/vmm/vm*.c. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <linux/kvm.h>

#include "arch/x86/cpuid.h"
#include "arch/x86/e820.h"
#include "arch/x86/boot.h"
#include "arch/x86/layout.h"
#include "base/steptime.h"
#include "devices/dev.h"
#include "vmm/bus.h"
#include "vmm/config.h"
#include "vmm/snapshot_fmt.h"
#include "vmm/vcpu.h"
#include "vmm/vm.h"

struct evloop;
struct gmem;
struct kvm;
struct uart16550;
struct rtc;
struct i8042;
struct reset;
struct debug_exit;
struct fw_cfg;
struct acpi_pm;
struct console;
struct virtio_rng;
struct virtio_blk;
struct virtio_net;
struct virtio_dev;
struct net_backend;
struct acpi_config;
struct disk;
struct virtio_mmio;
struct virtio_console;
struct vm_pci;

#define VM_MAX_VIRTIO_MMIO (LAYOUT_IOAPIC_PINS - LAYOUT_GSI_VIRTIO_MMIO)

/* An ISA interrupt line of the in-kernel irqchip (KVM_IRQ_LINE). */
struct vm_irq {
	struct vm *vm;
	uint32_t gsi;
};

struct vm {
	const struct vm_config *cfg;
	struct kvm *kvm;

	/* Guest RAM: [0, lo_len) and, above the MMIO hole, [4 GiB, 4 GiB + hi_len). */
	uint8_t *ram;
	int ram_fd; /* the memfd behind ram; -1 after a restore mapped the snapshot over it */
	uint64_t ram_len, lo_len, hi_len;
	struct gmem *mem;
	struct e820_map e820;

	struct bus pio, mmio;
	struct dev_event_sink events;
	struct vm_irq irq_com1, irq_rtc, irq_sci, irq_kbd, irq_aux;
	int rtc_timer_fd; /* -1: none */
	struct uart16550 *uart;
	struct rtc *rtc;
	struct i8042 *i8042;
	struct reset *reset;
	struct debug_exit *debug_exit;
	struct fw_cfg *fw_cfg;
	struct acpi_pm *acpi_pm;
	struct virtio_rng *rng;
	/* virtio-mmio slots: slot i is at LAYOUT_VIRTIO_MMIO + i * 4 KiB on GSI 20 + i. */
	unsigned nmmio;
	struct virtio_mmio *mmio_tr[VM_MAX_VIRTIO_MMIO];
	struct vm_irq mmio_irq[VM_MAX_VIRTIO_MMIO];
	struct vm_pci *pci; /* PCI host, virtio-pci functions, MSI routes, ioeventfds */
	struct disk *disks[VM_MAX_DISKS];
	struct virtio_blk *blks[VM_MAX_DISKS];
	struct net_backend *net_be[VM_MAX_NETS]; /* vm_net.c */
	struct virtio_net *nets[VM_MAX_NETS];
	int serial_out_fd; /* where the UART writes; owned if serial_out_owned */
	bool serial_out_owned;
	int serial_in_fd; /* -1: no input */
	char pty_path[64];
	/* The virtio console (--console; vm_vconsole.c). */
	struct virtio_console *vcon;
	int vcon_out_fd, vcon_in_fd; /* -1: none; owned if vcon_fd_owned */
	bool vcon_fd_owned;
	char vcon_pty_path[64];
	struct console *vcon_console; /* its input (stdio, pty) while the VM runs */

	/* CPUs */
	unsigned ncpus;
	struct cpu_topology topo;
	struct cpu_model model;
	uint32_t apic_ids[VM_MAX_VCPUS];
	struct vcpu *vcpus;
	unsigned nvcpus_init; /* vcpus[0..nvcpus_init) went through vcpu_init */
	struct kvm_cpuid_entry2 *supported_cpuid;
	unsigned nsupported_cpuid;

	/* Boot */
	uint8_t *kernel_buf, *initrd_buf;
	size_t kernel_len, initrd_len;
	bool kernel_mapped, initrd_mapped;
	struct boot_entry boot;
	uint64_t rsdp;

	/* Run state */
	struct evloop *el;
	struct console *console;
	pthread_mutex_t lock;
	bool stopping;
	unsigned pause_depth; /* vm_pause() nesting, under vm->lock */
	bool ctl_paused;      /* QMP stop (main thread) */
	struct vm_result result;
	struct vcpu *fatal_vcpu;

	/* --restore (vm_snapshot.c): the validated state file while vm_create runs. */
	int snap_dirfd;
	uint8_t *snap_buf;
	size_t snap_len;
	struct snap_reader snap;
	uint8_t snap_id[16];

	/* vm_create() and vm_run() step timings (base/steptime.h), logged by vm_log_steps. */
	struct steptime steps;
};

/* vm_devices.c */
int vm_devices_create(struct vm *vm, char *err, size_t errlen) KVMM_MUST_CHECK;
void vm_devices_destroy(struct vm *vm);
/* vm_vconsole.c: the virtio console's backend (device created, not attached). */
int vm_vconsole_create(struct vm *vm, char *err, size_t errlen) KVMM_MUST_CHECK;
int vm_vconsole_start(struct vm *vm) KVMM_MUST_CHECK;
void vm_vconsole_poll(struct vm *vm);
void vm_vconsole_stop(struct vm *vm);
void vm_vconsole_destroy(struct vm *vm);
/* vm_pci.c: the PCI host on the buses (0xcf9 reset forwarded), virtio-pci functions, the ACPI
 * description; vm_pci_start after the irqchip exists: MSI routes + irqfds, ioeventfds and the
 * I/O thread. */
struct acpi_config;
struct virtio_dev;
int vm_pci_create(struct vm *vm, const struct io_ops *cf9_ops, void *cf9_dev) KVMM_MUST_CHECK;
int vm_pci_attach_virtio(struct vm *vm, struct virtio_dev *vd, const char *name) KVMM_MUST_CHECK;
void vm_pci_acpi(struct vm *vm, struct acpi_config *ac);
int vm_pci_start(struct vm *vm, char *err, size_t errlen) KVMM_MUST_CHECK;
void vm_pci_destroy(struct vm *vm);
/* Put a virtio device on the next virtio-mmio slot (vm_devices.c). */
int vm_virtio_mmio_attach(struct vm *vm, struct acpi_config *ac, struct virtio_dev *vd,
			  const char *name) KVMM_MUST_CHECK;
/* Attach a virtio device on PCI or virtio-mmio; packed: offer packed virtqueues (vm_devices.c). */
int vm_virtio_attach(struct vm *vm, struct acpi_config *ac, struct virtio_dev *vd,
		     enum vm_transport t, bool packed, const char *name) KVMM_MUST_CHECK;
/* --net devices and their backends (vm_net.c). */
int vm_net_create(struct vm *vm, struct acpi_config *ac, char *err, size_t errlen) KVMM_MUST_CHECK;
void vm_net_destroy(struct vm *vm);
/* vm_memory.c */
int vm_memory_create(struct vm *vm, char *err, size_t errlen) KVMM_MUST_CHECK;
int vm_memory_register(struct vm *vm, char *err, size_t errlen) KVMM_MUST_CHECK;
void vm_memory_destroy(struct vm *vm);
/* vm_cpus.c */
int vm_cpus_create(struct vm *vm, char *err, size_t errlen) KVMM_MUST_CHECK;
void vm_cpus_destroy(struct vm *vm);
/* vm_diag.c: one-screen diagnostic for a fatal exit. */
void vm_diag_fatal(struct vm *vm, struct vcpu *v);
/* vm.c: log vm->steps as one line ("restore<what>: ..." at -v, "create<what>: ..." at -vv). */
void vm_log_steps(struct vm *vm, const char *what);
