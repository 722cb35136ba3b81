/* vmm/vm_devices.c — the platform devices, their bus ranges and interrupt lines, and the
 * firmware-visible tables (ACPI, MP table, fw_cfg, CMOS memory size). Ports and GSIs come
 * from arch/x86/layout.h. */
#include "vmm/vm_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/x86/acpi.h"
#include "arch/x86/layout.h"
#include "arch/x86/mptable.h"
#include "base/evloop.h"
#include "base/log.h"
#include "devices/legacy/acpi_pm.h"
#include "devices/legacy/debug_exit.h"
#include "devices/legacy/fw_cfg.h"
#include "devices/legacy/i8042.h"
#include "devices/legacy/reset.h"
#include "devices/legacy/rtc.h"
#include "devices/legacy/uart16550.h"
#include "block/disk.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/console.h"
#include "devices/virtio/mmio.h"
#include "devices/virtio/rng.h"
#include "kvm/kvm.h"

static int vm_irq_set(void *ctx, bool level)
{
	struct vm_irq *irq = ctx;

	return kvm_irq_line(irq->vm->kvm, irq->gsi, level);
}

static struct irq_line vm_irq_line(struct vm *vm, struct vm_irq *irq, uint32_t gsi)
{
	irq->vm = vm;
	irq->gsi = gsi;
	return (struct irq_line){vm_irq_set, irq};
}

/* Device requests (reset, power-off, debug-exit) arrive here on the vCPU thread that made the
 * access; they stop the VM. */
static void vm_dev_event(void *ctx, enum dev_event_kind kind, int code)
{
	struct vm *vm = ctx;

	switch (kind) {
	case DEV_EVENT_RESET:
		vm_request_stop(vm, VM_EXIT_RESET, 0);
		return;
	case DEV_EVENT_POWEROFF:
		vm_request_stop(vm, VM_EXIT_POWEROFF, 0);
		return;
	case DEV_EVENT_EXIT_CODE:
		vm_request_stop(vm, VM_EXIT_DEBUG_EXIT, code);
		return;
	}
}

static void vm_uart_rx_ready(void *ctx)
{
	struct vm *vm = ctx;

	evloop_wake(vm->el);
}

static int vm_serial_open(struct vm *vm, char *err, size_t errlen)
{
	const struct vm_config *c = vm->cfg;
	int fd, e;

	/* One terminal, one console: --console stdio moves the serial port's default off stdio
	 * (to none); an explicit --serial stdio with it is refused. */
	if (c->console == CONSOLE_STDIO && c->serial == SERIAL_STDIO) {
		if (!c->serial_set)
			return 0;
		snprintf(err, errlen,
			 "--serial stdio and --console stdio cannot share the terminal "
			 "(use --serial file:PATH, pty or none)");
		return -EINVAL;
	}
	switch (c->serial) {
	case SERIAL_STDIO:
		vm->serial_out_fd = STDOUT_FILENO;
		vm->serial_in_fd = STDIN_FILENO;
		return 0;
	case SERIAL_NONE:
		return 0;
	case SERIAL_FILE:
		fd = open(c->serial_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0) {
			e = -errno;
			snprintf(err, errlen, "--serial file:%s: %s", c->serial_path, strerror(-e));
			return e;
		}
		vm->serial_out_fd = fd;
		vm->serial_out_owned = true;
		return 0;
	case SERIAL_PTY:
		fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (fd < 0 || grantpt(fd) || unlockpt(fd) ||
		    ptsname_r(fd, vm->pty_path, sizeof(vm->pty_path))) {
			e = -errno;
			if (fd >= 0)
				close(fd);
			snprintf(err, errlen, "--serial pty: cannot allocate a pty: %s",
				 strerror(-e));
			return e;
		}
		vm->serial_out_fd = vm->serial_in_fd = fd;
		vm->serial_out_owned = true;
		fprintf(stderr, "kvmm: serial console on %s\n", vm->pty_path);
		return 0;
	}
	return -EINVAL;
}

static int vm_legacy_create(struct vm *vm)
{
	struct uart16550_config uc = {
	    .out_fd = vm->serial_out_fd,
	    .irq = vm_irq_line(vm, &vm->irq_com1, LAYOUT_IRQ_COM1),
	    .rx_ready = vm_uart_rx_ready,
	    .rx_ready_ctx = vm,
	};
	struct rtc_config rc = {.irq = vm_irq_line(vm, &vm->irq_rtc, LAYOUT_IRQ_RTC)};
	struct acpi_pm_config pc = {.sci = vm_irq_line(vm, &vm->irq_sci, LAYOUT_IRQ_ACPI_SCI)};
	struct i8042_config kc;
	int e;

	vm->events = (struct dev_event_sink){vm_dev_event, vm};
	pc.events = vm->events;
	kc = (struct i8042_config){
	    .events = vm->events,
	    .kbd_irq = vm_irq_line(vm, &vm->irq_kbd, LAYOUT_IRQ_KBD),
	    .aux_irq = vm_irq_line(vm, &vm->irq_aux, LAYOUT_IRQ_AUX),
	};
	e = uart16550_create(&vm->uart, &uc);
	if (!e)
		e = bus_add(&vm->pio, LAYOUT_PORT_COM1, 8, &uart16550_io_ops, vm->uart, "com1");
	if (!e)
		e = rtc_create(&vm->rtc, &rc);
	if (!e)
		e = bus_add(&vm->pio, LAYOUT_PORT_RTC, 2, &rtc_io_ops, vm->rtc, "rtc");
	if (!e)
		e = i8042_create(&vm->i8042, &kc);
	/* 0x60 data and 0x64 command/status; 0x61 (PIT/speaker) is handled inside KVM. */
	if (!e)
		e = bus_add(&vm->pio, LAYOUT_PORT_I8042, 5, &i8042_io_ops, vm->i8042, "i8042");
	if (!e)
		e = reset_create(&vm->reset, &vm->events);
	/* 0xcf9 lies inside the PCI host's config-port dword: the host forwards it. */
	if (!e)
		e = vm_pci_create(vm, &reset_io_ops, vm->reset);
	if (!e)
		e = acpi_pm_create(&vm->acpi_pm, &pc);
	if (!e)
		e = bus_add(&vm->pio, LAYOUT_PORT_ACPI_PM, ACPI_PM_SIZE, &acpi_pm_io_ops,
			    vm->acpi_pm, "acpi-pm");
	if (!e && vm->cfg->debug_exit) {
		e = debug_exit_create(&vm->debug_exit, &vm->events);
		if (!e)
			e = bus_add(&vm->pio, LAYOUT_PORT_DEBUG_EXIT, 4, &debug_exit_io_ops,
				    vm->debug_exit, "debug-exit");
	}
	return e;
}

/* Put a virtio device on the next virtio-mmio slot: 4 KiB window, its own level-triggered GSI,
 * and a DSDT entry (LNRO0005) so the guest finds it. */
int vm_virtio_mmio_attach(struct vm *vm, struct acpi_config *ac, struct virtio_dev *vd,
			  const char *name)
{
	unsigned slot = vm->nmmio;
	uint64_t base = LAYOUT_VIRTIO_MMIO + slot * LAYOUT_VIRTIO_MMIO_SIZE;
	uint32_t gsi = LAYOUT_GSI_VIRTIO_MMIO + slot;
	struct irq_line irq;
	int e;

	if (slot >= VM_MAX_VIRTIO_MMIO)
		return -ENOSPC;
	irq = vm_irq_line(vm, &vm->mmio_irq[slot], gsi);
	e = virtio_mmio_create(&vm->mmio_tr[slot], vd, &irq);
	if (e)
		return e;
	vm->nmmio++;
	e = bus_add(&vm->mmio, base, LAYOUT_VIRTIO_MMIO_SIZE, &virtio_mmio_io_ops,
		    vm->mmio_tr[slot], name);
	if (e)
		return e;
	ac->virtio_mmio[ac->n_virtio_mmio++] = (struct acpi_virtio_mmio){
	    .base = base,
	    .len = LAYOUT_VIRTIO_MMIO_SIZE,
	    .gsi = gsi,
	    .edge = false,
	};
	return 0;
}

/* Attach a virtio device on its transport; packed: offer packed virtqueues (packed=on). */
int vm_virtio_attach(struct vm *vm, struct acpi_config *ac, struct virtio_dev *vd,
		     enum vm_transport t, bool packed, const char *name)
{
	virtio_dev_offer_packed(vd, packed);
	if (t == VM_TRANSPORT_MMIO)
		return vm_virtio_mmio_attach(vm, ac, vd, name);
	return vm_pci_attach_virtio(vm, vd, name);
}

static int vm_disk_create(struct vm *vm, struct acpi_config *ac, unsigned i, char *err,
			  size_t errlen)
{
	const struct vm_disk_config *dc = &vm->cfg->disks[i];
	struct disk_open_opts oo = {.format = dc->format,
				    .flags = (dc->readonly ? DISK_O_RDONLY : 0) |
					     (dc->cache_none ? DISK_O_DIRECT : 0)};
	struct virtio_blk_opts bo = {.serial = dc->serial,
				     .readonly = dc->readonly,
				     .discard = dc->discard,
				     .write_zeroes = dc->discard,
				     .queues = dc->queues,
				     .aio = dc->aio};
	int e = disk_open(dc->path, &oo, &vm->disks[i]);

	if (e) {
		snprintf(err, errlen, "--disk %s: %s", dc->path, strerror(-e));
		return e;
	}
	e = virtio_blk_create(&vm->blks[i], vm->mem, vm->disks[i], &bo);
	if (!e)
		log_info("virtio-blk: %s: %s, cache=%s, aio=%s", dc->path,
			 disk_format(vm->disks[i]), dc->cache_none ? "none" : "writeback",
			 virtio_blk_aio_engine(vm->blks[i]));
	if (!e)
		e = vm_virtio_attach(vm, ac, virtio_blk_dev(vm->blks[i]), dc->transport, dc->packed,
				     "virtio-blk");
	if (e)
		snprintf(err, errlen, "--disk %s: cannot create the device: %s", dc->path,
			 strerror(-e));
	return e;
}

/* virtio devices on PCI (default) or virtio-mmio: the rng first (when enabled), then the disks in
 * order, then the virtio console (--console), then the NICs; each kind of transport hands out
 * its slots in that order. */
static int vm_virtio_create(struct vm *vm, struct acpi_config *ac, char *err, size_t errlen)
{
	int e = 0;

	if (vm->cfg->rng_rate) {
		e = virtio_rng_create(&vm->rng, vm->mem, vm->cfg->rng_rate, NULL, NULL);
		if (!e)
			e = vm_virtio_attach(vm, ac, virtio_rng_dev(vm->rng),
					     vm->cfg->rng_transport, vm->cfg->rng_packed,
					     "virtio-rng");
		if (e) {
			snprintf(err, errlen, "--rng: cannot create the device: %s", strerror(-e));
			return e;
		}
	}
	for (unsigned i = 0; !e && i < vm->cfg->ndisks; i++)
		e = vm_disk_create(vm, ac, i, err, errlen);
	if (!e && vm->cfg->console != CONSOLE_OFF) {
		e = vm_vconsole_create(vm, err, errlen);
		if (!e)
			e = vm_virtio_attach(vm, ac, virtio_console_dev(vm->vcon),
					     vm->cfg->console_transport, false, "virtio-console");
		if (e && !err[0])
			snprintf(err, errlen, "--console: cannot attach the device: %s",
				 strerror(-e));
	}
	if (!e)
		e = vm_net_create(vm, ac, err, errlen);
	return e;
}

/* What firmware and test guests read: fw_cfg items, CMOS memory size, ACPI and MP tables (not
 * on a restore: those two live in guest RAM, which the snapshot replaces). */
static int vm_tables_create(struct vm *vm, char *err, size_t errlen)
{
	struct acpi_config ac = {
	    .ncpus = vm->ncpus,
	    .apic_ids = vm->apic_ids,
	    .slp_typ_s5 = ACPI_PM_SLP_TYP_S5,
	    .has_i8042 = true,
	};
	uint8_t e820[E820_MAX_ENTRIES * 20];
	gpa_t mp;
	int e;

	for (unsigned i = 0; i < vm->e820.n; i++) {
		memcpy(&e820[i * 20], &vm->e820.e[i].addr, 8);
		memcpy(&e820[i * 20 + 8], &vm->e820.e[i].size, 8);
		memcpy(&e820[i * 20 + 16], &vm->e820.e[i].type, 4);
	}
	e = vm_virtio_create(vm, &ac, err, errlen);
	if (e)
		return e;
	steptime_mark(&vm->steps, "virtio devices");
	vm_pci_acpi(vm, &ac);
	e = fw_cfg_create(&vm->fw_cfg, vm->mem);
	if (!e)
		e = bus_add(&vm->pio, LAYOUT_PORT_FW_CFG, FW_CFG_IO_SIZE, &fw_cfg_io_ops,
			    vm->fw_cfg, "fw_cfg");
	if (!e)
		e = fw_cfg_add_u64(vm->fw_cfg, FW_CFG_RAM_SIZE, vm->ram_len);
	if (!e)
		e = fw_cfg_add_u16(vm->fw_cfg, FW_CFG_NB_CPUS, (uint16_t)vm->ncpus);
	if (!e)
		e = fw_cfg_add_u16(vm->fw_cfg, FW_CFG_MAX_CPUS, (uint16_t)vm->ncpus);
	if (!e)
		e = fw_cfg_add_file(vm->fw_cfg, "etc/e820", e820, vm->e820.n * 20);
	if (!e)
		e = rtc_set_mem_info(vm->rtc, vm->lo_len, vm->hi_len, vm->ncpus);
	if (e) {
		snprintf(err, errlen, "cannot set up fw_cfg/CMOS: %s", strerror(-e));
		return e;
	}
	steptime_mark(&vm->steps, "fw_cfg+CMOS");
	/* A restore maps the memory file over RAM: the guest's own copies of the tables (and
	 * whatever it made of them) are in it, so building them here would be thrown away. */
	if (vm->cfg->restore)
		return 0;
	e = acpi_build(vm->mem, &ac, &vm->rsdp);
	if (e) {
		snprintf(err, errlen, "cannot build the ACPI tables: %s", strerror(-e));
		return e;
	}
	steptime_mark(&vm->steps, "ACPI tables");
	/* MP tables carry 8-bit APIC IDs: without them the guest still has ACPI. */
	e = mptable_build(vm->mem, vm->ncpus, vm->apic_ids, &mp);
	if (e == -E2BIG) {
		log_info("APIC IDs above 254: no MP table, ACPI only");
		e = 0;
	}
	if (e)
		snprintf(err, errlen, "cannot build the MP table: %s", strerror(-e));
	return e;
}

int vm_devices_create(struct vm *vm, char *err, size_t errlen)
{
	int e = vm_serial_open(vm, err, errlen);

	if (e)
		return e;
	steptime_mark(&vm->steps, "serial");
	e = vm_legacy_create(vm);
	if (e) {
		snprintf(err, errlen, "cannot create the platform devices: %s", strerror(-e));
		return e;
	}
	steptime_mark(&vm->steps, "legacy devices");
	return vm_tables_create(vm, err, errlen);
}

void vm_devices_destroy(struct vm *vm)
{
	/* Disk requests in flight complete through the transport: finish them first. */
	for (unsigned i = 0; i < VM_MAX_DISKS; i++)
		if (vm->blks[i])
			virtio_blk_drain(vm->blks[i]);
	vm_pci_destroy(vm); /* first: stops the I/O thread that calls into the devices */
	for (unsigned i = 0; i < vm->nmmio; i++)
		virtio_mmio_destroy(vm->mmio_tr[i]);
	for (unsigned i = 0; i < VM_MAX_DISKS; i++) {
		virtio_blk_destroy(vm->blks[i]);
		disk_close(vm->disks[i]);
	}
	vm_net_destroy(vm);
	virtio_rng_destroy(vm->rng);
	vm_vconsole_destroy(vm);
	debug_exit_destroy(vm->debug_exit);
	acpi_pm_destroy(vm->acpi_pm);
	reset_destroy(vm->reset);
	i8042_destroy(vm->i8042);
	rtc_destroy(vm->rtc);
	uart16550_destroy(vm->uart);
	fw_cfg_destroy(vm->fw_cfg);
	if (vm->serial_out_owned)
		close(vm->serial_out_fd);
}
