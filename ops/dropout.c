/* Inverted dropout with a counter-based mask: element i (row-major) is kept iff the uniform drawn
 * from Philox(seed, rng->offset + i) is >= p, so the mask does not depend on the thread count.
 * The mask is not stored: backward regenerates it from the saved (seed, offset).
 * Not here: alpha/feature dropout, or dropout inside the fused RNN op. */
#include <math.h>

#include "../autograd/node.h"
#include "ops.h"

/* Element i is kept iff sg__u01(w0) >= p, w0 the first word of Philox(seed, base + i). sg__u01 is
 * monotonic in w0, so that is w0 >= the threshold below: an integer compare the vector copies of
 * the kernel make 16 at a time, with the same mask as the double compare (test_ops_dropout's
 * mask_is_definition checks it against sg__u01 at and beside the threshold). Returns 2^32 when no w0 is kept. */
static uint64_t keep_threshold(double p) {
    double t = ceil(p * 4294967296.0 - 0.5); /* w0 + 0.5 >= p * 2^32, both sides exact */
    uint64_t k = t <= 0 ? 0 : t >= 4294967296.0 ? 4294967296u : (uint64_t)t;
    while (k > 0 && sg__u01((uint32_t)(k - 1)) >= p) k--; /* guards the rounding argument above */
    while (k < 4294967296u && sg__u01((uint32_t)k) < p) k++;
    return k;
}

/* y[i] = w0(base + i) >= thr ? x[i] * sc : 0 for i < n (thr < 2^32), per instruction set. */
#define DROPOUT_ROW(T)                                                                             \
    SG_ISA_KERNEL(dropout_row_##T,                                                                 \
                  (T *restrict y, const T *restrict x, int64_t n, uint64_t seed, uint64_t base,    \
                   uint32_t thr, T sc),                                                            \
                  (y, x, n, seed, base, thr, sc)) {                                                \
        for (int64_t i = 0; i < n; i++) {                                                          \
            uint32_t w[4];                                                                         \
            sg__philox(seed, base + (uint64_t)i, w);                                               \
            y[i] = w[0] >= thr ? x[i] * sc : (T)0;                                                 \
        }                                                                                          \
    }
DROPOUT_ROW(float)
DROPOUT_ROW(double)

/* Identity (eval mode or p == 0): the gradient passes unchanged. */
static int ident_bw(sg_node *n, const sg_tensor *gout) {
    if (!sg__wants_grad(n, 0)) return SG_OK;
    sg_tensor *g = sg__alloc(gout->dtype, gout->ndim, gout->shape, false);
    if (!g) return SG_ERR_MEM;
    sg__kcopy(g, gout);
    return sg__grad_accum(n->in[0], g);
}

/* out[i] = keep_i ? x[i] * scale : 0, with scale = (T)(1 / (1 - p)); the same for the gradient.
 * Chunks of DROPOUT_CHUNK elements, parallel above SG_PAR_MIN; the mask depends on i only. */
enum { DROPOUT_CHUNK = 4096 };
#define DROPOUT_LOOP(T)                                                                            \
    do {                                                                                           \
        const T *x = (const T *)sg__ptr(src);                                                      \
        T *y = (T *)sg__ptr(dst);                                                                  \
        T sc = (T)(1.0 / (1.0 - p));                                                               \
        uint64_t thr = keep_threshold(p);                                                          \
        if (thr > UINT32_MAX) { /* nothing kept (p within 2^-33 of 1) */                           \
            for (int64_t i = 0; i < m; i++) y[i] = (T)0;                                           \
            break;                                                                                 \
        }                                                                                          \
        SG_ISA_FN(dropout_row_##T) *row = SG_ISA_PICK(dropout_row_##T);                            \
        int64_t nchunk = (m + DROPOUT_CHUNK - 1) / DROPOUT_CHUNK;                                  \
        SG_PAR_FOR(m >= SG_PAR_MIN,                                                                \
        for (int64_t c = 0; c < nchunk; c++) {                                                     \
            int64_t i0 = c * DROPOUT_CHUNK, len = m - i0 < DROPOUT_CHUNK ? m - i0 : DROPOUT_CHUNK; \
            row(y + i0, x + i0, len, seed, base + (uint64_t)i0, (uint32_t)thr, sc);                \
        })                                                                                         \
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
