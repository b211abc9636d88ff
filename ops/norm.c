/* Layer normalisation over the last dim as one fused op: x (R rows, D) -> y = (x - mean) * rstd *
 * weight + bias, with the per-row mean and rstd = 1/sqrt(var + eps) (biased variance, as PyTorch)
 * saved for a fused backward. Rows run in parallel (OpenMP, static schedule); the row kernels are
 * norm_row.h's, shared with the fused gate ops that normalise inside a row.
 * Not here: batch/group norm, or normalising over more than the last dim.
 * Shape letters: R rows (the product of the leading dims), D the normalised (last) dim. */
#include <math.h>
#include <stdlib.h>

#include "../autograd/node.h"
#include "../tensor/isa_impl.h"
#include "norm_row.h"
#include "ops.h"

/* sg_node.iarg slots: whether weight / bias were given (inputs 1 and 2 when present, in order). */
enum { LN_HAS_W = 0, LN_HAS_B = 1 };

enum { LN_STACK_ROWS = 16 }; /* rows whose statistics a no-grad call keeps on the stack */

/* Saved per-row statistics; one malloc block (struct, then mean[R], then rstd[R]). */
typedef struct {
    int64_t R, D;
    double *mean, *rstd;
} ln_ctx;

static ln_ctx *ln_ctx_new(int64_t R, int64_t D) {
    size_t rows = (size_t)(R > 0 ? R : 1);
    ln_ctx *c = malloc(sizeof *c + 2 * rows * sizeof(double));
    if (!c) return NULL;
    c->R = R;
    c->D = D;
    c->mean = (double *)(c + 1);
    c->rstd = c->mean + rows;
    return c;
}

/* Forward of one row: the statistics (norm_row.h: two passes in double, no cancellation), then y
 * in T (vectorises). Backward of one row: dx (norm_row.h). One SG_ISA_KERNEL per dtype
 * (tensor/isa_impl.h); the loops below run the rows in parallel. */
#define LN_ROWS(T, S)                                                                              \
    SG_ISA_KERNEL(ln_fwd_##T,                                                                      \
                  (const T *restrict px, const T *restrict wb, const T *restrict bb, T *restrict py, \
                   int64_t D, double eps, double *mean, double *rstd),                             \
                  (px, wb, bb, py, D, eps, mean, rstd)) {                                          \
        sg__ln_stats_##S(px, D, eps, mean, rstd);                                                  \
        const T mt = (T)*mean, rt = (T)*rstd;                                                      \
        if (wb && bb)                                                                              \
            for (int64_t j = 0; j < D; j++) py[j] = (px[j] - mt) * rt * wb[j] + bb[j];             \
        else if (wb)                                                                               \
            for (int64_t j = 0; j < D; j++) py[j] = (px[j] - mt) * rt * wb[j];                     \
        else if (bb)                                                                               \
            for (int64_t j = 0; j < D; j++) py[j] = (px[j] - mt) * rt + bb[j];                     \
        else                                                                                       \
            for (int64_t j = 0; j < D; j++) py[j] = (px[j] - mt) * rt;                             \
    }                                                                                              \
    SG_ISA_KERNEL(ln_bw_##T,                                                                       \
                  (const T *restrict px, const T *restrict pg, const T *restrict wb, double mean, \
                   double rstd, int64_t D, T *restrict pd),                                        \
                  (px, pg, wb, mean, rstd, D, pd)) {                                               \
        sg__ln_row_bw_##S(px, pg, wb, mean, rstd, D, pd);                                          \
    }                                                                                              \
    SG_LN_PARAM_GRADS(T, S)
LN_ROWS(float, f32)
LN_ROWS(double, f64)

#define LN_FWD_LOOP(T)                                                                             \
    do {                                                                                           \
        const T *xb = (const T *)sg__ptr(xc);                                                      \
        const T *wb = wc ? (const T *)sg__ptr(wc) : NULL, *bb = bc ? (const T *)sg__ptr(bc) : NULL; \
        T *yb = (T *)sg__ptr(out);                                                                 \
        SG_ISA_FN(ln_fwd_##T) *row = SG_ISA_PICK(ln_fwd_##T);                                      \
        SG_PAR_FOR(R > 1 && R * D >= SG_PAR_MIN,                                                   \
        for (int64_t i = 0; i < R; i++) row(xb + i * D, wb, bb, yb + i * D, D, eps, &c->mean[i], &c->rstd[i]);) \
    } while (0)

/* Backward: dx row by row (rows in parallel), then dweight / dbias by the column pass of
 * norm_row.h (columns in parallel, each summed over the rows in row order). */
#define LN_BW(T, S)                                                                                \
    do {                                                                                           \
        const T *xb = (const T *)sg__ptr(xc), *gb = (const T *)sg__ptr(gc);                        \
        const T *wb = wc ? (const T *)sg__ptr(wc) : NULL;                                          \
        if (gx) {                                                                                  \
            T *dxb = (T *)sg__ptr(gx);                                                             \
            SG_ISA_FN(ln_bw_##T) *row = SG_ISA_PICK(ln_bw_##T);                                    \
            SG_PAR_FOR(R > 1 && R * D >= SG_PAR_MIN,                                               \
            for (int64_t i = 0; i < R; i++) row(xb + i * D, gb + i * D, wb, c->mean[i], c->rstd[i], D, dxb + i * D);) \
        }                                                                                          \
        if (gw || gbias)                                                                           \
            ln_param_grads_##S(R, D, xb, D, c->mean, c->rstd, gb, D, gw ? (T *)sg__ptr(gw) : NULL, \
                               gbias ? (T *)sg__ptr(gbias) : NULL);                                \
    } while (0)

static int layer_norm_bw(sg_node *n, const sg_tensor *gout) {
    const ln_ctx *c = n->ctx;
    int64_t R = c->R, D = c->D;
    bool has_w = n->iarg[LN_HAS_W], has_b = n->iarg[LN_HAS_B];
    int iw = 1, ib = has_w ? 2 : 1;
    sg_tensor *x = n->in[0], *w = has_w ? n->in[iw] : NULL;
    bool want_x = sg__wants_grad(n, 0), want_w = has_w && sg__wants_grad(n, iw),
         want_b = has_b && sg__wants_grad(n, ib);
    if ((!want_x && !want_w && !want_b) || R == 0) return SG_OK;
    sg_tensor *xc = sg__contig(x), *gc = sg__contig(gout), *wc = w ? sg__contig(w) : NULL;
    sg_tensor *gx = want_x ? sg__alloc(x->dtype, x->ndim, x->shape, false) : NULL;
    sg_tensor *gw = want_w ? sg__alloc(x->dtype, 1, &D, false) : NULL;
    sg_tensor *gbias = want_b ? sg__alloc(x->dtype, 1, &D, false) : NULL;
    int rc = SG_OK;
    if (!xc || !gc || (w && !wc) || (want_x && !gx) || (want_w && !gw) || (want_b && !gbias)) {
        rc = sg_set_error(SG_ERR_MEM, "%s backward: out of memory", n->name);
    } else if (x->dtype == SG_F32) {
        LN_BW(float, f32);
    } else {
        LN_BW(double, f64);
    }
    if (xc) sg__unref(xc);
    if (gc) sg__unref(gc);
    if (wc) sg__unref(wc);
    sg_tensor *grads[3] = {gx, gw, gbias}, *into[3] = {x, w, has_b ? n->in[ib] : NULL};
    for (int k = 0; k < 3; k++) {
        if (!grads[k]) continue;
        if (!rc) rc = sg__grad_accum(into[k], grads[k]);
        else sg__unref(grads[k]);
    }
    return rc;
}

/* weight or bias: NULL, or 1-D (D) of x's dtype */
static bool check_affine(const char *name, const sg_tensor *x, const sg_tensor *p, const char *arg) {
    if (!p) return true;
    if (!sg__check_arg(p, name, arg) || !sg__same_dtype(name, x, p)) return false;
    if (p->ndim != 1 || p->shape[0] != x->shape[x->ndim - 1]) {
        char sx[SG_SHAPE_BUF], sp[SG_SHAPE_BUF];
        sg_set_error(SG_ERR_SHAPE, "%s: %s must be (D) = (%lld) for x %s, got %s", name, arg,
                     (long long)x->shape[x->ndim - 1], sg__shape_str(x->ndim, x->shape, sx, sizeof sx),
                     sg__shape_str(p->ndim, p->shape, sp, sizeof sp));
        return false;
    }
    return true;
}

/* x (..., D), weight (D) or NULL, bias (D) or NULL -> (..., D) */
sg_tensor *sg_layer_norm(sg_tensor *x, sg_tensor *weight, sg_tensor *bias, double eps) {
    const char *name = "sg_layer_norm";
    if (!sg__check_arg(x, name, "x")) return NULL;
    if (x->ndim < 1) {
        sg_set_error(SG_ERR_SHAPE, "%s: x must have at least one dim (normalised over the last), got 0-d", name);
        return NULL;
    }
    if (!check_affine(name, x, weight, "weight") || !check_affine(name, x, bias, "bias")) return NULL;
    if (!(eps >= 0) || isinf(eps)) {
        sg_set_error(SG_ERR_ARG, "%s: eps must be finite and >= 0 (got %g)", name, eps);
        return NULL;
    }
    int64_t D = x->shape[x->ndim - 1], R = D > 0 ? sg__numel(x) / D : 0;
    if (D == 0) R = 0;
    sg_tensor *in[3] = {x};
    int n_in = 1;
    if (weight) in[n_in++] = weight;
    if (bias) in[n_in++] = bias;
    /* nothing recorded and few rows (a streaming step): the statistics live on the stack, so the
     * op allocates nothing beyond its output */
    ln_ctx on_stack;
    double stack_stats[2 * LN_STACK_ROWS];
    bool stack = !sg__needs_grad(n_in, in) && R <= LN_STACK_ROWS;
    if (stack) on_stack = (ln_ctx){R, D, stack_stats, stack_stats + LN_STACK_ROWS};
    ln_ctx *c = stack ? &on_stack : ln_ctx_new(R, D);
    sg_tensor *xc = c ? sg__contig(x) : NULL;
    sg_tensor *wc = weight && xc ? sg__contig(weight) : NULL, *bc = bias && xc ? sg__contig(bias) : NULL;
    sg_tensor *out = xc && (!weight || wc) && (!bias || bc) ? sg__out(x->dtype, x->ndim, x->shape, false) : NULL;
    if (out && R > 0) {
        if (x->dtype == SG_F32) LN_FWD_LOOP(float);
        else LN_FWD_LOOP(double);
    }
    if (xc) sg__unref(xc);
    if (wc) sg__unref(wc);
    if (bc) sg__unref(bc);
    if (!out) {
        if (!c || !xc) sg_set_error(SG_ERR_MEM, "%s: out of memory", name);
        if (!stack) free(c);
        return NULL;
    }
    int err;
    sg_node *n = sg__record(out, name, layer_norm_bw, n_in, in, &err);
    if (n) {
        n->ctx = c;
        n->iarg[LN_HAS_W] = weight != NULL;
        n->iarg[LN_HAS_B] = bias != NULL;
        if (bias) n->reads &= ~sg__reads_bit(n_in - 1); /* backward reads x and weight, never bias */
    } else if (!stack) {
        free(c);
    }
    return err ? NULL : out;
}
