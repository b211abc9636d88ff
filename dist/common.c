/* dist/ code that needs no MPI: the bucket plan, the model hashes, and sg_dist_grads' allocation,
 * accessors and counters (the same in both builds). */
#include <stdlib.h>
#include <string.h>

#include "dist_impl.h"

static const uint64_t FNV_PRIME = 0x100000001b3ull;

uint64_t sg__fnv1a(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * FNV_PRIME;
    return h;
}

uint64_t sg_dist_shape_hash(const sg_model *m) {
    uint64_t h = SG__FNV_OFFSET;
    if (!m || !sg_model_is_final(m)) return h;
    int32_t dt = (int32_t)sg_model_dtype(m), np = sg_model_num_params(m);
    h = sg__fnv1a(h, &dt, sizeof dt);
    h = sg__fnv1a(h, &np, sizeof np);
    for (int i = 0; i < np; i++) {
        const char *name = sg_model_param_name(m, i);
        h = sg__fnv1a(h, name, strlen(name) + 1);
        sg_tensor *t = sg_model_param(m, i);
        int64_t shape[SG_MAX_DIMS];
        int32_t nd = sg_ndim(t);
        sg_shape(t, shape);
        h = sg__fnv1a(h, &nd, sizeof nd);
        h = sg__fnv1a(h, shape, (size_t)nd * sizeof *shape);
    }
    return h;
}

uint64_t sg_dist_param_hash(const sg_model *m) {
    if (!m || !sg_model_is_final(m)) return SG__FNV_OFFSET;
    const sg_tensor *p = sg_model_flat_params(m);
    return sg__fnv1a(SG__FNV_OFFSET, sg_data_const(p), (size_t)sg_numel(p) * sg_dtype_size(sg_dtype_of(p)));
}

void sg__bucket_plan_free(sg__bucket_plan *p) {
    free(p->lo);
    free(p->hi);
    free(p->of_param);
    free(p->nparams);
    *p = (sg__bucket_plan){0};
}

int sg__bucket_plan_make(sg__bucket_plan *p, const sg_model *m, size_t bucket_bytes) {
    *p = (sg__bucket_plan){0};
    if (!m) return sg_set_error(SG_ERR_NULL, "sg_dist_grads_new: argument 'm' is NULL");
    if (!sg_model_is_final(m)) return sg_set_error(SG_ERR_STATE, "sg_dist_grads_new: the model is not finalized");
    size_t es = sg_dtype_size(sg_model_dtype(m));
    int64_t cap = (int64_t)((bucket_bytes ? bucket_bytes : SG_DIST_BUCKET_BYTES) / es);
    if (cap < 1) cap = 1;
    int np = sg_model_num_params(m);
    p->np = np;
    p->lo = malloc((size_t)(np ? np : 1) * sizeof *p->lo);
    p->hi = malloc((size_t)(np ? np : 1) * sizeof *p->hi);
    p->of_param = malloc((size_t)(np ? np : 1) * sizeof *p->of_param);
    p->nparams = calloc((size_t)(np ? np : 1), sizeof *p->nparams);
    if (!p->lo || !p->hi || !p->of_param || !p->nparams) {
        sg__bucket_plan_free(p);
        return sg_set_error(SG_ERR_MEM, "sg_dist_grads_new: out of memory");
    }
    /* parameters lie in declaration order (each aligned: a bucket takes the padding after its
     * parameters too, zeros on every rank): walk them last to first */
    const char *base = sg_data_const(sg_model_flat_params(m));
    int64_t end = sg_numel(sg_model_flat_params(m));
    for (int i = np - 1; i >= 0; i--) {
        int64_t start = ((const char *)sg_data_const(sg_model_param(m, i)) - base) / (int64_t)es;
        if (p->nb == 0 || p->hi[p->nb - 1] - start > cap) { /* open a new bucket */
            p->lo[p->nb] = start;
            p->hi[p->nb] = end;
            p->nb++;
        }
        p->lo[p->nb - 1] = start;
        p->of_param[i] = p->nb - 1;
        p->nparams[p->nb - 1]++;
        end = start;
    }
    return SG_OK;
}

void *sg__grads_alloc(sg_dist *d, sg_model *m, size_t bucket_bytes, size_t size) {
    if (!d) {
        sg_set_error(SG_ERR_NULL, "sg_dist_grads_new: argument 'd' is NULL");
        return NULL;
    }
    sg__grads_head *h = calloc(1, size);
    if (!h) {
        sg_set_error(SG_ERR_MEM, "sg_dist_grads_new: out of memory");
        return NULL;
    }
    if (sg__bucket_plan_make(&h->plan, m, bucket_bytes)) {
        free(h);
        return NULL;
    }
    h->d = d;
    h->m = m;
    return h;
}

void sg__grads_free_head(sg__grads_head *h) {
    if (!h) return;
    sg__bucket_plan_free(&h->plan);
    free(h);
}

int sg__grads_begin_head(sg__grads_head *h, double weight) {
    if (!h) return sg_set_error(SG_ERR_NULL, "sg_dist_grads_begin: argument 'g' is NULL");
    if (h->active) return sg_set_error(SG_ERR_STATE, "sg_dist_grads_begin: the previous step was not ended");
    if (!(weight == weight)) return sg_set_error(SG_ERR_ARG, "sg_dist_grads_begin: weight is NaN");
    h->active = true;
    h->weight = weight;
    return SG_OK;
}

int sg__grads_end_head(sg__grads_head *h) {
    if (!h) return sg_set_error(SG_ERR_NULL, "sg_dist_grads_end: argument 'g' is NULL");
    if (!h->active) return sg_set_error(SG_ERR_STATE, "sg_dist_grads_end: no step was begun");
    h->active = false;
    return SG_OK;
}

int sg_dist_grads_buckets(const sg_dist_grads *g) { return g ? ((const sg__grads_head *)g)->plan.nb : 0; }

int sg_dist_grads_bucket_range(const sg_dist_grads *g, int b, int64_t *lo, int64_t *hi) {
    if (!g || !lo || !hi) return sg_set_error(SG_ERR_NULL, "sg_dist_grads_bucket_range: NULL argument");
    const sg__bucket_plan *p = &((const sg__grads_head *)g)->plan;
    if (b < 0 || b >= p->nb) return sg_set_error(SG_ERR_ARG, "sg_dist_grads_bucket_range: bucket %d not in [0, %d)", b, p->nb);
    *lo = p->lo[b];
    *hi = p->hi[b];
    return SG_OK;
}

int sg_dist_grads_allreduce(sg_dist_grads *g, double weight) {
    int rc = sg_dist_grads_begin(g, weight);
    return rc ? rc : sg_dist_grads_end(g);
}

void sg_dist_grads_stats(const sg_dist_grads *g, sg_dist_stats *out) {
    if (out) *out = g ? ((const sg__grads_head *)g)->st : (sg_dist_stats){0};
}

void sg_dist_grads_reset_stats(sg_dist_grads *g) {
    if (g) ((sg__grads_head *)g)->st = (sg_dist_stats){0};
}
