/* tests/guest/payload/lib/payload.h — the freestanding runtime shared by every guest payload.
 *
 * A payload is a tiny bare-metal x86-64 program that kvmm (or QEMU) boots through PVH or
 * multiboot v1. entry.S switches to long mode with an identity map of 0-4 GiB (2 MiB pages,
 * user-accessible), then payload_start64() sets up the GDT/TSS/IDT and the serial console,
 * normalises the boot information and calls the payload's payload_main(). Its return value
 * decides the result reported through the debug-exit port (0xf4).
 *
 * Threads: the guest has no threads; every function runs on the boot CPU (BSP) unless its
 * comment says it is safe on an AP. printf() takes a spinlock and is safe on every CPU.
 * The runtime keeps its state (IDT, handler table, boot info) in statics: this is guest
 * code, the no-mutable-globals rule of the VMM does not apply here.
 */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gdt.h"

#define PAYLOAD_PRINTF(f, a)  __attribute__((format(printf, f, a)))
#define PAYLOAD_NORETURN      __attribute__((noreturn))
#define PAYLOAD_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Debug-exit codes: the VMM exits with status (code << 1) | 1. */
#define EXIT_CODE_PASS	    0
#define EXIT_CODE_FAIL	    1 /* status 3: a check failed */
#define EXIT_CODE_EXCEPTION 2 /* status 5: unexpected exception or interrupt */
#define EXIT_CODE_STUCK	    3 /* status 7: power-off or reset did not take effect */

#define MAX_CPUS	32
#define MAX_MEMMAP	128
#define TRAMPOLINE_BASE 0x10000u /* AP real-mode trampoline (SIPI vector 0x10) */

/* ---- port and MMIO access (any CPU) ---- */
static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outw(uint16_t port, uint16_t v)
{
	__asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}
static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline uint16_t inw(uint16_t port)
{
	uint16_t v;
	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline uint32_t inl(uint16_t port)
{
	uint32_t v;
	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline uint32_t mmio_read32(uint64_t addr)
{
	return *(volatile uint32_t *)(uintptr_t)addr;
}
static inline void mmio_write32(uint64_t addr, uint32_t v)
{
	*(volatile uint32_t *)(uintptr_t)addr = v;
}
static inline uint16_t mmio_read16(uint64_t addr)
{
	return *(volatile uint16_t *)(uintptr_t)addr;
}
static inline void mmio_write16(uint64_t addr, uint16_t v)
{
	*(volatile uint16_t *)(uintptr_t)addr = v;
}
static inline uint8_t mmio_read8(uint64_t addr)
{
	return *(volatile uint8_t *)(uintptr_t)addr;
}
static inline void mmio_write8(uint64_t addr, uint8_t v)
{
	*(volatile uint8_t *)(uintptr_t)addr = v;
}
static inline void cpu_relax(void)
{
	__asm__ volatile("pause" ::: "memory");
}
static inline void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
	__asm__ volatile("cpuid"
			 : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
			 : "a"(leaf), "c"(sub));
}
static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

/* ---- libc subset (lib/libc.c; any CPU) ---- */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strncmp(const char *a, const char *b, size_t n);
/* Parse an unsigned decimal or 0x-hex number from s (stops at the first non-digit). Stores the
 * end in *end if end is not NULL. */
uint64_t parse_u64(const char *s, const char **end);
/* POSIX cksum(1) CRC of n bytes of p: equals the first field printed by `cksum FILE`. */
uint32_t posix_cksum(const void *p, size_t n);

/* ---- console (lib/console.c; any CPU) ---- */
/* Write to COM1 (0x3f8) by polling LSR.THRE; never uses interrupts. */
void console_init(void);
void console_putc(char c);
int printf(const char *fmt, ...) PAYLOAD_PRINTF(1, 2);
int vprintf(const char *fmt, va_list ap);
int snprintf(char *buf, size_t size, const char *fmt, ...) PAYLOAD_PRINTF(3, 4);

/* ---- report (lib/exit.c; any CPU) ---- */
/* Write code to the debug-exit port; spins with interrupts off if the VMM does not exit. */
void debug_exit(uint32_t code) PAYLOAD_NORETURN;
/* Print "PASS <name>" and exit with status 1. */
void exit_pass(void) PAYLOAD_NORETURN;
/* Print "FAIL <name>: <why>" and exit with status 3. */
void exit_fail(const char *fmt, ...) PAYLOAD_PRINTF(1, 2) PAYLOAD_NORETURN;
/* Count a check: prints "ok"/"not ok" and remembers failures for payload_main's result. */
bool check(bool cond, const char *fmt, ...) PAYLOAD_PRINTF(2, 3);
/* Number of failed check() calls so far. */
unsigned check_failures(void);

/* ---- boot information (lib/boot.c; read-only after start, any CPU) ---- */
enum boot_proto { BOOT_PVH, BOOT_MULTIBOOT };
struct mem_range {
	uint64_t addr, len;
	uint32_t type; /* e820 type: 1 = RAM, 2 = reserved, 3 = ACPI, 4 = NVS */
};
struct boot_info {
	enum boot_proto proto;
	uint32_t raw_ptr;	 /* physical address of start_info / multiboot_info */
	const char *cmdline;	 /* payload arguments only (multiboot: kernel path dropped) */
	const char *raw_cmdline; /* as the loader passed it */
	uint64_t initrd_addr;	 /* 0 if none */
	uint64_t initrd_size;
	uint64_t rsdp_paddr; /* from hvm_start_info (version >= 1); 0 if not given */
	unsigned nr_memmap;
	struct mem_range memmap[MAX_MEMMAP];
	uint32_t mb_mem_lower, mb_mem_upper; /* multiboot only (KiB) */
};
/* The boot information, parsed from a copy made at start-up. */
const struct boot_info *boot_info(void);
/* The payload name, from the build ("boot", "smp", ...). */
extern const char payload_name[];
/* Sum of the lengths of the RAM (type 1) entries of the boot memory map. */
uint64_t boot_ram_total(void);
/* Value of "key=value" in the payload command line, copied into buf (NUL-terminated).
 * Returns false if the key is absent or the value does not fit. */
bool cmdline_get(const char *key, char *buf, size_t size);
/* Numeric value of key, or def if absent or malformed. */
uint64_t cmdline_u64(const char *key, uint64_t def);
/* True if the word "key" or "key=..." is present. */
bool cmdline_has(const char *key);

/* ---- traps (lib/trap.c) ---- */
struct trap_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rdi, rsi, rbp, rbx, rdx, rcx, rax;
	uint64_t vector, error, rip, cs, rflags, rsp, ss;
};
/* Install handler h for vector (32..255). h runs with interrupts off and sends its own EOI.
 * BSP only, before enabling interrupts. */
void irq_set_handler(unsigned vector, void (*h)(struct trap_frame *f));
/* Load the runtime IDT on the calling CPU (the APs call it from the trampoline path). */
void idt_load(void);
static inline void irq_enable(void)
{
	__asm__ volatile("sti" ::: "memory");
}
static inline void irq_disable(void)
{
	__asm__ volatile("cli" ::: "memory");
}

/* ---- ring 3 (lib/trap.c + entry.S; BSP only) ---- */
/* Run fn(arg) at CPL3 with IOPL=3 (port I/O allowed), RFLAGS.IF=0 (upstream PVM treats IF as
 * set at CPL3, so the 8259 and LAPIC LINT0 are masked first), on the user stack
 * [stack, stack + size). fn returns normally; its return value is the result. Returning to
 * ring 0 goes through a #GP provoked by a hlt at CPL3 (no syscall/int: broken on the host). */
uint64_t user_run(uint64_t (*fn)(void *), void *arg, void *stack, size_t size);

/* ---- local APIC / IOAPIC (lib/apic.c) ---- */
#define LAPIC_BASE  0xfee00000ull
#define IOAPIC_BASE 0xfec00000ull
uint32_t lapic_read(uint32_t reg);
void lapic_write(uint32_t reg, uint32_t v);
/* Software-enable the LAPIC of the calling CPU (spurious vector 0xff, LINT0/1 masked). */
void lapic_enable(void);
uint32_t lapic_id(void);
void lapic_eoi(void);
/* Busy-wait us microseconds with the LAPIC timer of the calling CPU (one-shot, masked).
 * Assumes the 1 GHz APIC bus clock of KVM and QEMU. */
void udelay(uint64_t us);
/* Start LAPIC timer in periodic mode: vector, divide-by-16 and the initial count. */
void lapic_timer_periodic(uint8_t vector, uint32_t count);
void lapic_timer_stop(void);
/* Route IOAPIC pin to vector on the BSP: edge, active high, fixed, physical destination. */
void ioapic_route(unsigned pin, uint8_t vector, uint32_t dest_apic_id);
/* The same, level-triggered, active high (PCI INTx, the ACPI SCI). */
void ioapic_route_level(unsigned pin, uint8_t vector, uint32_t dest_apic_id);
void ioapic_mask(unsigned pin);
/* Number of redirection entries (IOAPIC version register). */
unsigned ioapic_pins(void);
/* Mask both 8259 PICs so that only the IOAPIC delivers ISA interrupts. */
void pic_mask_all(void);

/* ---- SMP (lib/smp.c + entry.S) ---- */
/* Start every AP with INIT-SIPI-SIPI (broadcast); each runs fn(index) (index 1..) on its own
 * stack and then halts with interrupts off. Waits up to timeout_ms for expected APs to check
 * in; returns the number that did. */
/* While on, APs that have checked in busy-wait instead of halting (set before starting). */
void smp_ap_spin(bool on);
unsigned smp_start_aps(void (*fn)(unsigned cpu_index), unsigned expected, unsigned timeout_ms);

/* ---- ACPI (lib/acpi.c; any CPU, read-only) ---- */
struct acpi_sdt_hdr {
	char sig[4];
	uint32_t len;
	uint8_t rev, csum;
	char oem[6], oem_table[8];
	uint32_t oem_rev, creator, creator_rev;
} __attribute__((packed));
/* Find the RSDP: rsdp_hint (if non-zero and valid) or the legacy scan of 0xe0000-0xfffff.
 * Returns its physical address or 0. */
uint64_t acpi_find_rsdp(uint64_t rsdp_hint);
/* Legacy scan only. */
uint64_t acpi_scan_rsdp(void);
/* Find table sig through the XSDT (or the RSDT if the RSDP is revision 0); checksum checked. */
const struct acpi_sdt_hdr *acpi_find_table(uint64_t rsdp, const char sig[4]);
/* Call fn for every table in the XSDT/RSDT; returns the count. */
unsigned acpi_for_each_table(uint64_t rsdp, void (*fn)(const struct acpi_sdt_hdr *h));
/* Enabled processors in the MADT (types 0 and 9); their APIC ids in ids (up to max). */
unsigned acpi_madt_cpus(uint64_t rsdp, uint32_t *ids, unsigned max);
/* Power off through the FADT: the sleep control register if HW_REDUCED_ACPI, else PM1a_CNT,
 * with SLP_TYP from \_S5. Returns only if that did not work (after ~0.5 s), with -errno or 1. */
int acpi_poweroff(uint64_t rsdp);

/* ---- fw_cfg (lib/fwcfg.c; BSP) ---- */
#define FW_CFG_SIGNATURE 0x00
#define FW_CFG_ID	 0x01
#define FW_CFG_RAM_SIZE	 0x03
#define FW_CFG_NB_CPUS	 0x05
#define FW_CFG_FILE_DIR	 0x19
bool fwcfg_present(void);
/* Read len bytes of item key through the data port. */
void fwcfg_read(uint16_t key, void *buf, uint32_t len);
/* Read len bytes of item key with DMA; 0 or -EIO (error bit) / -ETIMEDOUT / -ENODEV. */
int fwcfg_dma_read(uint16_t key, void *buf, uint32_t len);
/* Find a file; stores its selector and size. Returns false if absent. */
bool fwcfg_find_file(const char *name, uint16_t *key, uint32_t *size);
/* Print the file directory; returns the number of files. */
unsigned fwcfg_list_files(void);

/* ---- CMOS RTC (lib/rtc.c; BSP) ---- */
/* Read the RTC (waits for UIP clear, reads twice until stable, handles BCD and 12 h).
 * Returns seconds since the epoch (UTC) and fills the broken-down fields if tm is not NULL. */
struct rtc_time {
	unsigned year, mon, day, hour, min, sec;
	bool bcd, h24;
};
uint64_t rtc_read_epoch(struct rtc_time *tm);
/* TSC ticks in one RTC second (edge to edge); 0 if the RTC does not tick (no RTC: e.g. QEMU
 * microvm without rtc=on) within about 10 s of TSC at 4 GHz. */
uint64_t rtc_tsc_hz(void);

/* ---- CPU topology (lib/topo.c; any CPU) ---- */
struct cpu_topo {
	uint32_t apic_id; /* x2APIC id from leaf 0xB, or leaf 1 EBX[31:24] */
	uint32_t threads; /* logical processors per core */
	uint32_t cores;	  /* cores per package */
	uint32_t smt_id, core_id, pkg_id;
	uint32_t leaf1_logical; /* CPUID.1:EBX[23:16] */
	uint32_t leaf4_cores;	/* CPUID.4:EAX[31:26] + 1; 0 if leaf 4 is absent (AMD) */
	bool has_0b, has_1f;
	uint32_t threads_1f, cores_1f; /* from leaf 0x1F if has_1f */
};
void cpu_topo_read(struct cpu_topo *t);

/* ---- paging (lib/trap.c) ---- */
/* Map the 1 GiB at gpa (1 GiB aligned, below 512 GiB) with 2 MiB pages, uncached.
 * Returns false if the CPU's physical address width cannot reach it. */
bool paging_map_1g(uint64_t gpa);

/* ---- virtio-mmio (lib/virtio_mmio.c; BSP) ---- */
/* Bases of the virtio-mmio devices the DSDT describes (_HID "LNRO0005", the first
 * Memory32Fixed of each _CRS), found through the FADT's DSDT pointer; returns how many. */
unsigned vmmio_find_all(uint64_t rsdp, uint64_t *bases, unsigned max);
/* The first of them whose magic is "virt" and whose DeviceID is `device_id`; 0 if none. */
uint64_t vmmio_find(uint64_t rsdp, uint32_t device_id);
/* Driver side after FEATURES_OK: queue 0 of `qsize` entries with desc/avail/used at ring_gpa,
 * +0x1000, +0x2000 (zeroed), QueueReady, then DRIVER_OK. Checks (via check()) and returns
 * whether the device accepted it. */
bool vmmio_setup_queue0(uint64_t base, uint16_t qsize, uint64_t ring_gpa);
/* The same for queue q without DRIVER_OK (devices with several queues: set each up, then
 * write status 0x0f). */
bool vmmio_setup_queue(uint64_t base, uint16_t q, uint16_t qsize, uint64_t ring_gpa);

/* ---- virtqueue, driver side (lib/vring.c; BSP) ---- */
#define VRING_MAX	256 /* largest queue size the payloads use */
#define VRING_TABLE_MAX 4   /* segments per indirect table */
struct vring_seg {
	uint64_t addr;
	uint32_t len;
	bool write; /* device-writable */
};
struct vring {
	bool packed;
	uint16_t size;
	uint64_t gpa;			/* descriptors; driver area +0x1000; device area +0x2000 */
	uint16_t avail_idx, used_idx;	/* split */
	uint16_t next_avail, next_used; /* descriptor positions */
	bool avail_wrap, used_wrap;	/* packed */
	uint16_t ndesc[VRING_MAX];	/* packed: descriptors per ID */
};
/* True if the command line says packed=1. */
bool vring_want_packed(void);
/* The high feature word (bits 32..63) to acknowledge given the device's: VERSION_1, and
 * RING_PACKED when packed=1 (checked: the device must offer it). */
uint32_t vring_features_hi(uint32_t offered_hi);
/* Zero the three areas (0x3000 bytes at gpa) and the indirect tables after them (one of
 * VRING_TABLE_MAX entries per ring position) and reset the driver state. */
void vring_init(struct vring *r, uint16_t size, uint64_t gpa, bool packed);
/* Make a chain of n segments available; returns its ID (split: the head index). The caller
 * notifies the device. */
uint16_t vring_add(struct vring *r, const struct vring_seg *s, unsigned n);
/* The same chain (n <= VRING_TABLE_MAX) as one ring descriptor with VIRTQ_DESC_F_INDIRECT
 * pointing to a table (needs VIRTIO_F_INDIRECT_DESC). */
uint16_t vring_add_indirect(struct vring *r, const struct vring_seg *s, unsigned n);
/* Ask for used-buffer interrupts or suppress them (split: VIRTQ_AVAIL_F_NO_INTERRUPT; packed:
 * driver event suppression ENABLE / DISABLE). */
void vring_set_interrupts(struct vring *r, bool on);
/* The next used element, if the device returned one. */
bool vring_get_used(struct vring *r, uint16_t *id, uint32_t *len);

/* ---- PCI (lib/pci.c; BSP) ---- */
/* ECAM base of segment 0 from the ACPI MCFG table (0 if there is none). */
uint64_t pci_ecam_base(uint64_t rsdp);
uint32_t pci_cfg_read32(uint64_t ecam, unsigned slot, unsigned reg);
uint16_t pci_cfg_read16(uint64_t ecam, unsigned slot, unsigned reg);
uint8_t pci_cfg_read8(uint64_t ecam, unsigned slot, unsigned reg);
void pci_cfg_write32(uint64_t ecam, unsigned slot, unsigned reg, uint32_t v);
void pci_cfg_write16(uint64_t ecam, unsigned slot, unsigned reg, uint16_t v);
void pci_cfg_write8(uint64_t ecam, unsigned slot, unsigned reg, uint8_t v);
/* Size every memory BAR of bus 0 / slot, place it at the next suitably aligned address of the
 * allocator *next (starts at the 32-bit window, 0xc0000000 on kvmm and QEMU microvm), store the
 * addresses in bars[6] (0: none; a 64-bit BAR fills its first index) and enable memory
 * decoding and bus mastering. Returns the number of BARs placed. */
unsigned pci_assign_bars(uint64_t ecam, unsigned slot, uint64_t *next, uint64_t bars[6]);

/* ---- virtio driver over either transport (lib/virtio_pci.c; BSP) ---- */
struct vdev {
	bool pci;
	uint64_t mmio; /* virtio-mmio window */
	uint64_t ecam; /* virtio-pci: bus 0 ECAM */
	unsigned slot;
	uint64_t common, isr, device, notify, msix_table; /* virtio-pci addresses */
	uint32_t notify_mult;
	uint8_t msix_cap;
	uint16_t queue_vector; /* MSI-X vector for queue 0 (0xffff: none) */
};
/* Find the device of device_id: on PCI (modern id 0x1040 + id, capabilities walked) when the
 * command line says transport=pci, else on virtio-mmio (DSDT). Prints what it found. */
bool vdev_find(uint64_t rsdp, uint32_t device_id, struct vdev *v);
void vdev_set_status(struct vdev *v, uint8_t s);
uint8_t vdev_status(struct vdev *v);
uint32_t vdev_features(struct vdev *v, unsigned sel);
void vdev_set_features(struct vdev *v, unsigned sel, uint32_t f);
/* Queue 0 as vmmio_setup_queue0, then DRIVER_OK; on PCI uses v->queue_vector. */
bool vdev_setup_queue0(struct vdev *v, uint16_t qsize, uint64_t ring_gpa);
/* Queue q the same way without DRIVER_OK (devices with several queues: set each up, then
 * vdev_set_status(v, 0x0f)); on PCI each queue gets v->queue_vector. */
bool vdev_setup_queue(struct vdev *v, uint16_t q, uint16_t qsize, uint64_t ring_gpa);
void vdev_notify(struct vdev *v, uint16_t q);
/* Read and acknowledge the interrupt status (mmio: InterruptStatus + ACK; pci: ISR). */
uint32_t vdev_ack(struct vdev *v);
uint8_t vdev_config_read8(struct vdev *v, uint32_t off);
uint32_t vdev_config_read32(struct vdev *v, uint32_t off);
void vdev_config_write32(struct vdev *v, uint32_t off, uint32_t val);
/* PCI only: enable MSI-X with vector table entry 0 -> (LAPIC of apic_id, idt_vector) and use
 * it for queue 0. False on virtio-mmio or without the capability. Before vdev_setup_queue0. */
bool vdev_msix_enable(struct vdev *v, uint32_t apic_id, uint8_t idt_vector);
/* The same with table entries 0..n-1 -> idt_vector + i (n at most the table size, checked); the
 * caller then points each queue at its entry (v->queue_vector before vdev_setup_queue). */
bool vdev_msix_enable_n(struct vdev *v, uint32_t apic_id, uint8_t idt_vector, unsigned n);

/* Implemented by each payload. Return 0 for PASS or a failure code (EXIT_CODE_*). */
int payload_main(const struct boot_info *bi);
