/* Batching helpers (see batch.h): Fisher-Yates on sg_rng, batch ranges, the epoch iterator and
 * row gathers. Not a data pipeline: everything is in memory and on the calling thread. */
#include "batch.h"

#include <stdlib.h>
#include <string.h>

#include "../tensor/tensor_impl.h"
#include "data_impl.h"

int sg_shuffle(sg_rng *rng, int64_t *a, int64_t n) {
    static const char *fn = "sg_shuffle";
    if (!sg__data_nonnull(rng, fn, "rng")) return SG_ERR_NULL;
    if (n < 0) return sg_set_error(SG_ERR_ARG, "%s: n must be >= 0, got %lld", fn, (long long)n);
    if (n > 0 && !sg__data_nonnull(a, fn, "a")) return SG_ERR_NULL;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)sg_rng_below(rng, (uint64_t)i + 1);
        int64_t t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
    return SG_OK;
}

static int64_t *identity(int64_t n, const char *fn) {
    int64_t *p = malloc((n > 0 ? (size_t)n : 1) * sizeof *p);
    if (!p) {
        sg_set_error(SG_ERR_MEM, "%s: out of memory for %lld indices", fn, (long long)n);
        return NULL;
    }
    for (int64_t i = 0; i < n; i++) p[i] = i;
    return p;
}

int64_t *sg_permutation(sg_rng *rng, int64_t n) {
    static const char *fn = "sg_permutation";
    if (!sg__data_nonnull(rng, fn, "rng")) return NULL;
    if (n < 0 || (uint64_t)n > SIZE_MAX / sizeof(int64_t)) {
        sg_set_error(SG_ERR_ARG, "%s: bad n %lld", fn, (long long)n);
        return NULL;
    }
    int64_t *p = identity(n, fn);
    if (p && sg_shuffle(rng, p, n) != SG_OK) {
        free(p);
        return NULL;
    }
    return p;
}

void sg_perm_free(int64_t *perm) { free(perm); }

static bool sizes_ok(int64_t n, int64_t batch_size, const char *fn) {
    if (n >= 0 && batch_size >= 1) return true;
    sg_set_error(SG_ERR_ARG, "%s: need n >= 0 and batch_size >= 1, got n = %lld, batch_size = %lld", fn,
                 (long long)n, (long long)batch_size);
    return false;
}

static int64_t num_batches(int64_t n, int64_t bs, bool drop_last) {
    return drop_last ? n / bs : n / bs + (n % bs != 0);
}

int64_t sg_num_batches(int64_t n, int64_t batch_size, bool drop_last) {
    if (!sizes_ok(n, batch_size, "sg_num_batches")) return -1;
    return num_batches(n, batch_size, drop_last);
}

static int64_t range_of(int64_t n, int64_t bs, bool drop_last, int64_t k, int64_t *start, const char *fn) {
    int64_t nb = num_batches(n, bs, drop_last);
    if (k < 0 || k >= nb) {
        sg_set_error(SG_ERR_ARG, "%s: batch %lld out of range [0, %lld) (n = %lld, batch_size = %lld%s)", fn,
                     (long long)k, (long long)nb, (long long)n, (long long)bs,
                     drop_last ? ", drop_last" : "");
        return -1;
    }
    *start = k * bs;
    return n - *start < bs ? n - *start : bs;
}

int64_t sg_batch_range(int64_t n, int64_t batch_size, bool drop_last, int64_t k, int64_t *start) {
    static const char *fn = "sg_batch_range";
    if (!sg__data_nonnull(start, fn, "start") || !sizes_ok(n, batch_size, fn)) return -1;
    return range_of(n, batch_size, drop_last, k, start, fn);
}

int sg_batcher_init(sg_batcher *b, int64_t n, int64_t batch_size, bool drop_last) {
    static const char *fn = "sg_batcher_init";
    if (!sg__data_nonnull(b, fn, "b")) return SG_ERR_NULL;
    memset(b, 0, sizeof *b);
    if (!sizes_ok(n, batch_size, fn)) return SG_ERR_ARG;
    if ((uint64_t)n > SIZE_MAX / sizeof(int64_t)) return sg_set_error(SG_ERR_ARG, "%s: n too large", fn);
    int64_t *order = identity(n, fn);
    if (!order) return SG_ERR_MEM;
    *b = (sg_batcher){.n = n, .batch_size = batch_size, .n_batches = num_batches(n, batch_size, drop_last),
                      .drop_last = drop_last, .order = order};
    return SG_OK;
}

int sg_batcher_shuffle(sg_batcher *b, sg_rng *rng) {
    static const char *fn = "sg_batcher_shuffle";
    if (!sg__data_nonnull(b, fn, "b") || !sg__data_nonnull(rng, fn, "rng")) return SG_ERR_NULL;
    if (!b->order) return sg_set_error(SG_ERR_STATE, "%s: batcher not initialised (or freed)", fn);
    for (int64_t i = 0; i < b->n; i++) b->order[i] = i;
    return sg_shuffle(rng, b->order, b->n);
}

int64_t sg_batcher_batch(const sg_batcher *b, int64_t k, const int64_t **idx) {
    static const char *fn = "sg_batcher_batch";
    if (!sg__data_nonnull(b, fn, "b") || !sg__data_nonnull(idx, fn, "idx")) return -1;
    *idx = NULL;
    if (!b->order) {
        sg_set_error(SG_ERR_STATE, "%s: batcher not initialised (or freed)", fn);
        return -1;
    }
    int64_t start;
    int64_t count = range_of(b->n, b->batch_size, b->drop_last, k, &start, fn);
    if (count >= 0) *idx = b->order + start;
    return count;
}

void sg_batcher_free(sg_batcher *b) {
    if (!b) return;
    free(b->order);
    memset(b, 0, sizeof *b);
}

static bool indices_ok(const int64_t *idx, int64_t n_idx, int64_t n_rows, const char *fn) {
    if (n_idx < 0) {
        sg_set_error(SG_ERR_ARG, "%s: n_idx must be >= 0, got %lld", fn, (long long)n_idx);
        return false;
    }
    if (n_idx > 0 && !sg__data_nonnull(idx, fn, "idx")) return false;
    for (int64_t r = 0; r < n_idx; r++)
        if (idx[r] < 0 || idx[r] >= n_rows) {
            sg_set_error(SG_ERR_ARG, "%s: idx[%lld] = %lld out of range [0, %lld)", fn, (long long)r,
                         (long long)idx[r], (long long)n_rows);
            return false;
        }
    return true;
}

/* (n_rows, row_len) int64 -> (n_idx, row_len) */
int sg_gather_rows_i64(const int64_t *src, int64_t n_rows, int64_t row_len, const int64_t *idx, int64_t n_idx,
                       int64_t *dst) {
    static const char *fn = "sg_gather_rows_i64";
    if (n_rows < 0 || row_len < 0)
        return sg_set_error(SG_ERR_ARG, "%s: need n_rows, row_len >= 0, got %lld, %lld", fn,
                            (long long)n_rows, (long long)row_len);
    if (!indices_ok(idx, n_idx, n_rows, fn)) return sg_last_status();
    if (n_idx == 0 || row_len == 0) return SG_OK;
    if (!sg__data_nonnull(src, fn, "src") || !sg__data_nonnull(dst, fn, "dst")) return SG_ERR_NULL;
    for (int64_t r = 0; r < n_idx; r++)
        memcpy(dst + r * row_len, src + idx[r] * row_len, (size_t)row_len * sizeof *dst);
    return SG_OK;
}

/* src (N, ...) -> (n_idx, ...) */
sg_tensor *sg_gather_rows(const sg_tensor *src, const int64_t *idx, int64_t n_idx) {
    static const char *fn = "sg_gather_rows";
    if (!sg__check_arg(src, fn, "src")) return NULL;
    if (src->ndim < 1) {
        sg_set_error(SG_ERR_SHAPE, "%s: src must have at least 1 dimension, got a 0-d tensor", fn);
        return NULL;
    }
    if (!indices_ok(idx, n_idx, src->shape[0], fn)) return NULL;
    int64_t shape[SG_MAX_DIMS];
    memcpy(shape, src->shape, sizeof shape);
    shape[0] = n_idx;
    sg_tensor *out = sg_empty(src->dtype, src->ndim, shape);
    if (!out) return NULL;
    sg_tensor *tmp = sg__is_contiguous(src) ? NULL : sg_copy(src);
    const sg_tensor *c = tmp ? tmp : src;
    if (!sg__is_contiguous(src) && !tmp) {
        sg_tensor_free(out);
        return NULL;
    }
    size_t esz = sg_dtype_size(src->dtype);
    int64_t row = src->shape[0] ? sg__numel(src) / src->shape[0] : 0;
    const char *from = sg__ptr(c);
    char *to = sg__ptr(out);
    for (int64_t r = 0; r < n_idx; r++)
        memcpy(to + (size_t)(r * row) * esz, from + (size_t)(idx[r] * row) * esz, (size_t)row * esz);
    sg_tensor_free(tmp);
    return out;
}
