/* vmm/vm_snapshot.c — vm_snapshot_save() and the restore steps of vm_create(): the machine's
 * state (vCPUs, in-kernel irqchip, PIT, clock, devices) in the state file through
 * snapshot_fmt, guest RAM through snapshot_mem. Format and limits: docs/snapshot.md. */
#include "vmm/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "devices/legacy/acpi_pm.h"
#include "devices/legacy/fw_cfg.h"
#include "devices/legacy/i8042.h"
#include "devices/legacy/rtc.h"
#include "devices/legacy/uart16550.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/mmio.h"
#include "devices/virtio/virtio.h"
#include "kvm/kvm.h"
#include "vmm/config_json.h"
#include "vmm/snapshot_fmt.h"
#include "vmm/vm_priv.h"

#define T_INFO	SNAP_TAG('i', 'n', 'f', 'o')
#define T_PIC	SNAP_TAG('p', 'i', 'c', ' ')
#define T_IOAP	SNAP_TAG('i', 'o', 'a', 'p')
#define T_PIT	SNAP_TAG('p', 'i', 't', '2')
#define T_CLOCK SNAP_TAG('c', 'l', 'c', 'k')
#define T_REGS	SNAP_TAG('r', 'e', 'g', 's')
#define T_SREGS SNAP_TAG('s', 'r', 'e', 'g')
#define T_FPU	SNAP_TAG('f', 'p', 'u', ' ')
#define T_XSAVE SNAP_TAG('x', 's', 'a', 'v')
#define T_XCRS	SNAP_TAG('x', 'c', 'r', 's')
#define T_EVNT	SNAP_TAG('e', 'v', 'n', 't')
#define T_DBG	SNAP_TAG('d', 'b', 'g', 'r')
#define T_LAPIC SNAP_TAG('l', 'a', 'p', 'c')
#define T_MP	SNAP_TAG('m', 'p', 's', 't')
#define T_MSRS	SNAP_TAG('m', 's', 'r', 's')
#define T_UART	SNAP_TAG('u', 'a', 'r', 't')
#define T_RTC	SNAP_TAG('r', 't', 'c', ' ')
#define T_KBD	SNAP_TAG('i', '8', '0', '4')
#define T_PM	SNAP_TAG('a', 'p', 'm', ' ')
#define T_FWCFG SNAP_TAG('f', 'w', 'c', 'f')
#define T_VMMIO SNAP_TAG('v', 'm', 'm', 'i')
#define T_VDEV	SNAP_TAG('v', 'd', 'e', 'v')

/* The machine's shape: a restore must be given a configuration that builds the same one. */
struct snap_info {
	uint64_t ram_len, lo_len, hi_len;
	uint32_t ncpus, nmmio;
	uint8_t id[16]; /* also in the memory file's trailer */
	uint32_t apic_ids[VM_MAX_VCPUS];
};

/* ---- what a snapshot cannot hold now ---- */

/* A packed queue with chains in flight (virtio-mmio, then virtio-pci): their slots are not in
 * struct virtio_dev_state. Checked with the vCPUs paused, the I/O thread parked and the
 * backends drained (normally never true then). -EBUSY: retry. */
static int snap_busy_queues(struct vm *vm, char *msg, size_t len)
{
	for (unsigned i = 0; i < vm->nmmio; i++) {
		struct virtio_dev *vd = virtio_mmio_dev(vm->mmio_tr[i]);

		if (virtio_dev_has_inflight(vd)) {
			snprintf(msg, len,
				 "virtio-%s at virtio-mmio slot %u has requests in flight; retry",
				 vd->ops->name, i);
			return -EBUSY;
		}
	}
	return vm_snapshot_pci_busy(vm, msg, len);
}

/* ---- save ---- */

static int snap_save_vcpu(struct snap_writer *w, struct vcpu *v, const uint32_t *idx, unsigned n)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_fpu fpu;
	struct kvm_xsave *xs = calloc(1, sizeof(*xs));
	struct kvm_xcrs xcrs;
	struct kvm_vcpu_events ev;
	struct kvm_debugregs dbg;
	struct kvm_lapic_state lapic;
	struct kvm_mp_state mp;
	struct kvm_msr_entry *msrs = calloc(n + 1, sizeof(*msrs));
	unsigned i = v->index;
	int e;

	e = !xs || !msrs ? -ENOMEM : kvm_vcpu_complete_io(&v->kv);
	if (!e)
		e = kvm_vcpu_get_regs(&v->kv, &regs);
	if (!e)
		e = kvm_vcpu_get_sregs(&v->kv, &sregs);
	if (!e)
		e = kvm_vcpu_get_fpu(&v->kv, &fpu);
	if (!e)
		e = kvm_vcpu_get_events(&v->kv, &ev);
	if (!e)
		e = kvm_vcpu_get_debugregs(&v->kv, &dbg);
	if (!e)
		e = kvm_vcpu_get_lapic(&v->kv, &lapic);
	if (!e)
		e = kvm_vcpu_get_mp_state(&v->kv, &mp);
	for (unsigned k = 0; !e && k < n; k++)
		msrs[k].index = idx[k];
	if (!e)
		e = kvm_vcpu_get_msrs(&v->kv, msrs, &n);
	if (e)
		goto out;
	snap_put(w, T_REGS, i, &regs, sizeof(regs));
	snap_put(w, T_SREGS, i, &sregs, sizeof(sregs));
	snap_put(w, T_FPU, i, &fpu, sizeof(fpu));
	if (kvm_vcpu_get_xsave(&v->kv, xs) == 0)
		snap_put(w, T_XSAVE, i, xs, sizeof(*xs));
	if (kvm_vcpu_get_xcrs(&v->kv, &xcrs) == 0)
		snap_put(w, T_XCRS, i, &xcrs, sizeof(xcrs));
	snap_put(w, T_EVNT, i, &ev, sizeof(ev));
	snap_put(w, T_DBG, i, &dbg, sizeof(dbg));
	snap_put(w, T_LAPIC, i, &lapic, sizeof(lapic));
	snap_put(w, T_MP, i, &mp, sizeof(mp));
	snap_put(w, T_MSRS, i, msrs, n * sizeof(*msrs));
out:
	free(msrs);
	free(xs);
	return e;
}

static int snap_save_platform(struct snap_writer *w, struct vm *vm)
{
	struct kvm_irqchip chip;
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clk = {0};
	int e = 0;

	for (uint32_t c = KVM_IRQCHIP_PIC_MASTER; !e && c <= KVM_IRQCHIP_IOAPIC; c++) {
		memset(&chip, 0, sizeof(chip));
		chip.chip_id = c;
		e = kvm_get_irqchip(vm->kvm, &chip);
		if (!e)
			snap_put(w, c == KVM_IRQCHIP_IOAPIC ? T_IOAP : T_PIC, c, &chip,
				 sizeof(chip));
	}
	if (!e)
		e = kvm_get_pit2(vm->kvm, &pit);
	if (!e)
		snap_put(w, T_PIT, 0, &pit, sizeof(pit));
	if (!e)
		e = kvm_get_clock(vm->kvm, &clk);
	if (!e) {
		clk.flags = 0; /* KVM_SET_CLOCK takes no flags we saved */
		snap_put(w, T_CLOCK, 0, &clk, sizeof(clk));
	}
	return e;
}

static void snap_save_devices(struct snap_writer *w, struct vm *vm)
{
	struct uart16550_state us;
	struct rtc_state rs;
	struct i8042_state ks;
	struct acpi_pm_state ps;
	struct fw_cfg_state fs;

	uart16550_save(vm->uart, &us);
	snap_put(w, T_UART, 0, &us, sizeof(us));
	rtc_save(vm->rtc, &rs);
	snap_put(w, T_RTC, 0, &rs, sizeof(rs));
	i8042_save(vm->i8042, &ks);
	snap_put(w, T_KBD, 0, &ks, sizeof(ks));
	acpi_pm_save(vm->acpi_pm, &ps);
	snap_put(w, T_PM, 0, &ps, sizeof(ps));
	fw_cfg_save(vm->fw_cfg, &fs);
	snap_put(w, T_FWCFG, 0, &fs, sizeof(fs));
	for (unsigned i = 0; i < vm->nmmio; i++) {
		struct virtio_mmio_state ms;
		struct virtio_dev_state ds;

		virtio_mmio_save(vm->mmio_tr[i], &ms);
		snap_put(w, T_VMMIO, i, &ms, sizeof(ms));
		virtio_dev_save(virtio_mmio_dev(vm->mmio_tr[i]), &ds);
		snap_put(w, T_VDEV, i, &ds, sizeof(ds));
	}
	vm_snapshot_pci_save(w, vm);
}

static int snap_write_file(int dirfd, const char *name, const uint8_t *buf, size_t len)
{
	char tmp[64];
	int fd, e = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	for (size_t off = 0; off < len && !e;) {
		ssize_t n = write(fd, buf + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			e = n < 0 ? -errno : -EIO;
		else
			off += (size_t)n;
	}
	if (!e && fdatasync(fd))
		e = -errno;
	if (close(fd) && !e)
		e = -errno;
	if (!e && renameat(dirfd, tmp, dirfd, name))
		e = -errno;
	if (e)
		unlinkat(dirfd, tmp, 0);
	return e;
}

/* The VM is paused: collect the state, write memory, then the state file (its presence marks
 * a complete snapshot). */
static int snap_save_paused(struct vm *vm, int dirfd, const char *conf, char *err, size_t errlen)
{
	struct snap_writer w;
	struct snap_info info = {
	    .ram_len = vm->ram_len, .lo_len = vm->lo_len, .hi_len = vm->hi_len};
	uint32_t *idx = NULL;
	unsigned nidx = 0;
	const uint8_t *buf;
	size_t len;
	const char *what = "reading the MSR list";
	int e;

	snap_writer_init(&w);
	info.ncpus = vm->ncpus;
	info.nmmio = vm->nmmio;
	memcpy(info.apic_ids, vm->apic_ids, sizeof(info.apic_ids));
	if (getrandom(info.id, sizeof(info.id), 0) != (ssize_t)sizeof(info.id)) {
		e = -EIO;
		what = "getrandom";
		goto out;
	}
	snap_put(&w, T_INFO, 0, &info, sizeof(info));
	snap_put(&w, SNAP_TAG_CONF, 0, conf, strlen(conf));
	e = kvm_get_msr_index_list(vm->kvm, &idx, &nidx);
	for (unsigned i = 0; !e && i < vm->ncpus; i++) {
		what = "reading vCPU state";
		e = snap_save_vcpu(&w, &vm->vcpus[i], idx, nidx);
	}
	if (!e) {
		what = "reading the irqchip, PIT and clock";
		e = snap_save_platform(&w, vm);
	}
	if (e)
		goto out;
	snap_save_devices(&w, vm);
	e = vm_snapshot_dev_save(vm, &w, &what);
	if (e)
		goto out;
	what = "building the state file";
	e = snap_writer_finish(&w, &buf, &len);
	if (e)
		goto out;
	unlinkat(dirfd, SNAP_STATE_FILE, 0);
	what = "writing the memory file";
	e = snap_mem_save(vm, dirfd, SNAP_MEMORY_FILE, info.id);
	if (!e) {
		what = "writing the state file";
		e = snap_write_file(dirfd, SNAP_STATE_FILE, buf, len);
	}
out:
	if (e)
		snprintf(err, errlen, "snapshot: %s failed: %s", what, strerror(-e));
	free(idx);
	snap_writer_fini(&w);
	return e;
}

int vm_snapshot_save(struct vm *vm, const char *dir, bool resume, char *err, size_t errlen)
{
	char msg[160], cmsg[VM_CONFIG_ERRLEN];
	char *conf = NULL;
	int dirfd, e;

	/* The configuration (section "conf"), with absolute paths, before anything is written. */
	e = vm_config_to_json(vm->cfg, &conf, cmsg, sizeof(cmsg));
	if (e) {
		snprintf(err, errlen, "snapshot: %s", cmsg);
		return e;
	}
	if (mkdir(dir, 0700) && errno != EEXIST) {
		e = -errno;
		snprintf(err, errlen, "snapshot: cannot create '%s': %s", dir, strerror(-e));
		free(conf);
		return e;
	}
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		e = -errno;
		snprintf(err, errlen, "snapshot: cannot open '%s': %s", dir, strerror(-e));
		free(conf);
		return e;
	}
	vm_pause(vm);
	/* vCPUs are out of KVM_RUN, so no new request can start (virtio-mmio notifies run on
	 * them); virtio-pci notifies run on the I/O thread: park it. Disk requests already
	 * submitted finish on the aio threads: wait for them, so their used entries and
	 * interrupts are in the state. */
	vm_snapshot_pci_quiesce(vm, true);
	for (unsigned i = 0; i < VM_MAX_DISKS; i++)
		if (vm->blks[i])
			virtio_blk_drain(vm->blks[i]);
	vm_snapshot_dev_quiesce(vm, true); /* no net RX, slirp or console input meanwhile */
	e = snap_busy_queues(vm, msg, sizeof(msg));
	if (e)
		snprintf(err, errlen, "snapshot: %s", msg);
	else
		e = snap_save_paused(vm, dirfd, conf, err, errlen);
	vm_snapshot_dev_quiesce(vm, false);
	vm_snapshot_pci_quiesce(vm, false);
	if (resume || e) /* a failed save leaves the VM as it was */
		vm_resume(vm);
	close(dirfd);
	free(conf);
	if (!e)
		log_info("snapshot saved to %s", dir);
	return e;
}

/* ---- restore ---- */

static int snap_read_all(int dirfd, const char *name, uint8_t **buf, size_t *len)
{
	struct stat st;
	uint8_t *p;
	size_t off = 0;
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC), e = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size > (1 << 30)) {
		close(fd);
		return -EINVAL;
	}
	p = malloc((size_t)st.st_size + 1);
	while (p && off < (size_t)st.st_size && !e) {
		ssize_t n = read(fd, p + off, (size_t)st.st_size - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			e = n < 0 ? -errno : -EIO;
		else
			off += (size_t)n;
	}
	close(fd);
	if (!p)
		return -ENOMEM;
	if (e) {
		free(p);
		return e;
	}
	*buf = p;
	*len = off;
	return 0;
}

int snap_state_open(const char *dir, int *dirfd_out, uint8_t **buf, size_t *len,
		    struct snap_reader *r, char *err, size_t errlen)
{
	char msg[160] = "";
	int dirfd, e;

	*buf = NULL;
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		e = -errno;
		snprintf(err, errlen, "--restore %s: %s", dir, strerror(-e));
		return e;
	}
	e = snap_read_all(dirfd, SNAP_STATE_FILE, buf, len);
	if (e) {
		snprintf(err, errlen, "--restore %s: cannot read the state file: %s", dir,
			 strerror(-e));
		goto err_close;
	}
	e = snap_reader_open(r, *buf, *len, msg, sizeof(msg));
	if (e) {
		snprintf(err, errlen, "--restore %s: %s", dir, msg);
		free(*buf);
		*buf = NULL;
		goto err_close;
	}
	if (dirfd_out)
		*dirfd_out = dirfd;
	else
		close(dirfd);
	return 0;
err_close:
	close(dirfd);
	return e;
}

int vm_snapshot_open(struct vm *vm, char *err, size_t errlen)
{
	const char *dir = vm->cfg->restore;
	struct snap_info info;
	int e;

	e = snap_state_open(dir, &vm->snap_dirfd, &vm->snap_buf, &vm->snap_len, &vm->snap, err,
			    errlen);
	if (e)
		return e;
	if (snap_get_exact(&vm->snap, T_INFO, 0, &info, sizeof(info))) {
		snprintf(err, errlen, "--restore %s: no machine description in the state file",
			 dir);
		return -EINVAL;
	}
	if (info.ram_len != vm->cfg->mem_bytes || info.ncpus != vm->ncpus ||
	    memcmp(info.apic_ids, vm->apic_ids, sizeof(info.apic_ids))) {
		snprintf(err, errlen,
			 "--restore %s: the snapshot is of a VM with %llu MiB and %u vCPUs; "
			 "give the same --memory and --cpus",
			 dir, (unsigned long long)(info.ram_len >> 20), info.ncpus);
		return -EINVAL;
	}
	memcpy(vm->snap_id, info.id, sizeof(vm->snap_id));
	return 0;
}

int vm_snapshot_map_memory(struct vm *vm, char *err, size_t errlen)
{
	struct snap_info info;
	char msg[256] = "";
	int e;

	if (snap_get_exact(&vm->snap, T_INFO, 0, &info, sizeof(info)) || info.nmmio != vm->nmmio) {
		snprintf(err, errlen,
			 "--restore %s: the snapshot has %u virtio devices, this configuration %u "
			 "(give the same --rng, --disk, --net and --console options)",
			 vm->cfg->restore, info.nmmio, vm->nmmio);
		return -EINVAL;
	}
	e = vm_snapshot_pci_check(vm, &vm->snap, msg, sizeof(msg));
	if (e) {
		snprintf(err, errlen, "--restore %s: %s", vm->cfg->restore, msg);
		return e;
	}
	e = snap_mem_map(vm, vm->snap_dirfd, SNAP_MEMORY_FILE, vm->snap_id, msg, sizeof(msg));
	if (e)
		snprintf(err, errlen, "--restore %s: %s", vm->cfg->restore, msg);
	return e;
}

#define GET(tag, inst, obj) snap_get_exact(&vm->snap, (tag), (inst), (obj), sizeof(*(obj)))

static int snap_load_devices(struct vm *vm, const char **what)
{
	struct uart16550_state us;
	struct rtc_state rs;
	struct i8042_state ks;
	struct acpi_pm_state ps;
	struct fw_cfg_state fs;
	int e;

	*what = "the serial port";
	e = GET(T_UART, 0, &us);
	if (!e)
		e = uart16550_load(vm->uart, &us);
	if (!e) {
		*what = "the RTC";
		e = GET(T_RTC, 0, &rs);
	}
	if (!e)
		e = rtc_load(vm->rtc, &rs);
	if (!e) {
		*what = "the i8042";
		e = GET(T_KBD, 0, &ks);
	}
	if (!e)
		e = i8042_load(vm->i8042, &ks);
	if (!e) {
		*what = "ACPI PM";
		e = GET(T_PM, 0, &ps);
	}
	if (!e)
		acpi_pm_load(vm->acpi_pm, &ps);
	if (!e) {
		*what = "fw_cfg";
		e = GET(T_FWCFG, 0, &fs);
	}
	if (!e)
		fw_cfg_load(vm->fw_cfg, &fs);
	for (unsigned i = 0; !e && i < vm->nmmio; i++) {
		struct virtio_mmio_state ms;
		struct virtio_dev_state ds;

		*what = "a virtio device";
		e = GET(T_VMMIO, i, &ms);
		if (!e)
			e = GET(T_VDEV, i, &ds);
		if (!e)
			e = virtio_dev_load(virtio_mmio_dev(vm->mmio_tr[i]), &ds);
		if (!e)
			virtio_mmio_load(vm->mmio_tr[i], &ms);
	}
	return e;
}

static int snap_load_platform(struct vm *vm, const char **what)
{
	struct kvm_irqchip chip;
	struct kvm_pit_state2 pit;
	int e = 0;

	*what = "the irqchip";
	for (uint32_t c = KVM_IRQCHIP_PIC_MASTER; !e && c <= KVM_IRQCHIP_IOAPIC; c++) {
		e = GET(c == KVM_IRQCHIP_IOAPIC ? T_IOAP : T_PIC, c, &chip);
		if (!e && chip.chip_id != c)
			e = -EINVAL;
		if (!e)
			e = kvm_set_irqchip(vm->kvm, &chip);
	}
	if (!e) {
		*what = "the PIT";
		e = GET(T_PIT, 0, &pit);
	}
	if (!e)
		e = kvm_set_pit2(vm->kvm, &pit);
	return e;
}

static int snap_load_msrs(struct vm *vm, struct vcpu *v)
{
	const void *p;
	size_t len;
	unsigned failed = 0;
	int e = snap_get(&vm->snap, T_MSRS, v->index, &p, &len);
	struct kvm_msr_entry *m;

	if (e || len % sizeof(*m))
		return e ? e : -EINVAL;
	m = malloc(len + sizeof(*m));
	if (!m)
		return -ENOMEM;
	memcpy(m, p, len);
	e = kvm_vcpu_set_msrs_lenient(&v->kv, m, (unsigned)(len / sizeof(*m)), &failed);
	free(m);
	if (failed)
		log_warn("vcpu%u: KVM refused %u of the saved MSRs", v->index, failed);
	return e;
}

/* QEMU's order: registers, XSAVE/FPU, XCRs, sregs, MSRs, LAPIC, MP state, events, debug. */
static int snap_load_vcpu(struct vm *vm, struct vcpu *v, const char **what)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_fpu fpu;
	struct kvm_xsave *xs = malloc(sizeof(*xs));
	struct kvm_xcrs xcrs;
	struct kvm_vcpu_events ev;
	struct kvm_debugregs dbg;
	struct kvm_lapic_state lapic;
	struct kvm_mp_state mp;
	unsigned i = v->index;
	int e = xs ? 0 : -ENOMEM;

	*what = "reading the vCPU state";
	if (!e)
		e = GET(T_REGS, i, &regs) ?: GET(T_SREGS, i, &sregs) ?: GET(T_FPU, i, &fpu) ?:
		    GET(T_EVNT, i, &ev) ?: GET(T_DBG, i, &dbg) ?: GET(T_LAPIC, i, &lapic) ?:
		    GET(T_MP, i, &mp);
	if (!e) {
		*what = "KVM_SET_SREGS";
		e = kvm_vcpu_set_sregs(&v->kv, &sregs);
	}
	if (!e) {
		*what = "KVM_SET_REGS";
		e = kvm_vcpu_set_regs(&v->kv, &regs);
	}
	if (!e) {
		*what = "KVM_SET_XSAVE";
		e = GET(T_XSAVE, i, xs) ? kvm_vcpu_set_fpu(&v->kv, &fpu)
					: kvm_vcpu_set_xsave(&v->kv, xs);
	}
	if (!e && !GET(T_XCRS, i, &xcrs)) {
		*what = "KVM_SET_XCRS";
		e = kvm_vcpu_set_xcrs(&v->kv, &xcrs);
	}
	if (!e) {
		*what = "KVM_SET_LAPIC";
		e = kvm_vcpu_set_lapic(&v->kv, &lapic);
	}
	if (!e) {
		*what = "KVM_SET_MSRS";
		e = snap_load_msrs(vm, v);
	}
	if (!e) {
		*what = "KVM_SET_MP_STATE";
		e = kvm_vcpu_set_mp_state(&v->kv, &mp);
	}
	if (!e) {
		*what = "KVM_SET_VCPU_EVENTS";
		ev.flags &= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR |
			    KVM_VCPUEVENT_VALID_SHADOW | KVM_VCPUEVENT_VALID_SMM;
		e = kvm_vcpu_set_events(&v->kv, &ev);
	}
	if (!e) {
		*what = "KVM_SET_DEBUGREGS";
		dbg.flags = 0;
		e = kvm_vcpu_set_debugregs(&v->kv, &dbg);
	}
	free(xs);
	return e;
}

int vm_snapshot_load(struct vm *vm, char *err, size_t errlen)
{
	struct kvm_clock_data clk;
	const char *what = "";
	char pci_what[96] = "";
	unsigned i = 0;
	int bad = -1, e = snap_load_devices(vm, &what);

	if (!e) {
		e = vm_snapshot_pci_load(vm, &vm->snap, pci_what, sizeof(pci_what));
		what = pci_what;
	}
	if (!e)
		e = vm_snapshot_dev_load(vm, &vm->snap, &what);

	if (!e)
		e = snap_load_platform(vm, &what);
	for (; !e && i < vm->ncpus; i++) {
		e = snap_load_vcpu(vm, &vm->vcpus[i], &what);
		bad = e ? (int)i : -1;
	}
	if (!e) {
		what = "the clock";
		e = GET(T_CLOCK, 0, &clk);
	}
	if (!e)
		e = kvm_set_clock(vm->kvm, &clk);
	if (!e)
		vm_snapshot_pci_kick(vm);
	if (e) {
		if (bad >= 0)
			snprintf(err, errlen, "--restore %s: vcpu%d: %s: %s", vm->cfg->restore, bad,
				 what, strerror(-e));
		else
			snprintf(err, errlen, "--restore %s: cannot restore %s: %s",
				 vm->cfg->restore, what, strerror(-e));
	}
	return e;
}

void vm_snapshot_close(struct vm *vm)
{
	free(vm->snap_buf);
	vm->snap_buf = NULL;
	if (vm->snap_dirfd >= 0)
		close(vm->snap_dirfd);
	vm->snap_dirfd = -1;
}
