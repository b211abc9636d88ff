/* Layer normalisation over the last dim as one fused op: x (R rows, D) -> y = (x - mean) * rstd *
 * weight + bias, with the per-row mean and rstd = 1/sqrt(var + eps) (biased variance, as PyTorch)
 * saved for a fused one-pass backward. Rows run in parallel (OpenMP, static schedule).
 * Not here: batch/group norm, or normalising over more than the last dim.
 * Shape letters: R rows (the product of the leading dims), D the normalised (last) dim. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../autograd/node.h"
#include "../tensor/isa_impl.h"
#include "ops.h"

/* Rows per block of the weight/bias gradient: each block sums its rows in double in row order and
 * the blocks are added in block order, so dweight/dbias do not depend on the thread count. */
enum { LN_ROW_BLOCK = 32 };
/* sg_node.iarg slots: whether weight / bias were given (inputs 1 and 2 when present, in order). */
enum { LN_HAS_W = 0, LN_HAS_B = 1 };

/* Row sums use this many independent double accumulators, lane j % LN_LANES, added in lane order
 * at the end: the loop vectorises (a single accumulator is one serial add chain) and the order is
 * still fixed, so results stay deterministic. */
#define LN_LANES 8

/* acc = sum over j in [0, D) of EXPR (in double, j bound inside EXPR), lane-blocked as above. */
#define LANE_SUM(acc, D, EXPR)                                                                     \
    do {                                                                                           \
        double l_[LN_LANES] = {0};                                                                 \
        int64_t b_ = 0;                                                                            \
        for (; b_ + LN_LANES <= (D); b_ += LN_LANES)                                               \
            for (int k_ = 0; k_ < LN_LANES; k_++) {                                                \
                const int64_t j = b_ + k_;                                                         \
                l_[k_] += (EXPR);                                                                  \
            }                                                                                      \
        for (int k_ = 0; b_ + k_ < (D); k_++) {                                                    \
            const int64_t j = b_ + k_;                                                             \
            l_[k_] += (EXPR);                                                                      \
        }                                                                                          \
        acc = 0;                                                                                   \
        for (int k_ = 0; k_ < LN_LANES; k_++) acc += l_[k_];                                       \
    } while (0)

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

/* Forward of one row: two passes for the statistics (mean, then the centred sum of squares: no
 * cancellation), one for y. Statistics in double; the output loop in T (vectorises). One
 * SG_ISA_KERNEL per dtype (tensor/isa_impl.h); LN_FWD_LOOP runs the rows in parallel. */
#define LN_FWD_ROW(T)                                                                              \
    SG_ISA_KERNEL(ln_fwd_##T,                                                                      \
                  (const T *restrict px, const T *restrict wb, const T *restrict bb, T *restrict py, \
                   int64_t D, double eps, double *mean, double *rstd),                             \
                  (px, wb, bb, py, D, eps, mean, rstd)) {                                          \
        double s, q;                                                                               \
        LANE_SUM(s, D, (double)px[j]);                                                             \
        double m = s / (double)D;                                                                  \
        LANE_SUM(q, D, ((double)px[j] - m) * ((double)px[j] - m));                                 \
        double r = 1.0 / sqrt(q / (double)D + eps);                                                \
        *mean = m;                                                                                 \
        *rstd = r;                                                                                 \
        const T mt = (T)m, rt = (T)r;                                                              \
        if (wb && bb)                                                                              \
            for (int64_t j = 0; j < D; j++) py[j] = (px[j] - mt) * rt * wb[j] + bb[j];             \
        else if (wb)                                                                               \
            for (int64_t j = 0; j < D; j++) py[j] = (px[j] - mt) * rt * wb[j];                     \
        else if (bb)                                                                               \
            for (int64_t j = 0; j < D; j++) py[j] = (px[j] - mt) * rt + bb[j];                     \
        else                                                                                       \
            for (int64_t j = 0; j < D; j++) py[j] = (px[j] - mt) * rt;                             \
    }

/* Backward of rows [i0, i1), one pass over them: with xh = (x - mean) rstd and gy = g w,
 *   dx = rstd (gy - mean_j(gy) - xh mean_j(gy xh)),  dw = sum_rows g xh,  db = sum_rows g.
 * qw/qb (D doubles, or NULL) receive the rows' partial dw/db; dxb NULL: no dx. */
#define LN_BW_ROWS(T)                                                                              \
    SG_ISA_KERNEL(ln_bw_##T,                                                                       \
                  (const T *xb, const T *gb, const T *restrict wb, T *dxb, const double *mean,     \
                   const double *rstd, double *restrict qw, double *restrict qb, int64_t i0, int64_t i1, \
                   int64_t D),                                                                     \
                  (xb, gb, wb, dxb, mean, rstd, qw, qb, i0, i1, D)) {                              \
        if (qw) memset(qw, 0, (size_t)D * sizeof *qw);                                             \
        if (qb) memset(qb, 0, (size_t)D * sizeof *qb);                                             \
        for (int64_t i = i0; i < i1; i++) {                                                        \
            const T *restrict px = xb + i * D, *restrict pg = gb + i * D;                          \
            const T mt = (T)mean[i], rt = (T)rstd[i];                                              \
            if (qw)                                                                                \
                for (int64_t j = 0; j < D; j++) qw[j] += (double)(pg[j] * ((px[j] - mt) * rt));    \
            if (qb)                                                                                \
                for (int64_t j = 0; j < D; j++) qb[j] += (double)pg[j];                            \
            if (!dxb) continue;                                                                    \
            double sa, sb;                                                                         \
            if (wb) {                                                                              \
                LANE_SUM(sa, D, (double)(pg[j] * wb[j]));                                          \
                LANE_SUM(sb, D, (double)(pg[j] * wb[j] * ((px[j] - mt) * rt)));                    \
            } else {                                                                               \
                LANE_SUM(sa, D, (double)pg[j]);                                                    \
                LANE_SUM(sb, D, (double)(pg[j] * ((px[j] - mt) * rt)));                            \
            }                                                                                      \
            const T a = (T)(sa / (double)D), b = (T)(sb / (double)D);                              \
            T *restrict pd = dxb + i * D;                                                          \
            if (wb)                                                                                \
                for (int64_t j = 0; j < D; j++) pd[j] = rt * (pg[j] * wb[j] - a - (px[j] - mt) * rt * b); \
            else                                                                                   \
                for (int64_t j = 0; j < D; j++) pd[j] = rt * (pg[j] - a - (px[j] - mt) * rt * b);  \
        }                                                                                          \
    }
LN_FWD_ROW(float)
LN_FWD_ROW(double)
LN_BW_ROWS(float)
LN_BW_ROWS(double)

#define LN_FWD_LOOP(T)                                                                             \
    do {                                                                                           \
        const T *xb = (const T *)sg__ptr(xc);                                                      \
        const T *wb = wc ? (const T *)sg__ptr(wc) : NULL, *bb = bc ? (const T *)sg__ptr(bc) : NULL; \
        T *yb = (T *)sg__ptr(out);                                                                 \
        SG_ISA_FN(ln_fwd_##T) *row = SG_ISA_PICK(ln_fwd_##T);                                      \
        SG_OMP_FOR_IF(R > 1 && R * D >= SG_PAR_MIN)                                                \
        for (int64_t i = 0; i < R; i++) row(xb + i * D, wb, bb, yb + i * D, D, eps, &c->mean[i], &c->rstd[i]); \
    } while (0)

/* Backward in blocks of LN_ROW_BLOCK rows; pw/pb (nblk x D doubles) receive each block's partial
 * dw/db. */
#define LN_BW_LOOP(T)                                                                              \
    do {                                                                                           \
        const T *xb = (const T *)sg__ptr(xc), *gb = (const T *)sg__ptr(gc);                        \
        const T *wb = wc ? (const T *)sg__ptr(wc) : NULL;                                          \
        T *dxb = gx ? (T *)sg__ptr(gx) : NULL;                                                     \
        SG_ISA_FN(ln_bw_##T) *rows = SG_ISA_PICK(ln_bw_##T);                                       \
        SG_OMP_FOR_IF(nblk > 1 && R * D >= SG_PAR_MIN)                                             \
        for (int64_t k = 0; k < nblk; k++) {                                                       \
            int64_t i0 = k * LN_ROW_BLOCK, i1 = i0 + LN_ROW_BLOCK < R ? i0 + LN_ROW_BLOCK : R;     \
            rows(xb, gb, wb, dxb, c->mean, c->rstd, pw ? pw + k * D : NULL, pb ? pb + k * D : NULL, i0, i1, D); \
        }                                                                                          \
    } while (0)

/* out (D) = sum over the nblk blocks (in order) of part (nblk x D) */
static sg_tensor *sum_blocks(sg_dtype dt, const double *part, int64_t nblk, int64_t D) {
    sg_tensor *t = sg__alloc(dt, 1, &D, false);
    if (!t) return NULL;
    SG_OMP_FOR_IF(nblk * D >= SG_PAR_MIN)
    for (int64_t j = 0; j < D; j++) {
        double s = 0;
        for (int64_t k = 0; k < nblk; k++) s += part[k * D + j];
        if (dt == SG_F32) ((float *)sg__ptr(t))[j] = (float)s;
        else ((double *)sg__ptr(t))[j] = s;
    }
    return t;
}

static int layer_norm_bw(sg_node *n, const sg_tensor *gout) {
    const ln_ctx *c = n->ctx;
    int64_t R = c->R, D = c->D, nblk = (R + LN_ROW_BLOCK - 1) / LN_ROW_BLOCK;
    bool has_w = n->iarg[LN_HAS_W], has_b = n->iarg[LN_HAS_B];
    int iw = 1, ib = has_w ? 2 : 1;
    sg_tensor *x = n->in[0], *w = has_w ? n->in[iw] : NULL;
    bool want_x = sg__wants_grad(n, 0), want_w = has_w && sg__wants_grad(n, iw),
         want_b = has_b && sg__wants_grad(n, ib);
    if ((!want_x && !want_w && !want_b) || R == 0) return SG_OK;
    sg_tensor *xc = sg__contig(x), *gc = sg__contig(gout), *wc = w ? sg__contig(w) : NULL;
    sg_tensor *gx = want_x ? sg__alloc(x->dtype, x->ndim, x->shape, false) : NULL;
    double *pw = want_w ? malloc((size_t)(nblk * D) * sizeof *pw) : NULL;
    double *pb = want_b ? malloc((size_t)(nblk * D) * sizeof *pb) : NULL;
    int rc = SG_OK;
    if (!xc || !gc || (w && !wc) || (want_x && !gx) || (want_w && !pw) || (want_b && !pb)) {
        rc = sg_set_error(SG_ERR_MEM, "%s backward: out of memory", n->name);
    } else if (x->dtype == SG_F32) {
        LN_BW_LOOP(float);
    } else {
        LN_BW_LOOP(double);
    }
    if (xc) sg__unref(xc);
    if (gc) sg__unref(gc);
    if (wc) sg__unref(wc);
    if (!rc && gx) rc = sg__grad_accum(x, gx);
    else if (gx) sg__unref(gx);
    if (!rc && pw) rc = sg__grad_accum(w, sum_blocks(x->dtype, pw, nblk, D));
    if (!rc && pb) rc = sg__grad_accum(n->in[ib], sum_blocks(x->dtype, pb, nblk, D));
    free(pw);
    free(pb);
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
