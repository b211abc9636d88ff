/** @file
 * safetensors files (https://huggingface.co/docs/safetensors): reading reference fixtures and
 * model checkpoints with PyTorch state_dict names, and writing checkpoints atomically.
 * Not a memory-mapped or streaming reader: a file is read whole into memory and validated once;
 * no dependency on the Python safetensors package (tools/st.py writes the same format).
 *
 * Format: u64 little-endian N, then N bytes of UTF-8 JSON mapping tensor name ->
 * {"dtype": "F32", "shape": [2,3], "data_offsets": [begin, end]} (byte offsets into the data
 * buffer that follows the header), plus an optional "__metadata__": {string: string}.
 * Data is little-endian, row-major, contiguous; the tensors tile the data buffer exactly.
 *
 * Errors follow tensor.h: NULL or a negative sg_status, message in sg_last_error().
 *   SG_ERR_IO      the file cannot be opened, read, written or renamed (message: path + strerror)
 *   SG_ERR_FORMAT  malformed file: message names the problem, the byte offset or tensor name
 *   SG_ERR_ARG     no tensor with that name, bad index, duplicate or invalid name in a writer
 *   SG_ERR_SHAPE   sg_st_read_into: stored shape differs from the destination's
 *   SG_ERR_DTYPE   stored dtype cannot convert to what was asked (e.g. I64 into a float tensor)
 *   SG_ERR_UNSUPPORTED  known dtype that seqgrad does not convert (F8_*), or rank > SG_MAX_DIMS */
#ifndef SG_SAFETENSORS_H
#define SG_SAFETENSORS_H

#include <stdint.h>

#include "../tensor/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Largest header accepted (the reference implementation's limit). */
#define SG_ST_MAX_HEADER (100u * 1000u * 1000u)

/* ---- reading ---- */
/** An opened safetensors file (header parsed and validated, data in memory), opaque; from
 * sg_st_open(), freed by sg_st_close(). */
typedef struct sg_st_file sg_st_file;

/** Read and validate the whole file. Returns an object owned by the caller (sg_st_close), or NULL.
 * Validation: header length within the file and <= SG_ST_MAX_HEADER, well-formed JSON object,
 * every entry with a known dtype, non-negative integer shape and data_offsets whose length is
 * numel * itemsize, and the offsets tiling the data buffer with no gap or overlap. */
sg_st_file *sg_st_open(const char *path);
/** Same from a buffer in memory (copied; the caller keeps data). Messages name "<memory>". */
sg_st_file *sg_st_open_memory(const void *data, size_t size);
/** NULL is a no-op. Invalidates every string and shape pointer obtained from f. */
void sg_st_close(sg_st_file *f);

/** Number of tensors (not counting __metadata__), or a negative status for NULL f. */
int sg_st_count(const sg_st_file *f);
/** Tensors are indexed 0..count-1 in header order. Name of tensor i (borrowed from f), or NULL
 * with SG_ERR_ARG for a bad index. */
const char *sg_st_name(const sg_st_file *f, int i);
/** Index of the tensor called name, or -1 (no error recorded: this is a query). */
int sg_st_find(const sg_st_file *f, const char *name);
/** Stored dtype of tensor i as written in the file ("F32", "I64", "BF16", ...), borrowed; NULL on a
 * bad index. */
const char *sg_st_dtype(const sg_st_file *f, int i);
/** Rank of tensor i (0 for a scalar), or a negative status. */
int sg_st_ndim(const sg_st_file *f, int i);
/** Its ndim sizes (borrowed from f; never NULL for a valid index, even when ndim is 0). */
const int64_t *sg_st_shape(const sg_st_file *f, int i);
/** Its element count, or a negative status. */
int64_t sg_st_numel(const sg_st_file *f, int i);

/** Value of a __metadata__ key (borrowed), or NULL when absent (no error recorded). */
const char *sg_st_meta(const sg_st_file *f, const char *key);
/** Number of __metadata__ entries, or a negative status. */
int sg_st_meta_count(const sg_st_file *f);
/** Key i of __metadata__ in header order (borrowed), or NULL with SG_ERR_ARG. */
const char *sg_st_meta_key(const sg_st_file *f, int i);

/** New user-owned contiguous tensor of dtype want (SG_F32 or SG_F64) holding tensor name,
 * converted from F32, F64, F16 or BF16 (F32 -> F64 and F16/BF16 -> either are exact). Integer and
 * bool dtypes give SG_ERR_DTYPE (use sg_st_get_i64); F8_* gives SG_ERR_UNSUPPORTED. */
sg_tensor *sg_st_get(const sg_st_file *f, const char *name, sg_dtype want);
/** Integer tensor name (I64, I32, I16, I8, U32, U16, U8 or BOOL) as a new malloc'ed row-major
 * int64_t array in *out (never NULL on success, even for 0 elements; free() it) with its element
 * count in *n (n may be NULL). U64 and float dtypes give SG_ERR_DTYPE. Returns 0 or a status;
 * *out is NULL on failure. */
int sg_st_get_i64(const sg_st_file *f, const char *name, int64_t **out, int64_t *n);
/** Copy tensor name into the existing tensor dst (any strides, e.g. a view of a parameter block),
 * converting F32/F64/F16/BF16 to dst's dtype. The stored shape must equal dst's exactly
 * (SG_ERR_SHAPE naming the tensor, both shapes and the stored dtype). Bumps dst's version
 * (sg_mark_modified). On failure dst is unchanged. Returns 0 or a negative status. */
int sg_st_read_into(const sg_st_file *f, const char *name, sg_tensor *dst);

/* ---- writing ---- */
/** A safetensors file being assembled in memory (tensors and metadata), opaque; written by
 * sg_st_writer_save(). */
typedef struct sg_st_writer sg_st_writer;

/** Empty writer, owned by the caller (sg_st_writer_free). NULL on allocation failure. */
sg_st_writer *sg_st_writer_new(void);
/** NULL is a no-op. */
void sg_st_writer_free(sg_st_writer *w);
/** Add tensor t (F32 or F64, any strides; stored contiguous with its own dtype). The data are copied
 * now, so t may be freed or modified afterwards. name: non-empty valid UTF-8, not "__metadata__",
 * not already added (SG_ERR_ARG). Tensors are written in the order added. Returns 0 or a status;
 * on failure the writer is unchanged. */
int sg_st_writer_add(sg_st_writer *w, const char *name, const sg_tensor *t);
/** Add an int64 tensor of rank ndim (0..SG_MAX_DIMS) from data (row-major, numel elements, copied;
 * may be NULL when numel is 0). Same name rules. */
int sg_st_writer_add_i64(sg_st_writer *w, const char *name, int ndim, const int64_t *shape,
                         const int64_t *data);
/** Add a __metadata__ entry (both valid UTF-8; a key may be given only once: SG_ERR_ARG). */
int sg_st_writer_meta(sg_st_writer *w, const char *key, const char *value);
/** Write everything added so far to path, atomically: the bytes go to a new temporary
 * "<path>.tmp.<pid>.<n>" in the same directory (unique to this process and this call), are
 * flushed and fsync'ed, then rename()d over path, and the directory is fsync'ed. On any failure
 * the temporary file is removed, a file already at path is left untouched, and SG_ERR_IO names the
 * path and the system error. Before writing, temporaries of the same path left by savers that were
 * killed (their pid no longer runs; also the older "<path>.tmp.<pid>" names) are removed; no other
 * file is touched (io/tmpfile.c says exactly which names). The header is padded with spaces to a
 * multiple of 8 bytes. The writer stays usable (save may be called again).
 * Concurrent saves to one path (threads or processes) all succeed independently: each writes its
 * own temporary, the last rename wins, and path always holds one whole file from one of them,
 * never a mix. Returns 0 or a negative status. */
int sg_st_writer_save(const sg_st_writer *w, const char *path);

#ifdef __cplusplus
}
#endif

#endif
