/* Counter-based random numbers: Philox4x32-10 (Salmon et al., SC'11). Element i of a fill uses
 * counter (offset + i), so values do not depend on the thread count or the order of evaluation. */
#include <math.h>

#include "kernels.h"

/* sg__philox and sg__u01 are inline in tensor_impl.h. */

sg_rng sg_rng_new(uint64_t seed) { return (sg_rng){.seed = seed, .offset = 0}; }

double sg_rng_uniform(sg_rng *rng) {
    if (!rng) return 0.0;
    uint32_t w[4];
    sg__philox(rng->seed, rng->offset++, w);
    /* 53 random bits */
    uint64_t bits = ((uint64_t)w[0] << 21) ^ (w[1] >> 11);
    return (double)(bits & ((1ULL << 53) - 1)) * (1.0 / 9007199254740992.0);
}

uint64_t sg_rng_below(sg_rng *rng, uint64_t n) {
    if (!rng || n == 0) return 0;
    uint64_t r = (uint64_t)(sg_rng_uniform(rng) * (double)n);
    return r < n ? r : n - 1;
}

static double draw(uint64_t seed, uint64_t ctr, int normal, double a, double b) {
    uint32_t w[4];
    sg__philox(seed, ctr, w);
    if (!normal) return a + (b - a) * sg__u01(w[0]);
    /* Box-Muller on two 32-bit uniforms: one normal per counter */
    double u1 = sg__u01(w[0]), u2 = sg__u01(w[1]);
    return a + b * sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

#define RAND_LOOP(T)                                                                               \
    do {                                                                                           \
        T *p = (T *)sg__ptr(t);                                                                    \
        SG_PAR_FOR(n >= SG_PAR_MIN,                                                                \
        for (int64_t i = 0; i < n; i++)                                                            \
            p[contig ? i : sg__flat_to_offset(t, i)] = (T)draw(seed, base + (uint64_t)i, normal, a, b);) \
    } while (0)

static int fill_random(sg_tensor *t, sg_rng *rng, int normal, double a, double b, const char *fn) {
    if (!sg__check_arg(t, fn, "t")) return sg_last_status();
    if (!rng) return sg_set_error(SG_ERR_NULL, "%s: argument 'rng' is NULL", fn);
    if (!isfinite(a) || !isfinite(b) || (normal && b < 0) || (!normal && b < a))
        return sg_set_error(SG_ERR_ARG, "%s: bad parameters (%g, %g)", fn, a, b);
    int64_t n = sg__numel(t);
    uint64_t seed = rng->seed, base = rng->offset;
    bool contig = sg__is_contiguous(t);
    if (t->dtype == SG_F32) RAND_LOOP(float);
    else RAND_LOOP(double);
    rng->offset += (uint64_t)n;
    sg__bump(t->storage);
    return SG_OK;
}

int sg_fill_uniform(sg_tensor *t, sg_rng *rng, double lo, double hi) {
    return fill_random(t, rng, 0, lo, hi, "sg_fill_uniform");
}
int sg_fill_normal(sg_tensor *t, sg_rng *rng, double mean, double std) {
    return fill_random(t, rng, 1, mean, std, "sg_fill_normal");
}

static sg_tensor *make_random(sg_rng *rng, sg_dtype dt, int ndim, const int64_t *shape, int normal,
                              double a, double b, const char *fn) {
    if (!rng) {
        sg_set_error(SG_ERR_NULL, "%s: argument 'rng' is NULL", fn);
        return NULL;
    }
    sg_tensor *t = sg_empty(dt, ndim, shape);
    if (!t) return NULL;
    if (fill_random(t, rng, normal, a, b, fn) != SG_OK) {
        sg_tensor_free(t);
        return NULL;
    }
    return t;
}

sg_tensor *sg_uniform(sg_rng *rng, sg_dtype dt, int ndim, const int64_t *shape, double lo, double hi) {
    return make_random(rng, dt, ndim, shape, 0, lo, hi, "sg_uniform");
}
sg_tensor *sg_normal(sg_rng *rng, sg_dtype dt, int ndim, const int64_t *shape, double mean, double std) {
    return make_random(rng, dt, ndim, shape, 1, mean, std, "sg_normal");
}
