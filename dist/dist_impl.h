/* Internal to dist/: what both builds (MPI and one-process) share: the bucket plan, the hashes,
 * and the head of sg_dist_grads with its allocator and accessors (common.c). */
#ifndef SG_DIST_IMPL_H
#define SG_DIST_IMPL_H

#include "dist.h"

/* Buckets of whole parameters over the flat block, the last parameter first: bucket b covers
 * elements [lo[b], hi[b]) and parameter i lies in bucket of_param[i]; nparams[b] parameters. */
typedef struct {
    int nb, np;
    int64_t *lo, *hi;
    int *of_param, *nparams;
} sg__bucket_plan;

/* Plans buckets of about bucket_bytes (0: the default). Returns 0 or a negative status. */
int sg__bucket_plan_make(sg__bucket_plan *p, const sg_model *m, size_t bucket_bytes);
void sg__bucket_plan_free(sg__bucket_plan *p);

/* The first member of both builds' struct sg_dist_grads, so that common.c can allocate it and
 * answer the accessors for either (a pointer to a struct is a pointer to its first member). */
typedef struct {
    sg_dist *d;
    sg_model *m;          /* borrowed */
    sg__bucket_plan plan;
    bool active;          /* between begin and end */
    double weight;        /* this step's weight */
    sg_dist_stats st;
} sg__grads_head;

/* sg_dist_grads_new's shared part: checks d and m, callocs size bytes (the build's struct, whose
 * first member is an sg__grads_head), plans the buckets. Returns the zeroed struct with its head
 * filled, or NULL with sg_last_error() set. */
void *sg__grads_alloc(sg_dist *d, sg_model *m, size_t bucket_bytes, size_t size);
/* Frees what sg__grads_alloc made (the plan and the struct). NULL is a no-op. */
void sg__grads_free_head(sg__grads_head *h);

/* The argument and state checks of sg_dist_grads_begin / _end for either build (g NULL, a step
 * already begun or none begun, a NaN weight); begin then records the weight and marks the step
 * active, end marks it ended. Return 0 or the negative status with the message set. */
int sg__grads_begin_head(sg__grads_head *h, double weight);
int sg__grads_end_head(sg__grads_head *h);

/* Zero blocks (blocks.c), for the sparse reduction: a bucket of n elements is cut into blocks of
 * SG__BLOCK elements (the last may be short); a block is zero when every bit of it is, +0.0 in
 * every element. Maps hold one byte per block, 1 = selected. x, dst, src: the bucket's or a
 * packed buffer's first byte; es: the element size. */
enum { SG__BLOCK = 128 }; /* 512 bytes of float32: one row of a 128-wide embedding */
int64_t sg__blocks_count(int64_t n);
/* map[k] = block k of x has a bit set; returns how many do. */
int64_t sg__blocks_map(uint8_t *map, const char *x, int64_t n, size_t es);
/* Elements in the selected blocks among blocks [k0, k1). */
int64_t sg__blocks_selected(const uint8_t *map, int64_t k0, int64_t k1, int64_t n);
/* Copies the selected blocks among [k0, k1) of x to dst, in order; returns the elements copied. */
int64_t sg__blocks_pack(char *dst, const char *x, const uint8_t *map, int64_t k0, int64_t k1, int64_t n, size_t es);
/* The inverse: the packed src back into the selected blocks among [k0, k1) of x. */
void sg__blocks_unpack(char *x, const char *src, const uint8_t *map, int64_t k0, int64_t k1, int64_t n, size_t es);

/* FNV-1a over bytes, continuing from h (start with SG__FNV_OFFSET). */
#define SG__FNV_OFFSET 0xcbf29ce484222325ull
uint64_t sg__fnv1a(uint64_t h, const void *p, size_t n);

#endif
