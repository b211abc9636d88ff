/* Inverted dropout with a counter-based mask: element i (row-major) is kept iff the uniform drawn
 * from Philox(seed, rng->offset + i) is >= p, so the mask does not depend on the thread count.
 * The mask is not stored: backward regenerates it from the saved (seed, offset).
 * Not here: alpha/feature dropout, or dropout inside the fused RNN op. */
#include <math.h>

#include "../autograd/node.h"
#include "ops.h"

/* The uniform of element ctr compared with p: same draw in forward and backward. */
static inline bool dropout_keep(uint64_t seed, uint64_t ctr, double p) {
    uint32_t w[4];
    sg__philox(seed, ctr, w);
    return sg__u01(w[0]) >= p;
}

/* Identity (eval mode or p == 0): the gradient passes unchanged. */
static int ident_bw(sg_node *n, const sg_tensor *gout) {
    if (!sg__wants_grad(n, 0)) return SG_OK;
    sg_tensor *g = sg__alloc(gout->dtype, gout->ndim, gout->shape, false);
    if (!g) return SG_ERR_MEM;
    sg__kcopy(g, gout);
    return sg__grad_accum(n->in[0], g);
}

/* out[i] = keep_i ? x[i] * scale : 0, with scale = (T)(1 / (1 - p)); the same for the gradient. */
#define DROPOUT_LOOP(T)                                                                            \
    do {                                                                                           \
        const T *x = (const T *)sg__ptr(src);                                                      \
        T *y = (T *)sg__ptr(dst);                                                                  \
        T sc = (T)(1.0 / (1.0 - p));                                                               \
        SG_OMP_FOR_IF(m >= SG_PAR_MIN)                                                             \
        for (int64_t i = 0; i < m; i++) y[i] = dropout_keep(seed, base + (uint64_t)i, p) ? x[i] * sc : (T)0; \
    } while (0)

/* src, dst contiguous, same shape and dtype. */
static void dropout_apply(sg_tensor *dst, const sg_tensor *src, double p, uint64_t seed, uint64_t base) {
    int64_t m = sg__numel(src);
    if (src->dtype == SG_F32) DROPOUT_LOOP(float);
    else DROPOUT_LOOP(double);
}

/* iarg[0] = seed, iarg[1] = the rng offset of element 0, farg[0] = p. */
static int dropout_bw(sg_node *n, const sg_tensor *gout) {
    if (!sg__wants_grad(n, 0)) return SG_OK;
    sg_tensor *a = n->in[0];
    sg_tensor *g = sg__alloc(a->dtype, a->ndim, a->shape, false);
    if (!g) return SG_ERR_MEM;
    dropout_apply(g, gout, n->farg[0], (uint64_t)n->iarg[0], (uint64_t)n->iarg[1]);
    return sg__grad_accum(a, g);
}

/* a (...) -> (...) */
sg_tensor *sg_dropout(sg_tensor *a, double p, bool training, sg_rng *rng) {
    const char *name = "sg_dropout";
    if (!sg__check_arg(a, name, "a")) return NULL;
    if (!(p >= 0.0 && p < 1.0)) {
        sg_set_error(SG_ERR_ARG, "%s: p = %g is outside [0, 1)", name, p);
        return NULL;
    }
    int err;
    if (!training || p == 0.0) { /* identity: a new handle on the same data, rng untouched */
        sg_tensor *out = sg__out_view(a, a->ndim, a->shape, a->stride, a->offset);
        if (!out) return NULL;
        sg__record(out, name, ident_bw, 1, &a, &err);
        return err ? NULL : out;
    }
    if (!rng) {
        sg_set_error(SG_ERR_NULL, "%s: argument 'rng' is NULL (needed in training with p > 0)", name);
        return NULL;
    }
    sg_tensor *ac = sg__contig(a);
    sg_tensor *out = ac ? sg__out(a->dtype, a->ndim, a->shape, false) : NULL;
    if (out) dropout_apply(out, ac, p, rng->seed, rng->offset);
    if (ac) sg__unref(ac);
    if (!out) return NULL;
    uint64_t base = rng->offset;
    rng->offset += (uint64_t)sg__numel(a);
    sg_node *n = sg__record(out, name, dropout_bw, 1, &a, &err);
    if (n) {
        n->iarg[0] = (int64_t)rng->seed;
        n->iarg[1] = (int64_t)base;
        n->farg[0] = p;
    }
    return err ? NULL : out;
}
