/* tests/guest/payload/lib/fwcfg.c — QEMU fw_cfg: selector 0x510, data 0x511, DMA 0x514. */
#include "payload.h"

#define FWCFG_SEL      0x510
#define FWCFG_DATA     0x511
#define FWCFG_DMA      0x514
#define DMA_CTL_ERROR  0x01
#define DMA_CTL_READ   0x02
#define DMA_CTL_SELECT 0x08

struct fwcfg_dma {
	uint32_t control, length; /* big-endian */
	uint64_t address;
} __attribute__((packed));

struct fwcfg_file {
	uint32_t size; /* big-endian */
	uint16_t select;
	uint16_t reserved;
	char name[56];
} __attribute__((packed));

bool fwcfg_present(void)
{
	char sig[4];

	fwcfg_read(FW_CFG_SIGNATURE, sig, sizeof(sig));
	return !memcmp(sig, "QEMU", 4);
}

void fwcfg_read(uint16_t key, void *buf, uint32_t len)
{
	uint8_t *b = buf;

	outw(FWCFG_SEL, key);
	for (uint32_t i = 0; i < len; i++)
		b[i] = inb(FWCFG_DATA);
}

int fwcfg_dma_read(uint16_t key, void *buf, uint32_t len)
{
	static struct fwcfg_dma d __attribute__((aligned(16)));
	uint64_t pa = (uintptr_t)&d;
	uint32_t ctl;

	d.control = __builtin_bswap32(((uint32_t)key << 16) | DMA_CTL_SELECT | DMA_CTL_READ);
	d.length = __builtin_bswap32(len);
	d.address = __builtin_bswap64((uintptr_t)buf);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	outl(FWCFG_DMA, __builtin_bswap32((uint32_t)(pa >> 32)));
	outl(FWCFG_DMA + 4, __builtin_bswap32((uint32_t)pa));
	for (unsigned i = 0; i < 1000000; i++) {
		ctl = __builtin_bswap32(__atomic_load_n(&d.control, __ATOMIC_ACQUIRE));
		if (ctl & DMA_CTL_ERROR)
			return -5; /* EIO */
		if (!ctl)
			return 0;
		cpu_relax();
	}
	return -110; /* ETIMEDOUT */
}

static uint32_t file_count(void)
{
	uint32_t n;

	fwcfg_read(FW_CFG_FILE_DIR, &n, sizeof(n));
	return __builtin_bswap32(n);
}

bool fwcfg_find_file(const char *name, uint16_t *key, uint32_t *size)
{
	uint32_t n = file_count();

	/* The directory was selected by file_count(); entries follow the count. */
	for (uint32_t i = 0; i < n && i < 4096; i++) {
		struct fwcfg_file f;
		uint8_t *b = (uint8_t *)&f;

		for (size_t j = 0; j < sizeof(f); j++)
			b[j] = inb(FWCFG_DATA);
		f.name[sizeof(f.name) - 1] = '\0';
		if (!strncmp(f.name, name, sizeof(f.name))) {
			*key = __builtin_bswap16(f.select);
			*size = __builtin_bswap32(f.size);
			return true;
		}
	}
	return false;
}

unsigned fwcfg_list_files(void)
{
	uint32_t n = file_count();
	unsigned shown = 0;

	for (uint32_t i = 0; i < n && i < 4096; i++) {
		struct fwcfg_file f;
		uint8_t *b = (uint8_t *)&f;

		for (size_t j = 0; j < sizeof(f); j++)
			b[j] = inb(FWCFG_DATA);
		f.name[sizeof(f.name) - 1] = '\0';
		printf("  fw_cfg file %04x %6u %s\n", __builtin_bswap16(f.select),
		       __builtin_bswap32(f.size), f.name);
		shown++;
	}
	return shown;
}
