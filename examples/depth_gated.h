/* A Depth-Gated LSTM stack (Yao, Cohn, Vylomova, Duh and Dyer 2015) as a custom loop over cells:
 * layer l > 0 has a depth gate that reads the memory cell of the layer below AT THE SAME STEP,
 * which the layer driver cannot give (it runs a whole layer over all T before the next), so the
 * loop runs all layers at each step t, each one a one-step cell (sg_rnn_cell_step):
 *   layer 0: a plain LSTM (seqgrad's built-in definition)
 *   layer l: i, f, g, o as an LSTM on x = h_t^(l-1) and h_(t-1)^l, and
 *            d  = s(Wd x + bd + w_cd (.) c_(t-1)^l + w_ld (.) c_t^(l-1))
 *            c_t^l = d (.) c_t^(l-1) + f (.) c_(t-1)^l + i (.) g,   h_t^l = o (.) tanh(c_t^l)
 * The lower cell state enters the definition as a third state the loop sets before each step (the
 * step passes it through). Shapes: x (T, B, D), every layer H wide, h0/c0 (L, B, H). Header-only so
 * the example (examples/depth_gated.c) and its gradcheck test (tests/test_depth_gated.c) share it. */
#ifndef DEPTH_GATED_H
#define DEPTH_GATED_H

#include <stdio.h>
#include <stdlib.h>

#include "seqgrad.h"

enum { DG_MAX_LAYERS = 8, DG_GATES = 5 }; /* i, f, g, o from the LSTM, then the depth gate d */
enum { DG_W_IH = 0, DG_W_HH, DG_B_IH, DG_B_HH, DG_W_CD, DG_W_LD };
enum { DG_H = 0, DG_C, DG_C_BELOW };

/* xg (B, 5H) = x Wi^T + b of this step (i, f, g, o, d); s = {h, c, c_below} (B, H) */
static inline int dg_step(const sg_cell_ctx *c, sg_tensor *const *p, sg_tensor *xg, sg_tensor *const *s, int64_t t,
                          sg_tensor **s_out, sg_tensor **out) {
    (void)t, (void)out;
    int64_t H = c->H;
    sg_tensor *h = s[DG_H], *cp = s[DG_C], *cb = s[DG_C_BELOW];
    sg_tensor *g = sg_linear_add(h, p[DG_W_HH], p[DG_B_HH], sg_narrow(xg, 1, 0, 4 * H)); /* (B, 4H) */
    sg_tensor *i = sg_sigmoid(sg_narrow(g, 1, 0, H)), *f = sg_sigmoid(sg_narrow(g, 1, H, H));
    sg_tensor *cand = sg_tanh(sg_narrow(g, 1, 2 * H, H)), *o = sg_sigmoid(sg_narrow(g, 1, 3 * H, H));
    sg_tensor *d = sg_sigmoid(sg_add(sg_narrow(xg, 1, 4 * H, H), sg_add(sg_mul(cp, p[DG_W_CD]), sg_mul(cb, p[DG_W_LD]))));
    sg_tensor *cn = sg_add(sg_mul(d, cb), sg_add(sg_mul(f, cp), sg_mul(i, cand)));
    s_out[DG_H] = sg_mul(o, sg_tanh(cn));
    s_out[DG_C] = cn;
    s_out[DG_C_BELOW] = cb; /* passed through: the loop sets it every step */
    return s_out[DG_H] && cn ? SG_OK : sg_last_status();
}

static const sg_cell_def dg_cell = {
    .name = "depth_gated_lstm",
    .gates = DG_GATES,
    .states = {{"h", SG_CELL_H}, {"c", SG_CELL_H}, {"c_below", SG_CELL_H}},
    .params = {[DG_W_IH] = {"weight_ih", 2, {SG_CELL_GH, SG_CELL_D}, SG_PARAM_INPUT_WEIGHT, 0, 0, 0},
               [DG_W_HH] = {"weight_hh", 2, {SG_CELL_HX(4), SG_CELL_H}, SG_PARAM_PLAIN, 0, 0, 0},
               [DG_B_IH] = {"bias_ih", 1, {SG_CELL_GH}, SG_PARAM_INPUT_BIAS, SG_CELL_OPT_BIAS, 0, 0},
               [DG_B_HH] = {"bias_hh", 1, {SG_CELL_HX(4)}, SG_PARAM_PLAIN, SG_CELL_OPT_BIAS, 0, 0},
               [DG_W_CD] = {"weight_cd", 1, {SG_CELL_H}, SG_PARAM_PLAIN, 0, 0, 0},
               [DG_W_LD] = {"weight_ld", 1, {SG_CELL_H}, SG_PARAM_PLAIN, 0, 0, 0}},
    .step = dg_step,
};

typedef struct {
    int L;
    int64_t H;
    sg_rnn_cell *cell[DG_MAX_LAYERS]; /* owned by the model */
} dg_stack;

/* Declares the stack on m (before sg_model_finalize): "<prefix>.l0.weight_ih", ... */
static inline int dg_declare(dg_stack *s, sg_model *m, const char *prefix, int64_t D, int64_t H, int L) {
    if (L < 1 || L > DG_MAX_LAYERS) return sg_set_error(SG_ERR_ARG, "dg_declare: %d layers (1..%d)", L, DG_MAX_LAYERS);
    s->L = L;
    s->H = H;
    for (int l = 0; l < L; l++) {
        char name[128];
        snprintf(name, sizeof name, "%s.l%d", prefix, l);
        sg_rnn_config cfg = {.input_size = l ? H : D, .hidden_size = H};
        if (l) cfg.def = &dg_cell;
        else cfg.cell = SG_CELL_LSTM;
        if (!(s->cell[l] = sg_rnn_cell_new(m, name, &cfg))) return sg_last_status();
    }
    return SG_OK;
}

/* x (T, B, D), h0/c0 (L, B, H) or NULL -> top layer's outputs (T, B, H); NULL on error */
static inline sg_tensor *dg_forward(const dg_stack *s, sg_tensor *x, sg_tensor *h0, sg_tensor *c0) {
    int64_t T = sg_size(x, 0), B = sg_size(x, 1), H = s->H;
    sg_tensor *h[DG_MAX_LAYERS], *c[DG_MAX_LAYERS];
    sg_tensor *zero = NULL;
    if (!h0 || !c0) { /* a tape-owned zero state (the user-owned original is freed at once) */
        sg_tensor *z = sg_zeros(sg_dtype_of(x), 2, (int64_t[]){B, H});
        zero = z ? sg_detach(z) : NULL;
        sg_tensor_free(z);
        if (!zero) return NULL;
    }
    for (int l = 0; l < s->L; l++) {
        h[l] = h0 ? sg_select(h0, 0, l) : zero;
        c[l] = c0 ? sg_select(c0, 0, l) : zero;
    }
    sg_tensor **outs = malloc((size_t)T * sizeof *outs), *y = NULL;
    int rc = outs ? SG_OK : sg_set_error(SG_ERR_MEM, "dg_forward: out of memory");
    for (int64_t t = 0; t < T && !rc; t++) {
        sg_tensor *in = sg_select(x, 0, t);
        for (int l = 0; l < s->L && !rc; l++) {
            sg_tensor *st[3] = {h[l], c[l], l ? c[l - 1] : NULL}, *so[3];
            rc = sg_rnn_cell_step(s->cell[l], in, st, t, so, NULL);
            if (rc) break;
            h[l] = so[DG_H];
            c[l] = so[DG_C];
            in = h[l]; /* the next layer's input; c[l] is already this step's, for its depth gate */
        }
        if (!rc) outs[t] = h[s->L - 1];
    }
    if (!rc) y = sg_stack((int)T, outs, 0);
    free(outs);
    return y;
}

#endif
