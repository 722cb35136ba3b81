/* devices/legacy/fw_cfg.c — see fw_cfg.h. The DMA engine follows QEMU's fw_cfg_dma_transfer():
 * read the descriptor once into a local copy, optionally select, then READ (copy the item,
 * zero-fill past its end), SKIP (advance) or WRITE (always an error: no writable items), and
 * store the resulting control word (0 or ERROR) back into the descriptor. */
#include "devices/legacy/fw_cfg.h"

#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "mem/gmem.h"

struct fw_cfg_entry {
	uint16_t key;
	uint32_t len;
	uint8_t *data; /* owned; NULL when len == 0 */
};

struct fw_cfg {
	const struct gmem *mem;
	struct fw_cfg_entry items[FW_CFG_MAX_ITEMS];
	unsigned n_items;
	struct fw_cfg_entry files[FW_CFG_MAX_FILES]; /* key = FW_CFG_FILE_FIRST + index */
	char names[FW_CFG_MAX_FILES][FW_CFG_MAX_NAME];
	unsigned n_files;
	const struct fw_cfg_entry *cur; /* NULL: nothing (valid) selected */
	uint32_t cur_off;
	uint64_t dma_addr;
	struct log_ratelimit dma_rl;
};

static struct fw_cfg_entry *fw_cfg_find(struct fw_cfg *fw, uint16_t key)
{
	if (!(key & FW_CFG_ARCH_LOCAL) && key >= FW_CFG_FILE_FIRST) {
		unsigned idx = key - FW_CFG_FILE_FIRST;

		return idx < fw->n_files ? &fw->files[idx] : NULL;
	}
	for (unsigned i = 0; i < fw->n_items; i++)
		if (fw->items[i].key == key)
			return &fw->items[i];
	return NULL;
}

static int fw_cfg_dup(uint8_t **dst, const void *data, uint32_t len)
{
	*dst = NULL;
	if (len == 0)
		return 0;
	if (!data)
		return -EINVAL;
	*dst = malloc(len);
	if (!*dst)
		return -ENOMEM;
	memcpy(*dst, data, len);
	return 0;
}

static int fw_cfg_insert_item(struct fw_cfg *fw, uint16_t key, const void *data, uint32_t len)
{
	struct fw_cfg_entry *e;
	int err;

	if (fw_cfg_find(fw, key))
		return -EEXIST;
	if (fw->n_items == FW_CFG_MAX_ITEMS)
		return -ENOSPC;
	e = &fw->items[fw->n_items];
	err = fw_cfg_dup(&e->data, data, len);
	if (err)
		return err;
	e->key = key;
	e->len = len;
	fw->n_items++;
	return 0;
}

static int fw_cfg_name_cmp(const void *a, const void *b)
{
	return strcmp(((const struct fw_cfg_file *)a)->name, ((const struct fw_cfg_file *)b)->name);
}

/* Rebuild FW_CFG_FILE_DIR from files[]: be32 count, then entries sorted by name. */
static int fw_cfg_build_dir(struct fw_cfg *fw)
{
	struct fw_cfg_entry *dir = fw_cfg_find(fw, FW_CFG_FILE_DIR);
	uint32_t len = 4 + fw->n_files * (uint32_t)sizeof(struct fw_cfg_file);
	uint8_t *buf = calloc(1, len);
	struct fw_cfg_file *ent = (struct fw_cfg_file *)(void *)(buf + 4);
	uint32_t count = htobe32(fw->n_files);

	if (!buf)
		return -ENOMEM;
	memcpy(buf, &count, 4);
	for (unsigned i = 0; i < fw->n_files; i++) {
		struct fw_cfg_file fe = {0};

		fe.size = htobe32(fw->files[i].len);
		fe.select = htobe16(fw->files[i].key);
		memcpy(fe.name, fw->names[i], FW_CFG_MAX_NAME);
		memcpy(&ent[i], &fe, sizeof(fe));
	}
	qsort(ent, fw->n_files, sizeof(*ent), fw_cfg_name_cmp);
	free(dir->data);
	dir->data = buf;
	dir->len = len;
	return 0;
}

int fw_cfg_create(struct fw_cfg **out, const struct gmem *m)
{
	struct fw_cfg *fw = calloc(1, sizeof(*fw));
	uint32_t id = htole32(m ? 3 : 1);
	int err;

	if (!fw)
		return -ENOMEM;
	fw->mem = m;
	err = fw_cfg_insert_item(fw, FW_CFG_SIGNATURE, "QEMU", 4);
	if (!err)
		err = fw_cfg_insert_item(fw, FW_CFG_ID, &id, 4);
	if (!err)
		err = fw_cfg_insert_item(fw, FW_CFG_FILE_DIR, NULL, 0);
	if (!err)
		err = fw_cfg_build_dir(fw);
	if (err)
		goto err_destroy;
	*out = fw;
	return 0;

err_destroy:
	fw_cfg_destroy(fw);
	return err;
}

void fw_cfg_destroy(struct fw_cfg *fw)
{
	if (!fw)
		return;
	for (unsigned i = 0; i < fw->n_items; i++)
		free(fw->items[i].data);
	for (unsigned i = 0; i < fw->n_files; i++)
		free(fw->files[i].data);
	free(fw);
}

int fw_cfg_add_item(struct fw_cfg *fw, uint16_t key, const void *data, uint32_t len)
{
	uint16_t idx = key & (uint16_t)~FW_CFG_ARCH_LOCAL;

	if ((key & FW_CFG_WRITE_CHANNEL) || idx >= FW_CFG_FILE_FIRST)
		return -EINVAL;
	if (key == FW_CFG_SIGNATURE || key == FW_CFG_ID || key == FW_CFG_FILE_DIR)
		return -EEXIST;
	if (len && !data)
		return -EINVAL;
	return fw_cfg_insert_item(fw, key, data, len);
}

int fw_cfg_add_u16(struct fw_cfg *fw, uint16_t key, uint16_t v)
{
	uint16_t le = htole16(v);

	return fw_cfg_add_item(fw, key, &le, sizeof(le));
}

int fw_cfg_add_u32(struct fw_cfg *fw, uint16_t key, uint32_t v)
{
	uint32_t le = htole32(v);

	return fw_cfg_add_item(fw, key, &le, sizeof(le));
}

int fw_cfg_add_u64(struct fw_cfg *fw, uint16_t key, uint64_t v)
{
	uint64_t le = htole64(v);

	return fw_cfg_add_item(fw, key, &le, sizeof(le));
}

int fw_cfg_add_file_sel(struct fw_cfg *fw, const char *name, const void *data, uint32_t len,
			uint16_t *select)
{
	struct fw_cfg_entry *e;
	size_t nlen;
	int err;

	if (!name || !name[0] || (len && !data))
		return -EINVAL;
	nlen = strnlen(name, FW_CFG_MAX_NAME);
	if (nlen >= FW_CFG_MAX_NAME)
		return -ENAMETOOLONG;
	for (unsigned i = 0; i < fw->n_files; i++)
		if (!strcmp(fw->names[i], name))
			return -EEXIST;
	if (fw->n_files == FW_CFG_MAX_FILES)
		return -ENOSPC;
	e = &fw->files[fw->n_files];
	err = fw_cfg_dup(&e->data, data, len);
	if (err)
		return err;
	e->key = (uint16_t)(FW_CFG_FILE_FIRST + fw->n_files);
	e->len = len;
	memset(fw->names[fw->n_files], 0, FW_CFG_MAX_NAME);
	memcpy(fw->names[fw->n_files], name, nlen);
	fw->n_files++;
	err = fw_cfg_build_dir(fw);
	if (err)
		goto err_undo;
	if (select)
		*select = e->key;
	return 0;

err_undo:
	fw->n_files--;
	free(e->data);
	e->data = NULL;
	return err;
}

int fw_cfg_add_file(struct fw_cfg *fw, const char *name, const void *data, uint32_t len)
{
	return fw_cfg_add_file_sel(fw, name, data, len, NULL);
}

static void fw_cfg_select(struct fw_cfg *fw, uint16_t key)
{
	fw->cur = fw_cfg_find(fw, key & (uint16_t)~FW_CFG_WRITE_CHANNEL);
	fw->cur_off = 0;
}

static uint8_t fw_cfg_data_byte(struct fw_cfg *fw)
{
	if (!fw->cur || fw->cur_off >= fw->cur->len)
		return 0;
	return fw->cur->data[fw->cur_off++];
}

/* Move `len` bytes of the selected item to guest memory (read), or past it (skip). Returns 0 or
 * FW_CFG_DMA_CTL_ERROR. */
static uint32_t fw_cfg_dma_move(struct fw_cfg *fw, uint64_t gpa, uint32_t len, bool read,
				bool write)
{
	while (len > 0) {
		const struct fw_cfg_entry *e = fw->cur;
		uint32_t n = len;
		int err = 0;

		if (!e || fw->cur_off >= e->len) {
			if (read)
				err = gmem_fill(fw->mem, gpa, 0, n);
		} else {
			n = KVMM_MIN(len, e->len - fw->cur_off);
			if (read)
				err = gmem_write(fw->mem, gpa, e->data + fw->cur_off, n);
			fw->cur_off += n;
		}
		if (err || write)
			return FW_CFG_DMA_CTL_ERROR;
		gpa += n; /* a wrap is caught by gmem on the next round */
		len -= n;
	}
	return 0;
}

/* Store the result into the descriptor's control word. */
static void fw_cfg_dma_finish(struct fw_cfg *fw, uint64_t desc_gpa, uint32_t ctl)
{
	uint32_t be = htobe32(ctl);

	/* The data copied before must be visible before the guest sees control == 0 (it pairs
	 * with the guest's load of the control word). x86 keeps stores in program order (TSO), so
	 * only the compiler must not reorder them; a signal fence says exactly that (and, unlike a
	 * thread fence, is accepted by -fsanitize=thread). */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	if (gmem_write(fw->mem, desc_gpa, &be, sizeof(be)))
		log_ratelimited(&fw->dma_rl, LOG_WARN, "fw_cfg: DMA descriptor 0x%llx not in RAM",
				(unsigned long long)desc_gpa);
}

static void fw_cfg_dma(struct fw_cfg *fw, uint64_t desc_gpa)
{
	struct fw_cfg_dma_access d;
	uint32_t ctl, len;
	bool read = false, write = false;

	if (!fw->mem)
		return;
	if (gmem_read_obj(fw->mem, desc_gpa, &d)) {
		fw_cfg_dma_finish(fw, desc_gpa, FW_CFG_DMA_CTL_ERROR);
		return;
	}
	ctl = be32toh(d.control); /* copy, then validate: only the local copy is used */
	len = be32toh(d.length);
	if (ctl & FW_CFG_DMA_CTL_SELECT)
		fw_cfg_select(fw, (uint16_t)(ctl >> 16));
	if (ctl & FW_CFG_DMA_CTL_READ)
		read = true;
	else if (ctl & FW_CFG_DMA_CTL_WRITE)
		write = true;
	else if (!(ctl & FW_CFG_DMA_CTL_SKIP))
		len = 0;
	fw_cfg_dma_finish(fw, desc_gpa, fw_cfg_dma_move(fw, be64toh(d.address), len, read, write));
}

static void fw_cfg_io_read(void *dev, uint64_t off, void *data, uint32_t len)
{
	struct fw_cfg *fw = dev;
	static const char sig[8] = FW_CFG_DMA_SIGNATURE;
	uint8_t *b = data;

	memset(data, 0xff, len);
	if (off == FW_CFG_PORT_DATA) {
		for (uint32_t i = 0; i < len; i++)
			b[i] = fw_cfg_data_byte(fw);
	} else if (fw->mem && off >= FW_CFG_PORT_DMA && len <= 8 &&
		   off - FW_CFG_PORT_DMA <= 8 - len) {
		memcpy(b, sig + (off - FW_CFG_PORT_DMA), len);
	}
}

static uint32_t fw_cfg_be32(const void *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return be32toh(v);
}

static void fw_cfg_io_write(void *dev, uint64_t off, const void *data, uint32_t len)
{
	struct fw_cfg *fw = dev;
	uint64_t addr;
	uint16_t sel;

	if (off == FW_CFG_PORT_SEL && len == 2) {
		memcpy(&sel, data, 2);
		fw_cfg_select(fw, le16toh(sel));
	} else if (off == FW_CFG_PORT_DMA && len == 4) {
		fw->dma_addr = (uint64_t)fw_cfg_be32(data) << 32;
	} else if (off == FW_CFG_PORT_DMA + 4 && len == 4) {
		addr = fw->dma_addr | fw_cfg_be32(data);
		fw->dma_addr = 0;
		fw_cfg_dma(fw, addr);
	} else if (off == FW_CFG_PORT_DMA && len == 8) {
		memcpy(&addr, data, 8);
		fw->dma_addr = 0;
		fw_cfg_dma(fw, be64toh(addr));
	}
	/* Data-port writes and anything else: ignored (no writable items). */
}

const struct io_ops fw_cfg_io_ops = {
    .read = fw_cfg_io_read,
    .write = fw_cfg_io_write,
};

void fw_cfg_save(struct fw_cfg *fw, struct fw_cfg_state *s)
{
	memset(s, 0, sizeof(*s));
	s->dma_addr = fw->dma_addr;
	s->cur_off = fw->cur_off;
	s->cur_key = fw->cur ? fw->cur->key : FW_CFG_STATE_NONE;
}

void fw_cfg_load(struct fw_cfg *fw, const struct fw_cfg_state *s)
{
	fw->dma_addr = s->dma_addr;
	fw->cur = s->cur_key == FW_CFG_STATE_NONE ? NULL : fw_cfg_find(fw, s->cur_key);
	fw->cur_off = fw->cur && s->cur_off <= fw->cur->len ? s->cur_off : 0;
}
