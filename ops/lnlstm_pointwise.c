/* The fused elementwise part of a LayerNorm-LSTM step (sg_lnlstm_pointwise): the gate
 * nonlinearities, the cell update, the layer norm of the new cell state and the output gate in one
 * pass over each batch row, with one closed-form backward. Speed only: it equals the composition
 * sg_lstm_pointwise -> sg_select -> sg_layer_norm -> sg_tanh -> sg_mul (tests/test_ops_lnlstm.c
 * checks that, values and gradients). Not the matrix products or the layer norms of the gate
 * pre-activations: those stay sg_linear and sg_layer_norm.
 * Shape letters: B batch rows, H hidden units (the gates are 4H wide: i, f, g, o).
 * Memory: forward keeps the inputs (the tape holds them anyway) and each row's mean and
 * 1/sqrt(var + eps) of the normalised cell state; backward recomputes the gates from the inputs. */
#include <math.h>
#include <stdlib.h>

#include "../autograd/node.h"
#include "../tensor/isa_impl.h"
#include "fastmath.h"
#include "norm_row.h"
#include "ops.h"

/* an element costs several exp/tanh: rows are split across threads at PW_COST times fewer
 * elements than a plain element-wise kernel */
enum { LSTM_G = 4, PW_COST = 8 };
/* node inputs: xg and c always, then hg, weight and bias where given (iarg holds their index or
 * -1); node->saved slots: the contiguous forms of xg, c, hg and weight */
enum { IN_XG = 0, IN_C = 1 };
enum { ARG_B = 0, ARG_H, ARG_IN_HG, ARG_IN_W, ARG_IN_BIAS };
enum { FARG_EPS = 0 };
enum { SAVED_XG = 0, SAVED_C, SAVED_HG, SAVED_W };
/* backward scratch per row: the cell state before the norm, the gradient of the normalised one,
 * and the gradient of the one before the norm (3 H-vectors) */
enum { SCR_CR = 0, SCR_DCN = 1, SCR_DCR = 2, SCR_N = 3 };
enum { STACK_ROWS = 16 }; /* rows whose statistics a no-grad call keeps on the stack */

/* per-row statistics of the normalised cell state (one malloc block: struct, mean[B], rstd[B]) */
typedef struct {
    double *mean, *rstd;
} lnc_ctx;

/* pre-activation of gate element k: x + g, or x alone without hg (ADDG a literal 0/1) */
#define PRE(ADDG, k) (ADDG ? x[k] + g[k] : x[k])

/* One row b of each direction is an SG_ISA_KERNEL (tensor/isa_impl.h: compiled per instruction
 * set), stamped per dtype T and ADDG; the drivers below run the rows in parallel.
 * Forward row: x, g (4H), cp (H) -> yh = h', yc = c' (H); mean, rstd of c~. w, bb (H) or NULL. */
#define LNLSTM_FWD_ROW(T, S, ADDG)                                                                 \
    SG_ISA_KERNEL(lnlstm_fwd_##S##_##ADDG,                                                         \
                  (const T *restrict x, const T *restrict g, const T *restrict cp, const T *restrict w, \
                   const T *restrict bb, T *restrict yh, T *restrict yc, int64_t H, double eps,    \
                   double *mean, double *rstd),                                                    \
                  (x, g, cp, w, bb, yh, yc, H, eps, mean, rstd)) {                                 \
        (void)g;                                                                                   \
        SG_SIMD(T)                                                                                 \
        for (int64_t j = 0; j < H; j++) {                                                          \
            T i = SG_SIGM(T, PRE(ADDG, j)), f = SG_SIGM(T, PRE(ADDG, H + j));                      \
            yc[j] = f * cp[j] + i * SG_TANH(T, PRE(ADDG, 2 * H + j)); /* c~, normalised below */  \
        }                                                                                          \
        sg__ln_stats_##S(yc, H, eps, mean, rstd);                                                  \
        const T mt = (T)*mean, rt = (T)*rstd;                                                      \
        SG_SIMD(T)                                                                                 \
        for (int64_t j = 0; j < H; j++) {                                                          \
            T cn = (yc[j] - mt) * rt * (w ? w[j] : (T)1) + (bb ? bb[j] : (T)0);                    \
            yc[j] = cn;                                                                            \
            yh[j] = SG_SIGM(T, PRE(ADDG, 3 * H + j)) * SG_TANH(T, cn);                             \
        }                                                                                          \
    }

/* Backward row: the gates again, the gradient of c' (from h' and from c' itself), the layer
 * norm's backward to c~ (norm_row.h), then the gates' gradients. d (4H), dcp (H) out; cr, dcn
 * (H) are kept for the weight/bias column pass, dcr (H) is scratch. */
#define LNLSTM_BWD_ROW(T, S, ADDG)                                                                 \
    SG_ISA_KERNEL(lnlstm_bwd_##S##_##ADDG,                                                         \
                  (const T *restrict x, const T *restrict g, const T *restrict cp, const T *restrict w, \
                   const T *restrict yc, const T *restrict dyh, const T *restrict dyc, T *restrict d, \
                   T *restrict dcp, T *restrict cr, T *restrict dcn, T *restrict dcr, int64_t H,   \
                   double mean, double rstd),                                                      \
                  (x, g, cp, w, yc, dyh, dyc, d, dcp, cr, dcn, dcr, H, mean, rstd)) {              \
        (void)g;                                                                                   \
        SG_SIMD(T)                                                                                 \
        for (int64_t j = 0; j < H; j++) {                                                          \
            T i = SG_SIGM(T, PRE(ADDG, j)), f = SG_SIGM(T, PRE(ADDG, H + j));                      \
            T gg = SG_TANH(T, PRE(ADDG, 2 * H + j)), o = SG_SIGM(T, PRE(ADDG, 3 * H + j));         \
            T tc = SG_TANH(T, yc[j]), dh = dyh[j];                                                 \
            cr[j] = f * cp[j] + i * gg;                                                            \
            dcn[j] = dyc[j] + dh * o * (1 - tc * tc);                                              \
            d[3 * H + j] = dh * tc * o * (1 - o);                                                  \
            d[j] = gg * i * (1 - i); /* the other gates: times dcr below */                        \
            d[H + j] = cp[j] * f * (1 - f);                                                        \
            d[2 * H + j] = i * (1 - gg * gg);                                                      \
            dcp[j] = f;                                                                            \
        }                                                                                          \
        sg__ln_row_bw_##S(cr, dcn, w, mean, rstd, H, dcr);                                         \
        SG_SIMD(T)                                                                                 \
        for (int64_t j = 0; j < H; j++) {                                                          \
            T v = dcr[j];                                                                          \
            d[j] *= v;                                                                             \
            d[H + j] *= v;                                                                         \
            d[2 * H + j] *= v;                                                                     \
            dcp[j] *= v;                                                                           \
        }                                                                                          \
    }

#define LNLSTM_ROWS(T, S) LNLSTM_FWD_ROW(T, S, 0) LNLSTM_FWD_ROW(T, S, 1) LNLSTM_BWD_ROW(T, S, 0)  \
    LNLSTM_BWD_ROW(T, S, 1) SG_LN_PARAM_GRADS(T, S)
LNLSTM_ROWS(float, f32)
LNLSTM_ROWS(double, f64)

/* out (2, B, H) = [h'; c'] */
#define LNLSTM_FWD(T, S, ADDG)                                                                     \
    do {                                                                                           \
        const T *X = sg__ptr(xc), *G = ADDG ? sg__ptr(hc) : X, *C = sg__ptr(cc);                  \
        const T *W = wc ? sg__ptr(wc) : NULL, *Bb = bc ? sg__ptr(bc) : NULL;                       \
        T *Y = sg__ptr(out);                                                                       \
        SG_ISA_FN(lnlstm_fwd_##S##_##ADDG) *row = SG_ISA_PICK(lnlstm_fwd_##S##_##ADDG);            \
        SG_PAR_FOR(B > 1 && B * H * PW_COST >= SG_PAR_MIN,                                         \
        for (int64_t b = 0; b < B; b++)                                                            \
            row(X + b * LSTM_G * H, G + b * LSTM_G * H, C + b * H, W, Bb, Y + b * H, Y + B * H + b * H, H, eps, \
                &ctx->mean[b], &ctx->rstd[b]);)                                                    \
    } while (0)

/* gradients of the gates (dg), of c (dc), then of weight and bias (the column pass over the
 * rows' c~ and dc' kept in scr) */
#define LNLSTM_BWD(T, S, ADDG)                                                                     \
    do {                                                                                           \
        const T *X = sg__ptr(xc), *G = ADDG ? sg__ptr(hc) : X, *C = sg__ptr(cc);                  \
        const T *W = wc ? sg__ptr(wc) : NULL, *Y = sg__ptr(n->out), *DY = sg__ptr(gout);           \
        T *DG = sg__ptr(dg), *DC = sg__ptr(dc), *SC = sg__ptr(scr);                               \
        SG_ISA_FN(lnlstm_bwd_##S##_##ADDG) *row = SG_ISA_PICK(lnlstm_bwd_##S##_##ADDG);            \
        SG_PAR_FOR(B > 1 && B * H * PW_COST >= SG_PAR_MIN,                                         \
        for (int64_t b = 0; b < B; b++) {                                                          \
            T *sc = SC + b * SCR_N * H;                                                            \
            row(X + b * LSTM_G * H, G + b * LSTM_G * H, C + b * H, W, Y + B * H + b * H, DY + b * H, \
                DY + B * H + b * H, DG + b * LSTM_G * H, DC + b * H, sc + SCR_CR * H, sc + SCR_DCN * H, \
                sc + SCR_DCR * H, H, ctx->mean[b], ctx->rstd[b]);                                  \
        })                                                                                         \
        if (dw || dbias)                                                                           \
            ln_param_grads_##S(B, H, SC + SCR_CR * H, SCR_N * H, ctx->mean, ctx->rstd, SC + SCR_DCN * H, \
                               SCR_N * H, dw ? (T *)sg__ptr(dw) : NULL, dbias ? (T *)sg__ptr(dbias) : NULL); \
    } while (0)

/* KERNEL instantiated for the dtype and for one or two gate inputs (ADDG a literal, so the
 * vectorised loops have no branch on it) */
#define DISPATCH(KERNEL, dt, addg)                                                                 \
    do {                                                                                           \
        if ((dt) == SG_F32 && (addg)) KERNEL(float, f32, 1);                                       \
        else if ((dt) == SG_F32) KERNEL(float, f32, 0);                                            \
        else if (addg) KERNEL(double, f64, 1);                                                     \
        else KERNEL(double, f64, 0);                                                               \
    } while (0)

/* the gradient t into input k of n when it wants one (consumes t either way) */
static int give(sg_node *n, int k, sg_tensor *t, int rc) {
    if (!t) return rc;
    if (!rc && k >= 0 && sg__wants_grad(n, k)) return sg__grad_accum(n->in[k], t);
    sg__unref(t);
    return rc;
}

static int lnlstm_bw(sg_node *n, const sg_tensor *gout) {
    const lnc_ctx *ctx = n->ctx;
    int64_t B = n->iarg[ARG_B], H = n->iarg[ARG_H];
    int ihg = (int)n->iarg[ARG_IN_HG], iw = (int)n->iarg[ARG_IN_W], ib = (int)n->iarg[ARG_IN_BIAS];
    sg_dtype dt = gout->dtype;
    const sg_tensor *xc = n->saved[SAVED_XG], *cc = n->saved[SAVED_C], *hc = n->saved[SAVED_HG];
    const sg_tensor *wc = n->saved[SAVED_W];
    bool addg = hc != NULL;
    sg_tensor *dg = sg__alloc(dt, 2, (int64_t[]){B, LSTM_G * H}, false);
    sg_tensor *dc = sg__alloc(dt, 2, (int64_t[]){B, H}, false);
    sg_tensor *scr = sg__alloc(dt, 2, (int64_t[]){B, SCR_N * H}, false);
    sg_tensor *dw = iw >= 0 && sg__wants_grad(n, iw) ? sg__alloc(dt, 1, &H, false) : NULL;
    sg_tensor *dbias = ib >= 0 && sg__wants_grad(n, ib) ? sg__alloc(dt, 1, &H, false) : NULL;
    int rc = dg && dc && scr && (dw || iw < 0 || !sg__wants_grad(n, iw)) &&
                     (dbias || ib < 0 || !sg__wants_grad(n, ib))
                 ? SG_OK
                 : sg_set_error(SG_ERR_MEM, "%s backward: out of memory", n->name);
    if (!rc) DISPATCH(LNLSTM_BWD, dt, addg);
    if (scr) sg__unref(scr);
    /* both gate inputs get the same gradient: hg takes a second reference */
    if (!rc && dg && addg && sg__wants_grad(n, ihg)) {
        sg__ref(dg);
        rc = give(n, ihg, dg, rc);
    }
    rc = give(n, IN_XG, dg, rc);
    rc = give(n, IN_C, dc, rc);
    rc = give(n, iw, dw, rc);
    return give(n, ib, dbias, rc);
}

/* weight or bias: NULL, or (H) of c's dtype */
static bool check_affine(const char *op, const char *arg, const sg_tensor *p, const sg_tensor *c, int64_t H) {
    if (!p) return true;
    if (!sg__check_arg(p, op, arg) || !sg__same_dtype(op, c, p)) return false;
    if (p->ndim == 1 && p->shape[0] == H) return true;
    char b[SG_SHAPE_BUF];
    sg_set_error(SG_ERR_SHAPE, "%s: %s must be (H) = (%lld), got %s", op, arg, (long long)H,
                 sg__shape_str(p->ndim, p->shape, b, sizeof b));
    return false;
}

/* xg, hg (B, 4H) or hg NULL, c (B, H), weight, bias (H) or NULL -> (2, B, H) = [h'; c'] */
sg_tensor *sg_lnlstm_pointwise(sg_tensor *xg, sg_tensor *hg, sg_tensor *c, sg_tensor *weight, sg_tensor *bias,
                               double eps) {
    const char *op = "sg_lnlstm_pointwise";
    if (!sg__check_arg(xg, op, "xg") || !sg__check_arg(c, op, "c")) return NULL;
    if (hg && !sg__check_arg(hg, op, "hg")) return NULL;
    if (!sg__same_dtype(op, xg, c) || (hg && !sg__same_dtype(op, xg, hg))) return NULL;
    if (c->ndim != 2) {
        char b[SG_SHAPE_BUF];
        sg_set_error(SG_ERR_SHAPE, "%s: c must be (B, H), got %s", op, sg__shape_str(c->ndim, c->shape, b, sizeof b));
        return NULL;
    }
    int64_t B = c->shape[0], H = c->shape[1];
    if (!sg__check_2d(op, "xg", xg, B, LSTM_G * H) || (hg && !sg__check_2d(op, "hg", hg, B, LSTM_G * H))) return NULL;
    if (!check_affine(op, "weight", weight, c, H) || !check_affine(op, "bias", bias, c, H)) return NULL;
    if (!(eps >= 0) || isinf(eps)) {
        sg_set_error(SG_ERR_ARG, "%s: eps must be finite and >= 0 (got %g)", op, eps);
        return NULL;
    }
    sg_tensor *in[5] = {[IN_XG] = xg, [IN_C] = c};
    int n_in = 2, ihg = -1, iw = -1, ib = -1;
    if (hg) in[ihg = n_in++] = hg;
    if (weight) in[iw = n_in++] = weight;
    if (bias) in[ib = n_in++] = bias;
    /* nothing recorded and few rows (a streaming step): the statistics live on the stack, so the
     * op allocates nothing beyond its output */
    double stack_stats[2 * STACK_ROWS];
    lnc_ctx on_stack = {stack_stats, stack_stats + STACK_ROWS}, *ctx = &on_stack;
    bool stack = !sg__needs_grad(n_in, in) && B <= STACK_ROWS;
    if (!stack) {
        size_t rows = (size_t)(B > 0 ? B : 1);
        if (!(ctx = malloc(sizeof *ctx + 2 * rows * sizeof(double)))) {
            sg_set_error(SG_ERR_MEM, "%s: out of memory", op);
            return NULL;
        }
        ctx->mean = (double *)(ctx + 1);
        ctx->rstd = ctx->mean + rows;
    }
    sg_tensor *xc = sg__contig(xg), *cc = sg__contig(c), *hc = hg ? sg__contig(hg) : NULL;
    sg_tensor *wc = weight ? sg__contig(weight) : NULL, *bc = bias ? sg__contig(bias) : NULL;
    sg_tensor *out = NULL;
    if (xc && cc && (hc || !hg) && (wc || !weight) && (bc || !bias))
        out = sg__out(xg->dtype, 3, (int64_t[]){2, B, H}, false);
    int err = out ? SG_OK : SG_ERR_MEM;
    if (out && H > 0) DISPATCH(LNLSTM_FWD, xg->dtype, hc != NULL);
    sg_node *n = NULL;
    if (out) {
        n = sg__record(out, op, lnlstm_bw, n_in, in, &err);
        if (n) {
            n->ctx = ctx;
            n->iarg[ARG_B] = B;
            n->iarg[ARG_H] = H;
            n->iarg[ARG_IN_HG] = ihg;
            n->iarg[ARG_IN_W] = iw;
            n->iarg[ARG_IN_BIAS] = ib;
            n->farg[FARG_EPS] = eps;
            if (ib >= 0) n->reads &= ~sg__reads_bit(ib); /* backward never reads the bias */
            sg__save(n, SAVED_XG, xc);
            sg__save(n, SAVED_C, cc);
            if (hc) sg__save(n, SAVED_HG, hc);
            if (wc) sg__save(n, SAVED_W, wc);
        }
    } else {
        sg_set_error(SG_ERR_MEM, "%s: out of memory", op);
    }
    if (!n && !stack) free(ctx);
    sg_tensor *tmp[] = {xc, cc, hc, wc, bc};
    for (int i = 0; i < 5; i++)
        if (tmp[i]) sg__unref(tmp[i]);
    return err ? NULL : out;
}
