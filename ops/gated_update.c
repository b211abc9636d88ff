/* The convex gated update of a recurrent state, h' = (1 - z) h + z tanh(a), as one fused op
 * (sg_gated_tanh_update): the tail of a Minimal Gated Unit step, and of any cell whose new state
 * blends the old one with a tanh candidate by a gate z in [0, 1]. Speed only: it equals
 * sg_add(h, sg_mul(z, sg_sub(sg_tanh(a), h))) (tests/test_ops_gated_update.c checks values and
 * gradients), in one pass instead of four and one backward instead of four; elementwise, so the
 * elements run in parallel with no effect on the results. Not the gate itself (z comes in as a
 * value, e.g. sg_sigmoid of a pre-activation) and not the matrix products.
 * Memory: nothing saved beyond the inputs; backward recomputes tanh(a). */
#include <math.h>

#include "../autograd/node.h"
#include "../tensor/isa_impl.h"
#include "fastmath.h"
#include "ops.h"

/* an element costs a tanh: split across threads at PW_COST times fewer elements than a plain
 * element-wise kernel; loops run in chunks of CHUNK elements */
enum { PW_COST = 8, CHUNK = 4096 };
enum { IN_A = 0, IN_Z = 1, IN_H = 2 };

#define GU_KERNELS(T)                                                                              \
    SG_ISA_KERNEL(gu_fwd_##T,                                                                      \
                  (const T *restrict a, const T *restrict z, const T *restrict h, T *restrict y, int64_t n), \
                  (a, z, h, y, n)) {                                                               \
        SG_SIMD(T)                                                                                 \
        for (int64_t j = 0; j < n; j++) y[j] = h[j] + z[j] * (SG_TANH(T, a[j]) - h[j]);            \
    }                                                                                              \
    /* da = g z (1 - t^2), dz = g (t - h), dh = g (1 - z), t = tanh(a); NULL outputs skipped */    \
    SG_ISA_KERNEL(gu_bwd_##T,                                                                      \
                  (const T *restrict a, const T *restrict z, const T *restrict h, const T *restrict g, \
                   T *restrict da, T *restrict dz, T *restrict dh, int64_t n),                     \
                  (a, z, h, g, da, dz, dh, n)) {                                                   \
        if (da && dz) {                                                                            \
            SG_SIMD(T)                                                                             \
            for (int64_t j = 0; j < n; j++) {                                                      \
                T t = SG_TANH(T, a[j]);                                                            \
                da[j] = g[j] * z[j] * (1 - t * t);                                                 \
                dz[j] = g[j] * (t - h[j]);                                                         \
            }                                                                                      \
        } else if (da) {                                                                           \
            SG_SIMD(T)                                                                             \
            for (int64_t j = 0; j < n; j++) {                                                      \
                T t = SG_TANH(T, a[j]);                                                            \
                da[j] = g[j] * z[j] * (1 - t * t);                                                 \
            }                                                                                      \
        } else if (dz) {                                                                           \
            SG_SIMD(T)                                                                             \
            for (int64_t j = 0; j < n; j++) dz[j] = g[j] * (SG_TANH(T, a[j]) - h[j]);              \
        }                                                                                          \
        if (dh)                                                                                    \
            for (int64_t j = 0; j < n; j++) dh[j] = g[j] * (1 - z[j]);                             \
    }
GU_KERNELS(float)
GU_KERNELS(double)

/* p (T *) + chunk offset k, or NULL */
#define AT(p, k) ((p) ? (p) + (k) : NULL)

#define GU_FWD(T)                                                                                  \
    do {                                                                                           \
        const T *A = sg__ptr(in[IN_A]), *Z = sg__ptr(in[IN_Z]), *Hh = sg__ptr(in[IN_H]);           \
        T *Y = sg__ptr(out);                                                                       \
        SG_ISA_FN(gu_fwd_##T) *k = SG_ISA_PICK(gu_fwd_##T);                                        \
        SG_PAR_FOR(nchunk > 1 && n * PW_COST >= SG_PAR_MIN,                                        \
        for (int64_t c = 0; c < nchunk; c++) {                                                     \
            int64_t o = c * CHUNK, m = n - o < CHUNK ? n - o : CHUNK;                              \
            k(A + o, Z + o, Hh + o, Y + o, m);                                                     \
        })                                                                                         \
    } while (0)

#define GU_BWD(T)                                                                                  \
    do {                                                                                           \
        const T *A = sg__ptr(n->saved[IN_A]), *Z = sg__ptr(n->saved[IN_Z]), *Hh = sg__ptr(n->saved[IN_H]); \
        const T *G = sg__ptr(gout);                                                                \
        T *DA = d[IN_A] ? sg__ptr(d[IN_A]) : NULL, *DZ = d[IN_Z] ? sg__ptr(d[IN_Z]) : NULL;        \
        T *DH = d[IN_H] ? sg__ptr(d[IN_H]) : NULL;                                                 \
        SG_ISA_FN(gu_bwd_##T) *k = SG_ISA_PICK(gu_bwd_##T);                                        \
        SG_PAR_FOR(nchunk > 1 && cnt * PW_COST >= SG_PAR_MIN,                                      \
        for (int64_t c = 0; c < nchunk; c++) {                                                     \
            int64_t o = c * CHUNK, m = cnt - o < CHUNK ? cnt - o : CHUNK;                          \
            k(A + o, Z + o, Hh + o, G + o, AT(DA, o), AT(DZ, o), AT(DH, o), m);                    \
        })                                                                                         \
    } while (0)

static int gated_update_bw(sg_node *n, const sg_tensor *gout) {
    int64_t cnt = sg__numel(gout), nchunk = (cnt + CHUNK - 1) / CHUNK;
    sg_tensor *d[3] = {NULL};
    int rc = SG_OK;
    for (int k = 0; k < 3 && !rc; k++)
        if (sg__wants_grad(n, k) && !(d[k] = sg__alloc(gout->dtype, gout->ndim, gout->shape, false)))
            rc = sg_set_error(SG_ERR_MEM, "%s backward: out of memory", n->name);
    if (!rc && cnt > 0) {
        if (gout->dtype == SG_F32) GU_BWD(float);
        else GU_BWD(double);
    }
    for (int k = 0; k < 3; k++) {
        if (!d[k]) continue;
        if (!rc) rc = sg__grad_accum(n->in[k], d[k]);
        else sg__unref(d[k]);
    }
    return rc;
}

/* a, z, h (...) of one shape -> (1 - z) h + z tanh(a) (...) */
sg_tensor *sg_gated_tanh_update(sg_tensor *a, sg_tensor *z, sg_tensor *h) {
    const char *op = "sg_gated_tanh_update";
    if (!sg__check_arg(a, op, "a") || !sg__check_arg(z, op, "z") || !sg__check_arg(h, op, "h")) return NULL;
    if (!sg__same_dtype(op, a, z) || !sg__same_dtype(op, a, h)) return NULL;
    const sg_tensor *others[2] = {z, h};
    for (int k = 0; k < 2; k++) {
        bool same = others[k]->ndim == a->ndim;
        for (int i = 0; same && i < a->ndim; i++) same = others[k]->shape[i] == a->shape[i];
        if (!same) {
            char sa[SG_SHAPE_BUF], so[SG_SHAPE_BUF];
            sg_set_error(SG_ERR_SHAPE, "%s: %s must have a's shape %s, got %s", op, k ? "h" : "z",
                         sg__shape_str(a->ndim, a->shape, sa, sizeof sa),
                         sg__shape_str(others[k]->ndim, others[k]->shape, so, sizeof so));
            return NULL;
        }
    }
    /* the inputs as recorded are the contiguous forms, so backward reads them directly */
    sg_tensor *in[3] = {sg__contig(a), sg__contig(z), sg__contig(h)}, *orig[3] = {a, z, h};
    int64_t n = sg__numel(a), nchunk = (n + CHUNK - 1) / CHUNK;
    sg_tensor *out = in[0] && in[1] && in[2] ? sg__out(a->dtype, a->ndim, a->shape, false) : NULL;
    int err = out ? SG_OK : SG_ERR_MEM;
    if (out && n > 0) {
        if (a->dtype == SG_F32) GU_FWD(float);
        else GU_FWD(double);
    }
    if (out) {
        /* record on the original inputs (gradients go to them), save the contiguous forms */
        sg_node *nd = sg__record(out, op, gated_update_bw, 3, orig, &err);
        if (nd)
            for (int k = 0; k < 3; k++) sg__save(nd, k, in[k]);
    } else {
        sg_set_error(SG_ERR_MEM, "%s: out of memory", op);
    }
    for (int k = 0; k < 3; k++)
        if (in[k]) sg__unref(in[k]);
    return err ? NULL : out;
}
