/* A recurrent cell seqgrad does not ship, written only with ops: the Minimal Gated Unit
 * (Zhou et al., 2016). The tape differentiates it; no backward code is written here.
 *   f  = s(Wf x + Uf h + bf)
 *   h~ = tanh(Wh x + Uh (f * h) + bh)
 *   h' = (1 - f) * h + f * h~
 * Shapes: x (B, D), h (B, H); W (2H, D) holds Wf over Wh, b (2H). Header-only so the example
 * (examples/custom_cell.c) and its gradcheck test (tests/test_custom_cell.c) share one definition. */
#ifndef MGU_CELL_H
#define MGU_CELL_H

#include <math.h>
#include <stdio.h>

#include "seqgrad.h"

typedef struct {
    sg_model *m;
    int64_t H;
    int W, b, Uf, Uh; /* parameter indices in the model */
} mgu_cell;

/* Declare the cell's parameters on m (before sg_model_finalize), PyTorch-style init bound 1/sqrt(H). */
static inline int mgu_declare(mgu_cell *c, sg_model *m, const char *prefix, int64_t D, int64_t H) {
    char name[128];
    double k = 1.0 / sqrt((double)H);
    c->m = m;
    c->H = H;
    c->W = sg_model_declare(m, sg_param_name(name, sizeof name, prefix, "W"), 2, (int64_t[]){2 * H, D}, SG_INIT_UNIFORM, k);
    c->b = sg_model_declare(m, sg_param_name(name, sizeof name, prefix, "b"), 1, (int64_t[]){2 * H}, SG_INIT_UNIFORM, k);
    c->Uf = sg_model_declare(m, sg_param_name(name, sizeof name, prefix, "Uf"), 2, (int64_t[]){H, H}, SG_INIT_UNIFORM, k);
    c->Uh = sg_model_declare(m, sg_param_name(name, sizeof name, prefix, "Uh"), 2, (int64_t[]){H, H}, SG_INIT_UNIFORM, k);
    return (c->W < 0 || c->b < 0 || c->Uf < 0 || c->Uh < 0) ? sg_last_status() : SG_OK;
}

/* One step: x (B, D), h (B, H) -> h' (B, H). NULL on error (sg_last_error says why). */
static inline sg_tensor *mgu_step(const mgu_cell *c, sg_tensor *x, sg_tensor *h) {
    int64_t H = c->H;
    sg_tensor *xw = sg_linear(x, sg_model_param(c->m, c->W), sg_model_param(c->m, c->b)); /* (B, 2H) */
    sg_tensor *f = sg_sigmoid(sg_add(sg_narrow(xw, 1, 0, H), sg_linear(h, sg_model_param(c->m, c->Uf), NULL)));
    sg_tensor *hh = sg_tanh(sg_add(sg_narrow(xw, 1, H, H), sg_linear(sg_mul(f, h), sg_model_param(c->m, c->Uh), NULL)));
    return sg_add(h, sg_mul(f, sg_sub(hh, h)));
}

/* The whole sequence: x (T, B, D), h0 (B, H) -> final state (B, H). */
static inline sg_tensor *mgu_sequence(const mgu_cell *c, sg_tensor *x, sg_tensor *h0) {
    int64_t T = sg_size(x, 0);
    sg_tensor *h = h0;
    for (int64_t t = 0; t < T && h; t++) h = mgu_step(c, sg_squeeze(sg_narrow(x, 0, t, 1), 0), h);
    return h;
}

#endif
