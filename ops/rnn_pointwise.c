/* Fused elementwise parts of the LSTM and GRU steps: the gate nonlinearities and state update in
 * one pass, with a closed-form backward. Speed only: each is exactly the composition of sg_add,
 * sg_sigmoid, sg_tanh and sg_mul that nn/rnn_cell.c otherwise uses, and is gradchecked as such.
 * Not the matrix products: those stay sg_linear. B batch, H hidden.
 * Memory: nothing is saved for backward beyond the inputs and the output the tape keeps anyway;
 * backward recomputes the gate activations from them (a few exp per element, cheaper than
 * storing 4-5 activations per element of every step: W2's 65 MB). */
#include <math.h>

#include "../autograd/node.h"
#include "fastmath.h"
#include "ops.h"

/* an element costs several exp/tanh: worth splitting across threads at PW_COST times fewer
 * elements than a plain element-wise kernel */
enum { LSTM_G = 4, GRU_G = 3, PW_COST = 8 };
/* node->saved slots: the state input and the two gate inputs, contiguous (the inputs themselves
 * when they already are, so saving them costs nothing) */
enum { SAVED_STATE = 0, SAVED_XG = 1, SAVED_HG = 2 };
enum { IN_XG = 0, IN_STATE = 1, IN_HG = 2 }; /* node inputs (hg last: it may be absent) */

/* per-dtype gate functions and row-loop pragma (fastmath.h): float32 uses the vectorisable ones */
#define SIGM(T, x) SG_SIGM(T, x)
#define TANH(T, x) SG_TANH(T, x)
#define SIMD(T) SG_SIMD(T)

/* ---- LSTM: xg, hg (B,4H) gate pre-activations in order i,f,g,o; c (B,H) -> (2,B,H) = [h; c'] ---- */

/* the pre-activation of gate element k: x + g, or x alone when there is no hg (ADDG a literal 0/1) */
#define PRE(ADDG, k) (ADDG ? x[k] + g[k] : x[k])
#define LSTM_GATES(T, ADDG)                                                                        \
    T i = SIGM(T, PRE(ADDG, j));                                                                   \
    T f = SIGM(T, PRE(ADDG, H + j));                                                               \
    T gg = TANH(T, PRE(ADDG, 2 * H + j));                                                          \
    T o = SIGM(T, PRE(ADDG, 3 * H + j))

/* One row b of each kernel is an SG_ISA_KERNEL (tensor/isa_impl.h: compiled per instruction set),
 * stamped per dtype T and ADDG; the drivers below run the rows in parallel. */
#define LSTM_FWD_ROW(T, ADDG)                                                                      \
    SG_ISA_KERNEL(lstm_fwd_##T##_##ADDG,                                                           \
                  (const T *restrict x, const T *restrict g, const T *restrict cp, T *restrict yh,  \
                   T *restrict yc, int64_t H),                                                     \
                  (x, g, cp, yh, yc, H)) {                                                         \
        (void)g;                                                                                   \
        SIMD(T)                                                                                    \
        for (int64_t j = 0; j < H; j++) {                                                          \
            LSTM_GATES(T, ADDG);                                                                   \
            T cn = f * cp[j] + i * gg;                                                             \
            yh[j] = o * TANH(T, cn);                                                               \
            yc[j] = cn;                                                                            \
        }                                                                                          \
    }

/* recomputes the gates from the inputs and tanh(c') from the output */
#define LSTM_BWD_ROW(T, ADDG)                                                                      \
    SG_ISA_KERNEL(lstm_bwd_##T##_##ADDG,                                                           \
                  (const T *restrict x, const T *restrict g, const T *restrict cp,                 \
                   const T *restrict yc, const T *restrict dyh, const T *restrict dyc,             \
                   T *restrict d, T *restrict dcp, int64_t H),                                     \
                  (x, g, cp, yc, dyh, dyc, d, dcp, H)) {                                           \
        (void)g;                                                                                   \
        SIMD(T)                                                                                    \
        for (int64_t j = 0; j < H; j++) {                                                          \
            LSTM_GATES(T, ADDG);                                                                   \
            T tc = TANH(T, yc[j]);                                                                 \
            T dh = dyh[j], dcn = dyc[j] + dh * o * (1 - tc * tc);                                  \
            d[j] = dcn * gg * i * (1 - i);                                                         \
            d[H + j] = dcn * cp[j] * f * (1 - f);                                                  \
            d[2 * H + j] = dcn * i * (1 - gg * gg);                                                \
            d[3 * H + j] = dh * tc * o * (1 - o);                                                  \
            dcp[j] = dcn * f;                                                                      \
        }                                                                                          \
    }

#define LSTM_ROWS(T, ADDG) LSTM_FWD_ROW(T, ADDG) LSTM_BWD_ROW(T, ADDG)
LSTM_ROWS(float, 0)
LSTM_ROWS(float, 1)
LSTM_ROWS(double, 0)
LSTM_ROWS(double, 1)

#define LSTM_FWD(T, ADDG)                                                                          \
    do {                                                                                           \
        const T *X = sg__ptr(xc), *G = ADDG ? sg__ptr(hc) : X, *C = sg__ptr(st);                  \
        T *Y = sg__ptr(out);                                                                       \
        SG_ISA_FN(lstm_fwd_##T##_##ADDG) *row = SG_ISA_PICK(lstm_fwd_##T##_##ADDG);                \
        SG_PAR_FOR(B * H * PW_COST >= SG_PAR_MIN,                                                  \
        for (int64_t b = 0; b < B; b++)                                                            \
            row(X + b * 4 * H, G + b * 4 * H, C + b * H, Y + b * H, Y + B * H + b * H, H);)        \
    } while (0)

#define LSTM_BWD(T, ADDG)                                                                          \
    do {                                                                                           \
        const T *X = sg__ptr(xc), *G = ADDG ? sg__ptr(hc) : X, *C = sg__ptr(n->saved[SAVED_STATE]); \
        const T *Y = sg__ptr(n->out), *DY = sg__ptr(gout);                                         \
        T *DG = sg__ptr(dg), *DC = sg__ptr(dc);                                                    \
        SG_ISA_FN(lstm_bwd_##T##_##ADDG) *row = SG_ISA_PICK(lstm_bwd_##T##_##ADDG);                \
        SG_PAR_FOR(B * H * PW_COST >= SG_PAR_MIN,                                                  \
        for (int64_t b = 0; b < B; b++)                                                            \
            row(X + b * 4 * H, G + b * 4 * H, C + b * H, Y + B * H + b * H, DY + b * H,            \
                DY + B * H + b * H, DG + b * 4 * H, DC + b * H, H);)                               \
    } while (0)

/* KERNEL instantiated for the dtype and for one or two gate inputs (ADDG a literal, so the
 * vectorised loop has no branch) */
#define LSTM_DISPATCH(KERNEL, dt, addg)                                                            \
    do {                                                                                           \
        if ((dt) == SG_F32 && (addg)) KERNEL(float, 1);                                            \
        else if ((dt) == SG_F32) KERNEL(float, 0);                                                 \
        else if (addg) KERNEL(double, 1);                                                          \
        else KERNEL(double, 0);                                                                    \
    } while (0)

static int lstm_bw(sg_node *n, const sg_tensor *gout) {
    int64_t B = n->iarg[0], H = n->iarg[1];
    sg_tensor *dg = sg__alloc(gout->dtype, 2, (int64_t[]){B, LSTM_G * H}, false);
    sg_tensor *dc = sg__alloc(gout->dtype, 2, (int64_t[]){B, H}, false);
    if (!dg || !dc) {
        if (dg) sg__unref(dg);
        if (dc) sg__unref(dc);
        return SG_ERR_MEM;
    }
    const sg_tensor *xc = n->saved[SAVED_XG], *hc = n->saved[SAVED_HG];
    bool addg = hc != NULL;
    LSTM_DISPATCH(LSTM_BWD, gout->dtype, addg);
    /* inputs: xg, c, then hg when given; both gate inputs get the same gradient */
    int rc = SG_OK;
    if (addg && sg__wants_grad(n, IN_HG)) {
        sg__ref(dg);
        rc = sg__grad_accum(n->in[IN_HG], dg);
        if (rc) sg__unref(dg);
    }
    if (!rc) rc = sg__grad_accum(n->in[IN_XG], dg);
    else sg__unref(dg);
    if (!rc) rc = sg__grad_accum(n->in[IN_STATE], dc);
    else sg__unref(dc);
    return rc;
}

static void lstm_fwd(const sg_tensor *xc, const sg_tensor *hc, const sg_tensor *st, sg_tensor *out, int64_t B,
                     int64_t H) {
    bool addg = hc != NULL;
    LSTM_DISPATCH(LSTM_FWD, out->dtype, addg);
}

/* ---- GRU (PyTorch, linear before reset): xg (B,3H) = x W_ih^T + b_ih, hg (B,3H) = h W_hh^T + b_hh,
 * gate order r, z, n; h (B,H) -> h' (B,H) ---- */

#define GRU_GATES(T)                                                                               \
    T r = SIGM(T, (x[j] + g[j]));                                                                  \
    T z = SIGM(T, (x[H + j] + g[H + j]));                                                          \
    T hn = g[2 * H + j];                                                                           \
    T nn = TANH(T, (x[2 * H + j] + r * hn))

#define GRU_ROWS(T)                                                                                \
    SG_ISA_KERNEL(gru_fwd_##T,                                                                     \
                  (const T *restrict x, const T *restrict g, const T *restrict hp, T *restrict y,   \
                   int64_t H),                                                                     \
                  (x, g, hp, y, H)) {                                                              \
        SIMD(T)                                                                                    \
        for (int64_t j = 0; j < H; j++) {                                                          \
            GRU_GATES(T);                                                                          \
            y[j] = nn + z * (hp[j] - nn);                                                          \
        }                                                                                          \
    }                                                                                              \
    SG_ISA_KERNEL(gru_bwd_##T,                                                                     \
                  (const T *restrict x, const T *restrict g, const T *restrict hp,                 \
                   const T *restrict dy, T *restrict dxr, T *restrict dgr, T *restrict dh_,        \
                   int64_t H),                                                                     \
                  (x, g, hp, dy, dxr, dgr, dh_, H)) {                                              \
        SIMD(T)                                                                                    \
        for (int64_t j = 0; j < H; j++) {                                                          \
            GRU_GATES(T);                                                                          \
            T dan = dy[j] * (1 - z) * (1 - nn * nn);                                               \
            T dar = dan * hn * r * (1 - r);                                                        \
            T daz = dy[j] * (hp[j] - nn) * z * (1 - z);                                            \
            dxr[j] = dar;                                                                          \
            dxr[H + j] = daz;                                                                      \
            dxr[2 * H + j] = dan;                                                                  \
            dgr[j] = dar;                                                                          \
            dgr[H + j] = daz;                                                                      \
            dgr[2 * H + j] = dan * r;                                                              \
            dh_[j] = dy[j] * z;                                                                    \
        }                                                                                          \
    }
GRU_ROWS(float)
GRU_ROWS(double)

#define GRU_FWD(T)                                                                                 \
    do {                                                                                           \
        const T *X = sg__ptr(xc), *G = sg__ptr(hc), *Hp = sg__ptr(st);                            \
        T *Y = sg__ptr(out);                                                                       \
        SG_ISA_FN(gru_fwd_##T) *row = SG_ISA_PICK(gru_fwd_##T);                                    \
        SG_PAR_FOR(B * H * PW_COST >= SG_PAR_MIN,                                                  \
        for (int64_t b = 0; b < B; b++) row(X + b * 3 * H, G + b * 3 * H, Hp + b * H, Y + b * H, H);) \
    } while (0)

#define GRU_BWD(T)                                                                                 \
    do {                                                                                           \
        const T *X = sg__ptr(xc), *G = sg__ptr(hc), *Hp = sg__ptr(n->saved[SAVED_STATE]), *DY = sg__ptr(gout); \
        T *DX = sg__ptr(dx), *DHG = sg__ptr(dhg), *DH = sg__ptr(dh);                               \
        SG_ISA_FN(gru_bwd_##T) *row = SG_ISA_PICK(gru_bwd_##T);                                    \
        SG_PAR_FOR(B * H * PW_COST >= SG_PAR_MIN,                                                  \
        for (int64_t b = 0; b < B; b++)                                                            \
            row(X + b * 3 * H, G + b * 3 * H, Hp + b * H, DY + b * H, DX + b * 3 * H, DHG + b * 3 * H, \
                DH + b * H, H);)                                                                   \
    } while (0)

static int gru_bw(sg_node *n, const sg_tensor *gout) {
    int64_t B = n->iarg[0], H = n->iarg[1];
    sg_dtype dt = gout->dtype;
    sg_tensor *dx = sg__alloc(dt, 2, (int64_t[]){B, GRU_G * H}, false);
    sg_tensor *dhg = sg__alloc(dt, 2, (int64_t[]){B, GRU_G * H}, false);
    sg_tensor *dh = sg__alloc(dt, 2, (int64_t[]){B, H}, false);
    int rc = (dx && dhg && dh) ? SG_OK : SG_ERR_MEM;
    if (!rc) {
        const sg_tensor *xc = n->saved[SAVED_XG], *hc = n->saved[SAVED_HG];
        if (dt == SG_F32) GRU_BWD(float);
        else GRU_BWD(double);
        rc = sg__grad_accum(n->in[IN_XG], dx);
        dx = NULL;
        if (!rc) rc = sg__grad_accum(n->in[IN_HG], dhg);
        else sg__unref(dhg);
        dhg = NULL;
        if (!rc) rc = sg__grad_accum(n->in[IN_STATE], dh);
        else sg__unref(dh);
        dh = NULL;
    }
    sg_tensor *left[] = {dx, dhg, dh};
    for (int i = 0; i < 3; i++)
        if (left[i]) sg__unref(left[i]);
    return rc;
}

static void gru_fwd(const sg_tensor *xc, const sg_tensor *hc, const sg_tensor *st, sg_tensor *out, int64_t B,
                    int64_t H) {
    if (out->dtype == SG_F32) GRU_FWD(float);
    else GRU_FWD(double);
}

/* ---- the shared op driver: checks, contiguous inputs, output, node ---- */

typedef void (*pw_kernel)(const sg_tensor *xc, const sg_tensor *hc, const sg_tensor *st, sg_tensor *out, int64_t B,
                          int64_t H);
typedef struct {
    const char *name, *state; /* op name and the name of its state argument */
    int gates;                /* G */
    bool optional_hg;         /* hg may be NULL (xg is then the whole pre-activation) */
    bool packed;              /* output (2, B, H) = [h'; c'] instead of (B, H) */
    pw_kernel fwd;
    sg_backward_fn bw;
} pw_op;

static const pw_op LSTM_OP = {"sg_lstm_pointwise", "c", LSTM_G, true, true, lstm_fwd, lstm_bw};
static const pw_op GRU_OP = {"sg_gru_pointwise", "h", GRU_G, false, false, gru_fwd, gru_bw};

/* hg may be NULL only where op->optional_hg: xg then holds the whole pre-activation */
static sg_tensor *pointwise(const pw_op *op, sg_tensor *xg, sg_tensor *hg, sg_tensor *s) {
    if (!sg__check_arg(xg, op->name, "xg") || !sg__check_arg(s, op->name, op->state)) return NULL;
    if ((hg || !op->optional_hg) && !sg__check_arg(hg, op->name, "hg")) return NULL;
    if ((hg && !sg__same_dtype(op->name, xg, hg)) || !sg__same_dtype(op->name, xg, s)) return NULL;
    if (s->ndim != 2) {
        char b[SG_SHAPE_BUF];
        sg_set_error(SG_ERR_SHAPE, "%s: %s must be (B, H), got %s", op->name, op->state,
                     sg__shape_str(s->ndim, s->shape, b, sizeof b));
        return NULL;
    }
    int64_t B = s->shape[0], H = s->shape[1];
    if (!sg__check_2d(op->name, "xg", xg, B, op->gates * H) || (hg && !sg__check_2d(op->name, "hg", hg, B, op->gates * H)))
        return NULL;
    sg_tensor *in[3] = {[IN_XG] = xg, [IN_STATE] = s, [IN_HG] = hg};
    sg_tensor *xc = sg__contig(xg), *hc = hg ? sg__contig(hg) : NULL, *st = sg__contig(s);
    sg_tensor *out = NULL;
    if (xc && (hc || !hg) && st)
        out = op->packed ? sg__out(xg->dtype, 3, (int64_t[]){2, B, H}, false) : sg__out(xg->dtype, 2, (int64_t[]){B, H}, false);
    int err = SG_OK;
    if (out) {
        op->fwd(xc, hc, st, out, B, H);
        sg_node *n = sg__record(out, op->name, op->bw, hg ? 3 : 2, in, &err);
        if (n) {
            n->iarg[0] = B;
            n->iarg[1] = H;
            sg__save(n, SAVED_STATE, st);
            sg__save(n, SAVED_XG, xc);
            if (hc) sg__save(n, SAVED_HG, hc);
        }
    } else {
        err = SG_ERR_MEM;
    }
    sg_tensor *tmp[] = {xc, hc, st};
    for (int i = 0; i < 3; i++)
        if (tmp[i]) sg__unref(tmp[i]);
    return err ? NULL : out;
}

sg_tensor *sg_lstm_pointwise(sg_tensor *xg, sg_tensor *hg, sg_tensor *c) { return pointwise(&LSTM_OP, xg, hg, c); }
sg_tensor *sg_gru_pointwise(sg_tensor *xg, sg_tensor *hg, sg_tensor *h) { return pointwise(&GRU_OP, xg, hg, h); }
