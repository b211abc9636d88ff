/** @file
 * Mini-batching for training loops: seeded Fisher-Yates shuffles, batch index ranges with the
 * last partial batch kept or dropped, an epoch iterator, and row gathers that assemble a batch
 * from a dataset held in memory. Not a data pipeline: no threads, no prefetching, no files.
 *
 * Determinism: a shuffle draws exactly n-1 numbers from the sg_rng (sg_rng_below), so the same
 * seed gives the same permutation on every machine and thread count.
 *
 * Errors: NULL or a negative sg_status with a message in sg_last_error(): SG_ERR_NULL,
 * SG_ERR_ARG (sizes, batch number or row index out of range), SG_ERR_SHAPE (0-d tensor),
 * SG_ERR_MEM. */
#ifndef SG_BATCH_H
#define SG_BATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "../tensor/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/** In-place Fisher-Yates: for i = n-1 down to 1, swap a[i] with a[j], j = sg_rng_below(rng, i+1).
 * n >= 0; advances rng by max(n-1, 0) draws. */
int sg_shuffle(sg_rng *rng, int64_t *a, int64_t n);
/** A malloc'd random permutation of 0..n-1 (sg_shuffle of the identity); free with sg_perm_free.
 * Non-NULL for n = 0. */
int64_t *sg_permutation(sg_rng *rng, int64_t n);
/** Frees a permutation from sg_permutation() (NULL is a no-op). */
void sg_perm_free(int64_t *perm);

/** Batches of batch_size over n items: ceil(n / batch_size), or floor(n / batch_size) when
 * drop_last (the short last batch is dropped). n >= 0, batch_size >= 1; -1 on bad sizes. */
int64_t sg_num_batches(int64_t n, int64_t batch_size, bool drop_last);
/** Position range of batch k: *start = k * batch_size; returns its size, batch_size except for a
 * kept short last batch. -1 (SG_ERR_ARG) when k is not in [0, sg_num_batches). */
int64_t sg_batch_range(int64_t n, int64_t batch_size, bool drop_last, int64_t k, int64_t *start);

/** Epoch iterator over n items. order holds the item indices of the current epoch: the identity
 * after init, a fresh permutation after each sg_batcher_shuffle. The struct owns order; release
 * with sg_batcher_free. Fields are read-only for the caller. */
typedef struct {
    int64_t n;          /**< number of items */
    int64_t batch_size; /**< items per batch (the last may be shorter unless drop_last) */
    int64_t n_batches;  /**< sg_num_batches(n, batch_size, drop_last) */
    bool drop_last;     /**< whether a short last batch is dropped */
    int64_t *order;     /**< n item indices in this epoch's order (owned by the batcher) */
} sg_batcher;

/** Sets up *b for n items in batches of batch_size (order = the identity). Returns 0, or a negative
 * status (SG_ERR_ARG for bad sizes, SG_ERR_MEM) leaving *b zeroed. */
int sg_batcher_init(sg_batcher *b, int64_t n, int64_t batch_size, bool drop_last);
/** New epoch: order = sg_shuffle of the identity (not of the previous order), so the epoch's
 * permutation depends only on the rng state. */
int sg_batcher_shuffle(sg_batcher *b, sg_rng *rng);
/** Indices of batch k: *idx points into b->order (borrowed, valid until the next shuffle or
 * free); returns the batch size, or -1 (SG_ERR_ARG) when k is not in [0, n_batches). */
int64_t sg_batcher_batch(const sg_batcher *b, int64_t k, const int64_t **idx);
/** Frees b->order and zeroes *b (a zeroed b is a no-op). */
void sg_batcher_free(sg_batcher *b);

/** dst row r = src row idx[r] for rows of row_len int64 values (e.g. sg_encoded ids with
 * row_len = max_len, or labels with row_len = 1). src has n_rows rows; dst has room for n_idx. */
int sg_gather_rows_i64(const int64_t *src, int64_t n_rows, int64_t row_len, const int64_t *idx, int64_t n_idx,
                       int64_t *dst);
/** New user-owned contiguous tensor (n_idx, src dims 1..) of src's dtype holding src[idx[r]] along
 * dim 0 (src: any live tensor with ndim >= 1, any strides; no graph is recorded). Free it with
 * sg_tensor_free. */
sg_tensor *sg_gather_rows(const sg_tensor *src, const int64_t *idx, int64_t n_idx);

#ifdef __cplusplus
}
#endif

#endif
