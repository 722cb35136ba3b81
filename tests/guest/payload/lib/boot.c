/* tests/guest/payload/lib/boot.c — boot information (PVH hvm_start_info or multiboot v1),
 * copied once at start-up and validated; the C entry point payload_start64(). */
#include "payload.h"

#define PVH_MAGIC     0x336ec578u
#define MB_BOOT_MAGIC 0x2badb002u
#define CMDLINE_MAX   4096

struct hvm_start_info {
	uint32_t magic, version, flags, nr_modules;
	uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr;
	uint64_t memmap_paddr; /* version >= 1 */
	uint32_t memmap_entries, reserved;
};

struct hvm_modlist_entry {
	uint64_t paddr, size, cmdline_paddr, reserved;
};

struct hvm_memmap_entry {
	uint64_t addr, size;
	uint32_t type, reserved;
};

struct mb_info {
	uint32_t flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
	uint32_t syms[4];
	uint32_t mmap_length, mmap_addr;
};

struct mb_module {
	uint32_t mod_start, mod_end, string, reserved;
};

struct mb_mmap_entry {
	uint32_t size;
	uint64_t addr, len;
	uint32_t type;
} __attribute__((packed));

extern uint32_t boot_magic, boot_ptr;
void payload_start64(void);
void trap_init(void);

static struct boot_info bi;
static char cmdline_buf[CMDLINE_MAX];

const struct boot_info *boot_info(void)
{
	return &bi;
}

/* Copy a NUL-terminated string from guest-physical memory, bounded. */
static void copy_cmdline(uint64_t paddr)
{
	const char *src = (const char *)(uintptr_t)paddr;
	size_t i;

	if (!paddr || paddr >= 0x100000000ull)
		return;
	for (i = 0; i + 1 < sizeof(cmdline_buf) && src[i]; i++)
		cmdline_buf[i] = src[i];
	cmdline_buf[i] = '\0';
}

static void add_range(uint64_t addr, uint64_t len, uint32_t type)
{
	if (bi.nr_memmap >= MAX_MEMMAP)
		return;
	bi.memmap[bi.nr_memmap++] = (struct mem_range){addr, len, type};
}

static void parse_pvh(uint32_t ptr)
{
	struct hvm_start_info si;

	memcpy(&si, (const void *)(uintptr_t)ptr, sizeof(si));
	bi.proto = BOOT_PVH;
	copy_cmdline(si.cmdline_paddr);
	bi.cmdline = cmdline_buf;
	bi.rsdp_paddr = si.rsdp_paddr;
	if (si.nr_modules && si.modlist_paddr && si.modlist_paddr < 0x100000000ull) {
		struct hvm_modlist_entry m;

		memcpy(&m, (const void *)(uintptr_t)si.modlist_paddr, sizeof(m));
		bi.initrd_addr = m.paddr;
		bi.initrd_size = m.size;
	}
	if (si.version >= 1 && si.memmap_paddr && si.memmap_paddr < 0x100000000ull) {
		uint32_t n = si.memmap_entries < MAX_MEMMAP ? si.memmap_entries : MAX_MEMMAP;

		for (uint32_t i = 0; i < n; i++) {
			struct hvm_memmap_entry e;

			memcpy(&e, (const void *)(uintptr_t)(si.memmap_paddr + i * sizeof(e)),
			       sizeof(e));
			add_range(e.addr, e.size, e.type);
		}
	}
}

static void parse_multiboot(uint32_t ptr)
{
	struct mb_info mi;

	memcpy(&mi, (const void *)(uintptr_t)ptr, sizeof(mi));
	bi.proto = BOOT_MULTIBOOT;
	if (mi.flags & 1) {
		bi.mb_mem_lower = mi.mem_lower;
		bi.mb_mem_upper = mi.mem_upper;
	}
	if (mi.flags & (1u << 2))
		copy_cmdline(mi.cmdline);
	/* The first word is the kernel path (QEMU and kvmm pass "PATH ARGS"). */
	bi.cmdline = cmdline_buf;
	while (*bi.cmdline && *bi.cmdline != ' ')
		bi.cmdline++;
	while (*bi.cmdline == ' ')
		bi.cmdline++;
	if ((mi.flags & (1u << 3)) && mi.mods_count) {
		struct mb_module m;

		memcpy(&m, (const void *)(uintptr_t)mi.mods_addr, sizeof(m));
		bi.initrd_addr = m.mod_start;
		bi.initrd_size = m.mod_end >= m.mod_start ? m.mod_end - m.mod_start : 0;
	}
	if (mi.flags & (1u << 6)) {
		uint64_t off = 0;

		/* Each entry: size (not counting itself), then the fields; bounded walk. */
		while (off + sizeof(struct mb_mmap_entry) <= mi.mmap_length &&
		       bi.nr_memmap < MAX_MEMMAP) {
			struct mb_mmap_entry e;

			memcpy(&e, (const void *)(uintptr_t)(mi.mmap_addr + off), sizeof(e));
			if (e.size < 20)
				break;
			add_range(e.addr, e.len, e.type);
			off += (uint64_t)e.size + 4;
		}
	}
}

uint64_t boot_ram_total(void)
{
	uint64_t total = 0;

	for (unsigned i = 0; i < bi.nr_memmap; i++)
		if (bi.memmap[i].type == 1)
			total += bi.memmap[i].len;
	return total;
}

/* Find "key" as a whole word; returns a pointer just past it, or NULL. */
static const char *cmdline_find(const char *key)
{
	size_t klen = strlen(key);
	const char *p = bi.cmdline;

	while (p && *p) {
		while (*p == ' ')
			p++;
		if (!strncmp(p, key, klen) && (p[klen] == '=' || p[klen] == ' ' || !p[klen]))
			return p + klen;
		while (*p && *p != ' ')
			p++;
	}
	return NULL;
}

bool cmdline_has(const char *key)
{
	return cmdline_find(key) != NULL;
}

bool cmdline_get(const char *key, char *buf, size_t size)
{
	const char *p = cmdline_find(key);
	size_t n = 0;

	if (!p || *p != '=' || !size)
		return false;
	p++;
	while (p[n] && p[n] != ' ') {
		if (n + 1 >= size)
			return false;
		buf[n] = p[n];
		n++;
	}
	buf[n] = '\0';
	return true;
}

uint64_t cmdline_u64(const char *key, uint64_t def)
{
	char buf[32];
	const char *end;
	uint64_t v;

	if (!cmdline_get(key, buf, sizeof(buf)) || !buf[0])
		return def;
	v = parse_u64(buf, &end);
	return *end ? def : v;
}

void payload_start64(void)
{
	uint32_t magic = boot_magic, ptr = boot_ptr;
	int rc;

	console_init();
	trap_init();
	bi.raw_ptr = ptr;
	printf("payload %s: entry eax=%x ebx=%x\n", payload_name, magic, ptr);
	if (ptr && *(const volatile uint32_t *)(uintptr_t)ptr == PVH_MAGIC)
		parse_pvh(ptr);
	else if (magic == MB_BOOT_MAGIC)
		parse_multiboot(ptr);
	else
		exit_fail("unknown boot protocol (eax=%x ebx=%x)", magic, ptr);
	bi.raw_cmdline = cmdline_buf;
	printf("payload %s: booted via %s, cmdline \"%s\"\n", payload_name,
	       bi.proto == BOOT_PVH ? "PVH" : "multiboot", bi.cmdline);
	rc = payload_main(&bi);
	if (rc == 0 && check_failures() == 0)
		exit_pass();
	if (rc == 0)
		rc = EXIT_CODE_FAIL;
	printf("FAIL %s: %u failed checks, code %d\n", payload_name, check_failures(), rc);
	debug_exit((uint32_t)rc);
}
