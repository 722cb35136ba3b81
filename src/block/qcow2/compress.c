/* block/qcow2/compress.c — compressed cluster codecs: raw deflate (compression_type 0, zlib
 * with a 4 KiB window as QEMU writes it) and zstd (type 1). Stateless; any thread. */
#include "block/qcow2/qcow2.h"

#include <errno.h>
#include <zlib.h>
#include <zstd.h>

static int inflate_raw(const uint8_t *src, size_t slen, uint8_t *dst, size_t dlen)
{
	z_stream z = {0};
	int ret;

	if (inflateInit2(&z, -15) != Z_OK)
		return -ENOMEM;
	z.next_in = (Bytef *)(uintptr_t)src;
	z.avail_in = (uInt)slen;
	z.next_out = dst;
	z.avail_out = (uInt)dlen;
	ret = inflate(&z, Z_FINISH);
	inflateEnd(&z);
	/* Success when the cluster is full; trailing input (sector padding) is allowed. */
	if ((ret == Z_STREAM_END || ret == Z_BUF_ERROR || ret == Z_OK) && z.avail_out == 0)
		return 0;
	return -EIO;
}

static int unzstd(const uint8_t *src, size_t slen, uint8_t *dst, size_t dlen)
{
	ZSTD_DCtx *dc = ZSTD_createDCtx();
	ZSTD_inBuffer in = {src, slen, 0};
	ZSTD_outBuffer out = {dst, dlen, 0};
	int err = -EIO;

	if (!dc)
		return -ENOMEM;
	/* Streaming, as QEMU: the chunk may be followed by padding, and must fill the cluster. */
	while (out.pos < out.size) {
		size_t in0 = in.pos, out0 = out.pos;
		size_t r = ZSTD_decompressStream(dc, &out, &in);

		if (ZSTD_isError(r))
			goto out;
		if (r == 0 && out.pos < out.size)
			goto out; /* the frame ended before the cluster was full */
		if (in.pos == in0 && out.pos == out0)
			goto out; /* no progress: truncated input */
	}
	err = 0;
out:
	ZSTD_freeDCtx(dc);
	return err;
}

int qcow2_decompress(uint8_t type, const uint8_t *src, size_t slen, uint8_t *dst, size_t dlen)
{
	switch (type) {
	case QCOW2_COMPRESSION_ZLIB:
		return inflate_raw(src, slen, dst, dlen);
	case QCOW2_COMPRESSION_ZSTD:
		return unzstd(src, slen, dst, dlen);
	}
	return -ENOTSUP;
}

int qcow2_compress(uint8_t type, const uint8_t *src, size_t slen, uint8_t *dst, size_t dcap,
		   size_t *out_len)
{
	*out_len = 0;
	if (type == QCOW2_COMPRESSION_ZLIB) {
		z_stream z = {0};
		int ret;

		/* QEMU: deflateInit2(Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, 9, ...) */
		if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, 9,
				 Z_DEFAULT_STRATEGY) != Z_OK)
			return -ENOMEM;
		z.next_in = (Bytef *)(uintptr_t)src;
		z.avail_in = (uInt)slen;
		z.next_out = dst;
		z.avail_out = (uInt)dcap;
		ret = deflate(&z, Z_FINISH);
		if (ret == Z_STREAM_END && z.total_out < slen)
			*out_len = z.total_out;
		deflateEnd(&z);
		return 0;
	}
	if (type == QCOW2_COMPRESSION_ZSTD) {
		size_t r = ZSTD_compress(dst, dcap, src, slen, ZSTD_CLEVEL_DEFAULT);

		if (!ZSTD_isError(r) && r < slen)
			*out_len = r;
		return 0;
	}
	return -ENOTSUP;
}
