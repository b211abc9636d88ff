/* Internal to dist/: the bucket plan and hashes both builds (MPI and one-process) share. */
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

/* FNV-1a over bytes, continuing from h (start with SG__FNV_OFFSET). */
#define SG__FNV_OFFSET 0xcbf29ce484222325ull
uint64_t sg__fnv1a(uint64_t h, const void *p, size_t n);

#endif
